"""Projection throughput: catch-up and rebuild against a raw ceiling and the `eventsourcing` peer.

    .venv/bin/python -m bench.projections [--db sqlite|postgres|both] [--events N]
                                          [--big] [--repeats 3]

Per database and log size (default 100 000 events; `--big` adds 1 000 000), on one log made by
`synthesize_log` (realistic POP cycles in every phase, restarts, cancellations, quadrants,
budgets, manager changes; sealed personal data; written through the real event store):

- `catch-up`: every projection caught up from position 0 on the live tables by
  `ProjectionService.catch_up`, position order, 1000 events per transaction — what a worker
  does after downtime or on a new deployment.
- `rebuild`: `pop projections rebuild` (every projection): shadow tables from position 0,
  swapped in at the end.
- `raw ceiling`: the same reads and writes without the projection logic, in plain SQLAlchemy
  Core batches (as `bench/append.py`'s raw ceiling): read the same events (the typed `events`
  columns a reader would select) in batches of 1000, and insert the read models' final rows
  (captured beforehand) into copies of their tables, one transaction per batch. The baseline,
  ratio 1.00. `raw, driver` does the same through the DB-API driver without SQLAlchemy (event
  data left unparsed), shown for orientation: the floor no Python code gets under.
- `peer`: `eventsourcing` (the best-known Python event-sourcing library) reconstructing the
  same aggregates from its own store holding the same events (one aggregate per stream, one
  stored event per event): `repository.get()` for every aggregate, in aggregate order.

Every measurement runs in a fresh child process, so its peak memory (`ru_maxrss`) is its own;
figures are medians over the repeats (machines here are shared and noisy: read the ratios, which
compare runs of the same moment). Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert

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
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    managers = [f"M{index:05d}" for index in range(max(1, employees // 10))]
    keys = _create_keys(app, [*managers, *(f"E{i:06d}" for i in range(employees))])
    people = [_manager(manager_id) for manager_id in managers]
    people += [
        _employee(f"E{index:06d}", managers, rng) for index in range(employees)
    ]
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
        command = StartCycle(cycle_id, employee_id, manager, Reason.PERIODIC, now + timedelta(days=40))
        events = decide(None, command, now)
        cycle.state = _fold(None, events)
        return [
            (employee_stream(employee_id), [CycleOpened(cycle_id, now)], employee_id),
            (cycle_stream(cycle_id), list(events), employee_id),
        ]

    person.steps.append(start)
    for command in commands:
        person.steps.append(_step(cycle, cycle_id, employee_id, command))
    if target == "cancelled":
        person.steps.append(
            lambda now: [(employee_stream(employee_id), [EmployeeLeft(now.date(), now)], employee_id)]
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
        cycle.state = _fold(state, events)
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


def _fold(state: CycleState | None, events: list[Any]) -> CycleState:
    for event in events:
        state = evolve(state, event)
    if state is None:
        raise AssertionError("no events")
    return state


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
