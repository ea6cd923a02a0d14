"""One read of the log for every projection (`RunnerGroup`): each projection still gets exactly
its own events after its own checkpoint, once — beside single runners, while commands append."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import func, select

from bench.projections import synthesize_log
from events.database import read_transaction
from events.domain import Reason
from events.schema import events_table
from handlers.bootstrap import Popcycle
from handlers.projections.checkpoints import read_checkpoints
from handlers.projections.registry import PROJECTIONS
from handlers.projections.runner import Runner, RunnerGroup
from handlers.projections.service import ProjectionService
from handlers.projections.snapshot import snapshot
from tests.integration.test_projection_models import HR, app, register  # noqa: F401 - fixture


def count_events(app: Popcycle, types: frozenset[str], after: int = 0) -> int:  # noqa: F811
    events = events_table.c
    query = select(func.count()).where(events.type.in_(sorted(types)), events.position > after)
    with read_transaction(app.engine) as connection:
        return int(connection.execute(query).scalar_one())


def runners(app: Popcycle, batch_size: int) -> list[Runner]:  # noqa: F811
    keys = app.repository.keys
    return [Runner(app.engine, p, keys, batch_size=batch_size) for p in PROJECTIONS]


def test_each_projection_gets_its_events_after_its_own_checkpoint(
    app: Popcycle,  # noqa: F811
) -> None:
    synthesize_log(app, 30)
    people = next(r for r in runners(app, 50) if r.projection.name == "people")
    people.catch_up()  # one projection ahead of the others
    register(app, "LATE")
    with read_transaction(app.engine) as connection:
        before = read_checkpoints(connection)
    group = RunnerGroup(runners(app, 7))  # a batch far smaller than the gap between them
    outcomes = {outcome.name: outcome for outcome in group.catch_up()}
    for projection in PROJECTIONS:
        after = before.get(projection.name, 0)
        expected = count_events(app, projection.event_types, after)
        assert outcomes[projection.name].applied == expected, projection.name
        assert outcomes[projection.name].caught_up
    live = snapshot(app.engine, PROJECTIONS)
    ProjectionService.from_app(app).rebuild()
    assert snapshot(app.engine, PROJECTIONS) == live


def test_a_group_beside_single_runners_applies_each_event_once(
    app: Popcycle,  # noqa: F811
) -> None:
    synthesize_log(app, 60)
    register(app, "MX")
    writing = threading.Event()
    writing.set()

    def write() -> dict[str, int]:
        for index in range(20):
            register(app, f"W{index}", "MX")
            interview = app.clock() + timedelta(days=9)
            app.commands.start_cycle(HR, f"W{index}", "MX", Reason.ON_DEMAND, interview)
        writing.clear()
        return {}

    def together() -> dict[str, int]:
        group = RunnerGroup(runners(app, 41))
        applied = dict.fromkeys((p.name for p in PROJECTIONS), 0)
        while True:
            busy = writing.is_set()
            for outcome in group.catch_up():
                applied[outcome.name] += outcome.applied
            if not busy:
                return applied

    def alone() -> dict[str, int]:
        mine = runners(app, 29)
        applied = dict.fromkeys((p.name for p in PROJECTIONS), 0)
        while True:
            busy = writing.is_set()
            for runner in mine:
                applied[runner.projection.name] += runner.catch_up().applied
            if not busy:
                return applied

    barrier = threading.Barrier(3)

    def start(job: int) -> dict[str, int]:
        barrier.wait()
        return (write, together, alone)[job]()

    with ThreadPoolExecutor(max_workers=3) as pool:
        _written, grouped, single = pool.map(start, range(3))
    for projection in PROJECTIONS:
        applied = grouped[projection.name] + single[projection.name]
        assert applied == count_events(app, projection.event_types), projection.name
    live = snapshot(app.engine, PROJECTIONS)
    ProjectionService.from_app(app).rebuild()
    assert snapshot(app.engine, PROJECTIONS) == live
