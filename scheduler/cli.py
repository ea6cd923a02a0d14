"""`pop scheduler`, `pop simulate`, `pop overdue`, `pop outbox`: the scheduler's commands.

Registered on `pop` through the `popcycle.commands` entry point, so that handlers/ (which
owns the `pop` group) never imports the outer scheduler package.
"""

from __future__ import annotations

import csv
import signal
import threading
from collections import Counter
from datetime import UTC, datetime, time
from typing import IO

import click

from handlers.cli_context import Context, pass_context
from handlers.demo import DEMO_CLOCK_HOOKS
from handlers.parsing import parse_date
from scheduler.delivery import list_outbox, retry_dead
from scheduler.demo import demo_tick
from scheduler.population import cycles_with_quadrants, latest_cycles
from scheduler.runner import SchedulerService, build_scheduler
from scheduler.tables import DEAD, PENDING, SENT
from workflow.simulation import overdue_under_policy, simulate


@click.command("scheduler")
@click.option(
    "--interval",
    default=15.0,
    show_default=True,
    type=click.FloatRange(0.1, 3600),
    help="Seconds between polls for due follow-ups.",
)
@click.option("--once", is_flag=True, help="Fire what is due now, have it delivered, and exit.")
@pass_context
def scheduler_command(context: Context, interval: float, once: bool) -> None:
    """Fire follow-ups on their deadlines (run one or more of these in production)."""
    service = SchedulerService(context.app, interval=interval)
    if once:
        fired = service.run_once()
        click.echo(f"fired {fired} follow-ups")
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    service.start()
    click.echo(f"scheduler running (every {interval:g} s); stop with Ctrl-C", err=True)
    stop.wait()
    service.stop()


@click.command("simulate")
@click.option("--from", "start_day", help="First day (YYYY-MM-DD; default today).")
@click.option("--until", "end_day", required=True, help="Last day (YYYY-MM-DD).")
@click.option(
    "--csv",
    "csv_file",
    type=click.File("w", encoding="utf-8", lazy=True),
    help="Also write every reminder to this CSV file.",
)
@pass_context
def simulate_command(
    context: Context, start_day: str | None, end_day: str, csv_file: IO[str] | None
) -> None:
    """Preview which reminders the policy would send, per week, on a copy of the state."""
    app = context.app
    zone = app.settings.timezone
    now = app.clock()
    first = parse_date(start_day, "from") if start_day else now.astimezone(zone).date()
    last = parse_date(end_day, "until")
    if last < first:
        raise click.BadParameter("--until lies before --from", param_hint="--until")
    start = max(now, datetime.combine(first, time(0), zone).astimezone(UTC))
    end = datetime.combine(last, time(23, 59, 59), zone).astimezone(UTC)
    followups = build_scheduler(app)
    reminders = simulate(
        cycles_with_quadrants(app), followups.policy, followups.calendar, start, end
    )
    per_week: dict[str, Counter[str]] = {}
    for reminder in reminders:
        per_week.setdefault(reminder.week, Counter())[reminder.kind] += 1
    for week, kinds in sorted(per_week.items()):
        detail = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
        click.echo(f"{week}  {sum(kinds.values()):>5}  {detail}")
    click.echo(f"total {len(reminders)} reminders from {first} until {last}")
    if csv_file is not None:
        writer = csv.writer(csv_file)
        writer.writerow(["week", "fires_at", "due_at", "kind", "cycle_id", "recipients"])
        for r in reminders:
            writer.writerow(
                [
                    r.week,
                    r.fires_at.isoformat(),
                    r.due_at.isoformat(),
                    r.kind,
                    r.cycle_id,
                    " ".join(r.recipients),
                ]
            )


@click.command("overdue")
@pass_context
def overdue_command(context: Context) -> None:
    """Employees whose last POP is older than the policy allows, for HR to act on."""
    app = context.app
    policy = build_scheduler(app).policy
    today = app.clock().astimezone(app.settings.timezone).date()
    found = overdue_under_policy(latest_cycles(app), policy, today)
    for employee_id, why in found:
        click.echo(f"{employee_id}\t{why}")
    click.echo(f"{len(found)} overdue under the {policy.model.value} policy", err=True)


@click.group("outbox")
def outbox_group() -> None:
    """The notifications fired follow-ups send: pending, sent, and dead letters."""


@outbox_group.command("list")
@click.option(
    "--status",
    type=click.Choice([PENDING, SENT, DEAD]),
    default=DEAD,
    show_default=True,
    help="Which notifications to list.",
)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@pass_context
def outbox_list(context: Context, status: str, limit: int) -> None:
    """List notifications (dead letters by default: those given up after every retry)."""
    rows = list_outbox(context.app.engine, status, limit)
    for row in rows:
        error = (row.last_error or "").replace("\t", " ").replace("\n", " ")
        click.echo(
            f"{row.message_id}\t{row.channel}\t{row.attempts}\t"
            f"{row.next_attempt_at.isoformat()}\t{error}"
        )
    click.echo(f"{len(rows)} {status} notifications", err=True)


@outbox_group.command("retry")
@click.argument("message_ids", nargs=-1)
@click.option("--all-dead", is_flag=True, help="Retry every dead letter.")
@pass_context
def outbox_retry(context: Context, message_ids: tuple[str, ...], all_dead: bool) -> None:
    """Send dead letters again (after fixing what made them fail), with fresh attempts."""
    if bool(message_ids) == all_dead:
        raise click.UsageError("name the dead letters to retry, or give --all-dead")
    app = context.app
    retried = retry_dead(app.engine, app.clock(), None if all_dead else message_ids)
    if message_ids and retried < len(set(message_ids)):
        raise click.ClickException(
            f"only {retried} of {len(set(message_ids))} are dead letters: nothing was retried"
        )
    click.echo(f"{retried} dead letters queued again")


# `pop demo` runs the scheduler along its clock (handlers/ cannot import scheduler/).
DEMO_CLOCK_HOOKS.append(demo_tick)

commands = [scheduler_command, simulate_command, overdue_command, outbox_group]
