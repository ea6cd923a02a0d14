"""Every way to get a request wrong: problem+json naming the field, and the log unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.bootstrap import Popcycle
from tests.e2e.conftest import GOALS, MakeClient, Org
from tests.support.served import Client

PROBLEM = "application/problem+json"


def _log_head(popcycle: Popcycle) -> tuple[int, str]:
    return popcycle.store.head()


def _assert_problem(reply: Any, status: int, field: str) -> dict[str, Any]:
    assert reply.status == status, reply.text
    assert reply.media_type == PROBLEM
    body: dict[str, Any] = reply.json
    assert body["status"] == status
    assert body["field"] == field
    assert body["type"].startswith("urn:popcycle:problem:")
    assert body["title"]
    assert body["detail"]
    return body


BAD_BODIES = [
    # (step, body, status, field)
    ("preparations", {"author": "boss", "talking_points": ["x"]}, 422, "author"),
    ("preparations", {"author": "employee", "talking_points": [12]}, 422, "talking_points[0]"),
    ("preparations", {"author": "employee", "talking_points": []}, 422, "talking_points"),
    ("preparations", {"author": "employee"}, 422, "talking_points"),
    ("preparations", {"author": "employee", "talking_points": ["x"], "extra": 1}, 422, "extra"),
    ("interview", {"scheduled_at": "next tuesday"}, 422, "scheduled_at"),
    ("interview", {"scheduled_at": 1767600000}, 422, "scheduled_at"),
    ("interview", {"scheduled_at": "2020-01-01T10:00:00+01:00"}, 422, "scheduled_at"),
    ("interview/held", {"held_at": "2099-01-01T10:00:00Z"}, 422, "held_at"),
    ("reviews", {"progress": "done", "note": "x"}, 409, "phase"),
    ("signatures", {"signer": "employee"}, 409, "phase"),
    ("agreement", {"goals": GOALS}, 409, "phase"),
]


@pytest.mark.parametrize(("step", "body", "status", "field"), BAD_BODIES)
def test_a_bad_command_is_refused_naming_the_field_and_changes_nothing(  # noqa: PLR0917
    hr: Client, org: Org, web_popcycle: Popcycle, step: str, body: Any, status: int, field: str
) -> None:
    cycle_id = org.start()
    before = _log_head(web_popcycle)
    history = hr.get(f"/api/cycles/{cycle_id}/history").json
    reply = hr.post(f"/api/cycles/{cycle_id}/{step}", body)
    _assert_problem(reply, status, field)
    assert _log_head(web_popcycle) == before
    assert hr.get(f"/api/cycles/{cycle_id}/history").json == history


def test_goals_that_are_not_smart_list_every_failing_letter(
    hr: Client, org: Org, web_popcycle: Popcycle
) -> None:
    cycle_id = org.start()
    org.walk(cycle_id, "agreement")
    before = _log_head(web_popcycle)
    vague = {
        "title": "Beter worden",
        "activity": "",
        "result": "",
        "deadline": "2036-01-01",
        "support": {},
    }
    reply = hr.post(f"/api/cycles/{cycle_id}/agreement", {"goals": [GOALS[0], vague]})
    body = _assert_problem(reply, 422, body_field := reply.json["field"])
    assert body_field.startswith("goals[1].")
    letters = {(v["letter"], v["field"]) for v in body["violations"]}
    assert {letter for letter, _ in letters} >= {"S", "M", "R"}
    assert all(field.startswith("goals[1]") for _, field in letters)
    assert _log_head(web_popcycle) == before


def test_a_bad_goal_field_is_named_with_its_index(hr: Client, org: Org) -> None:
    cycle_id = org.start()
    org.walk(cycle_id, "agreement")
    goal = {**GOALS[0], "deadline": "31-12-2026"}
    reply = hr.post(f"/api/cycles/{cycle_id}/agreement", {"goals": [GOALS[1], goal]})
    _assert_problem(reply, 422, "goals[1].deadline")
    goal = {**GOALS[0], "support": {"own_hours": "twenty"}}
    reply = hr.post(f"/api/cycles/{cycle_id}/agreement", {"goals": [goal]})
    _assert_problem(reply, 422, "goals[0].support.own_hours")


def test_a_stale_if_match_is_a_failed_precondition(
    hr: Client, org: Org, web_popcycle: Popcycle
) -> None:
    cycle_id = org.start()
    before = _log_head(web_popcycle)
    body = {"author": "employee", "talking_points": ["x"]}
    reply = hr.post(f"/api/cycles/{cycle_id}/preparations", body, headers={"If-Match": '"1"'})
    assert _assert_problem(reply, 412, "If-Match")["version"] == 2
    reply = hr.post(f"/api/cycles/{cycle_id}/preparations", body, headers={"If-Match": "two"})
    _assert_problem(reply, 422, "If-Match")
    assert _log_head(web_popcycle) == before
    reply = hr.post(f"/api/cycles/{cycle_id}/preparations", body, headers={"If-Match": "2"})
    assert reply.status == 200


def test_an_idempotency_key_reused_for_another_request_is_refused(
    hr: Client, org: Org, web_popcycle: Popcycle
) -> None:
    cycle_id = org.start()
    path = f"/api/cycles/{cycle_id}/preparations"
    key = {"Idempotency-Key": "prep-1"}
    assert hr.post(path, {"author": "employee", "talking_points": ["a"]}, headers=key).status == 200
    before = _log_head(web_popcycle)
    reply = hr.post(path, {"author": "employee", "talking_points": ["b"]}, headers=key)
    _assert_problem(reply, 422, "Idempotency-Key")
    assert _log_head(web_popcycle) == before


def test_malformed_json_is_a_bad_request(hr: Client, org: Org, web_popcycle: Popcycle) -> None:
    cycle_id = org.start()
    before = _log_head(web_popcycle)
    reply = hr.post(f"/api/cycles/{cycle_id}/preparations", raw=b'{"author": ')
    _assert_problem(reply, 400, "body")
    reply = hr.post(f"/api/cycles/{cycle_id}/preparations", raw=b"[1, 2]")
    _assert_problem(reply, 422, "body")
    assert _log_head(web_popcycle) == before


def test_unknown_ids(hr: Client, org: Org, web_popcycle: Popcycle) -> None:
    before = _log_head(web_popcycle)
    for path in ("/api/cycles/nope", "/api/cycles/nope/history", "/api/cycles/x%20y"):
        _assert_problem(hr.get(path), 404, "cycle_id")
    body = {"author": "employee", "talking_points": ["x"]}
    _assert_problem(hr.post("/api/cycles/nope/preparations", body), 404, "cycle_id")
    _assert_problem(hr.post("/api/cycles/nope/restart"), 404, "cycle_id")
    start = {"employee_id": "ghost", "manager_id": "m1", "reason": "periodic"}
    _assert_problem(hr.post("/api/cycles", start), 422, "employee_id")
    start = {"employee_id": "e1", "manager_id": "ghost", "reason": "periodic"}
    _assert_problem(hr.post("/api/cycles", start), 422, "manager_id")
    person = {"name": "X", "email": "x@example.nl", "manager_id": "ghost"}
    _assert_problem(hr.post("/api/employees", person), 422, "manager_id")
    assert _log_head(web_popcycle) == before
    not_found = hr.get("/api/no/such/route")
    assert not_found.status == 404
    assert not_found.media_type == PROBLEM


def test_bad_people_and_cycles(hr: Client, org: Org, web_popcycle: Popcycle) -> None:
    before = _log_head(web_popcycle)
    cases = [
        ("/api/employees", {"name": "X", "email": "not-an-address"}, "email"),
        ("/api/employees", {"name": "", "email": "x@example.nl"}, "name"),
        ("/api/employees", {"name": "X", "email": "x@example.nl", "language": "de"}, "language"),
        ("/api/employees", {"name": "X", "email": "x@e.nl", "employee_id": "e1"}, "employee_id"),
        ("/api/cycles", {"employee_id": "e1", "manager_id": "m1", "reason": "whim"}, "reason"),
        ("/api/cycles", {"employee_id": "e1", "manager_id": "m1"}, "reason"),
        (
            "/api/cycles",
            {"employee_id": "e1", "manager_id": "e1", "reason": "periodic"},
            "manager_id",
        ),
    ]
    for path, body, field in cases:
        _assert_problem(hr.post(path, body), 422, field)
    cycle_id = org.start()
    before = _log_head(web_popcycle)
    second = {"employee_id": "e1", "manager_id": "m1", "reason": "problem"}
    _assert_problem(hr.post("/api/cycles", second), 422, "employee_id")
    _assert_problem(hr.get(f"/api/cycles/{cycle_id}?as_of=yesterday"), 422, "as_of")
    _assert_problem(hr.get(f"/api/cycles/{cycle_id}?as_of=2000-01-01T00:00:00Z"), 404, "cycle_id")
    _assert_problem(hr.get("/api/followups?status=lost"), 422, "status")
    assert _log_head(web_popcycle) == before


def test_no_or_a_wrong_token_is_unauthorised(client: MakeClient, org: Org) -> None:
    cycle_id = org.start()
    for anonymous in (client(None), client(None).with_token("pop_not-a-token")):
        reply = anonymous.get(f"/api/cycles/{cycle_id}")
        _assert_problem(reply, 401, "Authorization")
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        body = {"author": "employee", "talking_points": ["x"]}
        _assert_problem(
            anonymous.post(f"/api/cycles/{cycle_id}/preparations", body), 401, "Authorization"
        )
