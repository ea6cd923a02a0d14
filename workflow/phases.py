"""The phases of a POP cycle, in the order the syllabus walks them (seed 004 §2.3.3-2.5)."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Where a cycle stands. The values are the public names (DESIGN.md §5)."""

    INVITATION = "invitation"
    PREPARATION = "preparation"
    INTERVIEW = "interview"
    AGREEMENT = "agreement"
    PROGRESS_REVIEW = "progress_review"
    EVALUATION = "evaluation"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def is_closed(self) -> bool:
        return self in (Phase.COMPLETED, Phase.CANCELLED)


ORDER: tuple[Phase, ...] = tuple(Phase)[:-1]
"""The forward order of the open path; `cancelled` stands beside it."""
