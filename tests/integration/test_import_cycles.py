"""What an import does to open cycles: a new manager takes the cycle over, a leaver's ends.

Checked where people would look: the cycle's history, its state, and the follow-ups the real
scheduler fires (or no longer fires) afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from events.domain import Reason, Side, Support
from handlers.actor import Actor, Role
from handlers.bootstrap import Popcycle
from handlers.history import cycle_history
from handlers.imports import ImportOptions, OrganisationImport
from handlers.organisation import LEFT_REASON, OrganisationHandler
from scheduler.calendar import organisation_calendar
from scheduler.runner import build_scheduler
from tests.integration.conftest import SQL_KINDS
from tests.support.apps import database_url, wired
from tests.support.clock import FakeClock
from workflow.commands import (
    DraftPlan,
    GoalDraft,
    RecordInterviewHeld,
    SignPlan,
    SubmitPreparation,
)
from workflow.employee import ChangeManager, RecordLeaving
from workflow.errors import DomainError
from workflow.followups import followups_for
from workflow.phases import Phase
from workflow.policy import Policy

HR = Actor("hr-1", Role.HR)
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
HEADER = (
    "employee_number,name,email,manager_number,department,function,language,start_date,end_date"
)
PEOPLE = {
    "M1": "M1,Harrie Koning,harrie@example.nl,,Directie,Directeur,nl,2020-01-01,",
    "M2": "M2,Mia Bos,mia@example.nl,,Verkoop,Teamleider,nl,2020-01-01,",
    "E1": "E1,Ann de Vries,ann@example.nl,M1,Verkoop,Adviseur,en,2021-03-01,",
    "E2": "E2,Bram Jansen,bram@example.nl,M1,Verkoop,Adviseur,nl,2022-06-15,",
}


@pytest.fixture(params=SQL_KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    postgres = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return database_url(request.param, tmp_path, postgres)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START, tick=timedelta(milliseconds=1))


@pytest.fixture
def app(url: str, clock: FakeClock, tmp_path: Path) -> Iterator[Popcycle]:
    with wired(url, clock) as popcycle:
        importer = OrganisationImport.for_app(popcycle)
        importer.run(hr_file(tmp_path / "v1.csv", PEOPLE), HR)
        yield popcycle


def hr_file(path: Path, people: dict[str, str], **changed: str) -> Path:
    path.write_text("\n".join([HEADER, *{**people, **changed}.values(), ""]), encoding="utf-8")
    return path


def cycle_waiting_for_signatures(app: Popcycle, employee: str) -> str:
    """A cycle of `employee` with M1, the plan drafted and signed by M1 only."""
    cycle = app.commands.start_cycle(
        HR, employee, "M1", Reason.PERIODIC, app.clock() + timedelta(days=10)
    ).cycle_id
    assert cycle is not None
    send = app.commands.handle
    send(HR, cycle, SubmitPreparation(Side.EMPLOYEE, ("Doorgroeien",)))
    send(HR, cycle, SubmitPreparation(Side.MANAGER, ("Planning",)))
    send(HR, cycle, RecordInterviewHeld(summary="Goed gesprek"))
    deadline = app.clock().date() + timedelta(days=120)
    goal = GoalDraft(
        "Excel", "Cursus volgen", "Zelfstandig rapporteren", deadline, Support(own_hours=8)
    )
    send(HR, cycle, DraftPlan((goal,)))
    send(HR, cycle, SignPlan(Side.MANAGER))
    return cycle


def fired(app: Popcycle, cycle_id: str) -> list[tuple[str, list[str]]]:
    return [
        (entry.data["kind"], entry.data["recipients"])
        for entry in cycle_history(app.repository, cycle_id)
        if entry.type == "FollowUpFired"
    ]


def test_a_new_manager_mid_cycle_takes_the_cycle_and_its_reminders(
    app: Popcycle, clock: FakeClock, tmp_path: Path
) -> None:
    cycle = app.commands.start_cycle(HR, "E1", "M1", Reason.PERIODIC).cycle_id
    assert cycle is not None
    scheduler = build_scheduler(app)
    scheduler.tick()
    report = OrganisationImport.for_app(app).run(
        hr_file(tmp_path / "v2.csv", PEOPLE, E1=PEOPLE["E1"].replace(",M1,", ",M2,")), HR
    )
    assert (report.changed, report.moved_cycles) == (1, 1)

    history = cycle_history(app.repository, cycle)
    assert [entry.type for entry in history] == ["CycleStarted", "CycleManagerChanged"]
    assert history[-1].data["manager_id"] == "M2"
    assert history[-1].data["previous_manager_id"] == "M1"
    assert app.repository.cycle(cycle).manager_id == "M2"
    # Two weeks without preparation: the escalation goes to the new manager, not the old one
    clock.set(START + timedelta(days=15))
    scheduler.tick()
    assert fired(app, cycle) == [
        ("invitation.reminder", ["E1"]),
        ("invitation.escalation", ["M2"]),
    ]


def test_a_new_manager_mid_agreement_must_sign_himself(app: Popcycle, tmp_path: Path) -> None:
    cycle = cycle_waiting_for_signatures(app, "E1")
    OrganisationImport.for_app(app).run(
        hr_file(tmp_path / "v2.csv", PEOPLE, E1=PEOPLE["E1"].replace(",M1,", ",M2,")), HR
    )
    state = app.repository.cycle(cycle)
    assert (state.manager_id, state.signatures) == ("M2", frozenset())  # M1's signature lapsed
    calendar = organisation_calendar(app.settings.timezone, Policy())
    (unsigned,) = followups_for(state, Policy(), calendar)
    assert unsigned.recipients == ("employee", "manager")


def test_the_reminder_to_sign_reaches_the_new_manager_too(
    app: Popcycle, clock: FakeClock, tmp_path: Path
) -> None:
    cycle = cycle_waiting_for_signatures(app, "E1")
    scheduler = build_scheduler(app)
    scheduler.tick()  # the reminder to sign is planned for the employee alone (M1 signed)
    OrganisationImport.for_app(app).run(
        hr_file(tmp_path / "v2.csv", PEOPLE, E1=PEOPLE["E1"].replace(",M1,", ",M2,")), HR
    )
    clock.set(START + timedelta(days=7))
    scheduler.tick()
    assert fired(app, cycle) == [("agreement.unsigned", ["E1", "M2"])]


def test_a_leaver_mid_cycle_has_it_cancelled_and_nothing_fires_for_it_any_more(
    app: Popcycle, clock: FakeClock, tmp_path: Path
) -> None:
    cycle = cycle_waiting_for_signatures(app, "E2")
    scheduler = build_scheduler(app)
    scheduler.tick()
    clock.set(START + timedelta(days=2))
    report = OrganisationImport.for_app(app).run(
        hr_file(tmp_path / "v2.csv", PEOPLE, E2=PEOPLE["E2"] + "2026-03-03"), HR
    )
    assert (report.left, report.cancelled_cycles) == (1, 1)

    history = cycle_history(app.repository, cycle)
    assert [entry.type for entry in history[-1:]] == ["CycleCancelled"]
    assert history[-1].data["reason"] == LEFT_REASON == "left the organisation"
    state = app.repository.cycle(cycle)
    assert state.phase is Phase.CANCELLED
    calendar = organisation_calendar(app.settings.timezone, Policy())
    assert followups_for(state, Policy(), calendar) == []
    # Weeks later the scheduler fires nothing for the cancelled cycle
    clock.set(START + timedelta(days=30))
    scheduler.tick()
    assert fired(app, cycle) == []


def test_a_cycle_opened_while_the_import_decided_is_still_cancelled(
    app: Popcycle, clock: FakeClock, tmp_path: Path
) -> None:
    importer = OrganisationImport.for_app(app)
    prepare = importer.handler._prepare_keys  # the seam just before the append
    opened: list[str] = []

    def meanwhile(subjects: set[str]) -> None:
        if not opened:  # someone starts a cycle for E2 after the import read his state
            result = app.commands.start_cycle(HR, "E2", "M1", Reason.ON_DEMAND)
            opened.append(str(result.cycle_id))
        if prepare is not None:
            prepare(subjects)

    importer.handler._prepare_keys = meanwhile
    report = importer.run(hr_file(tmp_path / "v2.csv", PEOPLE, E2=PEOPLE["E2"] + "2026-03-01"), HR)
    assert report.cancelled_cycles == 1
    assert app.repository.cycle(opened[0]).cancelled_reason == LEFT_REASON


def test_changes_by_hand_have_the_same_consequences_and_refuse_loops(
    app: Popcycle, clock: FakeClock
) -> None:
    cycle = cycle_waiting_for_signatures(app, "E1")
    importer = OrganisationImport.for_app(app)
    handler: OrganisationHandler = importer.handler
    handler.handle(HR, "E1", ChangeManager("M2"))
    assert app.repository.cycle(cycle).manager_id == "M2"
    with pytest.raises(DomainError, match="reporting loop M2 → E1 → M2"):
        handler.handle(HR, "M2", ChangeManager("E1"))
    handler.handle(HR, "E1", RecordLeaving(clock().date()))
    assert app.repository.cycle(cycle).phase is Phase.CANCELLED


def test_one_transaction_per_employee_has_the_same_cycle_consequences(
    app: Popcycle, tmp_path: Path
) -> None:
    moved = cycle_waiting_for_signatures(app, "E1")
    app.commands.handle(HR, moved, SignPlan(Side.EMPLOYEE))  # in force: signatures stay
    report = OrganisationImport.for_app(app).run(
        hr_file(tmp_path / "v2.csv", PEOPLE, E1=PEOPLE["E1"].replace(",M1,", ",M2,")),
        HR,
        ImportOptions(batch_size=1),
    )
    assert report.moved_cycles == 1
    state = app.repository.cycle(moved)
    assert (state.manager_id, state.phase, state.in_force) == ("M2", Phase.PROGRESS_REVIEW, True)
