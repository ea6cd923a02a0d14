"""Bearer tokens (stored hashed) and secret calendar links per person.

Revision ID: 0003_access_tokens
Revises: 0002_subject_keys
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_access_tokens"
down_revision: str | Sequence[str] | None = "0002_subject_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_tokens",
        sa.Column("token_hash", sa.CHAR(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=True),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_access_tokens")),
    )
    op.create_table(
        "calendar_links",
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.CHAR(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_calendar_links")),
    )


def downgrade() -> None:
    op.drop_table("calendar_links")
    op.drop_table("access_tokens")
