"""The read-model rows a catch-up keeps between its batches, valid only at its own checkpoint.

A catch-up far behind the log reads the rows of every cycle and person each batch touches, and
in a log where many people act at once a cycle's events span many batches: without a cache
each of them would be read back (and decoded) once per batch. `ProjectionCache` holds the rows
as the last batch committed them, so the next batch takes them from memory.

It is only ever right about the database at one moment: the projection's checkpoint as this
runner left it. So it is tagged with that checkpoint — its position *and* the time it was moved
(`updated_at`), read under the checkpoint's lock — and thrown away whenever the tag read at the
start of a batch differs: another worker moved the checkpoint, a rebuild swapped the tables
in (it moves the checkpoint), an operator reset it. A batch's changes reach the cache only
after its transaction committed (`commit`); a batch that fails empties it; a batch that changed
rows behind the row sets' back (an erasure's bulk UPDATE) marks it `stale`, and it is emptied
at commit. Memory stays bounded: past `capacity` rows it is emptied and filled again.

What the cache knows: rows by primary key, and for the other columns a batch looks rows up by
(`RowSet.load(column, values)`), the values for which it holds *every* row with that value
(learnt from a database lookup, or told by the projection: a cycle that starts has no goals),
kept exact as rows change. Any other lookup goes to the database, as without a cache.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Table

from handlers.projections.rows import Key, Row

#: A batch's rows before and after it, and the values it looked up in full by column.
Staged = tuple[dict[Key, Row], dict[Key, Row], dict[str, set[Any]]]
#: Where a cache is valid: the checkpoint's position and when it was moved.
Tag = tuple[int, datetime]

#: Rows a runner keeps per projection (about 1 to 2 kB each: some 100 MB at most).
DEFAULT_CAPACITY = 60_000


class TableCache:
    """The cached rows of one table, and the lookups by column it can answer in full."""

    def __init__(self, key_columns: tuple[str, ...]) -> None:
        #: The single key column, if the key has one column (lookups by it need no index).
        self.key_column = key_columns[0] if len(key_columns) == 1 else None
        self.rows: dict[Key, Row] = {}
        #: column → value → the keys of every row holding it (only complete values are here).
        self.index: dict[str, dict[Any, set[Key]]] = {}
        self._staged: list[Staged] = []

    def split(self, column: str, values: Collection[Any]) -> tuple[list[Any], list[Row]]:
        """(the values it cannot answer for, the rows it holds for the others)."""
        rows = self.rows
        missing: list[Any] = []
        found: list[Row] = []
        if column == self.key_column:
            for value in values:
                row = rows.get(value)
                if row is None:
                    missing.append(value)
                else:
                    found.append(row)
            return missing, found
        index = self.index.get(column, {})
        for value in values:
            keys = index.get(value)
            if keys is None:
                missing.append(value)
            else:
                found.extend(rows[key] for key in keys)
        return missing, found

    def stage(self, staged: Staged) -> None:
        """A batch's rows before and after it (absent after: deleted), and the values of
        columns for which the rows before are all the rows there were."""
        self._staged.append(staged)

    def discard(self) -> None:
        self._staged.clear()

    def commit(self) -> None:
        """The staged batches committed: make their rows the cached ones."""
        for staged in self._staged:
            self._apply(*staged)
        self._staged.clear()

    def _apply(
        self, before: dict[Key, Row], after: dict[Key, Row], complete: dict[str, set[Any]]
    ) -> None:
        index = self.index
        for column, values in complete.items():
            if column == self.key_column:
                continue  # looked up in `rows` itself
            by_value = index.setdefault(column, {})
            for value in values:
                by_value[value] = set()
            for key, row in before.items():
                value = row[column]
                if value in values:
                    by_value[value].add(key)
        rows = self.rows
        for key in before.keys() | after.keys():
            old, new = before.get(key), after.get(key)
            for column, by_value in index.items():
                was = None if old is None else old[column]
                now = None if new is None else new[column]
                if old is not None and new is not None and was == now:
                    continue
                if old is not None and was in by_value:
                    by_value[was].discard(key)
                if new is not None and now in by_value:
                    by_value[now].add(key)
            if new is None:
                rows.pop(key, None)
            else:
                rows[key] = new


class ProjectionCache:
    """The cached tables of one projection's live tables, and the checkpoint they hold at."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self.tag: Tag | None = None
        self._tables: dict[str, TableCache] = {}
        self._stale = False

    def begin(self, tag: Tag) -> ProjectionCache:
        """A batch starts at the checkpoint `tag` (read under its lock): keep the rows only if
        they are the ones committed at exactly that checkpoint."""
        if tag != self.tag:
            self.clear()
            self.tag = tag
        self._stale = False
        for table in self._tables.values():
            table.discard()
        return self

    def table(self, table: Table) -> TableCache:
        found = self._tables.get(table.name)
        if found is None:
            keys = tuple(column.name for column in table.primary_key.columns)
            found = self._tables[table.name] = TableCache(keys)
        return found

    def stale(self) -> None:
        """The batch changed rows the row sets did not see: forget everything at its end."""
        self._stale = True

    def commit(self, tag: Tag) -> None:
        """The batch committed and moved the checkpoint to `tag`."""
        if self._stale:
            self.clear()
        else:
            for table in self._tables.values():
                table.commit()
            if self.size > self.capacity:
                self.clear()
        self.tag = tag

    def clear(self) -> None:
        self._tables = {}
        self.tag = None
        self._stale = False

    @property
    def size(self) -> int:
        return sum(len(table.rows) for table in self._tables.values())
