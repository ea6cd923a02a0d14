"""Webhooks: a JSON post per fired follow-up, HMAC-signed, with a stable idempotency key."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from events.domain import Reason
from handlers.actor import Actor, Role
from scheduler.delivery import deliver_due
from scheduler.runner import build_scheduler
from tests.support.apps import database_url, wired
from tests.support.clock import FakeClock
from workflow.employee import RegisterEmployee

HR = Actor("hr-1", Role.HR)
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SECRET = "webhook-secret"


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/pop", received
    server.shutdown()
    server.server_close()


def test_a_fired_followup_posts_a_signed_webhook(
    tmp_path: Path, receiver: tuple[str, list[tuple[dict[str, str], bytes]]]
) -> None:
    url, received = receiver
    clock = FakeClock(START)
    env = {"POP_WEBHOOK_URL": url, "POP_WEBHOOK_SECRET": SECRET}
    with wired(database_url("sqlite", tmp_path, None), clock, **env) as app:
        app.commands.register_employee(HR, RegisterEmployee("M1", "Mia", "m@example.nl"))
        app.commands.register_employee(HR, RegisterEmployee("E1", "Eva", "e@example.nl", "M1"))
        cycle = app.commands.start_cycle(HR, "E1", "M1", Reason.PERIODIC).cycle_id
        build_scheduler(app).tick()
        clock.set(START + timedelta(days=7))
        build_scheduler(app).tick()
        report = deliver_due(app)
    # no SMTP configured: the e-mail waits for a retry; the webhook went out
    assert report.sent == 1
    ((headers, body),) = received
    payload = json.loads(body)
    assert payload["kind"] == "invitation.reminder"
    assert payload["cycle_id"] == cycle
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Popcycle-Signature"] == f"sha256={expected}"
    assert headers["Idempotency-Key"] == f"{cycle}:invitation.reminder:2026-03-02:webhook"
    assert "Eva" not in body.decode()  # no personal data in the hook
