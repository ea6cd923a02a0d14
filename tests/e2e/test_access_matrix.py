"""Each role against each endpoint (issue 5): HR everything; a manager his reports' cycles;
an employee his own cycles, writing only his preparation, signature and reviews.

A refused request changes nothing; a cycle someone may not see answers exactly like one that
does not exist, so nothing about it leaks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from handlers.bootstrap import Popcycle
from tests.e2e.conftest import GOALS, MakeClient, Org
from tests.support.served import Client

# The people of `Org`: m1 manages e1, m2 manages e2. The cycle under test is e1's.
ROLES = {
    "hr": ("hr", None),
    "own_manager": ("manager", "m1"),
    "other_manager": ("manager", "m2"),
    "employee": ("employee", "e1"),
    "other_employee": ("employee", "e2"),
}
ALLOWED, FORBIDDEN, HIDDEN = "allowed", 403, 404
HIDDEN_FROM_OTHERS = {"other_manager": HIDDEN, "other_employee": HIDDEN}

# (endpoint, phase the cycle is walked to first, body, {role: expectation})
WRITES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    (
        "preparations",
        "preparation",
        {"author": "employee", "talking_points": ["Excel"]},
        {"hr": ALLOWED, "own_manager": FORBIDDEN, "employee": ALLOWED},
    ),
    (
        "preparations",
        "preparation",
        {"author": "manager", "talking_points": ["Klant"]},
        {"hr": ALLOWED, "own_manager": ALLOWED, "employee": FORBIDDEN},
    ),
    (
        "interview",
        "preparation",
        {"scheduled_at": "2026-03-02T10:00:00+01:00"},
        {"hr": ALLOWED, "own_manager": ALLOWED, "employee": FORBIDDEN},
    ),
    (
        "interview/held",
        "interview",
        {"summary": "ok"},
        {"hr": ALLOWED, "own_manager": ALLOWED, "employee": FORBIDDEN},
    ),
    (
        "agreement",
        "agreement",
        {"goals": GOALS},
        {"hr": ALLOWED, "own_manager": ALLOWED, "employee": FORBIDDEN},
    ),
    (
        "signatures",
        "drafted",
        {"signer": "employee"},
        {"hr": ALLOWED, "own_manager": FORBIDDEN, "employee": ALLOWED},
    ),
    (
        "signatures",
        "drafted",
        {"signer": "manager"},
        {"hr": ALLOWED, "own_manager": ALLOWED, "employee": FORBIDDEN},
    ),
    (
        "reviews",
        "progress_review",
        {"progress": "on_track", "note": "loopt"},
        {"hr": ALLOWED, "own_manager": ALLOWED, "employee": ALLOWED},
    ),
    (
        "evaluation",
        "progress_review",
        {"results": [{"goal_id": "g1", "achieved": True}, {"goal_id": "g2", "achieved": True}]},
        {"hr": ALLOWED, "own_manager": ALLOWED, "employee": FORBIDDEN},
    ),
    (
        "restart",
        "completed",
        {},
        {"hr": ALLOWED, "own_manager": ALLOWED, "employee": FORBIDDEN},
    ),
]


def _case_id(case: tuple[str, str, dict[str, Any], dict[str, Any]]) -> str:
    endpoint, _phase, body, _expect = case
    side = body.get("author") or body.get("signer")
    return endpoint + (f"[{side}]" if side else "")


@pytest.fixture
def as_role(client: MakeClient) -> dict[str, Client]:
    return {name: client(role, subject) for name, (role, subject) in ROLES.items()}


@pytest.mark.parametrize("case", WRITES, ids=_case_id)
@pytest.mark.parametrize("role", list(ROLES))
def test_writes(
    case: tuple[str, str, dict[str, Any], dict[str, Any]],
    role: str,
    org: Org,
    as_role: dict[str, Client],
    web_popcycle: Popcycle,
) -> None:
    endpoint, phase, body, expect = case
    expected = {**HIDDEN_FROM_OTHERS, **expect}[role]
    cycle_id = org.start()
    if phase != "preparation":
        org.walk(cycle_id, phase)
    before = web_popcycle.store.head()
    reply = as_role[role].post(f"/api/cycles/{cycle_id}/{endpoint}", body or None)
    if expected == ALLOWED:
        assert reply.status in (200, 201), reply.text
        assert web_popcycle.store.head() != before
        events = org.hr.get(f"/api/cycles/{cycle_id}/history").json["events"]
        actor = events[-1]["actor"] if endpoint != "restart" else None
        if actor is not None and role != "hr":
            assert actor["id"] == ROLES[role][1]
            assert actor["role"] == ROLES[role][0]
        return
    assert reply.status == expected, reply.text
    assert reply.media_type == "application/problem+json"
    assert web_popcycle.store.head() == before
    if expected == HIDDEN:
        unknown = as_role[role].post(f"/api/cycles/does-not-exist/{endpoint}", body or None)
        assert reply.json == {**unknown.json, "detail": reply.json["detail"]}
        assert reply.json["detail"] == f"no cycle {cycle_id}"


@pytest.mark.parametrize("role", list(ROLES))
def test_reads(role: str, org: Org, as_role: dict[str, Client]) -> None:
    cycle_id = org.start()
    sees = role in ("hr", "own_manager", "employee")
    for path in (f"/api/cycles/{cycle_id}", f"/api/cycles/{cycle_id}/history"):
        reply = as_role[role].get(path)
        assert reply.status == (200 if sees else 404), reply.text
        if not sees:
            assert reply.json["detail"] == f"no cycle {cycle_id}"
            assert '"e1"' not in reply.text
            assert '"m1"' not in reply.text
    followups = as_role[role].get("/api/followups")
    assert followups.status == 200
    assert all(f["cycle_id"] == cycle_id for f in followups.json["followups"]) or not sees


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("hr", 201),
        ("own_manager", 201),
        ("other_manager", 403),
        ("employee", 403),
        ("other_employee", 403),
    ],
)
def test_starting_a_cycle(
    role: str, expected: int, org: Org, as_role: dict[str, Client], web_popcycle: Popcycle
) -> None:
    before = web_popcycle.store.head()
    reply = as_role[role].post(
        "/api/cycles", {"employee_id": "e1", "manager_id": "m1", "reason": "on_demand"}
    )
    assert reply.status == expected, reply.text
    if expected != 201:
        assert web_popcycle.store.head() == before


@pytest.mark.parametrize("role", list(ROLES))
def test_registering_people_is_for_hr(
    role: str, org: Org, as_role: dict[str, Client], web_popcycle: Popcycle
) -> None:
    before = web_popcycle.store.head()
    reply = as_role[role].post("/api/employees", {"name": "Nieuw", "email": "n@example.nl"})
    assert reply.status == (201 if role == "hr" else 403), reply.text
    if role != "hr":
        assert web_popcycle.store.head() == before


@pytest.mark.parametrize("role", [*ROLES, "no_token"])
def test_importing_the_organisation_is_for_hr(
    role: str, org: Org, as_role: dict[str, Client], web_popcycle: Popcycle
) -> None:
    before = web_popcycle.store.head()
    caller = as_role[role] if role in as_role else as_role["hr"].with_token(None)
    reply = caller.post(
        "/api/imports",
        raw=b"employee_number,name,email\nn1,Nieuw,n@example.nl\n",
        headers={"Content-Type": "text/csv"},
    )
    expected = {"hr": 200, "no_token": 401}.get(role, 403)
    assert reply.status == expected, reply.text
    if expected != 200:
        assert reply.media_type == "application/problem+json"
        assert web_popcycle.store.head() == before


def test_a_manager_cannot_start_a_cycle_for_someone_elses_report(
    org: Org, as_role: dict[str, Client]
) -> None:
    reply = as_role["own_manager"].post(
        "/api/cycles", {"employee_id": "e2", "manager_id": "m1", "reason": "problem"}
    )
    assert reply.status == 403
    assert reply.json["field"] == "employee_id"


def test_the_status_page_shows_each_viewer_only_his_cycles(
    org: Org, as_role: dict[str, Client], project: Callable[[], None]
) -> None:
    org.start("e1", "m1")
    org.start("e2", "m2")
    project()
    pages = {role: as_role[role].get("/").text for role in ROLES}
    assert "Ann de Vries" in pages["hr"]
    assert "Bram Bakker" in pages["hr"]
    assert "Ann de Vries" in pages["own_manager"]
    assert "Bram Bakker" not in pages["own_manager"]
    assert "Ann de Vries" in pages["employee"]
    assert "Bram Bakker" not in pages["employee"]
    assert "Ann de Vries" not in pages["other_employee"]
