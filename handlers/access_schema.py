"""Tables of the access side: bearer tokens and calendar links (hashes only, never secrets)."""

from __future__ import annotations

from sqlalchemy import CHAR, Column, String, Table

from events.schema import UTCDateTime, event_metadata

access_tokens_table = Table(
    "access_tokens",
    event_metadata,
    Column("token_hash", CHAR(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("subject_id", String(64), nullable=True),
    Column("label", String(200), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
)

calendar_links_table = Table(
    "calendar_links",
    event_metadata,
    Column("person_id", String(64), primary_key=True),
    Column("secret_hash", CHAR(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
