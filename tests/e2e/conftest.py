"""Fixtures for the web's end-to-end tests: a migrated SQLite file, the app served for real.

Time is a `FakeClock` the tests move; tokens are made the way `pop token create` makes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from events.migrate import upgrade
from handlers.actor import Role
from handlers.bootstrap import Popcycle, bootstrap
from handlers.projections.service import ProjectionService
from handlers.settings import Settings
from handlers.tokens import TokenStore
from tests.support.clock import FakeClock
from tests.support.served import Client, served
from web import create_app

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
MakeClient = Callable[..., Client]


@pytest.fixture
def web_clock() -> FakeClock:
    return FakeClock(START, tick=timedelta(milliseconds=1))


@pytest.fixture
def web_popcycle(tmp_path: Path, web_clock: FakeClock) -> Iterator[Popcycle]:
    """popcycle wired on a fresh, migrated SQLite file (what `pop init` makes)."""
    url = f"sqlite:///{tmp_path / 'web.sqlite3'}"
    upgrade(url)
    settings = Settings.from_env({"POP_DATABASE_URL": url, "POP_LANGUAGE": "nl"})
    popcycle = bootstrap(settings, web_clock)
    yield popcycle
    popcycle.close()


@pytest.fixture
def base_url(web_popcycle: Popcycle) -> Iterator[str]:
    """The app served by waitress on 127.0.0.1 at a free port."""
    with served(create_app(web_popcycle, secret_key="test-secret")) as url:
        yield url


@pytest.fixture
def project(web_popcycle: Popcycle) -> Callable[[], None]:
    """Bring the read models up to the log, as the projection workers do in production."""
    service = ProjectionService.from_app(web_popcycle)

    def catch_up() -> None:
        for outcome in service.catch_up_all():
            assert outcome.caught_up

    return catch_up


@pytest.fixture
def tokens(web_popcycle: Popcycle) -> TokenStore:
    return TokenStore(web_popcycle.engine, web_popcycle.clock)


@pytest.fixture
def client(base_url: str, tokens: TokenStore) -> MakeClient:
    """`client("hr")`, `client("manager", "m1")`, `client(None)` (no token at all)."""

    def make(role: str | None = "hr", subject: str | None = None) -> Client:
        if role is None:
            return Client(base_url)
        return Client(base_url, tokens.create(Role(role), subject, "test"))

    return make


@pytest.fixture
def hr(client: MakeClient) -> Client:
    return client("hr")


GOALS = [
    {
        "title": "Excel",
        "activity": "Externe cursus van 10 lessen volgen, onder werktijd",
        "result": "Voorkomende werkzaamheden zelfstandig in Excel uitvoeren",
        "deadline": "2026-12-31",
        "support": {"own_hours": 20, "budget_eur": 450},
        "term": "short",
    },
    {
        "title": "Klantgericht werken",
        "activity": "Zes donderdagmiddagen meewerken op de servicebalie",
        "result": "Weten welke benadering tevreden klanten oplevert",
        "deadline": "2026-05-01",
        "support": {"coach": "Corrie de Jong", "coach_hours": 24},
    },
]
STEPS = ("preparation", "interview", "agreement", "drafted", "progress_review", "completed")


class Org:
    """Two managers with one report each, registered through the API by HR."""

    def __init__(self, hr: Client) -> None:
        self.hr = hr
        for body in (
            {"employee_id": "m1", "name": "Harrie Koning", "email": "harrie@example.nl"},
            {"employee_id": "m2", "name": "Corrie de Jong", "email": "corrie@example.nl"},
            {
                "employee_id": "e1",
                "name": "Ann de Vries",
                "email": "ann@example.nl",
                "manager_id": "m1",
                "language": "en",
            },
            {
                "employee_id": "e2",
                "name": "Bram Bakker",
                "email": "bram@example.nl",
                "manager_id": "m2",
            },
        ):
            reply = hr.post("/api/employees", body)
            assert reply.status == 201, reply.text

    def start(self, employee: str = "e1", manager: str = "m1") -> str:
        reply = self.hr.post(
            "/api/cycles",
            {
                "employee_id": employee,
                "manager_id": manager,
                "reason": "periodic",
                "interview_at": "2026-02-02T10:00:00+01:00",
            },
        )
        assert reply.status == 201, reply.text
        cycle_id: str = reply.json["cycle_id"]
        return cycle_id

    def walk(self, cycle_id: str, until: str) -> None:
        """Move the cycle forward (as HR) to phase `until` (or "drafted": a plan, unsigned)."""
        base = f"/api/cycles/{cycle_id}"
        steps = [
            (
                "preparation",
                f"{base}/preparations",
                {"author": "employee", "talking_points": ["Excel"]},
            ),
            (
                "interview",
                f"{base}/preparations",
                {"author": "manager", "talking_points": ["Klant"]},
            ),
            ("agreement", f"{base}/interview/held", {"summary": "Goed gesprek"}),
            ("drafted", f"{base}/agreement", {"goals": GOALS}),
            ("progress_review", f"{base}/signatures", {"signer": "employee"}),
            ("progress_review", f"{base}/signatures", {"signer": "manager"}),
        ]
        for reached, path, body in steps:
            if STEPS.index(until) < STEPS.index(reached):
                return
            reply = self.hr.post(path, body)
            assert reply.status == 200, reply.text
        if until == "completed":
            results = [{"goal_id": "g1", "achieved": True}, {"goal_id": "g2", "achieved": False}]
            reply = self.hr.post(f"{base}/evaluation", {"results": results})
            assert reply.status == 200, reply.text


@pytest.fixture
def org(hr: Client) -> Org:
    return Org(hr)
