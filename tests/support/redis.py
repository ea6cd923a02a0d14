"""A throwaway redis-server for tests and benchmarks: our own, on a free loopback port.

Never 6379 or another well-known port: the machine may be shared, and a FLUSHALL on someone
else's Redis destroys their data. The server runs without persistence in its own temp folder;
we check that the server answering on the port is the one we started (its `run_id` and process
id), and stop it by its PID afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import redis


class RedisUnavailable(RuntimeError):
    """No redis-server binary on this machine."""


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise RedisUnavailable(
            "redis-server not found: install it with `apt-get update && apt-get install -y "
            "redis-server` (scripts/test does this on a fresh machine)"
        )
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_redis(*, attempts: int = 3) -> Iterator[str]:
    """Start redis-server on a free loopback port; yield its URL; stop it afterwards."""
    binary = find_redis_server()
    folder = Path(tempfile.mkdtemp(prefix="popcycle-redis-"))
    process: subprocess.Popen[bytes] | None = None
    log = (folder / "redis.log").open("wb")
    try:
        last: Exception | None = None
        for _ in range(attempts):
            port = free_port()
            process = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(folder),
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                _wait_until_ours(port, process.pid)
            except (RuntimeError, redis.RedisError) as error:
                last = error
                _stop(process)
                process = None
                continue
            yield f"redis://127.0.0.1:{port}/0"
            return
        raise RuntimeError(f"could not start redis-server: {last}")
    finally:
        if process is not None:
            _stop(process)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_ours(port: int, pid: int, timeout: float = 15.0) -> None:
    """Wait until the server answers, and make sure it is the process we started."""
    deadline = time.monotonic() + timeout
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    try:
        while True:
            try:
                info = client.info("server")
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        if int(info["process_id"]) != pid:
            raise RuntimeError(f"port {port} answers, but not with the redis-server we started")
    finally:
        client.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
