"""`cycles`: one row per POP cycle — who, which phase, which version, the dates that matter.

The fold mirrors `workflow.state.evolve` field for field (phase rules included) on a plain dict,
because a projection applies tens of thousands of events a second and decoding every event into
domain objects would cost more than everything else together. `tests/integration/
test_projection_models.py` checks the two against each other on random workloads.

Columns a person reads: employee_id, manager_id, reason, phase, version, invited_at,
interview_at, interview_held_at, signed_at (the plan came into force: both signed), drafted_at,
evaluation_due_at, evaluated_at, closed_at, last_deadline, and `next_followup_kind` /
`next_followup_at`: the earliest row of `due` for the cycle. Whether a cycle is *overdue*
depends on the time of asking, so it is not a column (a projection never reads the clock):
`overdue(now)` is the predicate `next_followup_at < now`.

The `pob_*` columns hold this cycle's share of the personal development budget (see
`budgets.py`), so a later batch can take back exactly what an earlier one added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.sql.elements import ColumnElement

from events.schema import UTCDateTime
from handlers.projections import goals as goal_fold
from handlers.projections.changes import Change
from handlers.projections.rows import Row
from handlers.projections.schema import ID_LENGTH, parse_time
from workflow.phases import Phase

CYCLE_PREFIX = "cycle-"

# The phases' values as plain strings: the fold runs per event, and `Phase.X.value` is an enum
# descriptor call each time (the rows hold the strings; a StrEnum compares equal to them).
_INVITATION = Phase.INVITATION.value
_PREPARATION = Phase.PREPARATION.value
_INTERVIEW = Phase.INTERVIEW.value
_AGREEMENT = Phase.AGREEMENT.value
_PROGRESS_REVIEW = Phase.PROGRESS_REVIEW.value
_EVALUATION = Phase.EVALUATION.value
_COMPLETED = Phase.COMPLETED.value
_CANCELLED = Phase.CANCELLED.value
#: The column a side's talking points or signature sets (no key text to build and hash per event).
_PREPARED = {"employee": "employee_prepared", "manager": "manager_prepared"}
_SIGNED = {"employee": "employee_signed", "manager": "manager_signed"}


def cycles_table(metadata: MetaData, suffix: str = "") -> Table:
    return Table(
        f"cycles{suffix}",
        metadata,
        Column("cycle_id", String(ID_LENGTH), primary_key=True),
        Column("employee_id", String(ID_LENGTH), nullable=False),
        Column("manager_id", String(ID_LENGTH), nullable=False, index=True),
        Column("reason", String(16), nullable=False),
        Column("phase", String(16), nullable=False, index=True),
        Column("version", Integer, nullable=False),
        Column("previous_cycle_id", String(ID_LENGTH), nullable=True),
        Column("next_cycle_id", String(ID_LENGTH), nullable=True),
        Column("invited_at", UTCDateTime, nullable=False),
        Column("interview_at", UTCDateTime, nullable=True),
        Column("interviews_held", Integer, nullable=False),
        Column("interview_held_at", UTCDateTime, nullable=True),
        Column("employee_prepared", Boolean, nullable=False),
        Column("manager_prepared", Boolean, nullable=False),
        Column("plan_version", Integer, nullable=False),
        Column("drafted_at", UTCDateTime, nullable=True),
        Column("employee_signed", Boolean, nullable=False),
        Column("manager_signed", Boolean, nullable=False),
        Column("signed_at", UTCDateTime, nullable=True),
        Column("reviews", Integer, nullable=False),
        Column("last_deadline", Date, nullable=True),
        Column("evaluation_due_at", UTCDateTime, nullable=True),
        Column("evaluated_at", UTCDateTime, nullable=True),
        Column("closed_at", UTCDateTime, nullable=True),
        Column("next_followup_kind", String(32), nullable=True),
        Column("next_followup_at", UTCDateTime, nullable=True),
        Column("pob_year", Integer, nullable=True),
        Column("pob_committed_cents", BigInteger, nullable=False),
        Column("pob_spent_cents", BigInteger, nullable=False),
        Column("last_position", BigInteger, nullable=False),
        # The status page pages through these in (key, cycle_id) order (web/read_models.py).
        Index(f"ix_cycles{suffix}_employee_id_cycle_id", "employee_id", "cycle_id"),
        Index(f"ix_cycles{suffix}_next_followup_at_cycle_id", "next_followup_at", "cycle_id"),
    )


def overdue(table: Table, now: datetime) -> ColumnElement[bool]:
    """The cycles whose next follow-up is past at `now` (a query-time predicate)."""
    return table.c.next_followup_at < now


@dataclass(slots=True)
class CycleFold:
    """A cycle being folded: its row and its current plan's goals (by goal id, in order)."""

    row: Row
    goals: dict[str, Row] = field(default_factory=dict)

    @property
    def in_force(self) -> bool:
        """Acceptable: the current plan version is signed by both sides (as the domain says)."""
        row = self.row
        return bool(row["plan_version"] > 0 and row["employee_signed"] and row["manager_signed"])


#: A started cycle's row before its own values go in (in column order: the rows' key order).
_STARTED: Row = {
    "cycle_id": None,
    "employee_id": None,
    "manager_id": None,
    "reason": None,
    "phase": _INVITATION,
    "version": None,
    "previous_cycle_id": None,
    "next_cycle_id": None,
    "invited_at": None,
    "interview_at": None,
    "interviews_held": 0,
    "interview_held_at": None,
    "employee_prepared": False,
    "manager_prepared": False,
    "plan_version": 0,
    "drafted_at": None,
    "employee_signed": False,
    "manager_signed": False,
    "signed_at": None,
    "reviews": 0,
    "last_deadline": None,
    "evaluation_due_at": None,
    "evaluated_at": None,
    "closed_at": None,
    "next_followup_kind": None,
    "next_followup_at": None,
    "pob_year": None,
    "pob_committed_cents": 0,
    "pob_spent_cents": 0,
    "last_position": None,
}


def new_cycle(change: Change) -> CycleFold:
    """The row a `CycleStarted` makes: a copy of `_STARTED` (cheaper than building every key)."""
    position, _stream_id, version, _kind, data = change
    row = _STARTED.copy()
    row["cycle_id"] = data["cycle_id"]
    row["employee_id"] = data["employee_id"]
    row["manager_id"] = data["manager_id"]
    row["reason"] = data["reason"]
    row["version"] = version
    row["previous_cycle_id"] = data.get("previous_cycle_id")
    row["invited_at"] = parse_time(data["invited_at"])
    row["last_position"] = position
    return CycleFold(row)


def fold(cycle: CycleFold, change: Change) -> None:
    """Apply one cycle event (not the first) to `cycle`, as `workflow.state.evolve` would."""
    position, _stream_id, version, kind, data = change  # one unpacking: cheaper than 4 lookups
    row = cycle.row
    row["version"] = version
    row["last_position"] = position
    step = _STEPS.get(kind)
    if step is not None:
        step(cycle, data)


def cents(amount_eur: float | None) -> int:
    return 0 if amount_eur is None else round(amount_eur * 100)


def settle_share(cycle: CycleFold) -> None:
    """Move the cycle's POB share (`budgets.py`) after an event that may change it.

    While the plan is in force: its goals' budgets, spent as far as their activity is finished,
    in the year it came into force. While a revision awaits signatures: unchanged (the earlier
    contract binds). Cancelled: what was not spent is released.
    """
    row = cycle.row
    if cycle.in_force:
        signed_at = row["signed_at"]
        # Parsed event times are in UTC nearly always: no conversion needed for the year.
        row["pob_year"] = (signed_at if signed_at.tzinfo is UTC else signed_at.astimezone(UTC)).year
        committed = spent = 0
        for goal in cycle.goals.values():
            amount = goal["budget_eur"]
            if amount is not None:
                amount = round(amount * 100)
                committed += amount
                if goal["status"] != "open":
                    spent += amount
        row["pob_committed_cents"] = committed
        row["pob_spent_cents"] = spent
    if row["phase"] == _CANCELLED:
        row["pob_committed_cents"] = row["pob_spent_cents"]


def _after_preparation(row: Row) -> str:
    """Invitation → preparation at the first talking points; → interview when also scheduled."""
    phase: str = row["phase"]
    if phase not in (_INVITATION, _PREPARATION):
        return phase
    if row["employee_prepared"] and row["manager_prepared"] and row["interview_at"] is not None:
        return _INTERVIEW
    if row["employee_prepared"] or row["manager_prepared"]:
        return _PREPARATION
    return _INVITATION


def _prepared(cycle: CycleFold, data: dict[str, Any]) -> None:
    cycle.row[_PREPARED[data["author"]]] = True
    cycle.row["phase"] = _after_preparation(cycle.row)


def _scheduled(cycle: CycleFold, data: dict[str, Any]) -> None:
    cycle.row["interview_at"] = parse_time(data["scheduled_at"])
    cycle.row["phase"] = _after_preparation(cycle.row)


def _held(cycle: CycleFold, data: dict[str, Any]) -> None:
    row = cycle.row
    row["interviews_held"] += 1
    row["interview_held_at"] = parse_time(data["held_at"])
    follow_up = parse_time(data.get("follow_up_at"))
    if follow_up is not None:
        row["interview_at"] = follow_up
        row["phase"] = _INTERVIEW
    else:
        row["phase"] = _AGREEMENT


def _drafted(cycle: CycleFold, data: dict[str, Any]) -> None:
    row = cycle.row
    row["plan_version"] = data["plan_version"]
    row["drafted_at"] = parse_time(data["drafted_at"])
    row["employee_signed"] = row["manager_signed"] = False
    row["phase"] = _AGREEMENT
    goal_fold.draft(cycle.goals, row, data)
    row["last_deadline"] = max((goal["deadline"] for goal in cycle.goals.values()), default=None)


def _signed(cycle: CycleFold, data: dict[str, Any]) -> None:
    row = cycle.row
    row[_SIGNED[data["signer"]]] = True
    if cycle.in_force:
        row["signed_at"] = parse_time(data["signed_at"])
        row["phase"] = _PROGRESS_REVIEW
        settle_share(cycle)


def _reviewed(cycle: CycleFold, data: dict[str, Any]) -> None:
    cycle.row["reviews"] += 1
    goal_fold.review(cycle.goals, data)
    settle_share(cycle)


def _evaluation_due(cycle: CycleFold, data: dict[str, Any]) -> None:
    cycle.row["phase"] = _EVALUATION
    cycle.row["evaluation_due_at"] = parse_time(data["due_at"])


def _evaluated(cycle: CycleFold, data: dict[str, Any]) -> None:
    row = cycle.row
    at = parse_time(data["evaluated_at"])
    row["evaluated_at"] = row["closed_at"] = at
    row["phase"] = _COMPLETED
    goal_fold.evaluate(cycle.goals, data)
    settle_share(cycle)


def _restarted(cycle: CycleFold, data: dict[str, Any]) -> None:
    cycle.row["next_cycle_id"] = data["new_cycle_id"]


def _cancelled(cycle: CycleFold, data: dict[str, Any]) -> None:
    cycle.row["phase"] = _CANCELLED
    cycle.row["closed_at"] = parse_time(data["cancelled_at"])
    settle_share(cycle)


def _manager_changed(cycle: CycleFold, data: dict[str, Any]) -> None:
    # The new manager's signature is the one that counts: a plan not yet in force loses the
    # old manager's signature; a plan in force stays in force.
    if not cycle.in_force:
        cycle.row["manager_signed"] = False
    cycle.row["manager_id"] = data["manager_id"]


_STEPS: dict[str, Callable[[CycleFold, dict[str, Any]], None]] = {
    "PreparationSubmitted": _prepared,
    "InterviewScheduled": _scheduled,
    "InterviewHeld": _held,
    "PlanDrafted": _drafted,
    "PlanSigned": _signed,
    "ProgressReviewed": _reviewed,
    "EvaluationDue": _evaluation_due,
    "EvaluationRecorded": _evaluated,
    "CycleRestarted": _restarted,
    "CycleCancelled": _cancelled,
    "CycleManagerChanged": _manager_changed,
    # FollowUpFired only moves the version.
}

#: Every event type on a cycle's stream (the ones without a step only move the version).
CYCLE_EVENT_TYPES = frozenset({"CycleStarted", "FollowUpFired", *_STEPS})
