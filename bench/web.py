"""Web latency: the status page and `GET /api/cycles/{id}` against a trivial Flask endpoint.

    .venv/bin/python -m bench.web [--employees N] [--requests R] [--database FILE]

Seeds an organisation of N employees with an open cycle each (default 100 000, in bulk through
the store, as `bench.scheduler` does): a manager per `REPORTS` employees, twelve departments,
cycles spread over the first phases with interviews from six weeks ago to six weeks ahead, so
the page has cycles overdue and due within 30 days to list. Projects the read models, serves
popcycle's app and a one-route Flask app side by side under waitress on loopback, and times R
sequential requests to each (the cases interleaved, so noise hits all alike): the trivial
endpoint (the ceiling), the status page (an HR session cookie), the same page missing the
overview cache (`web/page/cache.py`: as it costs while the read models keep moving), the page
filtered by a random manager (a miss too, mostly) and by a department, and `GET
/api/cycles/{id}` for random cycles (an HR bearer token). Prints median and p95 latency and the
ratios to the ceiling. Goal (issue 5): page within 3x.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import random
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask

from bench.figures import Figure, add_json_option, write_figures
from bench.scheduler import INVITED, SEED_BATCH
from events.codec import encode
from events.domain import (
    CycleEvent,
    CycleOpened,
    CycleStarted,
    EmployeeRegistered,
    InterviewScheduled,
    PreparationSubmitted,
    Reason,
    Side,
)
from events.migrate import upgrade
from events.records import Metadata, StreamAppend
from handlers.actor import Role
from handlers.bootstrap import Popcycle
from handlers.clock import MovableClock
from handlers.logs import configure_logging
from handlers.projections.service import ProjectionService
from handlers.repository import cycle_stream, employee_stream
from handlers.tokens import TokenStore
from tests.support.apps import wired
from tests.support.served import served
from web.app import create_app

GOAL = 3.0
#: Employees per manager (72 POP hours a year: within the default capacity of 80)...
REPORTS = 16
#: ...except that every `EXTRA`-th employee reports to one of the first ten managers, which
#: puts those ten over capacity: the page lists them.
EXTRA = 50
DEPARTMENTS = (
    "Finance",
    "HR",
    "ICT",
    "Sales",
    "Support",
    "Logistics",
    "Legal",
    "Marketing",
    "Production",
    "Research",
    "Service",
    "Facilities",
)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def trivial_app() -> Flask:
    app = Flask("trivial")
    app.add_url_rule("/ping", "ping", lambda: "ok")
    return app


def seed(app: Popcycle, employees: int, now: datetime) -> None:
    """Managers, then employees, each with one cycle: a quarter each invited only, invited with
    an interview date, in preparation, and ready for the interview (both sides prepared)."""
    managers = max(1, employees // REPORTS)
    people: list[StreamAppend] = []
    for k in range(managers):
        manager = EmployeeRegistered(
            f"M{k}",
            f"Manager {k}",
            f"m{k}@example.nl",
            now - timedelta(days=900),
            department=DEPARTMENTS[k % len(DEPARTMENTS)],
        )
        people.append(StreamAppend(employee_stream(f"M{k}"), (encode(manager),), 0))
    for start in range(0, managers, SEED_BATCH):
        app.store.append(people[start : start + SEED_BATCH], Metadata("bench", "system"))
    for start in range(0, employees, SEED_BATCH):
        appends = []
        for n in range(start, min(start + SEED_BATCH, employees)):
            # reports spread over managers (and so departments) in no particular order
            boss = (n // EXTRA) % 10 if n % EXTRA == 0 else (n * 7919) % managers
            person, cycle = f"E{n}", f"c{n}"
            invited = now - timedelta(days=60 + n % 200)
            registered = EmployeeRegistered(
                person,
                f"N {n}",
                f"e{n}@example.nl",
                invited - timedelta(days=30),
                f"M{boss}",
                department=DEPARTMENTS[boss % len(DEPARTMENTS)],
            )
            opened = CycleOpened(cycle, invited)
            appends.append(
                StreamAppend(employee_stream(person), (encode(registered), encode(opened)), 0)
            )
            events: list[CycleEvent] = [
                CycleStarted(cycle, person, f"M{boss}", Reason.PERIODIC, invited)
            ]
            stage = n % 4
            if stage:
                # office hours over twelve weeks: about a hundred talks share each hour
                day = now.replace(hour=9, minute=0) + timedelta(days=n % 84 - 42)
                interview = day + timedelta(hours=(n // 84) % 8)
                events.append(InterviewScheduled(interview))
            for side in (Side.EMPLOYEE, Side.MANAGER)[: stage - 1]:
                events.append(PreparationSubmitted(side, ("punt",), invited + timedelta(days=1)))
            appends.append(StreamAppend(cycle_stream(cycle), tuple(encode(e) for e in events), 0))
        app.store.append(appends, Metadata("bench", "system"))
        progress(f"  seeded {min(start + SEED_BATCH, employees)}/{employees} employees")


def session_opener(base: str, token: str) -> urllib.request.OpenerDirector:
    """An HR browser session: the login form's CSRF token, then the cookie."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    page = opener.open(base + "/login", timeout=30).read().decode()
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the login form carries a CSRF token"
    form = urllib.parse.urlencode({"token": token, "csrf_token": found.group(1)}).encode()
    opener.open(base + "/login", data=form, timeout=30).read()
    return opener


def timed(call: Callable[[], bytes]) -> float:
    started = time.perf_counter()
    body = call()
    assert body
    return time.perf_counter() - started


def main() -> None:
    configure_logging("WARNING")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--database",
        type=Path,
        help="a SQLite file to seed, or to reuse if it exists (default: a temporary one)",
    )
    parser.add_argument("--db", choices=("sqlite",), default="sqlite", help="SQLite only, so far")
    add_json_option(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = args.database or Path(folder) / "web.sqlite3"
        fresh = not path.exists()
        url = f"sqlite:///{path}"
        upgrade(url)
        clock = MovableClock(INVITED)
        with wired(url, clock) as app:  # type: ignore[arg-type]
            if fresh:
                progress(f"seeding {args.employees} employees with an open cycle")
                seed(app, args.employees, INVITED)
            progress("projecting the read models")
            ProjectionService.from_app(app).catch_up_all()
            token = TokenStore(app.engine, app.clock).create(Role.HR, None, "bench")
            with served(create_app(app)) as base, served(trivial_app()) as ceiling:
                browser = session_opener(base, token)
                auth = {"Authorization": f"Bearer {token}"}
                ids = [f"c{n}" for n in range(args.employees)]
                managers = max(1, args.employees // REPORTS)
                cases: dict[str, Callable[[], bytes]] = {
                    "trivial Flask endpoint": lambda: urllib.request.urlopen(
                        ceiling + "/ping", timeout=30
                    ).read(),
                    "status page GET /": lambda: browser.open(base + "/", timeout=30).read(),
                    # an unknown parameter changes nothing shown but misses the overview cache:
                    # the page as it costs while the read models keep moving
                    "page, not cached": lambda: browser.open(
                        f"{base}/?fresh={random.random()}", timeout=30
                    ).read(),
                    "page ?manager=": lambda: browser.open(
                        f"{base}/?manager=M{random.randrange(managers)}", timeout=30
                    ).read(),
                    "page ?department=": lambda: browser.open(
                        f"{base}/?department={random.choice(DEPARTMENTS)}", timeout=30
                    ).read(),
                    "GET /api/cycles/{id}": lambda: urllib.request.urlopen(
                        urllib.request.Request(
                            f"{base}/api/cycles/{random.choice(ids)}", headers=auth
                        ),
                        timeout=30,
                    ).read(),
                }
                samples: dict[str, list[float]] = {name: [] for name in cases}
                for call in cases.values():  # warm-up
                    timed(call)
                for index in range(args.requests):
                    for name, call in cases.items():
                        samples[name].append(timed(call))
                    if (index + 1) % 50 == 0:
                        progress(f"  {index + 1}/{args.requests} rounds")
    base_median = statistics.median(samples["trivial Flask endpoint"])
    print(f"\n{args.employees:,} cycles, {args.requests} requests per case (SQLite)")
    print(f"  {'case':<26}{'median ms':>10}{'p95 ms':>9}{'vs ceiling':>12}")
    for name, values in samples.items():
        median = statistics.median(values)
        p95 = statistics.quantiles(values, n=20)[18]
        print(f"  {name:<26}{median * 1000:>10.2f}{p95 * 1000:>9.2f}{median / base_median:>12.2f}")
    page = statistics.median(samples["status page GET /"]) / base_median
    verdict = "met" if page <= GOAL else "NOT MET"
    print(f"status page at {page:.1f}x the trivial endpoint (goal <= {GOAL:g}x): {verdict}")
    write_figures(args.json, figures(samples, args.employees))


def figures(samples: dict[str, list[float]], employees: int) -> list[Figure]:
    """The headline figures for `python -m bench report`: median latency of each case against
    the trivial endpoint's (lower is better)."""
    ceiling = statistics.median(samples["trivial Flask endpoint"]) * 1000
    return [
        Figure(
            f"web, {employees:,} cycles: {name}",
            "SQLite",
            "ms",
            statistics.median(values) * 1000,
            ceiling,
            lower_is_better=True,
            note=f"{name}: p95 {statistics.quantiles(values, n=20)[18] * 1000:.2f} ms",
        )
        for name, values in samples.items()
        if name != "trivial Flask endpoint"
    ]


if __name__ == "__main__":
    main()
