"""`pop verify` and `pop forget`: the audit and privacy commands."""

from __future__ import annotations

import sys

import click

from events.verify import verify_chain
from handlers.cli_context import Context, pass_context
from handlers.privacy import forget_employee

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
