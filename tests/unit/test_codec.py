"""Events survive the trip to stored JSON and back; old versions are upcast on the way in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from events import codec
from events.codec import CURRENT_VERSIONS, decode, encode, register_upcaster, upcast
from events.domain import (
    EVENT_TYPES,
    BudgetAllowanceSet,
    CycleCancelled,
    CycleManagerChanged,
    CycleOpened,
    CycleRestarted,
    CycleStarted,
    DomainEvent,
    EmployeeDetailsChanged,
    EmployeeForgotten,
    EmployeeLeft,
    EmployeeRegistered,
    EvaluationDue,
    EvaluationRecorded,
    FollowUpFired,
    Goal,
    GoalResult,
    InterviewHeld,
    InterviewScheduled,
    ManagerChanged,
    PlanDrafted,
    PlanSigned,
    PreparationSubmitted,
    Progress,
    ProgressReviewed,
    QuadrantRecorded,
    Reason,
    Side,
    Support,
    Term,
)
from events.errors import UnknownEventType
from events.records import JSON
from tests.unit.builders import T0, round_trip, stored

AMSTERDAM_SUMMER = timezone(timedelta(hours=2))

EXCEL = Goal(
    goal_id="g1",
    title="Excel",
    activity="Cursus volgen van 10 lessen",
    result="Zelfstandig werken met Excel — draaitabellen incluis",
    deadline=date(2026, 12, 31),
    support=Support(own_hours=20.5, coach_hours=4, budget_eur=500, coach="Corrie de Jong"),
    term=Term.SHORT,
    starting_level="basic formulas",
    reward="a day off",
)
CARRIED = Goal(
    goal_id="g2",
    title="Klantgericht werken",
    activity="Zes donderdagmiddagen aan de servicebalie",
    result="Tevreden klanten",
    deadline=date(2028, 5, 1),
    support=Support(materials=("Het boek 'Klant centraal'", "studiepakket")),
    term=Term.MEDIUM,
    carried_from="c0/g7",
)

SAMPLES: list[DomainEvent] = [
    CycleStarted("c1", "e1", "m1", Reason.ON_DEMAND, T0, "c0", (CARRIED,)),
    PreparationSubmitted(Side.MANAGER, ("planning", "groei naar teamleider"), T0),
    InterviewScheduled(datetime(2026, 6, 1, 10, tzinfo=AMSTERDAM_SUMMER)),
    InterviewHeld(T0, "open gesprek", T0 + timedelta(days=7)),
    PlanDrafted(2, (EXCEL, CARRIED), T0),
    PlanSigned(Side.EMPLOYEE, 2, T0),
    ProgressReviewed(None, Progress.STALLED, "te druk", T0),
    ProgressReviewed("g1", Progress.DONE, "klaar", T0),
    EvaluationDue("deadline", T0),
    EvaluationRecorded(
        (GoalResult("g1", True, "sneller rapporteren"), GoalResult("g2", False)), T0, "goed jaar"
    ),
    CycleRestarted("c2", T0),
    CycleCancelled("medewerker vertrokken", T0),
    CycleManagerChanged("m2", "m1", T0),
    FollowUpFired(
        followup_key="c1/reminder/interview",
        kind="interview_reminder",
        due_at=T0,
        fired_at=T0 + timedelta(hours=3),
        late_seconds=10800,
        recipients=("e1", "m1"),
    ),
    EmployeeRegistered(
        employee_id="e1",
        name="Anna de Vries",
        email="anna@example.nl",
        registered_at=T0,
        manager_id="m1",
        language="en",
        department="Sales",
        function="advisor",
        start_date=date(2019, 9, 1),
    ),
    CycleOpened("c1", T0),
    EmployeeDetailsChanged(T0, email="anna.devries@example.nl", department="Service"),
    ManagerChanged(None, T0),
    EmployeeLeft(date(2026, 8, 31), T0),
    QuadrantRecorded("high_potential", T0),
    BudgetAllowanceSet(2026, 1250.5, T0),
    EmployeeForgotten(T0),
]


def test_the_samples_cover_every_event_type() -> None:
    assert {type(event) for event in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda event: type(event).__name__)
def test_every_event_type_round_trips(event: DomainEvent) -> None:
    new = encode(event)
    assert new.type == type(event).__name__
    assert new.schema_version == CURRENT_VERSIONS[new.type]
    back = round_trip(event)
    assert type(back) is type(event)
    assert back == event


def test_enums_and_dates_are_stored_as_plain_json() -> None:
    data = encode(SAMPLES[4]).data  # PlanDrafted
    assert data["goals"][0]["term"] == "short"
    assert data["goals"][0]["deadline"] == "2026-12-31"
    assert data["drafted_at"].startswith("2026-01-05T09:00:00")


def test_an_aware_time_keeps_its_instant() -> None:
    back = round_trip(SAMPLES[2])
    assert isinstance(back, InterviewScheduled)
    assert back.scheduled_at == datetime(2026, 6, 1, 8, tzinfo=UTC)
    assert back.scheduled_at.utcoffset() == timedelta(hours=2)


# --- upcasting ------------------------------------------------------------------------------


REGISTRY_AT_IMPORT = (dict(codec.CURRENT_VERSIONS), dict(codec._UPCASTERS))


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a test register versions and upcasters; the real registry is restored afterwards."""
    monkeypatch.setattr(codec, "CURRENT_VERSIONS", dict(codec.CURRENT_VERSIONS))
    monkeypatch.setattr(codec, "_UPCASTERS", dict(codec._UPCASTERS))


@pytest.mark.usefixtures("registry")
def test_an_old_stored_version_loads_as_the_current_type() -> None:
    # Given InterviewHeld v1 stored "at"/"notes", and the code is now at v2
    codec.CURRENT_VERSIONS["InterviewHeld"] = 2

    @register_upcaster("InterviewHeld", 1)
    def rename(data: JSON) -> JSON:
        return {"held_at": data["at"], "summary": data["notes"], "follow_up_at": None}

    old = stored("InterviewHeld", {"at": T0.isoformat(), "notes": "kort gesprek"}, 1)
    # When it is read back
    event = decode(old)
    # Then it is an InterviewHeld of today's shape, and new events are written as v2
    assert event == InterviewHeld(T0, "kort gesprek")
    assert encode(event).schema_version == 2
    assert decode(stored("InterviewHeld", encode(event).data, 2)) == event


@pytest.mark.usefixtures("registry")
def test_upcasters_run_one_version_at_a_time() -> None:
    codec.CURRENT_VERSIONS["CycleCancelled"] = 3

    @register_upcaster("CycleCancelled", 1)
    def renamed(data: JSON) -> JSON:
        return {"reason": data["why"], "cancelled_at": data["cancelled_at"]}

    @register_upcaster("CycleCancelled", 2)
    def shouted(data: JSON) -> JSON:
        return {**data, "reason": data["reason"].upper()}

    data = upcast("CycleCancelled", 1, {"why": "left", "cancelled_at": T0.isoformat()})
    assert data == {"reason": "LEFT", "cancelled_at": T0.isoformat()}
    assert upcast("CycleCancelled", 3, data) == data


@pytest.mark.usefixtures("registry")
def test_a_missing_upcaster_step_is_named() -> None:
    codec.CURRENT_VERSIONS["PlanSigned"] = 3
    register_upcaster("PlanSigned", 2)(lambda data: data)
    with pytest.raises(UnknownEventType, match="no upcaster for PlanSigned from v1 to v2"):
        upcast("PlanSigned", 1, {})


def test_the_registry_is_restored_after_the_upcasting_tests() -> None:
    # Runs after the tests above (file order): the fixture must have undone their changes.
    assert REGISTRY_AT_IMPORT[0] == codec.CURRENT_VERSIONS
    assert REGISTRY_AT_IMPORT[1] == codec._UPCASTERS


def _as_v1(event: PlanDrafted | CycleStarted, goals_key: str, materials: str | None) -> JSON:
    """The event's data as v1 wrote it: a goal's materials as one free text."""
    data = encode(event).data
    for goal in data[goals_key]:
        goal["support"]["materials"] = materials
    return data


@pytest.mark.parametrize(
    ("text", "items"),
    [
        ("Het boek; studiepakket\nExcel-cursus ;", ("Het boek", "studiepakket", "Excel-cursus")),
        ("", ()),
        (None, ()),
    ],
)
def test_v1_materials_text_is_read_as_a_list(text: str | None, items: tuple[str, ...]) -> None:
    drafted = PlanDrafted(1, (EXCEL, CARRIED), T0)
    started = CycleStarted("c1", "e1", "m1", Reason.PERIODIC, T0, "c0", (CARRIED,))
    for event, key in ((drafted, "goals"), (started, "proposals")):
        back = decode(stored(type(event).__name__, _as_v1(event, key, text), 1))
        assert type(back) is type(event)
        goals = getattr(back, key)
        assert [goal.support.materials for goal in goals] == [items] * len(goals)


def test_a_version_newer_than_the_code_is_refused() -> None:
    new = encode(SAMPLES[0])
    with pytest.raises(UnknownEventType, match="newer than this code"):
        decode(stored(new.type, new.data, new.schema_version + 1))


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(UnknownEventType, match="unknown event type 'GoalForgotten'"):
        decode(stored("GoalForgotten", {}))
