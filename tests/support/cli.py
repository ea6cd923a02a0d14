"""Running the real `pop` command in a subprocess, as a person at a shell would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

POP = [sys.executable, "-m", "handlers"]
Run = Callable[..., subprocess.CompletedProcess[str]]


def pop_runner(database_file: Path) -> Run:
    """A function running `pop ARGS` on one SQLite file (initialised first).

    `now=` sets the clock (POP_NOW), `stdin=` feeds input, `ok=False` allows a failure,
    `env=` adds settings (e.g. POP_POLICY_FILE).
    """
    database = f"sqlite:///{database_file}"

    def run(
        *args: str,
        now: str = "2026-01-05T09:00:00+01:00",
        stdin: str | None = None,
        ok: bool = True,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "POP_DATABASE_URL": database, "POP_NOW": now, **(env or {})}
        done = subprocess.run(
            [*POP, *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if ok and done.returncode != 0:
            raise AssertionError(f"pop {' '.join(args)} failed: {done.stderr}")
        return done

    run("init")
    return run
