"""`budgets`: the personal development budget (POB, seed 004 §2.5.2) per employee and year.

- **allowance**: what HR granted for the year (`BudgetAllowanceSet`; the latest one counts).
- **committed**: the budget (`support.budget_eur`) of the goals in the development contract —
  the plan version both sides signed — counted in the year the contract came into force (UTC).
  While a revised plan awaits signatures the earlier contract still binds, so its figures stay.
  A cancelled cycle releases what it had not spent.
- **spent**: the part of the committed budget whose activity is finished: the goal was reported
  done in a progress review, or evaluated (achieved or missed — the course was followed either
  way). The log records no invoices; this is the best the events say.
- **over_committed**: committed above the allowance (no allowance counts as zero: money was
  promised without a budget).

Each cycle's share is kept on its `cycles` row and moved by the fold event by event (never from
the state at the end of a batch: a rebuild cuts the log into other batches and must get the
same figures). Amounts are whole cents: a batch takes back a cycle's earlier share and adds its
new one, and integer sums do not depend on the order or batching of the events (float sums
would). A row exists while it has an allowance or a non-zero amount.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Integer, MetaData, String, Table

from handlers.projections.cycles import CycleFold, cents
from handlers.projections.rows import Key, Row, RowSet
from handlers.projections.schema import ID_LENGTH

#: One cycle's share: (year, committed cents, spent cents); year None before any contract.
Share = tuple[int | None, int, int]


def budgets_table(metadata: MetaData, suffix: str = "") -> Table:
    return Table(
        f"budgets{suffix}",
        metadata,
        Column("employee_id", String(ID_LENGTH), primary_key=True),
        Column("year", Integer, primary_key=True, autoincrement=False),
        Column("allowance_cents", BigInteger, nullable=True),
        Column("committed_cents", BigInteger, nullable=False),
        Column("spent_cents", BigInteger, nullable=False),
        Column("over_committed", Boolean, nullable=False),
    )


def stored_share(cycle: CycleFold) -> Share:
    """The cycle's share as its row holds it (the fold keeps it current: `cycles.settle_share`)."""
    row = cycle.row
    return row["pob_year"], row["pob_committed_cents"], row["pob_spent_cents"]


class Ledger:
    """The budget rows one batch touches, and the changes to make to them."""

    def __init__(self, rows: RowSet) -> None:
        self.rows = rows
        self._allowances: dict[Key, int] = {}
        self._deltas: dict[Key, list[int]] = {}

    def set_allowance(self, employee_id: str, year: int, amount_eur: float) -> None:
        self._allowances[(employee_id, year)] = cents(amount_eur)

    def move(self, employee_id: str, before: Share, after: Share) -> None:
        """Take back the cycle's earlier share and add its new one."""
        if before == after:
            return
        for (year, committed, spent), sign in ((before, -1), (after, 1)):
            if year is None:
                continue
            delta = self._deltas.setdefault((employee_id, year), [0, 0])
            delta[0] += sign * committed
            delta[1] += sign * spent

    def keys(self) -> set[Key]:
        return set(self._allowances) | set(self._deltas)

    def settle(self) -> None:
        """Load the rows the batch touched, apply the allowances and deltas, write them."""
        keys = self.keys()
        self.rows.load("employee_id", {employee_id for employee_id, _year in keys})
        for key in keys:
            row = self.rows.get(key) or _empty(*key)
            if key in self._allowances:
                row["allowance_cents"] = self._allowances[key]
            committed, spent = self._deltas.get(key, (0, 0))
            row["committed_cents"] += committed
            row["spent_cents"] += spent
            row["over_committed"] = row["committed_cents"] > (row["allowance_cents"] or 0)
            if (
                row["allowance_cents"] is None
                and not row["committed_cents"]
                and not row["spent_cents"]
            ):
                self.rows.remove(key)
            else:
                self.rows.put(row)
        self.rows.flush()


def _empty(employee_id: str, year: int) -> Row:
    return {
        "employee_id": employee_id,
        "year": year,
        "allowance_cents": None,
        "committed_cents": 0,
        "spent_cents": 0,
        "over_committed": False,
    }
