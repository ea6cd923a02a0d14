"""`pop demo`: fill the database with a demo organisation, through the real command path."""

from __future__ import annotations

import click

from handlers.cli_context import Context, pass_context
from handlers.demo import DEMO_CLOCK_HOOKS, run_demo


@click.command("demo")
@click.option("--employees", default=24, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option(
    "--managers",
    type=click.IntRange(1, 100_000),
    help="How many managers (default: one per 8 employees).",
)
@click.option("--seed", default=2026, show_default=True, help="Same seed, same organisation.")
@pass_context
def demo(context: Context, employees: int, managers: int | None, seed: int) -> None:
    """Seed a demo organisation: three years of POP cycles, today in every phase.

    The scheduler, when installed, fires its follow-ups along the demo's time.
    """
    with click.progressbar(length=1, label="seeding demo cycles", file=None) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)

        report = run_demo(
            context.settings,
            context.app.clock(),
            employees=employees,
            managers=managers,
            seed=seed,
            hooks=DEMO_CLOCK_HOOKS,
            progress=progress,
        )
    click.echo(
        f"demo organisation ready: {employees} employees, {report.steps} cycle steps, "
        f"{report.followups} follow-ups fired"
    )
    if report.refused:
        click.echo(f"{report.refused} demo steps were refused (see the log)", err=True)
