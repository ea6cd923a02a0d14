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


class RedisServer:
    """Our own redis-server on a loopback port, which a soak test may kill and start again.

    The port stays the same across restarts, so clients configured with the URL reconnect.
    """

    def __init__(self, folder: Path) -> None:
        self._binary = find_redis_server()
        self._folder = folder
        self._log = (folder / "redis.log").open("ab")
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, attempts: int = 3) -> str:
        """Start on a free port (first time) or on the same port again; returns the URL."""
        last: Exception | None = None
        for _ in range(attempts if self.port == 0 else 1):
            port = self.port or free_port()
            process = subprocess.Popen(
                [
                    self._binary,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self._folder),
                    "--daemonize",
                    "no",
                ],
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
            try:
                _wait_until_ours(port, process.pid)
            except (RuntimeError, redis.RedisError) as error:
                last = error
                _stop(process)
                continue
            self.process, self.port = process, port
            return self.url
        raise RuntimeError(f"could not start redis-server: {last}")

    def kill(self) -> None:
        """SIGKILL, as a crash would: everything queued in memory is gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None
        self._log.close()


@contextmanager
def running_redis(*, attempts: int = 3) -> Iterator[str]:
    """Start redis-server on a free loopback port; yield its URL; stop it afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="popcycle-redis-"))
    try:
        server = RedisServer(folder)
        try:
            yield server.start(attempts=attempts)
        finally:
            server.stop()
    finally:
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
