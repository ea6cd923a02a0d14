"""Configuration from the environment (DESIGN.md §4): one place, read once, passed around."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from events.group_commit import group_commit_enabled

DEFAULT_DATABASE_FILE = "popcycle.sqlite3"


class SettingsError(ValueError):
    """A configuration value that cannot be used; names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything popcycle reads from its environment."""

    database_url: str
    broker_url: str | None
    smtp_url: str | None
    timezone: ZoneInfo
    language: str
    frozen_now: datetime | None  # POP_NOW: a fixed clock for demos, simulations and tests
    policy_file: str | None = None  # POP_POLICY_FILE: the organisation's follow-up policy
    hr_email: str | None = None  # POP_HR_EMAIL: where escalations to HR go
    mail_from: str = "popcycle@localhost"  # POP_MAIL_FROM
    webhook_url: str | None = None  # POP_WEBHOOK_URL: HR system or chat, JSON posts
    webhook_secret: str | None = None  # POP_WEBHOOK_SECRET: HMAC key for the signature
    clock_file: str | None = None  # POP_CLOCK_FILE: a clock moved by a file (soak tests)
    group_commit: bool = False  # POP_GROUP_COMMIT: many threads' appends share transactions

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        database_url = env.get("POP_DATABASE_URL") or (
            f"sqlite:///{Path.cwd() / DEFAULT_DATABASE_FILE}"
        )
        zone_name = env.get("POP_TIMEZONE", "Europe/Amsterdam")
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise SettingsError(f"POP_TIMEZONE: unknown time zone {zone_name!r}") from error
        language = env.get("POP_LANGUAGE", "nl")
        if language not in ("nl", "en"):
            raise SettingsError(f"POP_LANGUAGE: must be nl or en, not {language!r}")
        frozen = env.get("POP_NOW")
        frozen_now = None
        if frozen:
            try:
                frozen_now = datetime.fromisoformat(frozen)
            except ValueError as error:
                raise SettingsError(f"POP_NOW: not an ISO 8601 time: {frozen!r}") from error
            if frozen_now.tzinfo is None:
                frozen_now = frozen_now.replace(tzinfo=zone)
        clock_file = env.get("POP_CLOCK_FILE") or None
        if clock_file and frozen_now:
            raise SettingsError("POP_CLOCK_FILE: set either it or POP_NOW, not both")
        try:
            group_commit = group_commit_enabled(env)
        except ValueError as error:
            raise SettingsError(str(error)) from error
        return cls(
            database_url=database_url,
            broker_url=env.get("POP_BROKER_URL") or None,
            smtp_url=env.get("POP_SMTP_URL") or None,
            timezone=zone,
            language=language,
            frozen_now=frozen_now,
            policy_file=env.get("POP_POLICY_FILE") or None,
            hr_email=env.get("POP_HR_EMAIL") or None,
            mail_from=env.get("POP_MAIL_FROM") or "popcycle@localhost",
            webhook_url=env.get("POP_WEBHOOK_URL") or None,
            webhook_secret=env.get("POP_WEBHOOK_SECRET") or None,
            clock_file=clock_file,
            group_commit=group_commit,
        )
