"""A short production-mode soak in CI: the real processes, kills included, lose nothing.

`bench/soak.py` starts PostgreSQL, Redis, two `pop worker`, two `pop scheduler` and `pop
serve`, drives cycles through the HTTP API on a moving clock while it SIGKILLs a worker, a
scheduler and Redis, then checks the log, the read models against a rebuild, the follow-ups,
`pop verify` and a backup restore. Here with small numbers (about a minute on 2 idle cores);
the long run is `python -m bench.soak` on demand. It runs as a subprocess with a timeout, so a
hang fails this test instead of stalling the suite.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
def test_a_short_soak_with_kills_loses_nothing_and_doubles_nothing() -> None:
    # Given the whole cluster on loopback, when a short soak runs with its kills
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.soak",
            "--cycles",
            "12",
            "--minutes",
            "0.25",
            "--clients",
            "8",
            "--seed",
            "7",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = done.stdout + done.stderr
    # Then every check passed
    assert done.returncode == 0, report
    figures = dict(
        line.strip().split("  ", 1) for line in done.stdout.splitlines() if line.startswith("  ")
    )
    figures = {name.strip(): value.strip() for name, value in figures.items()}
    # and it really did what it claims: commands acknowledged and found, kills of each kind,
    # follow-ups fired on the moving clock, the restore compared
    acknowledged = int(figures["commands acknowledged"].split()[0])
    assert acknowledged >= 12 * 9, report
    assert figures["acknowledged commands found in the log"] == f"{acknowledged}/{acknowledged}"
    kills = figures["kills (SIGKILL, then started again)"]
    assert all(kind in kills for kind in ("worker-1", "scheduler-1", "redis")), report
    assert int(figures["follow-ups fired"].split()[0]) > 0, report
    assert figures["read models (live vs rebuilt)"].startswith("equal"), report
    assert figures["read models (restored vs rebuilt)"].startswith("equal"), report


def test_the_soak_checks_catch_a_lost_command_and_a_fired_followup_left_unclosed(
    tmp_path: Path,
) -> None:
    """The checks themselves, on a small SQLite log: each must fail when its guarantee breaks."""
    from sqlalchemy import text

    from bench.soak import Ack, Result, _check_acks, _check_log
    from events.domain import Reason
    from handlers.actor import Actor, Role
    from scheduler.runner import build_scheduler
    from tests.support.apps import database_url, wired
    from tests.support.clock import FakeClock
    from workflow.employee import RegisterEmployee

    hr = Actor("hr-1", Role.HR)
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    clock = FakeClock(start)
    with wired(database_url("sqlite", tmp_path, None), clock) as app:
        app.commands.register_employee(hr, RegisterEmployee("M1", "Mia", "m@example.nl"))
        app.commands.register_employee(
            hr, RegisterEmployee("E1", "Ed", "e@example.nl", "M1"), idempotency_key="k-e1"
        )
        started = app.commands.start_cycle(
            hr, "E1", "M1", Reason.PERIODIC, start + timedelta(days=30), idempotency_key="k-start"
        )
        clock.set(start + timedelta(days=7))
        assert build_scheduler(app).tick() == 1  # the invitation reminder
        now = clock.now()
        acked = [
            Ack("k-e1", "register", "employee-E1", None),
            Ack("k-start", "start", f"cycle-{started.cycle_id}", started.version),
        ]
        # Given a whole log, the checks pass
        whole = Result()
        _check_acks(app.engine, acked, whole)
        _check_log(app.engine, now, whole)
        assert whole.failures == []
        # When an acknowledged command is missing, or names another version, the check fails
        lost = Result()
        missing = Ack("k-never-written", "held", f"cycle-{started.cycle_id}", 9)
        moved = Ack("k-start", "start", f"cycle-{started.cycle_id}", started.version + 1)
        _check_acks(app.engine, [*acked, missing, moved], lost)
        assert len(lost.failures) == 1
        assert "2 acknowledged commands not in the log" in lost.failures[0]
        # When a follow-up fired in the log but its row was closed otherwise, the check fails
        with app.engine.begin() as connection:
            connection.execute(text("UPDATE followups SET status = 'moot' WHERE status = 'fired'"))
        unclosed = Result()
        _check_log(app.engine, now, unclosed)
        assert any("not closed as fired" in failure for failure in unclosed.failures)
