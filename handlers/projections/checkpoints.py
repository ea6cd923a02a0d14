"""A projection's checkpoint: the position of the last event applied, and the lock on it.

Every transaction that changes a projection's tables — a catch-up batch, a step of a build
aside, a swap — first locks its checkpoint row (`SELECT … FOR UPDATE` on PostgreSQL; on SQLite
the `BEGIN IMMEDIATE` of `write_transaction` already holds the database's write lock, and
SQLAlchemy would silently drop a FOR UPDATE there anyway). One lock, always taken first, so
those transactions take turns and never wait for each other crosswise.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from handlers.projections.cache import Tag
from handlers.projections.schema import checkpoints_table

_checkpoint = checkpoints_table.c


def ensure_checkpoint(connection: Connection, name: str) -> None:
    """Create the projection's checkpoint at position 0 if it has none (idempotent)."""
    values = {"name": name, "position": 0, "updated_at": datetime.now(UTC)}
    if connection.dialect.name == "postgresql":
        connection.execute(
            postgresql.insert(checkpoints_table).values(values).on_conflict_do_nothing()
        )
    else:
        connection.execute(sqlite.insert(checkpoints_table).values(values).on_conflict_do_nothing())


def lock_checkpoint(connection: Connection, name: str) -> int:
    """The checkpoint's position, locked until the transaction ends."""
    return lock_checkpoint_tag(connection, name)[0]


def lock_checkpoint_tag(connection: Connection, name: str) -> Tag:
    """The checkpoint's position and when it was moved, locked until the transaction ends."""
    query = select(_checkpoint.position, _checkpoint.updated_at).where(_checkpoint.name == name)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    found = connection.execute(query).first()
    if found is None:
        ensure_checkpoint(connection, name)
        found = connection.execute(query).one()
    return int(found[0]), found[1]


def move_checkpoint(connection: Connection, name: str, position: int) -> Tag:
    """Move the checkpoint; returns its new tag (position, when)."""
    now = datetime.now(UTC)
    connection.execute(
        update(checkpoints_table)
        .where(_checkpoint.name == name)
        .values(position=position, updated_at=now)
    )
    return position, now


def read_checkpoints(connection: Connection) -> dict[str, int]:
    query = select(_checkpoint.name, _checkpoint.position)
    return {str(name): int(position) for name, position in connection.execute(query)}
