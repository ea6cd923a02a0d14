"""The read side's own tables: the checkpoint table, and how read-model tables are declared.

Read models live in their own `MetaData` (not the event store's): they are derived data, can be
dropped and rebuilt at any time, and `pop projections rebuild` builds a second copy of them
beside the live ones. So every read-model module declares its tables through a function
`tables(metadata, suffix)`: with suffix "" the live tables, with `SHADOW_SUFFIX` the copies a
rebuild fills before it swaps them in. Index and constraint names follow the naming convention,
so they derive from the table name and the copies never clash with the live tables.

`projection_checkpoints` holds one row per projection: the global position of the last event
applied. It moves in the same transaction as the read-model rows; that is the whole
exactly-once argument (see `handlers/projections/runner.py`).

`projection_builds` holds one row per projection being built aside (a rebuild, or a catch-up
far behind the head): how far the fill of its shadow tables got. The row moves in the same
transaction as the shadow rows, so a build is exactly-once and resumable by any process, as a
catch-up is (see `handlers/projections/building.py`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table

from events.schema import NAMING_CONVENTION, UTCDateTime

#: Suffix of the tables a rebuild fills before it swaps them in.
SHADOW_SUFFIX = "__next"

#: Longest projection name (the checkpoint's key).
PROJECTION_NAME_LENGTH = 64

#: Column width of ids taken from the log (stream ids are at most 64 characters).
ID_LENGTH = 64

read_model_metadata = MetaData(naming_convention=NAMING_CONVENTION)

checkpoints_table = Table(
    "projection_checkpoints",
    read_model_metadata,
    Column("name", String(PROJECTION_NAME_LENGTH), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

builds_table = Table(
    "projection_builds",
    read_model_metadata,
    Column("name", String(PROJECTION_NAME_LENGTH), primary_key=True),
    #: The log head the fill reads up to (the swap catches up from there).
    Column("target", BigInteger, nullable=False),
    #: Which of the projection's rebuild passes is being filled; one past the last: the fill
    #: is done and the shadow must be finished; two past: finished, ready to swap.
    Column("pass_index", Integer, nullable=False),
    #: Where the current pass stands: the last stream filled (a pass by stream) …
    Column("after_stream", String(ID_LENGTH), nullable=False),
    #: … or the last position filled (a pass by position).
    Column("after_position", BigInteger, nullable=False),
    Column("applied", BigInteger, nullable=False),  # events filled so far (progress)
    Column("total", BigInteger, nullable=False),  # events to fill up to `target`
    Column("started_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)


def shadow_metadata() -> MetaData:
    """A fresh MetaData (same naming convention) for one rebuild's shadow tables."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def parse_time(value: str | None) -> datetime | None:
    """A timestamp from event data (ISO 8601, as `events.codec` writes it), aware."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:  # the codec always writes an offset; be strict about it
        raise ValueError(f"naive timestamp in event data: {value!r}")
    return parsed


def parse_date(value: str | None) -> date | None:
    """A calendar date from event data (ISO 8601)."""
    return None if value is None else date.fromisoformat(value)


def day_start(day: date) -> datetime:
    """A whole-day deadline as a moment: midnight UTC of that day (marked `all_day`)."""
    return datetime.combine(day, time(0), tzinfo=UTC)
