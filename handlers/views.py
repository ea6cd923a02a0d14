"""A cycle's state as JSON for people and clients (CLI `cycle show`, later the HTTP API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cattrs.preconf.json import make_converter

from events.domain import Side
from workflow.decide import allowed_commands
from workflow.privacy import visible_talking_points
from workflow.state import CycleState

_converter = make_converter()


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def cycle_view(state: CycleState, viewer: Side | None, now: datetime) -> dict[str, Any]:
    """The cycle as `viewer` may see it now (None: HR, who sees everything)."""
    return {
        "cycle_id": state.cycle_id,
        "employee_id": state.employee_id,
        "manager_id": state.manager_id,
        "reason": state.reason.value,
        "phase": state.phase.value,
        "version": state.version,
        "invited_at": _iso(state.invited_at),
        "previous_cycle_id": state.previous_cycle_id,
        "next_cycle_id": state.next_cycle_id,
        "interview_at": _iso(state.interview_at),
        "interview_held_at": _iso(state.interview_held_at),
        "preparations": {
            side.value: list(points)
            for side, points in visible_talking_points(state, viewer, now).items()
        },
        "prepared": sorted(side.value for side in state.preparations),
        "plan_version": state.plan_version,
        "signatures": sorted(side.value for side in state.signatures),
        "goals": [
            {**_converter.unstructure(goal), "status": state.goal_status(goal.goal_id)}
            for goal in state.goals
        ],
        "proposals": [_converter.unstructure(goal) for goal in state.proposals],
        "allowed": list(allowed_commands(state)),
        "closed_at": _iso(state.closed_at),
        "cancelled_reason": state.cancelled_reason,
    }
