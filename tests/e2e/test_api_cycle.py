"""A whole POP cycle over real HTTP, as HR's automation would drive it (DESIGN.md §5)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.e2e.conftest import GOALS, MakeClient, Org
from tests.support.clock import FakeClock
from tests.support.served import Client


def _history(hr: Client, cycle_id: str) -> list[dict[str, Any]]:
    reply = hr.get(f"/api/cycles/{cycle_id}/history")
    assert reply.status == 200
    events: list[dict[str, Any]] = reply.json["events"]
    return events


def test_a_whole_cycle_from_invitation_to_restart(
    hr: Client, org: Org, web_clock: FakeClock
) -> None:
    # Given HR starts a cycle with the interview already planned
    started = hr.post(
        "/api/cycles",
        {
            "employee_id": "e1",
            "manager_id": "m1",
            "reason": "periodic",
            "interview_at": "2026-02-02T10:00",
        },
        headers={"Idempotency-Key": "start-e1"},
    )
    assert started.status == 201
    assert started.media_type == "application/json"
    cycle_id = started.json["cycle_id"]
    assert started.json["phase"] == "invitation"
    assert started.headers["Location"] == f"/api/cycles/{cycle_id}"
    base = f"/api/cycles/{cycle_id}"

    # When both sides prepare, the talk is held, the plan written and signed
    steps = [
        ("preparations", {"author": "employee", "talking_points": ["Excel leren"]}, "preparation"),
        ("preparations", {"author": "manager", "talking_points": ["Klantgericht"]}, "interview"),
        ("interview", {"scheduled_at": "2026-02-03T10:00:00+01:00"}, "interview"),
        ("interview/held", {"summary": "Open gesprek"}, "agreement"),
        ("agreement", {"goals": GOALS}, "agreement"),
        ("signatures", {"signer": "employee"}, "agreement"),
        ("signatures", {"signer": "manager"}, "progress_review"),
        ("reviews", {"goal_id": "g1", "progress": "on_track", "note": "Cursus loopt"}, None),
        ("reviews", {"progress": "stalled", "note": "Drukke periode"}, "progress_review"),
    ]
    version = started.json["version"]
    for step, body, phase in steps:
        web_clock.advance(hours=1)
        reply = hr.post(f"{base}/{step}", body, headers={"If-Match": f'"{version}"'})
        assert reply.status == 200, (step, reply.text)
        assert reply.json["version"] == version + 1
        assert reply.headers["ETag"] == f'"{reply.json["version"]}"'
        if phase:
            assert reply.json["phase"] == phase
        version = reply.json["version"]
    signed_at = web_clock.now()

    evaluation = {
        "results": [
            {"goal_id": "g1", "achieved": True, "effect": "Zelfstandig in Excel"},
            {"goal_id": "g2", "achieved": False},
        ],
        "summary": "Goed jaar",
    }
    web_clock.advance(days=200)
    assert hr.post(f"{base}/evaluation", evaluation).json["phase"] == "completed"

    # Then the cycle reads back with goals, statuses and the contract's shape
    cycle = hr.get(base)
    assert cycle.status == 200
    body = cycle.json
    assert body["cycle_id"] == cycle_id
    assert (body["employee_id"], body["manager_id"]) == ("e1", "m1")
    assert body["phase"] == "completed"
    assert body["version"] == version + 1
    assert [(g["goal_id"], g["status"]) for g in body["goals"]] == [
        ("g1", "achieved"),
        ("g2", "missed"),
    ]
    assert body["goals"][1]["deadline"] == "2026-05-01"
    assert "next_followup" in body

    # and as it stood right after signing
    past = hr.get(f"{base}?as_of={signed_at.isoformat().replace('+00:00', 'Z')}")
    assert past.status == 200
    assert past.json["phase"] == "progress_review"
    assert {g["status"] for g in past.json["goals"]} == {"open"}

    # and its history names every actor, in order, and for whom HR acted
    events = _history(hr, cycle_id)
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    assert [e["type"] for e in events][:2] == ["CycleStarted", "InterviewScheduled"]
    assert events[-1]["type"] == "EvaluationRecorded"
    signatures = [e for e in events if e["type"] == "PlanSigned"]
    assert [e["actor"]["on_behalf_of"] for e in signatures] == ["e1", "m1"]
    assert all(e["actor"]["role"] == "hr" for e in events)

    # When HR restarts it, a new linked cycle opens
    restarted = hr.post(f"{base}/restart", headers={"Idempotency-Key": "restart-1"})
    assert restarted.status == 201
    new_id = restarted.json["cycle_id"]
    assert new_id != cycle_id
    assert restarted.json["phase"] == "invitation"
    fresh = hr.get(f"/api/cycles/{new_id}").json
    assert fresh["previous_cycle_id"] == cycle_id
    assert [p["title"] for p in fresh["proposals"]] == ["Klantgericht werken"]

    # and a retried restart with the same key returns the same cycle, writing nothing
    again = hr.post(f"{base}/restart", headers={"Idempotency-Key": "restart-1"})
    assert again.status == 201
    assert again.json["cycle_id"] == new_id
    assert again.json["replayed"] is True
    assert len(_history(hr, cycle_id)) == len(events) + 1  # only CycleRestarted was added


def test_a_retried_start_returns_the_first_cycle(hr: Client, org: Org) -> None:
    body = {"employee_id": "e2", "manager_id": "m2", "reason": "on_demand"}
    first = hr.post("/api/cycles", body, headers={"Idempotency-Key": "abc"})
    second = hr.post("/api/cycles", body, headers={"Idempotency-Key": "abc"})
    assert first.status == second.status == 201
    assert second.json["cycle_id"] == first.json["cycle_id"]
    assert second.json["replayed"] is True
    assert len(_history(hr, first.json["cycle_id"])) == 1


def test_a_retried_registration_returns_the_first_employee(hr: Client) -> None:
    body = {"name": "Eva Smit", "email": "eva@example.nl"}
    first = hr.post("/api/employees", body, headers={"Idempotency-Key": "eva"})
    second = hr.post("/api/employees", body, headers={"Idempotency-Key": "eva"})
    assert first.status == second.status == 201
    assert first.json["employee_id"] == second.json["employee_id"]


def test_the_other_sides_talking_points_stay_private_until_the_exchange(
    client: MakeClient, org: Org, web_clock: FakeClock
) -> None:
    cycle_id = org.start()  # interview on 2026-02-02; the exchange a week before
    org.hr.post(
        f"/api/cycles/{cycle_id}/preparations",
        {"author": "employee", "talking_points": ["Doorgroeien naar teamleider"]},
    )
    manager = client("manager", "m1")
    seen = manager.get(f"/api/cycles/{cycle_id}").json
    assert seen["preparations"] == {}
    history = manager.get(f"/api/cycles/{cycle_id}/history").json["events"]
    prepared = [e for e in history if e["type"] == "PreparationSubmitted"]
    assert prepared[0]["data"]["talking_points"] is None
    assert "Doorgroeien" not in str(history)

    web_clock.set(web_clock.now() + timedelta(days=30))  # past the exchange moment
    assert manager.get(f"/api/cycles/{cycle_id}").json["preparations"] == {
        "employee": ["Doorgroeien naar teamleider"]
    }
