"""`due`: the follow-up dates each cycle's state implies, for the scheduler and the calendars.

One row per (cycle, kind, goal): recomputed from the cycle's state after every batch that
touched it, so a row disappears as soon as what it asked for happened (the interview was held,
the goal is done, the cycle was cancelled).

- `preparation`: while the interview is scheduled, the first talk not held and not both sides
  prepared — one week before the interview (the talking points are exchanged then: seed 004,
  `workflow.privacy`).
- `interview`: in phase invitation, preparation or interview, once it has a date — the talk.
- `goal_deadline` (one per goal): while the plan is in force (progress reviews) and the goal
  still open — the goal's deadline, a whole day.
- `evaluation`: while the plan is in force — the last goal deadline, a whole day; in phase
  evaluation — when it was marked due.

Whole-day deadlines are dates in the organisation's calendar; they are stored as midnight UTC of
that date with `all_day` set, and the scheduler applies the organisation's time zone. When a
reminder goes out (a week before, at a working hour…) is the scheduler's policy, not this
table's: these are the facts it reasons from.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, MetaData, String, Table

from events.schema import UTCDateTime
from handlers.projections.cycles import CycleFold
from handlers.projections.rows import Row
from handlers.projections.schema import ID_LENGTH, day_start
from workflow.phases import Phase
from workflow.privacy import EXCHANGE_BEFORE

#: Kinds in the order a cycle meets them (breaks ties between equal dates).
KINDS = ("preparation", "interview", "goal_deadline", "evaluation")
_ORDER = {kind: index for index, kind in enumerate(KINDS)}
#: Phases as the rows hold them (plain strings: cheaper to compare than the enum members).
_BEFORE_INTERVIEW = frozenset(
    {Phase.INVITATION.value, Phase.PREPARATION.value, Phase.INTERVIEW.value}
)
_PROGRESS_REVIEW = Phase.PROGRESS_REVIEW.value
_EVALUATION = Phase.EVALUATION.value


def due_table(metadata: MetaData, suffix: str = "") -> Table:
    return Table(
        f"due{suffix}",
        metadata,
        Column("cycle_id", String(ID_LENGTH), primary_key=True),
        Column("kind", String(32), primary_key=True),
        # "" when the follow-up is about the whole cycle (a key column cannot be NULL).
        Column("goal_id", String(ID_LENGTH), primary_key=True),
        Column("employee_id", String(ID_LENGTH), nullable=False, index=True),
        Column("manager_id", String(ID_LENGTH), nullable=False, index=True),
        Column("due_at", UTCDateTime, nullable=False, index=True),
        Column("all_day", Boolean, nullable=False),
    )


def due_rows(cycle: CycleFold) -> list[Row]:
    """The follow-ups the cycle's current state implies."""
    row = cycle.row
    phase = row["phase"]
    found: list[Row] = []

    def add(kind: str, at: datetime, *, all_day: bool, goal_id: str = "") -> None:
        found.append(
            {
                "cycle_id": row["cycle_id"],
                "kind": kind,
                "goal_id": goal_id,
                "employee_id": row["employee_id"],
                "manager_id": row["manager_id"],
                "due_at": at,
                "all_day": all_day,
            }
        )

    interview_at = row["interview_at"]
    if phase in _BEFORE_INTERVIEW and interview_at is not None:
        both = row["employee_prepared"] and row["manager_prepared"]
        if row["interviews_held"] == 0 and not both:
            add("preparation", interview_at - EXCHANGE_BEFORE, all_day=False)
        add("interview", interview_at, all_day=False)
    elif phase == _PROGRESS_REVIEW:
        for goal in cycle.goals.values():
            if goal["status"] == "open":
                add(
                    "goal_deadline",
                    day_start(goal["deadline"]),
                    all_day=True,
                    goal_id=goal["goal_id"],
                )
        if row["last_deadline"] is not None:
            add("evaluation", day_start(row["last_deadline"]), all_day=True)
    elif phase == _EVALUATION and row["evaluation_due_at"] is not None:
        add("evaluation", row["evaluation_due_at"], all_day=False)
    return found


def next_followup(rows: list[Row]) -> tuple[str | None, datetime | None]:
    """The earliest follow-up (kind, due_at), or (None, None)."""
    if not rows:
        return None, None
    first = min(rows, key=lambda due: (due["due_at"], _ORDER[due["kind"]], due["goal_id"]))
    return first["kind"], first["due_at"]
