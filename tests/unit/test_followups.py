"""Which follow-ups a cycle implies, when they go out, and when they become moot."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from events.domain import Side
from tests.unit.builders import (
    INTERVIEW_DAY,
    LAST_DEADLINE,
    at,
    at_phase,
    prepare,
)
from workflow.commands import MarkEvaluationDue
from workflow.decide import decide
from workflow.followups import (
    MARK_EVALUATION_DUE,
    RESTART,
    Calendar,
    FollowUp,
    add_months,
    followups_for,
)
from workflow.phases import Phase
from workflow.policy import Policy, PolicyModel

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
KINGS_DAY = date(2026, 4, 27)


def weekdays_without_kings_day(day: date) -> bool:
    return day.weekday() < 5 and day != KINGS_DAY


CALENDAR = Calendar(AMSTERDAM, weekdays_without_kings_day, send_hour=9)


def kinds(followups: list[FollowUp]) -> list[str]:
    return [followup.kind for followup in followups]


def test_an_invitation_reminds_the_employee_then_escalates_to_the_manager() -> None:
    cycle = at_phase(Phase.INVITATION)
    found = followups_for(cycle.now, Policy(), CALENDAR)
    reminder, escalation = (f for f in found if f.kind.startswith("invitation"))
    assert reminder.recipients == ("employee",)
    assert escalation.recipients == ("manager",)
    # T0 is Monday 5 January: +7 days is Monday 12th, +14 Monday 19th, at 09:00 local time
    assert reminder.due_at == datetime(2026, 1, 12, 9, tzinfo=AMSTERDAM)
    assert escalation.due_at == datetime(2026, 1, 19, 9, tzinfo=AMSTERDAM)


def test_preparation_reminders_go_to_who_has_not_prepared_and_vanish_once_both_did() -> None:
    cycle = at_phase(Phase.PREPARATION)  # the employee prepared; interview on day 14
    found = {f.kind: f for f in followups_for(cycle.now, Policy(), CALENDAR)}
    assert found["preparation.exchange"].recipients == ("manager",)
    interview_day = at(INTERVIEW_DAY).date()
    assert found["preparation.exchange"].due_at.date() == interview_day - timedelta(days=7)
    # two days before is Saturday 17 January: the warning goes out on Friday the 16th
    assert found["preparation.unprepared"].due_at.date() == date(2026, 1, 16)
    cycle.run(prepare(Side.MANAGER, "planning"), at(3))
    assert not [k for k in kinds(followups_for(cycle.now, Policy(), CALENDAR)) if "prep" in k]


def test_a_moved_interview_makes_a_new_key_so_the_old_reminder_is_moot() -> None:
    from workflow.commands import ScheduleInterview

    cycle = at_phase(Phase.PREPARATION)
    before = {f.key for f in followups_for(cycle.now, Policy(), CALENDAR)}
    cycle.run(ScheduleInterview(at(INTERVIEW_DAY + 7)), at(3))
    after = {f.key for f in followups_for(cycle.now, Policy(), CALENDAR)}
    assert before != after
    assert not any("preparation" in key for key in before & after)


def test_reminders_never_fall_on_a_weekend_or_holiday_but_on_the_working_day_before() -> None:
    # Sunday → Friday; Monday 27 April (King's Day) → Friday 24 April
    assert CALENDAR.send_time(date(2026, 1, 11)) == datetime(2026, 1, 9, 9, tzinfo=AMSTERDAM)
    assert CALENDAR.send_time(KINGS_DAY) == datetime(2026, 4, 24, 9, tzinfo=AMSTERDAM)
    assert CALENDAR.send_time(date(2026, 1, 7)).hour == 9


def test_a_plan_in_force_has_quarterly_reviews_deadline_warnings_and_the_evaluation() -> None:
    cycle = at_phase(Phase.PROGRESS_REVIEW)  # signed on day 16; deadlines 30 June, 31 Dec
    found = followups_for(cycle.now, Policy(), CALENDAR)
    reviews = [f for f in found if f.kind == "review.due"]
    assert [f.due_at.month for f in reviews] == [4, 7, 10]
    warnings = [f for f in found if f.kind == "goal.deadline_warning"]
    assert len(warnings) == 2
    assert all(f.due_at.weekday() < 5 for f in warnings)
    (due,) = (f for f in found if f.kind == "evaluation.due")
    assert due.action == MARK_EVALUATION_DUE
    # at the start of the deadline day in UTC (01:00 in Amsterdam): the rules judge the date
    # in UTC, so at local midnight (23:00 UTC the day before) it would be refused
    assert due.due_at == datetime.combine(LAST_DEADLINE, datetime.min.time(), UTC)
    assert decide(cycle.now, MarkEvaluationDue(), due.due_at)


def test_unsigned_plan_reminds_only_the_missing_signer() -> None:
    from tests.unit.builders import AGREEMENT_DAY, two_goals
    from workflow.commands import SignPlan

    cycle = at_phase(Phase.AGREEMENT)
    cycle.run(two_goals(), at(AGREEMENT_DAY))
    cycle.run(SignPlan(Side.EMPLOYEE), at(AGREEMENT_DAY + 1))
    (unsigned,) = (
        f for f in followups_for(cycle.now, Policy(), CALENDAR) if f.kind == "agreement.unsigned"
    )
    assert unsigned.recipients == ("manager",)


def test_evaluation_overdue_escalates_to_hr() -> None:
    cycle = at_phase(Phase.EVALUATION)
    (escalation,) = followups_for(cycle.now, Policy(), CALENDAR)
    assert escalation.kind == "evaluation.escalation"
    assert escalation.recipients == ("hr",)
    assert escalation.due_at.date() <= LAST_DEADLINE + timedelta(days=14)


@pytest.mark.parametrize(
    ("model", "quadrant", "years"),
    [
        (PolicyModel.PERIODIC, None, 2),
        (PolicyModel.ON_DEMAND, None, 5),
        (PolicyModel.ON_DEMAND, "high_potential", 1),
        (PolicyModel.PROBLEM, None, None),
    ],
)
def test_restart_follows_the_policy_model(
    model: PolicyModel, quadrant: str | None, years: int | None
) -> None:
    cycle = at_phase(Phase.COMPLETED)
    restarts = [
        f
        for f in followups_for(cycle.now, Policy(model=model), CALENDAR, quadrant)
        if f.action == RESTART
    ]
    if years is None:
        assert restarts == []
        return
    (restart,) = restarts
    evaluated = cycle.now.evaluated_at
    assert evaluated is not None
    assert restart.due_at.year == evaluated.year + years


def test_closed_cycles_imply_nothing_but_a_restart() -> None:
    assert followups_for(at_phase(Phase.CANCELLED).now, Policy(), CALENDAR) == []


def test_add_months_clips_to_the_end_of_the_month() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)


def test_keys_are_stable_for_the_same_state() -> None:
    cycle = at_phase(Phase.PROGRESS_REVIEW)
    first = followups_for(cycle.now, Policy(), CALENDAR)
    again = followups_for(cycle.now, Policy(), CALENDAR)
    assert first == again
    assert len({f.key for f in first}) == len(first)
