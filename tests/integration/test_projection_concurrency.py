"""Two catch-ups of one projection at once, while commands keep appending: nothing doubled,
nothing skipped — on SQLite (BEGIN IMMEDIATE) and PostgreSQL (SELECT … FOR UPDATE)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import timedelta

from sqlalchemy import func, select

from bench.projections import synthesize_log
from events.database import read_transaction
from events.domain import Reason
from events.schema import events_table
from handlers.bootstrap import Popcycle
from handlers.projections.registry import PROJECTIONS
from handlers.projections.runner import Runner
from handlers.projections.service import ProjectionService
from handlers.projections.snapshot import snapshot
from tests.integration.test_projection_models import HR, app, register  # noqa: F401 - fixture
from workflow.errors import DomainError


def count_events(app: Popcycle, types: frozenset[str]) -> int:  # noqa: F811
    with read_transaction(app.engine) as connection:
        query = select(func.count()).where(events_table.c.type.in_(sorted(types)))
        return int(connection.execute(query).scalar_one())


def test_two_catch_ups_at_once_apply_each_event_once(app: Popcycle) -> None:  # noqa: F811
    synthesize_log(app, 120)
    register(app, "MX")
    writing = threading.Event()
    writing.set()

    def write() -> int:
        """Keep appending while the catch-ups run: they must not skip these either."""
        written = 0
        for index in range(40):
            register(app, f"W{index}", "MX")
            with suppress(DomainError):
                app.commands.start_cycle(
                    HR, f"W{index}", "MX", Reason.ON_DEMAND, app.clock() + timedelta(days=9)
                )
            written += 1
        writing.clear()
        return written

    def catch_up(number: int) -> dict[str, int]:
        applied = dict.fromkeys((p.name for p in PROJECTIONS), 0)
        runners = [
            Runner(app.engine, p, app.repository.keys, batch_size=37 + number) for p in PROJECTIONS
        ]
        while True:
            busy = writing.is_set()
            for runner in runners:
                applied[runner.projection.name] += runner.catch_up().applied
            if not busy:  # one more round after the writer finished
                return applied

    barrier = threading.Barrier(3)

    def together(job: int) -> object:
        barrier.wait()
        return write() if job == 2 else catch_up(job)

    with ThreadPoolExecutor(max_workers=3) as pool:
        first, second, _written = pool.map(together, range(3))
    assert isinstance(first, dict)
    assert isinstance(second, dict)
    for projection in PROJECTIONS:
        # Each event of the projection's types applied exactly once, by one worker or the other.
        applied = first[projection.name] + second[projection.name]
        assert applied == count_events(app, projection.event_types), projection.name
        assert first[projection.name] > 0 or second[projection.name] > 0
    service = ProjectionService.from_app(app)
    assert all(lag.caught_up for lag in service.lag())
    live = snapshot(app.engine, PROJECTIONS)
    service.rebuild()
    assert snapshot(app.engine, PROJECTIONS) == live
