"""Sending one command for the API: access check, If-Match, Idempotency-Key, the reply.

Writes go only through `CommandHandler`; this module just adds what HTTP brings with it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Response, g

from events.domain import Side
from handlers.commands import CommandResult
from web.access import Action, require_action
from web.api.schemas import CommandHeaders
from web.problems import invalid
from web.services import current_principal, services
from workflow.commands import CycleCommand

_VERSION = re.compile(r'^\s*(?:W/)?"?(\d{1,9})"?\s*$')


def expected_version(header: CommandHeaders) -> int | None:
    """`If-Match: 7`, `"7"` or `W/"7"` pins the version; `*` or no header pins nothing."""
    raw = header.if_match
    if raw is None or raw.strip() == "*":
        return None
    found = _VERSION.match(raw)
    if found is None:
        raise invalid("If-Match must be the cycle's version, e.g. 7", "If-Match")
    g.pinned = True
    return int(found.group(1))


def reply(payload: dict[str, Any], status: int, *, version: int | None = None) -> Response:
    """A JSON reply; the version doubles as the ETag so clients can send it back as If-Match."""
    headers = {"ETag": f'"{version}"'} if version is not None else {}
    return Response(
        json.dumps(payload, ensure_ascii=False),
        status=status,
        mimetype="application/json",
        headers=headers,
    )


def done(result: CommandResult, status: int = 200) -> Response:
    payload = {
        "cycle_id": result.cycle_id,
        "employee_id": result.employee_id,
        "phase": result.phase,
        "version": result.version,
        "replayed": result.replayed,
    }
    return reply(payload, status, version=result.version)


def send(
    cycle_id: str,
    command: CycleCommand,
    header: CommandHeaders,
    action: Action,
    side: Side | None = None,
) -> Response:
    """Check who may do it, then hand the command to the command side."""
    app = services().popcycle
    principal = current_principal()
    pinned = expected_version(header)
    result = app.commands.handle(
        principal.actor,
        cycle_id,
        command,
        expected_version=pinned,
        idempotency_key=header.idempotency_key,
        authorize=lambda state: require_action(principal, state, action, side),
    )
    return done(result)
