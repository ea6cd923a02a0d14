"""The tamper-evident hash chain over the whole log.

Each event's hash covers its own content *and* the previous event's hash (in global position
order), so editing, removing, inserting or reordering any event breaks every hash after it. The
chain head (last position and hash) is kept beside the log so that cutting off the last events
is caught too.

The hashed text is `previous hash ‖ canonical JSON of [position, stream id, version, type,
schema version, data, metadata, recorded at]`. On PostgreSQL the store chains it in SQL, in the
very statement that takes the head lock (`events.sqlstore`): position and version are only
known under the lock, so the JSON is cut into parts around them. `content_tail` is the part
Python knows beforehand and `chain_hash` puts the parts together exactly as the SQL does, so
both databases, the in-memory store and `pop verify` compute one and the same chain.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """One byte-exact JSON text per value: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_tail(
    *,
    type: str,
    schema_version: int,
    data: dict[str, Any],
    metadata: dict[str, Any],
    recorded_at: datetime,
) -> str:
    """The hashed JSON after the version: `type,schema_version,data,metadata,"recorded_at"]`."""
    suffix = metadata_suffix(canonical_json(metadata), recorded_at)
    return encoded_tail(type, schema_version, canonical_json(data), suffix)


def metadata_suffix(metadata_json: str, recorded_at: datetime) -> str:
    """`,metadata,"recorded_at"]`: the end of every tail of one append, encoded once for all."""
    return f",{metadata_json},{canonical_json(recorded_at.isoformat())}]"


def encoded_tail(type: str, schema_version: int, data_json: str, suffix: str) -> str:
    """`content_tail` from parts already encoded (the data's canonical JSON is also what the
    store keeps, so the hot path encodes it once). The canonical JSON of a list is its items'
    canonical JSON joined by commas, which is what makes the pieces add up."""
    return f"{canonical_json(type)},{schema_version},{data_json}{suffix}"


def chain_hash(previous_hash: str, position: int, stream_json: str, version: int, tail: str) -> str:
    """SHA-256 of `previous ‖ [position,stream,version,tail`: the canonical JSON of the event.

    `stream_json` is `canonical_json(stream_id)`. The SQL twin in `events.sqlstore`
    (`_SQL_CHAIN_HASH`) concatenates the same parts, so a change here must change it too.
    """
    return chain_hash_after(previous_hash, position, after_position(stream_json, version, tail))


def after_position(stream_json: str, version: int, tail: str) -> str:
    """The hashed JSON after the position, when the version is known beforehand."""
    return f"{stream_json},{version},{tail}"


def chain_hash_after(previous_hash: str, position: int, rest: str) -> str:
    """`chain_hash` from `after_position`'s text: `previous ‖ [position,rest`."""
    body = f"{previous_hash}[{position},{rest}"
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def event_hash(
    previous_hash: str,
    *,
    position: int,
    stream_id: str,
    version: int,
    type: str,
    schema_version: int,
    data: dict[str, Any],
    metadata: dict[str, Any],
    recorded_at: datetime,
) -> str:
    """The hash of one event, chained to the one before it."""
    tail = content_tail(
        type=type,
        schema_version=schema_version,
        data=data,
        metadata=metadata,
        recorded_at=recorded_at,
    )
    return chain_hash(previous_hash, position, canonical_json(stream_id), version, tail)
