"""`pop projections …`: the read models' state and their rebuild.

- `pop projections status [--json]`: per projection, its checkpoint, events behind and
  seconds behind the log (also logged as `projection.lag`).
- `pop projections rebuild [NAME]`: rebuild from position 0 beside the live tables, with a
  progress bar, and swap the result in; returns once the rebuilt tables are live.
- `pop projections catch-up [NAME]`: bring projections to the log head in this process (no
  worker needed: handy after an import, in scripts, or when no worker runs).
- `pop employee quadrant ID QUADRANT`, `pop employee budget ID YEAR AMOUNT`: the two facts HR
  records for the matrix and the budgets read models (through the command handler, as events).
"""

from __future__ import annotations

import json
import sys

import click

from handlers.cli_context import Context, echo_result, pass_context
from handlers.cli_worker import worker
from handlers.projections.registry import BY_NAME
from handlers.projections.service import ProjectionService
from workflow.employee import QUADRANTS, RecordQuadrant, SetBudgetAllowance, decide_budget
from workflow.employee import decide_quadrant as _decide_quadrant


def register_read_side(cli: click.Group, employee: click.Group) -> None:
    """Add the read side's commands to `pop` and to `pop employee`."""
    cli.add_command(projections)
    cli.add_command(worker)
    employee.add_command(quadrant)
    employee.add_command(budget)


@click.group("projections")
def projections() -> None:
    """Read models: lag, catch-up, rebuild."""


def _service(context: Context) -> ProjectionService:
    return ProjectionService.from_app(context.app)


@projections.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per projection.")
@pass_context
def status(context: Context, as_json: bool) -> None:
    """How far each projection is behind the log."""
    for lag in _service(context).lag():
        if as_json:
            click.echo(json.dumps(lag.to_json()))
        else:
            build = lag.building
            aside = "" if build is None else f"  building aside: {build.applied}/{build.total}"
            click.echo(
                f"{lag.name:<10} position {lag.position:>9}  "
                f"behind {lag.events_behind:>7} events  {lag.seconds_behind:>8.1f} s{aside}"
            )


@projections.command("rebuild")
@click.argument("name", required=False, type=click.Choice(sorted(BY_NAME)))
@pass_context
def rebuild(context: Context, name: str | None) -> None:
    """Rebuild NAME (default: every projection) from position 0; live reads keep working."""
    service = _service(context)
    for projection in [name] if name else list(BY_NAME):
        with click.progressbar(length=1, label=f"rebuilding {projection}", file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.length = max(total, 1)  # known once the rebuild has counted the events
                bar.update(done - bar.pos)

            outcome = service.rebuild(projection, progress=progress)[0]
        click.echo(
            f"{outcome.name}: rebuilt {outcome.applied} events in {outcome.seconds:.1f} s, "
            f"live at position {outcome.position}"
        )


@projections.command("catch-up")
@click.argument("name", required=False, type=click.Choice(sorted(BY_NAME)))
@pass_context
def catch_up(context: Context, name: str | None) -> None:
    """Apply every event not yet projected, in this process."""
    service = _service(context)
    for projection in [name] if name else list(BY_NAME):
        outcome = service.catch_up(projection)
        click.echo(f"{outcome.name}: applied {outcome.applied} events, at {outcome.position}")


@click.command("quadrant")
@click.argument("employee_id")
@click.argument("quadrant_name", metavar="QUADRANT", type=click.Choice(QUADRANTS))
@click.option("--idempotency-key", help="Makes a retried call safe: the first result returns.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_context
def quadrant(
    context: Context,
    employee_id: str,
    quadrant_name: str,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Place a person in the performance/potential matrix (seed 004 §1.3)."""
    result = context.app.commands.handle_employee(
        context.actor,
        employee_id,
        RecordQuadrant(quadrant_name),
        _decide_quadrant,
        idempotency_key=idempotency_key,
    )
    echo_result(result, as_json=as_json)


@click.command("budget")
@click.argument("employee_id")
@click.argument("year", type=int)
@click.argument("amount_eur", metavar="AMOUNT", type=float)
@click.option("--idempotency-key", help="Makes a retried call safe: the first result returns.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_context
def budget(
    context: Context,
    employee_id: str,
    year: int,
    amount_eur: float,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Grant a person's personal development budget (POB) for a year, in euro."""
    result = context.app.commands.handle_employee(
        context.actor,
        employee_id,
        SetBudgetAllowance(year, amount_eur),
        decide_budget,
        idempotency_key=idempotency_key,
    )
    echo_result(result, as_json=as_json)
