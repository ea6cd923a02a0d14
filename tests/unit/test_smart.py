"""SMART goals (seed 004 §2.4.1, §2.10): every failing letter named with the field to fix."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from events.domain import Progress, Side, Support, Term
from tests.unit.builders import at, at_phase, goal, two_goals
from workflow.commands import GoalDraft, ReviewProgress, SignPlan
from workflow.errors import DomainError, SmartError
from workflow.phases import Phase
from workflow.smart import MAX_YEARS, add_years, check_goals, term_of

AGREED = date(2026, 1, 20)


def violations(*drafts: GoalDraft, existing: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """The (letter, field) pairs check_goals refuses `drafts` with."""
    with pytest.raises(SmartError) as caught:
        check_goals(drafts, AGREED, existing)
    return [(v.letter, v.field) for v in caught.value.violations]


def test_a_smart_goal_passes_with_a_numbered_id_and_derived_term() -> None:
    (only,) = check_goals([goal(deadline=AGREED + timedelta(days=90))], AGREED, ())
    assert only.goal_id == "g1"
    assert only.term is Term.SHORT
    assert only.title == "Excel"


def test_text_fields_are_trimmed() -> None:
    (only,) = check_goals([goal(title=" Excel ", result=" fluent ")], AGREED, ())
    assert (only.title, only.result) == ("Excel", "fluent")


# --- one letter at a time -------------------------------------------------------------------


def test_s_an_empty_title_is_not_specific() -> None:
    assert violations(goal(title="  ", activity="Follow a course")) == [("S", "goals[0].title")]


def test_s_an_empty_activity_is_not_specific() -> None:
    assert violations(goal(activity="")) == [("S", "goals[0].activity")]


def test_s_an_activity_that_repeats_the_title_is_not_specific() -> None:
    assert violations(goal(title="Excel", activity=" excel ")) == [("S", "goals[0].activity")]


def test_m_a_goal_without_a_desired_result_is_not_measurable() -> None:
    assert violations(goal(result=" ")) == [("M", "goals[0].result")]


def test_a_a_plan_signed_by_one_side_is_not_acceptable() -> None:
    # A is the one letter a draft cannot meet alone: only both signatures make a plan acceptable.
    cycle = at_phase(Phase.AGREEMENT)
    cycle.run(two_goals(), at(15))
    cycle.run(SignPlan(Side.MANAGER), at(16))
    with pytest.raises(DomainError, match=r"A \(acceptable\)"):
        cycle.run(ReviewProgress(Progress.ON_TRACK, "ok"), at(16))


def test_r_a_goal_without_declared_support_is_not_realistic() -> None:
    assert violations(goal(support=Support())) == [("R", "goals[0].support")]


@pytest.mark.parametrize("name", ["own_hours", "coach_hours", "budget_eur"])
def test_r_negative_hours_or_budget_are_refused(name: str) -> None:
    negative: dict[str, Any] = {name: -1.0}
    support = replace(Support(coach="Corrie de Jong"), **negative)
    assert violations(goal(support=support)) == [("R", f"goals[0].support.{name}")]


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_r_hours_must_be_a_finite_number(value: float) -> None:
    assert violations(goal(support=Support(own_hours=value))) == [
        ("R", "goals[0].support.own_hours")
    ]


def test_r_a_deadline_more_than_five_years_ahead_is_not_realistic() -> None:
    too_far = add_years(AGREED, MAX_YEARS) + timedelta(days=1)
    assert violations(goal(deadline=too_far)) == [("R", "goals[0].deadline")]


def test_a_deadline_exactly_five_years_ahead_is_medium_term() -> None:
    (only,) = check_goals([goal(deadline=add_years(AGREED, 5))], AGREED, ())
    assert only.term is Term.MEDIUM


def test_t_a_deadline_on_the_agreement_date_is_not_time_bound() -> None:
    assert violations(goal(deadline=AGREED)) == [("T", "goals[0].deadline")]


def test_t_a_deadline_in_the_past_is_not_time_bound() -> None:
    assert violations(goal(deadline=AGREED - timedelta(days=30))) == [("T", "goals[0].deadline")]


def test_t_a_term_that_contradicts_the_deadline_is_refused() -> None:
    in_two_years = add_years(AGREED, 2)
    assert violations(goal(deadline=in_two_years, term=Term.SHORT)) == [("T", "goals[0].term")]


def test_an_explicit_term_that_matches_is_kept() -> None:
    (only,) = check_goals([goal(deadline=add_years(AGREED, 2), term=Term.MEDIUM)], AGREED, ())
    assert only.term is Term.MEDIUM


# --- all violations at once ------------------------------------------------------------------


def test_every_violation_of_every_goal_is_reported_at_once() -> None:
    drafts = (
        goal("Excel"),  # fine
        goal(title="", activity="", result="", support=Support(), deadline=AGREED),
        goal("Planning", support=Support(own_hours=-2), term=Term.MEDIUM),
    )
    with pytest.raises(SmartError) as caught:
        check_goals(drafts, AGREED, ())
    error = caught.value
    assert [(v.letter, v.field) for v in error.violations] == [
        ("S", "goals[1].title"),
        ("S", "goals[1].activity"),
        ("M", "goals[1].result"),
        ("R", "goals[1].support"),
        ("T", "goals[1].deadline"),
        ("R", "goals[2].support.own_hours"),
        ("T", "goals[2].term"),
    ]
    assert error.field == "goals[1].title"
    assert "S (specific): goals[1].title" in str(error)
    assert "T (time-bound): goals[2].term" in str(error)


def test_a_plan_needs_at_least_one_goal() -> None:
    assert violations() == [("S", "goals")]


def test_a_smart_error_is_a_domain_error() -> None:
    with pytest.raises(DomainError):
        check_goals([goal(result="")], AGREED, ())


# --- goal ids -------------------------------------------------------------------------------


def test_new_goals_are_numbered_after_every_id_already_used() -> None:
    goals = check_goals(
        [goal("Excel", goal_id="g2"), goal("Planning"), goal("Presenting")],
        AGREED,
        ("g1", "g2", "g5"),
    )
    assert [g.goal_id for g in goals] == ["g2", "g6", "g7"]


def test_an_unknown_goal_id_cannot_be_revised() -> None:
    assert violations(goal(goal_id="g4"), existing=("g1",)) == [("S", "goals[0].goal_id")]


def test_carried_from_is_kept() -> None:
    (only,) = check_goals([goal(carried_from="c0/g3")], AGREED, ())
    assert only.carried_from == "c0/g3"
    assert only.goal_id == "g1"


# --- terms and years ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "term"),
    [
        (AGREED + timedelta(days=1), Term.SHORT),
        (date(2027, 1, 20), Term.SHORT),  # exactly one year: still short
        (date(2027, 1, 21), Term.MEDIUM),
        (date(2031, 1, 20), Term.MEDIUM),  # five years: medium
    ],
)
def test_term_short_up_to_a_year_medium_beyond(deadline: date, term: Term) -> None:
    assert term_of(deadline, AGREED) is term


@pytest.mark.parametrize(
    ("day", "years", "expected"),
    [
        (date(2024, 2, 29), 1, date(2025, 2, 28)),
        (date(2024, 2, 29), 4, date(2028, 2, 29)),
        (date(2024, 2, 29), 5, date(2029, 2, 28)),
        (date(2026, 3, 1), 2, date(2028, 3, 1)),
        (date(2026, 12, 31), 1, date(2027, 12, 31)),
    ],
)
def test_add_years_falls_back_to_28_february(day: date, years: int, expected: date) -> None:
    assert add_years(day, years) == expected


def test_terms_from_an_agreement_on_29_february() -> None:
    leap = date(2024, 2, 29)
    assert term_of(date(2025, 2, 28), leap) is Term.SHORT
    assert term_of(date(2025, 3, 1), leap) is Term.MEDIUM
    (last,) = check_goals([goal(deadline=date(2029, 2, 28))], leap, ())
    assert last.term is Term.MEDIUM
    too_far = goal(deadline=date(2029, 3, 1))
    with pytest.raises(SmartError) as caught:
        check_goals([too_far], leap, ())
    assert [(v.letter, v.field) for v in caught.value.violations] == [("R", "goals[0].deadline")]
