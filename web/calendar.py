"""`GET /calendar/{person_id}.ics?key=…`: a person's POP dates as an iCalendar feed.

Calendar apps poll a URL and send no login, so the feed is opened by a secret per-person key
(`pop calendar link PERSON_ID`); a wrong key looks exactly like an unknown person (404).
Every entry's UID is derived from the cycle and what it is (not from its date), so when an
interview moves, subscribers see the same event move instead of a duplicate.

Written by hand (RFC 5545 is small: escaping, CRLF, 75-octet folding); the tests read it back
with the `icalendar` library as an independent check.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import Blueprint, Response, abort, request

from web.i18n import text
from web.queries import CalendarItem
from web.services import services

calendar = Blueprint("calendar", __name__)
INTERVIEW_LENGTH = timedelta(hours=1)
UID_DOMAIN = "popcycle"


def _escape(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space (RFC 5545 3.1)."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    parts: list[str] = []
    current = b""
    for char in line:
        encoded = char.encode("utf-8")
        limit = 75 if not parts else 74
        if len(current) + len(encoded) > limit:
            parts.append(current.decode("utf-8"))
            current = b""
        current += encoded
    parts.append(current.decode("utf-8"))
    return "\r\n ".join(parts)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _when(item: CalendarItem) -> list[str]:
    if isinstance(item.start, datetime):
        end = item.start + INTERVIEW_LENGTH
        return [f"DTSTART:{_stamp(item.start)}", f"DTEND:{_stamp(end)}"]
    day: date = item.start
    return [
        f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
        f"DTEND;VALUE=DATE:{day + timedelta(days=1):%Y%m%d}",
    ]


def _summary(item: CalendarItem, lang: str) -> str:
    return text("cal_" + item.kind, lang, title=item.title)


def render(items: list[CalendarItem], lang: str, now: datetime, base_url: str) -> str:
    """The feed as iCalendar text (CRLF line ends)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//popcycle//POP cycles//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(text('cal_name', lang))}",
    ]
    for item in sorted(items, key=lambda i: i.key):
        lines += [
            "BEGIN:VEVENT",
            f"UID:{item.key}@{UID_DOMAIN}",
            f"DTSTAMP:{_stamp(now)}",
            *_when(item),
            f"SUMMARY:{_escape(_summary(item, lang))}",
            f"URL:{base_url}cycles/{item.cycle_id}",
        ]
        if item.description:
            lines.append(f"DESCRIPTION:{_escape(item.description)}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"


@calendar.get("/calendar/<person_id>.ics")
def feed(person_id: str) -> Response:
    web = services()
    key = request.args.get("key", "")
    if not key or not web.tokens.calendar_link_valid(person_id, key):
        abort(404)
    person = web.queries.person(person_id)
    lang = person.language if person is not None else web.popcycle.settings.language
    body = render(web.queries.calendar(person_id), lang, web.popcycle.clock(), request.host_url)
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": f'inline; filename="{person_id}.ics"'},
    )
