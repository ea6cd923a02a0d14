"""The performance/potential matrix (seed 004 §1.3-1.4): which talk with whom.

HR places a person in one of four quadrants (`QuadrantRecorded`, kept in `employees.quadrant`);
the syllabus then recommends conversations per quadrant. Only high potentials and learners are
recommended the POP talk, so those of them without an open cycle are listed as lacking it —
HR's worklist. The recommendations are the syllabus' text, not data: they live here, in Dutch
and English; the people come from the `employees` read model.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Table, and_, func, select

from workflow.employee import QUADRANTS

#: Conversation types of the syllabus (§1.1), in both languages.
CONVERSATIONS: dict[str, dict[str, str]] = {
    "coaching": {"nl": "Coachingsgesprek", "en": "Coaching talk"},
    "coaching_new_work": {
        "nl": "Coachingsgesprek bij nieuwe producten/activiteiten",
        "en": "Coaching talk on new products or activities",
    },
    "pop": {"nl": "POP-gesprek", "en": "POP talk"},
    "evaluation": {"nl": "Evaluatiegesprek", "en": "Evaluation talk"},
    "correction_if_needed": {"nl": "Zo nodig correctiegesprek", "en": "Correction talk if needed"},
    "correction": {"nl": "Correctiegesprek", "en": "Correction talk"},
    "exit_on_leaving": {"nl": "Bij afscheid: exitgesprek", "en": "Exit talk when leaving"},
    "exit": {"nl": "Exitgesprek", "en": "Exit talk"},
}

#: Per quadrant: its name, the syllabus' one-line description, the recommended conversations.
QUADRANT_INFO: dict[str, dict[str, str]] = {
    "solid_citizen": {
        "nl": "Solid citizens (de middengroep)",
        "en": "Solid citizens (the middle group)",
        "about_nl": "Gemiddelde potentie, goede prestaties: de dragende krachten.",
        "about_en": "Average potential, good performance: the backbone of the business.",
    },
    "high_potential": {
        "nl": "High potentials (de sterren)",
        "en": "High potentials (the stars)",
        "about_nl": "Veel potentie, hoge prestaties: zoeken nieuwe uitdagingen.",
        "about_en": "High potential, high performance: looking for new challenges.",
    },
    "learner": {
        "nl": "Learners (de lerenden)",
        "en": "Learners",
        "about_nl": "Veel potentie, redelijk goede prestaties: begeleiden en coachen.",
        "about_en": "High potential, fair performance: guide and coach them.",
    },
    "breaksman": {
        "nl": "Breaksmen (de remmers)",
        "en": "Breaksmen (the brakes)",
        "about_nl": "Weinig potentie, onvoldoende prestaties.",
        "about_en": "Little potential, insufficient performance.",
    },
}

RECOMMENDED: dict[str, tuple[str, ...]] = {
    "solid_citizen": ("coaching_new_work", "evaluation", "correction_if_needed"),
    "high_potential": ("coaching", "pop", "evaluation", "correction_if_needed", "exit_on_leaving"),
    "learner": ("coaching", "pop", "evaluation", "correction_if_needed"),
    "breaksman": ("correction", "evaluation", "exit"),
}

#: The quadrants whose recommendations include the POP talk.
POP_QUADRANTS = tuple(q for q in QUADRANTS if "pop" in RECOMMENDED[q])


@dataclass(frozen=True, slots=True)
class Person:
    employee_id: str
    name: str
    manager_id: str | None


@dataclass(frozen=True, slots=True)
class Quadrant:
    """One cell of the matrix as HR reads it."""

    quadrant: str
    label: str
    about: str
    conversations: tuple[str, ...]
    people: int
    lacking_pop_talk: tuple[Person, ...]


def matrix(connection: Connection, employees: Table, *, language: str = "en") -> list[Quadrant]:
    """The four quadrants with their recommended talks, head counts and who lacks a POP talk.

    Counted: people registered, not recorded as left and not forgotten.
    """
    e = employees.c
    present = and_(e.left_on.is_(None), e.forgotten.is_(False))
    counted = select(e.quadrant, func.count()).where(present, e.quadrant.is_not(None))
    counts: dict[str, int] = {
        str(quadrant): int(number)
        for quadrant, number in connection.execute(counted.group_by(e.quadrant))
    }
    lacking: dict[str, list[Person]] = {q: [] for q in QUADRANTS}
    query = (
        select(e.quadrant, e.employee_id, e.name, e.manager_id)
        .where(present, e.quadrant.in_(POP_QUADRANTS), e.cycle_open.is_(False))
        .order_by(e.quadrant, e.employee_id)
    )
    for quadrant, employee_id, name, manager_id in connection.execute(query):
        lacking[quadrant].append(Person(employee_id, name, manager_id))
    lang = "nl" if language == "nl" else "en"
    return [
        Quadrant(
            quadrant=q,
            label=QUADRANT_INFO[q][lang],
            about=QUADRANT_INFO[q][f"about_{lang}"],
            conversations=tuple(CONVERSATIONS[c][lang] for c in RECOMMENDED[q]),
            people=int(counts.get(q, 0)),
            lacking_pop_talk=tuple(lacking[q]),
        )
        for q in QUADRANTS
    ]
