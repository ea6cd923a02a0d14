"""The dramatiq actors of the read side, and the safety sweep that backs them up.

Run them with `pop worker` (one process, in-process `dramatiq.Worker`) or `dramatiq
handlers.workers` (dramatiq's own process manager); in the embedded default `pop serve` calls
`start_in_process`. The broker comes from POP_BROKER_URL (`handlers/broker.py`), which is why
this module builds it at import: the `dramatiq` command imports a module to find its broker.
Nothing else happens at import — the database is opened by the first message or sweep.

The actors are thin: unpack, call `ProjectionService`, done. They are idempotent — a catch-up
starts from the checkpoint the database holds, whatever the message says — so a message
delivered twice, or redelivered after a worker was killed, does no harm.

The sweep (DESIGN.md "the broker is a hint"): every POP_SWEEP_SECONDS (30 by default) each
worker process compares every projection's checkpoint with the log head and nudges what is
behind, forcing the nudge through the coalescing gate; the outer packages' `SWEEPS` do the
same for their actors (the scheduler's: notifications due in the outbox). A lost nudge, a
message dropped by a dead broker, a worker killed with SIGKILL mid-batch: all are caught up
within one interval.
The timer is APScheduler's BackgroundScheduler on a MemoryJobStore, one per process, used as
a local clock only (no shared job store).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import entry_points

import dramatiq
import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from dramatiq.middleware import Middleware

from handlers.bootstrap import Popcycle, bootstrap
from handlers.broker import (
    CATCH_UP_ACTOR,
    DELIVER_ACTOR,
    QUEUE,
    delivery_nudger_on,
    is_redis,
    make_broker,
    nudger_on,
    register_embedded,
)
from handlers.logs import configure_logging
from handlers.projections.nudge import Gate, Nudger
from handlers.projections.service import ProjectionService, ProjectionSettings
from handlers.settings import Settings

log = structlog.get_logger(__name__)

#: Seconds one catch-up message works before it hands over to a fresh message: keeps messages
#: short (fair to other projections, quick shutdowns), however long the backlog.
CATCH_UP_BUDGET_SECONDS = 10.0

BROKER_URL = os.environ.get("POP_BROKER_URL") or None
broker = make_broker(BROKER_URL)
dramatiq.set_broker(broker)


@dataclass(frozen=True, slots=True)
class Runtime:
    """What the actors of this process work with."""

    app: Popcycle
    service: ProjectionService
    nudger: Nudger
    gate: Gate
    sweep_seconds: float
    delivery: Nudger  # the outbox's delivery actor (scheduler/actors.py)


#: Further checks the safety sweep runs, added by the outer packages' actor modules (the
#: scheduler's: "is a notification due?"). Each nudges its own actor when work is waiting.
SWEEPS: list[Callable[[Runtime], None]] = []


_lock = threading.Lock()
_building = threading.Lock()  # one lazy wiring per process, however many threads ask at once
_runtime: Runtime | None = None
_booted = False


def install(app: Popcycle, *, sweep_seconds: float | None = None) -> Runtime:
    """Make the actors of this process work on `app`'s database."""
    global _runtime  # noqa: PLW0603 - the actors' per-process runtime
    if is_redis(app.settings.broker_url) != is_redis(BROKER_URL):
        raise RuntimeError(
            "POP_BROKER_URL changed after handlers.workers was imported: "
            "the workers' broker and the application's disagree"
        )
    settings = ProjectionSettings.from_env()
    nudger = nudger_on(broker)
    runtime = Runtime(
        app,
        ProjectionService.from_app(app, batch_size=settings.batch_size),
        nudger,
        nudger.gate,
        sweep_seconds or settings.sweep_seconds,
        delivery_nudger_on(broker),
    )
    with _lock:
        _runtime = runtime
    return runtime


def runtime() -> Runtime:
    """This process's runtime; wired from the environment on first use (`dramatiq` CLI)."""
    with _building:
        with _lock:
            current = _runtime
        if current is not None:
            return current
        if not structlog.is_configured():  # under `dramatiq`, nobody configured the JSON logs
            configure_logging(os.environ.get("POP_LOG_LEVEL", "INFO"))
        return install(bootstrap(Settings.from_env()))


@dramatiq.actor(
    broker=broker,
    queue_name=QUEUE,
    actor_name=CATCH_UP_ACTOR,
    max_retries=5,
    min_backoff=500,
    max_backoff=30_000,
    time_limit=int(CATCH_UP_BUDGET_SECONDS * 1000) + 110_000,
)
def catch_up_projection(name: str) -> None:
    """Catch projection `name` up to the log head (or hand over to a fresh message)."""
    current = runtime()
    current.gate.release(name)  # first: an append from now on must nudge again
    outcome = current.service.catch_up(name, budget_seconds=CATCH_UP_BUDGET_SECONDS)
    if not outcome.caught_up:
        current.nudger.nudge(name, force=True)


def sweep() -> list[str]:
    """Nudge every projection that is behind the log head; returns their names."""
    current = runtime()
    behind = current.service.behind()
    for name in behind:
        current.nudger.nudge(name, force=True)
    if behind:
        log.info("projection.sweep", behind=behind)
    return behind


def _sweep_projections(_current: Runtime) -> None:
    sweep()


def _sweep_safely() -> None:
    for check in (_sweep_projections, *SWEEPS):
        try:
            check(runtime())
        except Exception as error:  # the next sweep tries again; the timer must not die
            log.warning("worker.sweep_failed", check=check.__name__, error=type(error).__name__)


class SweepTimer(Middleware):
    """Runs the sweep on a local timer while this process's worker runs."""

    def __init__(self) -> None:
        self._scheduler: BackgroundScheduler | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        scheduler.add_job(
            _sweep_safely,
            "interval",
            seconds=runtime().sweep_seconds,
            next_run_time=datetime.now(UTC),  # at once: catch up whatever piled up meanwhile
            id="projection-sweep",
        )
        scheduler.start()
        self._scheduler = scheduler

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None


broker.add_middleware(SweepTimer())


class RunningWorker:
    """An in-process dramatiq Worker on this module's broker; `stop()` ends it."""

    def __init__(self, worker: dramatiq.Worker, embedded: bool) -> None:
        self.worker = worker
        self._embedded = embedded

    def stop(self, timeout_ms: int = 30_000) -> None:
        if self._embedded:
            register_embedded(None)
        self.worker.stop(timeout=timeout_ms)


def start_in_process(
    app: Popcycle, *, threads: int = 2, sweep_seconds: float | None = None
) -> RunningWorker:
    """Run the actors in this process (embedded default, or `pop worker`).

    With the embedded broker, `app`'s commands now nudge this worker directly.
    """
    global _booted  # noqa: PLW0603 - process_boot runs once per process
    current = install(app, sweep_seconds=sweep_seconds)
    with _lock:
        if not _booted:
            broker.emit_after("process_boot")
            _booted = True
    # Every queue declared on this broker: the projections' and the outer packages' actors'.
    worker = dramatiq.Worker(broker, queues=None, worker_threads=threads)
    worker.start()
    embedded = not is_redis(BROKER_URL)
    if embedded:
        register_embedded(current.nudger, current.delivery)
    return RunningWorker(worker, embedded)


def _load_outer_actors() -> None:
    """Declare the outer packages' actors (scheduler/: delivery) on this broker.

    Found through the `popcycle.actors` entry points, as `pop` finds the outer commands, so
    handlers/ never imports them, yet every worker — `pop worker`, `pop serve`, or `dramatiq
    handlers.workers` — consumes their queues. Runs last: those modules import this one.
    """
    for entry in entry_points(group="popcycle.actors"):
        entry.load()
    if DELIVER_ACTOR not in broker.actors:  # an install older than the entry point
        log.warning("worker.no_delivery_actor", fix="pip install -e . (refreshes entry points)")


_load_outer_actors()
