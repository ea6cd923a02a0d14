"""`pop demo`: fill the database with a demo organisation, through the real command path."""

from __future__ import annotations

from datetime import timedelta

import click

from handlers.bootstrap import bootstrap
from handlers.cli_context import Context, pass_context
from handlers.clock import MovableClock
from handlers.demo import SPAN_DAYS, seed_demo


@click.command("demo")
@click.option("--employees", default=24, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--managers", default=4, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--seed", default=2026, show_default=True, help="Same seed, same organisation.")
@pass_context
def demo(context: Context, employees: int, managers: int, seed: int) -> None:
    """Seed a demo organisation: cycles in every phase, with a year of history."""
    now = context.app.clock()
    clock = MovableClock(now - timedelta(days=SPAN_DAYS))
    app = bootstrap(context.settings, clock)
    try:
        with click.progressbar(length=1, label="seeding demo cycles", file=None) as bar:

            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            sent = seed_demo(
                app.commands,
                clock,
                employees=employees,
                managers=managers,
                seed=seed,
                until=now,
                progress=progress,
            )
    finally:
        app.close()
    click.echo(
        f"demo organisation ready: {managers} managers, {employees} employees, {sent} cycle steps"
    )
