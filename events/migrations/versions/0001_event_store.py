"""The event store: events, streams, log_head, idempotency_keys.

Revision ID: 0001_event_store
Revises:
Create Date: 2025-01-01

Written by hand against events/schema.py; `test_store_contract.py` checks that the migrated
schema matches it. Frozen: later changes go into new revisions, never here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_event_store"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64


def upgrade() -> None:
    position = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "events",
        sa.Column("position", position, nullable=False, autoincrement=False),
        sa.Column("stream_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hash", sa.CHAR(64), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_events")),
        sa.UniqueConstraint("stream_id", "version", name=op.f("uq_events_stream_id_version")),
    )
    op.create_table(
        "streams",
        sa.Column("stream_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", name=op.f("pk_streams")),
        sqlite_with_rowid=False,
    )
    log_head = op.create_table(
        "log_head",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.CHAR(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_head")),
        sa.CheckConstraint("id = 1", name=op.f("ck_log_head_single_row")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=True),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("first_position", sa.BigInteger(), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_idempotency_keys")),
        sqlite_with_rowid=False,
    )
    op.bulk_insert(log_head, [{"id": 1, "position": 0, "hash": GENESIS}])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("log_head")
    op.drop_table("streams")
    op.drop_table("events")
