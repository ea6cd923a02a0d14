"""`pop`: the command line of popcycle.

Every failure ends in one readable line on stderr and a non-zero exit code: 1 for a refused
command or bad input, 2 for a mistyped command line. Never a traceback.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import click
import structlog
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from events.errors import EventStoreError
from events.migrate import upgrade
from handlers.actor import Actor, Role
from handlers.cli_audit import export, forget, history, verify
from handlers.cli_context import Context, pass_context
from handlers.cli_cycle import cycle
from handlers.cli_demo import demo
from handlers.cli_employee import employee
from handlers.cli_import import register_import_commands
from handlers.cli_projections import register_read_side  # pop projections, pop worker (issue 3)
from handlers.cli_tokens import calendar, token  # web: pop token, pop calendar (issue 5)
from handlers.logs import configure_logging
from handlers.settings import SettingsError
from workflow.errors import DomainError


@click.group()
@click.option("--actor", default="cli", show_default=True, help="Who is acting (person id).")
@click.option(
    "--role",
    type=click.Choice([r.value for r in (Role.HR, Role.MANAGER, Role.EMPLOYEE)]),
    default=Role.HR.value,
    show_default=True,
    help="The actor's role; HR may act for either side.",
)
@click.option("--log-level", default="WARNING", show_default=True, help="Structured log level.")
@click.pass_context
def cli(ctx: click.Context, actor: str, role: str, log_level: str) -> None:
    """popcycle: personal development plan (POP) cycles, event-sourced."""
    configure_logging(log_level.upper())
    context = Context(Actor(actor, Role(role)))
    ctx.obj = context
    ctx.call_on_close(context.close)


@cli.command("init")
@pass_context
def init_command(context: Context) -> None:
    """Create or migrate the database schema (safe to run again)."""
    upgrade(context.settings.database_url)
    click.echo(f"database ready: {_safe_url(context.settings.database_url)}")


def _safe_url(url: str) -> str:
    """The URL without its password, fit to print."""
    return make_url(url).render_as_string(hide_password=True)


cli.add_command(employee)
cli.add_command(cycle)
cli.add_command(history)
cli.add_command(demo)
# --- web (issue 5): access tokens, calendar links, the embedded server ---
cli.add_command(token)
cli.add_command(calendar)
cli.add_command(verify)
cli.add_command(forget)
cli.add_command(export)
register_import_commands(cli, employee)
register_read_side(cli, employee)  # read side (issue 3)


def _add_plugin_commands() -> None:
    """Commands of the outer packages (scheduler/, web/), found through entry points."""
    for entry in entry_points(group="popcycle.commands"):
        loaded = entry.load()
        for command in loaded if isinstance(loaded, list) else [loaded]:
            cli.add_command(command)


_add_plugin_commands()


def _one_line(error: BaseException) -> str:
    if isinstance(error, DomainError):
        prefix = f"{error.field}: " if error.field else ""
        return prefix + str(error)
    if isinstance(error, OperationalError | ProgrammingError):
        text = str(error.orig) if error.orig is not None else str(error)
        if "no such table" in text or "does not exist" in text:
            return "the database has no popcycle schema yet: run `pop init` first"
        return "database error: " + text.splitlines()[0]
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `pop` console script."""
    try:
        code = cli.main(args=argv, prog_name="pop", standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(1)
    except click.UsageError as error:
        click.echo(f"error: {error.format_message()} (see pop --help)", err=True)
        sys.exit(2)
    except (DomainError, EventStoreError, SettingsError, OperationalError, ProgrammingError) as e:
        click.echo(f"error: {_one_line(e)}", err=True)
        sys.exit(1)
    except click.ClickException as error:
        click.echo(f"error: {error.format_message()}", err=True)
        sys.exit(1)
    except Exception as error:  # a bug: say so in one line, keep the traceback in the log
        # The traceback is for developers (--log-level debug); a user gets one line.
        structlog.get_logger(__name__).debug(
            "cli.crashed", error_type=type(error).__name__, exc_info=True
        )
        click.echo(
            f"error: internal error ({type(error).__name__}); rerun with --log-level debug",
            err=True,
        )
        sys.exit(70)
    if isinstance(code, int) and code:
        sys.exit(code)
