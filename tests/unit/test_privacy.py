"""Preparation is private until the exchange, one week before the interview (seed 001 / 004)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from events.domain import Side
from tests.unit.builders import INTERVIEW_DAY, T0, Cycle, at, drive, prepare, start
from workflow.commands import RecordInterviewHeld, ScheduleInterview
from workflow.privacy import EXCHANGE_BEFORE, exchange_moment, is_exchanged, visible_talking_points
from workflow.state import CycleState

INTERVIEW = at(INTERVIEW_DAY)
EXCHANGE = INTERVIEW - timedelta(days=7)
EMPLOYEE_POINTS = ("wants to become team lead",)
MANAGER_POINTS = ("needs to improve planning",)


def employee_prepared(interview_at: datetime | None = INTERVIEW) -> Cycle:
    """Only the employee prepared (on day 1); the manager has not yet."""
    return drive([(start(interview_at), T0), (prepare(Side.EMPLOYEE, *EMPLOYEE_POINTS), at(1))])


def both_prepared() -> CycleState:
    cycle = employee_prepared()
    cycle.run(prepare(Side.MANAGER, *MANAGER_POINTS), at(2))
    return cycle.now


def test_the_exchange_moment_is_a_week_before_the_interview() -> None:
    assert timedelta(days=7) == EXCHANGE_BEFORE
    assert exchange_moment(employee_prepared().now) == EXCHANGE
    assert exchange_moment(employee_prepared(interview_at=None).now) is None


def test_before_the_exchange_each_side_sees_only_its_own_points() -> None:
    only_employee = employee_prepared().now
    assert visible_talking_points(only_employee, Side.EMPLOYEE, at(2)) == {
        Side.EMPLOYEE: EMPLOYEE_POINTS
    }
    assert visible_talking_points(only_employee, Side.MANAGER, at(2)) == {}


def test_before_the_exchange_the_manager_sees_only_his_own_points() -> None:
    cycle = drive([(start(INTERVIEW), T0), (prepare(Side.MANAGER, *MANAGER_POINTS), at(1))])
    assert visible_talking_points(cycle.now, Side.MANAGER, at(2)) == {Side.MANAGER: MANAGER_POINTS}
    assert visible_talking_points(cycle.now, Side.EMPLOYEE, at(2)) == {}


@pytest.mark.parametrize("viewer", list(Side))
def test_once_both_submitted_both_see_both(viewer: Side) -> None:
    state = both_prepared()
    assert is_exchanged(state, at(2))  # long before the exchange moment
    assert visible_talking_points(state, viewer, at(2)) == {
        Side.EMPLOYEE: EMPLOYEE_POINTS,
        Side.MANAGER: MANAGER_POINTS,
    }


def test_hr_always_sees_all() -> None:
    one = employee_prepared().now
    both = both_prepared()
    assert visible_talking_points(one, None, at(1)) == {Side.EMPLOYEE: EMPLOYEE_POINTS}
    assert visible_talking_points(both, None, at(2)) == {
        Side.EMPLOYEE: EMPLOYEE_POINTS,
        Side.MANAGER: MANAGER_POINTS,
    }


def test_the_exchange_starts_exactly_a_week_before_the_interview() -> None:
    state = employee_prepared().now
    just_before = EXCHANGE - timedelta(microseconds=1)
    assert not is_exchanged(state, just_before)
    assert visible_talking_points(state, Side.MANAGER, just_before) == {}
    assert is_exchanged(state, EXCHANGE)
    assert visible_talking_points(state, Side.MANAGER, EXCHANGE) == {Side.EMPLOYEE: EMPLOYEE_POINTS}
    assert is_exchanged(state, INTERVIEW + timedelta(days=1))


def test_without_an_interview_date_time_alone_does_not_exchange() -> None:
    state = employee_prepared(interview_at=None).now
    assert not is_exchanged(state, at(3650))
    assert visible_talking_points(state, Side.MANAGER, at(3650)) == {}


def test_the_exchange_moment_follows_a_moved_interview() -> None:
    cycle = employee_prepared(interview_at=None)
    cycle.run(ScheduleInterview(at(30)), at(3))
    assert not is_exchanged(cycle.now, at(22))
    assert is_exchanged(cycle.now, at(23))


def test_after_the_interview_was_held_both_see_everything() -> None:
    # Given only the employee prepared, and the interview was held early anyway
    cycle = employee_prepared()
    cycle.run(RecordInterviewHeld(), at(3))
    # Then the manager sees the employee's points even before the exchange moment
    assert at(3) < EXCHANGE
    assert is_exchanged(cycle.now, at(3))
    assert visible_talking_points(cycle.now, Side.MANAGER, at(3)) == {
        Side.EMPLOYEE: EMPLOYEE_POINTS
    }
