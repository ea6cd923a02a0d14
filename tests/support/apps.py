"""A wired popcycle on a real database, for integration tests of the outer packages."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from events.migrate import upgrade
from handlers.bootstrap import Popcycle, bootstrap
from handlers.settings import Settings
from tests.support.clock import FakeClock
from tests.support.postgres import new_database

_numbers = itertools.count(1)


def database_url(kind: str, tmp_path: Path, postgres_url: str | None) -> str:
    """A fresh, migrated database: a SQLite file, or a new database on the test PostgreSQL."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'popcycle.sqlite3'}"
    else:
        assert postgres_url is not None
        url = new_database(
            postgres_url, f"t{next(_numbers)}_{tmp_path.name[-20:].lower()}".replace("-", "_")
        )
    upgrade(url)
    return url


@contextmanager
def wired(url: str, clock: FakeClock, **env: str) -> Iterator[Popcycle]:
    """`bootstrap` on `url` with a fake clock and extra POP_* settings."""
    settings: Mapping[str, str] = {"POP_DATABASE_URL": url, **env}
    app = bootstrap(Settings.from_env(settings), clock)
    try:
        yield app
    finally:
        app.close()
