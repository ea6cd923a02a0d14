"""Preparation is private until the exchange (seed 001 / 004: exchanged a week before).

Each side prepares alone; the other side sees those talking points only from the exchange
moment (one week before the interview) or as soon as both have submitted, whichever is first.
HR sees everything: it runs the process.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from events.domain import Side
from workflow.state import CycleState

EXCHANGE_BEFORE = timedelta(days=7)


def exchange_moment(state: CycleState) -> datetime | None:
    """When both sides' talking points become visible to each other, if that is known yet."""
    if state.interview_at is None:
        return None
    return state.interview_at - EXCHANGE_BEFORE


def is_exchanged(state: CycleState, now: datetime) -> bool:
    """True once both prepared, or the exchange moment has come, or the talk was held."""
    if state.both_prepared or state.interviews_held > 0:
        return True
    moment = exchange_moment(state)
    return moment is not None and now >= moment


def visible_talking_points(
    state: CycleState, viewer: Side | None, now: datetime
) -> dict[Side, tuple[str, ...]]:
    """The talking points `viewer` may read now; `viewer=None` means HR (or an auditor)."""
    shown: dict[Side, tuple[str, ...]] = {}
    for side, preparation in state.preparations.items():
        if viewer is None or side is viewer or is_exchanged(state, now):
            shown[side] = preparation.talking_points
    return shown
