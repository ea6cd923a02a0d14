"""Every wired process runs with the raised young-generation threshold (handlers/gc_tuning.py):
the rebuild's measured 1.2x depends on it, so losing the call in `bootstrap` must show."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from events.migrate import upgrade
from handlers.bootstrap import bootstrap
from handlers.gc_tuning import YOUNG_THRESHOLD
from handlers.settings import Settings


@pytest.fixture
def default_thresholds() -> Iterator[tuple[int, int, int]]:
    """CPython's defaults for the test, whatever an earlier test left; restored after it."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_bootstrap_raises_only_the_young_threshold(
    tmp_path: Path, default_thresholds: tuple[int, int, int]
) -> None:
    url = f"sqlite:///{tmp_path / 'pop.sqlite3'}"
    upgrade(url)
    app = bootstrap(Settings.from_env({"POP_DATABASE_URL": url}))
    try:
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *default_thresholds[1:])
        assert gc.isenabled()
    finally:
        app.close()
