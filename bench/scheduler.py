"""Scheduler throughput: finding and firing follow-ups that all come due in the same minute.

    .venv/bin/python -m bench.scheduler [--db sqlite|postgres|both] [--employees N] [--due M]

Seeds N employees with an open cycle each (in bulk, straight through the store), of whom M per
repeat were invited on the same morning (repeat r: r days after the first Monday), so that
each group's invitation reminders come due in the same minute a week later. Then, on the same
database, per repeat, with the clock at that group's minute:

- `raw select+mark`: the bare SQL ceiling: one SELECT of the due keys and one UPDATE marking
  them, in one transaction (the baseline, ratio 1.00);
- `claim`: popcycle's claims (`scheduler.claims.claim_due`), batch by batch, with leases;
- `fire`: the whole firing path of `FollowUpScheduler.tick`: claim, re-check the cycle's
  current state, append `FollowUpFired`, close the claim and queue the notifications (batch
  by batch: `FollowUpScheduler.batch_size`, `--batch` here).

Before each case the group's rows are reset to pending (earlier groups' stay fired), so each
repeat fires a fresh group: every case has a median. The follow-up sync (the projection that
writes the rows) is timed once, separately. Figures are follow-ups per second; ratios compare
with the raw ceiling measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from bench.figures import Figure, add_json_option, backend_name, write_figures
from events.codec import encode
from events.database import write_transaction
from events.domain import CycleOpened, CycleStarted, EmployeeRegistered, Reason
from events.migrate import upgrade
from events.records import Metadata, StreamAppend
from handlers.bootstrap import Popcycle
from handlers.clock import MovableClock
from handlers.logs import configure_logging
from handlers.repository import cycle_stream, employee_stream
from scheduler.claims import claim_due
from scheduler.runner import build_scheduler
from scheduler.sync import sync_all
from scheduler.tables import PENDING, followups_table, outbox_table
from tests.support.apps import wired
from tests.support.postgres import running_postgres

INVITED = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)  # Monday morning; reminders due 7 days on
SEED_BATCH = 500


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def invited_on(n: int, due: int, groups: int) -> datetime:
    """Group r (the first `due * groups` employees, `due` each) was invited on day r."""
    if n < due * groups:
        return INVITED + timedelta(days=n // due)
    return INVITED + timedelta(days=8 + n % 300)  # later: their reminders are not due yet


def seed(app: Popcycle, employees: int, due: int, groups: int) -> None:
    """N employees with one open cycle each; `due` per group invited on the same morning."""
    manager = EmployeeRegistered("M0", "Manager", "m0@example.nl", INVITED - timedelta(days=400))
    app.store.append([StreamAppend(employee_stream("M0"), (encode(manager),), 0)], Metadata())
    for start in range(0, employees, SEED_BATCH):
        appends = []
        for n in range(start, min(start + SEED_BATCH, employees)):
            invited = invited_on(n, due, groups)
            person = f"E{n}"
            cycle = f"c{n}"
            registered = EmployeeRegistered(
                person, f"N {n}", f"e{n}@example.nl", invited - timedelta(days=30), "M0"
            )
            appends.append(
                StreamAppend(
                    employee_stream(person),
                    (encode(registered), encode(CycleOpened(cycle, invited))),
                    0,
                )
            )
            started = CycleStarted(cycle, person, "M0", Reason.PERIODIC, invited)
            appends.append(StreamAppend(cycle_stream(cycle), (encode(started),), 0))
        app.store.append(appends, Metadata("bench", "system"))
        progress(f"  seeded {min(start + SEED_BATCH, employees)}/{employees} employees")


def reset(app: Popcycle, since: datetime) -> None:
    """The group's follow-ups (due since `since`) pending again, the outbox empty."""
    f = followups_table.c
    with write_transaction(app.engine) as connection:
        connection.execute(
            update(followups_table)
            .where(f.due_at >= since)
            .values(status=PENDING, lease_owner=None, lease_until=None)
        )
        connection.execute(outbox_table.delete())


def raw_select_and_mark(app: Popcycle, now: datetime) -> int:
    f = followups_table.c
    with write_transaction(app.engine) as connection:
        keys = (
            connection.execute(select(f.key).where(f.status == PENDING, f.due_at <= now))
            .scalars()
            .all()
        )
        connection.execute(update(followups_table).where(f.key.in_(keys)).values(status="fired"))
    return len(keys)


def claim_all(app: Popcycle, now: datetime, batch: int) -> int:
    total = 0
    while claims := claim_due(app.engine, "bench", now, timedelta(minutes=5), batch):
        total += len(claims)
    return total


@contextmanager
def database(kind: str, stack: ExitStack) -> Iterator[str]:
    if kind == "sqlite":
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        yield f"sqlite:///{folder / 'bench.sqlite3'}"
    else:
        yield stack.enter_context(running_postgres())


def run(kind: str, employees: int, due: int, repeats: int, batch: int | None) -> list[Figure]:
    with ExitStack() as stack, database(kind, stack) as url:
        upgrade(url)
        clock = MovableClock(INVITED)
        with wired(url, clock) as app:  # type: ignore[arg-type]
            progress(f"[{kind}] seeding {employees} employees, {due} due together")
            seed(app, employees, due, repeats)
            scheduler = build_scheduler(app)
            if batch is not None:
                scheduler.batch_size = batch
            started = time.perf_counter()
            sync_all(app.engine, app.repository, scheduler.policy, scheduler.calendar)
            sync_seconds = time.perf_counter() - started
            figures: dict[str, list[float]] = {"raw select+mark": [], "claim": [], "fire": []}
            for repeat in range(repeats):
                # 09:00 local, a week after the group's invitation: the group alone is due
                now = INVITED + timedelta(days=7 + repeat, hours=1)
                clock.set(now)
                for name, values in figures.items():
                    reset(app, now - timedelta(hours=12))
                    # the previous repeat's FollowUpFired events: synced here, untimed (the
                    # sync is timed on its own), so every repeat times the firing alone
                    sync_all(app.engine, app.repository, scheduler.policy, scheduler.calendar)
                    started = time.perf_counter()
                    if name == "raw select+mark":
                        count = raw_select_and_mark(app, now)
                    elif name == "claim":
                        count = claim_all(app, now, scheduler.batch_size)
                    else:
                        count = scheduler.tick()
                    seconds = time.perf_counter() - started
                    values.append(count / seconds)
                    progress(f"  repeat {repeat + 1}: {name}: {count} in {seconds:.2f} s")
    baseline = figures["raw select+mark"]
    raw = statistics.median(baseline)
    print(
        f"\n{kind}: {employees} open cycles, {due} follow-ups due in the same minute "
        f"(firing batches of {scheduler.batch_size})"
    )
    print(
        f"  follow-up sync of the whole log: {sync_seconds:.1f} s "
        f"({employees / sync_seconds:,.0f} cycles/s)"
    )
    print(f"  {'case':<18}{'follow-ups/s':>14}{'vs raw':>9}")
    for name, values in figures.items():
        value = statistics.median(values)
        print(f"  {name:<18}{value:>14,.0f}{value / raw:>9.2f}")
    labels = {"claim": "find and claim what is due", "fire": "fire"}
    return [
        Figure(
            f"scheduler, {employees:,} open cycles: {labels[name]} ({due:,} due at once)",
            backend_name(kind),
            "follow-ups/s",
            statistics.median(figures[name]),
            raw,
            note=f"{labels[name]}: ceiling is the bare SQL selecting and marking the same rows",
        )
        for name in labels
    ]


def main() -> None:
    configure_logging("WARNING")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--employees", type=int, default=20_000)
    parser.add_argument("--due", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=None, help="claims per firing batch")
    add_json_option(parser)
    args = parser.parse_args()
    if not 1 <= args.repeats <= 5:
        parser.error("--repeats: 1 to 5 (one group per working day of a week)")
    if args.due * args.repeats > args.employees:
        parser.error("--due times --repeats cannot exceed --employees")
    for kind in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        write_figures(args.json, run(kind, args.employees, args.due, args.repeats, args.batch))


if __name__ == "__main__":
    main()
