"""Login for the status page: a bearer token once, then a signed session cookie; CSRF tokens.

The cookie holds only the token's hash (never the token) and is checked against the token
table on every request, so revoking a token ends its sessions too. Every form carries a
per-session CSRF token; a POST without the right one is refused.
"""

from __future__ import annotations

import hmac
import secrets

from flask import request, session

from handlers.tokens import Principal, token_hash
from web.services import services

SESSION_KEY = "token_hash"
CSRF_KEY = "csrf"
CSRF_FIELD = "csrf_token"


def logged_in() -> Principal | None:
    """The viewer: from the session cookie, or from an `Authorization: Bearer` header."""
    tokens = services().tokens
    scheme, _sep, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and secret.strip():
        return tokens.authenticate(secret.strip())
    hashed = session.get(SESSION_KEY)
    if not isinstance(hashed, str):
        return None
    principal = tokens.by_hash(hashed)
    if principal is None:
        session.pop(SESSION_KEY, None)
    return principal


def log_in(secret: str) -> Principal | None:
    principal = services().tokens.authenticate(secret.strip())
    if principal is not None:
        session.clear()
        session[SESSION_KEY] = token_hash(secret.strip())
        session[CSRF_KEY] = secrets.token_urlsafe(24)
    return principal


def log_out() -> None:
    session.clear()


def csrf_token() -> str:
    """This session's CSRF token (made on first use, so the login form has one too)."""
    token = session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        session[CSRF_KEY] = token
    return token


def csrf_ok() -> bool:
    expected = session.get(CSRF_KEY)
    sent = request.form.get(CSRF_FIELD, "")
    return isinstance(expected, str) and hmac.compare_digest(expected, sent)
