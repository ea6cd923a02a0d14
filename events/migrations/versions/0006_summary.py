"""The status page's summary read model: cycles per phase per manager and department; the
indexes its lists page through (`cycles`) and find managers over capacity by (`managers`).

Revision ID: 0006_summary
Revises: 0005_followups
Create Date: 2026-12-01

Written by hand against handlers/projections/summary.py; `test_projection_schema.py` checks
that the migrated schema matches it. The checkpoint starts at 0: on an existing database the
workers fill the new tables from the whole log, as they would after a rebuild.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006_summary"
down_revision: str | Sequence[str] | None = "0005_followups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = 64


#: `cycles` indexes on (key, cycle_id) replace those on the key alone: the status page orders
#: by both, and a page must not sort every tie of its key.
_PAGED = ("employee_id", "next_followup_at")


def upgrade() -> None:
    for key in _PAGED:
        op.drop_index(op.f(f"ix_cycles_{key}"), table_name="cycles")
        op.create_index(op.f(f"ix_cycles_{key}_cycle_id"), "cycles", [key, "cycle_id"])
    # The page lists the managers over capacity, heaviest first, without reading every manager.
    op.create_index(op.f("ix_managers_workload_hours"), "managers", ["workload_hours"])
    op.create_table(
        "summary_people",
        sa.Column("employee_id", sa.String(_ID), nullable=False),
        sa.Column("department", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("employee_id", name=op.f("pk_summary_people")),
    )
    op.create_table(
        "summary_cycles",
        sa.Column("cycle_id", sa.String(_ID), nullable=False),
        sa.Column("employee_id", sa.String(_ID), nullable=False),
        sa.Column("manager_id", sa.String(_ID), nullable=False),
        sa.Column("department", sa.Text(), nullable=True),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("employee_prepared", sa.Boolean(), nullable=False),
        sa.Column("manager_prepared", sa.Boolean(), nullable=False),
        sa.Column("interview_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("employee_signed", sa.Boolean(), nullable=False),
        sa.Column("manager_signed", sa.Boolean(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("cycle_id", name=op.f("pk_summary_cycles")),
    )
    op.create_index(op.f("ix_summary_cycles_employee_id"), "summary_cycles", ["employee_id"])
    op.create_table(
        "summary_counts",
        sa.Column("manager_id", sa.String(_ID), nullable=False),
        sa.Column("department", sa.Text(), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("cycles", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "manager_id", "department", "phase", name=op.f("pk_summary_counts")
        ),
    )
    checkpoints = sa.table(
        "projection_checkpoints",
        sa.column("name", sa.String(64)),
        sa.column("position", sa.BigInteger()),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(
        checkpoints, [{"name": "summary", "position": 0, "updated_at": datetime.now(UTC)}]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_managers_workload_hours"), table_name="managers")
    for key in _PAGED:
        op.drop_index(op.f(f"ix_cycles_{key}_cycle_id"), table_name="cycles")
        op.create_index(op.f(f"ix_cycles_{key}"), "cycles", [key])
    op.execute("DELETE FROM projection_checkpoints WHERE name = 'summary'")
    for table in ("summary_counts", "summary_cycles", "summary_people"):
        op.drop_table(table)
