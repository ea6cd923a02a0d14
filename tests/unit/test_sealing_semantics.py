"""Unsealing walks precompiled paths, opens freshly parsed data in place and reads the blob with
orjson: these properties pin it to the plain reading of the rules (walk each pattern on its own,
copy, `json.loads`) for any data, including shapes no event type has."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from events.personal import ERASED, LIST_FIELDS, PERSONAL_FIELDS, _compile, merge, split
from events.sealing import SEALED, _parse, new_key, seal, unseal

TYPES = sorted(PERSONAL_FIELDS)
KEY = new_key()


def reference_places(data: Any, parts: list[str], trail: str = "") -> list[tuple[str, Any, str]]:
    """Where one pattern reaches: "a.b" walks objects, "a[]" every item of a list."""
    if not parts or not isinstance(data, dict):
        return []
    head, rest = parts[0], parts[1:]
    if head.endswith("[]"):
        items = data.get(head[:-2])
        if not isinstance(items, list):
            return []
        return [
            place
            for index, item in enumerate(items)
            for place in reference_places(item, rest, f"{trail}{head[:-2]}.{index}.")
        ]
    if not rest:
        return [(trail + head, data, head)] if head in data else []
    return reference_places(data.get(head), rest, f"{trail}{head}.")


def reference_merge(
    type_name: str, public: dict[str, Any], personal: dict[str, Any] | None, paths: list[str]
) -> dict[str, Any]:
    """`merge` as the rules state it, on a full deep copy."""
    data = copy.deepcopy(public)
    for pattern in PERSONAL_FIELDS.get(type_name, ()):
        for path, container, key in reference_places(data, pattern.split(".")):
            if path not in paths:
                continue
            if personal is not None and path in personal:
                container[key] = personal[path]
            else:
                container[key] = [ERASED] if path.endswith(LIST_FIELDS) else ERASED
    return data


def reference_split(type_name: str, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    public, personal = copy.deepcopy(data), {}
    for pattern in PERSONAL_FIELDS.get(type_name, ()):
        for path, container, key in reference_places(public, pattern.split(".")):
            if container[key] is not None:
                personal[path], container[key] = container[key], None
    return public, personal


def same(left: Any, right: Any) -> bool:
    """Equal down to types, key order and NaN (repr tells 1 from 1.0 and -0.0 from 0.0)."""
    return repr(left) == repr(right)


NAMES = sorted(
    {part.removesuffix("[]") for p in PERSONAL_FIELDS.values() for q in p for part in q.split(".")}
    | {"other", "0"}
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=6)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(NAMES), inner),
    max_leaves=25,
)
EVENTS = st.dictionaries(st.sampled_from(NAMES), VALUES)


def shaped(patterns: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects the patterns reach into (each field may be missing or of another shape)."""
    groups: dict[str, list[str]] = {}
    for pattern in patterns:
        head, _, rest = pattern.partition(".")
        groups.setdefault(head, []).append(rest)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for head, rests in groups.items():
        inner = [rest for rest in rests if rest]
        value = shaped(inner) if inner else VALUES
        fields[head.removesuffix("[]")] = (
            st.lists(value, max_size=3) if head.endswith("[]") else value
        ) | VALUES
    return st.tuples(EVENTS, st.fixed_dictionaries({}, optional=fields)).map(
        lambda parts: {**parts[0], **parts[1]}
    )


#: (type, data): data shaped like the type's personal paths, or any object at all.
TYPED = st.sampled_from(TYPES).flatmap(
    lambda name: st.tuples(st.just(name), shaped(list(PERSONAL_FIELDS[name])) | EVENTS)
)


@settings(max_examples=150)
@given(typed=TYPED)
def test_split_matches_the_rules_and_leaves_its_input_alone(
    typed: tuple[str, dict[str, Any]],
) -> None:
    type_name, data = typed
    before = copy.deepcopy(data)
    assert same(split(type_name, data), reference_split(type_name, data))
    assert same(data, before)


@settings(max_examples=150)
@given(
    typed=TYPED,
    erased=st.booleans(),
    extra=st.lists(st.text(alphabet="goals.01titlesupport", max_size=12), max_size=3),
    dropped=st.integers(min_value=0, max_value=3),
)
def test_merge_matches_the_rules_in_place_or_not(
    typed: tuple[str, dict[str, Any]], erased: bool, extra: list[str], dropped: int
) -> None:
    type_name, data = typed
    public, taken = split(type_name, data)
    paths = sorted(taken)[dropped:] + extra  # some values missing, some paths bogus
    personal = None if erased else {p: v for p, v in taken.items() if p not in extra}
    expected = reference_merge(type_name, public, personal, paths)
    before = copy.deepcopy(public)
    assert same(merge(type_name, public, personal, paths), expected)
    assert same(public, before)
    assert same(merge(type_name, public, personal, set(paths), owned=True), expected)


@settings(max_examples=150)
@given(typed=TYPED)
def test_unseal_restores_what_seal_took_or_erases_it(typed: tuple[str, dict[str, Any]]) -> None:
    type_name, data = typed
    sealed = seal(type_name, data, "e1", KEY)
    stored = copy.deepcopy(sealed)
    public, personal = reference_split(type_name, data)
    paths = sorted(personal)
    personal = json.loads(json.dumps(personal, sort_keys=True))  # as sealed: keys sorted
    restored = reference_merge(type_name, public, personal, paths)
    erased = reference_merge(type_name, public, None, paths)
    if SEALED not in sealed:  # nothing personal: the data is stored (and read) as it is
        erased = restored = data
    assert same(unseal(type_name, sealed, KEY), restored)
    assert same(unseal(type_name, sealed, None), erased)
    assert same(sealed, stored)
    assert same(unseal(type_name, copy.deepcopy(sealed), KEY, owned=True), restored)
    assert same(unseal(type_name, copy.deepcopy(sealed), None, owned=True), erased)


@given(value=VALUES)
def test_parse_reads_what_seal_writes_as_json_loads_does(value: Any) -> None:
    plain = json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")
    assert same(_parse(plain), json.loads(plain))


@pytest.mark.parametrize(
    "plain",
    [
        b'{"a": 18446744073709551616}',
        b'{"a": -9223372036854775809, "b": "9223372036854775808"}',
        b"[NaN, -Infinity]",
        b'"\\ud800"',
        b"-1e400",
    ],
)
def test_parse_leaves_what_orjson_reads_otherwise_to_json(plain: bytes) -> None:
    assert same(_parse(plain), json.loads(plain))


def test_a_tampered_blob_fails_and_leaves_owned_data_as_it_was() -> None:
    sealed = seal("InterviewHeld", {"summary": "vertrouwelijk", "at": "2026"}, "e1", KEY)
    sealed[SEALED]["subject"] = "e2"  # the blob is bound to e1: under e2 it must not open
    stored = copy.deepcopy(sealed)
    with pytest.raises(ValueError, match="failed to authenticate"):
        unseal("InterviewHeld", sealed, KEY, owned=True)
    assert sealed == stored


@pytest.mark.parametrize("patterns", [("a", "a.b"), ("a[].b", "a[]"), ("x", "a[]")])
def test_paths_the_walk_cannot_serve_are_refused(patterns: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="personal path"):
        _compile(enumerate(patterns))
