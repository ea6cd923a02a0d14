"""`GET /api/followups`: reminders due or fired, from the scheduler's read model."""

from __future__ import annotations

from flask import Response

from web.access import visibility
from web.api import schemas as s
from web.api.blueprint import route
from web.api.commands import reply
from web.services import current_principal, services


@route(
    "get",
    "/followups",
    tag="follow-ups",
    ok={200: s.FollowUps},
    errors=(401, 422),
    summary="Follow-ups (reminders), pending or fired",
)
def list_followups(query: s.FollowupsQuery) -> Response:
    """HR sees all; a manager those of his reports' cycles; an employee those of his own."""
    web = services()
    due_before = web.aware(query.due_before) if query.due_before else None
    rows = web.queries.followups(visibility(current_principal()), query.status, due_before)
    return reply(
        {
            "followups": [
                {
                    "kind": row.kind,
                    "cycle_id": row.cycle_id,
                    "due_at": row.due_at.isoformat(),
                    "status": row.status,
                    "fired_at": row.fired_at.isoformat() if row.fired_at else None,
                }
                for row in rows
            ]
        },
        200,
    )
