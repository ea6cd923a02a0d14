"""GDPR erasure: forgetting an employee without rewriting the log.

The employee's key is destroyed, so every sealed personal field of theirs (names, e-mail,
talking points, notes, summaries, goal texts) can never be read again, anywhere: history, read
models, exports. An `EmployeeForgotten` event (which holds no personal data) tells the read
models to blank what they had shown. The hash chain still verifies: the sealed bytes in the log
are untouched, only the key that opens them is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from events.domain import EmployeeEvent, EmployeeForgotten
from handlers.actor import Actor
from handlers.bootstrap import Popcycle
from workflow.employee import EmployeeState

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ForgetEmployee:
    """The command: erase this person's personal data."""


def decide_forget(
    state: EmployeeState, command: ForgetEmployee, now: datetime
) -> list[EmployeeEvent]:
    """Record the erasure once; a repeated `forget` only makes sure the key is gone."""
    return [] if state.forgotten else [EmployeeForgotten(now)]


def forget_employee(app: Popcycle, actor: Actor, employee_id: str) -> bool:
    """Erase an employee; True if a key was destroyed now (False: it already was)."""
    state = app.repository.employee(employee_id)
    if not state.forgotten:
        app.commands.handle_employee(actor, employee_id, ForgetEmployee(), decide_forget)
    destroyed = app.repository.keys.destroy(employee_id)
    app.commands.forget_cached(employee_id)
    if app.engine.dialect.name == "sqlite":
        # Push the overwritten pages out of the WAL file too, so no copy of the key remains.
        with app.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    log.info("employee.forgotten", employee_id=employee_id, key_destroyed=destroyed)
    return destroyed
