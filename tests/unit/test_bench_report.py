"""The benchmark report's arithmetic: ratios read the right way round for rates and latencies."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.figures import Figure, read_figures, write_figures
from bench.report import main, markdown


def test_a_rate_is_a_share_of_its_ceiling_and_a_multiple_of_its_peer() -> None:
    append = Figure("append", "PostgreSQL", "events/s", 640.0, 800.0, 320.0)
    assert append.ratio_to_ceiling == pytest.approx(0.8)
    assert append.ratio_to_peer == pytest.approx(2.0)


def test_a_latency_counts_lower_as_better() -> None:
    page = Figure("status page", "SQLite", "ms", 3.0, 1.0, lower_is_better=True)
    assert page.ratio_to_ceiling == pytest.approx(1 / 3)
    assert page.ratio_to_peer is None


def test_the_table_has_a_row_per_figure_and_a_row_per_failure() -> None:
    figures = [Figure("append", "SQLite", "events/s", 2000.0, 2500.0, 1000.0, note="median of 3")]
    text = markdown(figures, {"web": "exit 1: boom"}, employees=2000)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| figure | backend | popcycle | ceiling | ratio to ceiling |")
    assert "| append | SQLite | 2,000 events/s | 2,500 events/s | 0.80 | 1,000 | 2.00 |" in rows
    assert any("bench.web **failed**" in row and "boom" in row for row in rows)
    assert "- append (SQLite): median of 3" in text


def test_figures_written_by_several_calls_add_up(tmp_path: Path) -> None:
    path = tmp_path / "figures.json"
    first = Figure("a", "SQLite", "x/s", 1.0, 2.0)
    second = Figure("b", "PostgreSQL", "x/s", 3.0, 4.0, 5.0)
    write_figures(path, [first])
    write_figures(path, [second])
    write_figures(None, [first])  # no --json: nothing written anywhere
    assert read_figures(path) == [first, second]


def test_a_too_small_organisation_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--employees", "5"])
    assert stopped.value.code == 2
    assert "--employees must be at least 100" in capsys.readouterr().err
