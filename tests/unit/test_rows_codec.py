"""The rows' own value conversions (`handlers.projections.rows`) store what SQLAlchemy's column
processors would, for every column of every read model, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Boolean, Date, Dialect, Table, create_engine

from events.schema import UTCDateTime
from handlers.projections.registry import PROJECTIONS
from handlers.projections.rows import TableCodec

SQLITE = create_engine("sqlite://").dialect
POSTGRES = create_engine("postgresql+psycopg://").dialect  # no connection is made
TABLES = [table for projection in PROJECTIONS for table in projection.live.tables]


def _sample(table: Table, variant: int) -> dict[str, Any]:
    """A row with a value of each column's type (None where nullable, for odd variants)."""
    row: dict[str, Any] = {}
    for index, column in enumerate(table.columns):
        kind = column.type
        if variant % 2 and column.nullable:
            row[column.name] = None
        elif isinstance(kind, UTCDateTime):
            zone = UTC if variant < 2 else timezone(timedelta(hours=2))
            row[column.name] = datetime(2026, 3, 1, 9, 30, index, variant * 1001, tzinfo=zone)
        elif isinstance(kind, Date):
            row[column.name] = date(2026 + variant, 1 + index % 12, 1 + index)
        elif isinstance(kind, Boolean):
            row[column.name] = bool((index + variant) % 2)
        elif kind.python_type is int:
            row[column.name] = index * 1000 + variant
        elif kind.python_type is float:
            row[column.name] = index + variant / 4
        else:
            row[column.name] = f"{column.name}-{variant}"
    return row


def _sqlalchemy_values(table: Table, dialect: Dialect, row: dict[str, Any]) -> tuple[Any, ...]:
    values = []
    for column in table.columns:
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        value = row[column.name]
        values.append(value if process is None or value is None else process(value))
    return tuple(values)


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES], ids=["sqlite", "postgresql"])
@pytest.mark.parametrize("table", TABLES, ids=[table.name for table in TABLES])
@pytest.mark.parametrize("variant", range(4))
def test_insert_values_are_what_sqlalchemy_would_bind(
    table: Table, dialect: Dialect, variant: int
) -> None:
    row = _sample(table, variant)
    assert TableCodec(table, dialect).insert_values(row) == _sqlalchemy_values(table, dialect, row)


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES], ids=["sqlite", "postgresql"])
def test_booleans_stay_strict(dialect: Dialect) -> None:
    table = next(table for table in TABLES if table.name == "cycles")
    row = _sample(table, 0) | {"employee_prepared": "yes"}
    with pytest.raises(TypeError):
        TableCodec(table, dialect).insert_values(row)
