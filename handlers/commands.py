"""Command handlers: load the stream, decide with `workflow`, append at the expected version.

Every write of popcycle (CLI, HTTP, scheduler) goes through `CommandHandler`. A concurrency
conflict is retried by deciding again on the fresh state, which is safe because `decide`
re-checks every rule; a caller that pinned a version (`If-Match`) gets the conflict instead.
A repeated idempotency key returns the first result without deciding anything.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from cattrs.preconf.json import make_converter

from events.codec import encode
from events.domain import CycleOpened, Reason, Side
from events.errors import ConcurrencyConflict
from events.hashing import canonical_json
from events.personal import ERASED, PERSONAL_FIELDS, split
from events.records import AppendResult, Metadata, NewEvent, StreamAppend
from events.sealing import seal
from events.store import EventStore
from handlers.actor import Actor, Role
from handlers.cache import LruCache
from handlers.clock import Clock
from handlers.repository import Repository, check_id, cycle_stream, employee_stream
from workflow.commands import (
    CycleCommand,
    RecordFollowUp,
    SignPlan,
    StartCycle,
    SubmitPreparation,
)
from workflow.decide import decide, start_next_cycle
from workflow.employee import EmployeeState, RegisterEmployee, decide_register, evolve_employee
from workflow.errors import DomainError
from workflow.folding import fold
from workflow.phases import Phase
from workflow.state import CycleState, evolve

log = structlog.get_logger(__name__)
_converter = make_converter()
MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command did; the same JSON is returned again for a repeated idempotency key."""

    cycle_id: str | None
    employee_id: str | None
    phase: str | None
    version: int
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "cycle_id": self.cycle_id,
            "employee_id": self.employee_id,
            "phase": self.phase,
            "version": self.version,
        }

    @classmethod
    def from_append(cls, outcome: AppendResult) -> CommandResult:
        raw = outcome.result
        return cls(
            raw.get("cycle_id"),
            raw.get("employee_id"),
            raw.get("phase"),
            raw["version"],
            outcome.replayed,
        )


def fingerprint(kind: str, target: str | None, command: Any) -> str:
    """A digest of the request, so that a key reused for another request is recognised."""
    body = canonical_json([kind, target, _converter.unstructure(command)])
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _key_print(key: str | None, kind: str, target: str | None, command: Any) -> str | None:
    """The request's fingerprint when it carries an idempotency key (only then is it kept)."""
    return None if key is None else fingerprint(kind, target, command)


def new_id() -> str:
    return uuid.uuid4().hex


class CommandHandler:
    """The write side of popcycle."""

    def __init__(
        self,
        repository: Repository,
        clock: Clock,
        id_factory: Callable[[], str] = new_id,
        on_appended: Callable[[AppendResult], None] | None = None,
        cache_size: int = 10_000,
    ) -> None:
        self._repository = repository
        self._store: EventStore = repository.store
        self._clock = clock
        self._new_id = id_factory
        # Aggregates and keys seen last: they spare a read per command (see handlers/cache.py).
        # Cycles by cycle id, people by stream name.
        self._cycles: LruCache[CycleState] = LruCache(cache_size)
        self._people: LruCache[EmployeeState] = LruCache(cache_size)
        self._keys: LruCache[bytes] = LruCache(cache_size)
        # Called after each committed append (never before): the workers' nudge goes here.
        self.on_appended = on_appended

    # --- people -----------------------------------------------------------------------------

    def register_employee(
        self,
        actor: Actor,
        command: RegisterEmployee,
        *,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Add a person; a named manager must already exist."""
        check_id(command.employee_id, "employee_id")
        key_print = fingerprint("register", None, command)
        if (earlier := self._replay(idempotency_key, key_print)) is not None:
            return earlier
        if command.manager_id is not None:
            self._employee(command.manager_id, "manager_id", fresh=False)
        stream = employee_stream(command.employee_id)
        version = self._store.stream_version(stream)
        state = self._repository.employee(command.employee_id, "employee_id") if version else None
        events = decide_register(state, command, self._clock())
        result = CommandResult(None, command.employee_id, None, len(events))
        outcome = self.append_writes(
            [Write(stream, list(events), 0, command.employee_id)],
            actor,
            idempotency_key=idempotency_key,
            key_print=key_print,
            result=result,
            kind="register",
        )
        if not outcome.replayed:
            self._people.put(stream, fold(evolve_employee, None, events))
        return outcome

    def handle_employee(
        self,
        actor: Actor,
        employee_id: str,
        command: Any,
        decider: Callable[[EmployeeState, Any, datetime], list[Any]],
        *,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Apply a command to a person's stream (details, manager, quadrant, budget, ...)."""
        key_print = fingerprint(type(command).__name__, employee_id, command)
        if (earlier := self._replay(idempotency_key, key_print)) is not None:
            return earlier
        for _attempt in range(MAX_ATTEMPTS):
            state = self._repository.employee(employee_id)
            events = decider(state, command, self._clock())
            result = CommandResult(None, employee_id, None, state.version + len(events))
            try:
                return self.append_writes(
                    [Write(employee_stream(employee_id), events, state.version, employee_id)],
                    actor,
                    idempotency_key=idempotency_key,
                    key_print=key_print,
                    result=result,
                    kind=type(command).__name__,
                )
            except ConcurrencyConflict:
                continue
        raise DomainError("the employee's record kept changing; try again")

    # --- cycles -----------------------------------------------------------------------------

    def start_cycle(
        self,
        actor: Actor,
        employee_id: str,
        manager_id: str,
        reason: Reason,
        interview_at: datetime | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """Invite an employee: refused while another cycle of theirs is still open."""
        request = {
            "employee_id": employee_id,
            "manager_id": manager_id,
            "reason": reason,
            "interview_at": interview_at,
        }
        key_print = fingerprint("start", None, request)
        if (earlier := self._replay(idempotency_key, key_print)) is not None:
            return earlier
        fresh = False
        for _attempt in range(MAX_ATTEMPTS):
            employee = self._employee(employee_id, "employee_id", fresh=fresh)
            self._employee(manager_id, "manager_id", fresh=fresh)  # exists (for ever, once it did)
            try:
                self._refuse_second_open_cycle(employee.latest_cycle_id)
            except DomainError:
                if fresh:
                    raise
                fresh = True  # the cached person may be stale: judge again on the log itself
                continue
            cycle_id = self._new_id()
            now = self._clock()
            command = StartCycle(cycle_id, employee_id, manager_id, reason, interview_at)
            events = decide(None, command, now)
            opened = CycleOpened(cycle_id, now)
            result = CommandResult(cycle_id, employee_id, Phase.INVITATION.value, len(events))
            stream = employee_stream(employee_id)
            try:
                outcome = self.append_writes(
                    [
                        Write(stream, [opened], employee.version, employee_id),
                        Write(cycle_stream(cycle_id), list(events), 0, employee_id),
                    ],
                    actor,
                    idempotency_key=idempotency_key,
                    key_print=key_print,
                    result=result,
                    kind="start",
                )
            except ConcurrencyConflict:
                fresh = True
                continue
            if not outcome.replayed:
                self._people.put(stream, evolve_employee(employee, opened))
                self._cycles.put(cycle_id, fold(evolve, None, events))
            return outcome
        raise DomainError("the employee's record kept changing; try again")

    def _employee(self, employee_id: str, field: str, *, fresh: bool) -> EmployeeState:
        """The person from the cache (unless `fresh`), else from the log.

        A cached person only proposes an append at its version: if the stream moved on, the
        append conflicts and the caller loads it again (as for cycles, see handlers/cache.py).
        """
        stream = employee_stream(employee_id)
        state = None if fresh else self._people.get(stream)
        if state is None:
            state = self._repository.employee(employee_id, field)
            self._people.put(stream, state)
        return state

    def _refuse_second_open_cycle(self, latest_cycle_id: str | None) -> None:
        if latest_cycle_id is None:
            return
        latest = self._repository.cycle(latest_cycle_id)
        if not latest.phase.is_closed:
            raise DomainError(
                f"the employee already has an open cycle {latest_cycle_id} in phase "
                f"{latest.phase.value}: complete or cancel it first",
                field="employee_id",
            )

    def handle(
        self,
        actor: Actor,
        cycle_id: str,
        command: CycleCommand,
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        authorize: Callable[[CycleState], None] | None = None,
    ) -> CommandResult:
        """Apply one command to an existing cycle.

        `authorize` (the web's access check) raises to refuse the actor. It judges the very
        state the command is decided on, so the check and the append see the same version (a
        check on a separate read could pass on a state the append no longer meets), and it
        costs no read of its own when the cycle is cached. A replayed key is checked too.
        """
        key_print = _key_print(idempotency_key, type(command).__name__, cycle_id, command)
        if (earlier := self._replay(idempotency_key, key_print)) is not None:
            if authorize is not None:
                authorize(self._repository.cycle(cycle_id))
            return earlier
        fresh = False
        for _attempt in range(MAX_ATTEMPTS):
            state = None if fresh else self._cycles.get(cycle_id)
            if state is None or (
                expected_version is not None and expected_version != state.version
            ):
                state, fresh = self._repository.cycle(cycle_id), True
            if authorize is not None:
                try:
                    authorize(state)
                except Exception:
                    if fresh:
                        raise
                    fresh = True  # the cached state may be stale: judge on the log itself
                    continue
            if expected_version is not None and expected_version != state.version:
                raise ConcurrencyConflict(cycle_stream(cycle_id), expected_version, state.version)
            try:
                events = decide(state, command, self._clock())
            except DomainError:
                if fresh:
                    raise
                fresh = True  # the cached state may be stale: judge again on the log itself
                continue
            after = fold(evolve, state, events)
            result = CommandResult(cycle_id, state.employee_id, after.phase.value, after.version)
            try:
                outcome = self.append_writes(
                    [Write(cycle_stream(cycle_id), list(events), state.version, state.employee_id)],
                    actor,
                    on_behalf_of=_on_behalf_of(actor, state, command),
                    idempotency_key=idempotency_key,
                    key_print=key_print,
                    result=result,
                    kind=type(command).__name__,
                )
            except ConcurrencyConflict:
                self._cycles.drop(cycle_id)
                fresh = True
                if expected_version is not None:
                    raise
                continue
            if not outcome.replayed:
                self._cycles.put(cycle_id, after)
            return outcome
        raise DomainError("the cycle kept changing while this command was decided; try again")

    def forget_cached(self, employee_id: str) -> None:
        """Drop what this process remembers of a person (after a GDPR erasure)."""
        self._keys.drop(employee_id)
        self._people.drop(employee_stream(employee_id))

    def restart(
        self,
        actor: Actor,
        cycle_id: str,
        *,
        expected_version: int | None = None,
        idempotency_key: str | None = None,
        record: RecordFollowUp | None = None,
    ) -> CommandResult:
        """Open the next cycle after a completed one, carrying unreached goals as proposals.

        `record`: the scheduler's follow-up that caused the restart, recorded on the old cycle in
        the same append, so that the restart and its `FollowUpFired` happen together or not at
        all (a second scheduler then sees the key fired, never a restart without it).
        """
        key_print = fingerprint("restart", cycle_id, None)
        if (earlier := self._replay(idempotency_key, key_print)) is not None:
            return earlier
        for _attempt in range(MAX_ATTEMPTS):
            state = self._repository.cycle(cycle_id)
            if expected_version is not None and expected_version != state.version:
                raise ConcurrencyConflict(cycle_stream(cycle_id), expected_version, state.version)
            employee = self._repository.employee(state.employee_id, "employee_id")
            new_cycle_id = self._new_id()
            now = self._clock()
            old_events, new_events = start_next_cycle(state, new_cycle_id, now)
            if record is not None:
                old_events = [*old_events, *decide(fold(evolve, state, old_events), record, now)]
            result = CommandResult(
                new_cycle_id, state.employee_id, Phase.INVITATION.value, len(new_events)
            )
            try:
                return self.append_writes(
                    [
                        Write(
                            cycle_stream(cycle_id),
                            list(old_events),
                            state.version,
                            state.employee_id,
                        ),
                        Write(
                            employee_stream(state.employee_id),
                            [CycleOpened(new_cycle_id, now)],
                            employee.version,
                            state.employee_id,
                        ),
                        Write(cycle_stream(new_cycle_id), list(new_events), 0, state.employee_id),
                    ],
                    actor,
                    idempotency_key=idempotency_key,
                    key_print=key_print,
                    result=result,
                    kind="restart",
                )
            except ConcurrencyConflict:
                if expected_version is not None:
                    raise
        raise DomainError("the cycle kept changing while it was restarted; try again")

    # --- plumbing ---------------------------------------------------------------------------

    def _replay(self, key: str | None, key_print: str | None) -> CommandResult | None:
        if key is None:
            return None
        earlier = self._store.lookup(key, key_print)
        return None if earlier is None else CommandResult.from_append(earlier)

    def append_writes(
        self,
        writes: list[Write],
        actor: Actor,
        *,
        on_behalf_of: str | None = None,
        idempotency_key: str | None,
        key_print: str | None,
        result: CommandResult,
        kind: str,
        correlation_id: str | None = None,
    ) -> CommandResult:
        """Append several streams' events atomically, sealed, logged, then nudge the workers.

        `correlation_id` ties the events to what caused them beyond this one command (e.g. the
        import of HR's file that every change of an import carries).
        """
        appends = [
            StreamAppend(
                write.stream,
                tuple(self._sealed(event, write.subject) for event in write.events),
                write.expected,
            )
            for write in writes
        ]
        metadata = Metadata(
            actor_id=actor.person_id,
            actor_role=actor.role.value,
            on_behalf_of=on_behalf_of,
            causation_id=self._new_id(),
            correlation_id=correlation_id,
        )
        for write in writes:  # a person written here is stale in the cache (callers put it back)
            self._people.drop(write.stream)
        outcome = self._store.append(
            appends,
            metadata,
            idempotency_key=idempotency_key,
            request_fingerprint=key_print,
            result=result.to_json(),
        )
        if self.on_appended is not None and not outcome.replayed:
            self.on_appended(outcome)
        log.info(
            "command.applied",
            command=kind,
            streams=len(appends),
            events=sum(len(item.events) for item in appends),
            last_position=outcome.last_position,
            replayed=outcome.replayed,
        )
        return CommandResult.from_append(outcome)

    def _sealed(self, event: Any, subject: str) -> NewEvent:
        """The event as stored: personal fields sealed with the subject's own key."""
        new = encode(event)
        if not PERSONAL_FIELDS.get(new.type):
            return new
        key = self._keys.get(subject)
        if key is None:
            key = self._repository.keys.key_for(subject, create=True)
            if key is not None:
                self._keys.put(subject, key)
        if key is None and _only_erased(new):
            return new  # e.g. erased goal texts carried into a restart: nothing personal left
        if key is None:
            raise DomainError(
                f"employee {subject} was forgotten (GDPR erasure): "
                "no new personal data can be recorded about them",
                field="employee_id",
            )
        return NewEvent(new.type, seal(new.type, new.data, subject, key), new.schema_version)


def _only_erased(new: NewEvent) -> bool:
    """True if every personal field of the event is empty or already erased."""
    _public, personal = split(new.type, new.data)
    return all(value in (ERASED, [ERASED]) for value in personal.values())


@dataclass(frozen=True, slots=True)
class Write:
    """Events for one stream at an expected version; `subject` is whose key seals them."""

    stream: str
    events: list[Any]
    expected: int
    subject: str


def _on_behalf_of(actor: Actor, state: CycleState, command: CycleCommand) -> str | None:
    """When HR writes one side's part (preparation, signature), record whose part it was."""
    if actor.role is not Role.HR:
        return None
    side: Side | None = None
    if isinstance(command, SubmitPreparation):
        side = command.author
    elif isinstance(command, SignPlan):
        side = command.signer
    if side is None:
        return None
    return state.employee_id if side is Side.EMPLOYEE else state.manager_id
