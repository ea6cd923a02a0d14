"""Rebuild equals live, after a randomized workload (hypothesis), on SQLite and PostgreSQL.

Hypothesis writes random command sequences for a small organisation — cycles started,
prepared, rescheduled, held (with follow-up talks), planned, signed, revised, reviewed,
evaluated, restarted, cancelled, handed to another manager; quadrants, budgets, reporting
lines, leavers, erasures — and cuts the live catch-up into random batches along the way. At the
end the live read models must equal a rebuild from position 0 row for row, and every cycle and
person row must say what the domain's own fold (`Repository.cycle`/`.employee`) says.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from events.database import make_engine
from events.domain import GoalResult, Progress, Reason, Side, Support
from events.migrate import upgrade
from handlers.actor import Actor, Role
from handlers.bootstrap import Popcycle
from handlers.privacy import forget_employee
from handlers.projections.registry import PROJECTIONS
from handlers.projections.runner import Runner
from handlers.projections.service import ProjectionService
from handlers.projections.snapshot import snapshot
from tests.integration.test_projection_models import rows, wipe, wire
from tests.support.clock import FakeClock
from web.queries import Filter
from web.read_models import ReadModelQueries
from workflow.commands import (
    CancelCycle,
    ChangeCycleManager,
    CycleCommand,
    DraftPlan,
    GoalDraft,
    MarkEvaluationDue,
    RecordEvaluation,
    RecordFollowUp,
    RecordInterviewHeld,
    ReviewProgress,
    ScheduleInterview,
    SignPlan,
    SubmitPreparation,
)
from workflow.employee import (
    QUADRANTS,
    ChangeEmployeeDetails,
    ChangeManager,
    RecordLeaving,
    RecordQuadrant,
    RegisterEmployee,
    SetBudgetAllowance,
    decide_budget,
    decide_details,
    decide_leaving,
    decide_manager,
    decide_quadrant,
)
from workflow.errors import DomainError
from workflow.phases import Phase

HR = Actor("hr-test", Role.HR)
MANAGERS = ("M1", "M2")
EMPLOYEES = ("E1", "E2", "E3", "E4")
OPS = (
    "start",
    "prepare",
    "schedule",
    "held",
    "draft",
    "sign",
    "review",
    "evaluation_due",
    "evaluate",
    "restart",
    "cancel",
    "cycle_manager",
    "follow_up",
    "quadrant",
    "budget",
    "reports_to",
    "leave",
    "details",
    "forget",
    "catch_up",
    "tick",
)
#: "advance" (the cycle's natural next step) dominates, so that cycles get somewhere.
steps = st.lists(
    st.tuples(st.sampled_from(("advance",) * 12 + OPS), st.integers(0, 2**16)),
    min_size=25,
    max_size=80,
)


class Workload:
    """Drives random commands through the real command handler; refusals are just skipped."""

    def __init__(self, app: Popcycle, clock: FakeClock) -> None:
        self.app = app
        self.clock = clock
        self.cycles: list[str] = []
        for person in MANAGERS:
            self._register(person, None)
        for index, person in enumerate(EMPLOYEES):
            self._register(person, MANAGERS[index % 2])

    def _register(self, person: str, manager: str | None) -> None:
        command = RegisterEmployee(
            person, f"Name {person}", f"{person.lower()}@example.org", manager
        )
        self.app.commands.register_employee(HR, command)

    def run(self, op: str, n: int) -> None:
        # A refusal (DomainError) leaves the log unchanged, as DESIGN.md promises: skip it.
        with suppress(DomainError):
            getattr(self, f"_{op}")(n)

    # -- cycle commands ----------------------------------------------------------------------

    def _advance(self, n: int) -> None:
        """Send a cycle (or a new one) the command its phase most naturally admits next."""
        open_cycles = [c for c in self.cycles if not self.app.repository.cycle(c).phase.is_closed]
        if not open_cycles or n % 9 == 0:
            self._start(n)
            return
        cycle_id = open_cycles[n % len(open_cycles)]
        state = self.app.repository.cycle(cycle_id)
        phase = state.phase.value
        command: CycleCommand | None = None
        if phase in ("invitation", "preparation"):
            missing = [side for side in Side if side not in state.preparations]
            if state.interview_at is None and n % 2:
                command = ScheduleInterview(self.clock.now() + timedelta(days=1 + n % 20))
            elif missing:
                command = SubmitPreparation(missing[n % len(missing)], (f"punt {n}",))
        elif phase == "interview":
            self._held(n)
            return
        elif phase == "agreement":
            unsigned = [side for side in Side if side not in state.signatures]
            if state.plan_version == 0 or n % 6 == 0:
                self._draft(n)
                return
            if state.signatures and n % 4 == 1:  # a new manager takes over half-way
                other = next(m for m in MANAGERS if m != state.manager_id)
                command = ChangeCycleManager(other)
            else:
                command = SignPlan(unsigned[n % len(unsigned)])
        elif phase == "progress_review":
            choice = n % 8
            if choice < 4:
                self._review(n)
                return
            if choice == 4:
                self._draft(n)  # a revision: signatures lapse, the contract still binds
                return
            self.clock.advance(days=200 + n % 400)
            command = MarkEvaluationDue() if choice == 5 else None
            if command is None:
                self._evaluate_cycle(cycle_id, n)
                return
        elif phase == "evaluation":
            self._evaluate_cycle(cycle_id, n)
            return
        if command is not None:
            self.app.commands.handle(HR, cycle_id, command)

    def _cycle(self, n: int, command: CycleCommand) -> None:
        if self.cycles:
            self.app.commands.handle(HR, self.cycles[n % len(self.cycles)], command)

    def _start(self, n: int) -> None:
        employee = EMPLOYEES[n % len(EMPLOYEES)]
        interview = self.clock.now() + timedelta(days=1 + n % 30) if n % 3 else None
        result = self.app.commands.start_cycle(
            HR, employee, MANAGERS[n % 2], list(Reason)[n % 3], interview
        )
        if result.cycle_id is not None:
            self.cycles.append(result.cycle_id)

    def _prepare(self, n: int) -> None:
        self._cycle(n, SubmitPreparation(list(Side)[n % 2], (f"punt {n}",)))

    def _schedule(self, n: int) -> None:
        self._cycle(n, ScheduleInterview(self.clock.now() + timedelta(days=1 + n % 40)))

    def _held(self, n: int) -> None:
        follow_up = self.clock.now() + timedelta(days=5) if n % 4 == 0 else None
        self._cycle(n, RecordInterviewHeld(summary=f"gesprek {n}", follow_up_at=follow_up))

    def _draft(self, n: int) -> None:
        today = self.clock.now().date()
        drafts = tuple(
            GoalDraft(
                f"Doel {n}-{k}",
                f"Activiteit {k}",
                f"Resultaat {k}",
                today + timedelta(days=30 + (n * (k + 3)) % 500),
                Support(own_hours=k + 1.5, budget_eur=[None, 99.99, 250.0, 1200.5][(n + k) % 4]),
            )
            for k in range(1 + n % 3)
        )
        self._cycle(n, DraftPlan(drafts))

    def _sign(self, n: int) -> None:
        self._cycle(n, SignPlan(list(Side)[n % 2]))

    def _review(self, n: int) -> None:
        goal = None if n % 4 == 0 else f"g{1 + n % 3}"
        self._cycle(n, ReviewProgress(list(Progress)[n % 3], f"notitie {n}", goal_id=goal))

    def _evaluation_due(self, n: int) -> None:
        self._cycle(n, MarkEvaluationDue())

    def _evaluate(self, n: int) -> None:
        if self.cycles:
            self._evaluate_cycle(self.cycles[n % len(self.cycles)], n)

    def _evaluate_cycle(self, cycle_id: str, n: int) -> None:
        state = self.app.repository.cycle(cycle_id)
        results = tuple(
            GoalResult(goal.goal_id, bool((n >> index) & 1), "effect")
            for index, goal in enumerate(state.goals)
        )
        self.app.commands.handle(HR, cycle_id, RecordEvaluation(results, "samenvatting"))

    def _restart(self, n: int) -> None:
        if self.cycles:
            result = self.app.commands.restart(HR, self.cycles[n % len(self.cycles)])
            if result.cycle_id is not None:
                self.cycles.append(result.cycle_id)

    def _cancel(self, n: int) -> None:
        self._cycle(n, CancelCycle(f"reden {n}"))

    def _cycle_manager(self, n: int) -> None:
        self._cycle(n, ChangeCycleManager(MANAGERS[n % 2]))

    def _follow_up(self, n: int) -> None:
        self._cycle(n, RecordFollowUp(f"key-{n}", "reminder", self.clock.now()))

    # -- people --------------------------------------------------------------------------

    def _employee(self, n: int, command: Any, decider: Callable[..., Any]) -> None:
        self.app.commands.handle_employee(HR, EMPLOYEES[n % len(EMPLOYEES)], command, decider)

    def _quadrant(self, n: int) -> None:
        self._employee(n, RecordQuadrant(QUADRANTS[n % 4]), decide_quadrant)

    def _budget(self, n: int) -> None:
        self._employee(n, SetBudgetAllowance(2025 + n % 2, float(n % 7) * 150.25), decide_budget)

    def _reports_to(self, n: int) -> None:
        self._employee(n, ChangeManager(MANAGERS[n % 2] if n % 5 else None), decide_manager)

    def _leave(self, n: int) -> None:
        self._employee(n, RecordLeaving(date(2025, 6, 1) + timedelta(days=n % 90)), decide_leaving)

    def _details(self, n: int) -> None:
        department = ("Sales", "ICT")[n % 2]  # moves cycles between departments' counts
        self._employee(
            n, ChangeEmployeeDetails(name=f"New name {n}", department=department), decide_details
        )

    def _forget(self, n: int) -> None:
        if n % 3 == 0:  # rarer than the rest: it blocks most later commands of the person
            forget_employee(self.app, HR, EMPLOYEES[n % len(EMPLOYEES)])

    # -- the read side and time ------------------------------------------------------------

    def _catch_up(self, n: int) -> None:
        """Apply a few batches of random size: live batch boundaries land anywhere."""
        projection = PROJECTIONS[n % len(PROJECTIONS)]
        runner = Runner(self.app.engine, projection, self.app.repository.keys, batch_size=1 + n % 7)
        for _ in range(1 + (n >> 3) % 4):
            runner.run_batch()

    def _tick(self, n: int) -> None:
        self.clock.advance(hours=1 + n % 2000)


def assert_rows_match_the_domain(app: Popcycle) -> None:
    """Every cycles/goals/employees row says what the domain's own fold says."""
    for cycle in rows(app, "cycles"):
        state = app.repository.cycle(cycle["cycle_id"])
        expected = {
            "phase": state.phase.value,
            "version": state.version,
            "employee_id": state.employee_id,
            "manager_id": state.manager_id,
            "interview_at": state.interview_at,
            "interviews_held": state.interviews_held,
            "plan_version": state.plan_version,
            "employee_signed": Side.EMPLOYEE in state.signatures,
            "manager_signed": Side.MANAGER in state.signatures,
            "reviews": state.reviews,
            "evaluation_due_at": state.evaluation_due_at,
            "evaluated_at": state.evaluated_at,
            "closed_at": state.closed_at,
            "next_cycle_id": state.next_cycle_id,
            "previous_cycle_id": state.previous_cycle_id,
            "last_deadline": state.last_deadline,
        }
        assert {key: cycle[key] for key in expected} == expected
        if state.signed_plans:
            assert cycle["signed_at"] == state.signed_plans[-1].signed_at
        goals = {g["goal_id"]: g for g in rows(app, "goals", cycle_id=state.cycle_id)}
        assert set(goals) == {goal.goal_id for goal in state.goals}
        for goal in state.goals:
            row = goals[goal.goal_id]
            assert (row["status"], row["deadline"], row["term"], row["budget_eur"]) == (
                state.goal_status(goal.goal_id),
                goal.deadline,
                goal.term.value,
                goal.support.budget_eur,
            )
            assert row["title"] == goal.title  # "[erased]" for both once forgotten
    for person in rows(app, "employees"):
        known = app.repository.employee(person["employee_id"])
        latest = app.repository.cycle(known.latest_cycle_id) if known.latest_cycle_id else None
        assert (
            person["name"],
            person["email"],
            person["manager_id"],
            person["quadrant"],
            person["left_on"],
            person["forgotten"],
            person["latest_cycle_id"],
            person["cycle_open"],
        ) == (
            known.name,
            known.email,
            known.manager_id,
            known.quadrant,
            known.left_on,
            known.forgotten,
            known.latest_cycle_id,
            latest is not None and not latest.phase.is_closed,
        )


def assert_summary_counts_every_filter(app: Popcycle) -> None:
    """The status page's counts per phase (`summary_counts`), for every filter HR or a manager
    can set, equal counting the `cycles` and `employees` read models row by row."""
    queries = ReadModelQueries(app)
    department_of = {p["employee_id"]: p["department"] for p in rows(app, "employees")}
    cycles = rows(app, "cycles")
    departments = {d for d in department_of.values() if d} | {"Nowhere"}
    for manager in (None, *MANAGERS, "M9"):
        for department in (None, *sorted(departments)):
            expected = Counter(
                cycle["phase"]
                for cycle in cycles
                if manager in (None, cycle["manager_id"])
                and department in (None, department_of.get(cycle["employee_id"]))
            )
            counts = queries.phase_counts(Filter(Role.HR, None, manager, department))
            assert counts == {phase.value: expected[phase.value] for phase in Phase}
            if manager is not None:
                own = queries.phase_counts(Filter(Role.MANAGER, manager, None, department))
                assert own == counts


def run_and_compare(app: Popcycle, clock: FakeClock, workload: list[tuple[str, int]]) -> None:
    note(f"workload = {workload!r}")  # printed in full with a falsifying example
    driver = Workload(app, clock)
    for op, n in workload:
        driver.run(op, n)
    service = ProjectionService.from_app(app)
    service.catch_up_all()
    assert all(lag.caught_up for lag in service.lag())
    live = snapshot(app.engine, PROJECTIONS)
    assert_rows_match_the_domain(app)
    assert_summary_counts_every_filter(app)
    service.rebuild()
    assert snapshot(app.engine, PROJECTIONS) == live


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file to copy: migrating once per module, not once per example."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="module")
def sqlite_apps(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[FakeClock], Popcycle]]:
    folder = tmp_path_factory.mktemp("examples")
    opened: list[Popcycle] = []

    def fresh(clock: FakeClock) -> Popcycle:
        path = folder / f"example-{len(opened)}.sqlite3"
        shutil.copy(sqlite_template, path)
        app = wire(f"sqlite:///{path}", clock)
        opened.append(app)
        return app

    yield fresh
    for app in opened:
        app.close()


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(workload=steps)
def test_rebuild_equals_live_on_sqlite(
    sqlite_apps: Callable[[FakeClock], Popcycle], workload: list[tuple[str, int]]
) -> None:
    clock = FakeClock(tick=timedelta(seconds=7, microseconds=1234))
    app = sqlite_apps(clock)
    try:
        run_and_compare(app, clock, workload)
    finally:
        app.close()


@pytest.mark.postgres
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(workload=steps)
def test_rebuild_equals_live_on_postgres(
    postgres_url: str, workload: list[tuple[str, int]]
) -> None:
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        wipe(engine)
    finally:
        engine.dispose()
    clock = FakeClock(tick=timedelta(seconds=7, microseconds=1234))
    app = wire(postgres_url, clock)
    try:
        run_and_compare(app, clock, workload)
    finally:
        app.close()
