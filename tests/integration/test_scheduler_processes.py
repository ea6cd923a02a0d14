"""Two real `pop scheduler` processes on one PostgreSQL: every follow-up fires exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from events.domain import Reason
from handlers.actor import Actor, Role
from tests.support.apps import database_url, wired
from tests.support.clock import FakeClock
from workflow.employee import RegisterEmployee

HR = Actor("hr-1", Role.HR)
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CYCLES = 40


@pytest.mark.postgres
def test_two_scheduler_processes_fire_each_followup_once(tmp_path: Path, postgres_url: str) -> None:
    url = database_url("postgres", tmp_path, postgres_url)
    clock = FakeClock(START)
    with wired(url, clock) as app:
        app.commands.register_employee(HR, RegisterEmployee("M1", "Mia", "m@example.nl"))
        for n in range(CYCLES):
            app.commands.register_employee(
                HR, RegisterEmployee(f"E{n}", f"E {n}", f"e{n}@example.nl", "M1")
            )
            app.commands.start_cycle(HR, f"E{n}", "M1", Reason.PERIODIC, START + timedelta(days=20))
    # Given two scheduler processes started on a clock where everything has come due
    env = {
        **os.environ,
        "POP_DATABASE_URL": url,
        "POP_NOW": (START + timedelta(days=30)).isoformat(),
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "handlers", "scheduler", "--interval", "0.2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        # When they run side by side until the work is done
        deadline = time.monotonic() + 60
        expected = CYCLES * 4  # invitation reminder + escalation, exchange + unprepared
        while time.monotonic() < deadline:
            with wired(url, clock) as app:
                fired = [e for e in app.store.read_all() if e.type == "FollowUpFired"]
            if len(fired) >= expected:
                break
            time.sleep(0.5)
        time.sleep(1.0)  # a little longer: a double firing would show now
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        errors = [process.communicate(timeout=30)[1] for process in processes]
    # Then each follow-up fired once, and both processes ended cleanly
    with wired(url, clock) as app:
        fired = [e for e in app.store.read_all() if e.type == "FollowUpFired"]
    keys = Counter(event.data["followup_key"] for event in fired)
    assert len(keys) == CYCLES * 4
    assert max(keys.values()) == 1
    assert [process.returncode for process in processes] == [0, 0], errors
