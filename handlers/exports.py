"""Exports for people outside popcycle: a data-subject access file and the printable plan.

Both read through the repository, so an erased employee's fields come out as erased here too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from events.domain import CycleOpened
from handlers.history import HistoryEntry, cycle_history
from handlers.repository import Repository, employee_stream
from handlers.views import cycle_view

_templates = Environment(
    loader=PackageLoader("handlers", "templates"), autoescape=select_autoescape(["html"])
)

LABELS = {
    "nl": {
        "title": "Persoonlijk ontwikkelingsplan",
        "employee": "Medewerker",
        "manager": "Leidinggevende",
        "goal": "Ontwikkelingsdoel",
        "activity": "Ontwikkelingsactiviteit",
        "result": "Gewenst resultaat",
        "planning": "Planning",
        "support": "Benodigde ondersteuning en faciliteiten",
        "signing": "Ondertekening",
        "signed": "getekend",
        "unsigned": "nog niet getekend",
        "date": "Datum",
        "version": "Versie",
        "own_hours": "eigen uren",
        "coach_hours": "uren begeleiding",
        "budget_eur": "budget",
        "short": "korte termijn",
        "medium": "middellange termijn",
    },
    "en": {
        "title": "Personal development plan",
        "employee": "Employee",
        "manager": "Manager",
        "goal": "Development goal",
        "activity": "Development activity",
        "result": "Desired result",
        "planning": "Planning",
        "support": "Support and facilities needed",
        "signing": "Signatures",
        "signed": "signed",
        "unsigned": "not signed yet",
        "date": "Date",
        "version": "Version",
        "own_hours": "own hours",
        "coach_hours": "coaching hours",
        "budget_eur": "budget",
        "short": "short term",
        "medium": "medium term",
    },
}


def employee_history(repository: Repository, employee_id: str) -> list[HistoryEntry]:
    """Everything recorded about a person: their own stream and all their cycles, in order."""
    person = repository.store.read_stream(employee_stream(employee_id))
    entries = [
        HistoryEntry(
            event.position,
            event.version,
            event.type,
            event.recorded_at,
            {
                "id": event.metadata.actor_id,
                "role": event.metadata.actor_role,
                "on_behalf_of": event.metadata.on_behalf_of,
            },
            data,
        )
        for event, data in repository.unsealed(person)
    ]
    for cycle_id in cycle_ids(repository, employee_id):
        entries += cycle_history(repository, cycle_id)
    return sorted(entries, key=lambda entry: entry.position)


def cycle_ids(repository: Repository, employee_id: str) -> list[str]:
    """The employee's cycles, oldest first (from the CycleOpened markers on their stream)."""
    events = repository.decoded(repository.store.read_stream(employee_stream(employee_id)))
    return [event.cycle_id for event in events if isinstance(event, CycleOpened)]


def employee_file(repository: Repository, employee_id: str, now: datetime) -> dict[str, Any]:
    """A data-subject access file: the person, every cycle, every event about them."""
    person = repository.employee(employee_id)
    return {
        "exported_at": now.isoformat(),
        "employee": {
            "employee_id": person.employee_id,
            "name": person.name,
            "email": person.email,
            "manager_id": person.manager_id,
            "language": person.language,
            "department": person.department,
            "function": person.function,
            "forgotten": person.forgotten,
        },
        "cycles": [
            cycle_view(repository.cycle(cycle_id), None, now)
            for cycle_id in cycle_ids(repository, employee_id)
        ],
        "events": [entry.to_json() for entry in employee_history(repository, employee_id)],
    }


def plan_html(repository: Repository, cycle_id: str, language: str) -> str:
    """The plan as a printable page in the syllabus' layout, with the signature block."""
    state = repository.cycle(cycle_id)
    employee = repository.employee(state.employee_id)
    manager = repository.employee(state.manager_id, "manager_id")
    signed: dict[str, str | None] = {side.value: None for side in state.signatures}
    if state.in_force:
        day = state.signed_plans[-1].signed_at.date().isoformat()
        signed = dict.fromkeys(signed, day)
    return _templates.get_template("plan.html").render(
        t=LABELS.get(language, LABELS["nl"]),
        language=language if language in LABELS else "nl",
        state=state,
        employee=employee,
        manager=manager,
        signed=signed,
    )
