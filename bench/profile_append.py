"""Where the command path's time goes: SQL per command, a timed split, and a cProfile breakdown.

    .venv/bin/python -m bench.profile_append [--db sqlite|postgres] [--commands N] [--top 25]

Three views of the same workload as `bench.append` (fresh database each):

1. SQL statements, BEGINs, COMMITs, round trips and pool checkouts per command, counted at
   the driver (the store's hot statements bypass SQLAlchemy): SQLite's trace callback,
   libpq's protocol trace on PostgreSQL.
2. A split of wall time without a profiler: the store is wrapped so that its reads and its
   appends are timed; the rest is the handler's own work (decide, encode, fingerprint, fold),
   compared with one raw insert transaction measured right before.
3. cProfile: own time summed by bucket (driver and fsync, SQLAlchemy, JSON, hashing, cattrs,
   workflow, …) and the cumulative time of the functions that matter. The profiler slows Python
   code down more than C code, so read its shares as an upper bound for the Python parts.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import structlog
from psycopg import pq
from sqlalchemy import Engine, event

from bench.append import (
    Case,
    Database,
    Row,
    Target,
    capture_rows,
    check_durability,
    command_path_work,
    open_database,
    progress,
    raw_work,
    relax,
    run_interleaved,
)
from bench.workload import Workload, drive, register_people, wire
from events.migrate import upgrade
from events.records import AppendResult, Metadata, StoredEvent, StreamAppend
from events.sealing import KeyRing
from events.store import EventStore
from handlers.clock import system_clock
from handlers.commands import CommandHandler
from handlers.repository import Repository


class TimedStore:
    """An `EventStore` and `KeyRing` that times what it delegates, per call."""

    def __init__(self, inner: EventStore, keys: KeyRing) -> None:
        self.inner = inner
        self.keys = keys
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()

    @contextmanager
    def _timed(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start
            self.calls[name] += 1

    def append(
        self,
        appends: Sequence[StreamAppend],
        metadata: Metadata,
        *,
        idempotency_key: str | None = None,
        request_fingerprint: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> AppendResult:
        with self._timed("append"):
            return self.inner.append(
                appends,
                metadata,
                idempotency_key=idempotency_key,
                request_fingerprint=request_fingerprint,
                result=result,
            )

    def lookup(
        self, idempotency_key: str, request_fingerprint: str | None = None
    ) -> AppendResult | None:
        with self._timed("lookup"):
            return self.inner.lookup(idempotency_key, request_fingerprint)

    def read_stream(self, stream_id: str) -> list[StoredEvent]:
        with self._timed("read_stream"):
            return self.inner.read_stream(stream_id)

    def stream_version(self, stream_id: str) -> int:
        with self._timed("stream_version"):
            return self.inner.stream_version(stream_id)

    def read_all(self, after_position: int = 0, *, batch_size: int = 1000) -> Iterator[StoredEvent]:
        return self.inner.read_all(after_position, batch_size=batch_size)

    def head(self) -> tuple[int, str]:
        return self.inner.head()

    def key_for(self, subject_id: str, *, create: bool) -> bytes | None:
        with self._timed("keys.key_for"):
            return self.keys.key_for(subject_id, create=create)

    def keys_for(self, subject_ids: set[str]) -> dict[str, bytes]:
        with self._timed("keys.keys_for"):
            return self.keys.keys_for(subject_ids)

    def destroy(self, subject_id: str) -> bool:
        return self.keys.destroy(subject_id)


class SqlCounter:
    """Statements, BEGINs, COMMITs, round trips and pool checkouts per command kind.

    Counted at the driver, not with SQLAlchemy events, because the store's hot statements run
    on the driver's own cursor: SQLite reports every statement it runs to a trace callback
    (BEGIN and COMMIT included; an executemany counts once per row); on PostgreSQL libpq's
    protocol trace shows what goes on the wire, and each Sync or simple Query is one round
    trip.
    """

    def __init__(self, engine: Engine, folder: Path) -> None:
        self.current = "setup"
        self.counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.commands: Counter[str] = Counter()
        self._sqlite = engine.dialect.name == "sqlite"
        self._folder = folder
        # dbapi connection id → the connection and its trace file (PostgreSQL only)
        self._traced: dict[int, tuple[Any, BinaryIO | None]] = {}
        self._statements: dict[str, str] = {}  # prepared statement name → its first word
        self._read: dict[int, int] = {}  # how far each trace file was read
        event.listen(engine.pool, "checkout", self._checkout)

    def _checkout(self, dbapi_connection: Any, *_: Any) -> None:
        self.counts[self.current]["checkouts"] += 1
        if id(dbapi_connection) in self._traced:
            return
        if self._sqlite:
            dbapi_connection.set_trace_callback(self._sqlite_statement)
            self._traced[id(dbapi_connection)] = (dbapi_connection, None)
            return
        trace = (self._folder / f"trace-{len(self._traced)}.txt").open("w+b")
        self._traced[id(dbapi_connection)] = (dbapi_connection, trace)
        self._trace(dbapi_connection, trace)

    @staticmethod
    def _trace(dbapi_connection: Any, trace: BinaryIO) -> None:
        dbapi_connection.pgconn.trace(trace.fileno())
        dbapi_connection.pgconn.set_trace_flags(
            pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE
        )

    def _count(self, sql: str) -> None:
        kind = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
        self.counts[self.current]["statements"] += 1
        self.counts[self.current][kind] += 1

    def _sqlite_statement(self, sql: str) -> None:
        self._count(sql)

    def _read_traces(self) -> None:
        """PostgreSQL: count what the client sent since the last call (F lines of the trace)."""
        for connection, trace in self._traced.values():
            if trace is None:
                continue
            connection.pgconn.untrace()  # libpq buffers its trace: untracing flushes it
            self._trace(connection, trace)
            # libpq moves the file offset as it writes: read by position, what is new.
            size = os.fstat(trace.fileno()).st_size
            done = self._read.get(id(connection), 0)
            self._read[id(connection)] = size
            new = os.pread(trace.fileno(), size - done, done)
            for line in new.decode("utf-8", "replace").splitlines():
                parts = line.split("\t")  # F, length, message, its fields
                if len(parts) < 3 or parts[0] != "F":
                    continue
                message, rest = parts[2], parts[3] if len(parts) > 3 else ""
                if message == "Query":
                    self._count(rest.strip().strip('"'))
                    self.counts[self.current]["round trips"] += 1
                elif message == "Sync":
                    self.counts[self.current]["round trips"] += 1
                elif message == "Parse":
                    name, _, sql = rest.strip().partition(" ")
                    self._statements[name] = sql.strip('" ')
                elif message == "Bind":
                    name = rest.strip().split(" ")[1]
                    self._count(self._statements.get(name, "?"))

    def next_command(self, name: str) -> None:
        # Called after a command: what ran since the last call belongs to `name`.
        self._read_traces()
        self.commands[name] += 1
        self.counts[name].update(self.counts.pop("pending", Counter()))

    def close(self) -> None:
        for _, trace in self._traced.values():
            if trace is not None:
                trace.close()

    def report(self) -> list[str]:
        trips = "round trips" if not self._sqlite else "—"
        lines = [
            f"   {'command':<22} {'n':>5} {'stmts':>6} {'SELECT':>7} {'INSERT':>7} "
            f"{'UPDATE':>7} {'WITH':>5} {'BEGIN':>6} {'COMMIT':>7} {'round trips':>12} "
            f"{'checkouts':>10}"
        ]
        for name, n in self.commands.items():
            c = self.counts[name]
            round_trips = f"{c['round trips'] / n:.1f}" if trips != "—" else "—"
            lines.append(
                f"   {name:<22} {n:>5} {c['statements'] / n:>6.1f} {c['SELECT'] / n:>7.1f} "
                f"{c['INSERT'] / n:>7.1f} {c['UPDATE'] / n:>7.1f} {c['WITH'] / n:>5.1f} "
                f"{c['BEGIN'] / n:>6.1f} {c['COMMIT'] / n:>7.1f} {round_trips:>12} "
                f"{c['checkouts'] / n:>10.1f}"
            )
        return lines


def counted_statements(target: Target, workload: Workload) -> list[str]:
    upgrade(target.url)
    app = wire(target.url)
    with tempfile.TemporaryDirectory(prefix="popcycle-trace-") as folder:
        counter = SqlCounter(app.engine, Path(folder))
        try:
            register_people(app.commands, workload)
            counter.next_command("setup")
            counter.current = "pending"
            drive(app.commands, workload, counter.next_command)
        finally:
            app.close()
            counter.close()
    del counter.commands["setup"]
    return [
        "1. SQL per command, counted at the driver (SQLite's trace callback: every statement",
        "   run, BEGIN/COMMIT included, an executemany once per row; PostgreSQL: libpq's",
        "   protocol trace, a round trip per Sync or simple Query; autocommit statements send",
        "   no BEGIN/COMMIT)",
        *counter.report(),
    ]


def _timed_run(
    target: Target, workload: Workload, *, durable: bool
) -> tuple[TimedStore, int, float]:
    upgrade(target.url)
    app = wire(target.url)
    try:
        if not durable:
            relax(app.engine)
        check_durability(app.engine, durable=durable)
        timed = TimedStore(app.store, app.repository.keys)
        handler = CommandHandler(Repository(timed, timed), system_clock)
        register_people(handler, workload)
        timed.seconds.clear()
        timed.calls.clear()
        start = time.perf_counter()
        commands = drive(handler, workload)
        total = time.perf_counter() - start
    finally:
        app.close()
    return timed, commands, total


def timed_split(database: Database, workload: Workload, raw_per_txn: float) -> list[str]:
    with database.fresh() as target:
        durable, commands, total = _timed_run(target, workload, durable=True)
    with database.fresh() as target:
        relaxed, _, relaxed_total = _timed_run(target, workload, durable=False)
    lines = [
        "2. Wall time per command, no profiler (store calls timed by a wrapper); 'relaxed' is",
        "   the same run with commits that do not wait for the disk (CPU and round trips only)",
        f"   {'part':<34} {'calls/cmd':>9} {'µs/call':>8} {'µs/cmd':>8} {'share':>6} "
        f"{'relaxed µs/cmd':>15}",
    ]
    accounted = relaxed_accounted = 0.0
    for name in sorted(durable.calls):
        seconds, calls = durable.seconds[name], durable.calls[name]
        if not calls:
            continue
        accounted += seconds
        relaxed_accounted += relaxed.seconds[name]
        lines.append(
            f"   {name:<34} {calls / commands:>9.2f} {seconds / calls * 1e6:>8.0f} "
            f"{seconds / commands * 1e6:>8.0f} {seconds / total:>6.0%} "
            f"{relaxed.seconds[name] / commands * 1e6:>15.0f}"
        )
    rest, relaxed_rest = total - accounted, relaxed_total - relaxed_accounted
    append_per_call = durable.seconds["append"] / durable.calls["append"]
    lines += [
        f"   {'handler (decode, decide, encode…)':<34} {'':>9} {'':>8} "
        f"{rest / commands * 1e6:>8.0f} {rest / total:>6.0%} "
        f"{relaxed_rest / commands * 1e6:>15.0f}",
        f"   {'total':<34} {'':>9} {'':>8} {total / commands * 1e6:>8.0f} {1:>6.0%} "
        f"{relaxed_total / commands * 1e6:>15.0f}",
        f"   raw insert transaction, same engine settings: {raw_per_txn * 1e6:.0f} µs "
        f"(append alone is {append_per_call / raw_per_txn:.2f}x, "
        f"a whole command {total / commands / raw_per_txn:.2f}x)",
    ]
    return lines


BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sqlite3 commit (fsync)", ("'commit' of 'sqlite3",)),
    ("sqlite3 execute/fetch", ("sqlite3.",)),
    ("psycopg (network wait, I/O)", ("psycopg", "select.", "selectors", "socket")),
    ("SQLAlchemy", ("sqlalchemy",)),
    ("JSON", ("json",)),
    ("cryptography (AES-GCM), base64", ("cryptography", "AESGCM", "base64", "binascii")),
    ("hashlib / hashing", ("hashlib", "sha256", "hashing.py")),
    ("cattrs (generated code too)", ("cattrs", "<cattrs")),
    ("workflow (decide, evolve)", ("workflow",)),
    ("handlers", ("handlers",)),
    ("events (store, codec)", ("events/",)),
    ("structlog", ("structlog",)),
    ("datetime, uuid, dataclasses", ("datetime", "uuid", "dataclasses", "isoformat")),
)
KEY_FUNCTIONS = (
    ("commands.py", "handle"),
    ("commands.py", "start_cycle"),
    ("repository.py", "cycle"),
    ("repository.py", "employee"),
    ("repository.py", "unsealed"),
    ("sealing.py", "seal"),
    ("sealing.py", "unseal"),
    ("sqlkeyring.py", "key_for"),
    ("sqlkeyring.py", "keys_for"),
    ("sqlstore.py", "read_stream"),
    ("sqlstore.py", "stream_version"),
    ("sqlstore.py", "stored_event"),
    ("codec.py", "decode"),
    ("decide.py", "decide"),
    ("commands.py", "fingerprint"),
    ("codec.py", "encode"),
    ("sqlstore.py", "append"),
    ("sqlstore.py", "_lock_and_read"),
    ("hashing.py", "event_hash"),
    ("hashing.py", "content_tail"),
    ("sqlstore.py", "_append_in_one_statement"),
    ("sqlstore.py", "_run_autocommit"),
    ("sqlstore.py", "_append_on_sqlite"),
    ("sqlstore.py", "_append_locked_on_sqlite"),
    ("hashing.py", "chain_hash_after"),
    ("base.py", "raw_connection"),
    ("base.py", "_finalize_fairy"),
    ("sqlstore.py", "_write_one_by_one"),
    ("sqlstore.py", "_write_at_once"),
    ("base.py", "commit"),
    ("base.py", "_execute_context"),
    ("default.py", "do_commit"),
    ("default.py", "do_rollback"),
    ("base.py", "_connection_for_bind"),
)


def bucket_of(filename: str, function: str) -> str:
    where = f"{filename}:{function}"
    for name, needles in BUCKETS:
        if any(needle in where for needle in needles):
            return name
    return "other (interpreter, stdlib)"


def profiled(target: Target, workload: Workload, top: int) -> list[str]:
    upgrade(target.url)
    app = wire(target.url)
    profiler = cProfile.Profile()
    try:
        register_people(app.commands, workload)
        profiler.enable()
        commands = drive(app.commands, workload)
        profiler.disable()
    finally:
        app.close()
    stats = pstats.Stats(profiler)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    own: Counter[str] = Counter()
    total = 0.0
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        own[bucket_of(filename, function)] += tottime
        total += tottime
    lines = [
        f"3. cProfile ({commands} commands, {total:.2f} s profiled): own time by bucket, "
        "µs per command",
    ]
    for name, seconds in own.most_common():
        lines.append(f"   {name:<32} {seconds / commands * 1e6:>8.0f} µs {seconds / total:>6.0%}")
    lines.append("   cumulative time of key functions (calls per command, µs per command):")
    for (filename, _line, function), (_cc, calls, _tt, cumtime, _callers) in sorted(
        raw.items(), key=lambda item: -item[1][3]
    ):
        if any(filename.endswith(f) and function == name for f, name in KEY_FUNCTIONS):
            short = "/".join(filename.split("/")[-2:])
            lines.append(
                f"   {short + ':' + function:<44} {calls / commands:>6.2f} "
                f"{cumtime / commands * 1e6:>8.0f} µs {cumtime / total:>6.0%}"
            )
    lines.append(f"   top {top} by own time:")
    for (filename, line, function), (_cc, calls, tottime, _ct, _callers) in sorted(
        raw.items(), key=lambda item: -item[1][2]
    )[:top]:
        short = "/".join(filename.split("/")[-2:])
        lines.append(
            f"   {tottime / commands * 1e6:>7.1f} µs/cmd {calls / commands:>6.2f} calls/cmd  "
            f"{short}:{line}({function})"
        )
    return lines


def durability_split(
    database: Database, workload: Workload, rows: list[Row], repeats: int
) -> list[str]:
    """µs per transaction with durable and with relaxed commits, interleaved, medians."""
    events, commands = len(rows), workload.commands
    cases = [
        Case(f"{kind}_{durable}", "", units, events, work)
        for durable in (True, False)
        for kind, units, work in (
            ("raw", events, partial(raw_work, rows=rows, durable=durable)),
            (
                "ours",
                commands,
                partial(
                    command_path_work, workload=workload, expected_events=events, durable=durable
                ),
            ),
        )
    ]
    runs: defaultdict[str, list[float]] = defaultdict(list)
    for _ in range(repeats):
        for key, measured in run_interleaved(database, cases).items():
            runs[key].append(measured.seconds / measured.transactions)
    relaxed = "synchronous=NORMAL" if database.name == "SQLite" else "synchronous_commit=off"
    lines = [
        f"4. Durable commit vs {relaxed} (µs per transaction, median of {repeats}, interleaved):",
        "   the relaxed figure is the CPU and round-trip cost, the difference what waiting for",
        "   the disk costs",
        f"   {'':<26} {'durable':>8} {'relaxed':>8} {'disk wait':>10}",
    ]
    for kind, label in (("raw", "raw insert, 1 row/txn"), ("ours", "command path, 1 cmd/txn")):
        durable_us = statistics.median(runs[f"{kind}_True"]) * 1e6
        relaxed_us = statistics.median(runs[f"{kind}_False"]) * 1e6
        lines.append(
            f"   {label:<26} {durable_us:>8.0f} {relaxed_us:>8.0f} {durable_us - relaxed_us:>10.0f}"
        )
    return lines


def raw_per_transaction(database: Database, rows: list[Row]) -> float:
    case = Case("raw", "", len(rows), len(rows), partial(raw_work, rows=rows))
    measured = run_interleaved(database, [case])["raw"]
    return measured.seconds / measured.transactions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_append")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=3, help="for the durability split")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    workload = Workload.for_commands(args.commands)
    with open_database(args.db) as database:
        progress(f"profiling the command path on {database.name}: {workload.commands} commands")
        sections = []
        with database.fresh() as target:
            sections.append(counted_statements(target, workload))
        progress("  counted statements")
        rows = capture_rows(workload)
        raw = raw_per_transaction(database, rows)
        sections.append(timed_split(database, workload, raw))
        progress("  timed the split")
        with database.fresh() as target:
            sections.append(profiled(target, workload, args.top))
        progress("  profiled")
        sections.append(durability_split(database, workload, rows, args.repeats))
        progress("  split durable / relaxed commits")
        print(f"== {database.name}: {database.settings()}")
    for section in sections:
        print("\n".join(section) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
