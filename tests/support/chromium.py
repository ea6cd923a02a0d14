"""Debian's headless Chromium, driven over the DevTools protocol (CDP) with a tiny client.

Why not Playwright: it downloads its own browser builds, which a fresh CI machine cannot fetch;
the system `chromium` package is what we have. CDP over one WebSocket is all a page test needs:
navigate, read the DOM, type, press keys, take a screenshot.

The browser gets a fresh profile folder and asks the OS for a free debugging port
(`--remote-debugging-port=0`), which it then writes into `DevToolsActivePort`; it is stopped
by its own PID, never by name.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

from websockets.sync.client import ClientConnection, connect

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
    "--window-size=1280,900",
]


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


class CdpError(RuntimeError):
    """The browser refused a command or did not answer in time."""


class Chromium:
    """One headless browser with one page; use as a context manager."""

    def __init__(self, binary: str, *, language: str = "en-US", timeout: float = 30.0) -> None:
        self._binary = binary
        self._language = language
        self._timeout = timeout
        self._profile = Path(tempfile.mkdtemp(prefix="popcycle-chromium-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._stack = ExitStack()

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Chromium:
        self._process = subprocess.Popen(
            [
                self._binary,
                *FLAGS,
                f"--user-data-dir={self._profile}",
                f"--lang={self._language}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port = self._wait_for_port()
        self._socket = self._stack.enter_context(
            connect(self._page_socket(port), max_size=64 * 1024 * 1024)
        )
        self.send("Page.enable")
        self.send("Runtime.enable")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stack.close()
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        shutil.rmtree(self._profile, ignore_errors=True)

    def _wait_for_port(self) -> int:
        marker = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise CdpError(f"chromium exited with code {self._process.returncode}")
            if marker.exists():
                first = marker.read_text().splitlines()[:1]
                if first and first[0].isdigit():
                    return int(first[0])
            time.sleep(0.05)
        raise CdpError("chromium did not open its debugging port")

    def _page_socket(self, port: int) -> str:
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                targets = json.load(r)
            pages = [t for t in targets if t.get("type") == "page"]
            if pages:
                url: str = pages[0]["webSocketDebuggerUrl"]
                return url
            time.sleep(0.05)
        raise CdpError("chromium opened no page")

    # --- protocol -------------------------------------------------------------------------

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and wait for its answer (events arriving meanwhile are dropped)."""
        assert self._socket is not None, "use Chromium as a context manager"
        message_id = next(self._ids)
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            raw = self._socket.recv(timeout=max(0.01, deadline - time.monotonic()))
            message = json.loads(raw)
            if message.get("id") != message_id:
                continue
            if "error" in message:
                raise CdpError(f"{method}: {message['error']}")
            result: dict[str, Any] = message.get("result", {})
            return result
        raise CdpError(f"{method}: no answer in {self._timeout} s")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        reply = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in reply:
            raise CdpError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    # --- what a test does -----------------------------------------------------------------

    def open(self, url: str) -> None:
        """Navigate and wait until the new document finished loading."""
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    def wait_for(self, condition: str) -> None:
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            try:
                if self.evaluate(f"!!({condition})"):
                    return
            except CdpError:
                pass  # the document is being replaced
            time.sleep(0.05)
        raise CdpError(f"timed out waiting for {condition}")

    def text(self) -> str:
        """What a person sees: the rendered text of the page."""
        value: str = self.evaluate("document.body.innerText")
        return value

    def type_text(self, text: str) -> None:
        self.send("Input.insertText", text=text)

    def press(self, key: str, *, shift: bool = False) -> None:
        """Press and release a key (Tab, Enter) as a keyboard user would."""
        codes = {"Tab": 9, "Enter": 13}
        common: dict[str, Any] = {
            "key": key,
            "code": key,
            "windowsVirtualKeyCode": codes[key],
            "modifiers": 8 if shift else 0,
        }
        down = {**common, "text": "\r"} if key == "Enter" else common
        self.send("Input.dispatchKeyEvent", type="keyDown", **down)
        self.send("Input.dispatchKeyEvent", type="keyUp", **common)

    def viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the whole page."""
        shot = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
