"""Reading the log for projections: lean rows, in position order, personal data only on demand.

A projection reads thousands of events per second, so it does not go through `StoredEvent` and
cattrs: it selects the five columns it needs and parses the JSON data itself (SQLAlchemy's JSON
and datetime result processing alone cost more than the whole projection of an event).

Personal data: a projection asks for the event types whose personal fields it shows (names,
e-mail addresses, goal titles). Those events are opened exactly as `Repository.unsealed` opens
them — the subject's key from the key ring, `events.sealing.unseal`, then upcasting — so a
forgotten employee's fields read "[erased]". Every other event keeps its personal fields sealed:
the projection reads only their public fields (dates, sides, goal ids, progress).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, Select, Text, bindparam, cast, func, select

from events.codec import CURRENT_VERSIONS, upcast
from events.schema import events_table, log_head_table
from events.sealing import KeyRing, sealed_subject, unseal

_events = events_table.c

#: What a projection reads of an event. The data as text (a CAST, so that psycopg does not
#: parse PostgreSQL's jsonb itself with the json module): parsed by `decode_rows`, far cheaper
#: than SQLAlchemy's JSON result processing.
_COLUMNS = (
    _events.position,
    _events.stream_id,
    _events.version,
    _events.type,
    _events.schema_version,
    cast(_events.data, Text),
)

#: The head of the log (last committed position), read in the catch-up's own transaction.
HEAD_QUERY = select(log_head_table.c.position).where(log_head_table.c.id == 1)


class Change(NamedTuple):
    """One event as a projection sees it: where it is, what it is, its (upcast) data."""

    position: int
    stream_id: str
    version: int
    type: str
    data: dict[str, Any]


def changes_query(types: Collection[str]) -> Select[Any]:
    """Events of `types` in (`after`, `until`], in position order, at most `limit` of them."""
    return (
        select(*_COLUMNS)
        .where(
            _events.position > bindparam("after"),
            _events.position <= bindparam("until"),
            _events.type.in_(sorted(types)),
        )
        .order_by(_events.position)
        .limit(bindparam("limit"))
    )


def count_query(types: Collection[str]) -> Select[Any]:
    """How many events of `types` there are up to `until` (a rebuild's progress bar)."""
    return select(func.count()).where(
        _events.position <= bindparam("until"), _events.type.in_(sorted(types))
    )


def stream_changes_query(types: Collection[str]) -> Select[Any]:
    """Events of `types` up to `until`, whole streams after `after_stream`, in stream order.

    For rebuilds of projections whose rows belong to one stream each: every stream's events
    arrive together, so each row is written once instead of once per batch it appears in.
    Walks the UNIQUE(stream_id, version) index.
    """
    return (
        select(*_COLUMNS)
        .where(
            _events.stream_id > bindparam("after_stream"),
            _events.position <= bindparam("until"),
            _events.type.in_(sorted(types)),
        )
        .order_by(_events.stream_id, _events.version)
        .limit(bindparam("limit"))
    )


def stream_rest_query(types: Collection[str]) -> Select[Any]:
    """The rest of one stream after `version` (to complete a batch's last stream)."""
    return (
        select(*_COLUMNS)
        .where(
            _events.stream_id == bindparam("stream"),
            _events.version > bindparam("version"),
            _events.position <= bindparam("until"),
            _events.type.in_(sorted(types)),
        )
        .order_by(_events.version)
    )


def read_changes(
    connection: Connection,
    query: Select[Any],
    params: dict[str, Any],
    *,
    personal: Collection[str],
    keys: KeyRing,
) -> list[Change]:
    """The events `query` finds, data upcast, personal fields opened for `personal` types."""
    rows = connection.execute(query, params).all()
    return decode_rows(rows, personal=personal, keys=keys)


def decode_rows(rows: Sequence[Any], *, personal: Collection[str], keys: KeyRing) -> list[Change]:
    """Rows of `_COLUMNS` as changes."""
    changes: list[Change] = []
    sealed: list[int] = []
    # Names bound once: this loop runs for every event every projection reads.
    loads = orjson.loads  # 4x json.loads on event data: the largest cost of reading the log
    current = CURRENT_VERSIONS.get
    add = changes.append
    make = tuple.__new__  # a Change without NamedTuple's Python-level __new__ (15% of the loop)
    for position, stream_id, version, type_, schema_version, raw in rows:
        data = raw if isinstance(raw, dict) else loads(raw)
        if type_ in personal and sealed_subject(data) is not None:
            sealed.append(len(changes))
        elif schema_version != current(type_):
            data = upcast(type_, schema_version, data)
        add(make(Change, (position, stream_id, version, type_, data)))
    if sealed:
        _open(changes, sealed, rows, keys)
    return changes


def _open(changes: list[Change], indexes: list[int], rows: Sequence[Any], keys: KeyRing) -> None:
    """Unseal the personal fields of `changes[i]` for each i, one key-ring lookup for all.

    Data parsed here from the row's text is nobody else's, so it is opened in place; data a
    driver handed over already parsed is copied as `Repository.unsealed` would.
    """
    subjects = {sealed_subject(changes[i].data) or "" for i in indexes}
    found = keys.keys_for(subjects)  # one statement, however many subjects
    for i in indexes:
        change, row = changes[i], rows[i]
        key = found.get(sealed_subject(change.data) or "")
        data = unseal(change.type, change.data, key, owned=not isinstance(row[5], dict))
        changes[i] = change._replace(data=upcast(change.type, row[4], data))
