"""The web's access check runs in the command path, on the state the command is decided on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from events.domain import Reason, Side
from events.keyring import InMemoryKeyRing
from events.memory import InMemoryEventStore
from handlers.actor import Actor, Role
from handlers.commands import CommandHandler
from handlers.repository import Repository
from tests.support.clock import FakeClock
from workflow.commands import SubmitPreparation
from workflow.employee import RegisterEmployee
from workflow.state import CycleState

HR = Actor("hr", Role.HR)


class Refused(Exception):
    """What an access check raises (the web raises its 403/404 problem)."""


@pytest.fixture
def setup() -> tuple[CommandHandler, CommandHandler, Repository, str]:
    """Two handlers on one log, as two web processes would be, and a started cycle."""
    clock = FakeClock(datetime(2026, 1, 5, 9, tzinfo=UTC))
    repository = Repository(InMemoryEventStore(clock), InMemoryKeyRing())
    first, second = CommandHandler(repository, clock), CommandHandler(repository, clock)
    first.register_employee(HR, RegisterEmployee("M1", "M", "m@example.nl"))
    first.register_employee(HR, RegisterEmployee("E1", "E", "e@example.nl", "M1"))
    cycle = first.start_cycle(HR, "E1", "M1", Reason.PERIODIC).cycle_id
    assert cycle is not None
    return first, second, repository, cycle


def _at_least(version: int, seen: list[int]) -> Callable[[CycleState], None]:
    def authorize(state: CycleState) -> None:
        seen.append(state.version)
        if state.version < version:
            raise Refused(f"version {state.version}")

    return authorize


def test_a_refusal_on_a_stale_cached_state_is_judged_again_on_the_log(
    setup: tuple[CommandHandler, CommandHandler, Repository, str],
) -> None:
    first, second, _repository, cycle = setup
    first.handle(HR, cycle, SubmitPreparation(Side.EMPLOYEE, ("a",)))  # first caches version 2
    second.handle(HR, cycle, SubmitPreparation(Side.MANAGER, ("b",)))  # the log is at 3
    seen: list[int] = []
    # When first's check would refuse its cached state but accepts the log's
    result = first.handle(
        HR, cycle, SubmitPreparation(Side.EMPLOYEE, ("c",)), authorize=_at_least(3, seen)
    )
    # Then it was judged again on the fresh state, and the command decided on that state
    assert seen == [2, 3]
    assert result.version == 4


def test_a_refusal_on_the_log_refuses_and_writes_nothing(
    setup: tuple[CommandHandler, CommandHandler, Repository, str],
) -> None:
    first, _second, repository, cycle = setup
    before = repository.cycle(cycle).version
    with pytest.raises(Refused):
        first.handle(
            HR, cycle, SubmitPreparation(Side.EMPLOYEE, ("a",)), authorize=_at_least(99, [])
        )
    assert repository.cycle(cycle).version == before


def test_the_check_sees_the_state_the_append_is_made_on(
    setup: tuple[CommandHandler, CommandHandler, Repository, str],
) -> None:
    first, _second, _repository, cycle = setup
    seen: list[int] = []
    result = first.handle(
        HR, cycle, SubmitPreparation(Side.EMPLOYEE, ("a",)), authorize=_at_least(0, seen)
    )
    assert seen == [result.version - 1]  # one event appended on the version it judged


def test_a_replayed_key_is_checked_too(
    setup: tuple[CommandHandler, CommandHandler, Repository, str],
) -> None:
    first, _second, _repository, cycle = setup
    command = SubmitPreparation(Side.EMPLOYEE, ("a",))
    first.handle(HR, cycle, command, idempotency_key="k1")
    with pytest.raises(Refused):
        first.handle(HR, cycle, command, idempotency_key="k1", authorize=_at_least(99, []))
    replayed = first.handle(HR, cycle, command, idempotency_key="k1", authorize=_at_least(0, []))
    assert replayed.replayed
