"""The outbox's dramatiq actor: deliver due notifications, nudged after a firing commits.

Declared on the workers' broker (`handlers.workers`, which finds this module through the
`popcycle.actors` entry point), so every worker — `pop worker`, `dramatiq handlers.workers`,
the in-process worker of `pop serve` — consumes the `notifications` queue beside the
projections'.

The message is a hint, the outbox is the truth (DESIGN.md "the broker is a hint"): the actor
works through whatever is due, holding each row with a lease (scheduler/delivery.py), so a
message delivered twice or redelivered after a kill sends nothing twice, and a lost message
loses nothing: the workers' safety sweep nudges the actor whenever a notification is due,
which is also how a retry runs once its back-off has passed. Failures of the actor itself
(the database is down) are retried by dramatiq with back-off.
"""

from __future__ import annotations

import dramatiq
import structlog

from handlers.broker import DELIVER_ACTOR, DELIVERY, NOTIFY_QUEUE
from handlers.workers import SWEEPS, Runtime, broker, runtime
from scheduler.delivery import LEASE, deliver_due, has_due

log = structlog.get_logger(__name__)

#: Seconds one message delivers before it hands over to a fresh message (short messages:
#: fair to the projections on the same workers, quick shutdowns).
DELIVERY_BUDGET_SECONDS = 20.0


@dramatiq.actor(
    broker=broker,
    queue_name=NOTIFY_QUEUE,
    actor_name=DELIVER_ACTOR,
    max_retries=10,
    min_backoff=1_000,
    max_backoff=60_000,
    time_limit=int(LEASE.total_seconds() * 1000),  # past the lease, the rows are free anyway
)
def deliver_notifications() -> None:
    """Deliver everything due in the outbox (or hand over to a fresh message)."""
    current = runtime()
    current.delivery.gate.release(DELIVERY)  # first: a firing from now on must nudge again
    report = deliver_due(current.app, budget_seconds=DELIVERY_BUDGET_SECONDS)
    if report.more:
        current.delivery.nudge(DELIVERY, force=True)
    if report.sent or report.retried or report.dead:
        log.info(
            "delivery.run",
            sent=report.sent,
            retried=report.retried,
            dead=report.dead,
            more=report.more,
        )


def sweep_outbox(current: Runtime) -> None:
    """The safety sweep's part: nudge the actor if any notification is due now."""
    if has_due(current.app.engine, current.app.clock()):
        current.delivery.nudge(DELIVERY, force=True)


SWEEPS.append(sweep_outbox)
