"""The scheduler's follow-ups, its checkpoint, and the notification outbox.

Revision ID: 0005_followups
Revises: 0004_read_models
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_followups"
down_revision: str | Sequence[str] | None = "0004_read_models"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    when = sa.DateTime(timezone=True)
    op.create_table(
        "followups",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("cycle_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("due_at", when, nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", when, nullable=True),
        sa.Column("fired_at", when, nullable=True),
        sa.Column("late_seconds", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_followups")),
    )
    op.create_index("ix_followups_status_due_at", "followups", ["status", "due_at"])
    op.create_index("ix_followups_cycle_id", "followups", ["cycle_id"])
    op.create_table(
        "scheduler_checkpoints",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_checkpoints")),
    )
    op.create_table(
        "outbox",
        sa.Column("message_id", sa.String(300), nullable=False),
        sa.Column("followup_key", sa.String(200), nullable=False),
        sa.Column("cycle_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("due_at", when, nullable=False),
        sa.Column("late_seconds", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", when, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", when, nullable=True),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_outbox")),
    )
    op.create_index("ix_outbox_status_next", "outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("scheduler_checkpoints")
    op.drop_table("followups")
