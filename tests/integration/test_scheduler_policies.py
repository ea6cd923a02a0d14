"""Whole cycles on a moving clock, from invitation to restart, under each policy model."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from events.domain import GoalResult, Reason, Side, Support
from handlers.actor import Actor, Role
from handlers.bootstrap import Popcycle
from scheduler.runner import build_scheduler
from tests.support.apps import database_url, wired
from tests.support.clock import FakeClock
from workflow.commands import (
    DraftPlan,
    GoalDraft,
    RecordEvaluation,
    RecordInterviewHeld,
    SignPlan,
    SubmitPreparation,
)
from workflow.employee import RecordQuadrant, RegisterEmployee, decide_quadrant
from workflow.phases import Phase

HR = Actor("hr-1", Role.HR)
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _walk_to_evaluation(app: Popcycle, clock: FakeClock) -> str:
    """A cycle through preparation, interview and agreement; the scheduler does the rest."""
    commands = app.commands
    commands.register_employee(HR, RegisterEmployee("M1", "Mia", "m@example.nl"))
    commands.register_employee(HR, RegisterEmployee("E1", "Eva", "e@example.nl", "M1"))
    cycle = commands.start_cycle(HR, "E1", "M1", Reason.PERIODIC, START + timedelta(days=14))
    cycle_id = cycle.cycle_id
    assert cycle_id is not None
    commands.handle(HR, cycle_id, SubmitPreparation(Side.EMPLOYEE, ("groeien",)))
    commands.handle(HR, cycle_id, SubmitPreparation(Side.MANAGER, ("planning",)))
    clock.set(START + timedelta(days=14, hours=2))
    commands.handle(HR, cycle_id, RecordInterviewHeld(summary="goed"))
    goal = GoalDraft(
        "Excel", "Cursus volgen", "Rapporten maken", date(2026, 9, 30), Support(own_hours=8)
    )
    commands.handle(HR, cycle_id, DraftPlan((goal,)))
    commands.handle(HR, cycle_id, SignPlan(Side.EMPLOYEE))
    commands.handle(HR, cycle_id, SignPlan(Side.MANAGER))
    return cycle_id


def _run_days(app: Popcycle, clock: FakeClock, until: datetime, step: timedelta) -> None:
    """Move the clock in steps, ticking the scheduler as a running process would."""
    scheduler = build_scheduler(app)
    while clock() < until:
        clock.advance(step)
        scheduler.tick()


@pytest.mark.parametrize(
    ("model", "quadrant", "restart_after_years"),
    [
        ("periodic", None, 2),
        ("on_demand", None, 5),
        ("on_demand", "learner", 1),
        ("problem", None, None),
    ],
)
def test_a_cycle_runs_to_its_restart_under_the_policy_model(
    tmp_path: Path, model: str, quadrant: str | None, restart_after_years: int | None
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(f'model = "{model}"\n', encoding="utf-8")
    clock = FakeClock(START)
    url = database_url("sqlite", tmp_path, None)
    with wired(url, clock, POP_POLICY_FILE=str(policy)) as app:
        cycle = _walk_to_evaluation(app, clock)
        if quadrant:
            app.commands.handle_employee(HR, "E1", RecordQuadrant(quadrant), decide_quadrant)
        # Reviews come every three months; on the deadline the scheduler moves it to evaluation
        _run_days(app, clock, datetime(2026, 10, 2, tzinfo=UTC), timedelta(days=3))
        state = app.repository.cycle(cycle)
        assert state.phase is Phase.EVALUATION
        fired = {f.split(":")[1] for f in state.fired_followups}
        assert {"review.due", "goal.deadline_warning", "evaluation.due"} <= fired
        clock.advance(timedelta(days=1))
        app.commands.handle(HR, cycle, RecordEvaluation((GoalResult("g1", False),)))
        # Then, years later, the policy restarts it (or, under problem signalling, never)
        _run_days(app, clock, clock() + timedelta(days=366 * 6), timedelta(days=30))
        state = app.repository.cycle(cycle)
        if restart_after_years is None:
            assert state.next_cycle_id is None
            return
        assert state.next_cycle_id is not None
        new = app.repository.cycle(state.next_cycle_id)
        evaluated = state.evaluated_at
        assert evaluated is not None
        years = (new.invited_at - evaluated).days / 365.25
        assert restart_after_years - 0.1 < years < restart_after_years + 0.15
        assert new.previous_cycle_id == cycle
        assert [g.carried_from for g in new.proposals] == [f"{cycle}/g1"]
        # What a follow-up does and its firing were one append: another scheduler can never
        # see the cycle moved without the firing (and drop the follow-up as moot)
        acted = _acting_appends(app, cycle)
        assert set(acted) == {"evaluation.due", "restart"}
        assert all(len(types) == 2 and types[-1] == "FollowUpFired" for types in acted.values())


def test_a_revised_plan_keeping_its_last_deadline_is_still_moved_to_evaluation(
    tmp_path: Path,
) -> None:
    clock = FakeClock(START)
    with wired(database_url("sqlite", tmp_path, None), clock) as app:
        cycle = _walk_to_evaluation(app, clock)
        build_scheduler(app).tick()  # evaluation.due is pending for 30 September
        # When the plan is revised (same goal, same deadline) and signed again weeks later
        clock.advance(timedelta(days=40))
        revised = GoalDraft(
            "Excel",
            "Cursus en oefenopdrachten",
            "Rapporten maken",
            date(2026, 9, 30),
            Support(own_hours=16),
            goal_id="g1",
        )
        app.commands.handle(HR, cycle, DraftPlan((revised,)))
        build_scheduler(app).tick()  # in agreement: the evaluation is not due, the row moot
        app.commands.handle(HR, cycle, SignPlan(Side.EMPLOYEE))
        app.commands.handle(HR, cycle, SignPlan(Side.MANAGER))
        # Then on the deadline the scheduler still moves it to evaluation
        _run_days(app, clock, datetime(2026, 10, 2, tzinfo=UTC), timedelta(days=3))
        assert app.repository.cycle(cycle).phase is Phase.EVALUATION


def _acting_appends(app: Popcycle, cycle_id: str) -> dict[str, list[str]]:
    """For each follow-up that acted on the cycle: the event types of the append it was in."""
    events = list(app.store.read_stream(f"cycle-{cycle_id}"))
    by_append: dict[str | None, list[str]] = {}
    for event in events:
        by_append.setdefault(event.metadata.causation_id, []).append(event.type)
    acting = {"evaluation.due", "restart"}
    return {
        data["kind"]: by_append[event.metadata.causation_id]
        for event, data in app.repository.unsealed(events)
        if event.type == "FollowUpFired" and data["kind"] in acting
    }
