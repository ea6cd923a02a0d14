"""The web's access check runs in the command path, on the state the command is decided on."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from events.domain import Side
from handlers.actor import Actor, Role
from handlers.commands import CommandHandler
from tests.support.clock import FakeClock
from workflow.commands import SubmitPreparation
from workflow.state import CycleState

HR = Actor("hr", Role.HR)


class Refused(Exception):
    """What an access check raises (the web raises its 403/404 problem)."""


def _at_least(version: int, seen: list[int]) -> Callable[[CycleState], None]:
    def authorize(state: CycleState) -> None:
        seen.append(state.version)
        if state.version < version:
            raise Refused(f"version {state.version}")

    return authorize


def test_a_refusal_on_a_stale_cached_state_is_judged_again_on_the_log(
    two_processes: tuple[CommandHandler, CommandHandler, FakeClock, str],
) -> None:
    first, second, _clock, cycle = two_processes
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
    two_processes: tuple[CommandHandler, CommandHandler, FakeClock, str],
) -> None:
    first, _second, _clock, cycle = two_processes
    repository = first._repository
    before = repository.cycle(cycle).version
    with pytest.raises(Refused):
        first.handle(
            HR, cycle, SubmitPreparation(Side.EMPLOYEE, ("a",)), authorize=_at_least(99, [])
        )
    assert repository.cycle(cycle).version == before


def test_the_check_sees_the_state_the_append_is_made_on(
    two_processes: tuple[CommandHandler, CommandHandler, FakeClock, str],
) -> None:
    first, _second, _clock, cycle = two_processes
    seen: list[int] = []
    result = first.handle(
        HR, cycle, SubmitPreparation(Side.EMPLOYEE, ("a",)), authorize=_at_least(0, seen)
    )
    assert seen == [result.version - 1]  # one event appended on the version it judged


def test_a_replayed_key_is_checked_too(
    two_processes: tuple[CommandHandler, CommandHandler, FakeClock, str],
) -> None:
    first, _second, _clock, cycle = two_processes
    command = SubmitPreparation(Side.EMPLOYEE, ("a",))
    first.handle(HR, cycle, command, idempotency_key="k1")
    with pytest.raises(Refused):
        first.handle(HR, cycle, command, idempotency_key="k1", authorize=_at_least(99, []))
    replayed = first.handle(HR, cycle, command, idempotency_key="k1", authorize=_at_least(0, []))
    assert replayed.replayed
