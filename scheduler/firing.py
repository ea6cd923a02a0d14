"""One scheduler tick: sync the follow-ups, claim what is due, re-check it, fire it once.

Exactly once in effect: a row is claimed with a lease; before acting, the follow-up is checked
against the cycle's *current* state (moot ones are dropped); the firing is a `FollowUpFired`
event whose key the cycle refuses a second time; and the claim is closed together with its
outbox rows. A scheduler killed mid-way loses its lease; the next one finds the event already
recorded (or not) and finishes the same work. Claims are fired in batches (`fire_batch`): the
same checks, with one read, one append and one close per batch instead of per follow-up.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from events.domain import CycleEvent
from events.errors import ConcurrencyConflict
from handlers.actor import Actor, Role
from handlers.bootstrap import Popcycle
from handlers.commands import CommandResult, Write
from handlers.repository import cycle_stream
from scheduler.claims import Claim, Closing, claim_due, finish, finish_all
from scheduler.cycles import read_cycles
from scheduler.sync import CYCLE_PREFIX, sync_all
from scheduler.tables import FIRED, MOOT, PENDING
from workflow.commands import MarkEvaluationDue, RecordFollowUp
from workflow.decide import decide
from workflow.errors import DomainError
from workflow.followups import MARK_EVALUATION_DUE, REMIND, RESTART, Calendar, followups_for
from workflow.phases import Phase
from workflow.policy import Policy
from workflow.state import CycleState, evolve

log = structlog.get_logger(__name__)
SYSTEM = Actor("scheduler", Role.SYSTEM)
#: Judge-and-append rounds for one follow-up before its claim is left to lapse.
FIRE_ATTEMPTS = 3


def new_owner() -> str:
    """A name for this scheduler process that no other process shares."""
    return f"{socket.gethostname()[:30]}-{uuid.uuid4().hex[:12]}"


@dataclass
class FollowUpScheduler:
    """Fires follow-ups for one process; any number of these may run on one database."""

    app: Popcycle
    policy: Policy
    calendar: Calendar
    owner: str = field(default_factory=new_owner)
    lease: timedelta = timedelta(minutes=5)
    batch_size: int = 500  # a batch fires in about a second: well within one lease
    #: Called after notifications were queued in the outbox (committed): nudges delivery.
    on_queued: Callable[[], object] | None = None

    def tick(self) -> int:
        """Sync, then fire everything due now; returns how many follow-ups fired."""
        app = self.app
        sync_all(app.engine, app.repository, self.policy, self.calendar)
        fired = 0
        while True:
            now = app.clock()
            claims = claim_due(app.engine, self.owner, now, self.lease, self.batch_size)
            fired += self.fire_batch(claims)
            if len(claims) < self.batch_size:
                return fired

    def fire_batch(self, claims: Sequence[Claim]) -> int:
        """Fire claimed follow-ups together; returns how many fired now.

        Reminders (most follow-ups) cost three transactions per batch, not three per
        follow-up: one read of all their cycles, one append of every `FollowUpFired` at the
        versions the cycles were judged on (so a key fired meanwhile, or any other change,
        conflicts instead of firing twice), one transaction closing the claims with their
        outbox rows. A cycle that conflicts, a refusal, or a follow-up that acts on the cycle
        (evaluation due, restart) goes one by one (`fire`), judged afresh.
        """
        app = self.app
        one_by_one = [claim for claim in claims if claim.action != REMIND]
        by_cycle: dict[str, list[Claim]] = {}
        for claim in claims:
            if claim.action == REMIND:
                by_cycle.setdefault(claim.cycle_id, []).append(claim)
        now = app.clock()
        states = read_cycles(app.engine, app.repository, by_cycle)
        judged: dict[str, _Judged] = {}
        for cycle_id, group in by_cycle.items():
            if cycle_id in states:
                judged[cycle_id] = self._judge(states[cycle_id], group, now)
            else:
                one_by_one.extend(group)
        while writes := [j.write for j in judged.values() if j.write is not None]:
            try:
                app.commands.append_writes(
                    writes,
                    SYSTEM,
                    idempotency_key=None,
                    key_print="",
                    result=CommandResult(None, None, None, 0),
                    kind="RecordFollowUp",
                )
                break
            except ConcurrencyConflict as conflict:  # that cycle moved since it was read
                moved = judged.pop(conflict.stream_id.removeprefix(CYCLE_PREFIX))
                one_by_one.extend(moved.claims)
                log.info("followup.batch_conflict", stream=conflict.stream_id)
        closings = [closing for j in judged.values() for closing in j.closings]
        closed = finish_all(app.engine, self.owner, closings)
        self._queued([c for c in closings if c.claim.key in closed])
        for j in judged.values():
            one_by_one.extend(j.deferred)
        fresh = sum(j.fresh for j in judged.values())
        return fresh + sum(self.fire(claim) for claim in one_by_one)

    def _judge(self, state: CycleState, group: list[Claim], now: datetime) -> _Judged:
        """Decide one cycle's claims of a batch on its state as read."""
        judged = _Judged(claims=group)
        start = state
        events: list[CycleEvent] = []
        for claim in group:
            already = claim.key in state.fired_followups
            if not already and not self._still_due(start, claim):
                judged.closings.append(Closing(claim, MOOT))
                continue
            recipients = _people(state, claim.recipients)
            if not already:
                command = RecordFollowUp(claim.key, claim.kind, claim.due_at, recipients)
                try:
                    new = decide(state, command, now)
                except DomainError:
                    judged.deferred.append(claim)  # judged again by `fire`, refusal logged
                    continue
                for event in new:
                    state = evolve(state, event)
                events.extend(new)
                judged.fresh += 1
            judged.closings.append(self._fired(claim, recipients, now))
        if events:
            stream = cycle_stream(start.cycle_id)
            judged.write = Write(stream, events, start.version, start.employee_id)
        return judged

    def fire(self, claim: Claim) -> int:
        """Fire one claimed follow-up unless it became moot; 1 if it fired now.

        What the follow-up does (move to evaluation, restart) and its `FollowUpFired` are one
        append at the version the cycle was judged on: another scheduler (whose lease ran out)
        sees both or neither, never a moved cycle without its firing, which it would take for
        moot. A conflict means the cycle moved meanwhile: judge it again on the log.
        """
        app = self.app
        for _attempt in range(FIRE_ATTEMPTS):
            state = app.repository.cycle(claim.cycle_id)
            already = claim.key in state.fired_followups
            if not already and not self._still_due(state, claim):
                finish(app.engine, claim, self.owner, MOOT)
                log.info("followup.moot", key=claim.key, kind=claim.kind)
                return 0
            now = app.clock()
            recipients = _people(state, claim.recipients)
            if not already:
                record = RecordFollowUp(claim.key, claim.kind, claim.due_at, recipients)
                try:
                    self._act_and_record(state, claim, record, now)
                except ConcurrencyConflict:
                    continue
                except DomainError as refused:
                    log.info("followup.refused", key=claim.key, reason=refused.message)
            closing = self._fired(claim, recipients, now)
            closed = finish_all(app.engine, self.owner, [closing])
            self._queued([closing] if closed else [])
            return 0 if already else 1
        log.info("followup.kept_moving", key=claim.key)  # its lease runs out; fired later
        return 0

    def _act_and_record(
        self, state: CycleState, claim: Claim, record: RecordFollowUp, now: datetime
    ) -> None:
        """Append what the follow-up does together with its firing, at `state.version`."""
        commands = self.app.commands
        if claim.action == RESTART:
            try:
                commands.restart(
                    SYSTEM, state.cycle_id, expected_version=state.version, record=record
                )
                return
            except DomainError as refused:  # e.g. restarted by hand already: only record
                log.info("followup.action_skipped", key=claim.key, reason=refused.message)
        events: list[CycleEvent] = []
        if claim.action == MARK_EVALUATION_DUE:
            try:
                events = decide(state, MarkEvaluationDue(), now)
            except DomainError as refused:  # e.g. moved to evaluation by hand already
                log.info("followup.action_skipped", key=claim.key, reason=refused.message)
        kind = claim.action if events else type(record).__name__
        after = state
        for event in events:
            after = evolve(after, event)
        events += decide(after, record, now)
        commands.append_writes(
            [Write(cycle_stream(state.cycle_id), events, state.version, state.employee_id)],
            SYSTEM,
            idempotency_key=None,
            key_print="",
            result=CommandResult(state.cycle_id, state.employee_id, after.phase.value, 0),
            kind=kind,
        )

    def _fired(self, claim: Claim, recipients: tuple[str, ...], now: datetime) -> Closing:
        late = max(0, int((now - claim.due_at).total_seconds()))
        rows = self._outbox(claim, recipients, now, late)
        return Closing(claim, FIRED, now, late, tuple(rows))

    def _queued(self, closed: Sequence[Closing]) -> None:
        """Log what was closed, and nudge delivery if notifications were queued."""
        for closing in closed:
            claim = closing.claim
            if closing.status == MOOT:
                log.info("followup.moot", key=claim.key, kind=claim.kind)
            else:
                log.info(
                    "followup.fired",
                    key=claim.key,
                    kind=claim.kind,
                    late_seconds=closing.late_seconds,
                    notifications=len(closing.outbox),
                )
        if self.on_queued is not None and any(closing.outbox for closing in closed):
            self.on_queued()

    def _still_due(self, state: CycleState, claim: Claim) -> bool:
        quadrant = None
        if state.phase is Phase.COMPLETED:
            person = self.app.repository.employee(state.employee_id)
            if person.left_on is not None or person.forgotten:
                return False  # nobody to restart a cycle for
            quadrant = person.quadrant
        current = followups_for(state, self.policy, self.calendar, quadrant)
        return any(followup.key == claim.key for followup in current)

    def _outbox(
        self, claim: Claim, recipients: tuple[str, ...], now: datetime, late: int
    ) -> list[dict[str, Any]]:
        channels = [(person, "email") for person in recipients]
        if self.app.settings.webhook_url:
            channels.append(("webhook", "webhook"))
        return [
            {
                "message_id": f"{claim.key}:{recipient}",
                "followup_key": claim.key,
                "cycle_id": claim.cycle_id,
                "kind": claim.kind,
                "channel": channel,
                "recipient": recipient,
                "due_at": claim.due_at,
                "late_seconds": late,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
            }
            for recipient, channel in channels
        ]


@dataclass
class _Judged:
    """One cycle's part of a batch: its append, how its claims close, what goes one by one."""

    claims: list[Claim]
    write: Write | None = None
    closings: list[Closing] = field(default_factory=list)
    deferred: list[Claim] = field(default_factory=list)
    fresh: int = 0


def _people(state: CycleState, roles: tuple[str, ...]) -> tuple[str, ...]:
    """Roles resolved to the people who hold them in this cycle now ("hr" stays "hr")."""
    who = {"employee": state.employee_id, "manager": state.manager_id, "hr": "hr"}
    return tuple(dict.fromkeys(who[role] for role in roles if role in who))
