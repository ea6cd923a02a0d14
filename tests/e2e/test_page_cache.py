"""The status page serves a rendered overview again only while nothing it shows can have
changed (web/page/cache.py): a projection that moves, time that passes a due date, another
viewer or another filter each get a fresh one. Over real HTTP with a session cookie."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from handlers.actor import Role
from handlers.tokens import TokenStore
from tests.e2e.conftest import Org
from tests.e2e.test_page_session import Browserless, _csrf
from tests.support.clock import FakeClock


def _logged_in(base_url: str, tokens: TokenStore, role: Role, subject: str | None) -> Browserless:
    browser = Browserless(base_url)
    _status, _url, login_page = browser.get("/login")
    token = tokens.create(role, subject, "cache test")
    status, url, _html = browser.post("/login", {"token": token, "csrf_token": _csrf(login_page)})
    assert (status, url) == (200, base_url + "/")
    return browser


def _glance(browser: Browserless, path: str = "/") -> dict[str, str]:
    """The counts the page shows: per phase, overdue, due soon."""
    status, _url, html = browser.get(path)
    assert status == 200
    found = dict(re.findall(r'class="phase-(\w+)"><span class="n">(\d+)</span>', html))
    for heading, name in (("overdue-h", "overdue"), ("soon-h", "due_soon")):
        count = re.search(rf'id="{heading}">[^<]*\(([^)]*)\)</h2>', html)
        assert count, heading
        found[name] = count.group(1)
    return found


def test_a_moved_projection_shows_at_once(
    org: Org, project: Callable[[], None], base_url: str, tokens: TokenStore
) -> None:
    org.start("e1", "m1")
    project()
    browser = _logged_in(base_url, tokens, Role.HR, None)
    assert _glance(browser)["invitation"] == "1"
    assert _glance(browser)["invitation"] == "1"  # the same again
    org.start("e2", "m2")
    assert _glance(browser)["invitation"] == "1"  # the log moved, the read models not yet
    project()
    assert _glance(browser)["invitation"] == "2"
    assert _glance(browser, "/?manager=m2")["invitation"] == "1"  # another filter
    manager = _logged_in(base_url, tokens, Role.MANAGER, "m1")
    assert _glance(manager)["invitation"] == "1"  # another viewer, same query string


def test_time_alone_moves_a_cycle_from_due_soon_to_overdue(
    org: Org, project: Callable[[], None], base_url: str, tokens: TokenStore, web_clock: FakeClock
) -> None:
    org.start("e1", "m1")  # interview 2 Feb 10:00 (+01:00): talking points due a week before
    project()
    browser = _logged_in(base_url, tokens, Role.HR, None)
    before = _glance(browser)
    assert (before["overdue"], before["due_soon"]) == ("0", "1")
    web_clock.set(datetime(2026, 1, 26, 8, 59, tzinfo=UTC))
    just_before = _glance(browser)
    assert (just_before["overdue"], just_before["due_soon"]) == ("0", "1")
    web_clock.set(datetime(2026, 1, 26, 9, 0, 1, tzinfo=UTC))  # no event, no projection
    after = _glance(browser)
    assert (after["overdue"], after["due_soon"]) == ("1", "0")
