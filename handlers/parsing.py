"""Turning outside input (CLI options, JSON bodies) into commands, naming the bad field.

Shared by the `pop` command and the HTTP API so both refuse the same input the same way.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any

from events.domain import GoalResult, Support, Term
from workflow.commands import GoalDraft
from workflow.errors import DomainError


def parse_time(value: str, field: str, zone: tzinfo) -> datetime:
    """An ISO 8601 time; one without an offset is read in the organisation's time zone."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise DomainError(f"not an ISO 8601 time: {value!r}", field=field) from None
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed


def parse_date(value: Any, field: str) -> date:
    """An ISO 8601 calendar date (YYYY-MM-DD)."""
    if not isinstance(value, str):
        raise DomainError("give a date as YYYY-MM-DD", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DomainError(f"not a date (YYYY-MM-DD): {value!r}", field=field) from None


def _text(raw: dict[str, Any], key: str, where: str, *, required: bool) -> str | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise DomainError("is required", field=f"{where}.{key}")
        return None
    if not isinstance(value, str):
        raise DomainError("must be text", field=f"{where}.{key}")
    return value


def _number(raw: dict[str, Any], key: str, where: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DomainError("must be a number", field=f"{where}.{key}")
    return float(value)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DomainError("must be an object", field=where)
    return value


def parse_support(value: Any, where: str) -> Support:
    raw = _object(value if value is not None else {}, where)
    unknown = set(raw) - {"own_hours", "coach_hours", "budget_eur", "coach", "materials"}
    if unknown:
        raise DomainError("unknown field", field=f"{where}.{sorted(unknown)[0]}")
    return Support(
        own_hours=_number(raw, "own_hours", where),
        coach_hours=_number(raw, "coach_hours", where),
        budget_eur=_number(raw, "budget_eur", where),
        coach=_text(raw, "coach", where, required=False),
        materials=_materials(raw.get("materials"), f"{where}.materials"),
    )


def _materials(value: Any, where: str) -> tuple[str, ...]:
    """Learning materials: a list of texts, or one text (one material)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(item for item in value if item.strip())
    raise DomainError("must be a text or a list of texts", field=where)


def parse_goals(value: Any) -> tuple[GoalDraft, ...]:
    """The `goals` list of an agreement, as drafts (SMART is judged later, by the domain)."""
    if not isinstance(value, list):
        raise DomainError("must be a list of goals", field="goals")
    drafts: list[GoalDraft] = []
    for index, item in enumerate(value):
        where = f"goals[{index}]"
        raw = _object(item, where)
        term = raw.get("term")
        if term is not None and term not in {t.value for t in Term}:
            raise DomainError("must be short or medium", field=f"{where}.term")
        drafts.append(
            GoalDraft(
                title=_text(raw, "title", where, required=True) or "",
                activity=_text(raw, "activity", where, required=True) or "",
                result=_text(raw, "result", where, required=True) or "",
                deadline=parse_date(raw.get("deadline"), f"{where}.deadline"),
                support=parse_support(raw.get("support"), f"{where}.support"),
                term=Term(term) if term is not None else None,
                starting_level=_text(raw, "starting_level", where, required=False),
                reward=_text(raw, "reward", where, required=False),
                goal_id=_text(raw, "goal_id", where, required=False),
                carried_from=_text(raw, "carried_from", where, required=False),
            )
        )
    return tuple(drafts)


def parse_results(value: Any) -> tuple[GoalResult, ...]:
    """The `results` list of an evaluation."""
    if not isinstance(value, list):
        raise DomainError("must be a list of results", field="results")
    results: list[GoalResult] = []
    for index, item in enumerate(value):
        where = f"results[{index}]"
        raw = _object(item, where)
        achieved = raw.get("achieved")
        if not isinstance(achieved, bool):
            raise DomainError("must be true or false", field=f"{where}.achieved")
        goal_id = _text(raw, "goal_id", where, required=True) or ""
        results.append(GoalResult(goal_id, achieved, _text(raw, "effect", where, required=False)))
    return tuple(results)
