"""Every refusal of the JSON API as `application/problem+json` (RFC 9457) naming the field.

One table maps what the command side raises onto HTTP: a client learns which input to fix
(`field`), what the rules allow instead (`allowed`) and, for a plan that is not SMART, every
failing letter of every goal at once (`violations`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from flask import Response, request
from pydantic import ValidationError

from events.errors import ConcurrencyConflict, IdempotencyKeyReused
from workflow.errors import DomainError, NotFound, SmartError

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_BASE = "urn:popcycle:problem:"


@dataclasses.dataclass(eq=False)
class Problem(Exception):
    """An HTTP error to send as problem+json; raise it anywhere in a view."""

    status: int
    kind: str
    title: str
    detail: str
    field: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": _TYPE_BASE + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "field": self.field,
        }
        body.update(self.extra)
        return body

    def response(self) -> Response:
        return Response(
            json.dumps(self.to_json(), ensure_ascii=False),
            status=self.status,
            mimetype=PROBLEM_MEDIA_TYPE,
            headers=self.headers,
        )


def unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "unauthorized",
        "Not authenticated",
        detail,
        "Authorization",
        headers={"WWW-Authenticate": 'Bearer realm="popcycle"'},
    )


def forbidden(detail: str, field_name: str = "Authorization") -> Problem:
    return Problem(403, "forbidden", "Not allowed for this token", detail, field_name)


def not_found(detail: str, field_name: str | None) -> Problem:
    return Problem(404, "not-found", "Not found", detail, field_name)


def invalid(detail: str, field_name: str) -> Problem:
    return Problem(422, "invalid", "Invalid input", detail, field_name)


def from_domain_error(error: DomainError, path_fields: set[str]) -> Problem:
    """A refused command: 404 for an unknown id in the URL, 409 for a step the phase forbids."""
    if isinstance(error, SmartError):
        return Problem(
            422,
            "not-smart",
            "The goals are not SMART",
            error.message,
            error.field,
            extra={
                "violations": [
                    {"letter": v.letter, "field": v.field, "message": v.message}
                    for v in error.violations
                ]
            },
        )
    if isinstance(error, NotFound):
        if error.field is None or error.field in path_fields:
            return not_found(error.message, error.field)
        return invalid(error.message, error.field)
    hint = {"allowed": list(error.allowed)} if error.allowed else {}
    if error.field is None and error.allowed:
        return Problem(
            409,
            "not-allowed-now",
            "Not allowed in the cycle's current phase",
            str(error),
            "phase",
            extra=hint,
        )
    return Problem(422, "invalid", "Invalid input", str(error), error.field or "body", extra=hint)


def from_conflict(error: ConcurrencyConflict, pinned: bool) -> Problem:
    """A stale `If-Match` is a failed precondition; an unpinned clash is a plain conflict."""
    if pinned:
        return Problem(
            412,
            "stale-version",
            "The cycle changed since that version",
            f"the cycle is at version {error.actual}, not {error.expected}: reload it",
            "If-Match",
            extra={"version": error.actual},
        )
    return Problem(
        409, "conflict", "Concurrent change", str(error), "version", extra={"version": error.actual}
    )


def from_key_reused(error: IdempotencyKeyReused) -> Problem:
    return Problem(
        422, "idempotency-key-reused", "Idempotency key reused", str(error), "Idempotency-Key"
    )


def _field_path(location: tuple[int | str, ...]) -> str:
    """('goals', 0, 'deadline') → goals[0].deadline, the way people write it."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "body"


def from_validation_error(error: ValidationError) -> Problem:
    """The request did not match its schema: every bad field listed, the first one named."""
    issues = [
        {"field": _field_path(tuple(item["loc"])), "message": item["msg"]}
        for item in error.errors(include_url=False, include_input=False)
    ]
    first = issues[0] if issues else {"field": "body", "message": "invalid"}
    return Problem(
        422,
        "invalid",
        "Invalid input",
        f"{first['field']}: {first['message']}",
        first["field"],
        extra={"errors": issues},
    )


def validation_error_response(error: ValidationError) -> Response:
    """The hook flask-openapi3 calls when a request does not match its schema."""
    problem = from_validation_error(error)
    if problem.field == "body" and request.content_length and request.get_json(silent=True) is None:
        problem = Problem(400, "malformed", "Malformed JSON", "the body is not valid JSON", "body")
    return problem.response()
