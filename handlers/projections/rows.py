"""Rows of one read-model table, loaded once per batch, changed in memory, written back in bulk.

A catch-up applies a batch of events in one transaction. One SELECT and one UPDATE per event
would make the projection as slow as its round trips; instead every projection loads the rows a
batch touches with one query per table, folds the events into plain dicts, and `flush` writes
back only what changed: new rows with one executemany INSERT, changed rows with one executemany
UPDATE per set of changed columns, removed rows with one executemany DELETE.

The statements go to the driver directly (`exec_driver_sql`) with values converted by the
columns' own SQLAlchemy type processors (`TableCodec`): the same stored form as SQLAlchemy
writes (readers use the tables through SQLAlchemy as usual), without its per-row bookkeeping,
which costs more than the rest of the projection together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Iterator
from datetime import UTC, date, datetime
from functools import lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Connection, Date, Dialect, Float, Table
from sqlalchemy.types import TypeEngine

from events.schema import UTCDateTime

if TYPE_CHECKING:
    from handlers.projections.cache import ProjectionCache

Row = dict[str, Any]
#: A row's primary key: the value itself for a one-column key, else a tuple of the values.
Key = Any
Processor = Callable[[Any], Any] | None


class TableCodec:
    """SQL text and value conversions for one table on one dialect."""

    def __init__(self, table: Table, dialect: Dialect) -> None:
        quote = dialect.identifier_preparer.quote
        self.name = quote(table.name)
        self.columns = tuple(column.name for column in table.columns)
        self.key_columns = tuple(column.name for column in table.primary_key.columns)
        self.postgres = dialect.name == "postgresql"
        self.mark = "%s" if self.postgres else "?"
        self._quoted = {name: quote(name) for name in self.columns}
        self.binds: dict[str, Processor] = {}
        #: (column name, result processor) for the columns whose stored form needs converting.
        self.results: list[tuple[str, Callable[[Any], Any]]] = []
        for column in table.columns:
            impl = column.type.dialect_impl(dialect)
            bind: Processor = impl.bind_processor(dialect)
            # psycopg hands float8 back as float; SQLAlchemy would want the column's type code.
            native = self.postgres and isinstance(column.type, Float)
            process: Processor = None if native else impl.result_processor(dialect, None)
            if dialect.name == "sqlite":
                bind, process = _sqlite_codec(column.type, bind, process)
            self.binds[column.name] = bind
            if process is not None:
                self.results.append((column.name, process))
        self.insert_values: Callable[[Row], tuple[Any, ...]] = _row_reader(self.columns, self.binds)
        #: Whether the key columns are stored as they are (no conversion: strings, integers).
        self.plain_keys = all(self.binds[name] is None for name in self.key_columns)
        column_list = ", ".join(self._quoted[name] for name in self.columns)
        self.select_prefix = f"SELECT {column_list} FROM {self.name} WHERE "  # noqa: S608
        self.insert_sql = (
            f"INSERT INTO {self.name} ({column_list}) "  # noqa: S608
            f"VALUES ({', '.join(self.mark for _ in self.columns)})"
        )
        self.where_key = " AND ".join(f"{self._quoted[k]} = {self.mark}" for k in self.key_columns)
        self.delete_sql = f"DELETE FROM {self.name} WHERE {self.where_key}"  # noqa: S608
        #: Each column's SQL type (PostgreSQL's arrays of rows are cast to them).
        self._types = {
            column.name: column.type.compile(dialect=dialect) for column in table.columns
        }
        self._column_list = column_list
        self._floats = {column.name for column in table.columns if isinstance(column.type, Float)}

    def select_in(self, column: str) -> str:
        """Rows whose `column` is in a list given as one parameter."""
        return f"{self.select_prefix}{self._in(column)}"

    def update_in(self, columns: tuple[str, ...], column: str) -> str:
        """Set `columns` (one parameter each, then the list) on the rows whose `column` is in a
        list given as one parameter."""
        return f"UPDATE {self.name} SET {self._sets(columns)} WHERE {self._in(column)}"  # noqa: S608

    def _in(self, column: str) -> str:
        # Only quoted names of our own tables go into the text; every value is a parameter.
        if self.postgres:
            return f"{self._quoted[column]} = ANY(%s)"
        return f"{self._quoted[column]} IN (SELECT value FROM json_each(?))"  # noqa: S608

    def in_parameter(self, values: Collection[Any]) -> Any:
        return list(values) if self.postgres else json.dumps(list(values))

    def update_sql(self, columns: tuple[str, ...]) -> str:
        return f"UPDATE {self.name} SET {self._sets(columns)} WHERE {self.where_key}"  # noqa: S608

    def _sets(self, columns: tuple[str, ...]) -> str:
        return ", ".join(f"{self._quoted[name]} = {self.mark}" for name in columns)

    # -- writing many rows: executemany on SQLite, one statement of arrays on PostgreSQL -------
    #
    # psycopg sends an executemany as one statement per row (pipelined): its per-statement
    # work costs more than the rows themselves. On PostgreSQL the rows go as one array per
    # column instead, unnested by the server: one short statement (prepared once) per write.

    def insert_many(self, connection: Connection, params: list[tuple[Any, ...]]) -> None:
        if not self.postgres:
            connection.exec_driver_sql(self.insert_sql, params)
            return
        rows = self._unnest(self.columns)
        sql = f"INSERT INTO {self.name} ({self._column_list}) SELECT * FROM {rows}"  # noqa: S608
        connection.exec_driver_sql(sql, self._arrays(self.columns, params))

    def delete_many(self, connection: Connection, keys: list[tuple[Any, ...]]) -> None:
        if not self.postgres:
            connection.exec_driver_sql(self.delete_sql, keys)
            return
        columns = ", ".join(self._quoted[k] for k in self.key_columns)
        rows = self._unnest(self.key_columns)
        sql = f"DELETE FROM {self.name} WHERE ({columns}) IN (SELECT * FROM {rows})"  # noqa: S608
        connection.exec_driver_sql(sql, self._arrays(self.key_columns, keys))

    def update_many(
        self, connection: Connection, columns: tuple[str, ...], params: list[tuple[Any, ...]]
    ) -> None:
        """`params`: the new values of `columns`, then the key, per row."""
        if not self.postgres:
            connection.exec_driver_sql(self.update_sql(columns), params)
            return
        q = self._quoted
        every = (*columns, *self.key_columns)
        sets = ", ".join(f"{q[name]} = v.{q[name]}" for name in columns)
        names = ", ".join(q[name] for name in every)
        where = " AND ".join(f"t.{q[k]} = v.{q[k]}" for k in self.key_columns)
        sql = (
            f"UPDATE {self.name} AS t SET {sets} "  # noqa: S608
            f"FROM {self._unnest(every)} AS v({names}) WHERE {where}"
        )
        connection.exec_driver_sql(sql, self._arrays(every, params))

    def _unnest(self, columns: tuple[str, ...]) -> str:
        arrays = ", ".join(f"%b::{self._types[name]}[]" for name in columns)  # binary: no escaping
        return f"unnest({arrays})"

    def _arrays(self, columns: tuple[str, ...], params: list[tuple[Any, ...]]) -> tuple[Any, ...]:
        """The rows as one list per column (floats as floats: an array holds one type)."""
        arrays = [list(values) for values in zip(*params, strict=True)]
        for index, name in enumerate(columns):
            if name in self._floats:
                arrays[index] = [None if v is None else float(v) for v in arrays[index]]
        return tuple(arrays)

    def bind(self, name: str, value: Any) -> Any:
        process = self.binds[name]
        return value if process is None or value is None else process(value)

    def decode(self, record: Any) -> Row:
        row = dict(zip(self.columns, record, strict=True))
        for name, process in self.results:
            value = row[name]
            if value is not None:
                row[name] = process(value)
        return row


def _row_reader(
    columns: tuple[str, ...], binds: dict[str, Processor]
) -> Callable[[Row], tuple[Any, ...]]:
    """`insert_values`: a whole row's values in column order, in their stored form.

    Generated as one tuple expression per table (as `collections.namedtuple` generates its
    methods): a rebuild writes every row through it, and a loop over the columns with a list
    to fill and copy cost several times as much. Only column names of our own tables (as
    literals) and the processors (as names) go into the source.
    """
    namespace: dict[str, Any] = {}
    parts = []
    for index, name in enumerate(columns):
        process = binds[name]
        if process is None:
            parts.append(f"row[{name!r}]")
        else:
            namespace[f"p{index}"] = process
            parts.append(f"(None if (v := row[{name!r}]) is None else p{index}(v))")
    source = f"def insert_values(row):\n    return ({', '.join(parts)},)\n"
    exec(source, namespace)  # noqa: S102
    reader: Callable[[Row], tuple[Any, ...]] = namespace["insert_values"]
    return reader


def _sqlite_codec(
    kind: TypeEngine[Any], bind: Processor, result: Processor
) -> tuple[Processor, Processor]:
    """Cheaper processors for the SQLite types a rebuild binds most, storing the same values
    (`test_rows_codec.py` checks them against SQLAlchemy's)."""
    if isinstance(kind, UTCDateTime):
        return sqlite_time_to_text, sqlite_text_to_time
    if type(kind) is Date:  # the dialect's default storage format: ISO 8601, as isoformat
        return date.isoformat, result
    if isinstance(kind, Boolean) and bind is not None:
        return _fast_booleans(bind), result
    return bind, result


def _fast_booleans(strict: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """True and False as SQLite stores them; anything else as SQLAlchemy's `strict` does."""

    def process(value: Any) -> Any:
        if value is True:
            return 1
        if value is False:
            return 0
        return strict(value)

    return process


def sqlite_time_to_text(value: datetime) -> str:
    """`UTCDateTime` on SQLite, as SQLAlchemy stores it (naive UTC, always microseconds).

    The same text as `UTCDateTime` + SQLAlchemy's SQLite DATETIME processors produce, at a
    fraction of their cost (`test_projection_schema.py` checks they agree).
    """
    if value.tzinfo is UTC:  # nearly always (parsed event data, read-back rows): no conversion
        return value.isoformat(" ", "microseconds")[:-6]  # without its "+00:00"
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"refusing a naive datetime {value.isoformat()}: pass an aware one")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_text_to_time(value: str) -> datetime:
    """The aware UTC datetime `UTCDateTime` reads back from SQLite's text."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


#: Values per `IN (…)` list of `fixed_chunks`.
IN_CHUNK = 64


def fixed_chunks(values: Collection[str], size: int = IN_CHUNK) -> Iterator[list[str]]:
    """`values` in lists of exactly `size` distinct ids, the last padded with ids that match no
    row (they start with "~", which no id holds: `handlers.repository.check_id`).

    For `IN (…)` lists SQLAlchemy renders one placeholder per value: a list of another length is
    another statement, and the driver keeps each prepared statement in its per-connection cache
    (pysqlite: 128 of them) — memory that would grow with the variety of batch sizes.
    """
    ordered = sorted(values)
    for start in range(0, len(ordered), size):
        chunk = ordered[start : start + size]
        yield chunk + [f"~{index}" for index in range(size - len(chunk))]


@lru_cache(maxsize=128)
def codec(table: Table, dialect: Dialect) -> TableCodec:
    return TableCodec(table, dialect)


class RowSet:
    """The rows of `table` a batch has seen, keyed by primary key.

    With a `cache` (a live catch-up's, `cache.py`), lookups it can answer in full are taken
    from it, and `flush` stages the batch's rows for it (the runner commits them to it once
    the transaction has).
    """

    def __init__(
        self, table: Table, connection: Connection, cache: ProjectionCache | None = None
    ) -> None:
        self.table = table
        self.connection = connection
        self.cache = None if cache is None else cache.table(table)
        self.codec = codec(table, connection.dialect)
        self.key_columns = self.codec.key_columns
        self.key_of: Callable[[Row], Key] = itemgetter(*self.key_columns)
        self._rows: dict[Key, Row] = {}
        self._loaded: dict[Key, Row] = {}
        #: column → values whose rows were all read from the database (for the cache).
        self._complete: dict[str, set[Any]] = {}

    # -- loading -------------------------------------------------------------------------------

    def load(self, column: str, values: Collection[Any]) -> list[Row]:
        """Load the rows whose `column` is one of `values`; return them (as held in memory)."""
        if not values:
            return []
        found: list[Row] = []
        if self.cache is not None:
            missing, cached = self.cache.split(column, values)
            self._take(cached, found)
            if not missing:
                return found
            self._complete.setdefault(column, set()).update(missing)
            values = missing
        result = self.connection.exec_driver_sql(
            self.codec.select_in(column), (self.codec.in_parameter(values),)
        )
        decode = self.codec.decode
        self._take([decode(record) for record in result.fetchall()], found)
        return found

    def _take(self, stored: list[Row], found: list[Row]) -> None:
        """Hold `stored` rows (as they are in the database) unless held already; add the rows
        as held in memory (changed, perhaps) to `found`."""
        for row in stored:
            key = self.key_of(row)
            if key not in self._loaded:
                self._loaded[key] = row
                self._rows[key] = dict(row)
            current = self._rows.get(key)
            if current is not None:
                found.append(current)

    def none_stored(self, column: str, values: Collection[Any]) -> None:
        """No stored row has `column` in `values` (the caller knows): the cache may say so."""
        if self.cache is not None and values:
            self._complete.setdefault(column, set()).update(values)

    def assume(self, rows: Iterable[Row]) -> None:
        """Treat `rows` as stored without reading them (the caller knows they are)."""
        for row in rows:
            key = self.key_of(row)
            self._loaded[key] = dict(row)
            self._rows[key] = row

    # -- reading and changing ------------------------------------------------------------------

    def get(self, key: Key) -> Row | None:
        return self._rows.get(key)

    def put(self, row: Row) -> Row:
        """Add or replace a whole row (every column must be present)."""
        self._rows[self.key_of(row)] = row
        return row

    def remove(self, key: Key) -> None:
        self._rows.pop(key, None)

    # -- writing -------------------------------------------------------------------------------

    def flush(self) -> int:
        """Write the differences to the database; returns the number of rows written."""
        codec = self.codec
        bind = codec.bind
        updates: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        if not self._loaded:  # nothing read (a fresh batch): every row is new, nothing to diff
            inserts = list(map(codec.insert_values, self._rows.values()))
            rows: Iterable[tuple[Key, Row]] = ()
        else:
            inserts = []
            rows = self._rows.items()
        for key, row in rows:
            before = self._loaded.get(key)
            if before is None:
                inserts.append(codec.insert_values(row))
                continue
            if before == row:
                continue
            changed = tuple(name for name, value in row.items() if before[name] != value)
            if changed:
                values = [bind(name, row[name]) for name in changed]
                values += self._bound_key(key)
                updates.setdefault(changed, []).append(tuple(values))
        deletes = [tuple(self._bound_key(key)) for key in self._loaded if key not in self._rows]
        connection = self.connection
        if deletes:
            codec.delete_many(connection, deletes)
        for columns, params in updates.items():
            codec.update_many(connection, columns, params)
        if inserts:
            codec.insert_many(connection, inserts)
        if self.cache is not None:
            self.cache.stage((self._loaded, self._rows, self._complete))
        # A RowSet lives for one batch: after the flush it is discarded, not reused.
        self._loaded, self._rows, self._complete = {}, {}, {}
        return len(inserts) + sum(len(p) for p in updates.values()) + len(deletes)

    def _bound_key(self, key: Key) -> list[Any]:
        parts = key if len(self.key_columns) > 1 else (key,)
        if self.codec.plain_keys:
            return list(parts)
        return [
            self.codec.bind(name, part) for name, part in zip(self.key_columns, parts, strict=True)
        ]
