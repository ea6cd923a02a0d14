"""The read side's knobs from the environment: a bad value is a SettingsError naming the
variable (the CLI prints it as one line and exits non-zero), never an internal error."""

from __future__ import annotations

import pytest

from handlers.projections.service import ProjectionSettings
from handlers.settings import SettingsError


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("POP_PROJECTION_ASIDE", "-3"),
        ("POP_PROJECTION_ASIDE", "lots"),
        ("POP_PROJECTION_BATCH", "0"),
        ("POP_SWEEP_SECONDS", "soon"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        ProjectionSettings.from_env()


def test_aside_zero_means_never(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POP_PROJECTION_ASIDE", "0")
    assert ProjectionSettings.from_env().aside_after is None
    monkeypatch.setenv("POP_PROJECTION_ASIDE", "1000")
    assert ProjectionSettings.from_env().aside_after == 1000
