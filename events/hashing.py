"""The tamper-evident hash chain over the whole log.

Each event's hash covers its own content *and* the previous event's hash (in global position
order), so editing, removing, inserting or reordering any event breaks every hash after it. The
chain head (last position and hash) is kept beside the log so that cutting off the last events
is caught too.
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
    body = canonical_json(
        [
            position,
            stream_id,
            version,
            type,
            schema_version,
            data,
            metadata,
            recorded_at.isoformat(),
        ]
    )
    return hashlib.sha256((previous_hash + body).encode("utf-8")).hexdigest()
