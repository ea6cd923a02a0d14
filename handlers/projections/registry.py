"""Every projection popcycle keeps, by name (the name of its checkpoint and of `pop projections
rebuild NAME`).

- `cycles`: the `cycles`, `goals`, `due` and `budgets` tables (one fold of the cycle streams).
- `people`: the `employees` and `managers` tables; the performance/potential matrix reads them.
- `summary`: cycles per phase per manager and department (`summary_counts`), for the status
  page's counts at a glance, with the two small tables it folds them from.
"""

from __future__ import annotations

from handlers.projections.base import Projection
from handlers.projections.cycle_projection import CYCLES
from handlers.projections.people_projection import PEOPLE
from handlers.projections.summary import SUMMARY

PROJECTIONS: tuple[Projection, ...] = (CYCLES, PEOPLE, SUMMARY)
BY_NAME: dict[str, Projection] = {projection.name: projection for projection in PROJECTIONS}


def projection(name: str) -> Projection:
    """The projection called `name`, or a ValueError listing the ones there are."""
    try:
        return BY_NAME[name]
    except KeyError:
        known = ", ".join(BY_NAME)
        raise ValueError(f"no projection {name!r}: there are {known}") from None


def select(name: str | None) -> tuple[Projection, ...]:
    """One projection by name, or all of them for None."""
    return PROJECTIONS if name is None else (projection(name),)
