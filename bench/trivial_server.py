"""The HTTP ceiling: a Flask app that answers every API POST at once, under popcycle's waitress.

    python -m bench.trivial_server THREADS

Why: over HTTP a command also pays for the server (waitress, Flask, the request's JSON) and the
client. This app does that part only — parse the body, answer as `POST /api/cycles…` does (a
cycle id and a version) — so that what the web stack alone can carry on these cores is measured
beside the real server, with the same clients (`bench.http_commands`). Prints `serving on URL`
like `pop serve`, and stops on SIGTERM.
"""

from __future__ import annotations

import itertools
import signal
import sys
from types import FrameType

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from web.server import WsgiServer


def trivial_app() -> Flask:
    app = Flask("trivial")
    numbers = itertools.count(1)  # next() on a count is atomic under the GIL

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify(status="ok")

    @app.post("/api/cycles")
    def start() -> ResponseReturnValue:
        request.get_json()
        return jsonify(cycle_id=f"c{next(numbers)}", phase="invited", version=1), 201

    @app.post("/api/cycles/<cycle_id>/<path:step>")
    def step(cycle_id: str, step: str) -> ResponseReturnValue:
        request.get_json()
        return jsonify(cycle_id=cycle_id, phase=step, version=2)

    return app


def main(threads: int) -> None:
    server = WsgiServer(trivial_app(), port=0, threads=threads)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        server.stop()

    signal.signal(signal.SIGTERM, stop)
    print(f"serving on {server.url}", file=sys.stderr, flush=True)
    server.run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
