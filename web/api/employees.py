"""`POST /api/employees`: HR registers a person (employee or manager)."""

from __future__ import annotations

import hashlib

from flask import Response

from handlers.commands import new_id
from web.access import require_hr
from web.api import schemas as s
from web.api.blueprint import WRITE_ERRORS, route
from web.api.commands import reply
from web.services import current_principal, services
from workflow.employee import RegisterEmployee


def _new_employee_id(idempotency_key: str | None) -> str:
    """A fresh id; derived from the Idempotency-Key, so a retried request names the same person
    (and is recognised as the same request) instead of registering a second one."""
    if idempotency_key is None:
        return new_id()
    return hashlib.sha256(f"employee:{idempotency_key}".encode()).hexdigest()[:32]


@route(
    "post",
    "/employees",
    tag="people",
    ok={201: s.EmployeeCreated},
    errors=WRITE_ERRORS,
    summary="Register an employee or manager",
)
def register(body: s.NewEmployee, header: s.CommandHeaders) -> Response:
    """A named manager must be registered first; the language defaults to POP_LANGUAGE."""
    web = services()
    principal = current_principal()
    require_hr(principal, "register people")
    command = RegisterEmployee(
        body.employee_id or _new_employee_id(header.idempotency_key),
        body.name,
        body.email,
        body.manager_id,
        body.language or web.popcycle.settings.language,
    )
    result = web.popcycle.commands.register_employee(
        principal.actor, command, idempotency_key=header.idempotency_key
    )
    return reply({"employee_id": result.employee_id, "replayed": result.replayed}, 201)
