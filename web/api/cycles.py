"""`/api/cycles…`: one route per step of the POP cycle (DESIGN.md §5), plus reads."""

from __future__ import annotations

from flask import Response

from events.domain import GoalResult, Progress, Reason, Side, Support, Term
from handlers.history import cycle_history
from handlers.views import cycle_view
from web.access import Action, require_action, require_may_start, require_visible, viewer_side
from web.api import schemas as s
from web.api.blueprint import READ_ERRORS, WRITE_ERRORS, route
from web.api.commands import done, expected_version, reply, send
from web.api.privacy import redact_history
from web.services import current_principal, services
from workflow.commands import (
    DraftPlan,
    GoalDraft,
    RecordEvaluation,
    RecordInterviewHeld,
    ReviewProgress,
    ScheduleInterview,
    SignPlan,
    SubmitPreparation,
)

TAG = "cycles"


@route(
    "post",
    "/cycles",
    tag=TAG,
    ok={201: s.CommandDone},
    errors=WRITE_ERRORS,
    summary="Start a cycle (the invitation)",
)
def start_cycle(body: s.NewCycle, header: s.CommandHeaders) -> Response:
    """HR, or the employee's own manager, invites an employee."""
    web = services()
    principal = current_principal()
    employee = web.popcycle.repository.employee(body.employee_id, "employee_id")
    require_may_start(principal, body.manager_id, employee.manager_id)
    interview_at = web.aware(body.interview_at) if body.interview_at else None
    result = web.popcycle.commands.start_cycle(
        principal.actor,
        body.employee_id,
        body.manager_id,
        Reason(body.reason),
        interview_at,
        idempotency_key=header.idempotency_key,
    )
    response = done(result, 201)
    response.headers["Location"] = f"/api/cycles/{result.cycle_id}"
    return response


@route(
    "get",
    "/cycles/<cycle_id>",
    tag=TAG,
    ok={200: s.Cycle},
    errors=READ_ERRORS,
    summary="A cycle, now or as it stood at `as_of`",
)
def get_cycle(path: s.CyclePath, query: s.AsOfQuery) -> Response:
    """Replayed from the log, so any past moment can be shown exactly."""
    web = services()
    principal = current_principal()
    as_of = web.aware(query.as_of) if query.as_of else None
    state = web.popcycle.repository.cycle(path.cycle_id, as_of)
    require_visible(principal, state)
    view = cycle_view(state, viewer_side(principal), as_of or web.popcycle.clock())
    upcoming = None if as_of else web.queries.next_followup(state.cycle_id)
    view["next_followup"] = None
    if upcoming is not None:
        view["next_followup"] = {
            "kind": upcoming.kind,
            "cycle_id": upcoming.cycle_id,
            "due_at": upcoming.due_at.isoformat(),
            "status": upcoming.status,
            "fired_at": upcoming.fired_at.isoformat() if upcoming.fired_at else None,
        }
    return reply(view, 200, version=state.version)


@route(
    "get",
    "/cycles/<cycle_id>/history",
    tag=TAG,
    ok={200: s.History},
    errors=READ_ERRORS,
    summary="Every event of the cycle: who did what, when, for whom",
)
def get_history(path: s.CyclePath, query: s.AsOfQuery) -> Response:
    web = services()
    principal = current_principal()
    as_of = web.aware(query.as_of) if query.as_of else None
    state = web.popcycle.repository.cycle(path.cycle_id)
    require_visible(principal, state)
    entries = [e.to_json() for e in cycle_history(web.popcycle.repository, path.cycle_id, as_of)]
    side = viewer_side(principal)
    if side is not None:
        entries = redact_history(entries, state, side, web.popcycle.clock())
    return reply({"events": entries}, 200, version=state.version)


@route(
    "post",
    "/cycles/<cycle_id>/preparations",
    tag=TAG,
    ok={200: s.CommandDone},
    errors=WRITE_ERRORS,
    summary="One side's talking points (private until the exchange)",
)
def prepare(path: s.CyclePath, body: s.Preparation, header: s.CommandHeaders) -> Response:
    side = Side(body.author)
    command = SubmitPreparation(side, tuple(body.talking_points))
    return send(path.cycle_id, command, header, Action.PREPARE, side)


@route(
    "post",
    "/cycles/<cycle_id>/interview",
    tag=TAG,
    ok={200: s.CommandDone},
    errors=WRITE_ERRORS,
    summary="Set or move the interview date",
)
def schedule(path: s.CyclePath, body: s.InterviewSchedule, header: s.CommandHeaders) -> Response:
    command = ScheduleInterview(services().aware(body.scheduled_at))
    return send(path.cycle_id, command, header, Action.SCHEDULE)


@route(
    "post",
    "/cycles/<cycle_id>/interview/held",
    tag=TAG,
    ok={200: s.CommandDone},
    errors=WRITE_ERRORS,
    summary="The interview took place",
)
def held(path: s.CyclePath, body: s.InterviewHeld, header: s.CommandHeaders) -> Response:
    web = services()
    command = RecordInterviewHeld(
        web.aware(body.held_at) if body.held_at else None,
        body.summary,
        web.aware(body.follow_up_at) if body.follow_up_at else None,
    )
    return send(path.cycle_id, command, header, Action.HOLD)


@route(
    "post",
    "/cycles/<cycle_id>/agreement",
    tag=TAG,
    ok={200: s.CommandDone},
    errors=WRITE_ERRORS,
    summary="Write (or revise) the plan: SMART goals",
)
def agree(path: s.CyclePath, body: s.Agreement, header: s.CommandHeaders) -> Response:
    goals = tuple(
        GoalDraft(
            title=goal.title,
            activity=goal.activity,
            result=goal.result,
            deadline=goal.deadline,
            support=Support(
                own_hours=goal.support.own_hours,
                coach_hours=goal.support.coach_hours,
                budget_eur=goal.support.budget_eur,
                coach=goal.support.coach,
                materials=goal.support.materials_tuple(),
            ),
            term=Term(goal.term) if goal.term else None,
            starting_level=goal.starting_level,
            reward=goal.reward,
            goal_id=goal.goal_id,
            carried_from=goal.carried_from,
        )
        for goal in body.goals
    )
    return send(path.cycle_id, DraftPlan(goals), header, Action.AGREE)


@route(
    "post",
    "/cycles/<cycle_id>/signatures",
    tag=TAG,
    ok={200: s.CommandDone},
    errors=WRITE_ERRORS,
    summary="Sign the current plan version",
)
def sign(path: s.CyclePath, body: s.Signature, header: s.CommandHeaders) -> Response:
    side = Side(body.signer)
    return send(path.cycle_id, SignPlan(side, body.plan_version), header, Action.SIGN, side)


@route(
    "post",
    "/cycles/<cycle_id>/reviews",
    tag=TAG,
    ok={200: s.CommandDone},
    errors=WRITE_ERRORS,
    summary="A progress review of one goal or the whole plan",
)
def review(path: s.CyclePath, body: s.Review, header: s.CommandHeaders) -> Response:
    command = ReviewProgress(Progress(body.progress), body.note, body.goal_id)
    return send(path.cycle_id, command, header, Action.REVIEW)


@route(
    "post",
    "/cycles/<cycle_id>/evaluation",
    tag=TAG,
    ok={200: s.CommandDone},
    errors=WRITE_ERRORS,
    summary="The evaluation: every goal reached or not",
)
def evaluate(path: s.CyclePath, body: s.Evaluation, header: s.CommandHeaders) -> Response:
    results = tuple(GoalResult(r.goal_id, r.achieved, r.effect) for r in body.results)
    command = RecordEvaluation(results, body.summary)
    return send(path.cycle_id, command, header, Action.EVALUATE)


@route(
    "post",
    "/cycles/<cycle_id>/restart",
    tag=TAG,
    ok={201: s.CommandDone},
    errors=WRITE_ERRORS,
    summary="Open the next cycle (unreached goals come along as proposals)",
)
def restart(path: s.CyclePath, header: s.CommandHeaders) -> Response:
    web = services()
    principal = current_principal()
    pinned = expected_version(header)
    require_action(principal, web.popcycle.repository.cycle(path.cycle_id), Action.RESTART)
    result = web.popcycle.commands.restart(
        principal.actor,
        path.cycle_id,
        expected_version=pinned,
        idempotency_key=header.idempotency_key,
    )
    response = done(result, 201)
    response.headers["Location"] = f"/api/cycles/{result.cycle_id}"
    return response
