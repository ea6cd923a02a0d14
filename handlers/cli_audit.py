"""`pop verify` and `pop forget`: the audit and privacy commands."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date, datetime
from typing import IO

import click
from sqlalchemy import MetaData, select

from events.verify import verify_chain
from handlers.cli_context import Context, pass_context
from handlers.exports import employee_file, employee_history, plan_html
from handlers.history import HistoryEntry, cycle_history
from handlers.parsing import parse_time
from handlers.privacy import forget_employee
from handlers.projections.cycle_projection import CycleTables
from workflow.errors import DomainError

PROGRESS_EVERY = 1000


@click.command("verify")
@click.option("--expect-head", help="The head hash a previous run printed: proves no rewrite.")
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(1, 100_000))
@pass_context
def verify(context: Context, expect_head: str | None, batch_size: int) -> None:
    """Walk the hash chain: exit 1 at the first edited, removed, inserted or moved event."""
    store = context.app.store
    head = store.head()
    stderr = sys.stderr
    with click.progressbar(length=max(head[0], 1), label="verifying", file=stderr) as bar:

        def progress(done: int) -> None:
            if done % PROGRESS_EVERY == 0:
                bar.update(PROGRESS_EVERY)

        result = verify_chain(
            store.read_all(0, batch_size=batch_size),
            head,
            expect_head=expect_head,
            progress=progress,
        )
    if result.finding is not None:
        raise click.ClickException(f"the log was tampered with at {result.finding}")
    click.echo(f"verified {result.checked} events; head {result.head_position} {result.head_hash}")


@click.command("forget")
@click.argument("employee_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_context
def forget(context: Context, employee_id: str, yes: bool) -> None:
    """GDPR erasure: destroy the employee's key; their personal fields read as erased."""
    interactive = sys.stdin is not None and sys.stdin.isatty()
    if (
        interactive
        and not yes
        and not click.confirm(
            f"Forget {employee_id} for ever? Their personal data becomes unreadable",
            err=True,
        )
    ):
        raise click.Abort
    forget_employee(context.app, context.actor, employee_id)
    click.echo(f"forgotten: {employee_id}")


@click.command("history")
@click.argument("cycle_id", required=False)
@click.option("--employee", "employee_id", help="All of one employee's events and cycles.")
@click.option("--as-of", help="Only what had happened by this moment (ISO 8601).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of lines.")
@pass_context
def history(
    context: Context,
    cycle_id: str | None,
    employee_id: str | None,
    as_of: str | None,
    as_json: bool,
) -> None:
    """Every event of a cycle (or an employee): when, what, who, and for whom."""
    if (cycle_id is None) == (employee_id is None):
        raise DomainError("give either a CYCLE_ID or --employee ID", field="cycle_id")
    repository = context.app.repository
    moment = None if as_of is None else parse_time(as_of, "as_of", context.settings.timezone)
    if cycle_id is not None:
        entries = cycle_history(repository, cycle_id, moment)
    else:
        assert employee_id is not None
        repository.employee(employee_id)
        entries = [
            e for e in employee_history(repository, employee_id) if moment is None or e.at <= moment
        ]
    if as_json:
        payload = {"events": [entry.to_json() for entry in entries]}
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    for entry in entries:
        click.echo(_line(entry))


def _line(entry: HistoryEntry) -> str:
    actor = entry.actor
    who = f"{actor['id']} ({actor['role']})"
    if actor.get("on_behalf_of"):
        who += f" for {actor['on_behalf_of']}"
    return f"{entry.position:>8}  {entry.at.isoformat()}  {entry.type:<22} {who}"


@click.group("export")
def export() -> None:
    """Files for people outside popcycle: access requests, printable plans."""


@export.command("employee")
@click.argument("employee_id")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
@pass_context
def export_employee(context: Context, employee_id: str, output: IO[str]) -> None:
    """An employee's complete file as JSON (for a data-subject access request)."""
    payload = employee_file(context.app.repository, employee_id, context.app.clock())
    output.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")


@export.command("plan")
@click.argument("cycle_id")
@click.option("--language", type=click.Choice(["nl", "en"]), help="Default: POP_LANGUAGE.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-")
@pass_context
def export_plan(context: Context, cycle_id: str, language: str | None, output: IO[str]) -> None:
    """The plan as a printable HTML page in the syllabus' layout, with the signatures."""
    output.write(plan_html(context.app.repository, cycle_id, language or context.settings.language))


CSV_COLUMNS = (
    "cycle_id",
    "employee_id",
    "manager_id",
    "reason",
    "phase",
    "version",
    "invited_at",
    "interview_at",
    "interview_held_at",
    "plan_version",
    "signed_at",
    "reviews",
    "last_deadline",
    "evaluated_at",
    "closed_at",
    "previous_cycle_id",
    "next_cycle_id",
    "next_followup_kind",
    "next_followup_at",
)


@export.command("cycles")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8", lazy=True), default="-")
@pass_context
def export_cycles(context: Context, output: IO[str]) -> None:
    """Every cycle as CSV for HR reports (from the read model: ids, phases and dates only)."""
    table = CycleTables(MetaData(), "").cycles  # the live table
    columns = [table.c[name] for name in CSV_COLUMNS]
    writer = csv.writer(output)
    writer.writerow(CSV_COLUMNS)
    query = select(*columns).order_by(table.c.invited_at, table.c.cycle_id)
    with context.app.engine.connect() as connection:
        rows = connection.execution_options(stream_results=True, yield_per=2000).execute(query)
        for row in rows:
            writer.writerow(["" if value is None else _cell(value) for value in row])


def _cell(value: object) -> str:
    return value.isoformat() if isinstance(value, date | datetime) else str(value)
