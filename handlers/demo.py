"""A demo organisation: managers, employees and cycles in every phase, deterministic by seed.

Every step goes through the real command path on a movable clock, in time order across all
employees, so the log looks like a year of real use: the same events, histories and hashes.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from events.domain import GoalResult, Progress, Reason, Side, Support
from handlers.actor import Actor, Role
from handlers.clock import MovableClock
from handlers.commands import CommandHandler
from workflow.commands import (
    CancelCycle,
    CycleCommand,
    DraftPlan,
    GoalDraft,
    MarkEvaluationDue,
    RecordEvaluation,
    RecordInterviewHeld,
    ReviewProgress,
    SignPlan,
    SubmitPreparation,
)
from workflow.employee import RegisterEmployee
from workflow.errors import DomainError

log = structlog.get_logger(__name__)

HR = Actor("hr-demo", Role.HR)
SPAN_DAYS = 420  # how much history the demo makes: over a year, so every phase is reached
FIRST_NAMES = [
    "Ann",
    "Bram",
    "Chantal",
    "Daan",
    "Eva",
    "Fleur",
    "Gijs",
    "Hanna",
    "Ilse",
    "Joost",
    "Karin",
    "Lars",
    "Mila",
    "Noah",
    "Olga",
    "Pieter",
    "Roos",
    "Sem",
    "Tess",
    "Vince",
]
LAST_NAMES = [
    "de Vries",
    "Jansen",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "Dekker",
    "Brouwer",
]
GOAL_IDEAS = [
    ("Excel", "Externe cursus van 10 lessen volgen", "Werkzaamheden zelfstandig in Excel doen"),
    (
        "Klantgericht werken",
        "Zes middagen meewerken op de servicebalie",
        "Weten welke benadering tevreden klanten oplevert",
    ),
    (
        "Leidinggeven",
        "Zelfstudiepakket Praktisch Management doorlopen",
        "Operationeel leiding geven aan een team van 5",
    ),
    (
        "Presenteren",
        "Training presentatievaardigheden volgen",
        "Een kwartaalresultaat zelfstandig presenteren",
    ),
]
# How far each demo employee's cycle gets: a spread over every phase.
TARGETS = [
    "invitation",
    "preparation",
    "interview",
    "agreement",
    "progress_review",
    "progress_review",
    "evaluation",
    "completed",
    "cancelled",
]


@dataclass(order=True)
class _Step:
    at: datetime
    order: int
    action: Callable[[], None] = field(compare=False)


def _person(rng: random.Random, index: int) -> tuple[str, str]:
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    return name, f"{name.split(maxsplit=1)[0].lower()}.{index}@demo.example"


def seed_demo(
    commands: CommandHandler,
    clock: MovableClock,
    *,
    employees: int = 24,
    managers: int = 4,
    seed: int = 2026,
    until: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Register people at the clock's time and run their cycles up to `until`.

    Returns the number of cycle steps sent.
    """
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    start = clock()
    now = until
    for m in range(managers):
        name, email = _person(rng, m)
        commands.register_employee(HR, RegisterEmployee(f"M{m + 1:03d}", name, email, None, "nl"))
    steps: list[_Step] = []
    for e in range(employees):
        name, email = _person(rng, 100 + e)
        employee_id = f"E{e + 1:05d}"
        manager_id = f"M{e % managers + 1:03d}"
        language = "en" if rng.random() < 0.2 else "nl"
        commands.register_employee(
            HR, RegisterEmployee(employee_id, name, email, manager_id, language)
        )
        begin = start + timedelta(days=rng.randint(0, SPAN_DAYS - 120), hours=rng.randint(0, 8))
        target = TARGETS[e % len(TARGETS)]
        script = _script(
            commands, rng, employee_id, manager_id, begin=begin, target=target, now=now
        )
        for offset, action in script:
            steps.append(_Step(offset, len(steps), action))
    heapq.heapify(steps)
    total, done = len(steps), 0
    while steps:
        step = heapq.heappop(steps)
        if step.at > now:
            break
        clock.set(step.at)
        step.action()
        done += 1
        if progress is not None:
            progress(done, total)
    return done


def _script(
    commands: CommandHandler,
    rng: random.Random,
    employee_id: str,
    manager_id: str,
    *,
    begin: datetime,
    target: str,
    now: datetime,
) -> Iterator[tuple[datetime, Callable[[], None]]]:
    """The timed steps of one employee's cycle, up to the phase `target`."""
    cycle: dict[str, str] = {}
    interview = begin + timedelta(days=rng.randint(21, 35))

    def start() -> None:
        result = commands.start_cycle(HR, employee_id, manager_id, Reason.PERIODIC, interview)
        cycle["id"] = result.cycle_id or ""

    def send(command: CycleCommand) -> Callable[[], None]:
        return lambda: _ignore_closed(commands, cycle["id"], command)

    yield begin, start
    if target == "invitation":
        return
    yield (
        begin + timedelta(days=3),
        send(
            SubmitPreparation(
                Side.EMPLOYEE, ("Ik wil beter worden in mijn vak", "Doorgroeien naar teamleider")
            )
        ),
    )
    if target == "preparation":
        return
    if target == "cancelled":
        yield begin + timedelta(days=9), send(CancelCycle("left the organisation"))
        return
    yield (
        begin + timedelta(days=6),
        send(SubmitPreparation(Side.MANAGER, ("Klantgerichtheid", "Planning van het werk"))),
    )
    if target == "interview":
        return
    yield interview + timedelta(hours=1), send(RecordInterviewHeld(summary="Open gesprek"))
    agreed = interview + timedelta(days=3)
    goals = tuple(
        GoalDraft(
            title,
            activity,
            result,
            (agreed + timedelta(days=rng.randint(60, 330))).date(),
            Support(own_hours=rng.choice([8, 16, 24]), budget_eur=rng.choice([0, 450, 900])),
        )
        for title, activity, result in rng.sample(GOAL_IDEAS, rng.randint(1, 3))
    )
    yield agreed, send(DraftPlan(goals))
    if target == "agreement":
        return
    yield agreed + timedelta(days=1), send(SignPlan(Side.EMPLOYEE))
    yield agreed + timedelta(days=2), send(SignPlan(Side.MANAGER))
    last = max(goal.deadline for goal in goals)
    review_at = agreed + timedelta(days=90)
    while review_at.date() < last and review_at < now:
        yield (
            review_at,
            send(
                ReviewProgress(
                    rng.choice([Progress.ON_TRACK, Progress.STALLED]), "Voortgangsgesprek gevoerd"
                )
            ),
        )
        review_at += timedelta(days=90)
    if target == "progress_review":
        return
    due = datetime.combine(last, agreed.timetz())
    yield due, send(MarkEvaluationDue())
    if target == "evaluation":
        return
    results = tuple(
        GoalResult(f"g{i + 1}", rng.random() < 0.7, "Effect op het werk") for i in range(len(goals))
    )
    yield due + timedelta(days=7), send(RecordEvaluation(results, "Evaluatie afgerond"))


def _ignore_closed(commands: CommandHandler, cycle_id: str, command: CycleCommand) -> None:
    """Demo steps planned far ahead may meet a cycle that moved on; the rules still apply."""
    try:
        commands.handle(HR, cycle_id, command)
    except DomainError as refused:
        log.info("demo.step_refused", command=type(command).__name__, reason=refused.message)
