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
            "16",
            "--minutes",
            "0.3",
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
    assert acknowledged >= 16 * 9, report
    assert figures["acknowledged commands found in the log"] == f"{acknowledged}/{acknowledged}"
    kills = figures["kills (SIGKILL, then started again)"]
    assert all(kind in kills for kind in ("worker-1", "scheduler-1", "redis")), report
    assert int(figures["follow-ups fired"].split()[0]) > 0, report
    assert figures["read models (live vs rebuilt)"].startswith("equal"), report
    assert figures["read models (restored vs rebuilt)"].startswith("equal"), report
