"""The read models' schema: the migration makes what the code declares, before and after a
rebuild's swap, on SQLite and PostgreSQL; and the fast SQLite time codec stores what SQLAlchemy
would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from events.database import make_engine, read_transaction
from events.schema import UTCDateTime
from handlers.bootstrap import Popcycle
from handlers.projections.registry import PROJECTIONS
from handlers.projections.rows import sqlite_text_to_time, sqlite_time_to_text
from handlers.projections.schema import builds_table, checkpoints_table, read_model_metadata
from handlers.projections.service import ProjectionService
from tests.integration.test_projection_models import app  # noqa: F401 - fixture

OURS = {checkpoints_table.name, builds_table.name} | {
    t.name for p in PROJECTIONS for t in p.live.tables
}


def _differences(engine: Any) -> list[Any]:
    def only_ours(name: str | None, type_: str, _parent: Any) -> bool:
        return type_ != "table" or name in OURS

    with read_transaction(engine) as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": only_ours}
        )
        return list(compare_metadata(context, read_model_metadata))


def test_migration_matches_the_read_models_before_and_after_a_rebuild(app: Popcycle) -> None:  # noqa: F811
    assert _differences(app.engine) == []
    ProjectionService.from_app(app).rebuild()  # swaps tables, renames indexes and keys
    assert _differences(app.engine) == []
    with read_transaction(app.engine) as connection:
        names = set(inspect(connection).get_table_names())
    assert names >= OURS
    assert not any(name.endswith("__next") for name in names)


def test_checkpoints_start_at_zero(app: Popcycle) -> None:  # noqa: F811
    lags = ProjectionService.from_app(app).lag()
    assert {(lag.name, lag.position, lag.events_behind) for lag in lags} == {
        ("cycles", 0, 0),
        ("people", 0, 0),
        ("summary", 0, 0),
    }


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
        datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC),
        datetime(2026, 10, 25, 2, 30, 5, 7, tzinfo=timezone(timedelta(hours=2))),
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_fast_sqlite_time_codec_agrees_with_sqlalchemy(moment: datetime, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    try:
        dialect = engine.dialect
        impl = UTCDateTime().dialect_impl(dialect)
        bind, result = impl.bind_processor(dialect), impl.result_processor(dialect, None)
        assert bind is not None
        assert result is not None
        assert sqlite_time_to_text(moment) == bind(moment)
        assert sqlite_text_to_time(sqlite_time_to_text(moment)) == result(bind(moment)) == moment
        assert sqlite_text_to_time(sqlite_time_to_text(moment)).tzinfo == UTC
    finally:
        engine.dispose()


def test_fast_sqlite_time_codec_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="naive"):
        sqlite_time_to_text(datetime(2026, 1, 1, 12, 0))


def test_the_projections_read_every_event_type_of_the_domain() -> None:
    """A new event type must reach the read side: a cycle's version counts every event."""
    from events.domain import CYCLE_EVENT_TYPES, EMPLOYEE_EVENT_TYPES
    from handlers.projections.cycles import CYCLE_EVENT_TYPES as PROJECTED_CYCLE_TYPES
    from handlers.projections.employees import EMPLOYEE_EVENT_TYPES as PROJECTED_PERSON_TYPES

    assert {cls.__name__ for cls in CYCLE_EVENT_TYPES} == PROJECTED_CYCLE_TYPES
    # BudgetAllowanceSet is the budgets' (cycles projection), the rest the people's.
    assert {cls.__name__ for cls in EMPLOYEE_EVENT_TYPES} == PROJECTED_PERSON_TYPES | {
        "BudgetAllowanceSet"
    }
