"""Bearer tokens and secret calendar links: issued once, stored only as SHA-256 hashes.

A token is a random secret handed to a person (or HR's automation); the database keeps its
hash, so a leaked database backup gives nobody access. The same holds for the per-person
calendar link, whose secret sits in a URL that calendar apps poll without any login.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, bindparam, insert, select, update

from events.database import read_transaction, write_transaction
from handlers.access_schema import access_tokens_table, calendar_links_table
from handlers.actor import Actor, Role
from handlers.clock import Clock
from workflow.errors import DomainError

#: Roles a token may carry; `system` is for the scheduler and workers, never handed out.
TOKEN_ROLES = (Role.HR, Role.MANAGER, Role.EMPLOYEE)
_TOKEN_PREFIX = "pop_"  # noqa: S105 - a marker that makes leaked tokens greppable
#: Every request of the status page checks its token: built once (building a statement costs
#: more than running it).
_BY_HASH = select(access_tokens_table.c.role, access_tokens_table.c.subject_id).where(
    access_tokens_table.c.token_hash == bindparam("hashed"),
    access_tokens_table.c.revoked_at.is_(None),
)


def token_hash(secret: str) -> str:
    """The stored form of a token or link secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid token belongs to: HR (optionally a named person), a manager or an employee."""

    role: Role
    subject_id: str | None
    token_hash: str

    @property
    def actor(self) -> Actor:
        """The person recorded on the events this principal causes.

        An HR token without a subject is still told apart from other HR tokens in the audit
        trail by a short prefix of its hash (which reveals nothing of the secret).
        """
        return Actor(self.subject_id or f"hr-{self.token_hash[:8]}", self.role)


class TokenStore:
    """Issue, check and revoke bearer tokens and calendar links."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def create(self, role: Role, subject_id: str | None, label: str | None = None) -> str:
        """A new token for `role`; managers and employees must name whose token it is."""
        if role not in TOKEN_ROLES:
            raise DomainError(f"role must be hr, manager or employee, not {role}", field="role")
        if role is not Role.HR and not subject_id:
            raise DomainError(
                f"a {role.value} token needs --subject: the person it belongs to", field="subject"
            )
        secret = _TOKEN_PREFIX + secrets.token_urlsafe(32)
        with write_transaction(self._engine) as connection:
            connection.execute(
                insert(access_tokens_table).values(
                    token_hash=token_hash(secret),
                    role=role.value,
                    subject_id=subject_id,
                    label=label,
                    created_at=self._clock(),
                )
            )
        return secret

    def authenticate(self, secret: str) -> Principal | None:
        """The principal of a valid, unrevoked token; None for anything else."""
        return self.by_hash(token_hash(secret))

    def by_hash(self, hashed: str) -> Principal | None:
        """Look a token up by its hash (the status page's session keeps only the hash)."""
        with read_transaction(self._engine) as connection:
            row = connection.execute(_BY_HASH, {"hashed": hashed}).first()
        if row is None:
            return None
        return Principal(Role(row.role), row.subject_id, hashed)

    def revoke(self, secret_or_hash: str) -> bool:
        """Revoke a token (given as itself or as its hash); False if there was none."""
        hashed = secret_or_hash if len(secret_or_hash) == 64 else token_hash(secret_or_hash)
        with write_transaction(self._engine) as connection:
            done = connection.execute(
                update(access_tokens_table)
                .where(
                    access_tokens_table.c.token_hash == hashed,
                    access_tokens_table.c.revoked_at.is_(None),
                )
                .values(revoked_at=self._clock())
            )
        return bool(done.rowcount)

    # --- calendar links ---------------------------------------------------------------------

    def create_calendar_link(self, person_id: str) -> str:
        """A new secret for the person's calendar feed; any earlier link stops working."""
        secret = secrets.token_urlsafe(24)
        values = {"secret_hash": token_hash(secret), "created_at": self._clock()}
        with write_transaction(self._engine) as connection:
            changed = connection.execute(
                update(calendar_links_table)
                .where(calendar_links_table.c.person_id == person_id)
                .values(**values)
            )
            if not changed.rowcount:
                connection.execute(
                    insert(calendar_links_table).values(person_id=person_id, **values)
                )
        return secret

    def calendar_link_valid(self, person_id: str, secret: str) -> bool:
        """Whether `secret` opens `person_id`'s feed (compared in constant time)."""
        with read_transaction(self._engine) as connection:
            stored = connection.execute(
                select(calendar_links_table.c.secret_hash).where(
                    calendar_links_table.c.person_id == person_id
                )
            ).scalar()
        return stored is not None and hmac.compare_digest(stored, token_hash(secret))
