"""The embedded default: the same actors on dramatiq's StubBroker and one in-process Worker.

Commands nudge the worker after each commit; an append whose nudge never happened (a crash
between the commit and the nudge) is caught up by the safety sweep within its interval.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from events.domain import Reason
from events.migrate import upgrade
from handlers.bootstrap import Popcycle
from handlers.commands import CommandHandler
from handlers.projections.nudge import LocalGate
from handlers.projections.service import ProjectionService
from handlers.workers import RunningWorker, start_in_process
from tests.integration.test_projection_models import HR, one, register, wire
from tests.support.clock import FakeClock
from tests.support.workers import wait_until
from workflow.employee import RegisterEmployee


@pytest.fixture
def app(tmp_path: Path, clock: FakeClock) -> Iterator[Popcycle]:
    url = f"sqlite:///{tmp_path / 'pop.sqlite3'}"
    upgrade(url)
    popcycle = wire(url, clock)
    yield popcycle
    popcycle.close()


def caught_up(app: Popcycle) -> bool:
    return all(lag.caught_up for lag in ProjectionService.from_app(app).lag())


def test_commands_nudge_the_in_process_worker(
    app: Popcycle, clock: FakeClock, started: list[RunningWorker]
) -> None:
    # Given a worker whose sweep would only come after an hour
    started.append(start_in_process(app, threads=2, sweep_seconds=3600))
    # When commands are sent through the application
    register(app, "M1")
    register(app, "E1", "M1")
    cycle_id = app.commands.start_cycle(
        HR, "E1", "M1", Reason.PERIODIC, clock.now() + timedelta(days=10)
    ).cycle_id
    # Then the nudges alone bring the read models up to date, promptly
    wait_until(lambda: caught_up(app), 10, "read models caught up by nudges", poll=0.02)
    assert one(app, "cycles", cycle_id=cycle_id)["phase"] == "invitation"
    assert one(app, "employees", employee_id="E1")["cycle_open"] is True


def test_an_append_without_its_nudge_is_caught_by_the_sweep(
    app: Popcycle, started: list[RunningWorker]
) -> None:
    # Given a worker sweeping every half second
    started.append(start_in_process(app, threads=1, sweep_seconds=0.5))
    wait_until(lambda: caught_up(app), 10, "the empty log", poll=0.02)
    # When events are appended by a command side that never nudges (it crashed in between)
    silent = CommandHandler(app.repository, app.clock, on_appended=None)
    silent.register_employee(HR, RegisterEmployee("E7", "Eva", "eva@example.org"))
    assert not caught_up(app)
    # Then the sweep catches them up within its interval (plus a catch-up's time)
    seconds = wait_until(lambda: caught_up(app), 5, "caught up by the sweep", poll=0.02)
    assert seconds < 3
    assert one(app, "employees", employee_id="E7")["name"] == "Eva"


def test_the_local_gate_lets_one_nudge_wait_per_projection() -> None:
    gate = LocalGate()
    assert gate.claim("cycles") is True
    assert gate.claim("cycles") is False  # one pending catch-up is enough
    assert gate.claim("people") is True
    gate.release("cycles")  # the actor started
    assert gate.claim("cycles") is True
    gate.force("people")
    assert gate.claim("people") is False
