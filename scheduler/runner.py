"""The scheduler process: APScheduler as a local timer that polls, nothing more.

Each process runs its own BackgroundScheduler with an in-memory job store and one interval
job; the follow-ups themselves live in popcycle's table (DESIGN.md, Known traps). The job is
`max_instances=1` and coalesced, so a slow tick is never run twice at once in one process;
across processes the claims' leases keep each follow-up to one firing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from handlers.bootstrap import Popcycle
from handlers.broker import delivery_nudge_for
from scheduler.calendar import organisation_calendar
from scheduler.delivery import deliver_due, has_due
from scheduler.firing import FollowUpScheduler
from scheduler.policy_file import load_policy

log = structlog.get_logger(__name__)


def build_scheduler(app: Popcycle) -> FollowUpScheduler:
    """The follow-up scheduler for this app, with the organisation's policy and calendar."""
    policy = load_policy(app.settings.policy_file)
    calendar = organisation_calendar(app.settings.timezone, policy)
    return FollowUpScheduler(app, policy, calendar)


@dataclass
class SchedulerService:
    """Fires follow-ups every `interval` seconds until stopped; the workers deliver.

    After each batch's outbox rows commit, the dramatiq delivery actor is nudged (through
    Redis, or the in-process broker of `pop serve`); a tick that ends with notifications due
    (retries whose back-off passed) nudges once more. With no worker in reach (a standalone
    `pop scheduler` on the embedded default, e.g. from cron) the tick delivers them itself.
    """

    app: Popcycle
    interval: float = 15.0
    _timer: BackgroundScheduler | None = field(default=None, init=False)
    _ticked: threading.Event = field(default_factory=threading.Event, init=False)

    def __post_init__(self) -> None:
        self.followups = build_scheduler(self.app)
        self._nudge_delivery = delivery_nudge_for(self.app.settings)
        self.followups.on_queued = self._nudge_delivery

    def run_once(self) -> int:
        """One tick: fire what is due, then have it delivered; returns how many fired."""
        fired = self.followups.tick()
        if has_due(self.app.engine, self.app.clock()) and not self._nudge_delivery():
            deliver_due(self.app)
        self._ticked.set()
        return fired

    def _safe_tick(self) -> None:
        try:
            fired = self.run_once()
            if fired:
                log.info("scheduler.tick", fired=fired, owner=self.followups.owner)
        except Exception:  # the timer must survive a bad tick (database restart, ...)
            log.exception("scheduler.tick_failed", owner=self.followups.owner)

    def start(self) -> None:
        """Start the local timer (first tick right away: catch up after downtime)."""
        timer = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )
        # The timer runs on wall-clock time; what is due is judged on the app's clock.
        timer.add_job(
            self._safe_tick,
            "interval",
            seconds=self.interval,
            id="followups",
            next_run_time=datetime.now(UTC),
        )
        timer.start()
        self._timer = timer
        log.info("scheduler.started", owner=self.followups.owner, interval=self.interval)

    def wait_for_tick(self, timeout: float) -> bool:
        return self._ticked.wait(timeout)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.shutdown(wait=True)
            self._timer = None
            log.info("scheduler.stopped", owner=self.followups.owner)
