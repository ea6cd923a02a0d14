"""The scheduler's own tables: every follow-up is a row here, never an APScheduler job.

APScheduler's job store must not be shared between processes and loses one-shot jobs on a
crash (DESIGN.md, Known traps), so the truth about what is due lives in `followups`, claimed
with a lease; APScheduler only runs each process's local polling timer. `outbox` holds the
notifications a fired follow-up sends, until they are delivered (or given up as dead letters).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, String, Table, Text

from events.schema import UTCDateTime, event_metadata

PENDING, CLAIMED, FIRED, MOOT = "pending", "claimed", "fired", "moot"
SENT, DEAD = "sent", "dead"

followups_table = Table(
    "followups",
    event_metadata,
    Column("key", String(200), primary_key=True),
    Column("cycle_id", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("recipients", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("fired_at", UTCDateTime(), nullable=True),
    Column("late_seconds", Integer, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Index("ix_followups_status_due_at", "status", "due_at"),
    Index("ix_followups_cycle_id", "cycle_id"),
)

scheduler_checkpoints_table = Table(
    "scheduler_checkpoints",
    event_metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

outbox_table = Table(
    "outbox",
    event_metadata,
    Column("message_id", String(300), primary_key=True),  # followup key + recipient: stable
    Column("followup_key", String(200), nullable=False),
    Column("cycle_id", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("channel", String(16), nullable=False),  # email | webhook
    Column("recipient", String(64), nullable=False),  # a person id, or "hr"
    Column("due_at", UTCDateTime(), nullable=False),
    Column("late_seconds", Integer, nullable=False, default=0),
    Column("status", String(16), nullable=False),  # pending | sent | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("sent_at", UTCDateTime(), nullable=True),
    Index("ix_outbox_status_next", "status", "next_attempt_at"),
)
