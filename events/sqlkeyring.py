"""The key ring in its own table, beside (never inside) the log.

A destroyed key leaves its row with `key = NULL` and `destroyed_at` set, so the erasure itself
stays on record and a forgotten subject never silently gets a fresh key.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    LargeBinary,
    Select,
    String,
    Table,
    any_,
    bindparam,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError

from events.database import write_transaction
from events.schema import UTCDateTime, event_metadata
from events.sealing import new_key

subject_keys_table = Table(
    "subject_keys",
    event_metadata,
    Column("subject_id", String(64), primary_key=True),
    Column("key", LargeBinary, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("destroyed_at", UTCDateTime(), nullable=True),
)


def _keys_query(postgres: bool) -> Select[Any]:
    """The live keys of some subjects, the subjects given as one parameter (an array on
    PostgreSQL, a JSON list on SQLite): one statement, and one round trip, however many there
    are — a projection batch asks for hundreds. Built once per dialect: an `in_()` built per
    call leaves a reference cycle per call (its bound parameter) for the garbage collector."""
    c = subject_keys_table.c
    if postgres:
        wanted = c.subject_id == any_(bindparam("subject_ids", type_=postgresql.ARRAY(String)))
    else:
        each = func.json_each(bindparam("subject_ids"))
        listed: Select[Any] = select(literal_column("value")).select_from(each)
        wanted = c.subject_id.in_(listed)
    return select(c.subject_id, c.key).where(wanted, c.key.is_not(None))


_KEYS_QUERIES = {True: _keys_query(postgres=True), False: _keys_query(postgres=False)}


class SqlKeyRing:
    """Keys per subject in `subject_keys`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # A read is one statement: on PostgreSQL run it without BEGIN/COMMIT (as the store does).
        postgres = engine.dialect.name == "postgresql"
        self._reader = (
            engine.execution_options(isolation_level="AUTOCOMMIT") if postgres else engine
        )
        self._keys_query = _KEYS_QUERIES[postgres]
        self._postgres = postgres

    def key_for(self, subject_id: str, *, create: bool) -> bytes | None:
        table = subject_keys_table
        query = select(table.c.key, table.c.destroyed_at).where(table.c.subject_id == subject_id)
        with self._reader.connect() as connection:
            row = connection.execute(query).first()
        if row is not None:
            return row.key  # type: ignore[no-any-return]
        if not create:
            return None
        key = new_key()
        try:
            with write_transaction(self._engine) as connection:
                connection.execute(
                    table.insert().values(
                        subject_id=subject_id, key=key, created_at=datetime.now(UTC)
                    )
                )
        except IntegrityError:  # another process created it first: use theirs
            return self.key_for(subject_id, create=False)
        return key

    def keys_for(self, subject_ids: set[str]) -> dict[str, bytes]:
        if not subject_ids:
            return {}
        wanted = sorted(subject_ids)
        listed: object = wanted if self._postgres else json.dumps(wanted)
        with self._reader.connect() as connection:
            rows = connection.execute(self._keys_query, {"subject_ids": listed})
            return {row.subject_id: row.key for row in rows}

    def destroy(self, subject_id: str) -> bool:
        table = subject_keys_table
        now = datetime.now(UTC)
        with write_transaction(self._engine) as connection:
            done = connection.execute(
                update(table)
                .where(table.c.subject_id == subject_id, table.c.key.is_not(None))
                .values(key=None, destroyed_at=now)
            )
            if done.rowcount:
                return True
            exists = connection.execute(
                select(table.c.subject_id).where(table.c.subject_id == subject_id)
            ).first()
            if exists is None:  # never had data sealed: still record that it must never get a key
                connection.execute(
                    table.insert().values(
                        subject_id=subject_id, key=None, created_at=now, destroyed_at=now
                    )
                )
            return False
