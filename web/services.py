"""What the web layer needs from the rest of popcycle, reachable from any request.

Kept in `app.extensions` (Flask's place for it) rather than in module globals, so two apps in
one process (tests, the benchmark's ceiling) never share a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app, g

from handlers.bootstrap import Popcycle
from handlers.tokens import Principal, TokenStore
from web.queries import StatusQueries

EXTENSION = "popcycle"


@dataclass(frozen=True, slots=True)
class WebServices:
    """The wired application plus the web's own read side."""

    popcycle: Popcycle
    tokens: TokenStore
    queries: StatusQueries

    def aware(self, moment: datetime) -> datetime:
        """A time without an offset is read in the organisation's time zone."""
        if moment.tzinfo is None:
            return moment.replace(tzinfo=self.popcycle.settings.timezone)
        return moment


def services() -> WebServices:
    found: WebServices = current_app.extensions[EXTENSION]
    return found


def current_principal() -> Principal:
    """The authenticated principal of this request (set by the blueprint's login check)."""
    principal: Principal = g.principal
    return principal
