"""The one shape every benchmark hands to `python -m bench report`.

Each `bench.*` module prints its own detailed tables for a person; given `--json FILE` it also
writes its headline figures there as a list of `Figure`s, which the report gathers into one
table. A figure is always a rate measured next to its ceiling (and, where there is one, the
`eventsourcing` peer) in the same run, so the ratios mean something on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Figure:
    """One row of the report. `popcycle`, `ceiling` and `peer` are in `unit`; higher is better
    unless `lower_is_better` (latencies)."""

    figure: str
    backend: str
    unit: str
    popcycle: float
    ceiling: float
    peer: float | None = None
    lower_is_better: bool = False
    note: str = ""

    def _ratio(self, other: float | None) -> float | None:
        if other is None or other == 0 or self.popcycle == 0:
            return None
        return other / self.popcycle if self.lower_is_better else self.popcycle / other

    @property
    def ratio_to_ceiling(self) -> float | None:
        """popcycle as a share of the ceiling: 1.0 is as fast as the ceiling, 0.5 half as fast."""
        return self._ratio(self.ceiling)

    @property
    def ratio_to_peer(self) -> float | None:
        """Above 1.0: popcycle is ahead of the peer."""
        return self._ratio(self.peer)


def backend_name(kind: str) -> str:
    return {"sqlite": "SQLite", "postgres": "PostgreSQL"}.get(kind, kind)


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        type=Path,
        metavar="FILE",
        help="also write the headline figures to FILE (for `python -m bench report`)",
    )


def write_figures(path: Path | None, figures: list[Figure]) -> None:
    """Write `figures` to `path` (if given) as JSON; appends to what an earlier call wrote, so
    a module may write per database as it goes."""
    if path is None:
        return
    existing = read_figures(path) if path.exists() else []
    rows = [asdict(each) for each in existing + figures]
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")


def read_figures(path: Path) -> list[Figure]:
    return [Figure(**row) for row in json.loads(path.read_text(encoding="utf-8"))]
