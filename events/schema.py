"""The event store's tables (SQLAlchemy Core), shared by the store and its Alembic migrations.

Four tables, all in `event_metadata`:

- `events`: the append-only log. `position` is the global order and is assigned by the store
  under the chain-head lock, never by a sequence (see `events.sqlstore` for why).
  UNIQUE(stream_id, version) is the backstop for optimistic concurrency.
- `streams`: each stream's current version, the row optimistic concurrency checks against.
- `log_head`: one row (id=1) holding the last position and its hash. Every append locks it, so
  appends are serialised and positions commit in order.
- `idempotency_keys`: the first result of every command that carried an idempotency key.

Read-model tables of projections live in their own `MetaData`; nothing here depends on them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    insert,
)
from sqlalchemy.engine import Connection
from sqlalchemy.types import CHAR, TypeDecorator

from events.hashing import GENESIS

#: Longest accepted stream id, event type and idempotency key (the column widths).
STREAM_ID_LENGTH = 64
EVENT_TYPE_LENGTH = 100
IDEMPOTENCY_KEY_LENGTH = 255

#: Constraint names are fixed so that migrations and error mapping can rely on them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
STREAM_VERSION_CONSTRAINT = "uq_events_stream_id_version"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL keeps `timestamptz` but hands it back in the session's time zone; SQLite has no
    time zone at all and SQLAlchemy reads its text back naive. So: refuse naive values, store
    UTC (naive on SQLite), and always return an aware UTC datetime.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"refusing a naive datetime {value.isoformat()}: pass an aware one")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite makes an INTEGER PRIMARY KEY the rowid itself: no second index, faster appends and
# range scans. It is 64-bit there, so nothing is lost against PostgreSQL's BIGINT.
Position = BigInteger().with_variant(Integer(), "sqlite")

event_metadata = MetaData(naming_convention=NAMING_CONVENTION)

events_table = Table(
    "events",
    event_metadata,
    Column("position", Position, primary_key=True, autoincrement=False),
    Column("stream_id", String(STREAM_ID_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(EVENT_TYPE_LENGTH), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("data", JSON, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("hash", CHAR(64), nullable=False),
    Column("idempotency_key", String(IDEMPOTENCY_KEY_LENGTH), nullable=True),
    # Also the index for reading a stream: it leads with stream_id, so a second index on
    # stream_id alone would only slow every append down.
    UniqueConstraint("stream_id", "version"),
)

streams_table = Table(
    "streams",
    event_metadata,
    Column("stream_id", String(STREAM_ID_LENGTH), primary_key=True),
    Column("version", Integer, nullable=False),
    # Clustered on the key in SQLite: one B-tree, so an append dirties one page here, not two.
    sqlite_with_rowid=False,
)

log_head_table = Table(
    "log_head",
    event_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("position", BigInteger, nullable=False),
    Column("hash", CHAR(64), nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

idempotency_keys_table = Table(
    "idempotency_keys",
    event_metadata,
    Column("key", String(IDEMPOTENCY_KEY_LENGTH), primary_key=True),
    Column("fingerprint", Text, nullable=True),
    Column("versions", JSON, nullable=False),
    Column("first_position", BigInteger, nullable=False),
    Column("last_position", BigInteger, nullable=False),
    Column("result", JSON, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    sqlite_with_rowid=False,
)

#: The one row of `log_head` in an empty log.
INITIAL_HEAD = {"id": 1, "position": 0, "hash": GENESIS}


@event.listens_for(log_head_table, "after_create")
def _seed_log_head(target: Table, connection: Connection, **_: Any) -> None:
    """Give `metadata.create_all` the head row too, as the first migration does."""
    connection.execute(insert(target).values(**INITIAL_HEAD))
