"""A catch-up's row cache is used only at the checkpoint its own last batch committed.

Each test leaves a runner's cache warm, then changes the database behind it the way the
outside world can — another worker catches the projection up, a rebuild swaps the tables in,
a batch fails and rolls back, an erasure rewrites rows in bulk — and checks that the next batch
of the warm runner still gives the rows a rebuild from scratch gives. Every step moves cycles
between phases, whose counts (`summary`) and versions (`cycles`) are folded from the rows
before the batch: a batch folding stale cached rows would leave them wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table

from events.domain import Reason, Side
from handlers.bootstrap import Popcycle
from handlers.privacy import forget_employee
from handlers.projections.base import Projection
from handlers.projections.cache import ProjectionCache, TableCache
from handlers.projections.registry import PROJECTIONS
from handlers.projections.runner import Runner
from handlers.projections.service import ProjectionService
from handlers.projections.snapshot import snapshot
from tests.integration.test_projection_models import HR, app, goals, register  # noqa: F401
from workflow.commands import RecordInterviewHeld, SubmitPreparation


def runners(app: Popcycle) -> list[Runner]:  # noqa: F811 - app is the fixture's value
    return [Runner(app.engine, p, app.repository.keys, batch_size=3) for p in PROJECTIONS]


def catch_up(workers: list[Runner]) -> None:
    for runner in workers:
        runner.catch_up()


def start(app: Popcycle, people: range) -> list[str]:  # noqa: F811
    register(app, "M1")
    cycle_ids = []
    for index in people:
        register(app, f"E{index}", "M1")
        interview = app.clock() + timedelta(days=20)
        started = app.commands.start_cycle(HR, f"E{index}", "M1", Reason.PERIODIC, interview)
        assert started.cycle_id is not None
        cycle_ids.append(started.cycle_id)
    return cycle_ids


def step(app: Popcycle, cycle_ids: list[str], side: Side) -> None:  # noqa: F811
    for cycle_id in cycle_ids:
        app.commands.handle(HR, cycle_id, SubmitPreparation(side, ("Groei",)))


def assert_equals_rebuild(app: Popcycle, workers: list[Runner]) -> None:  # noqa: F811
    catch_up(workers)
    live = snapshot(app.engine, PROJECTIONS)
    ProjectionService.from_app(app).rebuild()
    assert snapshot(app.engine, PROJECTIONS) == live


def cached_rows(runner: Runner) -> int:
    return runner._cache.size


def test_the_cache_is_dropped_when_another_worker_moved_the_checkpoint(
    app: Popcycle,  # noqa: F811
) -> None:
    cycle_ids = start(app, range(4))
    first, second = runners(app), runners(app)
    catch_up(first)
    assert all(cached_rows(runner) > 0 for runner in first)  # warm: the rest would prove nothing
    step(app, cycle_ids, Side.EMPLOYEE)
    catch_up(second)  # another worker moves every checkpoint past the first one's cache
    step(app, cycle_ids, Side.MANAGER)
    assert_equals_rebuild(app, first)  # the first folds the manager's side on fresh rows


def test_the_cache_is_dropped_after_a_rebuild_swapped_the_tables_in(
    app: Popcycle,  # noqa: F811
) -> None:
    cycle_ids = start(app, range(3))
    workers = runners(app)
    catch_up(workers)
    step(app, cycle_ids, Side.EMPLOYEE)
    ProjectionService.from_app(app).rebuild()  # applies the step itself, at the swap
    step(app, cycle_ids, Side.MANAGER)
    assert_equals_rebuild(app, workers)


def test_a_failed_batch_leaves_nothing_of_itself_in_the_cache(
    app: Popcycle,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cycle_ids = start(app, range(3))
    workers = runners(app)
    catch_up(workers)
    step(app, cycle_ids, Side.EMPLOYEE)
    summary = next(runner for runner in workers if runner.projection.name == "summary")
    fail_after_flush(monkeypatch, summary.projection)
    with pytest.raises(RuntimeError, match="after the flush"):
        summary.run_batch()  # its rows were staged, then the transaction rolled back
    monkeypatch.undo()
    summary.batch_size = 1  # the retry applies less than the failed batch had staged
    step(app, cycle_ids, Side.MANAGER)
    assert_equals_rebuild(app, workers)


def fail_after_flush(monkeypatch: pytest.MonkeyPatch, projection: Projection) -> None:
    """Make `projection`'s next batch fail once its rows are written (and staged)."""
    live = projection.live
    apply: Callable[..., None] = live.apply

    def failing(*args: Any, **kwargs: Any) -> None:
        apply(*args, **kwargs)
        raise RuntimeError("after the flush")

    monkeypatch.setattr(live, "apply", failing)


def test_an_erasure_rewriting_rows_in_bulk_empties_the_cache(
    app: Popcycle,  # noqa: F811
) -> None:
    cycle_ids = start(app, range(2))
    app.commands.handle(HR, cycle_ids[0], SubmitPreparation(Side.EMPLOYEE, ("Groei",)))
    app.commands.handle(HR, cycle_ids[0], SubmitPreparation(Side.MANAGER, ("Plan",)))
    app.commands.handle(HR, cycle_ids[0], RecordInterviewHeld(summary="Goed"))
    app.commands.handle(HR, cycle_ids[0], goals(app.clock().date()))
    workers = runners(app)
    catch_up(workers)  # the goals (with their titles) are cached
    forget_employee(app, HR, "E0")
    catch_up(workers)
    cycles = next(runner for runner in workers if runner.projection.name == "cycles")
    assert cached_rows(cycles) == 0  # no erased goal title is left in memory either
    assert_equals_rebuild(app, workers)


def test_lookups_by_column_are_answered_only_for_values_seen_in_full() -> None:
    cache = TableCache(("cycle_id", "goal_id"))
    g1 = {"cycle_id": "c1", "goal_id": "g1", "title": "a"}
    g2 = {"cycle_id": "c1", "goal_id": "g2", "title": "b"}
    # A batch read c1's goals from the database (all of them), and changed g2's title.
    cache.stage(({("c1", "g1"): g1, ("c1", "g2"): g2}, {("c1", "g1"): g1}, {"cycle_id": {"c1"}}))
    # A batch added a goal to c2, whose goals were never read: c2 stays unknown.
    g3 = {"cycle_id": "c2", "goal_id": "g3", "title": "c"}
    cache.stage(({}, {("c2", "g3"): g3}, {}))
    cache.commit()
    assert cache.split("cycle_id", ["c1", "c2"]) == (["c2"], [g1])  # g2 was deleted


def test_a_cache_over_capacity_is_emptied() -> None:
    cache = ProjectionCache(capacity=1)
    table = cache.begin((1, datetime.now(UTC))).table(
        Table("t", MetaData(), Column("id", String, primary_key=True))
    )
    table.stage(({}, {"a": {"id": "a"}, "b": {"id": "b"}}, {}))
    cache.commit((2, datetime.now(UTC)))
    assert cache.size == 0
