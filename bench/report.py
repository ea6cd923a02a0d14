"""Every benchmark figure in one Markdown table (and a plot), sized by an organisation.

    .venv/bin/python -m bench report [--employees N] [--db sqlite|postgres|both]
                                     [--repeats R] [--out FILE] [--only NAME ...]

Runs each `bench.*` module in its own process at the size `--employees` implies (a log of
about 12.7 events per employee, an import of N rows, N employees for the scheduler and the status
page; see `SUITES`), collects the headline figures they write with `--json`, and writes one
table with a row per figure: figure, backend, popcycle, ceiling, ratio to ceiling, peer
(`eventsourcing`), ratio to peer. Every ratio compares two measurements of the same run.

`--employees 2000` (the default) takes a few minutes on 2 cores; the full 100 000 is on demand.
A benchmark that fails is reported as a failed row and makes the command exit 1; the others
still run. Progress (the modules' own lines) goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Figure, read_figures

#: Events per employee `bench.projections.synthesize_log` writes.
EVENTS_PER_EMPLOYEE = 12.7


@dataclass(frozen=True, slots=True)
class Suite:
    """One benchmark module and how an organisation of N employees sizes it."""

    module: str
    arguments: Callable[[int, int], list[str]]  # (employees, repeats) -> command-line arguments
    databases: tuple[str, ...] = ("sqlite", "postgres")


SUITES: tuple[Suite, ...] = (
    Suite(
        "append",
        lambda n, r: ["--commands", str(max(1000, min(n, 20_000))), "--repeats", str(r)],
    ),
    Suite(
        "projections",
        lambda n, r: ["--events", str(int(n * EVENTS_PER_EMPLOYEE)), "--repeats", str(r)],
    ),
    Suite(
        "imports",
        lambda n, r: ["--rows", str(n), "--single-rows", str(min(n, 5_000))],
    ),
    Suite(
        "scheduler",
        lambda n, r: ["--employees", str(n), "--due", str(max(1, n // 10)), "--repeats", str(r)],
    ),
    Suite("web", lambda n, r: ["--employees", str(n), "--requests", "100"], databases=("sqlite",)),
    Suite("group_commit", lambda n, r: ["--repeats", str(r)], databases=("postgres",)),
)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_suite(
    suite: Suite, kinds: list[str], employees: int, repeats: int, folder: Path
) -> list[Figure] | str:
    """The figures `suite` measured, or the reason it failed (its last lines of stderr)."""
    wanted = [kind for kind in kinds if kind in suite.databases]
    if not wanted:
        return []
    out = folder / f"{suite.module}.json"
    db = wanted[0] if len(wanted) == 1 else "both"
    command = [sys.executable, "-m", f"bench.{suite.module}", "--db", db, "--json", str(out)]
    command += suite.arguments(employees, repeats)
    progress(f"== bench.{suite.module} ({db}, {employees:,} employees)")
    started = time.monotonic()
    done = subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False
    )
    for line in done.stderr.splitlines()[-40:]:
        progress(f"   {line}")
    progress(f"   ({time.monotonic() - started:.0f} s)")
    if done.returncode != 0 or not out.exists():
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        return f"exit {done.returncode}: {tail[0][:160]}"
    return read_figures(out)


def _number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def markdown(figures: list[Figure], failures: dict[str, str], employees: int) -> str:
    lines = [
        f"# popcycle benchmark report — {employees:,} employees",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}. Every ratio compares measurements of this run; "
        "ratio to ceiling 1.00 = as fast as the ceiling; ratio to peer above 1.00 = ahead of "
        "`eventsourcing`.",
        "",
        "| figure | backend | popcycle | ceiling | ratio to ceiling | peer (`eventsourcing`) "
        "| ratio to peer |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for each in figures:
        digits = 2 if each.lower_is_better else 0
        lines.append(
            f"| {each.figure} | {each.backend} | {_number(each.popcycle, digits)} {each.unit} | "
            f"{_number(each.ceiling, digits)} {each.unit} | {_number(each.ratio_to_ceiling, 2)} | "
            f"{_number(each.peer, digits)} | {_number(each.ratio_to_peer, 2)} |"
        )
    for module, reason in failures.items():
        lines.append(f"| bench.{module} **failed** | - | {reason} | - | - | - | - |")
    notes = [f"- {each.figure} ({each.backend}): {each.note}" for each in figures if each.note]
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines) + "\n"


def plot(figures: list[Figure], path: Path) -> None:
    """A horizontal bar per figure: its ratio to the ceiling, the ceiling drawn at 1.0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [each for each in figures if each.ratio_to_ceiling is not None]
    if not shown:
        return
    labels = [f"{each.figure} · {each.backend}" for each in shown]
    ratios = [each.ratio_to_ceiling or 0.0 for each in shown]
    fig, axes = plt.subplots(figsize=(11, 0.35 * len(shown) + 1.2))
    colours = ["#2a7ab9" if each.backend == "SQLite" else "#c0504d" for each in shown]
    axes.barh(range(len(shown)), ratios, color=colours)
    axes.set_yticks(range(len(shown)), labels, fontsize=8)
    axes.invert_yaxis()
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set_xlabel("ratio to the ceiling of the same run (1.0 = ceiling)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--employees", type=int, default=2000)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench-report.md"))
    names = [suite.module for suite in SUITES]
    parser.add_argument("--only", nargs="+", choices=names, metavar="NAME", help=", ".join(names))
    args = parser.parse_args(argv)
    if args.employees < 100:
        parser.error("--employees must be at least 100")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    figures: list[Figure] = []
    failures: dict[str, str] = {}
    suites = [suite for suite in SUITES if not args.only or suite.module in args.only]
    with tempfile.TemporaryDirectory(prefix="popcycle-report-") as scratch:
        for index, suite in enumerate(suites, 1):
            progress(f"[{index}/{len(suites)}]")
            found = run_suite(suite, kinds, args.employees, args.repeats, Path(scratch))
            if isinstance(found, str):
                failures[suite.module] = found
            else:
                figures += found
    args.out.write_text(markdown(figures, failures, args.employees), encoding="utf-8")
    picture = args.out.with_suffix(".png")
    plot(figures, picture)
    print(f"wrote {args.out} and {picture}")
    return 1 if failures else 0
