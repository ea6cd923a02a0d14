"""Which follow-ups a cycle's state implies now: reminders, escalations, evaluation, restart.

Pure: the state, the policy and a working-day calendar go in; a list of follow-ups comes out.
The scheduler recomputes this list when it is about to fire one, so a follow-up made moot by
what happened meanwhile (the employee prepared, the cycle was cancelled) never fires. A key
names one follow-up for good: it changes when its anchor changes (a moved interview, a new
plan version), so that a rescheduled reminder is a new follow-up and the old one is moot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from events.domain import Side
from workflow.phases import Phase
from workflow.policy import Policy
from workflow.smart import add_years
from workflow.state import CycleState

IsWorkingDay = Callable[[date], bool]

# What a follow-up does when it fires.
REMIND = "remind"
MARK_EVALUATION_DUE = "mark_evaluation_due"
RESTART = "restart"


@dataclass(frozen=True, slots=True)
class FollowUp:
    """One follow-up of one cycle: what, when, for whom, and its everlasting key."""

    key: str
    cycle_id: str
    kind: str
    due_at: datetime
    recipients: tuple[str, ...]  # "employee", "manager" or "hr"
    action: str = REMIND


@dataclass(frozen=True, slots=True)
class Calendar:
    """The organisation's working days and hours: the edge where its time zone applies."""

    zone: tzinfo
    is_working_day: IsWorkingDay
    send_hour: int = 9

    def send_time(self, day: date) -> datetime:
        """The local working hour on `day`, or on the last working day before it."""
        for _ in range(31):
            if self.is_working_day(day):
                break
            day -= timedelta(days=1)
        return datetime.combine(day, time(self.send_hour), self.zone)

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clipped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise ValueError(f"no such month: {year}-{month}")


def followups_for(
    state: CycleState, policy: Policy, calendar: Calendar, quadrant: str | None = None
) -> list[FollowUp]:
    """Every follow-up the cycle's current state implies, fired or not, in due order."""
    found: list[FollowUp] = []

    def add(
        kind: str,
        anchor: str,
        day: date,
        recipients: tuple[str, ...],
        *,
        action: str = REMIND,
        at: datetime | None = None,
    ) -> None:
        due = at if at is not None else calendar.send_time(day)
        key = f"{state.cycle_id}:{kind}:{anchor}"
        found.append(FollowUp(key, state.cycle_id, kind, due, recipients, action))

    invited = calendar.local_day(state.invited_at)
    if state.phase is Phase.INVITATION:
        add(
            "invitation.reminder",
            invited.isoformat(),
            invited + timedelta(days=policy.invitation_reminder_days),
            ("employee",),
        )
        add(
            "invitation.escalation",
            invited.isoformat(),
            invited + timedelta(days=policy.invitation_escalation_days),
            ("manager",),
        )
    if (
        state.interview_at is not None
        and state.phase in (Phase.INVITATION, Phase.PREPARATION, Phase.INTERVIEW)
        and not state.both_prepared
    ):
        talk = calendar.local_day(state.interview_at)
        missing = tuple(side.value for side in Side if side not in state.preparations)
        add(
            "preparation.exchange",
            talk.isoformat(),
            talk - timedelta(days=policy.exchange_days_before),
            missing,
        )
        add(
            "preparation.unprepared",
            talk.isoformat(),
            talk - timedelta(days=policy.unprepared_warning_days_before),
            ("manager",),
        )
    if state.phase is Phase.AGREEMENT and state.drafted_at is not None:
        unsigned = tuple(side.value for side in Side if side not in state.signatures)
        drafted = calendar.local_day(state.drafted_at)
        add(
            "agreement.unsigned",
            f"v{state.plan_version}",
            drafted + timedelta(days=policy.unsigned_reminder_days),
            unsigned,
        )
    if state.phase is Phase.PROGRESS_REVIEW and state.signed_plans:
        _in_force(state, policy, calendar, add)
    last = state.last_deadline
    if state.phase is Phase.EVALUATION and last is not None:
        add(
            "evaluation.escalation",
            last.isoformat(),
            last + timedelta(days=policy.evaluation_escalation_days),
            ("hr",),
        )
    if state.phase is Phase.COMPLETED and state.next_cycle_id is None and state.evaluated_at:
        years = policy.restart_years(quadrant)
        if years is not None:
            evaluated = calendar.local_day(state.evaluated_at)
            add(
                "restart",
                f"{policy.model.value}.{years}y",
                add_years(evaluated, years),
                ("hr",),
                action=RESTART,
            )
    return sorted(found, key=lambda followup: (followup.due_at, followup.key))


def _in_force(
    state: CycleState, policy: Policy, calendar: Calendar, add: Callable[..., None]
) -> None:
    """Reviews every few months, a warning before each deadline, the evaluation on the last."""
    signed = calendar.local_day(state.signed_plans[-1].signed_at)
    version = f"v{state.plan_version}"
    last = state.last_deadline
    assert last is not None  # a plan in force has goals
    number = 1
    while (review := add_months(signed, policy.review_interval_months * number)) < last:
        add("review.due", f"{version}.{number}", review, ("employee", "manager"))
        number += 1
    for goal in state.goals:
        if state.goal_status(goal.goal_id) != "open":
            continue
        warning = goal.deadline - timedelta(days=policy.deadline_warning_days)
        if warning > signed:
            add(
                "goal.deadline_warning",
                f"{goal.goal_id}.{goal.deadline.isoformat()}",
                warning,
                ("employee", "manager"),
            )
    # On the day itself, not moved to a working day: the phase changes, nobody is disturbed.
    # Not before the day has begun in UTC either: the rules judge the deadline on that date
    # (east of UTC, local midnight is still the day before, and the step would be refused).
    start_of_day = max(
        datetime.combine(last, time(0), calendar.zone), datetime.combine(last, time(0), UTC)
    )
    add("evaluation.due", last.isoformat(), last, (), action=MARK_EVALUATION_DUE, at=start_of_day)
