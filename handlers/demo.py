"""A demo organisation: departments, managers, employees and three years of POP cycles.

Every step goes through the real command path on a movable clock, in time order across all
employees, so the log looks like real use: the same events, histories and hashes. Each
employee has a history of cycles of one to two years (invitation, preparation by both sides,
the talk and sometimes a follow-up talk, a SMART plan signed by both, quarterly progress
reviews, sometimes a revised plan signed again, the evaluation, a restart by HR with the
unreached goals carried over) ending in a cycle that stands, today, in one of the phases.

Outer packages hook in on the demo's clock (`DEMO_CLOCK_HOOKS`): the scheduler fires its
follow-ups (reminders, the evaluation on the last deadline) at their times as the demo's time
passes, through its real firing code. Everything is drawn from one seeded generator, and the
ids too, so the same seed on the same `now` writes the same log.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Engine, event
from sqlalchemy.pool import ConnectionPoolEntry

from events.domain import GoalResult, Progress, Reason, Side, Support
from handlers.actor import Actor, Role
from handlers.bootstrap import Popcycle, bootstrap
from handlers.clock import MovableClock
from handlers.commands import CommandHandler
from handlers.organisation import OrganisationHandler
from handlers.settings import Settings
from workflow.commands import (
    CancelCycle,
    CycleCommand,
    DraftPlan,
    GoalDraft,
    MarkEvaluationDue,
    RecordEvaluation,
    RecordInterviewHeld,
    ReviewProgress,
    ScheduleInterview,
    SignPlan,
    SubmitPreparation,
)
from workflow.employee import HireEmployee
from workflow.errors import DomainError
from workflow.phases import Phase

log = structlog.get_logger(__name__)

HR = Actor("hr-demo", Role.HR)
SPAN_DAYS = 3 * 365  # how much history: room for a full cycle or two before today's one
MAX_CYCLES = 3  # cycles drawn per employee; the earliest are dropped if they do not fit
EMPLOYEES_PER_MANAGER = 8
DAY = 24 * 60  # the demo plans in minutes from the cycle's first local midnight

Tick = Callable[[datetime], int]
"""Brings what runs on the clock up to a moment (before a demo step at that moment); returns
how many follow-ups it fired."""
TickFactory = Callable[[Popcycle, MovableClock], Tick]
#: Hooks on the demo's clock, registered by outer packages (the scheduler: scheduler/demo.py),
#: so that handlers/ runs them without importing those packages.
DEMO_CLOCK_HOOKS: list[TickFactory] = []

FIRST_NAMES = (
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
)
LAST_NAMES = (
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
)
DEPARTMENTS = (
    ("Klantenservice", ("Medewerker klantenservice", "Teamcoördinator")),
    ("Financiën", ("Financieel administrateur", "Controller")),
    ("ICT", ("Applicatiebeheerder", "Ontwikkelaar")),
    ("Logistiek", ("Planner", "Magazijnmedewerker")),
    ("Personeelszaken", ("HR-adviseur", "Salarisadministrateur")),
)
GOAL_IDEAS = (
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
    ("Engels", "Conversatiecursus Engels volgen", "Een klantgesprek in het Engels voeren"),
    ("Plannen", "Timemanagementtraining volgen", "De eigen weekplanning zonder uitloop halen"),
)
TALKING_POINTS = {
    Side.EMPLOYEE: (
        ("Ik wil beter worden in mijn vak", "Doorgroeien naar teamleider"),
        ("Meer afwisseling in mijn werk", "Een cursus volgen"),
        ("Werkdruk in de drukke maanden", "Mijn rol in het nieuwe project"),
    ),
    Side.MANAGER: (
        ("Klantgerichtheid", "Planning van het werk"),
        ("Samenwerking in het team", "Kennis van de nieuwe systemen"),
    ),
}
CANCEL_REASONS = ("left the organisation", "long-term illness", "moved to another role")
# Where each employee's current cycle stands today: every phase, most of them in progress.
TARGETS = (
    Phase.INVITATION,
    Phase.PREPARATION,
    Phase.INTERVIEW,
    Phase.AGREEMENT,
    Phase.PROGRESS_REVIEW,
    Phase.PROGRESS_REVIEW,
    Phase.PROGRESS_REVIEW,
    Phase.EVALUATION,
    Phase.COMPLETED,
    Phase.CANCELLED,
)


@dataclass(frozen=True, slots=True)
class DemoReport:
    """What a demo run did: steps sent, steps the rules refused, follow-ups fired by hooks."""

    steps: int
    refused: int
    followups: int


# --- one cycle, planned ahead in minutes from its first day ---------------------------------


@dataclass(frozen=True, slots=True)
class _Goal:
    """A goal as the demo plans it: when it is due (a day of the cycle) and how it ends."""

    goal_id: str
    idea: tuple[str, str, str]
    deadline: int
    achieved: bool
    support: Support
    carried: _Goal | None = None  # the unreached goal of the previous cycle it continues


@dataclass
class _Run:
    """One cycle as the demo runs it: where its time starts, its id once started."""

    employee_id: str
    manager_id: str
    origin: datetime  # local midnight of the cycle's first day
    previous: _Run | None
    cycle_id: str | None = None

    def at(self, minute: int) -> datetime:
        return self.origin + timedelta(minutes=minute)

    def day(self, days: int) -> date:
        return self.origin.date() + timedelta(days=days)


Action = Callable[["_Demo", _Run], None]


@dataclass
class _Shape:
    """A cycle's steps (minute, action), the phases it enters (minute, phase), its goals."""

    steps: list[tuple[int, Action]] = field(default_factory=list)
    marks: list[tuple[int, Phase]] = field(default_factory=list)
    goals: tuple[_Goal, ...] = ()

    @property
    def end(self) -> int:
        return self.steps[-1][0]

    def windows(self, phase: Phase, tail: int) -> list[tuple[int, int]]:
        """The spans of time in which the cycle stands in `phase` (the last lasts `tail`)."""
        marks = sorted(self.marks)
        ends = [start for start, _ in marks[1:]] + [marks[-1][0] + tail]
        return [(start, end) for (start, p), end in zip(marks, ends, strict=True) if p is phase]

    def cut(self, minute: int) -> None:
        self.steps = [step for step in self.steps if step[0] < minute]
        self.marks = [mark for mark in self.marks if mark[0] < minute]


def _send(command: CycleCommand) -> Action:
    return lambda demo, run: demo.send(run, command)


def _shape(
    rng: random.Random, carried: Sequence[_Goal], fate: Phase | None, marks_due: bool
) -> _Shape:
    """Draw one cycle; `fate` CANCELLED ends it early, `marks_due` sends MarkEvaluationDue
    itself (when no scheduler runs on the demo's clock to do it)."""
    draw = _Draw(rng)
    shape = draw.shape
    talk, first_prep = draw.invitation()
    signed = draw.plan(carried, draw.talks(talk))
    goals = draw.reviews(signed)
    # The evaluation: due on the last deadline (by the scheduler's follow-up at the start of
    # that day, or by the demo itself at noon: the same UTC date in any time zone), recorded
    # days or weeks later.
    last = max(goal.deadline for goal in goals)
    if marks_due:
        draw.add(last * DAY + 12 * 60, _send(MarkEvaluationDue()))
    shape.marks.append((last * DAY + 13 * 60, Phase.EVALUATION))
    evaluated = draw.add(draw.at(last + rng.randint(3, 30)), _evaluate(goals))
    shape.marks.append((evaluated, Phase.COMPLETED))
    if fate is Phase.CANCELLED:
        early = (first_prep + 60, talk - DAY)
        late = (signed + 20 * DAY, last * DAY - 10 * DAY)
        start, end = early if rng.random() < 0.5 or late[0] >= late[1] else late
        cancelled = rng.randint(start, max(start, end))
        shape.cut(cancelled)
        draw.add(cancelled, _send(CancelCycle(rng.choice(CANCEL_REASONS))))
        shape.marks.append((cancelled, Phase.CANCELLED))
    shape.steps.sort(key=lambda step: step[0])
    return shape


@dataclass
class _Draw:
    """Draws one cycle's steps in minutes from its first day, phase by phase."""

    rng: random.Random
    shape: _Shape = field(default_factory=_Shape)

    def at(self, day: int, first: int = 9, last: int = 17) -> int:
        """A minute in working hours on `day`."""
        return day * DAY + self.rng.randint(first * 60, last * 60 - 1)

    def add(self, minute: int, action: Action) -> int:
        self.shape.steps.append((minute, action))
        return minute

    def invitation(self) -> tuple[int, int]:
        """Invitation and preparation; returns when the talk is and when one side prepared."""
        rng, at, add, marks = self.rng, self.at, self.add, self.shape.marks
        # Invited, sometimes with the date of the talk; else HR sets it within a week.
        talk = at(rng.randint(21, 42), 10, 16)
        invited = at(0)
        if rng.random() < 0.3:
            scheduled = add(invited, _start(talk))
        else:
            add(invited, _start(None))
            scheduled = add(at(rng.randint(1, 7)), _schedule(talk))
        marks.append((invited, Phase.INVITATION))
        if rng.random() < 0.25:  # the talk moves
            moved = at(rng.randint(scheduled // DAY + 1, talk // DAY - 3))
            talk += rng.randint(3, 14) * DAY
            add(moved, _schedule(talk))
        # Both sides prepare (the employee sometimes late: reminded, then escalated).
        day = rng.choice((rng.randint(2, 6), rng.randint(2, 6), rng.randint(8, 13), 15))
        employee = add(at(day), _prepare(Side.EMPLOYEE, rng))
        if rng.random() < 0.2:  # talking points replaced before the talk
            add(at(rng.randint(day + 1, talk // DAY - 1)), _prepare(Side.EMPLOYEE, rng))
        manager = at(rng.randint(max(3, talk // DAY - 14), talk // DAY - 1))
        add(manager, _prepare(Side.MANAGER, rng))
        marks.append((min(employee, manager), Phase.PREPARATION))
        marks.append((max(employee, manager, scheduled), Phase.INTERVIEW))
        return talk, min(employee, manager)

    def talks(self, talk: int) -> int:
        """The talk, sometimes continued in a follow-up appointment; returns when it ended."""
        held = talk + 60
        if self.rng.random() < 0.2:
            second = self.at(talk // DAY + self.rng.randint(7, 21), 10, 16)
            self.add(held, _held("Eerste gesprek; vervolgafspraak gemaakt", follow_up=second))
            held = second + 60
        self.add(held, _held("Open gesprek", follow_up=None))
        self.shape.marks.append((held, Phase.AGREEMENT))
        return held

    def plan(self, carried: Sequence[_Goal], held: int) -> int:
        """The plan drafted (sometimes redrafted) and signed by both; returns when it was."""
        rng, at = self.rng, self.at
        drafted = at(held // DAY + rng.randint(2, 7))
        redrafted = at(drafted // DAY + rng.randint(1, 4)) if rng.random() < 0.25 else None
        employee = at((redrafted or drafted) // DAY + rng.randint(1, 9))
        manager = employee + rng.randint(10, 4 * DAY)
        goals = _goals(rng, carried, manager // DAY)
        self.add(drafted, _draft(goals))
        if redrafted is not None:
            self.add(redrafted, _draft(goals, frozenset(goal.goal_id for goal in goals)))
        self._signatures(employee, manager)
        self.shape.goals = goals
        return manager

    def _signatures(self, employee: int, manager: int) -> None:
        self.add(employee, _send(SignPlan(Side.EMPLOYEE)))
        self.add(manager, _send(SignPlan(Side.MANAGER)))
        self.shape.marks.append((manager, Phase.PROGRESS_REVIEW))

    def reviews(self, signed: int) -> tuple[_Goal, ...]:
        """Quarterly progress reviews until the last deadline; at most one revised plan,
        signed again by both. Returns the goals as they end (a revision changes them)."""
        rng, goals = self.rng, self.shape.goals
        last = max(goal.deadline for goal in goals)
        reported: set[str] = set()
        revised = False
        number = 1
        while (day := signed // DAY + round(91.3 * number) + rng.randint(2, 20)) < last - 7:
            self._meeting(self.at(day), day, goals, reported)
            number += 1
            if revised or rng.random() < 0.6 or day + 6 >= min(g.deadline for g in goals):
                continue
            revision = _revised(rng, goals, day + 6, last)
            if revision is None:
                continue
            known = frozenset(goal.goal_id for goal in goals)
            goals, revised = revision, True
            redrafted = self.add(self.at(day + rng.randint(1, 5)), _draft(goals, known))
            self.shape.marks.append((redrafted, Phase.AGREEMENT))
            employee = self.at(redrafted // DAY + rng.randint(1, 5))
            signed = employee + rng.randint(10, 3 * DAY)
            self._signatures(employee, signed)
            number = 1
        self.shape.goals = goals
        return goals

    def _meeting(self, minute: int, day: int, goals: tuple[_Goal, ...], reported: set[str]) -> None:
        """One progress review: sometimes of the whole plan, then of each goal still open
        (a goal reached by its deadline is reported done, once)."""
        if self.rng.random() < 0.2:
            review = ReviewProgress(_progress(self.rng), "Voortgangsgesprek: plan loopt")
            self.add(minute, _send(review))
        for index, goal in enumerate(goals):
            if goal.deadline > day:
                progress = _progress(self.rng)
            elif goal.achieved and goal.goal_id not in reported:
                progress = Progress.DONE
                reported.add(goal.goal_id)
            else:
                continue
            note = "Doel bereikt" if progress is Progress.DONE else "Voortgang besproken"
            review = ReviewProgress(progress, note, goal.goal_id)
            self.add(minute + 10 * (index + 1), _send(review))


def _goals(rng: random.Random, carried: Sequence[_Goal], signed: int) -> tuple[_Goal, ...]:
    """The plan's goals: the unreached ones carried over, then fresh ones, 1 to 3 in all."""
    last = signed + rng.randint(300, 620)
    ideas = [idea for idea in GOAL_IDEAS if idea not in {goal.idea for goal in carried}]
    fresh = rng.sample(ideas, max(0, rng.randint(1, 3) - len(carried)))
    drawn = [(goal.idea, goal) for goal in carried] + [(idea, None) for idea in fresh]
    deadlines = [signed + rng.randint(120, last - signed - 30) for _ in drawn[1:]] + [last]
    rng.shuffle(deadlines)
    return tuple(
        _Goal(
            f"g{index + 1}",
            idea,
            deadline,
            rng.random() < 0.7,
            Support(own_hours=rng.choice([8, 16, 24]), budget_eur=rng.choice([0, 450, 900])),
            source,
        )
        for index, ((idea, source), deadline) in enumerate(zip(drawn, deadlines, strict=True))
    )


def _revised(
    rng: random.Random, goals: tuple[_Goal, ...], after: int, last: int
) -> tuple[_Goal, ...] | None:
    """A plan adjustment: a stalled goal postponed, or a goal added (None: no room for one)."""
    postpone = [goal for goal in goals if goal.deadline < last - 31]
    if postpone and rng.random() < 0.6:
        moved = rng.choice(postpone)
        later = min(last - 1, moved.deadline + rng.randint(30, 90))
        return tuple(replace(g, deadline=later) if g is moved else g for g in goals)
    ideas = [idea for idea in GOAL_IDEAS if idea not in {goal.idea for goal in goals}]
    if len(goals) >= 4 or not ideas or after + 60 >= last - 30:
        return None
    added = _Goal(
        f"g{len(goals) + 1}",
        rng.choice(ideas),
        rng.randint(after + 60, last - 30),
        rng.random() < 0.7,
        Support(own_hours=rng.choice([8, 16]), budget_eur=rng.choice([0, 450])),
    )
    return (*goals, added)


def _progress(rng: random.Random) -> Progress:
    return Progress.STALLED if rng.random() < 0.25 else Progress.ON_TRACK


# --- the actions: what a step sends, resolved against the running cycle ----------------------


def _start(talk: int | None) -> Action:
    def start(demo: _Demo, run: _Run) -> None:
        demo.start(run, None if talk is None else run.at(talk))

    return start


def _schedule(talk: int) -> Action:
    return lambda demo, run: demo.send(run, ScheduleInterview(run.at(talk)))


def _prepare(side: Side, rng: random.Random) -> Action:
    return _send(SubmitPreparation(side, rng.choice(TALKING_POINTS[side])))


def _held(summary: str, follow_up: int | None) -> Action:
    def held(demo: _Demo, run: _Run) -> None:
        later = None if follow_up is None else run.at(follow_up)
        demo.send(run, RecordInterviewHeld(summary=summary, follow_up_at=later))

    return held


def _draft(goals: tuple[_Goal, ...], known: frozenset[str] = frozenset()) -> Action:
    """Write the plan; `known`: the ids of goals already in an earlier version of it."""

    def draft(demo: _Demo, run: _Run) -> None:
        demo.send(run, DraftPlan(tuple(_draft_of(goal, run, known) for goal in goals)))

    return draft


def _draft_of(goal: _Goal, run: _Run, known: frozenset[str]) -> GoalDraft:
    """The goal as written in the plan; a revision keeps its id, a carried goal its source."""
    title, activity, result = goal.idea
    source = None
    if goal.carried is not None and run.previous is not None and run.previous.cycle_id:
        source = f"{run.previous.cycle_id}/{goal.carried.goal_id}"
    return GoalDraft(
        title,
        activity,
        result,
        run.day(goal.deadline),
        goal.support,
        goal_id=goal.goal_id if goal.goal_id in known else None,
        carried_from=source,
    )


def _evaluate(goals: tuple[_Goal, ...]) -> Action:
    results = tuple(
        GoalResult(goal.goal_id, goal.achieved, "Effect op het werk besproken") for goal in goals
    )
    return _send(RecordEvaluation(results, "Evaluatie afgerond"))


# --- running it: people, then every cycle's steps in time order across the organisation ------


@dataclass
class _Demo:
    """Sends the steps; a refused step is logged and counted (a consistent script has none)."""

    commands: CommandHandler
    refused: int = 0

    def start(self, run: _Run, talk: datetime | None) -> None:
        """Invite (the first cycle) or restart the previous cycle (HR, after its evaluation)."""
        previous = None if run.previous is None else run.previous.cycle_id
        if run.previous is not None and previous is None:
            self._refused("RestartCycle", None)
            return
        try:
            if previous is None:
                result = self.commands.start_cycle(
                    HR, run.employee_id, run.manager_id, Reason.PERIODIC, talk
                )
            else:
                result = self.commands.restart(HR, previous)
        except DomainError as refused:
            self._refused("start", refused)
            return
        run.cycle_id = result.cycle_id
        if run.previous is not None and talk is not None:  # a restart takes no date: set it
            self.send(run, ScheduleInterview(talk))

    def send(self, run: _Run, command: CycleCommand) -> None:
        if run.cycle_id is None:  # its start was refused: the rest of it cannot happen
            self._refused(type(command).__name__, None)
            return
        try:
            self.commands.handle(HR, run.cycle_id, command)
        except DomainError as refused:
            self._refused(type(command).__name__, refused)

    def _refused(self, command: str, refused: DomainError | None) -> None:
        self.refused += 1
        reason = "its cycle did not start" if refused is None else refused.message
        log.warning("demo.step_refused", command=command, reason=reason)


@dataclass(order=True, slots=True)
class _Step:
    at: datetime
    order: int
    run: _Run = field(compare=False)
    action: Action = field(compare=False)


def _history(
    rng: random.Random,
    target: Phase,
    now: datetime,
    first_day: date,
    marks_due: bool,
) -> list[tuple[date, _Shape]]:
    """An employee's cycles, each with its first day: the last one stands in `target` today.

    Drawn forwards (unreached goals carry into the next cycle), placed backwards from today:
    the current cycle so that `now` falls in a `target` span, each earlier one evaluated some
    weeks before the next began. Cycles that would begin before `first_day` are dropped.
    """
    fate = Phase.CANCELLED if target is Phase.CANCELLED else None
    shapes: list[_Shape] = []
    carried: tuple[_Goal, ...] = ()
    for index in range(MAX_CYCLES):
        final = index == MAX_CYCLES - 1
        for _attempt in range(50):
            shape = _shape(rng, carried, fate if final else None, marks_due)
            if not final or _days_into(shape, target, now):
                break
        shapes.append(shape)
        carried = tuple(goal for goal in shape.goals if not goal.achieved)
    current = shapes[-1]
    days = rng.choice(_days_into(current, target, now) or [current.end // DAY + 1])
    start = now.date() - timedelta(days=days)
    placed = [(start, current)]
    for shape in reversed(shapes[:-1]):
        start -= timedelta(days=shape.end // DAY + rng.randint(7, 60))
        if start < first_day:
            break
        placed.append((start, shape))
    return placed[::-1]


def _days_into(shape: _Shape, target: Phase, now: datetime) -> list[int]:
    """How many days ago the cycle may have begun for `now` to fall in a `target` span."""
    minute = now.hour * 60 + now.minute
    days: list[int] = []
    for start, end in shape.windows(target, tail=150 * DAY):
        first = (start - minute) // DAY + 1
        days += [day for day in range(first, (end - minute) // DAY + 1) if day * DAY + minute < end]
    return days


def seed_demo(
    app: Popcycle,
    clock: MovableClock,
    *,
    employees: int = 24,
    managers: int | None = None,
    seed: int = 2026,
    until: datetime,
    zone: ZoneInfo,
    ticks: Sequence[Tick] = (),
    progress: Callable[[int, int], None] | None = None,
) -> DemoReport:
    """Hire the organisation at the clock's time and run everyone's cycles up to `until`.

    `ticks` run before every step with the step's time (the scheduler firing follow-ups);
    without them the demo marks evaluations due itself, as the scheduler would.
    """
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    managers = managers or max(1, -(-employees // EMPLOYEES_PER_MANAGER))
    now = until.astimezone(zone)
    hired = clock().astimezone(zone).date()
    organisation = OrganisationHandler(app.commands, app.repository, clock)
    steps: list[_Step] = []
    for person in _people(rng, managers, employees, hired):
        organisation.handle(HR, person.employee_id, person)
        if person.employee_id.startswith("M"):
            continue
        target = TARGETS[(int(person.employee_id[1:]) - 1) % len(TARGETS)]
        previous: _Run | None = None
        for first, shape in _history(rng, target, now, hired + timedelta(days=1), not ticks):
            origin = datetime.combine(first, time(0), zone)
            run = _Run(person.employee_id, person.manager_id or "", origin, previous)
            steps += [
                _Step(run.at(m), len(steps) + i, run, a) for i, (m, a) in enumerate(shape.steps)
            ]
            previous = run
    heapq.heapify(steps)
    demo = _Demo(app.commands)
    total, done, fired = len(steps), 0, 0
    while steps and steps[0].at <= until:
        step = heapq.heappop(steps)
        fired += sum(tick(step.at) for tick in ticks)
        clock.set(step.at)
        step.action(demo, step.run)
        done += 1
        if progress is not None:
            progress(done, total)
    fired += sum(tick(until) for tick in ticks)
    clock.set(until)
    return DemoReport(done, demo.refused, fired)


def _people(
    rng: random.Random, managers: int, employees: int, hired: date
) -> Iterator[HireEmployee]:
    """Managers (the first heads the others), then employees spread over their teams."""
    for index in range(managers):
        department, functions = DEPARTMENTS[index % len(DEPARTMENTS)]
        name, email = _person(rng, index)
        yield HireEmployee(
            f"M{index + 1:03d}",
            name,
            email,
            None if index == 0 else "M001",
            "nl",
            department,
            "Teamleider" if index else "Directeur",
            hired - timedelta(days=rng.randint(400, 4000)),
        )
    for index in range(employees):
        manager = index % managers
        department, functions = DEPARTMENTS[manager % len(DEPARTMENTS)]
        name, email = _person(rng, 100 + index)
        yield HireEmployee(
            f"E{index + 1:05d}",
            name,
            email,
            f"M{manager + 1:03d}",
            "en" if rng.random() < 0.2 else "nl",
            department,
            rng.choice(functions),
            hired - timedelta(days=rng.randint(30, 4000)),
        )


def _person(rng: random.Random, index: int) -> tuple[str, str]:
    name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
    return name, f"{name.split(maxsplit=1)[0].lower()}.{index}@demo.example"


def seeded_ids(seed: int) -> Callable[[], str]:
    """Ids drawn from the seed (cycle ids, causation ids), so that runs compare equal."""
    rng = random.Random(f"popcycle-demo-ids-{seed}")  # noqa: S311 - ids, not secrets

    def new_id() -> str:
        return f"{rng.getrandbits(128):032x}"

    return new_id


def run_demo(
    settings: Settings,
    now: datetime,
    *,
    employees: int = 24,
    managers: int | None = None,
    seed: int = 2026,
    hooks: Sequence[TickFactory] = (),
    progress: Callable[[int, int], None] | None = None,
) -> DemoReport:
    """Seed the demo into the database of `settings`: SPAN_DAYS of history up to `now`.

    The demo gets its own app on a movable clock, with ids from the seed; `hooks` (such as
    `DEMO_CLOCK_HOOKS`) are built on that app and clock and tick along with it.
    """
    clock = MovableClock(now - timedelta(days=SPAN_DAYS))
    app = bootstrap(settings, clock)
    _loading_in_bulk(app.engine)
    commands = CommandHandler(
        app.repository, clock, id_factory=seeded_ids(seed), on_appended=app.commands.on_appended
    )
    app = replace(app, commands=commands)
    try:
        return seed_demo(
            app,
            clock,
            employees=employees,
            managers=managers,
            seed=seed,
            until=now,
            zone=settings.timezone,
            ticks=[hook(app, clock) for hook in hooks],
            progress=progress,
        )
    finally:
        app.close()


def _loading_in_bulk(engine: Engine) -> None:
    """The demo is loaded in one go, and on a failure loaded again into a fresh database: its
    commits need not each wait for the disk. Safe from corruption still (SQLite in WAL mode
    with synchronous=NORMAL; PostgreSQL without synchronous_commit): a crash loses only the
    last commits. For the demo's own connections only."""
    statement = {
        "sqlite": "PRAGMA synchronous = NORMAL",
        "postgresql": "SET synchronous_commit = off",
    }.get(engine.dialect.name)
    if statement is None:
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()
        dbapi_connection.commit()  # PostgreSQL: a SET in a rolled back transaction is undone

    engine.dispose()  # connections opened while wiring up get the setting too
