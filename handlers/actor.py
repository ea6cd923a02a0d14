"""Who sends a command, and for whom: recorded on every event for the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """HR may act for either side; managers and employees act for themselves."""

    HR = "hr"
    MANAGER = "manager"
    EMPLOYEE = "employee"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """The person acting (`person_id`) in a role."""

    person_id: str
    role: Role

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(name, Role.SYSTEM)
