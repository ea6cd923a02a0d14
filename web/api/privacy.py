"""The audit trail seen by one side: the other side's talking points stay private until the
exchange (a week before the interview, or once both prepared), exactly as in `GET /cycles/{id}`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from events.domain import Side
from workflow.privacy import is_exchanged
from workflow.state import CycleState

PREPARATION_TYPE = "PreparationSubmitted"


def redact_history(
    entries: list[dict[str, Any]], state: CycleState, viewer: Side, now: datetime
) -> list[dict[str, Any]]:
    """History entries with the other side's unexchanged talking points withheld."""
    if is_exchanged(state, now):
        return entries
    return [_withheld(entry) if _is_others(entry, viewer) else entry for entry in entries]


def _is_others(entry: dict[str, Any], viewer: Side) -> bool:
    return bool(entry["type"] == PREPARATION_TYPE and entry["data"].get("author") != viewer.value)


def _withheld(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "data": {**entry["data"], "talking_points": None, "private": True}}
