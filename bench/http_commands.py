"""The group-commit workload sent as HTTP requests to real `pop serve` processes.

Why: the issue's goal counts commands acknowledged over HTTP, so the web server's own cost
(waitress, Flask, validation, JSON, the bearer token) and the clients' are part of what is
measured, and so is the spread over several server processes sharing one PostgreSQL.

`servers` starts P `pop serve --no-background` processes on loopback, each with its own engine
and, with `POP_GROUP_COMMIT=1`, its own group-commit writer; client `c` talks to server
`c mod P` over one keep-alive connection (what a load balancer would do). Each client sends
its cycles' commands step by step (every cycle's start, then every cycle's first preparation,
…), as `bench.group_commit`'s in-process clients do, each with its own Idempotency-Key.
`check_acknowledged` then proves that every 2xx reply names an event in the log written under
that key, that positions run 1…head without a gap and that the hash chain verifies.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.workload import Workload
from events.database import make_engine
from events.sqlstore import SqlEventStore
from events.verify import verify_chain
from handlers.actor import Role
from handlers.clock import system_clock
from handlers.tokens import TokenStore

POP = [sys.executable, "-m", "handlers"]
ROOT = Path(__file__).resolve().parents[1]
READY = "serving on "


@dataclass(frozen=True, slots=True)
class Server:
    """One `pop serve` process and where it listens."""

    process: subprocess.Popen[bytes]
    host: str
    port: int


@contextmanager
def servers(
    url: str | None, processes: int, threads: int, *, grouped: bool, timeout: float = 60
) -> Iterator[list[Server]]:
    """`processes` `pop serve` processes on `url`, each with `threads` request threads; with
    no `url`, `bench.trivial_server` processes instead (the web stack's own ceiling)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POP_")}
    if url is None:
        argv = [sys.executable, "-m", "bench.trivial_server", str(threads)]
    else:
        env.update(POP_DATABASE_URL=url, POP_SECRET_KEY="bench-group-commit")
        if grouped:
            env["POP_GROUP_COMMIT"] = "1"
        argv = [*POP, "serve", "--no-background", "--port", "0", "--threads", str(threads)]
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pop-bench-web-")))
        started = []
        for number in range(processes):
            log = folder / f"serve-{number}.log"
            with log.open("wb") as sink:
                process = subprocess.Popen(
                    argv, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
                )
            stack.callback(_stop, process)
            started.append((process, log))
        yield [_wait_for(process, log, timeout) for process, log in started]


def _wait_for(process: subprocess.Popen[bytes], log: Path, timeout: float) -> Server:
    """The server once it printed where it listens and answers /healthz."""
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_text(errors="replace")
        if READY in text:
            address = text.split(READY, 1)[1].split()[0].removeprefix("http://")
            host, port = address.rsplit(":", 1)
            server = Server(process, host, int(port))
            if _healthy(server):
                return server
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"pop serve did not come up:\n{text[-2000:]}")
        time.sleep(0.05)


def _healthy(server: Server) -> bool:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def hr_token(url: str) -> str:
    """A bearer token for HR, written straight to the database (setup)."""
    engine = make_engine(url)
    try:
        return TokenStore(engine, system_clock).create(Role.HR, None, "bench.group_commit")
    finally:
        engine.dispose()


# --- the requests -------------------------------------------------------------------------------


def start_body(workload: Workload, index: int, interview_at: datetime) -> dict[str, Any]:
    return {
        "employee_id": workload.employee_id(index),
        "manager_id": workload.manager_id(index),
        "reason": "periodic",
        "interview_at": interview_at.isoformat(),
    }


def cycle_steps(today: datetime) -> list[tuple[str, dict[str, Any]]]:
    """`bench.workload.cycle_commands` as API calls: (path under the cycle, JSON body)."""
    first, second = ((today + timedelta(days=d)).date().isoformat() for d in (180, 300))
    goals = [
        {
            "title": "Excel",
            "activity": "Externe cursus van 10 lessen volgen, onder werktijd",
            "result": "Voorkomende werkzaamheden zelfstandig in Excel uitvoeren",
            "deadline": first,
            "support": {"own_hours": 16, "budget_eur": 450},
        },
        {
            "title": "Klantgericht werken",
            "activity": "Zes donderdagmiddagen meewerken op de servicebalie",
            "result": "Weten welke benadering tevreden klanten oplevert",
            "deadline": second,
            "support": {"coach": "Corrie de Jong", "coach_hours": 24},
        },
    ]
    return [
        (
            "preparations",
            {
                "author": "employee",
                "talking_points": [
                    "Ik wil beter worden in mijn vak",
                    "Doorgroeien naar teamleider",
                ],
            },
        ),
        (
            "preparations",
            {"author": "manager", "talking_points": ["Klantgerichtheid", "Planning van het werk"]},
        ),
        ("interview/held", {"summary": "Open gesprek over groei en planning"}),
        ("agreement", {"goals": goals}),
        ("signatures", {"signer": "employee"}),
        ("signatures", {"signer": "manager"}),
        ("reviews", {"progress": "on_track", "note": "Cursus loopt volgens plan"}),
        ("reviews", {"goal_id": "g2", "progress": "stalled", "note": "Balie-middagen uitgesteld"}),
        (
            "evaluation",
            {
                "results": [
                    {"goal_id": "g1", "achieved": True, "effect": "Zelfstandig in Excel"},
                    {"goal_id": "g2", "achieved": False, "effect": "Nog niet aan toe gekomen"},
                ],
                "summary": "Evaluatie afgerond",
            },
        ),
    ]


@dataclass(frozen=True, slots=True)
class Ack:
    """A 2xx reply: the command under `key` wrote `stream_id` up to `version`."""

    key: str
    stream_id: str
    version: int


@dataclass
class Outcome:
    """What one client saw."""

    acks: list[Ack] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class Client:
    """One HTTP client: a keep-alive connection, the HR token, a key per request."""

    def __init__(self, server: Server, token: str, run: str) -> None:
        self._connection = http.client.HTTPConnection(server.host, server.port, timeout=60)
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self._run = run
        self.outcome = Outcome()

    def post(self, path: str, body: dict[str, Any], key: str) -> dict[str, Any] | None:
        """POST once; the reply of a 2xx (recorded as acknowledged), else None (a failure)."""
        key = f"{self._run}-{key}"
        try:
            self._connection.request(
                "POST", path, json.dumps(body), {**self._headers, "Idempotency-Key": key}
            )
            response = self._connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException) as error:
            self._connection.close()
            self.outcome.failures.append(f"POST {path}: {error!r}")
            return None
        if response.status not in (200, 201):
            self.outcome.failures.append(f"POST {path}: {response.status} {payload[:300]!r}")
            return None
        reply: dict[str, Any] = json.loads(payload)
        self.outcome.acks.append(Ack(key, f"cycle-{reply['cycle_id']}", int(reply["version"])))
        return reply

    def close(self) -> None:
        self._connection.close()


def drive_http_client(
    client: Client, workload: Workload, number: int, clients: int, now: datetime
) -> None:
    """Client `number`'s cycles (number, number+clients, …) step by step, as in-process."""
    mine = range(number, workload.cycles, clients)
    interview_at = now + timedelta(days=30)
    cycle_ids: list[str] = []
    for index in mine:
        reply = client.post("/api/cycles", start_body(workload, index, interview_at), f"s{index}")
        if reply is None:
            return
        cycle_ids.append(str(reply["cycle_id"]))
    for step, (path, body) in enumerate(cycle_steps(now)):
        for cycle_id in cycle_ids:
            if client.post(f"/api/cycles/{cycle_id}/{path}", body, f"{cycle_id}-{step}") is None:
                return


def run_http_clients(
    running: Sequence[Server], token: str, workload: Workload, clients: int, run: str
) -> tuple[float, float, Outcome]:
    """`clients` threads, client c on server c mod P; (started, finished, what they saw)."""
    now = datetime.now(UTC)
    connections = [Client(running[n % len(running)], token, run) for n in range(clients)]
    start = threading.Barrier(clients + 1)

    def client(number: int) -> None:
        start.wait()
        drive_http_client(connections[number], workload, number, clients, now)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    finished = time.monotonic()
    total = Outcome()
    for connection in connections:
        connection.close()
        total.acks += connection.outcome.acks
        total.failures += connection.outcome.failures
    return started, finished, total


def check_acknowledged(url: str, acks: Sequence[Ack], before: int, events: int) -> None:
    """Every ack's event is in the log under its key; positions gapless; the chain verifies."""
    engine = make_engine(url)
    try:
        store = SqlEventStore(engine, system_clock)
        log = list(store.read_all())
        head = store.head()
    finally:
        engine.dispose()
    positions = [event.position for event in log]
    if positions != list(range(1, len(log) + 1)) or head[0] != len(log):
        raise AssertionError(f"the log has a gap: {len(log)} events, head at {head[0]}")
    if len(log) - before != events:
        raise AssertionError(f"the run wrote {len(log) - before} events, expected {events}")
    written = {(e.stream_id, e.version): e.metadata.idempotency_key for e in log}
    missing = [a for a in acks if written.get((a.stream_id, a.version)) != a.key]
    if missing:
        raise AssertionError(f"{len(missing)} acknowledged commands not in the log: {missing[:3]}")
    if not verify_chain(log, head).ok:
        raise AssertionError("the hash chain does not verify")
