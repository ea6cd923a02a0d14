"""Why a command was refused, in words a person can act on."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """A command that the rules of the POP cycle do not allow now.

    `field` names the input at fault (for an HTTP 4xx body or a CLI line); `allowed` lists what
    may be done instead, so the message never leaves the user stuck.
    """

    def __init__(self, message: str, *, field: str | None = None, allowed: tuple[str, ...] = ()):
        self.message = message
        self.field = field
        self.allowed = allowed
        super().__init__(self._text())

    def _text(self) -> str:
        hint = f" (allowed now: {', '.join(self.allowed)})" if self.allowed else ""
        return self.message + hint

    def offering(self, allowed: tuple[str, ...]) -> DomainError:
        """The same refusal, now also saying what may be done instead."""
        self.allowed = allowed
        self.args = (self._text(),)
        return self


class NotFound(DomainError):
    """The command names a cycle or employee that does not exist."""


@dataclass(frozen=True, slots=True)
class SmartViolation:
    """One SMART letter a goal fails, with the field to fix."""

    letter: str  # S, M, A, R or T
    field: str  # e.g. "goals[0].deadline"
    message: str

    def __str__(self) -> str:
        return f"{self.letter} ({_LETTER_NAMES[self.letter]}): {self.field}: {self.message}"


_LETTER_NAMES = {
    "S": "specific",
    "M": "measurable",
    "A": "acceptable",
    "R": "realistic",
    "T": "time-bound",
}


class SmartError(DomainError):
    """The plan's goals are not SMART; every failing letter of every goal is listed."""

    def __init__(self, violations: tuple[SmartViolation, ...]) -> None:
        self.violations = violations
        super().__init__(
            "the goals are not SMART: " + "; ".join(str(v) for v in violations),
            field=violations[0].field if violations else None,
        )
