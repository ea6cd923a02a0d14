"""The organisation's working-day calendar: weekends and its country's public holidays."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from workflow.followups import Calendar
from workflow.policy import Policy


def organisation_calendar(zone: ZoneInfo, policy: Policy) -> Calendar:
    """Working days are Monday to Friday, except the public holidays of `policy.country`."""

    @lru_cache(maxsize=64)
    def holidays_of(year: int) -> frozenset[date]:
        return frozenset(holidays.country_holidays(policy.country, years=year))

    def is_working_day(day: date) -> bool:
        return day.weekday() < 5 and day not in holidays_of(day.year)

    return Calendar(zone, is_working_day, policy.send_hour)
