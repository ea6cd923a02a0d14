"""Projection throughput: catch-up and rebuild against a raw ceiling and the `eventsourcing` peer.

    .venv/bin/python -m bench.projections [--db sqlite|postgres|both] [--events N]
                                          [--big] [--repeats 3]

Per database and log size (default 100 000 events; `--big` adds 1 000 000), on one log made by
`synthesize_log` (realistic POP cycles in every phase, restarts, cancellations, quadrants,
budgets, manager changes; sealed personal data; written through the real event store):

- `catch-up`: every projection caught up from position 0 on the live tables, one after the
  other, by `ProjectionService.catch_up` (what the workers' catch-up actor runs) — what the
  workers do after downtime or on a new deployment. So far behind, it builds each projection
  aside and swaps it in (`handlers/projections/rebuild.py`, `runner.DEFAULT_ASIDE_AFTER`). The
  headline figure.
- `catch-up, together`: the same by `ProjectionService.catch_up_all` (which builds aside
  what is far behind, then reads the log once per transaction for the rest).
- `catch-up, in place` (orientation; not at 1M events, where it takes minutes): the same with
  building aside switched off (`POP_PROJECTION_ASIDE=0`): batches of `DEFAULT_BATCH_SIZE` in
  position order on the live tables, as a catch-up a little behind runs.
- `rebuild`: `pop projections rebuild` (every projection): shadow tables from position 0,
  swapped in at the end.
- `raw ceiling`: the same reads and writes without the projection logic, in plain SQLAlchemy
  Core batches (as `bench/append.py`'s raw ceiling): read the same events in batches of
  `DEFAULT_BATCH_SIZE` (the projections' own), their data parsed with the JSON parser the
  projections use (orjson), and insert the read models' final rows (captured beforehand) into
  copies of their tables, one transaction per batch. The baseline, ratio 1.00. `raw, driver`
  does the same through the DB-API driver without SQLAlchemy (event data left unparsed),
  shown for orientation: the floor no Python code gets under.
- `peer`: `eventsourcing` (the best-known Python event-sourcing library) reconstructing the
  same aggregates from its own store holding the same events (one aggregate per stream, one
  stored event per event): `repository.get()` for every aggregate, in aggregate order.

Every measurement runs in a fresh child process, so its peak memory (`ru_maxrss`) is its own;
figures are medians over the repeats (machines here are shared and noisy: read the ratios, which
compare runs of the same moment). Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import insert, make_url

from bench.figures import Figure, add_json_option, backend_name, write_figures
from events.codec import encode
from events.domain import (
    BudgetAllowanceSet,
    CycleOpened,
    EmployeeEvent,
    EmployeeLeft,
    EmployeeRegistered,
    GoalResult,
    ManagerChanged,
    Progress,
    QuadrantRecorded,
    Reason,
    Side,
    Support,
)
from events.personal import PERSONAL_FIELDS
from events.records import Metadata, NewEvent, StreamAppend
from events.sealing import new_key, seal
from events.sqlkeyring import subject_keys_table
from handlers.bootstrap import Popcycle
from handlers.projections.runner import DEFAULT_BATCH_SIZE
from handlers.projections.service import ProjectionService
from handlers.repository import cycle_stream, employee_stream
from workflow.commands import (
    CancelCycle,
    ChangeCycleManager,
    CycleCommand,
    DraftPlan,
    GoalDraft,
    RecordEvaluation,
    RecordInterviewHeld,
    RestartCycle,
    ReviewProgress,
    SignPlan,
    StartCycle,
    SubmitPreparation,
)
from workflow.decide import decide, start_next_cycle
from workflow.employee import QUADRANTS
from workflow.folding import fold
from workflow.state import CycleState, evolve

# --- the log ---------------------------------------------------------------------------------

#: How far each synthetic cycle gets (a spread over every phase; some restart).
TARGETS = (
    "invitation",
    "preparation",
    "agreement",
    "progress_review",
    "progress_review",
    "progress_review",
    "completed",
    "completed",
    "restarted",
    "cancelled",
)
BASE = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
_HR = Metadata(actor_id="hr-bench", actor_role="hr")

#: One step of one person: (stream, events, whose key seals them) per stream it writes.
Step = list[tuple[str, list[Any], str]]


@dataclass
class _Person:
    """One synthetic employee's plan: their steps, taken one per round."""

    employee_id: str
    steps: list[Callable[[datetime], Step]] = field(default_factory=list)


def synthesize_log(
    app: Popcycle,
    employees: int,
    *,
    seed: int = 2026,
    streams_per_append: int = 400,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Append a realistic organisation's log for `employees` people (plus one manager per ten).

    Every event comes from the pure domain (`workflow.decide`), sealed with its subject's key
    as the command side seals it, and is appended through the real event store, many streams
    per transaction (setup speed, not what is measured). The people's steps interleave round
    by round, so consecutive positions belong to different streams, as with many people at
    work. Returns the number of events appended.
    """
    rng = random.Random(seed)
    managers = [f"M{index:05d}" for index in range(max(1, employees // 10))]
    keys = _create_keys(app, [*managers, *(f"E{i:06d}" for i in range(employees))])
    people = [_manager(manager_id) for manager_id in managers]
    people += [_employee(f"E{index:06d}", managers, rng) for index in range(employees)]
    versions: dict[str, int] = {}
    written = 0
    for round_index in range(max(len(p.steps) for p in people)):
        now = BASE + timedelta(hours=6 * round_index)
        pending: list[StreamAppend] = []
        for person in people:
            if round_index >= len(person.steps):
                continue
            for stream, events, subject in person.steps[round_index](now):
                sealed = tuple(_sealed(event, subject, keys) for event in events)
                pending.append(StreamAppend(stream, sealed, versions.get(stream, 0)))
                versions[stream] = versions.get(stream, 0) + len(sealed)
                written += len(sealed)
            if len(pending) >= streams_per_append:
                app.store.append(pending, _HR)
                pending = []
        if pending:
            app.store.append(pending, _HR)
        if progress is not None:
            progress(written)
    return written


def _create_keys(app: Popcycle, subjects: list[str]) -> dict[str, bytes]:
    now = datetime.now(UTC)
    keys = {subject: new_key() for subject in subjects}
    rows = [{"subject_id": s, "key": k, "created_at": now} for s, k in keys.items()]
    with app.engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            connection.execute(insert(subject_keys_table), rows[start : start + 5000])
    return keys


def _sealed(event: Any, subject: str, keys: dict[str, bytes]) -> NewEvent:
    new = encode(event)
    if not PERSONAL_FIELDS.get(new.type):
        return new
    return NewEvent(new.type, seal(new.type, new.data, subject, keys[subject]), new.schema_version)


def _manager(manager_id: str) -> _Person:
    person = _Person(manager_id)
    person.steps.append(
        lambda now: [
            (
                employee_stream(manager_id),
                [_registered(manager_id, None, now)],
                manager_id,
            )
        ]
    )
    return person


def _registered(employee_id: str, manager_id: str | None, now: datetime) -> EmployeeEvent:
    return EmployeeRegistered(
        employee_id=employee_id,
        name=f"Person {employee_id}",
        email=f"{employee_id.lower()}@bench.example",
        registered_at=now,
        manager_id=manager_id,
        department=f"Dept {employee_id[-1]}",
    )


def _employee(employee_id: str, managers: list[str], rng: random.Random) -> _Person:
    """Register, maybe a quadrant and a budget, then one cycle (two after a restart)."""
    person = _Person(employee_id)
    manager = rng.choice(managers)
    quadrant = rng.choice(QUADRANTS) if rng.random() < 0.5 else None
    allowance = rng.choice((500.0, 750.0, 1000.0, 1500.0)) if rng.random() < 0.6 else None
    stream = employee_stream(employee_id)

    def register(now: datetime) -> Step:
        events: list[Any] = [_registered(employee_id, manager, now)]
        if quadrant is not None:
            events.append(QuadrantRecorded(quadrant, now))
        if allowance is not None:
            events.append(BudgetAllowanceSet(now.year, allowance, now))
        return [(stream, events, employee_id)]

    person.steps.append(register)
    _cycle(person, manager, rng.choice(TARGETS), rng)
    return person


@dataclass
class _Cycle:
    """The domain state of one synthetic cycle as its steps are taken."""

    state: CycleState | None = None
    employee_state_version: int = 0


def _cycle(person: _Person, manager: str, target: str, rng: random.Random) -> None:
    employee_id = person.employee_id
    cycle = _Cycle()
    cycle_id = f"c-{employee_id}"
    budget = float(rng.choice((0, 250, 450, 900)))
    commands: list[CycleCommand] = [
        SubmitPreparation(Side.EMPLOYEE, ("Beter worden in mijn vak",)),
        SubmitPreparation(Side.MANAGER, ("Planning van het werk",)),
    ]
    if target != "preparation":
        commands += [
            RecordInterviewHeld(summary="Open gesprek"),
            DraftPlan(
                (
                    GoalDraft(
                        "Excel",
                        "Externe cursus volgen",
                        "Zelfstandig in Excel werken",
                        date(2026, 9, 1),
                        Support(own_hours=16, budget_eur=budget or None, coach_hours=2),
                    ),
                    GoalDraft(
                        "Klantgericht werken",
                        "Meewerken op de servicebalie",
                        "Tevreden klanten",
                        date(2027, 3, 1),
                        Support(coach="Corrie", coach_hours=24),
                    ),
                )
            ),
        ]
    if target in ("progress_review", "completed", "restarted", "cancelled"):
        commands += [SignPlan(Side.EMPLOYEE), SignPlan(Side.MANAGER)]
        if rng.random() < 0.1:
            commands.append(ChangeCycleManager(f"{manager}-acting"))
        commands += [
            ReviewProgress(Progress.ON_TRACK, "Loopt", goal_id="g1"),
            ReviewProgress(Progress.DONE, "Klaar", goal_id="g1"),
        ]
    if target in ("completed", "restarted"):
        commands.append(
            RecordEvaluation((GoalResult("g1", True, "Beter"), GoalResult("g2", False, "Later")))
        )
    if target == "cancelled":
        commands.append(CancelCycle("left the organisation"))

    def start(now: datetime) -> Step:
        command = StartCycle(
            cycle_id, employee_id, manager, Reason.PERIODIC, now + timedelta(days=40)
        )
        events = decide(None, command, now)
        cycle.state = fold(evolve, None, events)
        return [
            (employee_stream(employee_id), [CycleOpened(cycle_id, now)], employee_id),
            (cycle_stream(cycle_id), list(events), employee_id),
        ]

    person.steps.append(start)
    for command in commands:
        person.steps.append(_step(cycle, cycle_id, employee_id, command))
    if target == "cancelled":
        person.steps.append(
            lambda now: [
                (employee_stream(employee_id), [EmployeeLeft(now.date(), now)], employee_id)
            ]
        )
    if target == "restarted":
        person.steps.append(_restart(cycle, employee_id))


def _step(
    cycle: _Cycle, cycle_id: str, employee_id: str, command: CycleCommand
) -> Callable[[datetime], Step]:
    def take(now: datetime) -> Step:
        state = cycle.state
        if state is None:
            raise AssertionError("a cycle step before its start")
        events = decide(state, command, now)
        cycle.state = fold(evolve, state, events)
        steps: Step = [(cycle_stream(cycle_id), list(events), employee_id)]
        if isinstance(command, ChangeCycleManager):
            moved = ManagerChanged(command.manager_id, now)
            steps.append((employee_stream(employee_id), [moved], employee_id))
        return steps

    return take


def _restart(cycle: _Cycle, employee_id: str) -> Callable[[datetime], Step]:
    def take(now: datetime) -> Step:
        state = cycle.state
        if state is None:
            raise AssertionError("a restart before the start")
        new_id = f"{state.cycle_id}-2"
        old_events, new_events = start_next_cycle(state, new_id, now)
        decide(state, RestartCycle(new_id), now)  # the same checks the command side makes
        return [
            (cycle_stream(state.cycle_id), list(old_events), employee_id),
            (employee_stream(employee_id), [CycleOpened(new_id, now)], employee_id),
            (cycle_stream(new_id), list(new_events), employee_id),
        ]

    return take


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the benchmark ---------------------------------------------------------------------------

#: Events per raw transaction: the projections' own batch.
RAW_BATCH = DEFAULT_BATCH_SIZE
DEFAULT_EVENTS = 100_000
BIG_EVENTS = 1_000_000
DEFAULT_REPEATS = 3
#: Events per employee `synthesize_log` writes (about 12.7), to size a log.
EVENTS_PER_EMPLOYEE = 12.7
CASES = ("catch-up", "catch-up-all", "catch-up-in-place", "rebuild", "raw", "raw-driver", "peer")
#: Cases too slow to run on the big log (and not needed for its headline figures).
SMALL_ONLY = frozenset({"catch-up-in-place"})
#: An unmeasured case run first in every round (`measure`).
WARM_UP = "warm-up"
LABELS = {
    "catch-up": "catch-up from 0 (builds aside)",
    "catch-up-in-place": "catch-up in place (orientation)",
    "catch-up-all": "catch-up, together (one log read)",
    "rebuild": "rebuild (shadow tables, swap)",
    "raw": "raw ceiling (SQLAlchemy Core batches)",
    "raw-driver": "raw, driver only (orientation)",
    "peer": "peer: eventsourcing reconstructs",
}


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Target:
    """One prepared database: our URL, the peer's environment, where the peer's ids are."""

    url: str
    peer_env: dict[str, str]
    peer_ids: Path
    events: int


@dataclass(frozen=True, slots=True)
class Measured:
    seconds: float
    events: int
    peak_mb: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


# -- the child: one measurement in a fresh process ------------------------------------------


def child(case: str, target: Target) -> Measured:
    """Run one case; only the measured part is timed. Peak memory is this process's own."""
    from handlers.logs import configure_logging

    configure_logging("WARNING")
    if case == "peer":
        return _peer(target)
    from bench.workload import wire

    app = wire(target.url)
    try:
        work = {
            "catch-up": _catch_up,
            "catch-up-all": _catch_up_all,
            "catch-up-in-place": _catch_up_in_place,
            WARM_UP: _warm_up,
            "rebuild": _rebuild,
            "raw": _raw,
            "raw-driver": _raw_driver,
        }[case]
        seconds, events = work(app)
    finally:
        app.close()
    return Measured(seconds, events, _peak_mb())


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike `ru_maxrss`, not inherited from the
    parent across fork and exec)."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _catch_up(app: Popcycle) -> tuple[float, int]:
    service = _reset(app)
    started = time.perf_counter()
    for name in service.names:
        service.catch_up(name)
    return time.perf_counter() - started, app.store.head()[0]


def _warm_up(app: Popcycle) -> tuple[float, int]:
    """Read every row of the log (not measured: it only warms the database's caches)."""
    from sqlalchemy import func, select

    from events.schema import events_table

    started = time.perf_counter()
    with app.engine.connect() as connection:
        query = select(func.count()).where(events_table.c.data.is_not(None))
        count = int(connection.execute(query).scalar_one())
    return time.perf_counter() - started, count


def _catch_up_in_place(app: Popcycle) -> tuple[float, int]:
    _reset(app)
    service = ProjectionService(app.engine, app.repository.keys, aside_after=None)
    started = time.perf_counter()
    for name in service.names:
        service.catch_up(name)
    return time.perf_counter() - started, app.store.head()[0]


def _catch_up_all(app: Popcycle) -> tuple[float, int]:
    service = _reset(app)
    started = time.perf_counter()
    service.catch_up_all()
    return time.perf_counter() - started, app.store.head()[0]


def _reset(app: Popcycle) -> ProjectionService:
    """Empty read models at position 0 (not measured), and a service to catch them up."""
    from handlers.projections.registry import PROJECTIONS
    from handlers.projections.schema import checkpoints_table

    postgres = app.engine.dialect.name == "postgresql"
    with app.engine.begin() as connection:
        for projection in PROJECTIONS:
            for table in reversed(projection.live.tables):
                if postgres:  # no dead rows left behind for the measured part to step over
                    connection.exec_driver_sql(f'TRUNCATE TABLE "{table.name}"')
                else:
                    connection.execute(table.delete())
        connection.execute(checkpoints_table.update().values(position=0))
    return ProjectionService.from_app(app)


def _rebuild(app: Popcycle) -> tuple[float, int]:
    from handlers.projections.service import ProjectionService

    service = ProjectionService.from_app(app)
    started = time.perf_counter()
    service.rebuild()
    return time.perf_counter() - started, app.store.head()[0]


def _final_rows(app: Popcycle) -> list[tuple[Any, list[dict[str, Any]]]]:
    """The read models' rows as the projections left them, and empty copies of their tables
    (same columns, keys and indexes, names suffixed `__raw`) to insert them into."""
    from sqlalchemy import select

    from handlers.projections.registry import PROJECTIONS
    from handlers.projections.schema import shadow_metadata

    copies: list[tuple[Any, list[dict[str, Any]]]] = []
    with app.engine.begin() as connection:
        for projection in PROJECTIONS:
            raw = projection.bind(shadow_metadata(), "__raw")
            for table, copy in zip(projection.live.tables, raw.tables, strict=True):
                rows = [dict(row._mapping) for row in connection.execute(select(table))]
                copy.drop(connection, checkfirst=True)
                copy.create(connection)
                copies.append((copy, rows))
    return copies


def _raw(app: Popcycle) -> tuple[float, int]:
    """Read the same events, data parsed, and insert the final rows, in plain Core batches."""
    import orjson
    from sqlalchemy import Text, bindparam, cast, select

    from events.database import write_transaction
    from events.schema import events_table

    copies = _final_rows(app)
    c = events_table.c
    data = cast(c.data, Text)  # parsed below with the projections' own parser
    query = (
        select(c.position, c.stream_id, c.version, c.type, c.schema_version, data)
        .where(c.position > bindparam("after"))
        .order_by(c.position)
        .limit(RAW_BATCH)
    )
    head = app.store.head()[0]
    batches = max(1, -(-head // RAW_BATCH))
    started = time.perf_counter()
    position = batch = 0
    while True:
        with write_transaction(app.engine) as connection:
            found = connection.execute(query, {"after": position}).all()
            if not found:
                break
            _parsed = [orjson.loads(row[5]) for row in found]
            position = found[-1][0]
            for table, rows in copies:
                share = rows[len(rows) * batch // batches : len(rows) * (batch + 1) // batches]
                if share:
                    connection.execute(insert(table), share)
        batch += 1
    return time.perf_counter() - started, head


def _raw_driver(app: Popcycle) -> tuple[float, int]:
    """The same through the DB-API cursor: no SQLAlchemy, event data left unparsed.

    The rows are converted to their stored form beforehand (not timed), as the projections'
    own `TableCodec` converts them.
    """
    from handlers.projections.rows import codec

    copies = _final_rows(app)
    head = app.store.head()[0]
    postgres = app.engine.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    data = "data::text" if postgres else "data"
    select_sql = (
        f"SELECT position, stream_id, version, type, schema_version, {data} FROM events "
        f"WHERE position > {mark} ORDER BY position LIMIT {RAW_BATCH}"
    )
    plans = []
    for table, rows in copies:
        table_codec = codec(table, app.engine.dialect)
        params = [
            tuple(table_codec.bind(name, row[name]) for name in table_codec.columns) for row in rows
        ]
        plans.append((table_codec.insert_sql, params))
    batches = max(1, -(-head // RAW_BATCH))
    connection = app.engine.raw_connection()
    try:
        started = time.perf_counter()
        cursor = connection.cursor()
        position = batch = 0
        while True:
            if not postgres:
                cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(select_sql, (position,))
            found = cursor.fetchall()
            if not found:
                _commit(connection, cursor, postgres=postgres)
                break
            position = found[-1][0]
            for sql, params in plans:
                share = params[
                    len(params) * batch // batches : len(params) * (batch + 1) // batches
                ]
                if share:
                    cursor.executemany(sql, share)
            _commit(connection, cursor, postgres=postgres)
            batch += 1
        seconds = time.perf_counter() - started
    finally:
        connection.close()
    return seconds, head


def _commit(connection: Any, cursor: Any, *, postgres: bool) -> None:
    if postgres:
        connection.commit()
    else:
        cursor.execute("COMMIT")  # pysqlite runs in autocommit under make_engine: BEGIN by hand


# -- the peer -------------------------------------------------------------------------------


@cache
def _peer_classes() -> tuple[Any, Any]:
    """The peer's classes, made on demand so that importing this module needs no
    `eventsourcing` (the tests import the log generator); their topics are registered, since
    classes made in a function cannot be found by their qualified name."""
    from uuid import UUID

    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event
    from eventsourcing.utils import get_topic, register_topic

    class PeerStream(Aggregate):
        """One aggregate per stream; each event folds its fields into the state, as ours do."""

        @event("Started")
        def __init__(self, kind: str, data: dict[str, Any]) -> None:
            self.kind = kind
            self.state = dict(data)
            self.events = 1

        @event("Recorded")
        def record(self, kind: str, data: dict[str, Any]) -> None:
            self.kind = kind
            self.state.update(data)
            self.events += 1

    class PeerApp(Application[UUID]):
        name = "Peer"

    # The @event decorator made PeerStream.Started and .Recorded; mypy cannot see them.
    made = (getattr(PeerStream, "Started"), getattr(PeerStream, "Recorded"))  # noqa: B009
    for cls in (PeerStream, *made):
        register_topic(get_topic(cls), cls)
    return PeerStream, PeerApp


def store_peer(app: Popcycle, target: Target) -> None:
    """Setup: the same events in the peer's own store, one aggregate per stream."""
    stream_class, app_class = _peer_classes()
    peer = app_class(env=target.peer_env)
    try:
        aggregates: dict[str, Any] = {}
        for stored in app.store.read_all(0, batch_size=5000):
            aggregate = aggregates.get(stored.stream_id)
            if aggregate is None:
                aggregates[stored.stream_id] = stream_class(stored.type, stored.data)
            else:
                aggregate.record(stored.type, stored.data)
        ids = [str(aggregate.id) for aggregate in aggregates.values()]
        for part in chunks(list(aggregates.values()), 500):
            peer.save(*part)
    finally:
        peer.close()
    target.peer_ids.write_text("\n".join(ids), encoding="utf-8")


def _peer(target: Target) -> Measured:
    from uuid import UUID

    _stream_class, app_class = _peer_classes()
    ids = [UUID(line) for line in target.peer_ids.read_text(encoding="utf-8").split()]
    peer = app_class(env=target.peer_env)
    try:
        started = time.perf_counter()
        events = sum(peer.repository.get(aggregate_id).events for aggregate_id in ids)
        seconds = time.perf_counter() - started
    finally:
        peer.close()
    return Measured(seconds, events, _peak_mb())


# -- the parent: databases, logs, repeats, the table ----------------------------------------


@contextmanager
def databases(kind: str, folder: Path) -> Iterator[Callable[[str], tuple[str, dict[str, str]]]]:
    """A factory of fresh, empty databases of `kind`: (our URL, the peer's environment)."""
    if kind == "sqlite":

        def fresh_sqlite(name: str) -> tuple[str, dict[str, str]]:
            ours, theirs = folder / f"{name}.sqlite3", folder / f"{name}-peer.sqlite3"
            return f"sqlite:///{ours}", {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(theirs),
            }

        yield fresh_sqlite
        return
    from tests.support.postgres import running_postgres

    progress("starting a throwaway PostgreSQL server…")
    # No autovacuum: it would wake at random during some case and not others (the log's bulk
    # insert, a rebuild's fresh tables, a reset's deletes); `prepare` vacuums once instead.
    # Shared buffers that hold both stores at 1M events: with the default 128 MB the peer, last
    # in a round, evicted our log and the next round's first case paid for it.
    with running_postgres("bench_admin", autovacuum="off", shared_buffers="3GB") as admin_url:
        admin = make_url(admin_url)

        def fresh_postgres(name: str) -> tuple[str, dict[str, str]]:
            import psycopg
            from psycopg import sql

            with psycopg.connect(
                host=admin.host,
                port=admin.port,
                user=admin.username,
                dbname="postgres",
                autocommit=True,
            ) as connection:
                for database in (name, f"{name}_peer"):
                    connection.execute(
                        sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
                    )
            url = admin.set(database=name).render_as_string(hide_password=False)
            return url, {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": f"{name}_peer",
                "POSTGRES_HOST": str(admin.host),
                "POSTGRES_PORT": str(admin.port),
                "POSTGRES_USER": str(admin.username),
                "POSTGRES_PASSWORD": admin.password or "",
            }

        yield fresh_postgres


def prepare(url: str, peer_env: dict[str, str], events: int, folder: Path, name: str) -> Target:
    """Migrate, write the log, fill the peer's store and the read models (all setup)."""
    from bench.workload import wire
    from events.migrate import upgrade
    from handlers.projections.service import ProjectionService

    upgrade(url)
    app = wire(url)
    try:
        employees = max(10, round(events / EVENTS_PER_EMPLOYEE))
        started = time.perf_counter()
        written = synthesize_log(app, employees, progress=lambda n: None)
        progress(f"  log: {written} events in {time.perf_counter() - started:.0f} s")
        target = Target(url, peer_env, folder / f"{name}-peer-ids.txt", written)
        started = time.perf_counter()
        store_peer(app, target)
        progress(f"  peer's store filled in {time.perf_counter() - started:.0f} s")
        ProjectionService.from_app(app).rebuild()  # the final rows the raw ceiling inserts
        if app.engine.dialect.name == "postgresql":
            _vacuum(url)  # and the peer's database, on the same server
            peer = make_url(url).set(database=peer_env["POSTGRES_DBNAME"])
            _vacuum(peer.render_as_string(hide_password=False))
    finally:
        app.close()
    return target


def _vacuum(url: str) -> None:
    """VACUUM ANALYZE the whole database (autovacuum is off on the bench's server)."""
    from sqlalchemy import create_engine

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    finally:
        engine.dispose()


def run_child(case: str, target: Target) -> Measured:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.projections",
            "--child",
            case,
            "--target",
            json.dumps({**asdict(target), "peer_ids": str(target.peer_ids)}),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{case} failed:\n{done.stderr}")
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    return Measured(raw["seconds"], raw["events"], raw["peak_mb"])


def measure(target: Target, repeats: int) -> dict[str, list[Measured]]:
    cases = [c for c in CASES if target.events < BIG_EVENTS or c not in SMALL_ONLY]
    results: dict[str, list[Measured]] = {case: [] for case in cases}
    for repeat in range(repeats):
        # The peer, last in each round, reads its own store: on PostgreSQL that pushes our log
        # out of the server's shared buffers, and the next round's first case paid for it
        # (catch-up measured 0.37 of raw against 0.52 for the same work run third). A read of
        # the log first puts every round's first case where the others are.
        run_child(WARM_UP, target)
        for case in cases:  # interleaved: every case sees the machine in the same mood
            found = run_child(case, target)
            results[case].append(found)
            progress(f"  [{repeat + 1}/{repeats}] {case:<10} {found.rate:>10,.0f} ev/s")
    return results


def ratio(results: dict[str, list[Measured]], case: str, baseline: str) -> float:
    """The median over the repeats of `case`'s rate ÷ `baseline`'s in the same repeat: on a
    shared machine whose load changes between repeats, only runs of the same moment compare."""
    pairs = zip(results[case], results[baseline], strict=True)
    return statistics.median(ours.rate / theirs.rate for ours, theirs in pairs)


def report(title: str, results: dict[str, list[Measured]]) -> str:
    lines = [
        f"### {title}",
        "",
        "| case | events/s | seconds | ratio to raw ceiling | ratio to peer | peak memory |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for case, runs in results.items():
        rate = statistics.median(m.rate for m in runs)
        seconds = statistics.median(m.seconds for m in runs)
        peak = max(m.peak_mb for m in runs)
        lines.append(
            f"| {LABELS[case]} | {rate:,.0f} | {seconds:.2f} | {ratio(results, case, 'raw'):.2f}"
            f" | {ratio(results, case, 'peer'):.2f} | {peak:.0f} MB |"
        )
    lines.append("")
    lines.append("Ratios: the median over the repeats of the ratio within each repeat.")
    return "\n".join(lines)


def figures(kind: str, results: dict[str, list[Measured]]) -> list[Figure]:
    """The headline figures for `python -m bench report`: catch-up and rebuild."""

    def median_rate(case: str) -> float:
        return statistics.median(m.rate for m in results[case])

    events = results["raw"][0].events
    return [
        Figure(
            f"projection {case}, {events:,} events",
            backend_name(kind),
            "events/s",
            median_rate(case),
            median_rate("raw"),
            median_rate("peer"),
            note=f"{case} peak memory {max(m.peak_mb for m in results[case]):.0f} MB",
        )
        for case in ("catch-up", "rebuild")
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_json_option(parser)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS)
    parser.add_argument("--big", action="store_true", help=f"also {BIG_EVENTS:,} events")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    parser.add_argument("--child", choices=(*CASES, WARM_UP), help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        raw = json.loads(args.target)
        target = Target(raw["url"], raw["peer_env"], Path(raw["peer_ids"]), raw["events"])
        print(json.dumps(asdict(child(args.child, target))))
        return
    sizes = [args.events] + ([BIG_EVENTS] if args.big else [])
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    tables: list[str] = []
    with tempfile.TemporaryDirectory(prefix="popcycle-bench-") as scratch:
        folder = Path(scratch)
        for kind in kinds:
            with databases(kind, folder) as fresh:
                for size in sizes:
                    repeats = args.repeats if size < BIG_EVENTS else 1
                    name = f"bench_{kind}_{size}"
                    progress(f"{kind}, {size:,} events: preparing")
                    url, peer_env = fresh(name)
                    target = prepare(url, peer_env, size, folder, name)
                    results = measure(target, repeats)
                    database = "SQLite" if kind == "sqlite" else "PostgreSQL"
                    title = f"{database}, {target.events:,} events, median of {repeats}"
                    tables.append(report(title, results))
                    write_figures(args.json, figures(kind, results))
                    print(tables[-1] + "\n", flush=True)


if __name__ == "__main__":
    main()
