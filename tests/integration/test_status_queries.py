"""The status page's lists, on SQLite and PostgreSQL: pages in (date, cycle id) order that
neither overlap nor skip when many cycles share a date, counts that stop a few pages ahead,
and the filters by manager and department on lists and counts alike."""

from __future__ import annotations

from datetime import timedelta

from events.domain import Reason
from handlers.actor import Actor, Role
from handlers.bootstrap import Popcycle
from handlers.projections.service import ProjectionService
from tests.integration.test_projection_models import app, register  # noqa: F401 - fixture
from tests.support.clock import FakeClock
from web.queries import Filter
from web.read_models import PAGES_AHEAD, ReadModelQueries
from workflow.employee import ChangeEmployeeDetails, decide_details

HR = Actor("hr-test", Role.HR)
EVERYONE = Filter(Role.HR, None)


def organisation(app: Popcycle, clock: FakeClock, people: int) -> list[str]:  # noqa: F811
    """Two managers; `people` employees, the even ones in Sales, each with a cycle whose
    interview is at one and the same moment (so their follow-ups tie)."""
    register(app, "M1")
    register(app, "M2")
    interview = clock.now() + timedelta(days=3)  # the preparation was due 4 days ago
    cycle_ids = []
    for n in range(people):
        person = f"E{n:02d}"
        register(app, person, f"M{1 + n % 2}")
        if n % 2 == 0:
            change = ChangeEmployeeDetails(department="Sales")
            app.commands.handle_employee(HR, person, change, decide_details)
        started = app.commands.start_cycle(HR, person, f"M{1 + n % 2}", Reason.PERIODIC, interview)
        assert started.cycle_id is not None
        cycle_ids.append(started.cycle_id)
    ProjectionService.from_app(app).catch_up_all()
    return cycle_ids


def test_pages_of_tied_cycles_neither_overlap_nor_skip(app: Popcycle, clock: FakeClock) -> None:  # noqa: F811
    cycle_ids = organisation(app, clock, 23)
    queries = ReadModelQueries(app)
    now = clock.now()
    pages = [queries.overdue(EVERYONE, now, number, 5) for number in range(1, 7)]
    listed = [row.cycle_id for page in pages for row in page.items]
    assert listed == sorted(cycle_ids)  # all due at the same moment: by cycle id, once each
    assert [len(page.items) for page in pages] == [5, 5, 5, 5, 3, 0]
    assert pages[0].total == 23
    assert not pages[0].capped
    assert pages[0].pages == 5
    assert not pages[4].has_next
    past = queries.overdue(EVERYONE, now, 50, 5)  # a page past the end still counts the list
    assert (list(past.items), past.total, past.capped) == ([], 23, False)
    assert queries.due_soon(EVERYONE, now, 1, 5).total == 0  # overdue is not "due soon"
    everything = queries.cycles(EVERYONE, 1, 100)
    assert everything.total == 23
    assert [row.employee_id for row in everything.items] == sorted(f"E{n:02d}" for n in range(23))


def test_a_long_list_is_counted_a_few_pages_ahead(app: Popcycle, clock: FakeClock) -> None:  # noqa: F811
    organisation(app, clock, 13)
    queries = ReadModelQueries(app)
    first = queries.overdue(EVERYONE, clock.now(), 1, 2)
    assert (first.total, first.capped) == (2 * PAGES_AHEAD, True)
    assert first.shown(first.total) == f"{2 * PAGES_AHEAD}+"
    assert first.has_next
    later = queries.overdue(EVERYONE, clock.now(), 4, 2)  # counted from its own offset
    assert (later.total, later.capped) == (13, False)
    assert [len(queries.overdue(EVERYONE, clock.now(), n, 2).items) for n in (7, 8)] == [1, 0]


def test_the_filters_narrow_lists_and_counts_alike(app: Popcycle, clock: FakeClock) -> None:  # noqa: F811
    organisation(app, clock, 12)
    queries = ReadModelQueries(app)
    now = clock.now()
    cases = {
        Filter(Role.HR, None, "M1"): ("M1", None, 6),
        Filter(Role.HR, None, None, "Sales"): (None, "Sales", 6),
        Filter(Role.HR, None, "M1", "Sales"): ("M1", "Sales", 6),  # E00, E02…: even, M1's
        Filter(Role.HR, None, "M2", "Sales"): ("M2", "Sales", 0),
        Filter(Role.MANAGER, "M2"): ("M2", None, 6),
        Filter(Role.MANAGER, "M2", "M1"): (None, None, 0),  # another manager's: nothing
        Filter(Role.EMPLOYEE, "E03"): ("M2", None, 1),
    }
    for where, (manager, department, expected) in cases.items():
        overdue = queries.overdue(where, now, 1, 20)
        assert overdue.total == len(overdue.items) == expected, where
        assert queries.phase_counts(where)["invitation"] == expected, where
        assert queries.cycles(where, 1, 20).total == expected, where
        for row in overdue.items:
            assert manager in (None, row.manager_id)
            assert department in (None, row.department)
    assert queries.departments() == ["Sales"]
