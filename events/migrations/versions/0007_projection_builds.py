"""Builds aside: the progress of a projection's shadow tables, so that a rebuild — or a catch-up
far behind the head — can be resumed by any process after a crash, exactly once.

Revision ID: 0007_projection_builds
Revises: 0006_summary
Create Date: 2026-12-01

Written by hand against handlers/projections/schema.py (`builds_table`);
`test_projection_schema.py` checks that the migrated schema matches it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_projection_builds"
down_revision: str | Sequence[str] | None = "0006_summary"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "projection_builds",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("target", sa.BigInteger(), nullable=False),
        sa.Column("pass_index", sa.Integer(), nullable=False),
        sa.Column("after_stream", sa.String(64), nullable=False),
        sa.Column("after_position", sa.BigInteger(), nullable=False),
        sa.Column("applied", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_projection_builds")),
    )


def downgrade() -> None:
    op.drop_table("projection_builds")
