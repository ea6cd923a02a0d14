"""Append throughput: the command path against the raw insert ceiling and the `eventsourcing` peer.

    .venv/bin/python -m bench.append [--db sqlite|postgres|both] [--commands N] [--repeats 3]

Per database and repeat, each of these runs on its own fresh database:

- `raw`: the same event rows the command path writes, inserted with a plain SQLAlchemy Core
  `insert` into a copy of the `events` table (same columns, types and UNIQUE constraint), one
  row per transaction, on an engine from `events.database.make_engine` (SQLite: WAL,
  synchronous=FULL, BEGIN IMMEDIATE; PostgreSQL: psycopg 3, synchronous_commit on). The
  baseline: ratio 1.00.
- `raw, synchronous=NORMAL` (SQLite only): the same with WAL's default durability, to show what
  the product's choice of FULL costs.
- `raw on the driver's cursor`: the same rows through the driver itself (sqlite3 / psycopg, on
  PostgreSQL one prepared autocommit INSERT), as the command path's append runs: a stricter
  reference printed beside the issue's ceiling, not instead of it.
- `command path`: popcycle wired as `pop` wires it (`handlers.bootstrap`): load the stream,
  decide, append; one command per transaction (the workload is in `bench.workload`).
- `peer`: `eventsourcing` saving the same number of events, one `app.save()` (one event, one
  transaction) each, its aggregates kept in memory.
- `peer get + save`: the peer's own command path, `repository.get()` then `save()` per event.

The cases of a repeat are interleaved finely: each is cut into `ROUNDS` slices and the slices
run in turn (raw, ours, peer, raw, ours, peer, ...), so a burst of noise on this shared machine
hits all of them alike. The figures are medians over the repeats; the ratios compare medians
measured in the same run, which is what to read. Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import structlog
from psycopg import sql
from sqlalchemy import Engine, MetaData, insert, make_url
from sqlalchemy import event as sa_event
from sqlalchemy.engine import URL

from bench.figures import Figure, add_json_option, backend_name, write_figures
from bench.workload import Workload, command_steps, drive, register_people, wire, wire_in_memory
from events.database import make_engine, writer
from events.migrate import upgrade
from events.schema import events_table

GOAL = 0.80
DEFAULT_COMMANDS = 2000
DEFAULT_REPEATS = 3
#: Slices each measurement is cut into, run in turn with the other cases' slices.
ROUNDS = 100

Row = dict[str, Any]

# The raw ceiling's table: a copy of the store's `events` table, columns, types and constraints.
raw_metadata = MetaData()
raw_events = events_table.to_metadata(raw_metadata, name="raw_events")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- what is measured ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Measurement:
    seconds: float
    events: int
    transactions: int

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds

    @property
    def transactions_per_second(self) -> float:
        return self.transactions / self.seconds


@dataclass(frozen=True, slots=True)
class Target:
    """One fresh, empty database: its SQLAlchemy URL and the peer's environment for it."""

    url: str
    peer_env: dict[str, str]


#: A measurement in progress. Everything up to its first `yield` is setup (not timed); each
#: further step runs one transaction and yields; what follows the last step checks the result.
Work = Generator[None, None, None]


@dataclass(frozen=True, slots=True)
class Case:
    """One thing measured: `units` transactions writing `events` events in all."""

    key: str
    label: str
    units: int
    events: int
    work: Callable[[Target], Work]


@dataclass
class Results:
    database: str
    settings: str
    cases: list[Case]
    runs: dict[str, list[Measurement]] = field(default_factory=dict)

    def median_rate(self, key: str) -> float:
        return statistics.median(m.events_per_second for m in self.runs[key])

    def median_tps(self, key: str) -> float:
        return statistics.median(m.transactions_per_second for m in self.runs[key])

    def paired(self, key: str, base: str, per: str = "event") -> list[float]:
        """`key` ÷ `base` in each repeat: the two ran interleaved, so noise mostly cancels."""
        return [
            (m.events_per_second / b.events_per_second)
            if per == "event"
            else (m.transactions_per_second / b.transactions_per_second)
            for m, b in zip(self.runs[key], self.runs[base], strict=True)
        ]

    def ratio(self, key: str, base: str, per: str = "event") -> float:
        """The median of the per-repeat ratios (what the table's `vs` columns show)."""
        return statistics.median(self.paired(key, base, per))

    def spread(self, key: str) -> float:
        """(max - min) / median of the rates: how much the repeats disagree."""
        rates = [m.events_per_second for m in self.runs[key]]
        return (max(rates) - min(rates)) / statistics.median(rates)


def capture_rows(workload: Workload) -> list[Row]:
    """The event rows the workload writes, from the in-memory reference store."""
    store, handler = wire_in_memory()
    register_people(handler, workload)
    before, _ = store.head()
    drive(handler, workload)
    return [
        {
            "position": index,
            "stream_id": stored.stream_id,
            "version": stored.version,
            "type": stored.type,
            "schema_version": stored.schema_version,
            "data": stored.data,
            "metadata": stored.metadata.to_json(),
            "recorded_at": stored.recorded_at,
            "hash": stored.hash,
        }
        for index, stored in enumerate(store.read_all(before), start=1)
    ]


def commit_setting(engine: Engine) -> str:
    """The durability a new connection of `engine` really runs with, asked of the database."""
    query = "PRAGMA synchronous" if engine.dialect.name == "sqlite" else "SHOW synchronous_commit"
    with engine.connect() as connection:
        value = str(connection.exec_driver_sql(query).scalar_one())
    return {"0": "OFF", "1": "NORMAL", "2": "FULL", "3": "EXTRA"}.get(value, value)


def relax(engine: Engine) -> None:
    """Make `engine`'s new connections commit without waiting for the disk.

    SQLite: synchronous=NORMAL (in WAL mode the log is synced only at checkpoints);
    PostgreSQL: synchronous_commit=off for the session. Registered after make_engine's own
    connect listener, so it runs last and wins. What the product's FULL / on costs.
    """
    sqlite = engine.dialect.name == "sqlite"

    @sa_event.listens_for(engine, "connect")
    def _relax(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if sqlite:
                cursor.execute("PRAGMA synchronous = NORMAL")
            else:
                cursor.execute("SET synchronous_commit = off")
                dbapi_connection.commit()
        finally:
            cursor.close()


def check_durability(engine: Engine, *, durable: bool) -> None:
    """Refuse to measure unless new connections commit as intended (asked of the database)."""
    sqlite = engine.dialect.name == "sqlite"
    wanted = ("FULL" if durable else "NORMAL") if sqlite else ("on" if durable else "off")
    if (actual := commit_setting(engine)) != wanted:
        raise AssertionError(f"the engine commits with {actual}, expected {wanted}")


def bench_engine(url: str, *, durable: bool = True) -> Engine:
    """An engine from the store's `make_engine`, relaxed unless `durable`, checked."""
    engine = make_engine(url)
    if not durable:
        relax(engine)
    try:
        check_durability(engine, durable=durable)
    except AssertionError:
        engine.dispose()
        raise
    return engine


def raw_work(target: Target, rows: list[Row], *, durable: bool = True) -> Work:
    """One plain Core insert per transaction, on the store's engine settings."""
    engine = bench_engine(target.url, durable=durable)
    try:
        raw_metadata.create_all(engine)
        statement = insert(raw_events)
        write = writer(engine)
        yield
        for row in rows:
            with write.begin() as connection:
                connection.execute(statement, row)
            yield
    finally:
        engine.dispose()


def raw_driver_work(target: Target, rows: list[Row]) -> Work:
    """The same rows on the driver's own cursor, one per transaction: a stricter reference.

    The command path runs its hot statements on the driver's cursor, so this shows what the
    same trick gives a bare insert: SQLite `BEGIN IMMEDIATE`, INSERT, COMMIT; PostgreSQL one
    prepared INSERT in autocommit (one round trip, as the command path's append). JSON and
    times are converted as SQLAlchemy would convert them. Not the issue's ceiling (a plain
    SQLAlchemy insert): printed beside it for honesty, ratio included.
    """
    engine = bench_engine(target.url)
    try:
        raw_metadata.create_all(engine)
        dialect = engine.dialect
        sqlite = dialect.name == "sqlite"
        columns = [column.name for column in raw_events.c if column.name in rows[0]]
        convert: dict[str, Callable[[Any], Any]] = {"data": json.dumps, "metadata": json.dumps}
        stamp = raw_events.c.recorded_at.type.dialect_impl(dialect).bind_processor(dialect)
        if stamp is not None:
            convert["recorded_at"] = stamp
        mark = "?" if sqlite else "%s"
        statement = (
            f"INSERT INTO raw_events ({', '.join(columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))})"
        )
        pooled = engine.raw_connection()
        connection: Any = pooled.driver_connection
        if not sqlite:
            connection.autocommit = True
        yield
        for row in rows:
            values = tuple(
                convert[name](row[name]) if name in convert else row[name] for name in columns
            )
            if sqlite:
                cursor = connection.cursor()
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute(statement, values)
                connection.commit()
                cursor.close()
            else:
                connection.execute(statement, values, prepare=True)
            yield
        if not sqlite:
            connection.autocommit = False
        pooled.close()
    finally:
        engine.dispose()


def command_path_work(
    target: Target, workload: Workload, expected_events: int, *, durable: bool = True
) -> Work:
    """The product as `pop` wires it: load → decide → append, one command per transaction."""
    upgrade(target.url)
    app = wire(target.url)
    try:
        if not durable:
            relax(app.engine)
        check_durability(app.engine, durable=durable)
        register_people(app.commands, workload)
        before, _ = app.store.head()
        yield
        for _name in command_steps(app.commands, workload):
            yield
        events = app.store.head()[0] - before
    finally:
        app.close()
    if events != expected_events:
        raise AssertionError(f"the command path wrote {events} events, expected {expected_events}")


def peer_work(target: Target, rows: list[Row], *, load: bool) -> Work:
    """`eventsourcing`: one `save()` per event; with `load`, `repository.get()` before each."""
    from bench.append_peer import PeerApp, PeerStream

    app = PeerApp(env=target.peer_env)
    try:
        ids: dict[str, UUID] = {}
        kept: dict[str, PeerStream] = {}
        yield
        for row in rows:
            stream = row["stream_id"]
            args = (row["type"], row["data"], row["metadata"])
            if stream not in ids:
                aggregate = PeerStream(*args)
                ids[stream] = aggregate.id
            else:
                aggregate = app.repository.get(ids[stream]) if load else kept[stream]
                aggregate.record(*args)
            app.save(aggregate)
            if not load:
                kept[stream] = aggregate
            yield
    finally:
        app.close()


# --- databases ------------------------------------------------------------------------------


class Sqlite:
    name = "SQLite"

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._count = 0

    def settings(self) -> str:
        path = self._folder / "probe.sqlite3"
        connection = sqlite3.connect(path)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            default = connection.execute("PRAGMA synchronous").fetchone()[0]
        finally:
            connection.close()
            path.unlink(missing_ok=True)
        names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
        return (
            f"SQLite {sqlite3.sqlite_version}, WAL; store and raw: synchronous=FULL (checked); "
            f"peer: its default synchronous={names.get(default, default)}"
        )

    @contextmanager
    def fresh(self) -> Iterator[Target]:
        self._count += 1
        path = self._folder / f"bench-{self._count}.sqlite3"
        try:
            yield Target(
                f"sqlite:///{path}",
                {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)},
            )
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)


class Postgres:
    name = "PostgreSQL"

    def __init__(self, url: str) -> None:
        self._url = make_url(url)
        self._count = 0

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self._url.host,
            port=self._url.port,
            user=self._url.username,
            dbname="postgres",
            autocommit=True,
        )

    def settings(self) -> str:
        with self._admin() as connection:
            version, sync, fsync = (
                _show(connection, name)
                for name in ("server_version", "synchronous_commit", "fsync")
            )
        return f"PostgreSQL {version}; synchronous_commit={sync}, fsync={fsync}; loopback TCP"

    @contextmanager
    def fresh(self) -> Iterator[Target]:
        self._count += 1
        database = f"bench_{self._count}"
        with self._admin() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        url: URL = self._url.set(database=database)
        try:
            yield Target(
                url.render_as_string(hide_password=False),
                {
                    "PERSISTENCE_MODULE": "eventsourcing.postgres",
                    "POSTGRES_DBNAME": database,
                    "POSTGRES_HOST": str(url.host),
                    "POSTGRES_PORT": str(url.port),
                    "POSTGRES_USER": str(url.username),
                    "POSTGRES_PASSWORD": url.password or "",
                },
            )
        finally:
            with suppress(psycopg.Error), self._admin() as connection:
                connection.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(database)
                    )
                )


Database = Sqlite | Postgres


def _show(connection: psycopg.Connection[Any], setting: str) -> str:
    row = connection.execute(sql.SQL("SHOW {}").format(sql.Identifier(setting))).fetchone()
    return "?" if row is None else str(row[0])


@contextmanager
def open_database(kind: str) -> Iterator[Database]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="popcycle-bench-") as folder:
            yield Sqlite(Path(folder))
        return
    from tests.support.postgres import running_postgres

    progress("starting a throwaway PostgreSQL server…")
    with running_postgres("bench_admin") as url:
        yield Postgres(url)


# --- running and reporting ------------------------------------------------------------------


def cases_for(database: Database, workload: Workload, rows: list[Row]) -> list[Case]:
    events = len(rows)
    cases = [
        Case("raw", "raw insert, 1 row/txn (baseline)", events, events, lambda t: raw_work(t, rows))
    ]
    if isinstance(database, Sqlite):
        cases.append(
            Case(
                "raw_normal",
                "raw insert, synchronous=NORMAL",
                events,
                events,
                lambda t: raw_work(t, rows, durable=False),
            )
        )
    cases += [
        Case(
            "raw_driver",
            "raw insert on the driver's cursor",
            events,
            events,
            lambda t: raw_driver_work(t, rows),
        ),
        Case(
            "ours",
            "command path (load, decide, append)",
            workload.commands,
            events,
            lambda t: command_path_work(t, workload, events),
        ),
        Case(
            "peer",
            "peer: eventsourcing save, 1 event/txn",
            events,
            events,
            lambda t: peer_work(t, rows, load=False),
        ),
        Case(
            "peer_load",
            "peer: eventsourcing get + save",
            events,
            events,
            lambda t: peer_work(t, rows, load=True),
        ),
    ]
    return cases


def run_interleaved(
    database: Database, cases: list[Case], rounds: int = ROUNDS
) -> dict[str, Measurement]:
    """One repeat: every case on its own fresh database, advanced in `rounds` slices in turn.

    Each round runs the next 1/`rounds` of every case back to back (in a rotating order), so a
    burst of noise from the shared machine (another tenant's fsyncs, a CPU hog) lands on all of
    them alike instead of spoiling one whole measurement.
    """
    with ExitStack() as stack:
        works: dict[str, Work] = {}
        for case in cases:
            target = stack.enter_context(database.fresh())
            works[case.key] = stack.enter_context(closing(case.work(target)))
            next(works[case.key])  # setup, not timed
        elapsed = dict.fromkeys(works, 0.0)
        done = dict.fromkeys(works, 0)
        for round_ in range(1, rounds + 1):
            shift = round_ % len(cases)
            for case in cases[shift:] + cases[:shift]:
                goal = case.units * round_ // rounds
                work = works[case.key]
                start = time.perf_counter()
                while done[case.key] < goal:
                    next(work)
                    done[case.key] += 1
                elapsed[case.key] += time.perf_counter() - start
        for case in cases:
            # Runs what follows the last step (the checks); there must be no step left.
            for _ in works[case.key]:
                raise AssertionError(f"{case.key}: more than {case.units} transactions")
    return {case.key: Measurement(elapsed[case.key], case.events, case.units) for case in cases}


def run_database(database: Database, workload: Workload, rows: list[Row], repeats: int) -> Results:
    results = Results(database.name, database.settings(), cases_for(database, workload, rows))
    # Warm-up, not counted: the first transactions on a just-started server or a cold cache.
    warm = max(1, len(rows) // 10)
    run_interleaved(
        database, [Case("warm", "warm-up", warm, warm, lambda t: raw_work(t, rows[:warm]))], 1
    )
    for repeat in range(1, repeats + 1):
        measured = run_interleaved(database, results.cases)
        for case in results.cases:
            result = measured[case.key]
            results.runs.setdefault(case.key, []).append(result)
            progress(
                f"[{database.name} repeat {repeat}/{repeats}] {case.label}: "
                f"{result.events} events, {result.transactions} txn in "
                f"{result.seconds:.2f} s = {result.events_per_second:,.0f} events/s"
            )
    return results


def format_results(results: Results, workload: Workload, events: int, repeats: int) -> str:
    lines = [
        f"== {results.database}: {results.settings}",
        f"   {workload.commands} commands ({workload.cycles} cycles x 10) writing {events} events "
        f"({events / workload.commands:.2f} per command); medians of {repeats} repeats",
        "",
        f"   {'name':<40} {'events/s':>9} {'commands/s':>11} {'vs raw':>7} {'vs peer':>8} "
        f"{'spread':>7}",
    ]
    for case in results.cases:
        commands = f"{results.median_tps(case.key):,.0f}" if case.key == "ours" else "—"
        lines.append(
            f"   {case.label:<40} {results.median_rate(case.key):>9,.0f} {commands:>11} "
            f"{results.ratio(case.key, 'raw'):>7.2f} {results.ratio(case.key, 'peer'):>8.2f} "
            f"{results.spread(case.key):>6.0%}"
        )
    ratio = results.ratio("ours", "raw")
    lines += [
        "",
        f"   per transaction: command path {results.median_tps('ours'):,.0f} commands/s = "
        f"{results.ratio('ours', 'raw', per='transaction'):.0%} of raw's "
        f"{results.median_tps('raw'):,.0f} transactions/s",
        "   command path ÷ raw events/s in each repeat: "
        + ", ".join(f"{value:.0%}" for value in results.paired("ours", "raw")),
        "   stricter reference, command path ÷ raw insert on the driver's cursor: "
        + ", ".join(f"{value:.0%}" for value in results.paired("ours", "raw_driver"))
        + f" (median {results.ratio('ours', 'raw_driver'):.0%})",
        f"{results.database}: command path at {ratio:.0%} of raw (goal ≥ {GOAL:.0%})"
        f"{'' if ratio >= GOAL else ': NOT MET'}",
    ]
    return "\n".join(lines)


def figure(kind: str, results: Results) -> Figure:
    """The headline figure for `python -m bench report`."""
    paired = ", ".join(f"{value:.0%}" for value in results.paired("ours", "raw"))
    return Figure(
        "append: command path (load, decide, append), 1 command/txn",
        backend_name(kind),
        "events/s",
        results.median_rate("ours"),
        results.median_rate("raw"),
        results.median_rate("peer"),
        note=f"command path / raw per repeat (interleaved): {paired}",
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.append", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--commands", type=int, default=DEFAULT_COMMANDS, help="per measurement")
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    add_json_option(parser)
    args = parser.parse_args(argv)
    if args.commands < 10 or args.repeats < 1:
        parser.error("--commands must be at least 10 and --repeats at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The command path logs one INFO line per command; a benchmark measures the work, not the
    # log sink, so INFO is filtered (the call itself still happens). See bench/README.md.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    workload = Workload.for_commands(args.commands)
    rows = capture_rows(workload)
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    started = time.perf_counter()
    progress(
        f"bench.append: {workload.commands} commands → {len(rows)} events per measurement, "
        f"{args.repeats} repeats, databases: {', '.join(kinds)}"
    )
    for kind in kinds:
        with open_database(kind) as database:
            results = run_database(database, workload, rows, args.repeats)
        print(format_results(results, workload, len(rows), args.repeats) + "\n", flush=True)
        write_figures(args.json, [figure(kind, results)])
    progress(f"bench.append: done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
