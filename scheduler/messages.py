"""What a reminder says, in Dutch and in English: subject, plain text and HTML.

The words are the syllabus' own (POP-gesprek, voortgang, evaluatie). No texts from the plan
itself go into a reminder: a mail box is not the place for talking points.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

SUBJECTS: dict[str, dict[str, str]] = {
    "invitation.reminder": {
        "nl": "Herinnering: uitnodiging voor je POP-gesprek",
        "en": "Reminder: invitation to your POP interview",
    },
    "invitation.escalation": {
        "nl": "Uitnodiging POP nog niet opgepakt",
        "en": "POP invitation not yet taken up",
    },
    "preparation.exchange": {
        "nl": "Over een week: POP-gesprek — wissel je gespreksonderwerpen uit",
        "en": "One week to go: POP interview — exchange your talking points",
    },
    "preparation.unprepared": {
        "nl": "POP-gesprek over twee dagen: voorbereiding ontbreekt",
        "en": "POP interview in two days: preparation missing",
    },
    "agreement.unsigned": {
        "nl": "Het POP wacht op je handtekening",
        "en": "The development plan awaits your signature",
    },
    "review.due": {
        "nl": "Tijd voor een voortgangsgesprek over het POP",
        "en": "Time for a progress review of the development plan",
    },
    "goal.deadline_warning": {
        "nl": "Over twee weken: deadline van een ontwikkelingsdoel",
        "en": "In two weeks: a development goal's deadline",
    },
    "evaluation.due": {
        "nl": "Het POP is klaar voor evaluatie",
        "en": "The plan is due for evaluation",
    },
    "evaluation.escalation": {
        "nl": "Evaluatie van het POP ontbreekt",
        "en": "Evaluation of the development plan is missing",
    },
    "restart": {"nl": "Een nieuwe POP-cyclus is gestart", "en": "A new POP cycle has started"},
}
BODIES: dict[str, dict[str, str]] = {
    "nl": {
        "greeting": "Beste {name},",
        "cycle": "Het gaat om POP-cyclus {cycle_id}.",
        "late": "Deze herinnering komt later dan gepland ({hours} uur).",
        "closing": "Met vriendelijke groet,\npopcycle namens HR",
    },
    "en": {
        "greeting": "Dear {name},",
        "cycle": "This concerns POP cycle {cycle_id}.",
        "late": "This reminder comes later than planned ({hours} hours).",
        "closing": "Kind regards,\npopcycle on behalf of HR",
    },
}


@dataclass(frozen=True, slots=True)
class Message:
    """One notification, ready for a mail or a webhook."""

    subject: str
    text: str
    html: str


def compose(kind: str, language: str, name: str, cycle_id: str, late_seconds: int) -> Message:
    """The reminder of `kind` for one person, in their language (Dutch if unknown)."""
    language = language if language in BODIES else "nl"
    words = BODIES[language]
    subject = SUBJECTS.get(kind, {}).get(language, kind)
    lines = [
        words["greeting"].format(name=name),
        "",
        subject + ".",
        words["cycle"].format(cycle_id=cycle_id),
    ]
    if late_seconds >= 3600:
        lines.append(words["late"].format(hours=late_seconds // 3600))
    lines += ["", words["closing"]]
    text = "\n".join(lines)
    html = "".join(f"<p>{escape(line)}</p>" if line else "" for line in lines)
    return Message(subject, text, f"<html><body>{html}</body></html>")
