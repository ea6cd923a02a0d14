"""Reading the organisation's follow-up policy from one TOML file (POP_POLICY_FILE).

Every key is optional and named as in `workflow.policy.Policy`; an unknown key or a wrong type
is refused with the key's name, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from workflow.errors import DomainError
from workflow.policy import Policy, PolicyModel

EXAMPLE = """\
# popcycle follow-up policy: every key is optional (defaults shown)
model = "on_demand"            # periodic | on_demand | problem (seed 004 §2.9)
invitation_reminder_days = 7
invitation_escalation_days = 14
exchange_days_before = 7
unprepared_warning_days_before = 2
unsigned_reminder_days = 5
review_interval_months = 3
deadline_warning_days = 14
evaluation_escalation_days = 14
periodic_years = 2
on_demand_years = 5
on_demand_flagged_years = 1
flagged_quadrants = ["high_potential", "learner"]
send_hour = 9
country = "NL"
"""


def load_policy(path: str | None) -> Policy:
    """The policy in `path`, or the defaults when no file is configured."""
    if path is None:
        return Policy()
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise DomainError(
            f"cannot read {path}: {error.strerror}", field="POP_POLICY_FILE"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise DomainError(f"{path} is not valid TOML: {error}", field="POP_POLICY_FILE") from None
    return policy_from(raw)


def policy_from(raw: dict[str, Any]) -> Policy:
    """A policy from parsed TOML, each value checked against the field's type."""
    known = {field.name: field for field in fields(Policy)}
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in known:
            raise DomainError(f"unknown policy setting {name!r}", field=name)
        default = getattr(Policy(), name)
        if name == "model":
            try:
                values[name] = PolicyModel(value)
            except ValueError:
                options = ", ".join(m.value for m in PolicyModel)
                raise DomainError(f"must be one of {options}", field=name) from None
        else:
            values[name] = _checked(name, value, default)
    return Policy(**values)


def _checked(name: str, value: Any, default: Any) -> Any:
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise DomainError("must be a list of texts", field=name)
        return tuple(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise DomainError("must be a whole number", field=name)
        if value < 0 or (name == "send_hour" and value > 23):
            raise DomainError("out of range", field=name)
        return value
    if not isinstance(value, str):
        raise DomainError("must be a text", field=name)
    return value
