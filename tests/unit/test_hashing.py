"""The hashed event text is the same however the store assembles it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from events.hashing import canonical_json, content_tail

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(
    type=st.text(min_size=1),
    schema_version=st.integers(min_value=1, max_value=99),
    data=st.dictionaries(st.text(), JSON, max_size=4),
    metadata=st.dictionaries(st.text(), JSON, max_size=3),
    seconds=st.integers(min_value=0, max_value=10**9),
)
def test_the_tail_assembled_from_encoded_parts_is_the_canonical_json_of_the_event(
    type: str,
    schema_version: int,
    data: dict[str, Any],
    metadata: dict[str, Any],
    seconds: int,
) -> None:
    recorded_at = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=7)
    whole = canonical_json([type, schema_version, data, metadata, recorded_at.isoformat()])
    tail = content_tail(
        type=type,
        schema_version=schema_version,
        data=data,
        metadata=metadata,
        recorded_at=recorded_at,
    )
    assert tail == whole[1:]
