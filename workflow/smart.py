"""SMART: specifiek, meetbaar, acceptabel, realistisch, tijdgebonden (seed 004 §2.10).

`check_goals` turns the employee's drafts into goals or lists every letter every goal fails.
Acceptable is the one letter a draft cannot meet on its own: it means both sides signed, and
`workflow.decide` enforces it before anything that needs a plan in force.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from events.domain import Goal, Term
from workflow.commands import GoalDraft
from workflow.errors import SmartError, SmartViolation

MAX_YEARS = 5  # medium term ends at five years; beyond is not realistic to plan


def add_years(day: date, years: int) -> date:
    """The same calendar day `years` later (29 February falls back to the 28th)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def term_of(deadline: date, agreed_on: date) -> Term:
    """Short term up to one year after the agreement, medium term beyond."""
    return Term.SHORT if deadline <= add_years(agreed_on, 1) else Term.MEDIUM


def _check_one(draft: GoalDraft, where: str, agreed_on: date) -> list[SmartViolation]:
    problems: list[SmartViolation] = []

    def fail(letter: str, field: str, message: str) -> None:
        problems.append(SmartViolation(letter, f"{where}.{field}", message))

    if not draft.title.strip():
        fail("S", "title", "name the goal: what do you want to learn or improve?")
    if not draft.activity.strip():
        fail("S", "activity", "say which concrete activity you will undertake")
    elif draft.activity.strip().casefold() == draft.title.strip().casefold():
        fail("S", "activity", "the activity repeats the title: say what you will actually do")
    if not draft.result.strip():
        fail("M", "result", "describe the desired result, so that it can be checked")
    support = draft.support
    if not support.is_declared():
        fail(
            "R",
            "support",
            "declare the support needed: own hours, coach hours, budget, a coach or materials",
        )
    for name in ("own_hours", "coach_hours", "budget_eur"):
        value = getattr(support, name)
        if value is not None and not math.isfinite(value):
            fail("R", f"support.{name}", "must be a finite number")
        elif value is not None and value < 0:
            fail("R", f"support.{name}", "cannot be negative")
    if draft.deadline <= agreed_on:
        fail("T", "deadline", f"must lie after the agreement date {agreed_on.isoformat()}")
    elif draft.deadline > add_years(agreed_on, MAX_YEARS):
        fail("R", "deadline", f"lies more than {MAX_YEARS} years ahead: not realistic to plan")
    elif draft.term is not None and draft.term is not term_of(draft.deadline, agreed_on):
        expected = term_of(draft.deadline, agreed_on)
        fail(
            "T",
            "term",
            f"a deadline of {draft.deadline.isoformat()} is {expected.value} term "
            "(short: up to one year; medium: one to five years)",
        )
    return problems


def check_goals(
    drafts: Sequence[GoalDraft], agreed_on: date, existing_ids: Sequence[str]
) -> tuple[Goal, ...]:
    """SMART goals with stable ids, or a SmartError naming every failing letter and field."""
    if not drafts:
        raise SmartError((SmartViolation("S", "goals", "a plan needs at least one goal"),))
    problems: list[SmartViolation] = []
    seen: set[str] = set()
    for index, draft in enumerate(drafts):
        where = f"goals[{index}]"
        problems += _check_one(draft, where, agreed_on)
        if draft.goal_id is not None:
            if draft.goal_id not in existing_ids:
                problems.append(
                    SmartViolation("S", f"{where}.goal_id", f"no goal {draft.goal_id!r} to revise")
                )
            elif draft.goal_id in seen:
                problems.append(
                    SmartViolation("S", f"{where}.goal_id", f"goal {draft.goal_id!r} given twice")
                )
            seen.add(draft.goal_id)
    if problems:
        raise SmartError(tuple(problems))
    return _with_ids(drafts, agreed_on, existing_ids)


def _with_ids(
    drafts: Sequence[GoalDraft], agreed_on: date, existing_ids: Sequence[str]
) -> tuple[Goal, ...]:
    """Keep given ids; number new goals after the highest id the cycle ever used."""
    used = [int(i[1:]) for i in existing_ids if i.startswith("g") and i[1:].isdigit()]
    counter = max(used, default=0)
    goals: list[Goal] = []
    for draft in drafts:
        goal_id = draft.goal_id
        if goal_id is None:
            counter += 1
            goal_id = f"g{counter}"
        goals.append(
            Goal(
                goal_id=goal_id,
                title=draft.title.strip(),
                activity=draft.activity.strip(),
                result=draft.result.strip(),
                deadline=draft.deadline,
                support=draft.support,
                term=draft.term or term_of(draft.deadline, agreed_on),
                starting_level=draft.starting_level,
                reward=draft.reward,
                carried_from=draft.carried_from,
            )
        )
    return tuple(goals)
