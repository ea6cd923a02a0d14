"""Which fields of which event types are personal data, and how they are split off and back.

GDPR erasure without rewriting the log: an event's personal fields are taken out of its data
and sealed with the employee's own key (`events/sealing.py`); the rest — dates, phases, the
SMART structure — stays readable for statistics. Destroying the key leaves the sealed part
unreadable for ever, and `merge` then puts `ERASED` where the values were.
"""

from __future__ import annotations

from typing import Any

ERASED = "[erased]"
LIST_FIELDS = ("talking_points", "materials")  # erased lists keep their shape: [ERASED]

# Paths into an event's data: "a.b" walks objects, "a[]" walks every item of a list.
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "EmployeeRegistered": ("name", "email"),
    "EmployeeDetailsChanged": ("name", "email"),
    "PreparationSubmitted": ("talking_points",),
    "InterviewHeld": ("summary",),
    "PlanDrafted": (
        "goals[].title",
        "goals[].activity",
        "goals[].result",
        "goals[].starting_level",
        "goals[].reward",
        "goals[].support.coach",
        "goals[].support.materials",
    ),
    "CycleStarted": (
        "proposals[].title",
        "proposals[].activity",
        "proposals[].result",
        "proposals[].starting_level",
        "proposals[].reward",
        "proposals[].support.coach",
        "proposals[].support.materials",
    ),
    "ProgressReviewed": ("note",),
    "EvaluationRecorded": ("summary", "results[].effect"),
}


def _walk(data: Any, parts: list[str], trail: str) -> list[tuple[str, Any, str]]:
    """Every (path, container, key) a pattern reaches in `data`."""
    if not parts or not isinstance(data, dict):
        return []
    head, rest = parts[0], parts[1:]
    if head.endswith("[]"):
        items = data.get(head[:-2])
        if not isinstance(items, list):
            return []
        found: list[tuple[str, Any, str]] = []
        for index, item in enumerate(items):
            found += _walk(item, rest, f"{trail}{head[:-2]}.{index}.")
        return found
    if not rest:
        return [(f"{trail}{head}", data, head)] if head in data else []
    return _walk(data.get(head), rest, f"{trail}{head}.")


def _places(type_name: str, data: dict[str, Any]) -> list[tuple[str, Any, str]]:
    places: list[tuple[str, Any, str]] = []
    for pattern in PERSONAL_FIELDS.get(type_name, ()):
        places += _walk(data, pattern.split("."), "")
    return places


def _branches(patterns: tuple[str, ...]) -> frozenset[str]:
    """The top-level keys under which `patterns` reach into nested objects or lists."""
    tops = set()
    for pattern in patterns:
        head, nested, _ = pattern.partition(".")
        if nested or head.endswith("[]"):
            tops.add(head.removesuffix("[]"))
    return frozenset(tops)


_BRANCHES = {name: _branches(patterns) for name, patterns in PERSONAL_FIELDS.items()}


def _detached(type_name: str, data: dict[str, Any]) -> dict[str, Any]:
    """A copy of `data` that the personal paths can be written into without touching `data`.

    Only the branches those paths go through are copied (the top-level dict and, for nested
    paths such as `goals[].title`, that one list): a full deep copy of every event would cost
    more than the rest of unsealing.
    """
    detached = dict(data)
    for top in _BRANCHES.get(type_name, ()):
        if top in detached:
            detached[top] = _json_copy(detached[top])
    return detached


def _json_copy(value: Any) -> Any:
    """Deep copy of JSON-shaped data (dicts, lists, immutable scalars), several times faster
    than `copy.deepcopy`, which has to handle any object graph."""
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    return value


def split(type_name: str, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data with personal values set to None, the personal values by path)."""
    public = _detached(type_name, data)
    personal: dict[str, Any] = {}
    for path, container, key in _places(type_name, public):
        if container[key] is not None:
            personal[path] = container[key]
            container[key] = None
    return public, personal


def merge(
    type_name: str, public: dict[str, Any], personal: dict[str, Any] | None, paths: list[str]
) -> dict[str, Any]:
    """Put the sealed values back at `paths`; with `personal=None` (key destroyed) mark them.

    An erased list keeps its shape (`[ERASED]`) so that the event still loads as its type.
    """
    data = _detached(type_name, public)
    wanted = set(paths)
    for path, container, key in _places(type_name, data):
        if path not in wanted:
            continue
        if personal is not None and path in personal:
            container[key] = personal[path]
        else:
            container[key] = [ERASED] if path.endswith(LIST_FIELDS) else ERASED
    return data
