"""The organisation's follow-up policy: when to remind whom, and when a cycle restarts.

Defaults follow the issue and the syllabus (seed 004 §2.9 policy models); an organisation
overrides any of them in one policy file (see `scheduler/policy_file.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PolicyModel(StrEnum):
    """How cycles restart (seed 004 §2.9)."""

    PERIODIC = "periodic"  # periodiek onderhoud: everyone every N years
    ON_DEMAND = "on_demand"  # naar behoefte: at least every 5 years, sooner for some
    PROBLEM = "problem"  # probleemsignalering: only when a problem is signalled


@dataclass(frozen=True, slots=True)
class Policy:
    """Every number the follow-up rules use; days are calendar days."""

    model: PolicyModel = PolicyModel.ON_DEMAND
    invitation_reminder_days: int = 7
    invitation_escalation_days: int = 14
    exchange_days_before: int = 7
    unprepared_warning_days_before: int = 2
    unsigned_reminder_days: int = 5
    review_interval_months: int = 3
    deadline_warning_days: int = 14
    evaluation_escalation_days: int = 14
    periodic_years: int = 2
    on_demand_years: int = 5
    on_demand_flagged_years: int = 1
    flagged_quadrants: tuple[str, ...] = ("high_potential", "learner")
    send_hour: int = 9  # local time of day reminders go out
    country: str = "NL"  # whose public holidays are not working days

    def restart_years(self, quadrant: str | None) -> int | None:
        """Years after an evaluation until the next cycle starts by itself (None: never)."""
        if self.model is PolicyModel.PERIODIC:
            return self.periodic_years
        if self.model is PolicyModel.ON_DEMAND:
            flagged = quadrant in self.flagged_quadrants
            return self.on_demand_flagged_years if flagged else self.on_demand_years
        return None
