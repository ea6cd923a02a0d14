"""Folding events into a state, for any aggregate's `evolve`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

S = TypeVar("S")
E = TypeVar("E")


def fold(evolve: Callable[[S | None, E], S], state: S | None, events: Iterable[E]) -> S:
    """The state after `events` (a stream from the start, or just-decided ones on top).

    Folding nothing into nothing is a caller's bug (a command that decided no events on a new
    stream), so it raises rather than return None.
    """
    for event in events:
        state = evolve(state, event)
    if state is None:
        raise ValueError("no events to fold")
    return state
