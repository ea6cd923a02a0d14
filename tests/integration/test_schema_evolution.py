"""Schema evolution for real: v1 events (materials as one text) still load, verify and show."""

from __future__ import annotations

from datetime import UTC, datetime

from events.codec import CURRENT_VERSIONS, encode
from events.domain import CycleStarted, Reason
from events.keyring import InMemoryKeyRing
from events.records import Metadata, NewEvent, StreamAppend
from events.sqlstore import SqlEventStore
from events.verify import verify_chain
from handlers.repository import Repository, cycle_stream
from workflow.phases import Phase

AT = "2026-02-01T09:00:00+00:00"
V1_GOAL = {
    "goal_id": "g1",
    "title": "Excel",
    "activity": "Cursus volgen",
    "result": "Zelfstandig rapporten maken",
    "deadline": "2026-12-31",
    "support": {"own_hours": 10.0, "materials": "Boek Excel 365; Oefenbestanden\nVideo's"},
    "term": "short",
}


def test_v1_plan_events_load_as_v2_and_still_verify(sql_store: SqlEventStore) -> None:
    # Given a cycle written by the old code: PlanDrafted v1 with materials as one text
    started = encode_v1_start()
    drafted = NewEvent("PlanDrafted", {"plan_version": 1, "goals": [V1_GOAL], "drafted_at": AT}, 1)
    sql_store.append(
        [StreamAppend(cycle_stream("c1"), (started, drafted), 0)], Metadata("hr", "hr")
    )
    assert CURRENT_VERSIONS["PlanDrafted"] == 2
    # When the current code reads it
    state = Repository(sql_store, InMemoryKeyRing()).cycle("c1")
    # Then the text became a list, nothing else changed, and the chain is intact
    assert state.goals[0].support.materials == ("Boek Excel 365", "Oefenbestanden", "Video's")
    assert state.goals[0].support.own_hours == 10.0
    assert state.phase is Phase.AGREEMENT
    assert verify_chain(sql_store.read_all(), sql_store.head()).ok
    stored = sql_store.read_stream(cycle_stream("c1"))
    assert [e.schema_version for e in stored] == [1, 1]  # the log itself was not rewritten


def encode_v1_start() -> NewEvent:
    """A v1 CycleStarted: without proposals its data is the same in both versions."""
    current = encode(
        CycleStarted("c1", "e1", "m1", Reason.PERIODIC, datetime(2026, 1, 5, tzinfo=UTC))
    )
    return NewEvent(current.type, current.data, 1)
