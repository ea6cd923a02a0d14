"""`pop token …` and `pop calendar link`: hand out access to the HTTP API, the page and feeds.

The secret is printed once, alone on the last line of stdout, so scripts can take it with
`tail -n 1`; only its hash is stored.
"""

from __future__ import annotations

import click

from handlers.actor import Role
from handlers.cli_context import Context, pass_context
from handlers.tokens import TOKEN_ROLES, TokenStore
from workflow.errors import NotFound


def _tokens(context: Context) -> TokenStore:
    return TokenStore(context.app.engine, context.app.clock)


def _warn_if_unknown(context: Context, person_id: str) -> None:
    """A token may be made before the person is registered; say so instead of refusing."""
    try:
        context.app.repository.employee(person_id, "subject")
    except NotFound:
        click.echo(f"note: no employee {person_id} is registered yet", err=True)


@click.group()
def token() -> None:
    """Bearer tokens for the HTTP API and the status page."""


@token.command("create")
@click.option(
    "--role", type=click.Choice([role.value for role in TOKEN_ROLES]), required=True, help="Role."
)
@click.option("--subject", help="The person the token belongs to (required for manager/employee).")
@click.option("--label", help="A note for whom or what the token was made (not secret).")
@pass_context
def create(context: Context, role: str, subject: str | None, label: str | None) -> None:
    """Create a token; it is printed once, alone on the last line."""
    secret = _tokens(context).create(Role(role), subject, label)
    if subject:
        _warn_if_unknown(context, subject)
    click.echo(secret)


@token.command("revoke")
@click.argument("secret_or_hash")
@pass_context
def revoke(context: Context, secret_or_hash: str) -> None:
    """Revoke a token (give the token itself or its SHA-256 hash)."""
    if not _tokens(context).revoke(secret_or_hash):
        raise click.ClickException("no such active token")
    click.echo("token revoked")


@click.group()
def calendar() -> None:
    """Secret per-person calendar feeds (interviews, reviews, goal deadlines)."""


@calendar.command("link")
@click.argument("person_id")
@click.option("--base-url", default="http://127.0.0.1:8000", show_default=True)
@pass_context
def link(context: Context, person_id: str, base_url: str) -> None:
    """Make (or renew) the person's secret feed link; the URL is printed on the last line."""
    context.app.repository.employee(person_id, "person_id")
    secret = _tokens(context).create_calendar_link(person_id)
    click.echo(f"{base_url.rstrip('/')}/calendar/{person_id}.ics?key={secret}")
