"""The dramatiq broker from POP_BROKER_URL, and the nudge the command side sends through it.

- `redis://…` (production): a `RedisBroker`; any number of `pop worker` or `dramatiq
  handlers.workers` processes on any number of machines consume the `projections` queue and
  the `notifications` queue (the outbox's delivery actor, declared by scheduler/).
- unset (the embedded default): a `StubBroker`, consumed by one in-process `dramatiq.Worker`
  (`handlers.workers.start_in_process`, which `pop serve` and `pop worker` call). Same actors,
  same code path; the messages just never leave the process. `broker.emit_after("process_boot")`
  must run once before that worker starts (it starts the time-limit thread); one Worker per
  process (DESIGN.md "Known traps").

The command side never imports the actors: `nudger_for(settings)` (and the scheduler's
`delivery_nudge_for(settings)`) enqueues a message by actor name, so a `pop cycle …` command
starts no worker machinery and opens no Redis connection until its first append. In the
embedded default a command run in another process (a one-off `pop` command beside `pop serve`)
has no broker to reach: its nudge is dropped and the serving process's safety sweep picks the
events up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import redis
import structlog
from dramatiq import Broker, Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from events.records import AppendResult
from handlers.projections.nudge import Gate, LocalGate, Nudger, RedisGate
from handlers.projections.registry import PROJECTIONS
from handlers.settings import Settings, SettingsError

log = structlog.get_logger(__name__)

#: The queue the projection actors listen on.
QUEUE = "projections"
#: The catch-up actor's name (messages are sent by name: see `send_catch_up`).
CATCH_UP_ACTOR = "catch_up_projection"
#: The queue and actor that deliver the outbox's notifications (declared by scheduler/).
NOTIFY_QUEUE = "notifications"
DELIVER_ACTOR = "deliver_notifications"
#: The gate's name for "a delivery run is pending" (coalesced like a projection's catch-up).
DELIVERY = "delivery"

#: Socket timeouts of the command side's Redis client: a nudge must never hang a command.
NUDGE_SOCKET_TIMEOUT = 2.0

_local = threading.Lock()
_embedded_nudger: Nudger | None = None
_embedded_delivery: Nudger | None = None
_gates: dict[int, Gate] = {}


def is_redis(url: str | None) -> bool:
    """Whether POP_BROKER_URL names a Redis server (None or "": the embedded broker)."""
    if not url:
        return False
    if not url.startswith(("redis://", "rediss://", "unix://")):
        scheme = url.split(":", 1)[0]  # never the rest: it may hold a password
        raise SettingsError(f"POP_BROKER_URL: only redis:// URLs are supported, not {scheme}://")
    return True


def make_broker(url: str | None) -> Broker:
    """A RedisBroker for a redis:// URL, else the embedded StubBroker (default middleware)."""
    if is_redis(url):
        # dramatiq's RedisBroker has no annotations.
        return RedisBroker(client=redis.Redis.from_url(str(url)))  # type: ignore[no-untyped-call]
    return StubBroker()


def gate_for(broker: Broker) -> Gate:
    """The nudge gate that goes with `broker` (one per broker, shared by its users)."""
    with _local:
        gate = _gates.get(id(broker))
        if gate is None:
            client = getattr(broker, "client", None)
            gate = RedisGate(client) if client is not None else LocalGate()
            _gates[id(broker)] = gate
        return gate


def send_catch_up(broker: Broker) -> Callable[[str], None]:
    """A function enqueueing one catch-up message for a projection on `broker`."""

    def send(name: str) -> None:
        broker.enqueue(
            Message(
                queue_name=QUEUE,
                actor_name=CATCH_UP_ACTOR,
                args=(name,),
                kwargs={},
                options={},
            )
        )

    return send


def nudger_on(broker: Broker) -> Nudger:
    """The nudger for every projection through `broker`."""
    return Nudger([p.name for p in PROJECTIONS], gate_for(broker), send_catch_up(broker))


def delivery_nudger_on(broker: Broker) -> Nudger:
    """The nudger of the delivery actor through `broker` (`.nudge(DELIVERY)` sends one)."""

    def send(_name: str) -> None:
        broker.enqueue(
            Message(
                queue_name=NOTIFY_QUEUE,
                actor_name=DELIVER_ACTOR,
                args=(),
                kwargs={},
                options={},
            )
        )

    return Nudger([DELIVERY], gate_for(broker), send)


def register_embedded(nudger: Nudger | None, delivery: Nudger | None = None) -> None:
    """The in-process worker started (its nudgers) or stopped (None): commands nudge it."""
    global _embedded_nudger, _embedded_delivery  # noqa: PLW0603 - one in-process worker per process
    with _local:
        _embedded_nudger = nudger
        _embedded_delivery = delivery


def nudger_for(settings: Settings) -> Callable[[AppendResult], None]:
    """The command side's `on_appended` hook for these settings (after commit, never before)."""
    if is_redis(settings.broker_url):
        return _RedisNudge(str(settings.broker_url))
    return _embedded_nudge


def delivery_nudge_for(settings: Settings) -> Callable[[], bool]:
    """Asks the workers to deliver the outbox now (after the outbox rows were committed).

    The returned function is True when a worker will see the request: always with Redis (a
    lost message is caught by the workers' sweep), and with the embedded broker while this
    process runs its in-process worker. False means no worker is in reach (a standalone
    `pop scheduler` on the embedded default): the caller delivers itself.
    """
    if is_redis(settings.broker_url):
        return _RedisDeliveryNudge(str(settings.broker_url))
    return _embedded_delivery_nudge


def _embedded_delivery_nudge() -> bool:
    nudger = _embedded_delivery
    if nudger is None:
        return False
    nudger.nudge(DELIVERY)
    return True


def _embedded_nudge(result: AppendResult) -> None:
    nudger = _embedded_nudger
    if nudger is not None:
        nudger(result)


class _RedisNudge:
    """Nudges through Redis; the client is made at the first append (commands that only read
    never connect)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._nudger: Nudger | None = None

    def __call__(self, result: AppendResult) -> None:
        try:
            if self._nudger is None:
                self._nudger = nudger_on(_sender(self._url))
        except Exception as error:  # after the commit: a hint lost, never a command failed
            log.warning("projection.nudge_failed", error=type(error).__name__)
            return
        self._nudger(result)  # swallows its own errors (`Nudger.nudge`)


class _RedisDeliveryNudge:
    """Nudges the delivery actor through Redis; the client is made at the first nudge."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._nudger: Nudger | None = None

    def __call__(self) -> bool:
        try:
            if self._nudger is None:
                self._nudger = delivery_nudger_on(_sender(self._url))
        except Exception as error:  # a hint lost: the workers' sweep delivers anyway
            log.warning("delivery.nudge_failed", error=type(error).__name__)
            return True
        self._nudger.nudge(DELIVERY)  # swallows its own errors (`Nudger.nudge`)
        return True


def _sender(url: str) -> Broker:
    client = redis.Redis.from_url(
        url,
        socket_connect_timeout=NUDGE_SOCKET_TIMEOUT,
        socket_timeout=NUDGE_SOCKET_TIMEOUT,
    )
    return RedisBroker(client=client)  # type: ignore[no-untyped-call]
