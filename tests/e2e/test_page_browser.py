"""The status page in a real headless Chromium, with the demo organisation: what a person sees.

Logs in with the keyboard only, reads the overview in English (the browser's language) and in
Dutch (the switch), opens a cycle's plan in the syllabus' table, checks it fits a phone, and
keeps screenshots under artifacts/ for a human to look at.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from handlers.actor import Role
from handlers.bootstrap import Popcycle
from handlers.tokens import TokenStore
from tests.support.chromium import Chromium, chromium_binary
from web.cli import seed_demo_if_empty
from web.queries import Filter
from web.read_models import ReadModelQueries

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture
def browser() -> Iterator[Chromium]:
    binary = chromium_binary()
    assert binary, (
        "Debian's chromium is needed: scripts/test installs it (apt-get install chromium)"
    )
    with Chromium(binary, language="en-US") as chromium:
        yield chromium


@pytest.fixture
def demo(web_popcycle: Popcycle, project: Callable[[], None]) -> Popcycle:
    assert seed_demo_if_empty(web_popcycle)
    project()
    return web_popcycle


def _log_in(browser: Chromium, base_url: str, token: str) -> None:
    browser.open(f"{base_url}/")
    browser.wait_for("location.pathname === '/login'")
    assert browser.evaluate("document.activeElement.id") == "token"  # autofocus
    browser.type_text(token)
    browser.press("Enter")
    browser.wait_for("location.pathname === '/' && document.readyState === 'complete'")


def test_hr_sees_the_overview_and_a_plan(
    browser: Chromium, demo: Popcycle, base_url: str, tokens: TokenStore
) -> None:
    _log_in(browser, base_url, tokens.create(Role.HR, "hr-1", "browser test"))

    overview = browser.text()
    for heading in ("Cycles per phase", "Overdue (oldest first)", "Due in the next 30 days"):
        assert heading in overview
    assert "Managers over their yearly POP capacity" in overview
    assert "Progress review" in overview
    assert "Completed" in overview
    assert "Signed in as hr hr-1" in overview
    rows = browser.evaluate("document.querySelectorAll('section table tbody tr').length")
    assert rows >= 10
    browser.screenshot(ARTIFACTS / "status-page.png")

    browser.open(f"{base_url}/?lang=nl")
    dutch = browser.text()
    assert "Cycli per fase" in dutch
    assert "Te laat (oudste eerst)" in dutch
    assert browser.evaluate("document.documentElement.lang") == "nl"

    listed = ReadModelQueries(demo).cycles(Filter(Role.HR, None), 1, 100).items
    signed = [row for row in listed if row.phase == "progress_review"]
    assert signed, "the demo has cycles in progress_review"
    row = signed[0]
    browser.open(f"{base_url}/cycles/{row.cycle_id}")
    plan = browser.text()
    for column in (
        "Ontwikkelingsdoel",
        "Ontwikkelingsactiviteit",
        "Gewenst resultaat",
        "Planning",
        "Benodigde ondersteuning en faciliteiten",
    ):
        assert column in plan
    assert "Ondertekening" in plan
    assert plan.count("getekend op") == 2
    assert row.employee_name in plan
    assert "Geschiedenis" in plan
    assert "Plan ondertekend" in plan
    assert "PlanSigned" in plan
    assert "CycleStarted" in plan
    browser.screenshot(ARTIFACTS / "cycle-page.png")

    # Readable on a phone: nothing wider than the screen except inside scrolling tables
    browser.viewport(390, 844, mobile=True)
    browser.open(f"{base_url}/")
    assert browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    browser.screenshot(ARTIFACTS / "status-page-phone.png")


def test_the_page_is_usable_with_the_keyboard(
    browser: Chromium, demo: Popcycle, base_url: str, tokens: TokenStore
) -> None:
    _log_in(browser, base_url, tokens.create(Role.HR, None, "keyboard"))
    browser.press("Tab")
    assert browser.evaluate("document.activeElement.className") == "skip"
    browser.press("Enter")
    browser.wait_for("location.hash === '#main'")
    first_link = "document.querySelector('section table tbody a')"
    assert browser.evaluate(f"{first_link}.tabIndex") >= 0
    browser.evaluate(f"{first_link}.focus()")
    browser.press("Enter")
    browser.wait_for("location.pathname.startsWith('/cycles/')")
    assert "History" in browser.text()


def test_a_wrong_token_is_refused_and_logout_needs_the_form(
    browser: Chromium, demo: Popcycle, base_url: str, tokens: TokenStore
) -> None:
    browser.open(f"{base_url}/login")
    browser.type_text("pop_wrong")
    browser.press("Enter")
    browser.wait_for("document.querySelector('.error') !== null")
    assert "Unknown or revoked token." in browser.text()

    token = tokens.create(Role.EMPLOYEE, "E00001", "employee")
    _log_in(browser, base_url, token)
    mine = browser.text()
    assert "Signed in as employee E00001" in mine
    assert "Managers over their yearly POP capacity" not in mine
    assert browser.evaluate("document.querySelectorAll('section table tbody tr').length") <= 3

    browser.evaluate("document.querySelector('form.logout button').click()")
    browser.wait_for("location.pathname === '/login'")
    browser.open(f"{base_url}/")
    browser.wait_for("location.pathname === '/login'")
