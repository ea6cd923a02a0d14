"""`pop import FILE` (HR's CSV export) and `pop employee list` (the organisation read back).

Exit codes as everywhere in `pop`: 0 done, 1 refused (every bad row is listed on stderr first,
one per line, then the one-line verdict), 2 a mistyped command line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from handlers.cli_context import Context, pass_context
from handlers.imports import (
    DEFAULT_BATCH_SIZE,
    ImportOptions,
    ImportRefused,
    ImportReport,
    OrganisationImport,
)
from handlers.organisation import organisation
from handlers.parsing import parse_time
from workflow.employee import EmployeeState
from workflow.organisation import RowError

#: Notes (facts the log cannot follow) printed in full; the rest are counted.
NOTES_SHOWN = 20


class _Bar:
    """The import's progress as a click progress bar on stderr (stdout stays for results)."""

    def __init__(self) -> None:
        self._bar: Any = None

    def start(self, label: str, total: int) -> None:
        self.finish()
        self._bar = click.progressbar(length=total, label=label, file=sys.stderr)
        self._bar.__enter__()

    def advance(self, amount: int) -> None:
        if self._bar is not None:
            self._bar.update(amount)

    def finish(self) -> None:
        if self._bar is not None:
            bar, self._bar = self._bar, None
            bar.__exit__(None, None, None)


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the good rows; write the bad ones to FILE's name + .rejected.csv beside it.",
)
@click.option(
    "--batch-size",
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Employees written per transaction (1: one transaction each).",
)
@click.option("--idempotency-key", help="Makes a retried import safe: the first result returns.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@pass_context
def import_command(
    context: Context,
    file: Path,
    dry_run: bool,
    skip_invalid: bool,
    batch_size: int,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Import HR's CSV export of employees: only the differences with the log are written."""
    importer = OrganisationImport.for_app(context.app)
    options = ImportOptions(dry_run, skip_invalid, batch_size, idempotency_key)
    bar = _Bar()
    try:
        report = importer.run(
            file, context.actor, options, progress=bar, on_change=click.echo if dry_run else None
        )
    except ImportRefused as refused:
        bar.finish()
        _echo_errors(refused.errors)
        raise click.ClickException(refused.message) from None
    finally:
        bar.finish()
    _echo_errors(report.errors)
    _echo_notes(report.notes)
    if as_json:
        click.echo(json.dumps({**report.to_json(), "replayed": report.replayed}))
    else:
        click.echo(_summary(file, report))
    if report.errors and not skip_invalid:  # refused while writing (checked rows can still be)
        raise click.ClickException(
            f"{report.rejected} rows could not be imported; the other changes were written"
        )


def _echo_errors(errors: tuple[RowError, ...] | list[RowError]) -> None:
    for error in errors:
        click.echo(str(error), err=True)


def _echo_notes(notes: list[RowError]) -> None:
    for note in notes[:NOTES_SHOWN]:
        click.echo(f"note: {note}", err=True)
    if len(notes) > NOTES_SHOWN:
        click.echo(f"note: … and {len(notes) - NOTES_SHOWN} more notes", err=True)


def _summary(file: Path, report: ImportReport) -> str:
    """One line for people: what the import did (or would do), and where the rejects went."""
    if report.replayed:
        return f"{file.name} was already imported as {report.import_id}: nothing written"
    if report.events == 0 and not report.rejected:
        return f"{file.name}: nothing to change, the log already agrees ({report.unchanged} rows)"
    verb = "would import" if report.dry_run else "imported"
    text = (
        f"{verb} {file.name}: {report.hired} hired, {report.changed} changed "
        f"({report.left} left), {report.unchanged} unchanged; open cycles: "
        f"{report.moved_cycles} moved, {report.cancelled_cycles} cancelled; "
        f"{report.events} events"
    )
    if report.rejected:
        text += f"; {report.rejected} rows rejected"
        if report.rejects_file is not None:
            text += f" (written to {report.rejects_file})"
    if report.dry_run:
        return text + "; nothing was written (dry run)"
    return text + f"; {report.import_id}"


@click.command("list")
@click.option("--as-of", help="The organisation as the log knew it then (ISO 8601).")
@click.option("--all", "everyone", is_flag=True, help="Include people who left.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per person per line.")
@pass_context
def employee_list(context: Context, as_of: str | None, everyone: bool, as_json: bool) -> None:
    """List the organisation: who reports to whom, department, function, who left."""
    zone = context.settings.timezone
    moment = parse_time(as_of, "as_of", zone) if as_of else None
    today = (moment or context.app.clock()).astimezone(zone).date()
    states = organisation(context.app.repository, moment)
    if not as_json:
        click.echo("\t".join(_COLUMNS))
    for employee_id in sorted(states):
        state = states[employee_id]
        if not everyone and state.left_on is not None and state.left_on <= today:
            continue
        row = _row(state)
        click.echo(json.dumps(row, ensure_ascii=False) if as_json else _tabbed(row))


_COLUMNS = (
    "employee_id",
    "name",
    "email",
    "manager_id",
    "department",
    "function",
    "language",
    "start_date",
    "left_on",
    "latest_cycle_id",
)


def _row(state: EmployeeState) -> dict[str, Any]:
    return {
        "employee_id": state.employee_id,
        "name": state.name,
        "email": state.email,
        "manager_id": state.manager_id,
        "department": state.department or None,
        "function": state.function or None,
        "language": state.language,
        "start_date": state.start_date.isoformat() if state.start_date else None,
        "left_on": state.left_on.isoformat() if state.left_on else None,
        "latest_cycle_id": state.latest_cycle_id,
    }


def _tabbed(row: dict[str, Any]) -> str:
    return "\t".join("" if row[name] is None else str(row[name]) for name in _COLUMNS)


def register_import_commands(cli: click.Group, employee: click.Group) -> None:
    """Hang `pop import` on the main group and `pop employee list` on the employee group."""
    cli.add_command(import_command)
    employee.add_command(employee_list)
