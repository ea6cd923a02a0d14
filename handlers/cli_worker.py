"""`pop worker`: run the projection actors in this process until SIGTERM or Ctrl-C.

One process, one in-process `dramatiq.Worker` with `--threads` threads, plus the safety sweep.
With POP_BROKER_URL=redis://… run as many as you like, on as many machines as you like (under a
supervisor such as systemd: a process that dies is restarted on its own, unlike `dramatiq`'s
process group, which stops every child when one dies). Without a broker URL the worker consumes
the in-process broker: it only sees its own sweep, so it catches up every POP_SWEEP_SECONDS.

Also registers the same workers as a background service of `pop serve` (the embedded default).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

import click

from handlers.bootstrap import Popcycle
from handlers.cli_context import Context, pass_context
from handlers.cli_serve import BACKGROUND_SERVICES

if TYPE_CHECKING:
    from handlers.workers import RunningWorker


@click.command("worker")
@click.option("--threads", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--sweep-seconds",
    type=click.FloatRange(min=0.1),
    help="Seconds between safety sweeps [default: POP_SWEEP_SECONDS or 30].",
)
@pass_context
def worker(context: Context, threads: int, sweep_seconds: float | None) -> None:
    """Run the projection workers (read models) until stopped."""
    from handlers.workers import BROKER_URL, start_in_process  # noqa: PLC0415 - dramatiq

    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    running = start_in_process(context.app, threads=threads, sweep_seconds=sweep_seconds)
    broker = "redis" if BROKER_URL else "in-process (no POP_BROKER_URL)"
    click.echo(f"worker running: {threads} threads, broker {broker}", err=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        running.stop()
    click.echo("worker stopped", err=True)


class ProjectionWorkers:
    """The workers as a `pop serve` background service."""

    def __init__(self, app: Popcycle) -> None:
        self._app = app
        self._running: RunningWorker | None = None

    def start(self) -> None:
        from handlers.workers import start_in_process  # noqa: PLC0415 - dramatiq

        self._running = start_in_process(self._app)

    def stop(self) -> None:
        if self._running is not None:
            self._running.stop()
            self._running = None


BACKGROUND_SERVICES.append(ProjectionWorkers)
