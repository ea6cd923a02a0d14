"""`pop import`: HR's CSV export read in bounded memory, checked whole, then written in batches.

Why two passes over the file: a file with errors imports nothing (unless `skip_invalid`), and
some errors only show once every row was seen (a duplicate e-mail 90 000 lines further down, a
reporting loop, a manager who appears later). The first pass parses and checks, keeping a few
ids per row (`workflow.organisation.OrganisationCheck`); the second parses again and writes,
a batch of rows per transaction. Neither holds the file or the events in memory.

Why batches: one transaction per employee waits for the disk once per employee (SQLite runs
with synchronous=FULL, PostgreSQL with synchronous_commit on); 500 employees per transaction
wait once. The events, their sealing and their metadata are exactly those of one-at-a-time
writes (`batch_size=1` is that path; `bench/imports.py` measures both).

Why managers first: a row whose manager is hired by this same import waits until the manager's
registration is written (in an earlier batch or earlier in the same one), so the log never
names a manager before he exists — also not halfway through an import that is interrupted.
Usually that is one pass; a file listing people before their managers needs one more pass per
level of the reporting line.

Formats: UTF-8 with or without BOM, `;` (Dutch Excel) or `,` as separator, chosen by which one
makes sense of the header (an Excel `sep=;` first line is honoured too), CRLF or LF, quoted
fields with separators and line breaks inside. Line numbers are the file's own (the header is
line 1); a record spanning several lines is named by its first.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import structlog

from events.records import Metadata
from events.sqlkeyring import SqlKeyRing
from handlers.actor import Actor
from handlers.bootstrap import Popcycle
from handlers.commands import CommandHandler
from handlers.organisation import (
    OrganisationHandler,
    Planned,
    PrefetchedKeys,
    describe,
    organisation,
    sql_key_creator,
)
from handlers.repository import Repository
from workflow.employee import (
    EmployeeState,
    HireEmployee,
    RecordLeaving,
)
from workflow.errors import DomainError
from workflow.organisation import (
    MANAGER,
    EmployeeChange,
    Header,
    HeaderError,
    OrganisationCheck,
    OrgRow,
    RowError,
    diff_row,
    known_columns,
    parse_row,
    read_header,
)

log = structlog.get_logger(__name__)

DEFAULT_BATCH_SIZE = 500
BOM = b"\xef\xbb\xbf"
_SEPARATORS = (";", ",", "\t")
# What `errors="surrogateescape"` makes of bytes that are not UTF-8.
_SURROGATE = re.compile("[\udc80-\udcff]")
_LINE_END = re.compile(r"\r\n|\r|\n")
#: How many bytes of the file the separator is guessed from.
_SNIFF_BYTES = 64 * 1024


class ImportRefused(DomainError):
    """The file as a whole cannot be imported (unreadable, no usable header, errors in rows)."""

    def __init__(self, message: str, errors: Sequence[RowError] = ()) -> None:
        self.errors = tuple(errors)
        super().__init__(message, field="file")


# --- reading the file ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CsvFormat:
    """How a file is written: its separator, whether it starts with a BOM, where the header is."""

    delimiter: str
    bom: bool
    header_line: int = 1


class _Tap(io.RawIOBase):
    """Reads a binary file, counting the bytes as they pass: progress in bytes, not rows."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.count += size
        return size


def sniff(path: Path) -> CsvFormat:
    """The separator that makes the most header columns known; `;` wins a tie (Dutch Excel)."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    bom = head.startswith(BOM)
    text = head[len(BOM) :] if bom else head
    # Any line ending ends the header: classic Mac files ("CSV (Macintosh)") use a lone CR.
    first = _LINE_END.split(text.decode("utf-8", errors="replace"), maxsplit=1)[0]
    if first.lower().startswith("sep=") and len(first) == 5:
        return CsvFormat(first[4], bom, header_line=2)
    best, most = _SEPARATORS[0], -1
    for separator in _SEPARATORS:
        known = known_columns(next(csv.reader([first], delimiter=separator), []))
        if known > most:
            best, most = separator, known
    return CsvFormat(best, bom)


def records(
    path: Path, fmt: CsvFormat, on_bytes: Callable[[int], None] | None = None
) -> Iterator[tuple[int, list[str]]]:
    """Every non-blank record with the line it starts on, the header included; streamed.

    Bytes that are not UTF-8 come through as lone surrogates, so the row holding them can be
    refused with its line and column instead of the whole file failing somewhere unknown.
    """
    with path.open("rb") as raw:
        tap = _Tap(raw)
        text = io.TextIOWrapper(
            io.BufferedReader(tap),
            encoding="utf-8-sig",
            errors="surrogateescape",
            newline="",
        )
        if fmt.header_line == 2:
            text.readline()
        reader = csv.reader(text, delimiter=fmt.delimiter)
        ended = fmt.header_line - 1
        reported = 0
        try:
            for cells in reader:
                start, ended = ended + 1, reader.line_num + fmt.header_line - 1
                if on_bytes is not None and tap.count != reported:
                    on_bytes(tap.count - reported)
                    reported = tap.count
                if any(cell.strip() for cell in cells):
                    yield start, cells
        except csv.Error as error:
            raise ImportRefused(
                f"line {ended + 1}: the file cannot be read as CSV ({error}); is a quote left open?"
            ) from None
        if on_bytes is not None and tap.count != reported:
            on_bytes(tap.count - reported)


def file_digest(path: Path) -> str:
    """SHA-256 of the file: the same file imported again is recognised by it."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _undecodable(errors: list[RowError], header: Header, line: int, cells: list[str]) -> None:
    """A cell with bytes that are not UTF-8 (e.g. a file saved as 'CSV' in Windows-1252)."""
    if not _SURROGATE.search("".join(cells)):
        return
    for index, cell in enumerate(cells):
        if _SURROGATE.search(cell):
            title = next(
                (header.titles[name] for name, at in header.positions.items() if at == index),
                f"column {index + 1}",
            )
            errors.append(RowError(line, title, "not UTF-8 text: export the file as 'CSV UTF-8'"))


# --- the import -----------------------------------------------------------------------------


class Progress(Protocol):
    """Where an import reports how far it is (the CLI draws a progress bar)."""

    def start(self, label: str, total: int) -> None: ...

    def advance(self, amount: int) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    """Progress nobody watches."""

    def start(self, label: str, total: int) -> None:
        return None

    def advance(self, amount: int) -> None:
        return None

    def finish(self) -> None:
        return None


@dataclass
class ImportReport:
    """What an import found and did. Counts, ids and line numbers only: fit for logs."""

    import_id: str
    file_sha256: str = ""
    rows: int = 0
    good_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    notes: list[RowError] = field(default_factory=list)
    hired: int = 0
    changed: int = 0
    unchanged: int = 0
    left: int = 0
    moved_cycles: int = 0
    cancelled_cycles: int = 0
    events: int = 0
    rejects_file: Path | None = None
    dry_run: bool = False
    written: bool = False
    replayed: bool = False

    @property
    def rejected(self) -> int:
        return len({error.line for error in self.errors})

    def to_json(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "file_sha256": self.file_sha256,
            "rows": self.rows,
            "good_rows": self.good_rows,
            "rejected": self.rejected,
            "hired": self.hired,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "left": self.left,
            "moved_cycles": self.moved_cycles,
            "cancelled_cycles": self.cancelled_cycles,
            "events": self.events,
            "dry_run": self.dry_run,
            "rejects_file": str(self.rejects_file) if self.rejects_file else None,
        }


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How to import: `dry_run` writes nothing; `skip_invalid` imports the good rows."""

    dry_run: bool = False
    skip_invalid: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
    idempotency_key: str | None = None


def rejects_path(path: Path) -> Path:
    """Where `--skip-invalid` writes the rejected rows: beside the file, `<name>.rejected.csv`."""
    return path.with_name(f"{path.stem}.rejected{path.suffix or '.csv'}")


class OrganisationImport:
    """Imports HR's CSV export into the organisation's streams (see the module docstring)."""

    def __init__(
        self,
        commands: CommandHandler,
        repository: Repository,
        clock: Callable[[], datetime],
        *,
        today: Callable[[], date],
        default_language: str = "nl",
        keys: PrefetchedKeys | None = None,
    ) -> None:
        self._commands = commands
        self._repository = repository
        self._clock = clock
        self._today = today
        self._default_language = default_language
        self.handler = OrganisationHandler(
            commands, repository, clock, prepare_keys=keys.prefetch if keys else None
        )

    @classmethod
    def for_app(cls, app: Popcycle) -> OrganisationImport:
        """Wired for an application: batched key creation on SQL key rings, the app's nudge."""
        real_keys = app.repository.keys
        create_many = sql_key_creator(app.engine) if isinstance(real_keys, SqlKeyRing) else None
        keys = PrefetchedKeys(real_keys, create_many)
        repository = Repository(app.store, keys)
        commands = CommandHandler(repository, app.clock, on_appended=app.commands.on_appended)
        zone = app.settings.timezone
        return cls(
            commands,
            repository,
            app.clock,
            today=lambda: app.clock().astimezone(zone).date(),
            default_language=app.settings.language,
            keys=keys,
        )

    def run(
        self,
        path: Path,
        actor: Actor,
        options: ImportOptions = ImportOptions(),
        *,
        progress: Progress | None = None,
        on_change: Callable[[str], None] | None = None,
    ) -> ImportReport:
        """Check the whole file, then (unless refused or a dry run) write its differences.

        Raises `ImportRefused` when nothing can be imported: an unreadable file or header, or
        rows with errors without `skip_invalid` (the exception lists every error).
        """
        if options.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        progress = progress or NoProgress()
        report = ImportReport(import_id=f"import-{uuid.uuid4().hex}", dry_run=options.dry_run)
        report.file_sha256 = file_digest(path)
        if options.idempotency_key is not None and not options.dry_run:
            earlier = self._repository.store.lookup(options.idempotency_key, report.file_sha256)
            if earlier is not None:
                return _replayed(report, earlier.result)
        fmt = sniff(path)
        existing = organisation(self._repository)
        header, check = self._check(path, fmt, existing, report, progress)
        report.errors = check.all_errors()
        report.good_rows = check.good_rows
        if report.errors and not options.skip_invalid:
            raise ImportRefused(
                f"{report.rejected} of {report.rows} rows have errors; nothing was imported "
                "(--skip-invalid imports the good rows)",
                report.errors,
            )
        writer = (
            _Rejects(path, fmt, header) if options.skip_invalid and not options.dry_run else None
        )
        try:
            checked = _Checked(path, fmt, header, check, existing)
            _Apply(self, checked, report=report, options=options, actor=actor, rejects=writer).run(
                progress, on_change
            )
        finally:
            if writer is not None:
                report.rejects_file = writer.close()
        if options.idempotency_key is not None and not options.dry_run:
            self._remember(options.idempotency_key, report, actor)
        log.info(
            "import.finished", **{k: v for k, v in report.to_json().items() if k != "rejects_file"}
        )
        return report

    def _check(
        self,
        path: Path,
        fmt: CsvFormat,
        existing: dict[str, EmployeeState],
        report: ImportReport,
        progress: Progress,
    ) -> tuple[Header, OrganisationCheck]:
        """Pass one: parse and check every row, keeping a few ids per row."""
        progress.start(f"checking {path.name}", max(path.stat().st_size, 1))
        try:
            stream = records(path, fmt, progress.advance)
            header = self._header(next(stream, None), fmt)
            check = OrganisationCheck(existing, header, self.today())
            for line, cells in stream:
                report.rows += 1
                row, errors = parse_row(header, cells, line)
                _undecodable(errors, header, line, cells)
                check.add(row, errors)
            check.finish()
            report.notes.extend(check.notes())
        finally:
            progress.finish()
        return header, check

    @staticmethod
    def _header(first: tuple[int, list[str]] | None, fmt: CsvFormat) -> Header:
        if first is None:
            raise ImportRefused("the file is empty: no header line")
        line, cells = first
        try:
            return read_header(cells, line)
        except HeaderError as refused:
            raise ImportRefused(
                f"line {line}: the header cannot be used ({refused}); nothing was imported",
                refused.errors,
            ) from None

    def _remember(self, key: str, report: ImportReport, actor: Actor) -> None:
        """Record the import's summary under its idempotency key: a retry returns it."""
        metadata = Metadata(
            actor_id=actor.person_id,
            actor_role=actor.role.value,
            causation_id=report.import_id,
            correlation_id=report.import_id,
        )
        self._repository.store.append(
            [],
            metadata,
            idempotency_key=key,
            request_fingerprint=report.file_sha256,
            result=report.to_json(),
        )

    def today(self) -> date:
        """The organisation's date today: end dates up to it are leaves, later ones plans."""
        return self._today()

    def now(self) -> datetime:
        return self._clock()

    @property
    def default_language(self) -> str:
        return self._default_language


def _replayed(report: ImportReport, stored: dict[str, Any]) -> ImportReport:
    for name in (
        "import_id",
        "rows",
        "good_rows",
        "hired",
        "changed",
        "unchanged",
        "left",
        "moved_cycles",
        "cancelled_cycles",
        "events",
    ):
        if name in stored:
            setattr(report, name, stored[name])
    report.replayed = True
    report.written = True
    return report


class _Rejects:
    """The rejected rows, as they were, with their line and reasons: a CSV beside the file."""

    def __init__(self, path: Path, fmt: CsvFormat, header: Header) -> None:
        self._path = rejects_path(path)
        self._fmt = fmt
        self._header = header
        self._handle: IO[str] | None = None
        self._writer: Any = None
        self._header_cells: list[str] = []

    def header(self, cells: list[str]) -> None:
        self._header_cells = cells

    def write(self, line: int, cells: list[str], errors: Sequence[RowError]) -> None:
        if self._writer is None:
            encoding = "utf-8-sig" if self._fmt.bom else "utf-8"
            self._handle = self._path.open(
                "w", encoding=encoding, newline="", errors="surrogateescape"
            )
            self._writer = csv.writer(self._handle, delimiter=self._fmt.delimiter)
            extra = ["regel", "fout"] if self._header.dutch else ["line", "error"]
            self._writer.writerow([*self._header_cells, *extra])
        reasons = "; ".join(
            f"{error.column}: {error.message}" if error.column else error.message
            for error in errors
        )
        self._writer.writerow([*cells, str(line), reasons])

    def close(self) -> Path | None:
        if self._handle is None:
            return None
        self._handle.close()
        return self._path


@dataclass(frozen=True, slots=True)
class _Checked:
    """What pass one learnt: how the file is written, its header, the verdict on every row."""

    path: Path
    fmt: CsvFormat
    header: Header
    check: OrganisationCheck
    existing: dict[str, EmployeeState]


class _Apply:
    """Pass two (and more, for rows waiting for their manager): diff, then write in batches."""

    def __init__(
        self,
        owner: OrganisationImport,
        checked: _Checked,
        *,
        report: ImportReport,
        options: ImportOptions,
        actor: Actor,
        rejects: _Rejects | None,
    ) -> None:
        self._owner = owner
        self._path = checked.path
        self._fmt = checked.fmt
        self._header = checked.header
        self._check = checked.check
        self._existing = checked.existing
        self._report = report
        self._options = options
        self._actor = actor
        self._rejects = rejects
        self._today = owner.today()
        self._hired: set[str] = set()  # new people already written (or planned, in a dry run)
        self._batch: list[tuple[EmployeeState | None, EmployeeChange]] = []
        # The raw cells of the batch's rows: a row refused while writing is rejected as it was.
        self._cells: dict[int, list[str]] = {}
        self._on_change: Callable[[str], None] | None = None
        self._progress: Progress = NoProgress()

    def run(self, progress: Progress, on_change: Callable[[str], None] | None) -> None:
        self._progress, self._on_change = progress, on_change
        label = "planning" if self._options.dry_run else "importing"
        progress.start(f"{label} {self._path.name}", max(self._report.good_rows, 1))
        try:
            waiting = self._pass(None)
            while waiting:
                before = len(waiting)
                waiting = self._pass(waiting)
                if len(waiting) >= before:  # cannot happen: loops were refused in pass one
                    raise ImportRefused("rows keep waiting for their managers; nothing more done")
        finally:
            progress.finish()

    def _pass(self, only: set[int] | None) -> set[int]:
        """One walk through the file; returns the lines still waiting for their manager."""
        waiting: set[int] = set()
        stream = records(self._path, self._fmt)
        first = next(stream, None)
        if only is None and self._rejects is not None and first is not None:
            self._rejects.header(first[1])
        for line, cells in stream:
            if only is not None and line not in only:
                continue
            errors = self._check.errors(line)
            if errors:
                if self._rejects is not None:
                    self._rejects.write(line, cells, errors)
                continue
            row, errors = parse_row(self._header, cells, line)
            if row is None or errors:  # cannot happen: pass one saw the same line
                continue
            if self._waits(row):
                waiting.add(line)
                continue
            self._take(row, cells)
        self._flush()
        return waiting

    def _waits(self, row: OrgRow) -> bool:
        manager_id = row.manager_id if self._header.manages(MANAGER) else None
        return (
            manager_id is not None
            and self._check.is_new(manager_id)
            and manager_id not in self._hired
        )

    def _take(self, row: OrgRow, cells: list[str]) -> None:
        state = self._existing.get(row.employee_id)
        change = diff_row(
            row,
            state,
            self._header,
            today=self._today,
            default_language=self._owner.default_language,
        )
        self._report.notes.extend(change.notes)
        if state is None:
            self._hired.add(row.employee_id)
        if not change.commands:
            self._report.unchanged += 1
            self._progress.advance(1)
            return
        self._batch.append((state, change))
        self._cells[row.line] = cells
        if len(self._batch) >= self._options.batch_size:
            self._flush()

    def _flush(self) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        cells, self._cells = self._cells, {}
        handler = self._owner.handler
        if self._options.dry_run:
            now = self._owner.now()
            applied: list[Planned] = []
            for state, change in batch:
                try:
                    applied.append(handler.plan(state, change, now))
                except DomainError as error:
                    self._refused(change, error, cells)
        else:
            outcome = handler.apply(self._actor, batch, correlation_id=self._report.import_id)
            applied = outcome.applied
            for change, refused in outcome.refused:
                self._refused(change, refused, cells)
            self._report.written = True
        for planned in applied:
            self._count(planned)
        self._progress.advance(len(batch))

    def _refused(
        self, change: EmployeeChange, refused: DomainError, cells: dict[int, list[str]]
    ) -> None:
        error = RowError(change.line, refused.field, refused.message)
        self._report.errors.append(error)
        self._hired.discard(change.employee_id)
        if self._rejects is not None and change.line in cells:
            self._rejects.write(change.line, cells[change.line], [error])

    def _count(self, planned: Planned) -> None:
        report = self._report
        commands = planned.change.commands
        if any(isinstance(command, HireEmployee) for command in commands):
            report.hired += 1
        else:
            report.changed += 1
        if any(isinstance(command, RecordLeaving) for command in commands):
            report.left += 1
        for consequence in planned.consequences:
            if consequence.kind == "moved":
                report.moved_cycles += 1
            elif consequence.kind == "cancelled":
                report.cancelled_cycles += 1
        report.events += planned.events
        if self._on_change is not None:
            state = self._existing.get(planned.change.employee_id)
            self._on_change(describe(planned.change, state, planned.consequences))
