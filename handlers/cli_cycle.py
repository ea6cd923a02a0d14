"""`pop cycle …` and `pop history`: one subcommand per step of the POP cycle."""

from __future__ import annotations

import json
from typing import Any

import click

from events.domain import Progress, Reason, Side
from handlers.cli_context import Context, echo_result, pass_context
from handlers.parsing import parse_goals, parse_results, parse_time
from handlers.views import cycle_view
from workflow.commands import (
    CancelCycle,
    CycleCommand,
    DraftPlan,
    RecordEvaluation,
    RecordInterviewHeld,
    ReviewProgress,
    ScheduleInterview,
    SignPlan,
    SubmitPreparation,
)
from workflow.diff import diff_states
from workflow.errors import DomainError, NotFound

SIDES = click.Choice([side.value for side in Side])
common = [
    click.option(
        "--if-version", "expected_version", type=int, help="Refuse unless at this version."
    ),
    click.option("--idempotency-key", help="Makes a retried call safe: the first result returns."),
    click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
]


def with_common(function: Any) -> Any:
    for option in reversed(common):
        function = option(function)
    return function


def _send(
    context: Context,
    cycle_id: str,
    command: CycleCommand,
    expected_version: int | None,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    result = context.app.commands.handle(
        context.actor,
        cycle_id,
        command,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
    )
    echo_result(result, as_json=as_json)


def _time(context: Context, value: str | None, field: str) -> Any:
    return None if value is None else parse_time(value, field, context.settings.timezone)


def _json_input(path: str, field: str) -> Any:
    """JSON from a file, or from stdin for '-'."""
    try:
        with click.open_file(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as error:
        raise DomainError(f"cannot read {path}: {error.strerror}", field=field) from None
    except json.JSONDecodeError as error:
        raise DomainError(
            f"{path} is not valid JSON: {error.msg} at line {error.lineno}", field=field
        ) from None


@click.group()
def cycle() -> None:
    """Run a POP cycle step by step."""


@cycle.command("start")
@click.option("--employee", "employee_id", required=True)
@click.option("--manager", "manager_id", required=True)
@click.option(
    "--reason", type=click.Choice([r.value for r in Reason]), default="periodic", show_default=True
)
@click.option("--interview-at", help="Schedule the POP-gesprek right away (ISO 8601).")
@click.option("--idempotency-key")
@click.option("--json", "as_json", is_flag=True)
@pass_context
def start(
    context: Context,
    employee_id: str,
    manager_id: str,
    reason: str,
    interview_at: str | None,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Invite an employee to a new cycle; prints the cycle id."""
    result = context.app.commands.start_cycle(
        context.actor,
        employee_id,
        manager_id,
        Reason(reason),
        _time(context, interview_at, "interview_at"),
        idempotency_key=idempotency_key,
    )
    echo_result(result, as_json=as_json)


@cycle.command("prepare")
@click.argument("cycle_id")
@click.option("--author", type=SIDES, required=True)
@click.option("--point", "points", multiple=True, required=True, help="A talking point (repeat).")
@with_common
@pass_context
def prepare(
    context: Context,
    cycle_id: str,
    author: str,
    points: tuple[str, ...],
    expected_version: int | None,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Submit one side's talking points (private until the exchange)."""
    command = SubmitPreparation(Side(author), points)
    _send(context, cycle_id, command, expected_version, idempotency_key, as_json)


@cycle.command("schedule")
@click.argument("cycle_id")
@click.option("--at", "at", required=True, help="When the POP-gesprek takes place (ISO 8601).")
@with_common
@pass_context
def schedule(
    context: Context,
    cycle_id: str,
    at: str,
    expected_version: int | None,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Set or move the interview date."""
    command = ScheduleInterview(parse_time(at, "scheduled_at", context.settings.timezone))
    _send(context, cycle_id, command, expected_version, idempotency_key, as_json)


@cycle.command("held")
@click.argument("cycle_id")
@click.option("--at", "at", help="When it was held (default: now).")
@click.option("--summary")
@click.option("--follow-up-at", help="Plan a second talk (ISO 8601).")
@with_common
@pass_context
def held(
    context: Context,
    cycle_id: str,
    at: str | None,
    summary: str | None,
    follow_up_at: str | None,
    expected_version: int | None,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Record that the interview took place."""
    command = RecordInterviewHeld(
        _time(context, at, "held_at"), summary, _time(context, follow_up_at, "follow_up_at")
    )
    _send(context, cycle_id, command, expected_version, idempotency_key, as_json)


@cycle.command("agree")
@click.argument("cycle_id")
@click.option(
    "--goals",
    "goals_file",
    required=True,
    help="JSON file with the goals ('-' for stdin), as in POST /agreement.",
)
@with_common
@pass_context
def agree(
    context: Context,
    cycle_id: str,
    goals_file: str,
    expected_version: int | None,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Write (or revise) the plan: SMART goals that both sides then sign."""
    raw = _json_input(goals_file, "goals")
    goals = raw.get("goals") if isinstance(raw, dict) else raw
    command = DraftPlan(parse_goals(goals))
    _send(context, cycle_id, command, expected_version, idempotency_key, as_json)


@cycle.command("sign")
@click.argument("cycle_id")
@click.option("--signer", type=SIDES, required=True)
@click.option("--plan-version", type=int, help="The plan version read before signing.")
@with_common
@pass_context
def sign(
    context: Context,
    cycle_id: str,
    signer: str,
    plan_version: int | None,
    expected_version: int | None,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Sign the current plan version."""
    command = SignPlan(Side(signer), plan_version)
    _send(context, cycle_id, command, expected_version, idempotency_key, as_json)


@cycle.command("review")
@click.argument("cycle_id")
@click.option("--progress", type=click.Choice([p.value for p in Progress]), required=True)
@click.option("--note", required=True)
@click.option("--goal", "goal_id", help="The goal reviewed (default: the whole plan).")
@with_common
@pass_context
def review(
    context: Context,
    cycle_id: str,
    progress: str,
    note: str,
    goal_id: str | None,
    expected_version: int | None,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Record a progress review (voortgang)."""
    command = ReviewProgress(Progress(progress), note, goal_id)
    _send(context, cycle_id, command, expected_version, idempotency_key, as_json)


@cycle.command("evaluate")
@click.argument("cycle_id")
@click.option("--achieved", "achieved", multiple=True, help="A goal id that was reached.")
@click.option("--missed", "missed", multiple=True, help="A goal id that was not reached.")
@click.option("--effect", "effects", multiple=True, help="GOAL_ID=effect on work and career.")
@click.option("--summary")
@with_common
@pass_context
def evaluate(
    context: Context,
    cycle_id: str,
    achieved: tuple[str, ...],
    missed: tuple[str, ...],
    effects: tuple[str, ...],
    summary: str | None,
    expected_version: int | None,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Record the evaluation: every goal achieved or missed."""
    effect_of: dict[str, str] = {}
    for item in effects:
        goal_id, sep, text = item.partition("=")
        if not sep:
            raise DomainError(f"write GOAL_ID=effect, not {item!r}", field="effect")
        effect_of[goal_id] = text
    raw = [
        {"goal_id": goal_id, "achieved": flag, "effect": effect_of.get(goal_id)}
        for flag, ids in ((True, achieved), (False, missed))
        for goal_id in ids
    ]
    command = RecordEvaluation(parse_results(raw), summary)
    _send(context, cycle_id, command, expected_version, idempotency_key, as_json)


@cycle.command("restart")
@click.argument("cycle_id")
@with_common
@pass_context
def restart(
    context: Context,
    cycle_id: str,
    expected_version: int | None,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """Open the next cycle; prints the new cycle id."""
    result = context.app.commands.restart(
        context.actor,
        cycle_id,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
    )
    echo_result(result, as_json=as_json)


@cycle.command("cancel")
@click.argument("cycle_id")
@click.option("--reason", required=True)
@with_common
@pass_context
def cancel(
    context: Context,
    cycle_id: str,
    reason: str,
    expected_version: int | None,
    idempotency_key: str | None,
    as_json: bool,
) -> None:
    """End the cycle without evaluation."""
    _send(context, cycle_id, CancelCycle(reason), expected_version, idempotency_key, as_json)


@cycle.command("diff")
@click.argument("cycle_id")
@click.option("--from", "since", required=True, help="The earlier moment (ISO 8601).")
@click.option("--to", "until", help="The later moment (default: now).")
@pass_context
def diff(context: Context, cycle_id: str, since: str, until: str | None) -> None:
    """What changed in the plan between two moments (goals, signatures, reviews)."""
    repository = context.app.repository
    start = _time(context, since, "from")
    end = _time(context, until, "to") or context.app.clock()
    after = repository.cycle(cycle_id, end)
    try:
        before = repository.cycle(cycle_id, start)
    except NotFound:
        before = None
    click.echo(json.dumps(diff_states(before, after), ensure_ascii=False, indent=2, default=str))


@cycle.command("show")
@click.argument("cycle_id")
@click.option("--as-of", help="The cycle as it stood at this moment (ISO 8601).")
@pass_context
def show(context: Context, cycle_id: str, as_of: str | None) -> None:
    """Print the cycle's state as JSON."""
    moment = _time(context, as_of, "as_of")
    state = context.app.repository.cycle(cycle_id, moment)
    now = moment or context.app.clock()
    click.echo(json.dumps(cycle_view(state, None, now), ensure_ascii=False, indent=2))
