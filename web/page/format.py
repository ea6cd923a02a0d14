"""How dates, times and support read on the page: the organisation's time zone, short forms."""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint

from events.domain import Support
from web.i18n import text
from web.services import services

NOTHING = "\u2013"  # an en dash: "no value" in a table cell


class Labels(dict[str, str]):
    """The texts of one language looked up once per page (a row's phase, what is due), not once
    per row: a template's call costs more than the lookup."""

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang = lang

    def __missing__(self, key: str) -> str:
        found = self[key] = text(key, self.lang)
        return found


def local_time(moment: datetime | None) -> str:
    """A moment in the organisation's time zone, e.g. 2027-02-01 10:00."""
    if moment is None:
        return NOTHING
    zone = services().popcycle.settings.timezone
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def local_day(value: date | datetime | None) -> str:
    """The day (in the organisation's time zone for a moment), e.g. 2027-02-01."""
    if value is None:
        return NOTHING
    if isinstance(value, datetime):
        return value.astimezone(services().popcycle.settings.timezone).date().isoformat()
    return value.isoformat()


def support_text(support: Support, lang: str) -> str:
    """The syllabus' "benodigde ondersteuning en faciliteiten" as one readable line."""
    parts = []
    if support.own_hours:
        parts.append(f"{support.own_hours:g} {text('own_hours', lang)}")
    if support.coach_hours:
        parts.append(f"{support.coach_hours:g} {text('coach_hours', lang)}")
    if support.coach:
        parts.append(f"{text('coach', lang)}: {support.coach}")
    if support.budget_eur:
        parts.append(f"{text('budget', lang)} € {support.budget_eur:,.0f}")
    if support.materials:
        parts.append(f"{text('materials', lang)}: {', '.join(support.materials)}")
    return "; ".join(parts) or NOTHING


def register_filters(blueprint: Blueprint) -> None:
    blueprint.add_app_template_filter(local_time, "local_time")
    blueprint.add_app_template_filter(local_day, "local_day")
