"""Group commit: many concurrent clients' commands against the one-transaction-per-command ceiling.

    .venv/bin/python -m bench.group_commit [--db postgres|sqlite] [--clients 16]
                                           [--commands 2000] [--repeats 3]

Per repeat, each case on its own fresh database, in a rotating order:

- `raw`: the ceiling of one transaction per command, as in `bench.append`: the very event rows
  the workload writes, one plain Core insert per transaction, one client. Ratio 1.00.
- `raw, N clients`: the same rows inserted by N client threads at once, one row per
  transaction, positions handed out beforehand: what the database does with N concurrent
  commits when nothing orders them (PostgreSQL shares WAL flushes between concurrent commits).
  No gapless order, no hash chain: for orientation only.
- `store appends, N clients, 1 txn/append` and `…, group commit`: the store alone, without the
  command path: the same events appended one per call by N threads (streams dealt out to the
  threads, each event at its expected version), on a plain `SqlEventStore` and wrapped in
  `GroupCommitStore`. What grouping does for the store itself.
- `command path, N clients`: N client threads send the workload's commands (load, decide,
  append) through one `CommandHandler` on a plain `SqlEventStore`: one transaction per command,
  serialised on the chain head.
- `group commit, N clients`: the same with the store wrapped in `GroupCommitStore`.

The workload is `bench.workload`'s (ten commands per cycle, 1.2 events per command); client
`c` drives cycles c, c+N, c+2N… step by step, as many people at work would. Registering the
people is setup. `events/s` and `commands/s` are medians over the repeats; `vs raw` is the
median of the per-repeat ratios of events/s to the `raw` case of the same repeat.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import insert

from bench.append import (
    Database,
    Row,
    bench_engine,
    capture_rows,
    check_durability,
    open_database,
    progress,
    raw_events,
    raw_metadata,
)
from bench.figures import Figure, add_json_option, backend_name, write_figures
from bench.workload import HR, Workload, cycle_commands, register_people
from events.database import make_engine, writer
from events.domain import Reason
from events.group_commit import GroupCommitStore
from events.migrate import upgrade
from events.records import Metadata, NewEvent, StreamAppend
from events.sqlkeyring import SqlKeyRing
from events.sqlstore import SqlEventStore
from events.store import EventStore
from handlers.clock import system_clock
from handlers.commands import CommandHandler
from handlers.repository import Repository

GOAL = 5.0
DEFAULT_CLIENTS = 16
DEFAULT_COMMANDS = 2000
DEFAULT_REPEATS = 3


@dataclass(frozen=True, slots=True)
class Measurement:
    seconds: float
    events: int
    commands: int
    group_size: float | None = None

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds

    @property
    def commands_per_second(self) -> float:
        return self.commands / self.seconds


#: A case: given a fresh database URL, set up, then time the work and return the measurement.
Run = Callable[[str], Measurement]


@dataclass(frozen=True, slots=True)
class Case:
    key: str
    label: str
    run: Run


@dataclass
class Results:
    cases: list[Case]
    runs: dict[str, list[Measurement]] = field(default_factory=dict)

    def median(self, key: str, unit: str = "events") -> float:
        return statistics.median(
            m.events_per_second if unit == "events" else m.commands_per_second
            for m in self.runs[key]
        )

    def paired(self, key: str, unit: str = "events") -> list[float]:
        """`key` ÷ `raw` in each repeat (per event, or commands per raw transaction)."""
        return [
            (m.events_per_second if unit == "events" else m.commands_per_second)
            / raw.events_per_second
            for m, raw in zip(self.runs[key], self.runs["raw"], strict=True)
        ]


# --- the cases --------------------------------------------------------------------------------


def raw_single(url: str, rows: list[Row]) -> Measurement:
    engine = bench_engine(url)
    try:
        raw_metadata.create_all(engine)
        statement, write = insert(raw_events), writer(engine)
        started = time.perf_counter()
        for row in rows:
            with write.begin() as connection:
                connection.execute(statement, row)
        return Measurement(time.perf_counter() - started, len(rows), len(rows))
    finally:
        engine.dispose()


def raw_concurrent(url: str, rows: list[Row], clients: int) -> Measurement:
    engine = make_engine(url, pool_size=clients, max_overflow=0)
    try:
        check_durability(engine, durable=True)
        raw_metadata.create_all(engine)
        statement, write = insert(raw_events), writer(engine)

        def client(number: int) -> None:
            for row in rows[number::clients]:
                with write.begin() as connection:
                    connection.execute(statement, row)

        with ThreadPoolExecutor(max_workers=clients) as pool:
            started = time.perf_counter()
            list(pool.map(client, range(clients)))
            seconds = time.perf_counter() - started
        return Measurement(seconds, len(rows), len(rows))
    finally:
        engine.dispose()


@contextmanager
def command_side(
    url: str, clients: int, *, grouped: bool
) -> Iterator[tuple[CommandHandler, EventStore]]:
    """The command path as `handlers.bootstrap` wires it, with a pool for `clients` threads."""
    upgrade(url)
    engine = make_engine(url, pool_size=clients + 2, max_overflow=4)
    plain = SqlEventStore(engine, system_clock)
    store: EventStore = GroupCommitStore(plain) if grouped else plain
    try:
        check_durability(engine, durable=True)
        yield CommandHandler(Repository(store, SqlKeyRing(engine)), system_clock), store
    finally:
        if isinstance(store, GroupCommitStore):
            store.close()
        engine.dispose()


def drive_client(handler: CommandHandler, workload: Workload, number: int, clients: int) -> int:
    """Client `number`'s share of the workload, step by step across its cycles; the count."""
    now = datetime.now(UTC)
    mine = range(number, workload.cycles, clients)
    cycle_ids = []
    for index in mine:
        started = handler.start_cycle(
            HR,
            workload.employee_id(index),
            workload.manager_id(index),
            Reason.PERIODIC,
            now + timedelta(days=30),
        )
        if started.cycle_id is None:
            raise AssertionError("start_cycle returned no cycle id")
        cycle_ids.append(started.cycle_id)
    for command in cycle_commands(now.date()):
        for cycle_id in cycle_ids:
            handler.handle(HR, cycle_id, command)
    return len(cycle_ids) * (1 + len(cycle_commands(now.date())))


@dataclass(frozen=True, slots=True)
class Share:
    """What one process of the command clients did: when, how much, in how many groups."""

    started: float  # time.monotonic(): one clock for every process on the machine
    finished: float
    commands: int
    grouped: int
    groups: int


def run_share(
    url: str,
    workload: Workload,
    clients: int,
    mine: range,
    *,
    grouped: bool,
    start: Callable[[], object],
) -> Share:
    """Clients `mine` (of `clients`) as threads of this process, released by `start()`."""
    with command_side(url, len(mine), grouped=grouped) as (handler, store):
        with ThreadPoolExecutor(max_workers=len(mine)) as pool:
            ready = threading.Barrier(len(mine) + 1)

            def client(number: int) -> int:
                ready.wait()
                return drive_client(handler, workload, number, clients)

            futures = [pool.submit(client, number) for number in mine]
            start()
            ready.wait()
            started = time.monotonic()
            commands = sum(future.result() for future in futures)
            finished = time.monotonic()
        if isinstance(store, GroupCommitStore):
            return Share(started, finished, commands, store.grouped, store.groups)
        return Share(started, finished, commands, commands, commands)


@dataclass(frozen=True, slots=True)
class ShareJob:
    """One client process's part of the workload (`--processes` > 1)."""

    url: str
    workload: Workload
    clients: int
    mine: range
    grouped: bool


def _share_in_process(job: ShareJob, go: Any, ready: Any, results: Any) -> None:
    """A client process: set up, say ready, wait for `go`, report its `Share`."""
    quiet()

    def start() -> None:
        ready.put(job.mine.start)
        go.wait()

    share = run_share(
        job.url, job.workload, job.clients, job.mine, grouped=job.grouped, start=start
    )
    results.put(share)


def command_clients(
    url: str, workload: Workload, events: int, clients: int, processes: int, *, grouped: bool
) -> Measurement:
    """The clients as threads of `processes` processes (each with its own store and writer)."""
    upgrade(url)
    with command_side(url, 1, grouped=False) as (handler, store):
        register_people(handler, workload)
        before, _ = store.head()
    shares = [range(p, clients, processes) for p in range(processes)]
    if processes == 1:
        done = [run_share(url, workload, clients, shares[0], grouped=grouped, start=lambda: None)]
    else:
        context = multiprocessing.get_context("spawn")
        go, ready, results = context.Event(), context.Queue(), context.Queue()
        children = [
            context.Process(
                target=_share_in_process,
                args=(ShareJob(url, workload, clients, mine, grouped), go, ready, results),
            )
            for mine in shares
        ]
        for child in children:
            child.start()
        for _ in children:
            ready.get(timeout=120)
        go.set()
        done = [results.get(timeout=600) for _ in children]
        for child in children:
            child.join(30)
    with command_side(url, 1, grouped=False) as (_, store):
        written = store.head()[0] - before
    commands = sum(share.commands for share in done)
    seconds = max(share.finished for share in done) - min(share.started for share in done)
    group_size = None
    if grouped:
        group_size = sum(share.grouped for share in done) / sum(share.groups for share in done)
    if written != events or commands != workload.commands:
        raise AssertionError(f"wrote {written} events in {commands} commands, expected {events}")
    return Measurement(seconds, written, commands, group_size)


def quiet() -> None:
    """As in bench.append: the INFO line per command is filtered, the work is what is measured."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("alembic").setLevel(logging.WARNING)


def store_clients(url: str, rows: list[Row], clients: int, *, grouped: bool) -> Measurement:
    """The store alone: the workload's events appended one per call by `clients` threads.

    Streams are dealt out to the clients; each appends its streams' events in order, each at
    its expected version. No decide, no sealing: what the store itself can take.
    """
    upgrade(url)
    engine = make_engine(url, pool_size=clients + 2, max_overflow=4)
    plain = SqlEventStore(engine, system_clock)
    store: SqlEventStore | GroupCommitStore = GroupCommitStore(plain) if grouped else plain
    # The rows' employee streams started with a registration (setup, not in `rows`): count
    # each stream's versions from its first row here.
    base: dict[str, int] = {}
    for row in rows:
        base.setdefault(row["stream_id"], row["version"] - 1)
    owner = {stream: index % clients for index, stream in enumerate(sorted(base))}
    try:
        check_durability(engine, durable=True)
        start = threading.Barrier(clients + 1)

        def client(number: int) -> int:
            mine = [row for row in rows if owner[row["stream_id"]] == number]
            start.wait()
            for row in mine:
                stream = row["stream_id"]
                new = NewEvent(row["type"], row["data"], row["schema_version"])
                store.append(
                    [StreamAppend(stream, (new,), row["version"] - 1 - base[stream])],
                    Metadata.from_json(row["metadata"]),
                )
            return len(mine)

        with ThreadPoolExecutor(max_workers=clients) as pool:
            futures = [pool.submit(client, number) for number in range(clients)]
            start.wait()
            started = time.perf_counter()
            appended = sum(future.result() for future in futures)
            seconds = time.perf_counter() - started
        group_size = None
        if isinstance(store, GroupCommitStore):
            group_size = store.grouped / max(1, store.groups)
            store.close()
        if store.head()[0] != len(rows):
            raise AssertionError(f"the store holds {store.head()[0]} events, not {len(rows)}")
        return Measurement(seconds, appended, appended, group_size)
    finally:
        engine.dispose()


def cases_for(workload: Workload, rows: list[Row], clients: int, processes: int) -> list[Case]:
    events = len(rows)
    return [
        Case("raw", "raw insert, 1 row/txn, 1 client (ceiling)", lambda u: raw_single(u, rows)),
        Case(
            "raw_many",
            f"raw insert, 1 row/txn, {clients} clients",
            lambda u: raw_concurrent(u, rows, clients),
        ),
        Case(
            "store_plain",
            f"store appends, {clients} clients, 1 txn/append",
            lambda u: store_clients(u, rows, clients, grouped=False),
        ),
        Case(
            "store_grouped",
            f"store appends, {clients} clients, group commit",
            lambda u: store_clients(u, rows, clients, grouped=True),
        ),
        Case(
            "plain",
            f"command path, {clients} clients, 1 txn/command",
            lambda u: command_clients(u, workload, events, clients, processes, grouped=False),
        ),
        Case(
            "grouped",
            f"group commit, {clients} clients",
            lambda u: command_clients(u, workload, events, clients, processes, grouped=True),
        ),
    ]


# --- running and reporting --------------------------------------------------------------------


def run(database: Database, cases: list[Case], repeats: int) -> Results:
    results = Results(cases)
    with database.fresh() as target:  # warm-up, not counted
        raw_single(target.url, [])
    for repeat in range(repeats):
        shift = repeat % len(cases)
        for case in cases[shift:] + cases[:shift]:
            with database.fresh() as target:
                measured = case.run(target.url)
            results.runs.setdefault(case.key, []).append(measured)
            grouping = (
                f", {measured.group_size:.1f} commands per transaction"
                if measured.group_size
                else ""
            )
            progress(
                f"[{database.name} repeat {repeat + 1}/{repeats}] {case.label}: "
                f"{measured.commands} commands, {measured.events} events in "
                f"{measured.seconds:.2f} s = {measured.events_per_second:,.0f} events/s{grouping}"
            )
    return results


def format_results(
    database: Database, results: Results, workload: Workload, events: int, clients: int
) -> str:
    repeats = len(results.runs["raw"])
    lines = [
        f"== {database.name}: {database.settings()}",
        f"   {workload.commands} commands ({workload.cycles} cycles x 10) writing {events} events; "
        f"{clients} clients; medians of {repeats} repeats",
        "",
        f"   {'name':<44} {'events/s':>9} {'commands/s':>11} {'vs raw':>7} {'per txn':>8}",
    ]
    for case in results.cases:
        per_txn = [m.group_size for m in results.runs[case.key] if m.group_size]
        lines.append(
            f"   {case.label:<44} {results.median(case.key):>9,.0f} "
            f"{results.median(case.key, 'commands'):>11,.0f} "
            f"{statistics.median(results.paired(case.key)):>7.2f} "
            f"{(f'{statistics.median(per_txn):.1f}' if per_txn else '1'):>8}"
        )
    store_ratio = statistics.median(results.paired("store_grouped"))
    lines += [
        "",
        "   store alone, group commit ÷ raw ceiling in each repeat: "
        + ", ".join(f"{value:.1f}x" for value in results.paired("store_grouped"))
        + f" (median {store_ratio:.1f}x)",
    ]
    ratio = statistics.median(results.paired("grouped"))
    per_command = statistics.median(results.paired("grouped", "commands"))
    lines += [
        "   command path, group commit ÷ raw ceiling, events/s, in each repeat: "
        + ", ".join(f"{value:.1f}x" for value in results.paired("grouped")),
        f"   per command: {per_command:.1f}x raw's transactions/s",
        f"{database.name}: group commit with {clients} clients at {ratio:.1f}x the "
        f"one-transaction-per-command ceiling (goal ≥ {GOAL:.0f}x)"
        + ("" if ratio >= GOAL else ": NOT MET"),
    ]
    return "\n".join(lines)


def figures(kind: str, results: Results, clients: int) -> list[Figure]:
    """The headline figures for `python -m bench report`: both against the single-client raw
    ceiling (one transaction per row), which is what group commit is meant to pass."""
    ceiling = results.median("raw")
    return [
        Figure(
            f"group commit, {clients} clients: {label}",
            backend_name(kind),
            "events/s",
            results.median(key),
            ceiling,
            note=f"{label}: {statistics.median(results.paired(key)):.1f}x the ceiling "
            "(median of per-repeat ratios)",
        )
        for key, label in (("grouped", "command path"), ("store_grouped", "store alone"))
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.group_commit", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS)
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="command clients spread over this many processes (each its own group writer)",
    )
    parser.add_argument("--commands", type=int, default=DEFAULT_COMMANDS)
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    add_json_option(parser)
    args = parser.parse_args(argv)
    if args.clients < 1 or args.commands < 10 or args.repeats < 1:
        parser.error("--clients ≥ 1, --commands ≥ 10 and --repeats ≥ 1, please")
    if not 1 <= args.processes <= args.clients:
        parser.error("--processes must be between 1 and --clients")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet()
    workload = Workload.for_commands(args.commands)
    rows = capture_rows(workload)
    started = time.perf_counter()
    progress(
        f"bench.group_commit: {workload.commands} commands → {len(rows)} events, "
        f"{args.clients} clients, {args.repeats} repeats on {args.db}"
    )
    with open_database(args.db) as database:
        results = run(
            database, cases_for(workload, rows, args.clients, args.processes), args.repeats
        )
        print(format_results(database, results, workload, len(rows), args.clients), flush=True)
        write_figures(args.json, figures(args.db, results, args.clients))
    progress(f"bench.group_commit: done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
