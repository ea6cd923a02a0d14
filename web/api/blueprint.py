"""The `/api` blueprint: bearer-token login, error mapping, and typed route decorators.

flask-openapi3 reads each view's annotated `path`/`query`/`header`/`body` pydantic models to
validate the request *and* to write the operation into the OpenAPI document. Its decorators
are untyped; `route` below gives them a type once, so the views stay checked by mypy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Response, g, request
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.models.tag import Tag
from flask_openapi3.types import ResponseDict
from pydantic import BaseModel

from events.errors import ConcurrencyConflict, IdempotencyKeyReused
from web.problems import (
    PROBLEM_MEDIA_TYPE,
    Problem,
    from_conflict,
    from_domain_error,
    from_key_reused,
    unauthorized,
)
from web.services import services
from workflow.errors import DomainError

F = TypeVar("F", bound=Callable[..., Any])

BEARER = "bearer"
api = APIBlueprint(
    "api",
    __name__,
    url_prefix="/api",
    abp_security=[{BEARER: []}],
)

_DESCRIPTIONS = {
    400: "The body is not valid JSON",
    401: "No valid bearer token",
    403: "The token's role may not do this",
    404: "No such cycle or person (or not one this token may see)",
    409: "Not allowed in the cycle's current phase, or a concurrent change",
    412: "If-Match names a version the cycle has moved past",
    413: "The body is larger than this server accepts",
    415: "The body is not of a media type this operation reads",
    422: "Invalid input: `field` names what to fix",
}


def problem_responses(*codes: int) -> dict[int, dict[str, Any]]:
    """Response declarations for error codes, all problem+json with the Problem schema."""
    return {
        code: {
            "description": _DESCRIPTIONS[code],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for code in codes
    }


READ_ERRORS = (401, 404, 422)
WRITE_ERRORS = (400, 401, 403, 404, 409, 412, 422)


def route(
    method: str,
    rule: str,
    *,
    tag: str,
    ok: dict[int, type[BaseModel]],
    errors: tuple[int, ...],
    summary: str,
) -> Callable[[F], F]:
    """Register a view under /api and in the OpenAPI document (typed wrapper)."""
    register = api.post if method == "post" else api.get
    responses: ResponseDict = {}
    for code, model in ok.items():
        responses[code] = model
    for code, problem in problem_responses(*errors).items():
        responses[code] = problem
    decorator = register(rule, tags=[Tag(name=tag)], summary=summary, responses=responses)
    return cast(Callable[[F], F], decorator)


@api.before_request
def authenticate() -> Response | None:
    """Every /api call carries `Authorization: Bearer <token>` from `pop token create`."""
    header = request.headers.get("Authorization", "")
    scheme, _sep, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return unauthorized("send Authorization: Bearer <token> (pop token create)").response()
    principal = services().tokens.authenticate(secret.strip())
    if principal is None:
        return unauthorized("the token is unknown or revoked").response()
    g.principal = principal
    return None


@api.errorhandler(Problem)
def on_problem(problem: Problem) -> Response:
    return problem.response()


@api.errorhandler(DomainError)
def on_domain_error(error: DomainError) -> Response:
    return from_domain_error(error, set(request.view_args or {})).response()


@api.errorhandler(ConcurrencyConflict)
def on_conflict(error: ConcurrencyConflict) -> Response:
    return from_conflict(error, pinned=bool(g.get("pinned", False))).response()


@api.errorhandler(IdempotencyKeyReused)
def on_key_reused(error: IdempotencyKeyReused) -> Response:
    return from_key_reused(error).response()
