"""The read side's entry points: catch up, sweep, report lag, rebuild — for actors and the CLI.

Built from the wired application (`ProjectionService.from_app`): the engine the log is on (the
read models live in the same database, so a checkpoint and its rows commit together), the key
ring (to show names and goal titles) and the clock (only for reporting lag).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import Engine

from events.sealing import KeyRing
from handlers.bootstrap import Popcycle
from handlers.clock import Clock, system_clock
from handlers.projections import registry
from handlers.projections.base import Projection
from handlers.projections.rebuild import REBUILD_BATCH_SIZE, Progress, RebuildOutcome, rebuild
from handlers.projections.runner import (
    DEFAULT_ASIDE_AFTER,
    DEFAULT_BATCH_SIZE,
    CatchUpOutcome,
    Runner,
    RunnerGroup,
)
from handlers.projections.status import Lag, lag
from handlers.settings import SettingsError

log = structlog.get_logger(__name__)

#: Seconds between two safety sweeps (POP_SWEEP_SECONDS overrides it).
DEFAULT_SWEEP_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class ProjectionSettings:
    """The read side's knobs, from the environment.

    POP_SWEEP_SECONDS: seconds between safety sweeps (default 30);
    POP_PROJECTION_BATCH: events per catch-up transaction (default 5000);
    POP_PROJECTION_ASIDE: events behind the head from which a catch-up builds aside rather
    than in place (default 50000; 0: never — `runner.DEFAULT_ASIDE_AFTER` says why).
    """

    sweep_seconds: float = DEFAULT_SWEEP_SECONDS
    batch_size: int = DEFAULT_BATCH_SIZE
    aside_after: int | None = DEFAULT_ASIDE_AFTER

    @classmethod
    def from_env(cls) -> ProjectionSettings:
        sweep = _number("POP_SWEEP_SECONDS", DEFAULT_SWEEP_SECONDS)
        batch = int(_number("POP_PROJECTION_BATCH", DEFAULT_BATCH_SIZE))
        aside = int(_number("POP_PROJECTION_ASIDE", DEFAULT_ASIDE_AFTER))
        if sweep <= 0 or batch < 1:
            raise SettingsError("POP_SWEEP_SECONDS and POP_PROJECTION_BATCH must be positive")
        if aside < 0:
            raise SettingsError("POP_PROJECTION_ASIDE must be 0 (never) or positive")
        return cls(sweep, batch, aside or None)


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as error:
        raise SettingsError(f"{name}: not a number: {raw!r}") from error


class ProjectionService:
    """Catch-ups, lag and rebuilds of every projection on one database."""

    def __init__(
        self,
        engine: Engine,
        keys: KeyRing,
        *,
        projections: Sequence[Projection] = registry.PROJECTIONS,
        batch_size: int = DEFAULT_BATCH_SIZE,
        aside_after: int | None = DEFAULT_ASIDE_AFTER,
        clock: Clock = system_clock,
    ) -> None:
        self.engine = engine
        self.keys = keys
        self.projections = tuple(projections)
        self.clock = clock
        self._runners = {
            p.name: Runner(engine, p, keys, batch_size=batch_size, aside_after=aside_after)
            for p in self.projections
        }
        self._together = RunnerGroup(list(self._runners.values()))

    @classmethod
    def from_app(cls, app: Popcycle, *, batch_size: int | None = None) -> ProjectionService:
        settings = ProjectionSettings.from_env()
        return cls(
            app.engine,
            app.repository.keys,
            batch_size=batch_size or settings.batch_size,
            aside_after=settings.aside_after,
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._runners)

    def catch_up(self, name: str, *, budget_seconds: float | None = None) -> CatchUpOutcome:
        """Bring one projection to the log head (or as far as the time budget allows)."""
        runner = self._runners.get(name)
        if runner is None:
            registry.projection(name)  # raises, naming the known ones
            raise ValueError(f"projection {name!r} is not served here")
        outcome = runner.catch_up(budget_seconds=budget_seconds)
        _log_outcome(outcome)
        return outcome

    def catch_up_all(self) -> list[CatchUpOutcome]:
        """Bring every projection to the log head, reading the log once for all of them; those
        being built aside, or far enough behind to be, each build on its own first."""
        for name, runner in self._runners.items():
            if runner.needs_build():
                self.catch_up(name)
        outcomes = {o.name: o for o in self._together.catch_up()}
        for outcome in outcomes.values():
            _log_outcome(outcome)
        return [outcomes[name] for name in self._runners]

    def lag(self) -> list[Lag]:
        """Each projection's lag now; also logged (ids and counts only, no personal data)."""
        found = lag(self.engine, self.projections, self.clock())
        for item in found:
            log.info("projection.lag", **item.to_json())
        return found

    def behind(self) -> list[str]:
        """The projections whose checkpoint is below the log head."""
        return [item.name for item in self.lag() if not item.caught_up]

    def rebuild(
        self,
        name: str | None = None,
        *,
        progress: Progress | None = None,
        batch_size: int = REBUILD_BATCH_SIZE,
    ) -> list[RebuildOutcome]:
        """Rebuild one projection (or all) from position 0; returns once the result is live."""
        done: list[RebuildOutcome] = []
        for projection in registry.select(name):
            outcome = rebuild(
                self.engine, projection, self.keys, batch_size=batch_size, progress=progress
            )
            log.info(
                "projection.rebuilt",
                projection=outcome.name,
                position=outcome.position,
                applied=outcome.applied,
                seconds=round(outcome.seconds, 3),
            )
            done.append(outcome)
        return done


def _log_outcome(outcome: CatchUpOutcome) -> None:
    """A catch-up that did something, or is still behind, says so (lag in events and time)."""
    if outcome.applied or not outcome.caught_up:
        log.info(
            "projection.caught_up" if outcome.caught_up else "projection.catching_up",
            projection=outcome.name,
            applied=outcome.applied,
            batches=outcome.batches,
            position=outcome.position,
            head=outcome.head,
            events_behind=max(0, outcome.head - outcome.position),
            seconds=round(outcome.seconds, 3),
            aside=outcome.aside,
        )
