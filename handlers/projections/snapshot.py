"""Every row of a projection's tables, in key order: to check that a rebuild equals the live
tables row for row (tests, the benchmark, an operator comparing two databases)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select

from events.database import read_transaction
from handlers.projections.base import Projection


def snapshot(engine: Engine, projections: Sequence[Projection]) -> dict[str, list[tuple[Any, ...]]]:
    """{table name: its rows as tuples, ordered by primary key}, in one read transaction."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with read_transaction(engine) as connection:
        for projection in projections:
            for table in projection.live.tables:
                query = select(table).order_by(*table.primary_key.columns)
                found[table.name] = [tuple(row) for row in connection.execute(query)]
    return found
