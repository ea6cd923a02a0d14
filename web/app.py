"""The Flask app factory: status page, JSON API with its OpenAPI document, calendar, health.

`create_app()` with no arguments wires popcycle from the environment (what a WSGI server
imports); tests and `pop serve` hand in an already wired `Popcycle`. Nothing is opened at
import time.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

import structlog
from flask import Response, g, request
from flask_openapi3.models.info import Info
from flask_openapi3.openapi import OpenAPI
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from handlers.bootstrap import Popcycle, bootstrap
from handlers.settings import Settings
from handlers.tokens import TokenStore
from web import api as api_package
from web.api.blueprint import BEARER
from web.api.schemas import Problem as ProblemSchema
from web.calendar import calendar
from web.health import health
from web.page import page
from web.problems import Problem, validation_error_response
from web.queries import StatusQueries
from web.read_models import ReadModelQueries
from web.services import EXTENSION, WebServices

log = structlog.get_logger(__name__)
OPENAPI_PATH = "/api/openapi.json"


def create_app(
    popcycle: Popcycle | None = None,
    *,
    queries: StatusQueries | None = None,
    secret_key: str | None = None,
    config: dict[str, Any] | None = None,
) -> OpenAPI:
    """Build the web app around a wired popcycle (default: from the environment)."""
    if popcycle is None:
        popcycle = bootstrap(Settings.from_env())
    app = OpenAPI(
        __name__,
        info=Info(
            title="popcycle",
            version="1",
            description="POP (personal development plan) cycles, event-sourced. "
            "Errors are application/problem+json naming the field.",
        ),
        security_schemes={BEARER: {"type": "http", "scheme": "bearer"}},
        validation_error_status=422,
        validation_error_model=ProblemSchema,
        validation_error_callback=validation_error_response,
        doc_ui=False,
    )
    app.config.update(
        SECRET_KEY=secret_key or os.environ.get("POP_SECRET_KEY") or secrets.token_hex(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        JSON_SORT_KEYS=False,
    )
    app.config.update(config or {})
    app.extensions[EXTENSION] = WebServices(
        popcycle,
        TokenStore(popcycle.engine, popcycle.clock),
        queries or ReadModelQueries(popcycle),
    )
    app.register_api(api_package.api)
    app.register_blueprint(page)
    app.register_blueprint(calendar)
    app.register_blueprint(health)
    app.add_url_rule(OPENAPI_PATH, "openapi_document", lambda: app.api_doc)
    _install_error_pages(app)
    _install_request_log(app)
    return app


def _is_api() -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def _install_error_pages(app: OpenAPI) -> None:
    """Routing errors (404, 405) and crashes under /api answer in problem+json too."""

    @app.errorhandler(HTTPException)
    def on_http_error(error: HTTPException) -> Any:
        if error.response is not None or not _is_api():
            return error
        code = error.code or 500
        problem = Problem(
            code, "http-" + str(code), error.name, error.description or error.name, None
        )
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            problem.headers["Allow"] = ", ".join(error.valid_methods)
        return problem.response()

    @app.errorhandler(Exception)
    def on_crash(error: Exception) -> Any:
        log.exception("web.crashed", error_type=type(error).__name__, path=request.path)
        if _is_api():
            return Problem(
                500, "internal", "Internal error", "an internal error; see the log", None
            ).response()
        return Response("internal error; see the log", status=500, mimetype="text/plain")


def _install_request_log(app: OpenAPI) -> None:
    """One JSON log line per request: route template, status, time. No personal data."""

    @app.before_request
    def _start_clock() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _log(response: Response) -> Response:
        started = g.get("started")
        log.info(
            "http.request",
            method=request.method,
            route=request.url_rule.rule if request.url_rule else None,
            status=response.status_code,
            ms=round((time.perf_counter() - started) * 1000, 1) if started else None,
        )
        return response
