"""The production WSGI server (waitress) around the app: in the foreground or in a thread.

waitress because it is pure Python (nothing to compile on a fresh machine), runs on Linux,
macOS and Windows alike, and has a thread pool fit for a small organisation's traffic.
The same class runs `pop serve` and the end-to-end tests, so the tests exercise the real
server rather than Flask's development one.
"""

from __future__ import annotations

import threading
from typing import Any

from waitress.server import create_server
from waitress.wasyncore import close_all, loop


class WsgiServer:
    """A waitress server bound at construction, so `url` is known before it serves."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, threads: int = 8) -> None:
        self._server: Any = create_server(app, host=host, port=port, threads=threads)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        port: int = self._server.effective_port
        return port

    @property
    def url(self) -> str:
        host = self._server.effective_host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def run(self) -> None:
        """Serve until `stop` is called (from a signal handler or another thread).

        The loop polls in short rounds and closes the sockets itself once asked to stop, so
        no other thread ever closes a descriptor the loop may still be polling.
        """
        server = self._server
        sockets = server._map
        try:
            while not self._stopping.is_set():
                loop(timeout=0.2, map=sockets, use_poll=server.adj.asyncore_use_poll, count=1)
        finally:
            server.task_dispatcher.shutdown()
            close_all(sockets)

    def start(self) -> WsgiServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.run, name="wsgi-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the serving loop to finish (within a fraction of a second) and wait for it."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
