"""`goals`: one row per SMART goal of each cycle's current plan version.

Title, deadline, term (short: up to a year; medium: one to five years), the support it needs
(own hours, coach hours, budget in euro), the latest progress review, and its status as the
domain defines it (`CycleState.goal_status`): `achieved` or `missed` once evaluated, else `done`
once a review reported it done, else `open`. A new plan version replaces the goals, keeping the
progress of goals it keeps (as `workflow.state.evolve` does).

The title is personal data: it comes from the unsealed `PlanDrafted`, and reads "[erased]" once
the employee is forgotten (`EmployeeForgotten` erases it in place; a rebuild finds the key gone).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Boolean, Column, Date, Float, Integer, MetaData, String, Table, Text

from events.personal import ERASED
from events.schema import UTCDateTime
from handlers.projections.rows import Row
from handlers.projections.schema import ID_LENGTH, parse_time


def goals_table(metadata: MetaData, suffix: str = "") -> Table:
    return Table(
        f"goals{suffix}",
        metadata,
        Column("cycle_id", String(ID_LENGTH), primary_key=True),
        Column("goal_id", String(ID_LENGTH), primary_key=True),
        Column("employee_id", String(ID_LENGTH), nullable=False, index=True),
        Column("ordinal", Integer, nullable=False),
        Column("plan_version", Integer, nullable=False),
        Column("title", Text, nullable=False),
        Column("deadline", Date, nullable=False, index=True),
        Column("term", String(8), nullable=False),
        Column("own_hours", Float, nullable=True),
        Column("coach_hours", Float, nullable=True),
        Column("budget_eur", Float, nullable=True),
        Column("progress", String(16), nullable=True),
        Column("reviewed_at", UTCDateTime, nullable=True),
        Column("achieved", Boolean, nullable=True),
        Column("status", String(16), nullable=False),
    )


def status(goal: Row) -> str:
    """open, done (reported in a review), achieved or missed (after the evaluation)."""
    if goal["achieved"] is not None:
        return "achieved" if goal["achieved"] else "missed"
    return "done" if goal["progress"] == "done" else "open"


def draft(goals: dict[str, Row], cycle: Row, data: dict[str, Any]) -> None:
    """A new plan version: its goals replace the old ones, progress kept for kept goals."""
    drafted: dict[str, Row] = {}
    for ordinal, goal in enumerate(data["goals"]):
        goal_id = goal["goal_id"]
        earlier = goals.get(goal_id)
        support = goal.get("support") or {}
        row = {
            "cycle_id": cycle["cycle_id"],
            "goal_id": goal_id,
            "employee_id": cycle["employee_id"],
            "ordinal": ordinal,
            "plan_version": data["plan_version"],
            "title": goal.get("title") or ERASED,
            "deadline": date.fromisoformat(goal["deadline"]),  # required: no None to pass on
            "term": goal["term"],
            "own_hours": support.get("own_hours"),
            "coach_hours": support.get("coach_hours"),
            "budget_eur": support.get("budget_eur"),
            "progress": None,
            "reviewed_at": None,
            "achieved": None,
            "status": "open",
        }
        if earlier:  # a kept goal keeps its progress (and so its status)
            row["progress"] = earlier["progress"]
            row["reviewed_at"] = earlier["reviewed_at"]
            row["achieved"] = earlier["achieved"]
            row["status"] = status(row)
        drafted[goal_id] = row
    goals.clear()
    goals.update(drafted)


def review(goals: dict[str, Row], data: dict[str, Any]) -> None:
    """A progress review of one goal, or "done" for the whole plan (other plan-wide answers do
    not overrule the goals' own reviews)."""
    goal_id = data.get("goal_id")
    progress = data["progress"]
    if goal_id is None:
        targets = list(goals.values()) if progress == "done" else []
    else:
        targets = [goals[goal_id]] if goal_id in goals else []
    at = parse_time(data["reviewed_at"])
    for goal in targets:
        goal["progress"] = progress
        goal["reviewed_at"] = at
        goal["status"] = status(goal)


def evaluate(goals: dict[str, Row], data: dict[str, Any]) -> None:
    """The evaluation: each named goal achieved or missed."""
    for result in data["results"]:
        goal = goals.get(result["goal_id"])
        if goal is not None:
            goal["achieved"] = bool(result["achieved"])
            goal["status"] = status(goal)


def erase(goals: dict[str, Row]) -> None:
    """The employee was forgotten: their goal titles are personal data no longer readable."""
    for goal in goals.values():
        goal["title"] = ERASED
