"""GDPR erasure: after `forget`, no personal value of that employee is readable anywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from events.domain import GoalResult, Progress, Reason, Side, Support
from events.personal import ERASED
from events.verify import verify_chain
from handlers.actor import Actor, Role
from handlers.bootstrap import Popcycle, bootstrap
from handlers.history import cycle_history
from handlers.logs import configure_logging
from handlers.privacy import forget_employee
from handlers.projections.service import ProjectionService
from handlers.settings import Settings
from tests.support.clock import FakeClock
from workflow.commands import (
    DraftPlan,
    GoalDraft,
    RecordEvaluation,
    RecordInterviewHeld,
    ReviewProgress,
    SignPlan,
    SubmitPreparation,
)
from workflow.employee import RegisterEmployee

HR = Actor("hr-1", Role.HR)
SECRETS = [
    "Zoë Geheimnaam",
    "zoe.geheim@example.nl",
    "Ik wil weg uit deze afdeling",
    "Burn-out signalen besproken",
    "Cursus Spaans voor beginners",
    "Loopt achter door ziekte",
]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Popcycle]:
    from events.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'pop.sqlite3'}"
    upgrade(url)
    popcycle = bootstrap(Settings.from_env({"POP_DATABASE_URL": url}), FakeClock())
    yield popcycle
    popcycle.close()


def _run_cycle(app: Popcycle, clock: FakeClock) -> str:
    app.commands.register_employee(HR, RegisterEmployee("M1", "Harrie", "h@example.nl"))
    app.commands.register_employee(HR, RegisterEmployee("E1", SECRETS[0], SECRETS[1], "M1"))
    cycle = app.commands.start_cycle(
        HR, "E1", "M1", Reason.PROBLEM, clock() + timedelta(days=10)
    ).cycle_id
    assert cycle is not None
    send = app.commands.handle
    send(HR, cycle, SubmitPreparation(Side.EMPLOYEE, (SECRETS[2],)))
    send(HR, cycle, SubmitPreparation(Side.MANAGER, ("Planning",)))
    clock.advance(timedelta(days=11))
    send(HR, cycle, RecordInterviewHeld(summary=SECRETS[3]))
    deadline = clock().date() + timedelta(days=100)
    goal = GoalDraft("Spaans", SECRETS[4], "Een gesprek voeren", deadline, Support(own_hours=10))
    send(HR, cycle, DraftPlan((goal,)))
    send(HR, cycle, SignPlan(Side.EMPLOYEE))
    send(HR, cycle, SignPlan(Side.MANAGER))
    send(HR, cycle, ReviewProgress(Progress.STALLED, SECRETS[5], "g1"))
    send(HR, cycle, RecordEvaluation((GoalResult("g1", False, SECRETS[5]),), SECRETS[3]))
    return cycle


def test_forgetting_erases_every_personal_value_and_keeps_the_chain(
    app: Popcycle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("DEBUG")
    clock = app.clock
    assert isinstance(clock, FakeClock)
    cycle = _run_cycle(app, clock)
    # Given the secrets are readable before
    before = json.dumps([e.to_json() for e in cycle_history(app.repository, cycle)])
    assert SECRETS[2] in before

    projections = ProjectionService.from_app(app)
    projections.catch_up_all()  # the read models hold the name too, before
    held = b"".join(path.read_bytes() for path in tmp_path.glob("pop.sqlite3*"))
    assert SECRETS[1].encode() in held or SECRETS[0].encode() in held
    # When HR forgets the employee
    forget_employee(app, HR, "E1")
    projections.catch_up_all()

    # Then no read shows them: the person, the history, the cycle state
    person = app.repository.employee("E1")
    assert (person.name, person.email, person.forgotten) == (ERASED, ERASED, True)
    after = json.dumps([e.to_json() for e in cycle_history(app.repository, cycle)])
    state = app.repository.cycle(cycle)
    everything = after + repr(state) + repr(person)
    for secret in SECRETS:
        assert secret not in everything, secret
    assert ERASED in after
    # And the workflow facts stay for statistics
    assert state.phase.value == "completed"
    assert state.goals[0].deadline > date(2000, 1, 1)
    assert state.goals[0].support.own_hours == 10
    # And the chain still verifies
    assert verify_chain(app.store.read_all(), app.store.head()).ok
    # And neither the database files (log, keys, read models) nor the logs hold any of it
    app.engine.dispose()
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("pop.sqlite3*"))
    logs = capsys.readouterr()
    for secret in SECRETS:
        assert secret.encode() not in raw, secret
        assert secret not in logs.out + logs.err, secret


def test_no_new_personal_data_is_recorded_for_a_forgotten_employee(app: Popcycle) -> None:
    clock = app.clock
    assert isinstance(clock, FakeClock)
    cycle = _run_cycle(app, clock)
    forget_employee(app, HR, "E1")
    restarted = app.commands.restart(HR, cycle).cycle_id
    assert restarted is not None
    with pytest.raises(Exception, match="was forgotten"):
        app.commands.handle(HR, restarted, SubmitPreparation(Side.EMPLOYEE, ("nieuw",)))
    # forgetting twice is harmless
    assert forget_employee(app, HR, "E1") is False
