"""Turning domain events into stored JSON and back, upcasting old schema versions on read.

An event's stored `type` is its class name and its `schema_version` the version registered
here. When a type changes shape, bump its version in `CURRENT_VERSIONS` and register an
upcaster from the old version: stored events are never rewritten, they are upgraded as they
are read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cattrs.preconf.json import make_converter

from events.domain import EVENT_TYPES, DomainEvent
from events.errors import UnknownEventType
from events.records import JSON, NewEvent, StoredEvent

Upcaster = Callable[[JSON], JSON]

_converter = make_converter()
_TYPES: dict[str, type[DomainEvent]] = {cls.__name__: cls for cls in EVENT_TYPES}
CURRENT_VERSIONS: dict[str, int] = {**dict.fromkeys(_TYPES, 1), "PlanDrafted": 2, "CycleStarted": 2}
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def register_upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Decorate a function that turns version `from_version` data into `from_version + 1`."""

    def register(function: Upcaster) -> Upcaster:
        _UPCASTERS[(type_name, from_version)] = function
        return function

    return register


def upcast(type_name: str, schema_version: int, data: JSON) -> JSON:
    """Bring stored data up to the current version of its type, one step at a time."""
    current = CURRENT_VERSIONS.get(type_name)
    if current is None:
        raise UnknownEventType(f"unknown event type {type_name!r}")
    if schema_version > current:
        raise UnknownEventType(
            f"{type_name} v{schema_version} is newer than this code (v{current}): upgrade popcycle"
        )
    version = schema_version
    while version < current:
        step = _UPCASTERS.get((type_name, version))
        if step is None:
            raise UnknownEventType(f"no upcaster for {type_name} from v{version} to v{version + 1}")
        data = step(data)
        version += 1
    return data


def _materials_as_list(goals_key: str) -> Upcaster:
    """v1 kept a goal's materials as one free text; v2 keeps a list (one item per material).

    The text is split on ';' and line breaks, the separators people used in v1 data.
    """

    def upcast_goals(data: JSON) -> JSON:
        goals = []
        for goal in data.get(goals_key, []):
            support = dict(goal.get("support") or {})
            text = support.get("materials")
            if isinstance(text, str):
                items = [item.strip() for item in text.replace("\n", ";").split(";")]
                support["materials"] = [item for item in items if item]
            elif text is None:
                support["materials"] = []
            goals.append({**goal, "support": support})
        return {**data, goals_key: goals}

    return upcast_goals


register_upcaster("PlanDrafted", 1)(_materials_as_list("goals"))
register_upcaster("CycleStarted", 1)(_materials_as_list("proposals"))


def encode(event: DomainEvent) -> NewEvent:
    """A domain event as the store keeps it."""
    name = type(event).__name__
    data: dict[str, Any] = _converter.unstructure(event)
    return NewEvent(type=name, data=data, schema_version=CURRENT_VERSIONS[name])


def decode(stored: StoredEvent, data: JSON | None = None) -> DomainEvent:
    """A stored event as the current domain type, upcast if it was written by older code.

    `data` is the already upcast (and unsealed) data, when the caller has it.
    """
    if data is None:
        data = upcast(stored.type, stored.schema_version, stored.data)
    return _converter.structure(data, _TYPES[stored.type])
