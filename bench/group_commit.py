"""Group commit: many concurrent clients' commands against the one-transaction-per-command ceiling.

    .venv/bin/python -m bench.group_commit [--db postgres|sqlite] [--clients 16]
                                           [--processes 1 2 4] [--paths in-process http]
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
- For each of `--paths` and each of `--processes` P, plain (one transaction per command) and
  with group commit:
  - `command path, P proc`: N client threads, spread over P processes (each with its own store
    and group writer), send the workload's commands (load, decide, append) to `CommandHandler`.
  - `HTTP, P proc`: P `pop serve` processes, N HTTP clients (`bench.http_commands`); every
    acknowledged command is then checked in the log (its key, gapless positions, the chain).
  - `HTTP ceiling: trivial app, P proc` (once per P): the same clients against
    `bench.trivial_server`, which answers without doing anything: the web stack's own cost.

The workload is `bench.workload`'s (ten commands per cycle, 1.2 events per command); client
`c` drives cycles c, c+N, c+2N… step by step, as many people at work would. Registering the
people is setup. Rates are medians over the repeats; `vs raw` is the median of the per-repeat
ratios of commands/s to the `raw` case's transactions/s (the goal's unit). Each case also
reports its CPU per command by party (`bench.cpu`): on a 2-core machine the goal is a CPU
budget as much as a disk one.
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import structlog
from sqlalchemy import insert, text
from sqlalchemy.pool import NullPool

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
from bench.cpu import CpuMeter, CpuSample, parent_of
from bench.figures import Figure, add_json_option, backend_name, write_figures
from bench.http_commands import check_acknowledged, hr_token, run_http_clients, servers
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
#: How the clients' commands reach the command path: as threads calling `CommandHandler` in
#: the benchmark's processes, or as HTTP requests to `pop serve` processes.
PATHS = ("in-process", "http")


@dataclass(frozen=True, slots=True)
class Measurement:
    seconds: float
    events: int
    commands: int
    group_size: float | None = None
    #: CPU seconds in the timed window by party: `app` (the process(es) running the cases'
    #: work: inserts, the store, the command path, or the web servers), `clients` (the HTTP
    #: clients), `postgres` (the server and its backends), `machine` (everyone's, for the load).
    cpu: Mapping[str, float] = field(default_factory=dict)
    #: PostgreSQL connections opened in the timed window (HTTP cases): each is a forked backend.
    connections: int | None = None

    def cpu_per_command(self, party: str) -> float | None:
        """µs of CPU per command for `party` (None: not measured)."""
        if party not in self.cpu:
            return None
        return self.cpu[party] / self.commands * 1e6

    @property
    def cpu_total(self) -> float:
        """µs of CPU per command of this benchmark's own processes (not the machine's)."""
        own = sum(seconds for party, seconds in self.cpu.items() if party != "machine")
        return own / self.commands * 1e6

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
        """`key` ÷ `raw` in each repeat (per event, or commands per raw transaction: the raw
        case writes one event per transaction, so its events/s are its transactions/s)."""
        return [
            (m.events_per_second if unit == "events" else m.commands_per_second)
            / raw.events_per_second
            for m, raw in zip(self.runs[key], self.runs["raw"], strict=True)
        ]


# --- CPU -------------------------------------------------------------------------------------


def meter_for(url: str, *, app: int | None) -> CpuMeter:
    """A meter of process `app` (None: none) and, on PostgreSQL, the server's process tree."""
    meter = CpuMeter()
    if app is not None:
        meter.process("app", app)
    if url.startswith("postgresql"):
        engine = make_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
                postmaster = parent_of(int(backend))  # while the backend still runs
        finally:
            engine.dispose()
        if postmaster is None:
            raise RuntimeError("cannot find the PostgreSQL server's process to measure its CPU")
        meter.tree("postgres", postmaster)
    return meter


# --- the cases --------------------------------------------------------------------------------


def raw_single(url: str, rows: list[Row]) -> Measurement:
    engine = bench_engine(url)
    try:
        raw_metadata.create_all(engine)
        statement, write = insert(raw_events), writer(engine)
        meter = meter_for(url, app=os.getpid())
        before = meter.sample()
        started = time.perf_counter()
        for row in rows:
            with write.begin() as connection:
                connection.execute(statement, row)
        seconds = time.perf_counter() - started
        cpu = (meter.sample() - before).seconds
        return Measurement(seconds, len(rows), len(rows), cpu=cpu)
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

        meter = meter_for(url, app=os.getpid())
        with ThreadPoolExecutor(max_workers=clients) as pool:
            before = meter.sample()
            started = time.perf_counter()
            list(pool.map(client, range(clients)))
            seconds = time.perf_counter() - started
            cpu = (meter.sample() - before).seconds
        return Measurement(seconds, len(rows), len(rows), cpu=cpu)
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
    cpu: float  # this process's CPU seconds, all threads (the group writer's included)


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
            started, cpu = time.monotonic(), time.process_time()
            commands = sum(future.result() for future in futures)
            finished, cpu = time.monotonic(), time.process_time() - cpu
        if isinstance(store, GroupCommitStore):
            return Share(started, finished, commands, store.grouped, store.groups, cpu)
        return Share(started, finished, commands, commands, commands, cpu)


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
    meter = meter_for(url, app=None)  # PostgreSQL's; each share measures its own process
    before_cpu: list[CpuSample] = []
    if processes == 1:
        done = [
            run_share(
                url,
                workload,
                clients,
                shares[0],
                grouped=grouped,
                start=lambda: before_cpu.append(meter.sample()),
            )
        ]
        children: list[Any] = []
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
        before_cpu.append(meter.sample())
        go.set()
        done = [results.get(timeout=600) for _ in children]
    cpu = {**(meter.sample() - before_cpu[0]).seconds, "app": sum(share.cpu for share in done)}
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
    return Measurement(seconds, written, commands, group_size, cpu)


def http_clients(
    url: str, workload: Workload, events: int, clients: int, processes: int, *, grouped: bool
) -> Measurement:
    """`clients` HTTP clients against `processes` `pop serve` processes (`bench.http_commands`).

    Counts the commands acknowledged (2xx) per second, then checks every one of them is in the
    log under its key, that positions are gapless and that the chain verifies.
    """
    upgrade(url)
    with command_side(url, 1, grouped=False) as (handler, store):
        register_people(handler, workload)
        before, _ = store.head()
    token = hr_token(url)
    threads = math.ceil(clients / processes)
    with servers(url, processes, threads, grouped=grouped) as running:
        meter = meter_for(url, app=None)
        for server in running:
            meter.process("app", server.process.pid)
        meter.process("clients", os.getpid())
        first, sessions = meter.sample(), sessions_opened(url)
        started, finished, outcome = run_http_clients(
            running, token, workload, clients, run=f"http-{os.getpid()}-{time.time_ns()}"
        )
        cpu = (meter.sample() - first).seconds
        connections = sessions_opened(url) - sessions - 1  # less the count's own
    if outcome.failures:
        raise AssertionError(
            f"{len(outcome.failures)} requests failed, e.g. {outcome.failures[:3]}"
        )
    if len(outcome.acks) != workload.commands:
        raise AssertionError(f"{len(outcome.acks)} acknowledged, not {workload.commands}")
    check_acknowledged(url, outcome.acks, before, events)
    return Measurement(finished - started, events, len(outcome.acks), None, cpu, connections)


def sessions_opened(url: str) -> int:
    """Connections ever opened to `url`'s database (PostgreSQL's statistics; this one too)."""
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            query = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            return int(connection.execute(text(query)).scalar_one())
    finally:
        engine.dispose()


def http_ceiling(
    url: str, workload: Workload, events: int, clients: int, processes: int, *, grouped: bool
) -> Measurement:
    """The same HTTP clients against `bench.trivial_server` processes: what the web stack
    (waitress, Flask, JSON, the clients) carries on these cores with no command behind it.
    `url` and `grouped` are unused: it has no database."""
    del url, events, grouped
    threads = math.ceil(clients / processes)
    with servers(None, processes, threads, grouped=False) as running:
        meter = CpuMeter()
        for server in running:
            meter.process("app", server.process.pid)
        meter.process("clients", os.getpid())
        first = meter.sample()
        started, finished, outcome = run_http_clients(running, "-", workload, clients, run="t")
        cpu = (meter.sample() - first).seconds
    if outcome.failures or len(outcome.acks) != workload.commands:
        raise AssertionError(f"the trivial server failed: {outcome.failures[:3]}")
    return Measurement(finished - started, 0, len(outcome.acks), None, cpu)


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

        meter = meter_for(url, app=os.getpid())
        with ThreadPoolExecutor(max_workers=clients) as pool:
            futures = [pool.submit(client, number) for number in range(clients)]
            start.wait()
            before = meter.sample()
            started = time.perf_counter()
            appended = sum(future.result() for future in futures)
            seconds = time.perf_counter() - started
            cpu = (meter.sample() - before).seconds
        group_size = None
        if isinstance(store, GroupCommitStore):
            group_size = store.grouped / max(1, store.groups)
            store.close()
        if store.head()[0] != len(rows):
            raise AssertionError(f"the store holds {store.head()[0]} events, not {len(rows)}")
        return Measurement(seconds, appended, appended, group_size, cpu)
    finally:
        engine.dispose()


def cases_for(
    workload: Workload,
    rows: list[Row],
    clients: int,
    processes: Sequence[int],
    paths: Sequence[str] = PATHS,
) -> list[Case]:
    """The ceiling and the store cases, then each of `paths` with each process count, plain
    (one transaction per command) and with group commit."""
    events = len(rows)
    cases = [
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
    ]
    drivers = {"in-process": command_clients, "http": http_clients}
    for path in paths:
        for count in processes:
            if path == "http":
                cases.append(
                    Case(
                        f"http_trivial_p{count}",
                        f"HTTP ceiling: trivial app, {count} proc, {clients} clients",
                        partial(
                            http_ceiling,
                            workload=workload,
                            events=events,
                            clients=clients,
                            processes=count,
                            grouped=False,
                        ),
                    )
                )
            for grouped in (False, True):
                key, label = path_case(path, count, grouped=grouped)
                measure = partial(
                    drivers[path],
                    workload=workload,
                    events=events,
                    clients=clients,
                    processes=count,
                    grouped=grouped,
                )
                cases.append(Case(key, f"{label}, {clients} clients", measure))
    return cases


def path_case(path: str, processes: int, *, grouped: bool) -> tuple[str, str]:
    """The key and label of a command-path case."""
    how = "group commit" if grouped else "1 txn/command"
    where = "HTTP" if path == "http" else "command path"
    key = f"{'http' if path == 'http' else 'cmd'}_{'grouped' if grouped else 'plain'}_p{processes}"
    return key, f"{where}, {processes} proc, {how}"


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
            if measured.connections is not None:
                grouping += f", {measured.connections} PostgreSQL connections opened"
            progress(
                f"[{database.name} repeat {repeat + 1}/{repeats}] {case.label}: "
                f"{measured.commands} commands, {measured.events} events in "
                f"{measured.seconds:.2f} s = {measured.commands_per_second:,.0f} commands/s, "
                f"{measured.cpu_total:,.0f} µs CPU per command{grouping}"
            )
    return results


def format_results(
    database: Database, results: Results, workload: Workload, events: int, clients: int
) -> str:
    repeats = len(results.runs["raw"])
    cores = os.cpu_count() or 1
    lines = [
        f"== {database.name}: {database.settings()}",
        f"   {workload.commands} commands ({workload.cycles} cycles x 10) writing {events} events; "
        f"{clients} clients; medians of {repeats} repeats; {cores} cores",
        "",
        f"   {'':<50} {'':>9} {'':>10} {'cmds':>6} {'cmds':>5} "
        f"{'CPU µs per command':^30} {'cores':>7}",
        f"   {'name':<50} {'events/s':>9} {'commands/s':>10} {'vs raw':>6} {'/txn':>5} "
        f"{'app':>7} {'clients':>7} {'PG':>6} {'total':>7} {'allow':>7}",
    ]
    for case in results.cases:
        runs = results.runs[case.key]
        per_txn = [m.group_size for m in runs if m.group_size]
        app, client, pg = (_median_cpu(runs, party) for party in ("app", "clients", "postgres"))
        total = statistics.median(m.cpu_total for m in runs)
        lines.append(
            f"   {case.label:<50} {results.median(case.key):>9,.0f} "
            f"{results.median(case.key, 'commands'):>10,.0f} "
            f"{statistics.median(results.paired(case.key, 'commands')):>6.2f} "
            f"{(f'{statistics.median(per_txn):.1f}' if per_txn else '1'):>5} "
            f"{app:>7} {client:>7} {pg:>6} {total:>7,.0f} {cores * 1e6 / total:>7,.0f}"
        )
    machine = statistics.median(
        m.cpu["machine"] / m.seconds for runs in results.runs.values() for m in runs
    )
    lines += [
        "",
        "   cmds vs raw: commands/s ÷ the raw ceiling's transactions/s, median of the per-repeat",
        "   ratios. CPU: µs per command in the timed window of the web servers or command-path",
        "   processes (app), the HTTP clients and PostgreSQL; allow = cores x 10⁶ ÷ total: the",
        "   commands/s the cores could carry if nothing else ran and nothing waited. The machine",
        f"   was busy {machine:.2f} of {cores} cores during the cases (everyone's processes).",
        "",
        "   store alone, group commit ÷ raw ceiling in each repeat: "
        + ", ".join(f"{value:.1f}x" for value in results.paired("store_grouped")),
    ]
    best = _best_grouped(results)
    if best is not None:
        ratio = statistics.median(results.paired(best.key, "commands"))
        lines += [
            f"   {best.label} ÷ raw ceiling, commands/s, in each repeat: "
            + ", ".join(f"{value:.1f}x" for value in results.paired(best.key, "commands")),
            f"{database.name}: {best.label}: {ratio:.1f}x the "
            f"one-transaction-per-command ceiling (goal ≥ {GOAL:.0f}x)"
            + ("" if ratio >= GOAL else ": NOT MET"),
        ]
    return "\n".join(lines)


def _median_cpu(runs: Sequence[Measurement], party: str) -> str:
    values = [v for v in (m.cpu_per_command(party) for m in runs) if v is not None]
    return f"{statistics.median(values):,.0f}" if values else "—"


def _best_grouped(results: Results) -> Case | None:
    """The grouped case the goal is about: HTTP if measured, else the in-process command path;
    of those, the process count with the highest median ratio."""
    for prefix in ("http_grouped", "cmd_grouped"):
        found = [case for case in results.cases if case.key.startswith(prefix)]
        if found:
            return max(
                found, key=lambda case: statistics.median(results.paired(case.key, "commands"))
            )
    return None


def figures(kind: str, results: Results, clients: int) -> list[Figure]:
    """The headline figures for `python -m bench report`, all against the single-client raw
    ceiling (one transaction per row), which is what group commit is meant to pass: the store
    alone per event, the grouped command paths per command."""
    ceiling = results.median("raw")
    grouped = [case for case in results.cases if "_grouped_" in case.key]
    found = [("store_grouped", "store alone", "events")] + [
        (case.key, case.label.removesuffix(f", {clients} clients"), "commands") for case in grouped
    ]
    return [
        Figure(
            f"group commit, {clients} clients: {label}",
            backend_name(kind),
            f"{unit}/s",
            results.median(key, unit),
            ceiling,
            note=f"{label}: {statistics.median(results.paired(key, unit)):.1f}x the ceiling "
            "(median of per-repeat ratios)",
        )
        for key, label, unit in found
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
        nargs="+",
        default=[1],
        help="process counts to measure: the in-process clients spread over this many "
        "processes, or this many `pop serve` processes (each its own group writer)",
    )
    parser.add_argument(
        "--paths",
        nargs="+",
        choices=PATHS,
        default=list(PATHS),
        help="how commands reach the command path: threads calling it, or HTTP requests",
    )
    parser.add_argument("--commands", type=int, default=DEFAULT_COMMANDS)
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    add_json_option(parser)
    args = parser.parse_args(argv)
    if args.clients < 1 or args.commands < 10 or args.repeats < 1:
        parser.error("--clients ≥ 1, --commands ≥ 10 and --repeats ≥ 1, please")
    if not all(1 <= count <= args.clients for count in args.processes):
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
            database,
            cases_for(workload, rows, args.clients, args.processes, args.paths),
            args.repeats,
        )
        print(format_results(database, results, workload, len(rows), args.clients), flush=True)
        write_figures(args.json, figures(args.db, results, args.clients))
    progress(f"bench.group_commit: done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
