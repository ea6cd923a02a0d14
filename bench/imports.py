"""Importing HR's file: rows per second and peak memory, against a raw ceiling in the same run.

    .venv/bin/python -m bench.imports [--rows 100000] [--db sqlite|postgres|both]
                                      [--single-rows 20000] [--batch-size 500]

One generated file (Dutch Excel: BOM, `;`, CRLF; a reporting tree eight wide), then, per
database, each case on its own fresh database and in its own process (so that its peak memory
is its own; the peak is reset just before the timed part, `/proc/self/clear_refs`):

- `raw ceiling`: parse the file with the `csv` module and bulk-insert the very event rows the
  import wrote (read from the batched import's database before the clock starts) into a copy
  of the `events` table, `--batch-size` rows per transaction. No checks, no sealing, no hash
  chain: what the disk and the driver allow. Ratio 1.00.
- `import, batched`: `pop import` as shipped (`OrganisationImport`, `--batch-size` employees
  per transaction): two passes over the file, whole-file checks, sealing per employee, the
  hash chain.
- `import, one employee per transaction`: the same with `batch_size=1` (what sending one
  command per employee through the command handler costs); on the first `--single-rows` rows.
- `same file again`: the batched database re-imports the same file: reads the organisation
  back from the log, checks the file, writes nothing.
- `newer file, 1 % changed`: 1 % of the rows changed (new managers, departments, leavers).

Durability as in production: SQLite WAL + synchronous=FULL, PostgreSQL synchronous_commit on.
Progress to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import MetaData, insert, select

from bench.figures import Figure, add_json_option, backend_name, write_figures
from events.database import make_engine, write_transaction
from events.migrate import upgrade
from events.schema import events_table

DUTCH = "personeelsnummer;naam;e-mail;manager;afdeling;functie;taal;startdatum;einddatum"
SPAN = 8  # people per manager
raw_metadata = MetaData()
raw_events = events_table.to_metadata(raw_metadata, name="raw_events")


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the file -------------------------------------------------------------------------------


def person(index: int, *, changed: bool = False) -> str:
    """One row of the generated organisation; `changed` moves, renames or lets go 1 in 100."""
    number = f"P{index:06d}"
    manager = "" if index == 0 else f"P{(index - 1) // SPAN:06d}"
    department = f"Afdeling {index % 50}"
    end = ""
    if changed and index % 100 == 1:
        kind = (index // 100) % 3
        if kind == 0 and index > SPAN:
            manager = f"P{(index - 1) // SPAN - 1:06d}"  # a colleague of his manager
        elif kind == 1:
            department = "Afdeling Nieuw"
        else:
            end = "31-1-2026"
    language = "en" if index % 3 == 0 else "nl"
    start = f"{1 + index % 28}-{1 + index % 12}-{2010 + index % 15}"
    return (
        f"{number};Naam {index} de Vries;p{index}@example.nl;{manager};{department};"
        f"Functie {index % 30};{language};{start};{end}"
    )


def write_file(path: Path, rows: int, *, changed: bool = False) -> Path:
    with path.open("wb") as handle:
        handle.write(b"\xef\xbb\xbf" + DUTCH.encode() + b"\r\n")
        for index in range(rows):
            handle.write(person(index, changed=changed).encode() + b"\r\n")
    return path


# --- one case, in a process of its own -------------------------------------------------------


def _status(field: str) -> int:
    """A /proc/self/status figure in kB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> None:
    """Linux: make the peak RSS (VmHWM) the current RSS, so the next peak is this case's."""
    Path("/proc/self/clear_refs").write_text("5")


def child(case: str, url: str, file: Path, batch_size: int, source: str | None) -> dict[str, Any]:
    """Run one case and measure it; returns seconds, rows, events and memory in kB."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if case == "raw":
        return _raw(url, file, batch_size, source)
    from handlers.actor import Actor, Role
    from handlers.bootstrap import bootstrap
    from handlers.imports import ImportOptions, OrganisationImport
    from handlers.settings import Settings

    app = bootstrap(Settings.from_env({"POP_DATABASE_URL": url, "POP_NOW": "2026-03-02T09:00"}))
    before, _ = app.store.head()
    start_rss = _status("VmRSS")
    _reset_peak()
    started = time.perf_counter()
    report = OrganisationImport.for_app(app).run(
        file, Actor("bench", Role.HR), ImportOptions(batch_size=batch_size)
    )
    seconds = time.perf_counter() - started
    after, _ = app.store.head()
    app.close()
    return {
        "seconds": seconds,
        "rows": report.rows,
        "events": after - before,
        "start_kb": start_rss,
        "peak_kb": _status("VmHWM"),
    }


def _raw(url: str, file: Path, batch_size: int, source: str | None) -> dict[str, Any]:
    assert source is not None
    with make_engine(source).connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(select(events_table))]
    rows.sort(key=lambda row: row["position"])
    engine = make_engine(url)
    raw_metadata.create_all(engine)
    start_rss = _status("VmRSS")
    _reset_peak()
    started = time.perf_counter()
    pending = iter(rows)
    batch: list[dict[str, Any]] = []
    parsed = 0
    with file.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=";")
        next(reader)
        for _cells in reader:
            parsed += 1
            batch.append(next(pending))
            if len(batch) >= batch_size:
                _insert(engine, batch)
                batch = []
    _insert(engine, batch)
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "seconds": seconds,
        "rows": parsed,
        "events": len(rows),
        "start_kb": start_rss,
        "peak_kb": _status("VmHWM"),
    }


def _insert(engine: Any, batch: list[dict[str, Any]]) -> None:
    if batch:
        with write_transaction(engine) as connection:
            connection.execute(insert(raw_events), batch)


def run_child(case: str, url: str, file: Path, batch_size: int, source: str | None = None) -> Any:
    command = [sys.executable, "-m", "bench.imports", "--child", case, "--url", url]
    command += ["--file", str(file), "--batch-size", str(batch_size)]
    if source:
        command += ["--source", source]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{case} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- databases ------------------------------------------------------------------------------


@contextmanager
def databases(kind: str, folder: Path) -> Iterator[Any]:
    """A factory of fresh database URLs of one kind (migrated, or empty for the raw table)."""
    if kind == "sqlite":
        counter = iter(range(1_000_000))

        def fresh_sqlite(*, migrated: bool = True) -> str:
            url = f"sqlite:///{folder / f'import-{next(counter)}.sqlite3'}"
            if migrated:
                upgrade(url)
            return url

        yield fresh_sqlite
        return
    from tests.support.postgres import new_database, running_postgres

    with running_postgres("bench_admin") as admin:
        counter = iter(range(1_000_000))

        def fresh_postgres(*, migrated: bool = True) -> str:
            url = new_database(admin, f"bench_{next(counter)}")
            if migrated:
                upgrade(url)
            return url

        yield fresh_postgres


# --- the run ------------------------------------------------------------------------------


def measure(kind: str, folder: Path, args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    full = write_file(folder / "employees.csv", args.rows)
    newer = write_file(folder / "employees-newer.csv", args.rows, changed=True)
    single = write_file(folder / "employees-single.csv", min(args.single_rows, args.rows))
    with databases(kind, folder) as fresh:
        batched_url = fresh()
        size = args.batch_size
        progress(f"{kind}: import, batched ({args.rows} rows)")
        batched = run_child("import", batched_url, full, size)
        progress(f"{kind}: raw ceiling")
        raw = run_child("raw", fresh(migrated=False), full, size, source=batched_url)
        progress(f"{kind}: one employee per transaction ({single.name})")
        one = run_child("import", fresh(), single, 1)
        progress(f"{kind}: same file again")
        again = run_child("import", batched_url, full, size)
        progress(f"{kind}: newer file")
        diff = run_child("import", batched_url, newer, size)
        return [
            ("raw ceiling: csv + bulk insert (baseline)", raw),
            (f"import, batched ({size} employees/txn)", batched),
            (f"import, 1 employee/txn (first {one['rows']} rows)", one),
            ("same file again (nothing to write)", again),
            ("newer file, 1 % of rows changed", diff),
        ]


def table(kind: str, results: list[tuple[str, dict[str, Any]]]) -> str:
    base = results[0][1]["rows"] / results[0][1]["seconds"]
    lines = [
        f"{kind}",
        f"{'case':<46} {'rows':>7} {'events':>7} {'s':>7} {'rows/s':>8} {'vs raw':>7} "
        f"{'peak RSS':>9} {'+ growth':>9}",
    ]
    for label, m in results:
        rate = m["rows"] / m["seconds"]
        lines.append(
            f"{label:<46} {m['rows']:>7} {m['events']:>7} {m['seconds']:>7.1f} {rate:>8.0f} "
            f"{rate / base:>7.2f} {m['peak_kb'] / 1024:>7.0f}MB "
            f"{(m['peak_kb'] - m['start_kb']) / 1024:>7.0f}MB"
        )
    return "\n".join(lines)


def figures(kind: str, results: list[tuple[str, dict[str, Any]]]) -> list[Figure]:
    """The headline figure for `python -m bench report`: the batched import against raw."""
    measured = dict(results)
    raw, batched = results[0][1], results[1][1]
    again = measured["same file again (nothing to write)"]
    return [
        Figure(
            f"import, {batched['rows']:,} employees",
            backend_name(kind),
            "rows/s",
            batched["rows"] / batched["seconds"],
            raw["rows"] / raw["seconds"],
            note=f"peak memory {batched['peak_kb'] / 1024:.0f} MB; re-import of the same file "
            f"{again['rows'] / again['seconds']:,.0f} rows/s, {again['events']} events written",
        )
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_json_option(parser)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--single-rows", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.url, args.file, args.batch_size, args.source)))
        return
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    progress(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="popcycle-bench-imports-") as folder:
            results = measure(kind, Path(folder), args)
            print(table(kind, results), flush=True)
            write_figures(args.json, figures(kind, results))
            print(flush=True)


if __name__ == "__main__":
    main()
