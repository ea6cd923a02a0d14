"""One scheduler tick: sync the follow-ups, claim what is due, re-check it, fire it once.

Exactly once in effect: a row is claimed with a lease; before acting, the follow-up is checked
against the cycle's *current* state (moot ones are dropped); the firing is a `FollowUpFired`
event whose key the cycle refuses a second time; and the claim is closed together with its
outbox rows. A scheduler killed mid-way loses its lease; the next one finds the event already
recorded (or not) and finishes the same work.
"""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from handlers.actor import Actor, Role
from handlers.bootstrap import Popcycle
from scheduler.claims import Claim, claim_due, finish
from scheduler.sync import sync_all
from scheduler.tables import FIRED, MOOT, PENDING
from workflow.commands import MarkEvaluationDue, RecordFollowUp
from workflow.errors import DomainError
from workflow.followups import MARK_EVALUATION_DUE, RESTART, Calendar, followups_for
from workflow.phases import Phase
from workflow.policy import Policy
from workflow.state import CycleState

log = structlog.get_logger(__name__)
SYSTEM = Actor("scheduler", Role.SYSTEM)


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
    batch_size: int = 100

    def tick(self) -> int:
        """Sync, then fire everything due now; returns how many follow-ups fired."""
        app = self.app
        sync_all(app.engine, app.repository, self.policy, self.calendar)
        fired = 0
        while True:
            now = app.clock()
            claims = claim_due(app.engine, self.owner, now, self.lease, self.batch_size)
            for claim in claims:
                fired += self.fire(claim)
            if len(claims) < self.batch_size:
                return fired

    def fire(self, claim: Claim) -> int:
        """Fire one claimed follow-up unless it became moot; 1 if it fired now."""
        app = self.app
        state = app.repository.cycle(claim.cycle_id)
        already = claim.key in state.fired_followups
        if not already and not self._still_due(state, claim):
            finish(app.engine, claim, self.owner, MOOT)
            log.info("followup.moot", key=claim.key, kind=claim.kind)
            return 0
        now = app.clock()
        recipients = _people(state, claim.recipients)
        if not already:
            self._act(state, claim)
            try:
                app.commands.handle(
                    SYSTEM,
                    claim.cycle_id,
                    RecordFollowUp(claim.key, claim.kind, claim.due_at, recipients),
                )
            except DomainError as refused:  # fired by a scheduler whose lease ran out
                log.info("followup.already_fired", key=claim.key, reason=refused.message)
        late = max(0, int((now - claim.due_at).total_seconds()))
        rows = self._outbox(claim, recipients, now, late)
        closed = finish(
            app.engine, claim, self.owner, FIRED, fired_at=now, late_seconds=late, outbox=rows
        )
        log.info(
            "followup.fired",
            key=claim.key,
            kind=claim.kind,
            late_seconds=late,
            closed=closed,
            notifications=len(rows),
        )
        return 0 if already else 1

    def _still_due(self, state: CycleState, claim: Claim) -> bool:
        quadrant = None
        if state.phase is Phase.COMPLETED:
            person = self.app.repository.employee(state.employee_id)
            if person.left_on is not None or person.forgotten:
                return False  # nobody to restart a cycle for
            quadrant = person.quadrant
        current = followups_for(state, self.policy, self.calendar, quadrant)
        return any(followup.key == claim.key for followup in current)

    def _act(self, state: CycleState, claim: Claim) -> None:
        """What a follow-up does besides notifying: move to evaluation, or restart."""
        commands = self.app.commands
        try:
            if claim.action == MARK_EVALUATION_DUE:
                commands.handle(SYSTEM, state.cycle_id, MarkEvaluationDue())
            elif claim.action == RESTART:
                commands.restart(SYSTEM, state.cycle_id)
        except DomainError as refused:  # done already (e.g. by an earlier, killed scheduler)
            log.info("followup.action_skipped", key=claim.key, reason=refused.message)

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


def _people(state: CycleState, roles: tuple[str, ...]) -> tuple[str, ...]:
    """Roles resolved to the people who hold them in this cycle now ("hr" stays "hr")."""
    who = {"employee": state.employee_id, "manager": state.manager_id, "hr": "hr"}
    return tuple(dict.fromkeys(who[role] for role in roles if role in who))
