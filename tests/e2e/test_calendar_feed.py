"""The per-person iCalendar feed, read back with the `icalendar` library (an independent parser)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import icalendar

from handlers.tokens import TokenStore
from tests.e2e.conftest import Org
from tests.support.served import Client


def _events(reply_text: str) -> dict[str, icalendar.Event]:
    """The feed's events by UID; `walk` is typed as returning any component, so check each."""
    calendar = icalendar.Calendar.from_ical(reply_text)
    events: dict[str, icalendar.Event] = {}
    for event in calendar.walk("VEVENT"):
        assert isinstance(event, icalendar.Event)
        events[str(event["UID"])] = event
    return events


def test_the_feed_lists_interviews_reviews_and_deadlines_with_stable_uids(
    hr: Client, org: Org, tokens: TokenStore, project: Callable[[], None]
) -> None:
    cycle_id = org.start("e1", "m1")
    org.walk(cycle_id, "progress_review")
    project()
    key = tokens.create_calendar_link("e1")
    feed = Client(hr.base).get(f"/calendar/e1.ics?key={key}")
    assert feed.status == 200
    assert feed.media_type == "text/calendar"
    assert b"\r\n" in feed.body
    events = _events(feed.text)
    deadline = events[f"{cycle_id}-deadline-g1@popcycle"]
    assert deadline.decoded("DTSTART") == date(2026, 12, 31)
    assert "Excel" in str(deadline["SUMMARY"])  # e1 reads English: "POP goal deadline: Excel"
    assert str(deadline["SUMMARY"]).startswith("POP goal deadline")
    interview = events[f"{cycle_id}-interview-0@popcycle"]  # same UID as when it was planned
    assert isinstance(interview.decoded("DTSTART"), datetime)
    reviews = [uid for uid in events if "-review-" in uid]
    assert reviews, "quarterly progress reviews until the last deadline"

    # The manager's feed holds the same cycle's dates, in his language (Dutch)
    manager_key = tokens.create_calendar_link("m1")
    manager_events = _events(Client(hr.base).get(f"/calendar/m1.ics?key={manager_key}").text)
    assert set(manager_events) == set(events)
    assert str(manager_events[f"{cycle_id}-deadline-g1@popcycle"]["SUMMARY"]).startswith(
        "Deadline POP-doel"
    )


def test_a_moved_interview_keeps_its_uid(
    hr: Client, org: Org, tokens: TokenStore, project: Callable[[], None]
) -> None:
    cycle_id = org.start("e2", "m2")
    project()
    key = tokens.create_calendar_link("e2")
    before = _events(Client(hr.base).get(f"/calendar/e2.ics?key={key}").text)
    moved = hr.post(
        f"/api/cycles/{cycle_id}/interview", {"scheduled_at": "2026-02-09T14:00:00+01:00"}
    )
    assert moved.status == 200
    project()
    after = _events(Client(hr.base).get(f"/calendar/e2.ics?key={key}").text)
    uid = f"{cycle_id}-interview-0@popcycle"
    assert set(before) == set(after) == {uid}
    assert after[uid].decoded("DTSTART") == datetime(2026, 2, 9, 13, 0, tzinfo=UTC)
    assert before[uid].decoded("DTSTART") != after[uid].decoded("DTSTART")


def test_the_feed_needs_the_persons_own_secret(
    hr: Client, org: Org, tokens: TokenStore, project: Callable[[], None]
) -> None:
    org.start("e1", "m1")
    project()
    key = tokens.create_calendar_link("e1")
    other = tokens.create_calendar_link("e2")
    anonymous = Client(hr.base)
    assert anonymous.get("/calendar/e1.ics").status == 404
    assert anonymous.get("/calendar/e1.ics?key=guess").status == 404
    assert anonymous.get(f"/calendar/e1.ics?key={other}").status == 404
    assert anonymous.get(f"/calendar/nobody.ics?key={key}").status == 404
    renewed = tokens.create_calendar_link("e1")
    assert anonymous.get(f"/calendar/e1.ics?key={key}").status == 404  # the old link stopped
    assert anonymous.get(f"/calendar/e1.ics?key={renewed}").status == 200
