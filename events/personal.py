"""Which fields of which event types are personal data, and how they are split off and back.

GDPR erasure without rewriting the log: an event's personal fields are taken out of its data
and sealed with the employee's own key (`events/sealing.py`); the rest — dates, phases, the
SMART structure — stays readable for statistics. Destroying the key leaves the sealed part
unreadable for ever, and `merge` then puts `ERASED` where the values were.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, NamedTuple

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


class _Field(NamedTuple):
    """One step of a type's personal paths, compiled once (patterns share their prefixes).

    `fields` empty: a leaf, the personal value itself (`listed`: erased as `[ERASED]`; `order`:
    its pattern's place in `PERSONAL_FIELDS`). Otherwise the steps below `name`: in the object
    there, or in every item of the list there (`many`, "a[]").
    """

    name: str
    many: bool
    fields: tuple[_Field, ...]
    listed: bool = False
    order: int = 0


def _compile(patterns: Iterable[tuple[int, str]]) -> tuple[_Field, ...]:
    """The (order, pattern) pairs as a tree of steps, so that one walk reaches all of them.

    Refuses patterns the walk could not serve the same way in any order: one ending in "[]"
    (it would name no value) and one that is a prefix of another (the inner write would land in
    a value the outer one takes out or puts back).
    """
    leaves: dict[str, int] = {}
    nested: dict[tuple[str, bool], list[tuple[int, str]]] = {}
    for order, pattern in patterns:
        head, _, rest = pattern.partition(".")
        name, many = head.removesuffix("[]"), head.endswith("[]")
        if not rest and many:
            raise ValueError(f"personal path {pattern!r} must end in a field name")
        if rest:
            nested.setdefault((name, many), []).append((order, rest))
        else:
            leaves[name] = order
    overlap = leaves.keys() & {name for name, _ in nested}
    if overlap:
        raise ValueError(f"personal paths overlap at {sorted(overlap)}")
    return (
        *(_Field(name, False, (), name.endswith(LIST_FIELDS), at) for name, at in leaves.items()),
        *(_Field(name, many, _compile(rests)) for (name, many), rests in nested.items()),
    )


_PLANS = {name: _compile(enumerate(patterns)) for name, patterns in PERSONAL_FIELDS.items()}

#: (path, the object holding the value, the leaf step): where a pattern reaches in an event.
_Place = tuple[str, dict[str, Any], _Field]


def _reach(
    data: dict[str, Any], fields: tuple[_Field, ...], trail: str, detach: bool, out: list[_Place]
) -> None:
    """Collect into `out` every place `fields` reach in `data` (path "goals.0.title").

    With `detach`, every list and object on the way is replaced by a shallow copy first (`data`
    itself must already be one), so that writing at the places leaves the caller's data alone:
    only what the paths go through is copied, not whole branches.
    """
    for field in fields:
        name = field.name
        if not field.fields:
            if name in data:
                out.append((trail + name, data, field))
            continue
        inner = data.get(name)
        if field.many:
            if not isinstance(inner, list):
                continue
            if detach:
                inner = data[name] = list(inner)
            for index, item in enumerate(inner):
                if isinstance(item, dict):
                    target = inner[index] = dict(item) if detach else item
                    _reach(target, field.fields, f"{trail}{name}.{index}.", detach, out)
        elif isinstance(inner, dict):
            if detach:
                inner = data[name] = dict(inner)
            _reach(inner, field.fields, f"{trail}{name}.", detach, out)


def _places(type_name: str, data: dict[str, Any], *, detach: bool) -> list[_Place]:
    places: list[_Place] = []
    plan = _PLANS.get(type_name)
    if plan:
        _reach(data, plan, "", detach, places)
    return places


def split(type_name: str, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data with personal values set to None, the personal values by path)."""
    public = dict(data)
    personal: dict[str, Any] = {}
    places = _places(type_name, public, detach=True)
    places.sort(key=lambda place: place[2].order)  # by pattern, as `PERSONAL_FIELDS` lists them
    for path, container, field in places:
        value = container[field.name]
        if value is not None:
            personal[path] = value
            container[field.name] = None
    return public, personal


def merge(
    type_name: str,
    public: dict[str, Any],
    personal: dict[str, Any] | None,
    paths: Collection[str],
    *,
    owned: bool = False,
) -> dict[str, Any]:
    """Put the sealed values back at `paths`; with `personal=None` (key destroyed) mark them.

    An erased list keeps its shape (`[ERASED]`) so that the event still loads as its type.
    `owned`: `public` is the caller's to give away (freshly parsed, say), so it is filled in
    place instead of copied along the paths.
    """
    data = public if owned else dict(public)
    wanted = paths if isinstance(paths, (set, frozenset)) else set(paths)
    for path, container, field in _places(type_name, data, detach=not owned):
        if path not in wanted:
            continue
        if personal is not None and path in personal:
            container[field.name] = personal[path]
        else:
            container[field.name] = [ERASED] if field.listed else ERASED
    return data
