"""The narrow read side the status page, the calendar and the list endpoints rely on.

`StatusQueries` is what the web asks of the read models; `web.read_models.ReadModelQueries`
answers it from the projections' SQL tables (handlers/projections/) and the scheduler's
`followups` table. Single cycles for the API are replayed from the log instead, because
`GET /api/cycles/{id}?as_of=` needs any past moment, which no read model keeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Generic, Protocol, TypeVar

from handlers.actor import Role

DUE_SOON = timedelta(days=30)
REVIEW_EVERY = timedelta(days=90)
"""Planned progress reviews in the feed: quarterly after signing, until the scheduler's own."""
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CycleRow:
    """One cycle as the status page lists it."""

    cycle_id: str
    employee_id: str
    employee_name: str
    manager_id: str
    manager_name: str
    department: str | None
    phase: str
    version: int
    due_at: datetime | None
    due_what: str | None


@dataclass(frozen=True, slots=True)
class ManagerLoad:
    manager_id: str
    name: str
    reports: int
    hours: float
    capacity_hours: float


@dataclass(frozen=True, slots=True)
class FollowUpRow:
    kind: str
    cycle_id: str
    due_at: datetime
    status: str
    fired_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CalendarItem:
    """One entry of a person's calendar feed; `key` stays the same when the date moves."""

    key: str
    cycle_id: str
    kind: str  # interview | goal_deadline | review | evaluation
    title: str  # the goal's title for a deadline; the kind says the rest
    start: datetime | date
    description: str = ""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, with what the pager needs.

    `capped`: the list is longer than `total`, which was counted only that far (counting a long
    list exactly would read all of it: "1000+" at a glance says enough).
    """

    items: Sequence[T]
    number: int
    per_page: int
    total: int
    capped: bool = False

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.number < self.pages or (self.capped and bool(self.items))

    def shown(self, count: int) -> str:
        """A count as the page shows it: "1000+" when counting stopped there."""
        return f"{count}+" if self.capped else str(count)


@dataclass(frozen=True, slots=True)
class Filter:
    """Which cycles: those the viewer may see, optionally of one manager or department."""

    viewer_role: Role
    viewer_id: str | None
    manager_id: str | None = None
    department: str | None = None


@dataclass(frozen=True, slots=True)
class Person:
    """Who someone is, as the page and the feed need it."""

    person_id: str
    name: str
    language: str
    manager_id: str | None


@dataclass(frozen=True, slots=True)
class PageNumbers:
    """Which page of each list of the status page is asked for."""

    overdue: int = 1
    due_soon: int = 1
    cycles: int = 1


@dataclass(frozen=True, slots=True)
class Overview:
    """The status page at a glance, as of one moment."""

    counts: dict[str, int]
    overdue: Page[CycleRow]
    due_soon: Page[CycleRow]
    cycles: Page[CycleRow]
    capacity: Page[ManagerLoad] | None  # HR only
    departments: list[str]
    #: When time alone changes it: the next due date to pass (a cycle falls overdue) or to come
    #: within `DUE_SOON` (it joins "due soon"); None if none will.
    valid_until: datetime | None = None
    #: The read models' checkpoints it was read at (`StatusQueries.version`).
    version: tuple[tuple[str, int], ...] = ()


class StatusQueries(Protocol):
    """Everything the web reads besides single cycles (which it replays for `as_of`)."""

    def version(self) -> tuple[tuple[str, int], ...]:
        """The read models' checkpoints: while they stay, so do the tables (and so an overview
        until its `valid_until`)."""
        ...

    def overview(
        self, where: Filter, now: datetime, numbers: PageNumbers, per_page: int, *, capacity: bool
    ) -> Overview: ...
    def phase_counts(self, where: Filter) -> dict[str, int]: ...
    def cycles(self, where: Filter, number: int, per_page: int) -> Page[CycleRow]: ...
    def overdue(
        self, where: Filter, now: datetime, number: int, per_page: int
    ) -> Page[CycleRow]: ...
    def due_soon(
        self, where: Filter, now: datetime, number: int, per_page: int
    ) -> Page[CycleRow]: ...
    def over_capacity(self, limit: int) -> Page[ManagerLoad]: ...
    def departments(self) -> list[str]: ...
    def person(self, person_id: str) -> Person | None: ...
    def calendar(self, person_id: str) -> list[CalendarItem]: ...
    def next_followup(self, cycle_id: str) -> FollowUpRow | None: ...
    def followups(
        self, where: Filter, status: str | None, due_before: datetime | None
    ) -> list[FollowUpRow]: ...
    def lag(self) -> int | None: ...
