"""Real worker processes for the Redis-mode tests: their command lines, environment and reaping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[2]

POP_WORKER = [sys.executable, "-m", "handlers", "--log-level", "INFO", "worker", "--threads", "2"]
DRAMATIQ = [
    sys.executable,
    "-m",
    "dramatiq",
    "handlers.workers",
    "--processes",
    "1",
    "--threads",
    "2",
]


class Processes:
    """Worker processes started by a test, killed and reaped at its end (by PID)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.folder / f"worker-{len(self.started)}.log").open("wb")
        process = subprocess.Popen(
            argv, env={**os.environ, **env}, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        self.started.append((process, log))
        return process

    def log_of(self, process: subprocess.Popen[bytes]) -> str:
        index = [p for p, _ in self.started].index(process)
        return (self.folder / f"worker-{index}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process, _log in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process, log in self.started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            log.close()


def worker_env(database: str, broker: str, **extra: str) -> dict[str, str]:
    return {
        "POP_DATABASE_URL": database,
        "POP_BROKER_URL": broker,
        "POP_SWEEP_SECONDS": "1",
        **extra,
    }


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, *, poll: float = 0.05
) -> float:
    """Seconds it took for `condition` to hold, asked every `poll` s; fails after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(poll)
    return time.monotonic() - started
