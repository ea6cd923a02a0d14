"""`pop token create`, `pop calendar link` and `pop serve`, run as a user runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.served import Client

POP = [sys.executable, "-m", "handlers"]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "POP_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}"}


def _pop(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*POP, *args], env=_env(tmp_path), capture_output=True, text=True, timeout=120, check=False
    )


def test_token_create_prints_the_token_alone_on_the_last_line(tmp_path: Path) -> None:
    assert _pop(tmp_path, "init").returncode == 0
    made = _pop(tmp_path, "token", "create", "--role", "hr")
    assert made.returncode == 0, made.stderr
    token = made.stdout.splitlines()[-1]
    assert re.fullmatch(r"pop_[A-Za-z0-9_-]{40,}", token)
    manager = _pop(tmp_path, "token", "create", "--role", "manager", "--subject", "M9")
    assert manager.returncode == 0
    assert "no employee M9" in manager.stderr  # a note, not a refusal
    refused = _pop(tmp_path, "token", "create", "--role", "employee")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1
    assert "--subject" in refused.stderr
    wrong = _pop(tmp_path, "token", "create", "--role", "ceo")
    assert wrong.returncode == 2


@contextmanager
def _serving(tmp_path: Path, *argv: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`pop ARGV` (a `serve --port 0`) running, with the URL it reports; SIGTERM must stop it
    cleanly, with exit code 0."""
    with subprocess.Popen(
        [*POP, *argv],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            yield server, _served_at(server)
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=30)
    assert code == 0


def test_serve_demo_seeds_serves_and_stops(tmp_path: Path) -> None:
    with _serving(tmp_path, "serve", "--port", "0", "--demo") as (server, url):
        token = _demo_token(server)
        health = Client(url).get("/healthz")
        assert health.status == 200
        checks = health.json
        assert checks["database"]["ok"] is True
        assert checks["broker"] == {"ok": True, "kind": "in-process"}
        assert "lag_events" in checks["projections"]
        page = Client(url, token).get("/")
        assert page.status == 200
        assert "Cycli per fase" in page.text
        assert page.text.count('href="/cycles/') >= 20  # the demo's 24 employees, paged
        # The scheduler ran along the demo's clock: what fell due before now has fired
        listed = json.loads(Client(url, token).get("/api/followups").body)["followups"]
        assert any(row["status"] == "fired" for row in listed)
        now = datetime.now(UTC)
        late = [
            row
            for row in listed
            if row["status"] == "pending"
            and datetime.fromisoformat(row["due_at"]) < now - timedelta(days=1)
        ]
        assert late == []


def test_serve_without_background_leaves_projecting_to_the_workers(tmp_path: Path) -> None:
    # Given a web server started for a deployment whose workers run elsewhere
    assert _pop(tmp_path, "init").returncode == 0
    argv = ("--log-level", "INFO", "serve", "--port", "0", "--no-background")
    with _serving(tmp_path, *argv) as (server, url):
        assert server.stderr is not None
        started = json.loads(server.stderr.readline())
        assert started["event"] == "serve.started"
        assert started["services"] == 0
        # When an event is appended, nothing in this process projects it
        added = _pop(tmp_path, "employee", "add", "--id", "e1", "--name", "An", "--email", "a@x.nl")
        assert added.returncode == 0, added.stderr
        time.sleep(1.5)
        lag = Client(url).get("/healthz").json["projections"]["lag_events"]
        assert lag >= 1


def _served_at(server: subprocess.Popen[str]) -> str:
    """The URL `pop serve` reports on stderr once it listens."""
    assert server.stderr is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = server.stderr.readline()
        assert line or server.poll() is None, "pop serve exited early"
        found = re.search(r"serving on (http://\S+)", line)
        if found:
            return found.group(1)
    raise AssertionError("pop serve never said where it serves")


def _demo_token(server: subprocess.Popen[str]) -> str:
    """`--demo` prints an HR token (alone on its line) after seeding."""
    assert server.stdout is not None
    for line in server.stdout:
        if line.startswith("pop_"):
            return line.strip()
    raise AssertionError("pop serve --demo printed no token")


def test_calendar_link_prints_a_working_url(tmp_path: Path) -> None:
    assert _pop(tmp_path, "init").returncode == 0
    added = _pop(tmp_path, "employee", "add", "--id", "m1", "--name", "Harrie", "--email", "h@x.nl")
    assert added.returncode == 0, added.stderr
    link = _pop(tmp_path, "calendar", "link", "m1", "--base-url", "https://pop.example.nl/")
    assert link.returncode == 0, link.stderr
    url = link.stdout.splitlines()[-1]
    assert re.fullmatch(r"https://pop\.example\.nl/calendar/m1\.ics\?key=[A-Za-z0-9_-]{20,}", url)
    unknown = _pop(tmp_path, "calendar", "link", "ghost")
    assert unknown.returncode == 1
    assert "person_id" in unknown.stderr
