"""`GET /healthz`: can this process serve? Database, broker and how far projections lag.

Answers 200 when the database and broker answer, 503 otherwise, so a load balancer or a
supervisor can act on the status code alone; the body says which part failed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from web.services import services

health = Blueprint("health", __name__)


def _database() -> dict[str, Any]:
    try:
        with services().popcycle.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True, "backend": services().popcycle.engine.dialect.name}


def _broker() -> dict[str, Any]:
    url = services().popcycle.settings.broker_url
    if not url:
        return {"ok": True, "kind": "in-process"}
    try:
        import redis  # noqa: PLC0415 - only production configurations need it

        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except Exception as error:
        return {"ok": False, "kind": "redis", "error": type(error).__name__}
    return {"ok": True, "kind": "redis"}


def _projections() -> dict[str, Any]:
    try:
        lag = services().queries.lag()
    except Exception as error:
        return {"ok": False, "error": type(error).__name__}
    return {"ok": True, "lag_events": lag}


@health.get("/healthz")
def healthz() -> Response:
    checks = {"database": _database(), "broker": _broker(), "projections": _projections()}
    healthy = checks["database"]["ok"] and checks["broker"]["ok"]
    response = jsonify({"status": "ok" if healthy else "unavailable", **checks})
    response.status_code = 200 if healthy else 503
    return response
