"""Production-mode soak: PostgreSQL, Redis, workers, schedulers and the WSGI server under load
and faults, on a moving clock; then proof that nothing was lost or doubled.

    .venv/bin/python -m bench.soak [--cycles 2000] [--minutes 5] [--seed 1] [--clients 16]

Everything runs on loopback, started here and stopped again: a throwaway PostgreSQL
(`tests/support/postgres.py`), a redis-server (`tests/support/redis.py`), `--workers` `pop
worker` processes, `--schedulers` `pop scheduler` processes and `pop serve` (waitress), all
configured only by environment variables, as in production. Their clock is POP_CLOCK_FILE,
which this script moves forward: `--span-days` of organisation time pass in `--minutes`.

A pool of `--clients` threads drives `--cycles` POP cycles through the HTTP API with an HR
token, each on its own seeded timetable (register, start with an interview date, both
preparations at once, the talk, the plan, both signatures at once, a review, the evaluation,
sometimes a restart), so reminders come due and fire in between. Every POST carries an
Idempotency-Key; a dropped connection or a 5xx is retried with the same key. Meanwhile a
worker, a scheduler and Redis are killed with SIGKILL in turn and started again.

Then, with the clock standing still, it waits until the read models and the follow-ups have
caught up, stops every process and checks:

1. every acknowledged command is in the log: its idempotency key on the stream and version
   the reply named; the positions run 1..head without a gap;
2. the read models equal a rebuild from position 0 (`pop projections rebuild`), row for row;
3. every follow-up fired exactly once: one FollowUpFired per key, and none due left unfired;
4. `pop verify` passes;
5. the backup restores: a `pg_dump` of the log's tables loaded into a fresh database with
   `pop init`, then `pop projections rebuild`, verifies against the same head and holds the
   same read models.

It prints its figures (commands/s, acknowledged, refused, retried, kills, projection lag, the
drain) and exits 1 on any loss or failed check. `tests/integration/test_soak.py` runs a short
one in CI.
"""

from __future__ import annotations

import argparse
import heapq
import http.client
import itertools
import json
import os
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, text

from events.database import make_engine
from events.schema import events_table
from handlers.clock import read_clock_file, write_clock_file
from handlers.projections.registry import PROJECTIONS
from handlers.projections.snapshot import snapshot
from scheduler.tables import followups_table
from tests.support.postgres import find_pg_bin, free_port, new_database, running_postgres
from tests.support.redis import RedisServer
from tests.support.smtp import running_smtp

POP = [sys.executable, "-m", "handlers"]
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
START = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
#: A command still unanswered after this many seconds of retries counts as unanswered.
RETRY_SECONDS = 60.0
#: Request fields naming a future moment, which a long retry may see pass (a 422 then).
TIMED_FIELDS = frozenset({"interview_at", "scheduled_at"})
#: How long the read models and the scheduler may take to catch up once the clock stops.
DRAIN_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Options:
    cycles: int
    minutes: float
    seed: int
    clients: int
    workers: int
    schedulers: int
    span_days: int
    sweep_seconds: float
    keep: bool
    group_commit: bool = False


# --- processes -------------------------------------------------------------------------------


class Process:
    """One `pop …` process of the cluster, with its log file; killed and started by name."""

    def __init__(
        self, name: str, args: Sequence[str], ready: str, env: dict[str, str], logs: Path
    ) -> None:
        self.name = name
        self._argv = [*POP, *args]
        self._ready = ready.encode()  # the line it prints once it runs
        self._env = env
        self.log = logs / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._starts = 0

    def start(self) -> None:
        self._starts += 1
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                self._argv, env=self._env, stdout=sink, stderr=subprocess.STDOUT
            )

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash or an OOM kill."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=30)
            self.process = None

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM and wait; the exit code (None if it had to be killed)."""
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        self.process = None
        return code

    def wait_ready(self, timeout: float = 90) -> bool:
        """Wait until the latest start printed its ready line (a SIGTERM before the process
        has set up its handler would end it by the signal, not by a clean stop)."""
        deadline = time.monotonic() + timeout
        while self.log.read_bytes().count(self._ready) < self._starts:
            if not self.alive() or time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 15) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def pop(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run one `pop` command to completion; raise with its output if it fails."""
    done = subprocess.run(
        [*POP, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"pop {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done


@dataclass
class Cluster:
    """The running system: database, broker, clock file and the `pop` processes."""

    database_url: str
    redis: RedisServer
    clock_file: Path
    env: dict[str, str]
    web: Process
    workers: list[Process]
    schedulers: list[Process]
    base_url: str
    token: str

    @property
    def processes(self) -> list[Process]:
        return [self.web, *self.workers, *self.schedulers]


def environment(
    database_url: str, broker_url: str, clock_file: Path, sweep: float
) -> dict[str, str]:
    """The production configuration: environment variables only (deploy/popcycle.env.example)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POP_")}
    env.update(
        POP_DATABASE_URL=database_url,
        POP_BROKER_URL=broker_url,
        POP_CLOCK_FILE=str(clock_file),
        POP_TIMEZONE="Europe/Amsterdam",
        POP_SWEEP_SECONDS=f"{sweep:g}",
        POP_SECRET_KEY="soak-test-secret",
    )
    return env


@contextmanager
def cluster(options: Options, folder: Path, smtp_url: str) -> Iterator[Cluster]:
    """Start PostgreSQL, Redis and every process; stop them all on the way out."""
    with ExitStack() as stack:
        database_url = stack.enter_context(running_postgres(max_connections=200))
        redis = RedisServer(folder)
        stack.callback(redis.stop)
        broker_url = redis.start()
        clock_file = folder / "clock"
        write_clock_file(clock_file, START)
        env = environment(database_url, broker_url, clock_file, options.sweep_seconds)
        env.update(POP_SMTP_URL=smtp_url, POP_HR_EMAIL="hr@example.nl")
        if options.group_commit:
            env["POP_GROUP_COMMIT"] = "1"
        pop(env, "init")
        token = pop(env, "token", "create", "--role", "hr").stdout.strip().splitlines()[-1]
        port = free_port()
        serve = ["serve", "--host", "127.0.0.1", "--port", str(port), "--threads", "16"]
        web = Process("web", serve, "serving on http", env, folder)
        workers = [
            Process(f"worker-{n}", ["worker", "--threads", "2"], "worker running", env, folder)
            for n in range(1, options.workers + 1)
        ]
        scheduler = ["scheduler", "--interval", "0.5"]
        schedulers = [
            Process(f"scheduler-{n}", scheduler, "scheduler running", env, folder)
            for n in range(1, options.schedulers + 1)
        ]
        running = Cluster(
            database_url,
            redis,
            clock_file,
            env,
            web,
            workers,
            schedulers,
            f"http://127.0.0.1:{port}",
            token,
        )
        for process in running.processes:
            process.start()
            stack.callback(process.stop, 15)
        _wait_for_health(running)
        yield running


def _wait_for_health(running: Cluster, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    host, port = running.base_url.removeprefix("http://").split(":")
    while True:
        if not running.web.alive():
            raise RuntimeError(f"pop serve died at start:\n{running.web.tail()}")
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        if time.monotonic() > deadline:
            raise RuntimeError(f"pop serve did not answer /healthz:\n{running.web.tail()}")
        time.sleep(0.2)


# --- the HTTP client and the ledger of acknowledged commands ---------------------------------


@dataclass(frozen=True, slots=True)
class Ack:
    """A command the API acknowledged (2xx): it must be in the log, on this stream."""

    key: str
    step: str
    stream_id: str
    version: int | None  # the version the reply named (None: the reply names none)
    replayed: bool = False  # the first reply again: retried after a lost reply


@dataclass
class Ledger:
    """What the clients saw, shared by every client thread (list.append and Counter under a
    lock)."""

    acks: list[Ack] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)  # 409: the phase moved on
    rejected: list[str] = field(default_factory=list)  # other 4xx: a bug on one side
    unanswered: list[str] = field(default_factory=list)
    retries: Counter[str] = field(default_factory=Counter)  # by cause
    latencies: list[float] = field(default_factory=list)
    lateness_days: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, fn: Callable[[Ledger], None]) -> None:
        with self._lock:
            fn(self)


class Api:
    """JSON over keep-alive connections, one per client thread; retries with the same key."""

    def __init__(self, base_url: str, token: str, ledger: Ledger) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self._host, self._port = host, int(port)
        self._token = token
        self._ledger = ledger
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=30)
            self._local.connection = connection
        return connection

    def _once(self, path: str, body: Any, key: str) -> tuple[int, Any]:
        connection = self._connection()
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        }
        try:
            connection.request("POST", path, json.dumps(body), headers)
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            self._local.connection = None
            raise
        return response.status, json.loads(payload) if payload else {}

    def post(self, step: str, path: str, body: Any, key: str) -> dict[str, Any] | None:
        """POST until answered; the reply of a 2xx (recorded as acknowledged), else None."""
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                status, reply = self._once(path, body, key)
            except (OSError, http.client.HTTPException) as error:
                status, reply = 0, {"error": type(error).__name__}
            if 0 < status < 500:
                break
            cause = f"HTTP {status}" if status else str(reply["error"])

            def retried(led: Ledger, cause: str = cause) -> None:
                led.retries.update([cause])

            self._ledger.record(retried)
            if time.monotonic() - started > RETRY_SECONDS:
                self._ledger.record(lambda led: led.unanswered.append(f"{step} {path}"))
                return None
            attempt += 1
            time.sleep(min(0.05 * 2**attempt, 2.0))
        elapsed = time.monotonic() - started
        if status in (200, 201):
            ack = _ack(step, key, reply)

            def acknowledged(led: Ledger) -> None:
                led.acks.append(ack)
                led.latencies.append(elapsed)

            self._ledger.record(acknowledged)
            return dict(reply)
        if status == 409:
            self._ledger.record(lambda led: led.refused.update([step]))
        elif status == 422 and attempt > 0 and reply.get("field") in TIMED_FIELDS:
            # The organisation's clock moved on while the server was down: the time this
            # request names has passed. The server is right to refuse it; nothing was written.
            late = f"{step} ({reply['field']} passed while retrying)"
            self._ledger.record(lambda led: led.refused.update([late]))
        else:
            detail = f"{step} {path}: {status} {json.dumps(reply)[:300]}"
            self._ledger.record(lambda led: led.rejected.append(detail))
        return None


def _ack(step: str, key: str, reply: dict[str, Any]) -> Ack:
    replayed = bool(reply.get("replayed"))
    if reply.get("cycle_id"):
        return Ack(key, step, f"cycle-{reply['cycle_id']}", int(reply["version"]), replayed)
    return Ack(key, step, f"employee-{reply['employee_id']}", None, replayed)


# --- the cycles' timetables ------------------------------------------------------------------


@dataclass
class Cycle:
    """One employee's POP cycle as the driver walks it, on its own seeded timetable."""

    number: int
    employee_id: str
    manager_id: str
    rng: random.Random
    cycle_id: str | None = None
    interview_at: datetime | None = None
    deadlines: tuple[date, ...] = ()
    step: int = 0


class SimClock:
    """The organisation's time: moved here, written to POP_CLOCK_FILE for every process."""

    def __init__(self, path: Path, start: datetime) -> None:
        self._path = path
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def move_to(self, moment: datetime) -> None:
        with self._lock:
            if moment <= self._now:
                return
            self._now = moment
            write_clock_file(self._path, moment)


class Driver:
    """Walks every cycle through the API at the moments its timetable names."""

    def __init__(self, api: Api, clock: SimClock, ledger: Ledger, seed: int) -> None:
        self._api = api
        self._clock = clock
        self._ledger = ledger
        self._seed = seed
        self._due: list[tuple[datetime, int, Cycle]] = []  # (when, tie-break, cycle)
        self._ticket = itertools.count()
        self._lock = threading.Lock()
        self.active = 0
        self.finished = 0

    # the timetable: each step does its requests and says how long until the next one
    def _steps(self) -> list[Callable[[Cycle], timedelta | None]]:
        return [
            self._register,
            self._start,
            self._prepare,
            self._held,
            self._agree,
            self._sign,
            self._review,
            self._evaluate,
            self._restart,
        ]

    def _key(self, cycle: Cycle, step: str) -> str:
        return f"soak-{self._seed}-{cycle.number}-{cycle.step}-{step}"

    def _post(self, cycle: Cycle, step: str, path: str, body: Any) -> dict[str, Any] | None:
        return self._api.post(step, path, body, self._key(cycle, step))

    def _both(self, cycle: Cycle, step: str, path: str, bodies: Sequence[Any]) -> None:
        """Two requests on the same cycle at once (employee and manager): a real race."""
        other = threading.Thread(
            target=self._api.post,
            args=(step, path, bodies[1], self._key(cycle, f"{step}-b")),
        )
        other.start()
        self._api.post(step, path, bodies[0], self._key(cycle, f"{step}-a"))
        other.join()

    def _register(self, cycle: Cycle) -> timedelta | None:
        body = {
            "employee_id": cycle.employee_id,
            "name": f"Medewerker {cycle.number}",
            "email": f"e{cycle.number}@example.nl",
            "manager_id": cycle.manager_id,
            "language": cycle.rng.choice(["nl", "en"]),
        }
        reply = self._post(cycle, "register", "/api/employees", body)
        return timedelta(hours=cycle.rng.uniform(1, 48)) if reply else None

    def _start(self, cycle: Cycle) -> timedelta | None:
        now = self._clock()
        interview = now + timedelta(days=cycle.rng.uniform(10, 28))
        cycle.interview_at = interview
        body = {
            "employee_id": cycle.employee_id,
            "manager_id": cycle.manager_id,
            "reason": cycle.rng.choice(["periodic", "periodic", "on_demand", "problem"]),
            "interview_at": interview.isoformat(),
        }
        reply = self._post(cycle, "start", "/api/cycles", body)
        if reply is None:
            return None
        cycle.cycle_id = str(reply["cycle_id"])
        # Sometimes late enough for the invitation reminder (7 days) to fire first.
        return timedelta(days=cycle.rng.uniform(0, 10))

    def _prepare(self, cycle: Cycle) -> timedelta | None:
        bodies = [
            {"author": "employee", "talking_points": ["Excel leren", "Doorgroeien"]},
            {"author": "manager", "talking_points": ["Klantgerichtheid"]},
        ]
        self._both(cycle, "prepare", f"/api/cycles/{cycle.cycle_id}/preparations", bodies)
        assert cycle.interview_at is not None
        wait = cycle.interview_at - self._clock() + timedelta(hours=cycle.rng.uniform(0, 30))
        return max(wait, timedelta(0))

    def _held(self, cycle: Cycle) -> timedelta | None:
        body = {"summary": "Open gesprek over groei"}
        self._post(cycle, "held", f"/api/cycles/{cycle.cycle_id}/interview/held", body)
        return timedelta(days=cycle.rng.uniform(0, 4))

    def _agree(self, cycle: Cycle) -> timedelta | None:
        today = self._clock().date()
        first = today + timedelta(days=cycle.rng.randint(100, 200))
        second = first + timedelta(days=cycle.rng.randint(0, 120))
        cycle.deadlines = (first, second)
        goals = [
            {
                "title": "Excel",
                "activity": "Externe cursus van 10 lessen volgen",
                "result": "Voorkomende werkzaamheden zelfstandig in Excel uitvoeren",
                "deadline": first.isoformat(),
                "support": {"own_hours": 16, "budget_eur": 450},
                "term": "short",
            },
            {
                "title": "Klantgericht werken",
                "activity": "Zes middagen meewerken op de servicebalie",
                "result": "Weten welke benadering tevreden klanten oplevert",
                "deadline": second.isoformat(),
                "support": {"coach": "Corrie", "coach_hours": 24},
                "term": "short",
            },
        ]
        path = f"/api/cycles/{cycle.cycle_id}/agreement"
        self._post(cycle, "agree", path, {"goals": goals})
        # Sometimes later than 5 days: the unsigned-plan reminder fires first.
        return timedelta(days=cycle.rng.uniform(0, 8))

    def _sign(self, cycle: Cycle) -> timedelta | None:
        bodies = [{"signer": "employee"}, {"signer": "manager"}]
        self._both(cycle, "sign", f"/api/cycles/{cycle.cycle_id}/signatures", bodies)
        return timedelta(days=cycle.rng.uniform(60, 95))

    def _review(self, cycle: Cycle) -> timedelta | None:
        body = {"goal_id": "g1", "progress": "on_track", "note": "Cursus loopt"}
        self._post(cycle, "review", f"/api/cycles/{cycle.cycle_id}/reviews", body)
        last = datetime.combine(cycle.deadlines[-1], datetime.min.time(), UTC)
        # Around the last deadline: before it (completes at once) or after (the evaluation
        # follow-up moved the cycle on first).
        wait = last - self._clock() + timedelta(days=cycle.rng.uniform(-20, 20))
        return max(wait, timedelta(hours=1))

    def _evaluate(self, cycle: Cycle) -> timedelta | None:
        body = {
            "results": [
                {"goal_id": "g1", "achieved": True, "effect": "Zelfstandig in Excel"},
                {"goal_id": "g2", "achieved": False},
            ],
            "summary": "Evaluatie afgerond",
        }
        reply = self._post(cycle, "evaluate", f"/api/cycles/{cycle.cycle_id}/evaluation", body)
        if reply is None or cycle.rng.random() > 0.3:
            return None
        return timedelta(days=cycle.rng.uniform(0, 14))

    def _restart(self, cycle: Cycle) -> timedelta | None:
        self._post(cycle, "restart", f"/api/cycles/{cycle.cycle_id}/restart", None)
        return None

    # the engine: a heap of due steps, a pool of client threads
    def plan(self, cycle: Cycle, at: datetime) -> None:
        with self._lock:
            heapq.heappush(self._due, (at, next(self._ticket), cycle))
            self.active += 1

    def due(self, now: datetime, *, everything: bool = False) -> list[tuple[datetime, Cycle]]:
        """The steps due by `now` (all of them once the clock has reached its end)."""
        found = []
        with self._lock:
            while self._due and (everything or self._due[0][0] <= now):
                when, _, cycle = heapq.heappop(self._due)
                found.append((when, cycle))
        return found

    def run_step(self, planned: datetime, cycle: Cycle) -> None:
        lateness = (self._clock() - planned).total_seconds() / 86400
        self._ledger.record(lambda led: led.lateness_days.append(lateness))
        steps = self._steps()
        try:
            wait = steps[cycle.step](cycle)
        except Exception as error:  # a bug here must end the cycle, not hang the drive
            detail = f"step {cycle.step} of cycle {cycle.number} raised {error!r}"
            self._ledger.record(lambda led: led.rejected.append(detail))
            wait = None
        with self._lock:
            self.active -= 1
            cycle.step += 1
            if wait is None or cycle.step >= len(steps):
                self.finished += 1
                return
            heapq.heappush(self._due, (self._clock() + wait, next(self._ticket), cycle))
            self.active += 1


# --- chaos and lag ---------------------------------------------------------------------------


@dataclass
class Chaos:
    """Kills a worker, a scheduler, Redis and the web server in turn (SIGKILL) and starts
    them again."""

    running: Cluster
    rng: random.Random
    kills: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def targets(self) -> list[tuple[str, Callable[[], None], Callable[[], object]]]:
        """One round: a worker, a scheduler, Redis, the web server (clients then retry)."""
        running = self.running
        found: list[tuple[str, Callable[[], None], Callable[[], object]]] = []
        for worker, scheduler in itertools.zip_longest(running.workers, running.schedulers):
            if worker is not None:
                found.append((worker.name, worker.kill, worker.start))
            if scheduler is not None:
                found.append((scheduler.name, scheduler.kill, scheduler.start))
            found.append(("redis", running.redis.kill, running.redis.start))
            found.append((running.web.name, running.web.kill, running.web.start))
        return found

    def run(self, stop: threading.Event, every: float) -> None:
        for name, kill, start in itertools.cycle(self.targets()):
            if stop.wait(every):
                return
            kill()
            self.kills[name] += 1
            stop.wait(self.rng.uniform(0.5, min(3.0, every)))  # down a while, even when stopping
            try:
                start()
            except RuntimeError as error:
                self.failures.append(f"could not restart {name}: {error}")
                return


@dataclass
class Lag:
    """Samples how far the read models and the scheduler are behind the log head."""

    engine: Engine
    max_behind: Counter[str] = field(default_factory=Counter)
    samples: int = 0

    def behind(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            head = connection.execute(text("SELECT position FROM log_head")).scalar_one()
            rows = connection.execute(text("SELECT name, position FROM projection_checkpoints"))
            found = {name: head - position for name, position in rows}
            followups = connection.execute(
                text("SELECT position FROM scheduler_checkpoints WHERE name = 'followups'")
            ).scalar()
            found["followups"] = head - (followups or 0)
        return found

    def due_unfired(self, now: datetime) -> int:
        with self.engine.connect() as connection:
            count = connection.execute(
                text(
                    "SELECT count(*) FROM followups"
                    " WHERE status IN ('pending', 'claimed') AND due_at <= :now"
                ),
                {"now": now},
            ).scalar_one()
        return int(count)

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            with suppress(Exception):  # the database stays up; a sample may still fail
                for name, behind in self.behind().items():
                    self.max_behind[name] = max(self.max_behind[name], behind)
                self.samples += 1


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Result:
    failures: list[str] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)

    def check(self, ok: bool, failure: str) -> None:
        if not ok:
            self.failures.append(failure)


def soak(options: Options) -> Result:
    folder = Path(tempfile.mkdtemp(prefix="popcycle-soak-"))
    os.chmod(folder, 0o755)
    result = Result()
    try:
        started = time.monotonic()
        with running_smtp() as (smtp_url, inbox), cluster(options, folder, smtp_url) as running:
            result.figures["start (PostgreSQL, Redis, pop init, 5 processes)"] = (
                f"{time.monotonic() - started:.1f} s"
            )
            _drive_and_check(options, running, folder, result)
            mails = Counter(str(mail["Message-ID"]) for _, mail in inbox.messages)
            doubled = sum(n - 1 for n in mails.values())
            result.figures["mails received (SMTP)"] = (
                f"{len(mails)} distinct Message-IDs, {doubled} sent again (at-least-once)"
            )
        result.figures["total"] = f"{time.monotonic() - started:.1f} s"
    finally:
        if result.failures or options.keep:
            print(f"logs kept in {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return result


def _drive_and_check(options: Options, running: Cluster, folder: Path, result: Result) -> None:
    engine = make_engine(running.database_url)
    try:
        drive_seconds = _drive(options, running, engine, result)
        _drain(running, engine, result, drive_seconds)
        for process in running.processes:
            code = process.stop()
            result.check(code == 0, f"{process.name} did not stop cleanly (exit {code})")
        now = read_clock_file(running.clock_file)
        _check_log(engine, now, result)
        live = snapshot(engine, PROJECTIONS)
        with engine.connect() as connection:
            head_hash = connection.execute(text("SELECT hash FROM log_head")).scalar_one()
        # The restore (a second database) runs beside the rebuild and verify of the first.
        with ThreadPoolExecutor(2) as both:
            restored = both.submit(_restore, running, folder, head_hash, result)
            started = time.monotonic()
            pop(running.env, "projections", "rebuild")
            rebuilt = snapshot(engine, PROJECTIONS)
            result.figures["rebuild, then verify"] = f"{time.monotonic() - started:.1f} s"
            verified = pop(running.env, "verify").stdout.strip().splitlines()[-1]
            result.figures["rebuild, then verify"] += f"; {verified}"
            result.check(verified.endswith(head_hash), f"pop verify says {verified}")
            _compare("read models (live vs rebuilt)", live, rebuilt, result)
            _compare("read models (restored vs rebuilt)", rebuilt, restored.result(), result)
    finally:
        engine.dispose()


def _drive(options: Options, running: Cluster, engine: Engine, result: Result) -> float:
    """Walk every cycle through the API while the chaos runs; returns the seconds it took."""
    ledger = Ledger()
    rng = random.Random(options.seed)
    clock = SimClock(running.clock_file, START)
    api = Api(running.base_url, running.token, ledger)
    driver = Driver(api, clock, ledger, options.seed)
    span = timedelta(days=options.span_days)
    # every cycle starts in the first quarter of the span; its timetable needs ~390 days more
    managers = [f"M{n:03d}" for n in range(max(1, options.cycles // 10))]
    for manager in managers:
        body = {"employee_id": manager, "name": f"Leidinggevende {manager}", "email": "m@x.nl"}
        if api.post("register", "/api/employees", body, f"soak-{options.seed}-{manager}") is None:
            raise RuntimeError(f"could not register {manager}: {ledger.rejected}")
    for number in range(options.cycles):
        cycle = Cycle(
            number,
            f"E{number:05d}",
            rng.choice(managers),
            random.Random(rng.random()),
        )
        driver.plan(cycle, START + span * 0.25 * rng.random())
    drive_seconds = options.minutes * 60
    speed = span / drive_seconds  # organisation time per real second
    stop = threading.Event()
    chaos = Chaos(running, random.Random(options.seed + 1))
    lag = Lag(engine)
    helpers = [
        threading.Thread(target=chaos.run, args=(stop, drive_seconds * 0.8 / 6), daemon=True),
        threading.Thread(target=lag.run, args=(stop,), daemon=True),
    ]
    for helper in helpers:
        helper.start()
    started = time.monotonic()
    end = START + span
    with ThreadPoolExecutor(options.clients, thread_name_prefix="client") as pool:
        while True:
            elapsed = time.monotonic() - started
            now = min(START + speed * elapsed, end)
            clock.move_to(now)
            for planned, cycle in driver.due(now, everything=now >= end):
                pool.submit(driver.run_step, planned, cycle)
            if now >= end and driver.active == 0:
                break
            if elapsed > drive_seconds * 3 + RETRY_SECONDS:
                result.failures.append(f"{driver.active} cycles still open when the time ran out")
                break
            if elapsed > drive_seconds * 0.85:
                stop.set()  # no kills in the last stretch: the drain starts from a whole cluster
            time.sleep(0.05)
    seconds = time.monotonic() - started
    stop.set()
    for helper in helpers:
        helper.join(timeout=30)
    for process in running.processes:
        if not process.wait_ready():
            result.failures.append(f"{process.name} is not running:\n{process.tail()}")
    redis = running.redis.process
    result.check(redis is not None and redis.poll() is None, "redis is not running")
    result.failures.extend(chaos.failures)
    _ledger_figures(ledger, seconds, driver, result)
    result.figures["kills (SIGKILL, then started again)"] = (
        ", ".join(f"{name} {count}" for name, count in sorted(chaos.kills.items())) or "none"
    )
    result.figures["max events behind the head (sampled 2/s)"] = ", ".join(
        f"{name} {count}" for name, count in sorted(lag.max_behind.items())
    )
    result.check(sum(chaos.kills.values()) >= 3, f"only {sum(chaos.kills.values())} kills")
    _check_acks(engine, ledger.acks, result)
    return seconds


def _ledger_figures(ledger: Ledger, seconds: float, driver: Driver, result: Result) -> None:
    acks = len(ledger.acks)
    latencies = sorted(ledger.latencies) or [0.0]
    figures = result.figures
    figures["drive"] = f"{seconds:.1f} s, {driver.finished} cycles walked"
    figures["commands acknowledged"] = f"{acks} ({acks / seconds:.1f} commands/s)"
    replayed = sum(ack.replayed for ack in ledger.acks)
    figures["replayed (retried after a lost reply, first result returned)"] = str(replayed)
    figures["refused (409: the phase moved on; 422: a time passed)"] = (
        ", ".join(f"{step} {n}" for step, n in sorted(ledger.refused.items())) or "0"
    )
    figures["retried (same Idempotency-Key)"] = (
        ", ".join(f"{cause} {n}" for cause, n in sorted(ledger.retries.items())) or "0"
    )
    figures["latency p50 / p95 / p99 / max"] = " / ".join(
        f"{latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000:.0f} ms"
        for q in (0.5, 0.95, 0.99, 1.0)
    )
    late = sorted(ledger.lateness_days) or [0.0]
    figures["steps late on their timetable (organisation days, median / max)"] = (
        f"{statistics.median(late):.1f} / {late[-1]:.1f}"
    )
    result.check(not ledger.rejected, f"requests rejected (4xx): {ledger.rejected[:5]}")
    result.check(not ledger.unanswered, f"commands never answered: {ledger.unanswered[:5]}")


def _check_acks(engine: Engine, acks: Sequence[Ack], result: Result) -> None:
    """Every acknowledged command: its key on the stream and version the reply named."""
    found: dict[str, dict[str, int]] = {}
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT idempotency_key, stream_id, max(version) FROM events"
                " WHERE idempotency_key IS NOT NULL GROUP BY idempotency_key, stream_id"
            )
        )
        for key, stream_id, version in rows:
            found.setdefault(key, {})[stream_id] = version
    lost = [
        ack
        for ack in acks
        if ack.stream_id not in found.get(ack.key, {})
        or (ack.version is not None and found[ack.key][ack.stream_id] != ack.version)
    ]
    result.figures["acknowledged commands found in the log"] = (
        f"{len(acks) - len(lost)}/{len(acks)}"
    )
    result.check(not lost, f"{len(lost)} acknowledged commands not in the log: {lost[:5]}")


def _drain(running: Cluster, engine: Engine, result: Result, drive_seconds: float) -> None:
    """With the clock standing still: wait until read models and follow-ups have caught up."""
    lag = Lag(engine)
    now = read_clock_file(running.clock_file)
    started = time.monotonic()
    stable = 0
    last: tuple[int, ...] = ()
    while time.monotonic() - started < DRAIN_SECONDS:
        behind = lag.behind()
        due = lag.due_unfired(now)
        with engine.connect() as connection:
            head = int(connection.execute(text("SELECT position FROM log_head")).scalar_one())
        state = (head, *behind.values(), due)
        stable = stable + 1 if state == last and not any(behind.values()) and not due else 0
        last = state
        if stable >= 3:  # three samples alike: no late follow-up is still on its way
            break
        time.sleep(0.5)
    else:
        result.failures.append(f"not caught up {DRAIN_SECONDS:.0f} s after the drive: {last}")
    seconds = time.monotonic() - started
    result.figures["drain (all caught up after the last command)"] = (
        f"{seconds:.1f} s ({drive_seconds:.0f} s drive)"
    )


def _check_log(engine: Engine, now: datetime, result: Result) -> None:
    """Gapless positions; every follow-up fired exactly once, its row closed as fired, its
    action (the move to evaluation) recorded with it; none due left unfired."""
    with engine.connect() as connection:
        count, top = connection.execute(text("SELECT count(*), max(position) FROM events")).one()
        head = connection.execute(text("SELECT position FROM log_head")).scalar_one()
        fired: Counter[str] = Counter()
        moved_by_followup, moved = set(), set()  # cycles moved to evaluation: by whom
        e = events_table.c
        query = select(e.stream_id, e.type, e.data).where(
            e.type.in_(["FollowUpFired", "EvaluationDue"])
        )
        for stream_id, kind, data in connection.execute(query):
            if kind == "FollowUpFired":
                fired[data["followup_key"]] += 1
                if data["kind"] == "evaluation.due":
                    moved_by_followup.add(stream_id)
            elif data["reason"] == "deadline":
                moved.add(stream_id)
        rows = {row.key: row for row in connection.execute(select(followups_table))}
    statuses = Counter(row.status for row in rows.values())
    late = sum(1 for row in rows.values() if row.status == "fired" and row.late_seconds)
    unfired = [
        key
        for key, row in rows.items()
        if row.status in ("pending", "claimed") and row.due_at <= now
    ]
    result.figures["events in the log"] = f"{count} (positions 1..{top}, head {head})"
    result.check(
        count == top == head, f"positions have gaps: {count} events, max {top}, head {head}"
    )
    result.figures["follow-ups fired"] = (
        f"{len(fired)} keys, {sum(fired.values())} FollowUpFired events, {late} late; "
        f"table: {', '.join(f'{s} {n}' for s, n in sorted(statuses.items()))}"
    )
    twice = {key: n for key, n in fired.items() if n > 1}
    result.check(not twice, f"follow-ups fired more than once: {list(twice.items())[:5]}")
    astray = [(key, rows[key].status if key in rows else "no row") for key in fired]
    astray = [(key, status) for key, status in astray if status != "fired"]
    result.check(
        not astray,
        f"{len(astray)} follow-ups fired in the log but not closed as fired in the table "
        f"(their notifications were never queued): {astray[:5]}",
    )
    unrecorded = sorted(moved - moved_by_followup)
    result.check(
        not unrecorded,
        f"{len(unrecorded)} cycles moved to evaluation on their deadline without the "
        f"FollowUpFired that records it: {unrecorded[:5]}",
    )
    result.check(not unfired, f"{len(unfired)} follow-ups due but never fired: {unfired[:5]}")
    result.check(bool(fired), "no follow-up fired at all: the clock did not move them due")


def _compare(
    what: str,
    left: dict[str, list[tuple[Any, ...]]],
    right: dict[str, list[tuple[Any, ...]]],
    result: Result,
) -> None:
    rows = sum(len(table) for table in left.values())
    different = [name for name in left if left[name] != right.get(name)]
    result.figures[what] = "equal" if not different else f"DIFFERENT: {different}"
    result.figures[what] += f" ({rows} rows in {len(left)} tables)"
    for name in different:
        only_left = sorted(set(left[name]) - set(right[name]), key=repr)[:3]
        only_right = sorted(set(right[name]) - set(left[name]), key=repr)[:3]
        result.failures.append(f"{what}: {name} differs; {only_left} vs {only_right}")


def _restore(
    running: Cluster, folder: Path, head_hash: str, result: Result
) -> dict[str, list[tuple[Any, ...]]]:
    """The backup path of deploy/README.md, by its own scripts: `deploy/backup.sh` dumps the
    log's tables, `deploy/restore.sh` loads them into a fresh database (`pop init`), rebuilds
    the read models and verifies the chain against the same head. Returns the restored read
    models, to compare with a rebuild of the original."""
    started = time.monotonic()
    dump = folder / "popcycle-log.dump"
    target_url = new_database(running.database_url, "popcycle_restored")
    tools = {
        "PATH": f"{find_pg_bin()}{os.pathsep}{os.environ.get('PATH', '')}",
        "POP": shlex.join(POP),
    }
    _run([str(DEPLOY / "backup.sh"), str(dump)], {**running.env, **tools})
    _run(
        [str(DEPLOY / "restore.sh"), str(dump), head_hash],
        {**running.env, **tools, "POP_DATABASE_URL": target_url},
    )
    restored_engine = make_engine(target_url)
    try:
        restored = snapshot(restored_engine, PROJECTIONS)
    finally:
        restored_engine.dispose()
    size = dump.stat().st_size / 1e6
    result.figures["restore (deploy/backup.sh, deploy/restore.sh)"] = (
        f"{time.monotonic() - started:.1f} s, dump {size:.1f} MB"
    )
    return restored


def _run(argv: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} exited {done.returncode}: {done.stderr[-2000:]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cycles", type=int, default=2000, help="POP cycles to walk")
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the drive")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients")
    parser.add_argument("--workers", type=int, default=2, help="`pop worker` processes")
    parser.add_argument("--schedulers", type=int, default=2, help="`pop scheduler` processes")
    parser.add_argument("--span-days", type=int, default=540, help="organisation time passing")
    parser.add_argument("--sweep-seconds", type=float, default=2.0, help="POP_SWEEP_SECONDS")
    parser.add_argument("--keep", action="store_true", help="keep the processes' logs")
    parser.add_argument(
        "--group-commit", action="store_true", help="POP_GROUP_COMMIT=1: appends share commits"
    )
    args = parser.parse_args(argv)
    if args.cycles < 1 or args.minutes <= 0 or args.clients < 1 or args.workers < 1:
        parser.error("--cycles, --minutes, --clients and --workers must be positive")
    if args.schedulers < 1 or args.span_days < 400:
        parser.error("--schedulers must be positive and --span-days at least 400")
    options = Options(
        args.cycles,
        args.minutes,
        args.seed,
        args.clients,
        args.workers,
        args.schedulers,
        args.span_days,
        args.sweep_seconds,
        args.keep,
        args.group_commit,
    )
    print(
        f"soak: {options.cycles} cycles, {options.clients} clients, {options.workers} workers, "
        f"{options.schedulers} schedulers, {options.span_days} days in {options.minutes:g} min, "
        f"seed {options.seed}{', group commit' if options.group_commit else ''}",
        flush=True,
    )
    result = soak(options)
    width = max(len(name) for name in result.figures) if result.figures else 0
    for name, figure in result.figures.items():
        print(f"  {name:<{width}}  {figure}")
    for failure in result.failures:
        print(f"FAILED: {failure}")
    print("soak: FAILED" if result.failures else "soak: OK, nothing lost, nothing doubled")
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
