"""POP_CLOCK_FILE: one clock that a soak test moves for several processes by replacing a file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from handlers.bootstrap import clock_for
from handlers.clock import FileClock, write_clock_file
from handlers.settings import Settings, SettingsError

START = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def test_every_reader_of_the_file_sees_a_move(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    write_clock_file(path, START)
    first, second = FileClock(path), FileClock(path)
    assert first() == second() == START
    write_clock_file(path, START + timedelta(days=3))
    assert first() == second() == START + timedelta(days=3)


def test_the_clock_never_goes_back_even_if_the_file_does(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    write_clock_file(path, START + timedelta(hours=1))
    clock = FileClock(path)
    assert clock() == START + timedelta(hours=1)
    write_clock_file(path, START)
    assert clock() == START + timedelta(hours=1)


def test_a_time_without_an_offset_is_refused_by_file_name(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    path.write_text("2027-01-04T09:00:00", encoding="utf-8")
    with pytest.raises(ValueError, match="needs an offset"):
        FileClock(path)()


def test_settings_choose_the_file_clock_and_refuse_it_beside_pop_now(tmp_path: Path) -> None:
    path = tmp_path / "clock"
    write_clock_file(path, START)
    settings = Settings.from_env({"POP_CLOCK_FILE": str(path)})
    assert clock_for(settings)() == START
    with pytest.raises(SettingsError, match="POP_CLOCK_FILE"):
        Settings.from_env({"POP_CLOCK_FILE": str(path), "POP_NOW": START.isoformat()})
