"""The `cycles` projection: the cycles, goals, due and budgets read models, kept together.

They share one checkpoint because they are one fold: a goal's status decides the cycle's due
dates and the budget it has spent, and folding them in one pass reads and decodes each event
once. Per batch: load the rows of every cycle the batch touches (one query per table), fold the
events in order, derive the due dates from each cycle's final state (a function of the state
alone, so batching cannot change them), move the budgets by each cycle's share as the fold left
it, and write back what changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, MetaData, Table, update

from events.personal import ERASED
from handlers.projections import budgets as pob
from handlers.projections import cycles, goals
from handlers.projections.base import Projection, RebuildPass
from handlers.projections.cache import ProjectionCache
from handlers.projections.changes import Change
from handlers.projections.due import due_rows, due_table, next_followup
from handlers.projections.rows import Key, RowSet
from handlers.repository import EMPLOYEE_STREAMS

EMPLOYEE_PREFIX = EMPLOYEE_STREAMS


class CycleTables:
    """The projection on one set of tables (live, or a rebuild's shadow copies)."""

    def __init__(self, metadata: MetaData, suffix: str) -> None:
        self.cycles = cycles.cycles_table(metadata, suffix)
        self.goals = goals.goals_table(metadata, suffix)
        self.due = due_table(metadata, suffix)
        self.budgets = pob.budgets_table(metadata, suffix)

    @property
    def tables(self) -> tuple[Table, ...]:
        return (self.cycles, self.goals, self.due, self.budgets)

    def apply(
        self,
        connection: Connection,
        changes: Sequence[Change],
        *,
        fresh: bool = False,
        cache: ProjectionCache | None = None,
    ) -> None:
        _Batch(self, connection, cache).run(changes, fresh=fresh)

    def finish(self, connection: Connection) -> None:
        """Nothing left aside: every batch settles its own rows."""


#: How much of a cycle's derived state an event can change. 0: only the version (no due date,
#: goal or budget moves); 1: the phase and dates before a plan exists (no goal changes); 2:
#: anything. A batch loads a cycle's goals only when one of its events is at level 2, or the
#: cycle already has a plan (its due dates then depend on its goals).
_LEVELS = {
    "FollowUpFired": 0,
    "CycleRestarted": 0,
    "CycleStarted": 1,
    "PreparationSubmitted": 1,
    "InterviewScheduled": 1,
    "InterviewHeld": 1,
}


#: The share and due keys stored for a cycle that has no rows yet.
_NOTHING_STORED: tuple[pob.Share, frozenset[Key]] = ((None, 0, 0), frozenset())


class _Batch:
    """One batch's working set: the rows it touches, folded in memory, then written back.

    The due rows are never read back: they are a function of the cycle's state
    (`due.due_rows`), so the rows stored for a cycle are those of its state before the batch,
    computed from the loaded row; only the difference to its state after the batch is written.
    """

    def __init__(
        self, tables: CycleTables, connection: Connection, cache: ProjectionCache | None
    ) -> None:
        self.tables = tables
        self.connection = connection
        self.cache = cache
        self.cycle_rows = RowSet(tables.cycles, connection, cache)
        self.goal_rows = RowSet(tables.goals, connection, cache)
        self.due_rows = RowSet(tables.due, connection)  # never read: derived from the cycle
        self.ledger = pob.Ledger(RowSet(tables.budgets, connection, cache))
        self.folds: dict[str, cycles.CycleFold] = {}
        self.before: dict[str, tuple[pob.Share, set[Key]]] = {}
        self.goal_keys: dict[str, set[Key]] = {}

    def run(self, changes: Sequence[Change], *, fresh: bool) -> None:
        prefix = len(cycles.CYCLE_PREFIX)
        levels: dict[str, int] = {}
        started: set[str] = set()
        if not fresh:  # fresh: every cycle starts in this batch, so every one is derived
            for change in changes:
                if change.stream_id.startswith(cycles.CYCLE_PREFIX):
                    cycle_id = change.stream_id[prefix:]
                    if change.type == "CycleStarted":
                        started.add(cycle_id)
                    level = _LEVELS.get(change.type, 2)
                    if level > levels.get(cycle_id, -1):
                        levels[cycle_id] = level
            # A cycle that starts in this batch has no rows yet (its start is its first event
            # and the checkpoint is below it): nothing to load, everything to derive.
            self._load({key: level for key, level in levels.items() if key not in started})
            self.goal_rows.none_stored("cycle_id", started)
        forgotten: set[str] = set()
        folds = self.folds
        fold_change, new_cycle = cycles.fold, cycles.new_cycle  # per event: no module lookups
        # The cycle the previous event was on: a rebuild's batches go stream by stream, so most
        # events need neither the stream's kind nor a lookup of their fold.
        stream: str | None = None
        fold = cycles.CycleFold({})
        for change in changes:
            stream_id = change.stream_id
            if stream_id == stream and change.type != "CycleStarted":
                fold_change(fold, change)
                continue
            stream = None
            if stream_id.startswith(EMPLOYEE_PREFIX):
                employee_id = stream_id[len(EMPLOYEE_PREFIX) :]
                if change.type == "BudgetAllowanceSet":
                    data = change.data
                    self.ledger.set_allowance(employee_id, data["year"], data["amount_eur"])
                elif change.type == "EmployeeForgotten":
                    forgotten.add(employee_id)
                continue
            cycle_id = stream_id[prefix:]
            if change.type == "CycleStarted":
                fold = folds[cycle_id] = new_cycle(change)
            else:
                found = folds.get(cycle_id)
                if found is None:
                    raise LookupError(f"{change.type} at {change.position} for an unknown cycle")
                fold = found
                fold_change(fold, change)
            stream = stream_id
        if forgotten:
            self._erase(forgotten)
        for cycle_id, fold in self.folds.items():
            self.cycle_rows.put(fold.row)
            if fresh or cycle_id in started or levels.get(cycle_id, 0) > 0:
                self._derive(cycle_id, fold)
        self.cycle_rows.flush()
        self.goal_rows.flush()
        self.due_rows.flush()
        self.ledger.settle()

    def _load(self, levels: dict[str, int]) -> None:
        if not levels:
            return
        for row in self.cycle_rows.load("cycle_id", levels):
            self.folds[row["cycle_id"]] = cycles.CycleFold(row)
        with_goals = {
            cycle_id
            for cycle_id, fold in self.folds.items()
            if levels[cycle_id] == 2 or (levels[cycle_id] == 1 and fold.row["plan_version"])
        }
        found = self.goal_rows.load("cycle_id", with_goals)
        for goal in sorted(found, key=lambda g: g["ordinal"]):
            self.folds[goal["cycle_id"]].goals[goal["goal_id"]] = goal
            self.goal_keys.setdefault(goal["cycle_id"], set()).add(self.goal_rows.key_of(goal))
        for cycle_id, fold in self.folds.items():
            if levels[cycle_id] == 0:
                continue
            stored = due_rows(fold)
            self.due_rows.assume(stored)
            self.before[cycle_id] = (
                pob.stored_share(fold),
                {self.due_rows.key_of(item) for item in stored},
            )

    def _erase(self, employee_ids: set[str]) -> None:
        """Forgotten employees: goal titles erased in memory and in every stored row."""
        for fold in self.folds.values():
            if fold.row["employee_id"] in employee_ids:
                goals.erase(fold.goals)
        table = self.tables.goals
        if self.cache is not None:  # rows of cycles this batch did not load change below
            self.cache.stale()
        self.connection.execute(
            update(table).where(table.c.employee_id.in_(sorted(employee_ids))).values(title=ERASED)
        )

    def _derive(self, cycle_id: str, fold: cycles.CycleFold) -> None:
        """Write the cycle's goals, due dates, next follow-up and budget share from its state."""
        row = fold.row
        # A cycle started in this batch (every one, in a fresh batch) has nothing stored.
        share_before, due_before = self.before.get(cycle_id, _NOTHING_STORED)
        goal_rows = self.goal_rows
        stored_goals = self.goal_keys.get(cycle_id)
        if stored_goals:
            kept = {(cycle_id, goal_id) for goal_id in fold.goals}
            for key in stored_goals - kept:
                goal_rows.remove(key)
        for goal in fold.goals.values():
            goal_rows.put(goal)
        due = due_rows(fold)
        if due_before:
            now_due = {(cycle_id, item["kind"], item["goal_id"]) for item in due}
            for key in due_before - now_due:
                self.due_rows.remove(key)
        for item in due:
            self.due_rows.put(item)
        row["next_followup_kind"], row["next_followup_at"] = next_followup(due)
        self.ledger.move(row["employee_id"], share_before, pob.stored_share(fold))


CYCLES = Projection(
    name="cycles",
    event_types=cycles.CYCLE_EVENT_TYPES | {"BudgetAllowanceSet", "EmployeeForgotten"},
    personal_types=frozenset({"PlanDrafted"}),
    bind=CycleTables,
    # Every cycle's rows depend on its own stream only; budgets are sums, which commute; goal
    # titles are erased by `EmployeeForgotten`, whose stream sorts after every cycle's.
    rebuild_passes=(
        RebuildPass(cycles.CYCLE_EVENT_TYPES | {"BudgetAllowanceSet", "EmployeeForgotten"}, True),
    ),
    # Its batches look rows up by primary key (cycle_id leads every key) only.
    defer_indexes=True,
)
