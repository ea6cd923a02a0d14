"""The organisation's commands and what they do to open cycles.

An employee's change is one atomic write that may touch two streams: a new manager is recorded
on the employee's stream *and* moves his open cycle to that manager (`CycleManagerChanged`: the
new manager's signature counts from then on, reminders go to him); a leave is recorded on the
employee's stream *and* cancels his open cycle ("left the organisation"; the scheduler only
fires follow-ups of open cycles, so they stop). Both halves commit together or not at all.

`OrganisationHandler.apply` writes many employees' changes in one transaction (the import's
batches), `handle` one change by hand. Both decide with `workflow.employee` and append through
`CommandHandler.append_writes`, so sealing, logging and the workers' nudge are the usual ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import Engine, bindparam, text
from sqlalchemy.dialects import sqlite

from events.codec import decode
from events.database import write_transaction
from events.domain import EmployeeDetailsChanged, EmployeeLeft, EmployeeRegistered, ManagerChanged
from events.errors import ConcurrencyConflict
from events.sealing import KeyRing, new_key
from events.sqlkeyring import subject_keys_table
from handlers.actor import Actor
from handlers.clock import Clock
from handlers.commands import CommandHandler, CommandResult, Write, fingerprint
from handlers.repository import Repository, cycle_stream, employee_stream
from workflow.commands import CancelCycle, ChangeCycleManager
from workflow.decide import decide
from workflow.employee import (
    ChangeEmployeeDetails,
    ChangeManager,
    EmployeeState,
    HireEmployee,
    OrganisationCommand,
    RecordLeaving,
    decide_details,
    decide_hire,
    decide_leaving,
    decide_manager,
    evolve_employee,
)
from workflow.errors import DomainError, NotFound
from workflow.organisation import EmployeeChange, describe_loop

LEFT_REASON = "left the organisation"
MAX_ATTEMPTS = 5
#: Longest reporting line followed when a manager is changed by hand.
MAX_CHAIN = 1000
EMPLOYEE_PREFIX = employee_stream("")


@dataclass(frozen=True, slots=True)
class Consequence:
    """What a change did to the employee's open cycle (for reports and dry runs)."""

    cycle_id: str
    kind: str  # "moved" | "cancelled" | "kept"
    manager_id: str | None = None

    def __str__(self) -> str:
        if self.kind == "moved":
            return f"open cycle {self.cycle_id} moves to manager {self.manager_id}"
        if self.kind == "cancelled":
            return f"open cycle {self.cycle_id} cancelled ({LEFT_REASON})"
        return f"open cycle {self.cycle_id} keeps its manager: the file names no new one"


@dataclass(frozen=True, slots=True)
class Planned:
    """One employee's change turned into writes: the employee's stream and maybe his cycle."""

    change: EmployeeChange
    writes: tuple[Write, ...]
    consequences: tuple[Consequence, ...]
    after: EmployeeState

    @property
    def events(self) -> int:
        return sum(len(write.events) for write in self.writes)


@dataclass
class Outcome:
    """What `apply` did with a batch: changes written, and changes refused on the way."""

    applied: list[Planned] = field(default_factory=list)
    refused: list[tuple[EmployeeChange, DomainError]] = field(default_factory=list)


class OrganisationHandler:
    """Hires, detail changes, new managers and leavers, with their cycle consequences."""

    def __init__(
        self,
        commands: CommandHandler,
        repository: Repository,
        clock: Clock,
        *,
        prepare_keys: Callable[[set[str]], None] | None = None,
    ) -> None:
        self._commands = commands
        self._repository = repository
        self._clock = clock
        # Called with a batch's subjects before its append: creates their keys in one go.
        self._prepare_keys = prepare_keys

    # --- planning (reads, no writes) ----------------------------------------------------------

    def plan(self, state: EmployeeState | None, change: EmployeeChange, now: datetime) -> Planned:
        """Decide every command of the change on the current state, then its cycle consequence."""
        after = state
        events: list[Any] = []
        for command in change.commands:
            decided = _decide(change.employee_id, after, command, now)
            for event in decided:
                after = evolve_employee(after, event)
            events.extend(decided)
        if after is None:
            raise DomainError(f"no employee {change.employee_id}", field="employee_id")
        writes = [
            Write(employee_stream(change.employee_id), events, _version(state), after.employee_id)
        ]
        consequence = self._cycle_consequence(after, events, now)
        if consequence is not None:
            write, effect = consequence
            writes.append(write)
            return Planned(change, tuple(writes), (effect,), after)
        kept = self._kept_cycle(after, events)
        return Planned(change, tuple(writes), kept, after)

    def _cycle_consequence(
        self, after: EmployeeState, events: Sequence[Any], now: datetime
    ) -> tuple[Write, Consequence] | None:
        """Cancel the open cycle of a leaver; move a moved employee's open cycle along."""
        left = any(isinstance(event, EmployeeLeft) for event in events)
        moved = any(isinstance(event, ManagerChanged) for event in events)
        if after.latest_cycle_id is None or not (left or moved):
            return None
        cycle = self._repository.cycle(after.latest_cycle_id)
        if cycle.phase.is_closed:
            return None
        subject = after.employee_id
        if left:
            cancelled = decide(cycle, CancelCycle(LEFT_REASON), now)
            write = Write(cycle_stream(cycle.cycle_id), list(cancelled), cycle.version, subject)
            return write, Consequence(cycle.cycle_id, "cancelled")
        if after.manager_id is None or after.manager_id == cycle.manager_id:
            return None
        changed = decide(cycle, ChangeCycleManager(after.manager_id), now)
        write = Write(cycle_stream(cycle.cycle_id), list(changed), cycle.version, subject)
        return write, Consequence(cycle.cycle_id, "moved", after.manager_id)

    def _kept_cycle(self, after: EmployeeState, events: Sequence[Any]) -> tuple[Consequence, ...]:
        """A manager removed (no new one): the open cycle keeps its manager; say so."""
        cleared = any(isinstance(e, ManagerChanged) and e.manager_id is None for e in events)
        if not cleared or after.latest_cycle_id is None:
            return ()
        if self._repository.cycle(after.latest_cycle_id).phase.is_closed:
            return ()
        return (Consequence(after.latest_cycle_id, "kept"),)

    # --- writing ------------------------------------------------------------------------------

    def apply(
        self,
        actor: Actor,
        batch: Sequence[tuple[EmployeeState | None, EmployeeChange]],
        *,
        correlation_id: str,
    ) -> Outcome:
        """Write a batch of changes in one transaction; a change its rules refuse is left out.

        On a concurrency conflict (someone changed one of these employees or cycles meanwhile)
        the batch is decided again on fresh states, as every command handler does.
        """
        states = {change.employee_id: state for state, change in batch}
        for _attempt in range(MAX_ATTEMPTS):
            outcome = Outcome()
            now = self._clock()
            for _state, change in batch:
                if not change.commands:
                    continue
                try:
                    outcome.applied.append(self.plan(states[change.employee_id], change, now))
                except DomainError as refused:
                    outcome.refused.append((change, refused))
            if not outcome.applied:
                return outcome
            try:
                self._write(actor, outcome.applied, correlation_id)
            except ConcurrencyConflict:
                states = {employee_id: self.current(employee_id) for employee_id in states}
                continue
            return outcome
        raise DomainError("the employees kept changing while the import wrote them; try again")

    def _write(self, actor: Actor, planned: Sequence[Planned], correlation_id: str) -> None:
        if self._prepare_keys is not None:
            self._prepare_keys({item.change.employee_id for item in planned})
        writes = [write for item in planned for write in item.writes]
        events = sum(item.events for item in planned)
        self._commands.append_writes(
            writes,
            actor,
            idempotency_key=None,
            key_print=correlation_id,
            result=CommandResult(None, None, None, events),
            kind="import",
            correlation_id=correlation_id,
        )

    def handle(
        self,
        actor: Actor,
        employee_id: str,
        command: OrganisationCommand,
        *,
        idempotency_key: str | None = None,
    ) -> CommandResult:
        """One change by hand (CLI, HTTP), with the same cycle consequences as an import."""
        key_print = fingerprint(type(command).__name__, employee_id, command)
        if isinstance(command, HireEmployee) and command.employee_id != employee_id:
            raise DomainError("the employee id and the hired person differ", field="employee_id")
        manager_id = getattr(command, "manager_id", None)
        if manager_id is not None:
            self._refuse_loop(employee_id, manager_id)
        for _attempt in range(MAX_ATTEMPTS):
            state = self.current(employee_id)
            if state is None and not isinstance(command, HireEmployee):
                raise NotFound(f"no employee {employee_id}", field="employee_id")
            change = EmployeeChange(0, employee_id, (command,))
            planned = self.plan(state, change, self._clock())
            result = CommandResult(None, employee_id, None, planned.after.version)
            try:
                return self._commands.append_writes(
                    list(planned.writes),
                    actor,
                    idempotency_key=idempotency_key,
                    key_print=key_print,
                    result=result,
                    kind=type(command).__name__,
                )
            except ConcurrencyConflict:
                continue
        raise DomainError("the employee's record kept changing; try again")

    def _refuse_loop(self, employee_id: str, manager_id: str) -> None:
        """The new manager must exist and must not report, however indirectly, to the person."""
        chain = [employee_id]
        boss: str | None = manager_id
        while boss is not None:
            chain.append(boss)
            if boss == employee_id:
                raise DomainError(describe_loop(chain[:-1]), field="manager_id")
            if len(chain) > MAX_CHAIN:
                raise DomainError("the reporting line is too long to follow", field="manager_id")
            boss = self._repository.employee(boss, "manager_id").manager_id

    # --- reading ------------------------------------------------------------------------------

    def current(self, employee_id: str) -> EmployeeState | None:
        """The employee's state now, or None when the log does not know him."""
        try:
            return self._repository.employee(employee_id)
        except NotFound:
            return None


def _version(state: EmployeeState | None) -> int:
    return 0 if state is None else state.version


def _decide(
    employee_id: str, state: EmployeeState | None, command: OrganisationCommand, now: datetime
) -> list[Any]:
    if isinstance(command, HireEmployee):
        return list(decide_hire(state, command, now))
    if state is None:
        raise NotFound(f"no employee {employee_id}", field="employee_id")
    if isinstance(command, ChangeEmployeeDetails):
        return list(decide_details(state, command, now))
    if isinstance(command, ChangeManager):
        return list(decide_manager(state, command, now))
    if isinstance(command, RecordLeaving):
        return list(decide_leaving(state, command, now))
    raise TypeError(f"not an organisation command: {type(command).__name__}")


# --- keys for a batch -----------------------------------------------------------------------


class PrefetchedKeys:
    """A key ring that fetches (and creates) a whole batch's keys in one go.

    Sealing asks for one key per event; without this every new employee costs a transaction
    of its own just to create his key. Keys stay in memory for one batch only.
    """

    def __init__(self, keys: KeyRing, create_many: Callable[[set[str]], None] | None) -> None:
        self._keys = keys
        self._create_many = create_many
        self._cache: dict[str, bytes] = {}
        self._absent: set[str] = set()

    def prefetch(self, subject_ids: set[str]) -> None:
        """Load the subjects' keys, creating the missing ones; forgotten ones stay absent."""
        if not subject_ids:
            found: dict[str, bytes] = {}
        elif self._create_many is not None:
            # Create-if-missing first (existing and destroyed keys stay as they are), then one
            # read: two statements per batch whatever its mix of new and known people.
            self._create_many(subject_ids)
            found = self._keys.keys_for(subject_ids)
        else:
            found = self._keys.keys_for(subject_ids)
            for subject_id in subject_ids - set(found):
                key = self._keys.key_for(subject_id, create=True)
                if key is not None:
                    found[subject_id] = key
        self._cache = found
        self._absent = subject_ids - set(found)

    def key_for(self, subject_id: str, *, create: bool) -> bytes | None:
        if subject_id in self._cache:
            return self._cache[subject_id]
        if subject_id in self._absent:
            return None
        return self._keys.key_for(subject_id, create=create)

    def keys_for(self, subject_ids: set[str]) -> dict[str, bytes]:
        return self._keys.keys_for(subject_ids)

    def destroy(self, subject_id: str) -> bool:
        self._cache.pop(subject_id, None)
        return self._keys.destroy(subject_id)


def sql_key_creator(engine: Engine) -> Callable[[set[str]], None]:
    """Create many subjects' keys in one transaction; a key that exists (or was destroyed) stays.

    On PostgreSQL one statement over arrays (`unnest`): an executemany would still send a
    statement per key, and a multi-row VALUES is compiled anew every time. SQLite runs in
    process, where an executemany is cheap. This belongs in `events.sqlkeyring.SqlKeyRing`
    (reported); it lives here until it moves.
    """
    postgres = engine.dialect.name == "postgresql"
    rows_at_once = sqlite.insert(subject_keys_table).on_conflict_do_nothing(
        index_elements=["subject_id"]
    )

    def create(subject_ids: set[str]) -> None:
        now = datetime.now(UTC)
        ordered = sorted(subject_ids)  # the same lock order in every process
        keys = [new_key() for _ in ordered]
        with write_transaction(engine) as connection:
            if postgres:
                connection.execute(_KEYS_FROM_ARRAYS, {"ids": ordered, "keys": keys, "now": now})
            else:
                rows = [
                    {"subject_id": subject_id, "key": key, "created_at": now}
                    for subject_id, key in zip(ordered, keys, strict=True)
                ]
                connection.execute(rows_at_once, rows)

    return create


_KEYS_FROM_ARRAYS = text(
    "INSERT INTO subject_keys (subject_id, key, created_at) "
    "SELECT subject_id, key, :now FROM unnest(CAST(:ids AS text[]), CAST(:keys AS bytea[])) "
    "AS given(subject_id, key) ON CONFLICT (subject_id) DO NOTHING"
).bindparams(bindparam("now", type_=subject_keys_table.c.created_at.type))


def describe(
    change: EmployeeChange, state: EmployeeState | None, consequences: Sequence[Consequence] = ()
) -> str:
    """One line per changed employee, for a dry run: what changes, never names or addresses."""
    parts: list[str] = []
    for command in change.commands:
        if isinstance(command, HireEmployee):
            manager = f", manager {command.manager_id}" if command.manager_id else ""
            parts.append(f"new employee{manager}")
        elif isinstance(command, ChangeEmployeeDetails):
            parts.extend(_detail_changes(command, state))
        elif isinstance(command, ChangeManager):
            before = state.manager_id if state is not None else None
            parts.append(f"manager {before or '-'} → {command.manager_id or '-'}")
        else:
            parts.append(f"leaves on {command.left_on.isoformat()}")
    parts.extend(str(consequence) for consequence in consequences)
    return f"line {change.line}: {change.employee_id}: " + "; ".join(parts)


def _detail_changes(command: ChangeEmployeeDetails, state: EmployeeState | None) -> list[str]:
    parts = [f"{name} changed" for name in ("name", "email") if getattr(command, name) is not None]
    for name in ("language", "department", "function"):
        value = getattr(command, name)
        if value is not None:
            before = getattr(state, name, None) if state is not None else None
            parts.append(f"{name} {before or '-'} → {value or '-'}")
    return parts


# --- the organisation read back from the log ----------------------------------------------


def organisation(
    repository: Repository, as_of: datetime | None = None, *, batch_size: int = 2000
) -> dict[str, EmployeeState]:
    """Every person's state as the log has it (as it stood at `as_of`), by employee id.

    One walk through the log in batches; only employee streams are decoded and unsealed, a
    batch at a time (one key lookup per batch). Memory grows with the number of people, not
    with the length of the log.
    """
    states: dict[str, EmployeeState] = {}
    shared: dict[Any, Any] = {}
    for stored, event in _employee_events(repository, as_of, batch_size):
        employee_id = stored[len(EMPLOYEE_PREFIX) :]
        state = evolve_employee(states.get(employee_id), event)
        if isinstance(event, EmployeeRegistered | EmployeeDetailsChanged | ManagerChanged):
            state = _compact(state, shared)
        states[employee_id] = state
    return states


_NO_BUDGETS: Mapping[int, float] = MappingProxyType({})


def _compact(state: EmployeeState, shared: dict[Any, Any]) -> EmployeeState:
    """The state with values many people share stored once (departments, managers, ...).

    A whole organisation is held at once during an import; this halves what 100 000 people
    cost (measured in `bench/imports.py`).
    """
    return replace(
        state,
        manager_id=shared.setdefault(state.manager_id, state.manager_id),
        language=shared.setdefault(state.language, state.language),
        department=shared.setdefault(state.department, state.department),
        function=shared.setdefault(state.function, state.function),
        start_date=shared.setdefault(state.start_date, state.start_date),
        budgets=state.budgets or _NO_BUDGETS,
    )


def _employee_events(
    repository: Repository, as_of: datetime | None, batch_size: int
) -> Iterator[tuple[str, Any]]:
    pending: list[Any] = []
    for stored in repository.store.read_all(0, batch_size=batch_size):
        # Skip rather than stop at the first later event: clocks of several writers may differ.
        if as_of is not None and stored.recorded_at > as_of:
            continue
        if stored.stream_id.startswith(EMPLOYEE_PREFIX):
            pending.append(stored)
        if len(pending) >= batch_size:
            yield from _decoded(repository, pending)
            pending = []
    yield from _decoded(repository, pending)


def _decoded(repository: Repository, batch: Iterable[Any]) -> Iterator[tuple[str, Any]]:
    for stored, data in repository.unsealed(batch):
        yield stored.stream_id, decode(stored, data)
