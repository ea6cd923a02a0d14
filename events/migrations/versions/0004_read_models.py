"""Read models of the projections: checkpoints, cycles, goals, due, budgets, employees, managers.

Revision ID: 0004_read_models
Revises: 0003_access_tokens
Create Date: 2026-11-23

Written by hand against handlers/projections/*.py; `test_projection_schema.py` checks that the
migrated schema matches them. Frozen: a later change to a read model goes into a new revision
that drops and recreates its tables and resets its checkpoint to 0 (the workers then rebuild
it from the log, which is the point of read models).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0004_read_models"
down_revision: str | Sequence[str] | None = "0003_access_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = 64


def _id(name: str, *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(_ID), nullable=nullable)


def _at(name: str, *, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _index(table: str, *columns: str) -> None:
    op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns))


def upgrade() -> None:
    checkpoints = op.create_table(
        "projection_checkpoints",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        _at("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_projection_checkpoints")),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        checkpoints,
        [
            {"name": "cycles", "position": 0, "updated_at": now},
            {"name": "people", "position": 0, "updated_at": now},
        ],
    )
    op.create_table(
        "cycles",
        _id("cycle_id"),
        _id("employee_id"),
        _id("manager_id"),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _id("previous_cycle_id", nullable=True),
        _id("next_cycle_id", nullable=True),
        _at("invited_at", nullable=False),
        _at("interview_at"),
        sa.Column("interviews_held", sa.Integer(), nullable=False),
        _at("interview_held_at"),
        sa.Column("employee_prepared", sa.Boolean(), nullable=False),
        sa.Column("manager_prepared", sa.Boolean(), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        _at("drafted_at"),
        sa.Column("employee_signed", sa.Boolean(), nullable=False),
        sa.Column("manager_signed", sa.Boolean(), nullable=False),
        _at("signed_at"),
        sa.Column("reviews", sa.Integer(), nullable=False),
        sa.Column("last_deadline", sa.Date(), nullable=True),
        _at("evaluation_due_at"),
        _at("evaluated_at"),
        _at("closed_at"),
        sa.Column("next_followup_kind", sa.String(32), nullable=True),
        _at("next_followup_at"),
        sa.Column("pob_year", sa.Integer(), nullable=True),
        sa.Column("pob_committed_cents", sa.BigInteger(), nullable=False),
        sa.Column("pob_spent_cents", sa.BigInteger(), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("cycle_id", name=op.f("pk_cycles")),
    )
    for column in ("employee_id", "manager_id", "phase", "next_followup_at"):
        _index("cycles", column)
    op.create_table(
        "goals",
        _id("cycle_id"),
        _id("goal_id"),
        _id("employee_id"),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("term", sa.String(8), nullable=False),
        sa.Column("own_hours", sa.Float(), nullable=True),
        sa.Column("coach_hours", sa.Float(), nullable=True),
        sa.Column("budget_eur", sa.Float(), nullable=True),
        sa.Column("progress", sa.String(16), nullable=True),
        _at("reviewed_at"),
        sa.Column("achieved", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("cycle_id", "goal_id", name=op.f("pk_goals")),
    )
    for column in ("employee_id", "deadline"):
        _index("goals", column)
    op.create_table(
        "due",
        _id("cycle_id"),
        sa.Column("kind", sa.String(32), nullable=False),
        _id("goal_id"),
        _id("employee_id"),
        _id("manager_id"),
        _at("due_at", nullable=False),
        sa.Column("all_day", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("cycle_id", "kind", "goal_id", name=op.f("pk_due")),
    )
    for column in ("employee_id", "manager_id", "due_at"):
        _index("due", column)
    op.create_table(
        "budgets",
        _id("employee_id"),
        sa.Column("year", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("allowance_cents", sa.BigInteger(), nullable=True),
        sa.Column("committed_cents", sa.BigInteger(), nullable=False),
        sa.Column("spent_cents", sa.BigInteger(), nullable=False),
        sa.Column("over_committed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("employee_id", "year", name=op.f("pk_budgets")),
    )
    op.create_table(
        "employees",
        _id("employee_id"),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        _id("manager_id", nullable=True),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("department", sa.Text(), nullable=True),
        sa.Column("function", sa.Text(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("left_on", sa.Date(), nullable=True),
        _at("registered_at", nullable=False),
        sa.Column("quadrant", sa.String(16), nullable=True),
        _at("quadrant_recorded_at"),
        _id("latest_cycle_id", nullable=True),
        sa.Column("cycle_open", sa.Boolean(), nullable=False),
        sa.Column("forgotten", sa.Boolean(), nullable=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("employee_id", name=op.f("pk_employees")),
    )
    for column in ("manager_id", "quadrant", "latest_cycle_id"):
        _index("employees", column)
    op.create_table(
        "managers",
        _id("manager_id"),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("reports_in_cycle", sa.Integer(), nullable=False),
        sa.Column("workload_hours", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("manager_id", name=op.f("pk_managers")),
    )


def downgrade() -> None:
    for table in ("managers", "employees", "budgets", "due", "goals", "cycles"):
        op.drop_table(table)
    op.drop_table("projection_checkpoints")
