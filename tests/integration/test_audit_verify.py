"""`pop verify` catches tampering behind the application's back, by raw SQL, with the position."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Connection, delete, insert, select, text, update

from events.database import write_transaction
from events.hashing import GENESIS, event_hash
from events.records import Metadata, NewEvent, StreamAppend
from events.schema import events_table
from events.sqlstore import SqlEventStore
from events.verify import verify_chain

EVENTS = 12


def _fill(store: SqlEventStore) -> None:
    for index in range(EVENTS):
        stream = f"cycle-{index % 3}"
        new = NewEvent("ProgressReviewed", {"note": f"voortgang {index}", "n": index})
        store.append([StreamAppend(stream, (new,), None)], Metadata("hr-1", "hr"))


def _row(connection: Connection, position: int) -> dict[str, object]:
    found = connection.execute(select(events_table).where(events_table.c.position == position))
    return dict(found.mappings().one())


def edit_payload(connection: Connection) -> None:
    row = _row(connection, 5)
    data = {**row["data"], "note": "iets anders"}  # type: ignore[dict-item]
    connection.execute(update(events_table).where(events_table.c.position == 5).values(data=data))


def delete_row(connection: Connection) -> None:
    connection.execute(delete(events_table).where(events_table.c.position == 5))


def swap_rows(connection: Connection) -> None:
    fields = ("stream_id", "version", "type", "data", "metadata", "recorded_at", "hash")
    five, six = _row(connection, 5), _row(connection, 6)
    connection.execute(delete(events_table).where(events_table.c.position.in_([5, 6])))
    connection.execute(
        insert(events_table).values(position=5, **{f: six[f] for f in fields}, schema_version=1)
    )
    connection.execute(
        insert(events_table).values(position=6, **{f: five[f] for f in fields}, schema_version=1)
    )


def insert_forged(connection: Connection) -> None:
    """A forger renumbers the tail to slip an event in at position 5."""
    connection.execute(
        update(events_table)
        .where(events_table.c.position >= 5)
        .values(position=events_table.c.position + 1000)
    )
    connection.execute(
        update(events_table)
        .where(events_table.c.position >= 1005)
        .values(position=events_table.c.position - 999)
    )
    forged = _row(connection, 6)
    connection.execute(
        insert(events_table).values(
            **{**forged, "position": 5, "data": {"note": "vervalst", "n": -1}, "version": 99}
        )
    )


def drop_last(connection: Connection) -> None:
    connection.execute(delete(events_table).where(events_table.c.position == EVENTS))


TAMPERINGS: dict[str, tuple[Callable[[Connection], None], int, set[str]]] = {
    "edited payload": (edit_payload, 5, {"edited"}),
    "deleted row": (delete_row, 5, {"removed"}),
    "swapped rows": (swap_rows, 5, {"edited", "reordered"}),
    "inserted forged row": (insert_forged, 5, {"edited", "reordered", "inserted"}),
    "removed last event": (drop_last, EVENTS, {"truncated"}),
}


def test_an_untouched_log_verifies(sql_store: SqlEventStore) -> None:
    _fill(sql_store)
    result = verify_chain(sql_store.read_all(0, batch_size=5), sql_store.head())
    assert result.ok, result.finding
    assert result.checked == EVENTS


@pytest.mark.parametrize("name", list(TAMPERINGS))
def test_tampering_by_raw_sql_is_caught_with_its_position(
    sql_store: SqlEventStore, name: str
) -> None:
    # Given a log of events
    _fill(sql_store)
    tamper, position, kinds = TAMPERINGS[name]
    # When someone changes the table behind the application's back
    with write_transaction(sql_store.engine) as connection:
        tamper(connection)
    # Then verify names the first place where it is no longer what was written
    result = verify_chain(sql_store.read_all(0, batch_size=5), sql_store.head())
    assert result.finding is not None, f"{name} went unnoticed"
    assert result.finding.position == position
    assert result.finding.kind in kinds


def test_a_rewritten_chain_is_caught_against_a_recorded_head(sql_store: SqlEventStore) -> None:
    _fill(sql_store)
    recorded = sql_store.head()[1]
    # Given a forger who edits an event and then recomputes every hash after it and the head
    edit = {"note": "herschreven", "n": 3}
    previous = GENESIS
    with write_transaction(sql_store.engine) as connection:
        for event in list(sql_store.read_all()):
            data = edit if event.position == 4 else event.data
            previous = event_hash(
                previous,
                position=event.position,
                stream_id=event.stream_id,
                version=event.version,
                type=event.type,
                schema_version=event.schema_version,
                data=data,
                metadata=event.metadata.to_json(),
                recorded_at=event.recorded_at,
            )
            connection.execute(
                update(events_table)
                .where(events_table.c.position == event.position)
                .values(data=data, hash=previous)
            )
        connection.execute(text("UPDATE log_head SET hash = :h"), {"h": previous})
    # Then the chain is consistent in itself, and only the head recorded earlier shows it
    assert verify_chain(sql_store.read_all(), sql_store.head()).ok
    result = verify_chain(sql_store.read_all(), sql_store.head(), expect_head=recorded)
    assert result.finding is not None
    assert result.finding.kind == "head"
