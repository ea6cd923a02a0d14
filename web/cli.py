"""`pop serve`: the embedded default — the web app under waitress, background services beside.

Background services (the projection workers, the scheduler) are started before the server
accepts requests and stopped after it stops: the same code paths as production, in one
process. Registered on `pop` through the `popcycle.commands` entry point (web/ is an outer
package: handlers/ never imports it).
"""

from __future__ import annotations

import signal
from types import FrameType

import click
import structlog

from events.migrate import upgrade
from handlers.actor import Role
from handlers.bootstrap import Popcycle
from handlers.cli_context import Context, pass_context
from handlers.demo import run_demo
from handlers.projections.service import ProjectionService
from handlers.services import BACKGROUND_SERVICES, BackgroundService
from handlers.tokens import TokenStore
from scheduler.demo import demo_tick
from scheduler.runner import SchedulerService
from web.app import create_app
from web.server import WsgiServer

log = structlog.get_logger(__name__)


def _scheduler(popcycle: Popcycle) -> BackgroundService:
    return SchedulerService(popcycle)


def seed_demo_if_empty(popcycle: Popcycle) -> bool:
    """Fill an empty database with the demo organisation; False if it already held events."""
    if popcycle.store.head()[0] > 0:
        return False
    run_demo(popcycle.settings, popcycle.clock(), hooks=[demo_tick])
    return True


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option("--demo", is_flag=True, help="Seed a demo organisation if the database is empty.")
@click.option(
    "--background/--no-background",
    default=True,
    show_default=True,
    help="Run projection workers and a scheduler in this process too. Production web servers "
    "beside `pop worker` and `pop scheduler` units pass --no-background to keep their CPU "
    "for requests.",
)
@pass_context
def serve(
    context: Context, *, host: str, port: int, threads: int, demo: bool, background: bool
) -> None:
    """Serve the status page, the JSON API and calendar feeds (Ctrl-C stops)."""
    popcycle = context.app
    upgrade(popcycle.settings.database_url)
    if demo and seed_demo_if_empty(popcycle):
        # Until the projection workers run beside the server (BACKGROUND_SERVICES), project
        # the demo once so the page has something to show.
        ProjectionService.from_app(popcycle).catch_up_all()
        token = TokenStore(popcycle.engine, popcycle.clock).create(
            Role.HR, None, "pop serve --demo"
        )
        click.echo(f"demo organisation seeded; an HR token for the page and API:\n{token}")
    factories = [*BACKGROUND_SERVICES, _scheduler] if background else []
    services = [factory(popcycle) for factory in factories]
    server = WsgiServer(create_app(popcycle), host=host, port=port, threads=threads)

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        server.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    for service in services:
        service.start()
    try:
        click.echo(f"serving on {server.url}", err=True)
        log.info("serve.started", port=server.port, services=len(services))
        server.run()
    finally:
        for service in reversed(services):
            service.stop()
        log.info("serve.stopped")


commands = [serve]
