"""The read models' content, through the real command path, on SQLite and PostgreSQL.

One cycle walked from invitation to evaluation, checked at every step against what the syllabus
and DESIGN.md say each read model shows: phases and versions, goals and their status, the due
dates each state implies, the budget (POB) committed and spent, the managers' POP workload, the
performance/potential matrix, and "[erased]" after a GDPR erasure — live and after a rebuild.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select, update

from events.database import make_engine, read_transaction, write_transaction
from events.domain import GoalResult, Progress, Reason, Side, Support
from events.migrate import upgrade
from events.personal import ERASED
from events.schema import (
    INITIAL_HEAD,
    events_table,
    idempotency_keys_table,
    log_head_table,
    streams_table,
)
from events.sqlkeyring import subject_keys_table
from handlers.actor import Actor, Role
from handlers.bootstrap import Popcycle, bootstrap
from handlers.privacy import forget_employee
from handlers.projections import managers, matrix
from handlers.projections.cycle_projection import CYCLES
from handlers.projections.cycles import overdue
from handlers.projections.people_projection import PEOPLE
from handlers.projections.registry import PROJECTIONS
from handlers.projections.schema import builds_table, checkpoints_table
from handlers.projections.service import ProjectionService
from handlers.projections.snapshot import snapshot
from handlers.settings import Settings
from tests.support.clock import FakeClock
from workflow.commands import (
    CancelCycle,
    ChangeCycleManager,
    DraftPlan,
    GoalDraft,
    RecordEvaluation,
    RecordInterviewHeld,
    ReviewProgress,
    SignPlan,
    SubmitPreparation,
)
from workflow.employee import (
    RecordQuadrant,
    RegisterEmployee,
    SetBudgetAllowance,
    decide_budget,
    decide_quadrant,
)

HR = Actor("hr-test", Role.HR)
KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
READ_TABLES = [table for projection in PROJECTIONS for table in projection.live.tables]


# --- fixtures shared by the projection and worker tests ----------------------------------------


def wipe(engine: Engine) -> None:
    """An empty log, no keys, empty read models at position 0 and no build under way (cheaper
    than a new database)."""
    with write_transaction(engine) as connection:
        for table in (
            *READ_TABLES,
            builds_table,
            events_table,
            streams_table,
            idempotency_keys_table,
            subject_keys_table,
            log_head_table,
        ):
            connection.execute(delete(table))
        connection.execute(insert(log_head_table).values(**INITIAL_HEAD))
        connection.execute(update(checkpoints_table).values(position=0))


def database_url(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> str:
    """A migrated, empty database of `kind`."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'pop.sqlite3'}"
        upgrade(url)
        return url
    url = str(request.getfixturevalue("postgres_url"))
    upgrade(url)
    engine = make_engine(url)
    try:
        wipe(engine)
    finally:
        engine.dispose()
    return url


def wire(url: str, clock: FakeClock) -> Popcycle:
    return bootstrap(Settings.from_env({"POP_DATABASE_URL": url}), clock)


@pytest.fixture(params=KINDS)
def app(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Popcycle]:
    """The wired application on an empty database: SQLite, then PostgreSQL."""
    popcycle = wire(database_url(request, request.param, tmp_path), clock)
    yield popcycle
    popcycle.close()


def rows(app: Popcycle, table_name: str, **where: Any) -> list[dict[str, Any]]:
    table = next(t for t in READ_TABLES if t.name == table_name)
    query = select(table).where(*(table.c[k] == v for k, v in where.items()))
    with read_transaction(app.engine) as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def one(app: Popcycle, table_name: str, **where: Any) -> dict[str, Any]:
    found = rows(app, table_name, **where)
    assert len(found) == 1, found
    return found[0]


def assert_rebuild_equals_live(app: Popcycle) -> None:
    service = ProjectionService.from_app(app)
    service.catch_up_all()
    live = snapshot(app.engine, PROJECTIONS)
    service.rebuild()
    assert snapshot(app.engine, PROJECTIONS) == live


# --- the scenario ----------------------------------------------------------------------------


def register(app: Popcycle, person: str, manager: str | None = None) -> None:
    app.commands.register_employee(
        HR, RegisterEmployee(person, f"Name of {person}", f"{person.lower()}@example.org", manager)
    )


def goals(today: date) -> DraftPlan:
    return DraftPlan(
        (
            GoalDraft(
                "Excel",
                "Externe cursus volgen",
                "Zelfstandig in Excel",
                today + timedelta(days=120),
                Support(own_hours=16, budget_eur=300.10),
            ),
            GoalDraft(
                "Presenteren",
                "Training volgen",
                "Een kwartaalresultaat presenteren",
                today + timedelta(days=200),
                Support(coach_hours=6, budget_eur=399.95),
            ),
        )
    )


def test_a_cycle_from_invitation_to_evaluation(app: Popcycle, clock: FakeClock) -> None:
    service = ProjectionService.from_app(app)
    register(app, "M1")
    register(app, "E1", "M1")
    register(app, "E2", "M1")
    app.commands.handle_employee(HR, "E1", RecordQuadrant("high_potential"), decide_quadrant)
    app.commands.handle_employee(HR, "E2", RecordQuadrant("learner"), decide_quadrant)
    year = clock.now().year
    app.commands.handle_employee(HR, "E1", SetBudgetAllowance(year, 500.0), decide_budget)
    interview = clock.now() + timedelta(days=20)
    cycle_id = app.commands.start_cycle(HR, "E1", "M1", Reason.PERIODIC, interview).cycle_id
    assert cycle_id is not None
    service.catch_up_all()

    # Given an invitation with the interview planned: the preparation is due a week before.
    cycle = one(app, "cycles", cycle_id=cycle_id)
    assert (cycle["phase"], cycle["version"], cycle["employee_id"]) == ("invitation", 2, "E1")
    assert cycle["interview_at"] == interview
    due = {d["kind"]: d["due_at"] for d in rows(app, "due", cycle_id=cycle_id)}
    assert due == {"preparation": interview - timedelta(days=7), "interview": interview}
    assert cycle["next_followup_kind"] == "preparation"
    employee = one(app, "employees", employee_id="E1")
    assert (employee["name"], employee["latest_cycle_id"], employee["cycle_open"]) == (
        "Name of E1",
        cycle_id,
        True,
    )
    with read_transaction(app.engine) as connection:
        cells = {q.quadrant: q for q in matrix.matrix(connection, PEOPLE.live.tables[0])}
    assert [p.employee_id for p in cells["learner"].lacking_pop_talk] == ["E2"]
    assert cells["high_potential"].lacking_pop_talk == ()  # E1 has an open cycle
    assert "POP talk" in cells["high_potential"].conversations
    assert "POP talk" not in cells["solid_citizen"].conversations

    # When both prepare and the talk is held: agreement, nothing due until a plan is signed.
    app.commands.handle(HR, cycle_id, SubmitPreparation(Side.EMPLOYEE, ("Groei",)))
    service.catch_up_all()
    assert {d["kind"] for d in rows(app, "due", cycle_id=cycle_id)} == {"preparation", "interview"}
    app.commands.handle(HR, cycle_id, SubmitPreparation(Side.MANAGER, ("Planning",)))
    service.catch_up_all()
    assert one(app, "cycles", cycle_id=cycle_id)["phase"] == "interview"
    assert {d["kind"] for d in rows(app, "due", cycle_id=cycle_id)} == {"interview"}
    app.commands.handle(HR, cycle_id, RecordInterviewHeld(summary="Goed gesprek"))
    app.commands.handle(HR, cycle_id, goals(clock.now().date()))
    service.catch_up_all()
    assert one(app, "cycles", cycle_id=cycle_id)["phase"] == "agreement"
    assert rows(app, "due", cycle_id=cycle_id) == []
    titles = {g["goal_id"]: (g["title"], g["status"]) for g in rows(app, "goals")}
    assert titles == {"g1": ("Excel", "open"), "g2": ("Presenteren", "open")}
    assert rows(app, "budgets") == [
        {
            "employee_id": "E1",
            "year": year,
            "allowance_cents": 50000,
            "committed_cents": 0,
            "spent_cents": 0,
            "over_committed": False,
        }
    ]

    # When both sign: the goal deadlines and the evaluation come due; the budget is committed.
    app.commands.handle(HR, cycle_id, SignPlan(Side.EMPLOYEE))
    app.commands.handle(HR, cycle_id, SignPlan(Side.MANAGER))
    service.catch_up_all()
    cycle = one(app, "cycles", cycle_id=cycle_id)
    assert cycle["phase"] == "progress_review"
    deadlines = sorted(g["deadline"] for g in rows(app, "goals"))
    due_rows = {(d["kind"], d["goal_id"]): d for d in rows(app, "due", cycle_id=cycle_id)}
    assert set(due_rows) == {("goal_deadline", "g1"), ("goal_deadline", "g2"), ("evaluation", "")}
    assert due_rows["evaluation", ""]["due_at"].date() == deadlines[-1]
    assert all(d["all_day"] for d in due_rows.values())
    assert (cycle["next_followup_kind"], cycle["next_followup_at"].date()) == (
        "goal_deadline",
        deadlines[0],
    )
    budget = one(app, "budgets", employee_id="E1")
    assert (budget["committed_cents"], budget["spent_cents"]) == (30010 + 39995, 0)
    assert budget["over_committed"] is True  # 700.05 promised against 500 granted
    with read_transaction(app.engine) as connection:
        cycles_table = CYCLES.live.tables[0]
        late = datetime.combine(deadlines[0], datetime.min.time(), UTC) + timedelta(days=1)
        assert connection.execute(
            select(cycles_table.c.cycle_id).where(overdue(cycles_table, late))
        ).scalars().all() == [cycle_id]
        assert (
            connection.execute(
                select(cycles_table.c.cycle_id).where(overdue(cycles_table, clock.now()))
            )
            .scalars()
            .all()
            == []
        )

    # When the first goal is reported done: its deadline is no longer due; its budget is spent.
    app.commands.handle(HR, cycle_id, ReviewProgress(Progress.DONE, "Cursus af", goal_id="g1"))
    service.catch_up_all()
    assert one(app, "goals", goal_id="g1")["status"] == "done"
    assert {d["goal_id"] for d in rows(app, "due", kind="goal_deadline")} == {"g2"}
    assert one(app, "budgets", employee_id="E1")["spent_cents"] == 30010
    assert one(app, "cycles", cycle_id=cycle_id)["reviews"] == 1

    # When evaluated: completed, nothing due, E1 lacks the POP talk the matrix recommends.
    app.commands.handle(
        HR, cycle_id, RecordEvaluation((GoalResult("g1", True), GoalResult("g2", False)))
    )
    service.catch_up_all()
    cycle = one(app, "cycles", cycle_id=cycle_id)
    assert (cycle["phase"], cycle["next_followup_kind"]) == ("completed", None)
    assert cycle["evaluated_at"] is not None
    assert {g["goal_id"]: g["status"] for g in rows(app, "goals")} == {
        "g1": "achieved",
        "g2": "missed",
    }
    assert rows(app, "due") == []
    budget = one(app, "budgets", employee_id="E1")
    assert budget["committed_cents"] == budget["spent_cents"] == 70005
    assert one(app, "employees", employee_id="E1")["cycle_open"] is False
    with read_transaction(app.engine) as connection:
        cells = {q.quadrant: q for q in matrix.matrix(connection, PEOPLE.live.tables[0])}
    assert [p.employee_id for p in cells["high_potential"].lacking_pop_talk] == ["E1"]
    assert cells["high_potential"].people == 1

    # The rebuilt tables equal the live ones, row for row.
    assert_rebuild_equals_live(app)


def test_manager_workload_and_capacity(app: Popcycle) -> None:
    register(app, "M1")
    register(app, "M2")
    for number in range(5):
        register(app, f"E{number}", "M1")
    register(app, "E9", "M2")
    service = ProjectionService.from_app(app)
    service.catch_up_all()
    employees_table, managers_table = PEOPLE.live.tables
    with read_transaction(app.engine) as connection:
        loads = managers.workloads(connection, managers_table, employees_table, capacity_hours=20.0)
    by_id = {load.manager_id: load for load in loads}
    # The syllabus: four to five hours a year per employee (4.5 here).
    assert (by_id["M1"].reports, by_id["M1"].workload_hours) == (5, 22.5)
    assert by_id["M1"].over_capacity
    assert "evaluation talk" in (by_id["M1"].remedy("en") or "")
    assert "evaluatiegesprek" in (by_id["M1"].remedy("nl") or "")
    assert (by_id["M2"].workload_hours, by_id["M2"].over_capacity, by_id["M2"].remedy()) == (
        4.5,
        False,
        None,
    )
    assert by_id["M1"].name == "Name of M1"
    with read_transaction(app.engine) as connection:
        over = managers.workloads(
            connection, managers_table, employees_table, capacity_hours=20.0, only_over=True
        )
    assert [load.manager_id for load in over] == ["M1"]


def test_a_cycle_start_moves_a_report_into_the_managers_cycle_count(app: Popcycle) -> None:
    register(app, "M1")
    register(app, "E1", "M1")
    app.commands.start_cycle(HR, "E1", "M1", Reason.ON_DEMAND)
    ProjectionService.from_app(app).catch_up_all()
    assert one(app, "managers", manager_id="M1")["reports_in_cycle"] == 1


def test_forgotten_employee_reads_erased_live_and_after_rebuild(
    app: Popcycle, clock: FakeClock
) -> None:
    register(app, "M1")
    register(app, "E1", "M1")
    interview = clock.now() + timedelta(days=3)
    cycle_id = app.commands.start_cycle(HR, "E1", "M1", Reason.PROBLEM, interview).cycle_id
    assert cycle_id is not None
    app.commands.handle(HR, cycle_id, SubmitPreparation(Side.EMPLOYEE, ("x",)))
    app.commands.handle(HR, cycle_id, SubmitPreparation(Side.MANAGER, ("y",)))
    app.commands.handle(HR, cycle_id, RecordInterviewHeld())
    app.commands.handle(HR, cycle_id, goals(clock.now().date()))
    service = ProjectionService.from_app(app)
    service.catch_up_all()
    assert {g["title"] for g in rows(app, "goals")} == {"Excel", "Presenteren"}

    forget_employee(app, HR, "E1")
    service.catch_up_all()
    employee = one(app, "employees", employee_id="E1")
    assert (employee["name"], employee["email"], employee["forgotten"]) == (ERASED, ERASED, True)
    assert {g["title"] for g in rows(app, "goals")} == {ERASED}
    assert one(app, "employees", employee_id="M1")["name"] == "Name of M1"
    assert_rebuild_equals_live(app)
    assert {g["title"] for g in rows(app, "goals")} == {ERASED}


def test_cancelling_releases_what_was_not_spent_and_a_new_manager_must_sign(
    app: Popcycle, clock: FakeClock
) -> None:
    register(app, "M1")
    register(app, "M2")
    register(app, "E1", "M1")
    interview = clock.now() + timedelta(days=3)
    cycle_id = app.commands.start_cycle(HR, "E1", "M1", Reason.PERIODIC, interview).cycle_id
    assert cycle_id is not None
    for command in (
        SubmitPreparation(Side.EMPLOYEE, ("x",)),
        SubmitPreparation(Side.MANAGER, ("y",)),
        RecordInterviewHeld(),
        goals(clock.now().date()),
        SignPlan(Side.MANAGER),
        ChangeCycleManager("M2"),
    ):
        app.commands.handle(HR, cycle_id, command)
    service = ProjectionService.from_app(app)
    service.catch_up_all()
    cycle = one(app, "cycles", cycle_id=cycle_id)
    assert (cycle["manager_id"], cycle["manager_signed"]) == ("M2", False)  # must sign anew
    app.commands.handle(HR, cycle_id, SignPlan(Side.MANAGER))
    app.commands.handle(HR, cycle_id, SignPlan(Side.EMPLOYEE))
    app.commands.handle(HR, cycle_id, ReviewProgress(Progress.DONE, "af", goal_id="g2"))
    service.catch_up_all()
    assert {d["manager_id"] for d in rows(app, "due", cycle_id=cycle_id)} == {"M2"}
    assert one(app, "budgets", employee_id="E1")["committed_cents"] == 70005

    app.commands.handle(HR, cycle_id, CancelCycle("left"))
    service.catch_up_all()
    budget = one(app, "budgets", employee_id="E1")
    assert (budget["committed_cents"], budget["spent_cents"]) == (39995, 39995)
    assert one(app, "cycles", cycle_id=cycle_id)["phase"] == "cancelled"
    assert rows(app, "due") == []
    assert_rebuild_equals_live(app)
