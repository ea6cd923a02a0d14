"""A web app served for real over HTTP on 127.0.0.1 (port 0), and a tiny JSON client for it.

The end-to-end tests go through a socket and waitress — the production server — not Flask's
test client, so headers, status codes and bodies are what an outside client sees.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from typing import Any

from web.server import WsgiServer


@contextmanager
def served(app: Any) -> Iterator[str]:
    """Serve `app` in a thread for the duration; yields its base URL (no trailing slash)."""
    server = WsgiServer(app, "127.0.0.1", 0, threads=8).start()
    try:
        yield server.url
    finally:
        server.stop()


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Message  # case-insensitive, as HTTP header names are
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def media_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass(frozen=True, slots=True)
class Client:
    """HTTP calls against a served app, with a bearer token when given."""

    base: str
    token: str | None = None

    def with_token(self, token: str | None) -> Client:
        return Client(self.base, token)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode("utf-8")
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        if self.token is not None:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Reply(response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.headers, error.read())

    def get(self, path: str, **options: Any) -> Reply:
        return self.request("GET", path, **options)

    def post(self, path: str, body: Any = None, **options: Any) -> Reply:
        return self.request("POST", path, body, **options)
