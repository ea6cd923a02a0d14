"""The organisation as HR's export describes it: rows checked, loops refused, changes derived.

Pure: the caller reads the file and the log and hands rows and employee states in. Three steps,
in the order an import runs them:

1. `read_header` and `parse_row` turn one CSV record into an `OrgRow`, or say per column what
   is wrong with it (a bad date, a bad language, a missing value).
2. `OrganisationCheck` sees every row once and then judges the file as a whole: duplicate
   employee numbers and e-mail addresses, managers nobody knows, reporting loops. A row that
   falls makes the rows that lean on it fall too (the subordinates of a new manager whose row
   is bad), so `--skip-invalid` never imports half a reporting line.
3. `diff_row` compares a good row with the employee's current state and says which commands
   bring the log in line with the file; nothing at all when they already agree, which is what
   makes re-importing the same file harmless.

Blank cells: a blank manager means "reports to nobody"; a blank department or function clears
it; a blank language leaves it as it is (new people get the default), because the language is
the person's preference in popcycle rather than an HR fact. A column missing from the header is
not managed by the file at all: its values stay as they are.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from workflow.employee import (
    LANGUAGES,
    ChangeEmployeeDetails,
    ChangeManager,
    EmployeeState,
    HireEmployee,
    OrganisationCommand,
    RecordLeaving,
    is_email,
)

# Employee numbers become stream names: the same rule as `handlers.repository.check_id`.
_EMPLOYEE_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")
_DAY_FIRST = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
_LANGUAGE_NAMES = {
    "nl": "nl",
    "nl-nl": "nl",
    "nl_nl": "nl",
    "nederlands": "nl",
    "dutch": "nl",
    "en": "en",
    "en-gb": "en",
    "en_gb": "en",
    "en-us": "en",
    "en_us": "en",
    "english": "en",
    "engels": "en",
}
#: Longest reporting loop spelled out in full in an error message.
_LOOP_SHOWN = 8


@dataclass(frozen=True, slots=True)
class Column:
    """One column of HR's export: its English and Dutch header, and whether it must be there."""

    name: str
    dutch: str
    required: bool


EMPLOYEE_NUMBER = Column("employee_number", "personeelsnummer", required=True)
NAME = Column("name", "naam", required=True)
EMAIL = Column("email", "e-mail", required=True)
MANAGER = Column("manager_number", "manager", required=False)
DEPARTMENT = Column("department", "afdeling", required=False)
FUNCTION = Column("function", "functie", required=False)
LANGUAGE = Column("language", "taal", required=False)
START_DATE = Column("start_date", "startdatum", required=False)
END_DATE = Column("end_date", "einddatum", required=False)
COLUMNS = (
    EMPLOYEE_NUMBER,
    NAME,
    EMAIL,
    MANAGER,
    DEPARTMENT,
    FUNCTION,
    LANGUAGE,
    START_DATE,
    END_DATE,
)


def _header_key(text: str) -> str:
    """Headers compare without case, spaces, hyphens or underscores ("E-mail" is "email")."""
    return re.sub(r"[\s_\-]+", "", text.strip().lstrip("\ufeff").casefold())


_BY_HEADER: dict[str, Column] = {}
for _column in COLUMNS:
    _BY_HEADER[_header_key(_column.name)] = _column
    _BY_HEADER[_header_key(_column.dutch)] = _column


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one row (or the header) cannot be imported: line, column as the file names it, why."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class HeaderError(ValueError):
    """The header line itself is unusable: no row can be read, so nothing is imported."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(str(error) for error in self.errors))


@dataclass(frozen=True, slots=True)
class Header:
    """Where each known column sits, and how the file spells it (for error messages)."""

    line: int
    positions: Mapping[str, int]
    titles: Mapping[str, str]
    width: int
    dutch: bool

    def manages(self, column: Column) -> bool:
        """Whether the file has this column at all (a missing one leaves its values alone)."""
        return column.name in self.positions

    def title(self, column: Column) -> str:
        return self.titles.get(column.name, column.dutch if self.dutch else column.name)


def known_columns(cells: Sequence[str]) -> int:
    """How many cells name a known column: which separator reads a header best."""
    return len({column.name for cell in cells if (column := _BY_HEADER.get(_header_key(cell)))})


def read_header(cells: Sequence[str], line: int = 1) -> Header:
    """The header of HR's export, in English or Dutch; unknown extra columns are ignored."""
    positions: dict[str, int] = {}
    titles: dict[str, str] = {}
    errors: list[RowError] = []
    dutch_votes = 0
    for index, cell in enumerate(cells):
        column = _BY_HEADER.get(_header_key(cell))
        if column is None:
            continue
        title = cell.strip().lstrip("\ufeff")
        if column.name in positions:
            errors.append(
                RowError(line, title, f"the column {column.name} appears twice in the header")
            )
            continue
        positions[column.name] = index
        titles[column.name] = title
        dutch_votes += 1 if _header_key(title) == _header_key(column.dutch) else -1
    dutch = dutch_votes > 0
    for column in COLUMNS:
        if column.required and column.name not in positions:
            spelled = f"{column.name} ({column.dutch})"
            errors.append(RowError(line, spelled, "missing required column"))
    if errors:
        raise HeaderError(errors)
    return Header(line, positions, titles, len(cells), dutch)


@dataclass(frozen=True, slots=True)
class OrgRow:
    """One employee as HR's file describes him (blank optional cells as described above)."""

    line: int
    employee_id: str
    name: str
    email: str
    manager_id: str | None
    department: str
    function: str
    language: str | None
    start_date: date | None
    end_date: date | None


def parse_date(text: str) -> date:
    """YYYY-MM-DD, or day first as Dutch Excel writes it (1-2-2026, 01/02/2026, 1.2.2026)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    found = _DAY_FIRST.match(text)
    if found is None:
        raise ValueError(text)
    day, month, year = (int(part) for part in found.groups())
    return date(year, month, day)


def parse_language(text: str) -> str:
    """nl or en, also as HR systems spell them (NL, Nederlands, English, en-GB, ...)."""
    code = _LANGUAGE_NAMES.get(text.strip().casefold())
    if code is None:
        raise ValueError(text)
    return code


def parse_row(
    header: Header, cells: Sequence[str], line: int
) -> tuple[OrgRow | None, list[RowError]]:
    """One record checked on its own: every wrong cell is reported, not only the first.

    The row comes back whenever it names a usable employee number, errors or not (wrong cells
    read as blank), so that the whole-file checks can report on it too; import it only when
    the errors are empty.
    """
    errors: list[RowError] = []
    if len(cells) > header.width:
        extra = [cell for cell in cells[header.width :] if cell.strip()]
        if extra:
            errors.append(
                RowError(
                    line,
                    None,
                    f"{len(cells)} fields where the header has {header.width}: "
                    "is a value holding the separator without quotes?",
                )
            )

    def cell(column: Column) -> str:
        index = header.positions.get(column.name)
        # A short record (trailing empty cells left off) reads as blank cells.
        if index is None or index >= len(cells):
            return ""
        return cells[index].strip()

    def fail(column: Column, message: str) -> None:
        errors.append(RowError(line, header.title(column), message))

    employee_id = cell(EMPLOYEE_NUMBER)
    if not employee_id:
        fail(EMPLOYEE_NUMBER, "required")
    elif not _EMPLOYEE_NUMBER.match(employee_id):
        fail(
            EMPLOYEE_NUMBER,
            f"{employee_id!r} is not a usable employee number "
            "(1-50 letters, digits, '.', '_' or '-')",
        )
    name = cell(NAME)
    if not name:
        fail(NAME, "required")
    email = cell(EMAIL)
    if not email:
        fail(EMAIL, "required")
    elif not is_email(email):
        fail(EMAIL, f"{email!r} is not an e-mail address")
    manager_id = cell(MANAGER) or None
    if manager_id is not None and not _EMPLOYEE_NUMBER.match(manager_id):
        fail(MANAGER, f"{manager_id!r} is not a usable employee number")
    language: str | None = None
    if raw_language := cell(LANGUAGE):
        try:
            language = parse_language(raw_language)
        except ValueError:
            fail(LANGUAGE, f"unknown language {raw_language!r} (use {' or '.join(LANGUAGES)})")
    dates: dict[str, date | None] = {}
    for column in (START_DATE, END_DATE):
        dates[column.name] = None
        if raw := cell(column):
            try:
                dates[column.name] = parse_date(raw)
            except ValueError:
                fail(column, f"not a date: {raw!r} (use YYYY-MM-DD or DD-MM-YYYY)")
    start, end = dates[START_DATE.name], dates[END_DATE.name]
    if start is not None and end is not None and end < start:
        fail(END_DATE, f"{end.isoformat()} lies before the start date {start.isoformat()}")
    if not employee_id or not _EMPLOYEE_NUMBER.match(employee_id):
        return None, errors
    if manager_id is not None and not _EMPLOYEE_NUMBER.match(manager_id):
        manager_id = None
    return (
        OrgRow(
            line=line,
            employee_id=employee_id,
            name=name,
            email=email,
            manager_id=manager_id,
            department=cell(DEPARTMENT),
            function=cell(FUNCTION),
            language=language,
            start_date=start,
            end_date=end,
        ),
        errors,
    )


# --- the file as a whole -------------------------------------------------------------------


class _Entry:
    """What the whole-file check keeps of a row: a few ids, never the whole row."""

    __slots__ = ("email_key", "leaves", "line", "manager_id")

    def __init__(self, line: int, manager_id: str | None, email_key: str, leaves: bool) -> None:
        self.line = line
        self.manager_id = manager_id
        self.email_key = email_key
        self.leaves = leaves


def find_loops(starts: Iterable[str], manager_of: Callable[[str], str | None]) -> list[list[str]]:
    """Every reporting loop reachable from `starts`, each as the people on it in order.

    Everybody has at most one manager, so walking up from each person either reaches the top,
    someone already walked (no loop there), or someone on the current walk (a loop). Linear.
    """
    on_walk, done = 1, 2
    seen: dict[str, int] = {}
    loops: list[list[str]] = []
    for start in starts:
        walk: list[str] = []
        person: str | None = start
        while person is not None and person not in seen:
            seen[person] = on_walk
            walk.append(person)
            person = manager_of(person)
        if person is not None and seen[person] == on_walk:
            loops.append(walk[walk.index(person) :])
        for walked in walk:
            seen[walked] = done
    return loops


def describe_loop(loop: Sequence[str]) -> str:
    """A→B→A, shortened in the middle when long."""
    shown = list(loop) if len(loop) <= _LOOP_SHOWN else [*loop[: _LOOP_SHOWN - 1], "…"]
    return "reporting loop " + " → ".join([*shown, loop[0]])


class OrganisationCheck:
    """Judges the file as a whole, after every row was `add`ed once.

    `existing` is the organisation as the log has it now (current states by employee id). It
    keeps per row only its line, manager and e-mail key, so a 100 000-row file costs a few MB.
    """

    def __init__(
        self, existing: Mapping[str, EmployeeState], header: Header, today: date | None = None
    ) -> None:
        self._existing = existing
        self._header = header
        self._today = today  # end dates up to it are leaves (None: nobody leaves)
        self._entries: dict[str, _Entry] = {}
        self._emails: dict[str, int] = {}
        self._errors: dict[int, list[RowError]] = defaultdict(list)
        self._finished = False

    # -- feeding -------------------------------------------------------------------------------

    def add(self, row: OrgRow | None, errors: Iterable[RowError] = ()) -> None:
        """One row with the errors `parse_row` found in it; duplicates are caught here.

        A row with errors still takes part, so that its line also lists e.g. an unknown manager
        or a duplicate e-mail: everything wrong with a line is reported at once.
        """
        for error in errors:
            self._fail(error.line, error.column, error.message)
        if row is None:
            return
        header = self._header
        earlier = self._entries.get(row.employee_id)
        if earlier is not None:
            title = header.title(EMPLOYEE_NUMBER)
            self._fail(row.line, title, f"duplicate employee number (also on line {earlier.line})")
            self._fail(earlier.line, title, f"duplicate employee number (also on line {row.line})")
            return
        state = self._existing.get(row.employee_id)
        if state is not None and state.forgotten:
            self._fail(
                row.line,
                header.title(EMPLOYEE_NUMBER),
                f"employee {row.employee_id} was forgotten (GDPR erasure): "
                "no personal data about them can be imported again",
            )
        email_key = row.email.casefold()
        first = self._emails.setdefault(email_key, row.line) if email_key else row.line
        if first != row.line:
            title = header.title(EMAIL)
            self._fail(row.line, title, f"duplicate e-mail (also on line {first})")
            self._fail(first, title, f"duplicate e-mail (also on line {row.line})")
        manager_id = row.manager_id
        if not header.manages(MANAGER):
            manager_id = state.manager_id if state is not None else None
        leaves = (
            self._today is not None and row.end_date is not None and row.end_date <= self._today
        )
        employee_id = sys.intern(row.employee_id)  # the same id is many people's manager
        manager_id = sys.intern(manager_id) if manager_id is not None else None
        self._entries[employee_id] = _Entry(row.line, manager_id, email_key, leaves)

    def _fail(self, line: int, column: str | None, message: str) -> None:
        self._errors[line].append(RowError(line, column, message))

    # -- judging -------------------------------------------------------------------------------

    def finish(self) -> None:
        """Unknown managers, e-mail addresses of other people, reporting loops; then cascade."""
        if self._finished:
            return
        self._finished = True
        self._emails.clear()  # only needed while adding
        owners = {
            state.email.casefold(): employee_id
            for employee_id, state in self._existing.items()
            if not state.forgotten and state.left_on is None
        }
        subordinates: dict[str, list[str]] = defaultdict(list)
        claims: dict[str, str] = {}
        fallen: list[str] = []
        for employee_id, entry in self._entries.items():
            if entry.manager_id is not None:
                subordinates[entry.manager_id].append(employee_id)
            owner = owners.get(entry.email_key)
            if owner is not None and owner != employee_id:
                claims[entry.email_key] = employee_id
            if not self.valid(employee_id):
                fallen.append(employee_id)
        for employee_id, entry in self._entries.items():
            self._judge_manager(employee_id, entry, fallen)
            self._judge_email(employee_id, entry, owners, fallen)
        # Loops as the file writes them, bad rows included: fixing one error must not merely
        # reveal the next. Then loops that only form once bad rows keep their current manager.
        self._refuse_loops(find_loops(self._entries, self._written_manager), fallen)
        while True:
            self._cascade(fallen, subordinates, claims)
            loops = find_loops(
                (employee_id for employee_id in self._entries if self.valid(employee_id)),
                self._final_manager,
            )
            if not loops:
                return
            self._refuse_loops(loops, fallen)

    def _refuse_loops(self, loops: list[list[str]], fallen: list[str]) -> None:
        for loop in loops:
            message = describe_loop(loop)
            for employee_id in loop:
                if employee_id in self._entries:
                    self._reject(employee_id, self._header.title(MANAGER), message, fallen)

    def _judge_manager(self, employee_id: str, entry: _Entry, fallen: list[str]) -> None:
        manager_id = entry.manager_id
        if manager_id is None or manager_id in self._existing or manager_id in self._entries:
            return
        self._reject(
            employee_id,
            self._header.title(MANAGER),
            f"unknown manager {manager_id}: not in this file and not registered",
            fallen,
        )

    def _judge_email(
        self, employee_id: str, entry: _Entry, owners: Mapping[str, str], fallen: list[str]
    ) -> None:
        owner = owners.get(entry.email_key)
        if owner is None or owner == employee_id:
            return
        moving = self._entries.get(owner)
        if moving is not None and self.valid(owner) and moving.email_key != entry.email_key:
            return  # the owner's own row gives him another address in this same file
        self._reject(
            employee_id,
            self._header.title(EMAIL),
            f"duplicate e-mail: already used by employee {owner}",
            fallen,
        )

    def _cascade(
        self, fallen: list[str], subordinates: Mapping[str, list[str]], claims: Mapping[str, str]
    ) -> None:
        """Rows that leaned on a fallen row fall too (worklist: linear even for long chains)."""
        while fallen:
            employee_id = fallen.pop()
            line = self._entries[employee_id].line
            known = self._existing.get(employee_id)
            if known is None:  # a new manager who will not be imported: nobody can report to him
                for subordinate in subordinates.get(employee_id, ()):
                    if self.valid(subordinate):
                        self._reject(
                            subordinate,
                            self._header.title(MANAGER),
                            f"manager {employee_id} is not imported: line {line} has errors",
                            fallen,
                        )
            elif not known.forgotten:  # he keeps his current address: whoever took it cannot
                claimant = claims.get(known.email.casefold())
                if claimant is not None and self.valid(claimant):
                    self._reject(
                        claimant,
                        self._header.title(EMAIL),
                        f"duplicate e-mail: employee {employee_id} keeps it "
                        f"(line {line} has errors)",
                        fallen,
                    )

    def _reject(self, employee_id: str, column: str, message: str, fallen: list[str]) -> None:
        if self.valid(employee_id):  # newly fallen: what leans on it is judged again
            fallen.append(employee_id)
        self._fail(self._entries[employee_id].line, column, message)

    def _written_manager(self, employee_id: str) -> str | None:
        """Whom the person reports to by the file (by the log for people not in it)."""
        entry = self._entries.get(employee_id)
        if entry is not None:
            return entry.manager_id
        state = self._existing.get(employee_id)
        return state.manager_id if state is not None else None

    def _final_manager(self, employee_id: str) -> str | None:
        """Whom the person reports to once the good rows are imported."""
        entry = self._entries.get(employee_id)
        if entry is not None and self.valid(employee_id):
            return entry.manager_id
        state = self._existing.get(employee_id)
        return state.manager_id if state is not None else None

    # -- results -------------------------------------------------------------------------------

    def valid(self, employee_id: str) -> bool:
        entry = self._entries.get(employee_id)
        return entry is not None and entry.line not in self._errors

    def errors(self, line: int) -> list[RowError]:
        """The errors of one line (empty: the line is good)."""
        return self._errors.get(line, [])

    def notes(self) -> list[RowError]:
        """Good rows whose manager leaves (or left): their open cycles stay with him meanwhile."""
        found: list[RowError] = []
        for employee_id, entry in self._entries.items():
            manager_id = entry.manager_id
            if manager_id is None or entry.leaves or not self.valid(employee_id):
                continue
            boss = self._entries.get(manager_id)
            known = self._existing.get(manager_id)
            if boss is not None and self.valid(manager_id):
                gone = boss.leaves or (known is not None and known.left_on is not None)
            else:
                gone = known is not None and known.left_on is not None
            if gone:
                found.append(
                    RowError(
                        entry.line,
                        self._header.title(MANAGER),
                        f"manager {manager_id} leaves the organisation: name a new manager "
                        "(open cycles stay with him until then)",
                    )
                )
        return found

    def all_errors(self) -> list[RowError]:
        """Every error, in file order."""
        return [error for line in sorted(self._errors) for error in self._errors[line]]

    @property
    def rejected_lines(self) -> int:
        return len(self._errors)

    @property
    def good_rows(self) -> int:
        return sum(1 for employee_id in self._entries if self.valid(employee_id))

    def is_new(self, employee_id: str) -> bool:
        """A good row of someone the log does not know yet (registered by this import)."""
        return employee_id not in self._existing and self.valid(employee_id)


# --- what the log must learn ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmployeeChange:
    """What importing one row does: the commands (none: the log already agrees) and notes."""

    line: int
    employee_id: str
    commands: tuple[OrganisationCommand, ...]
    notes: tuple[RowError, ...] = ()


def diff_row(
    row: OrgRow,
    state: EmployeeState | None,
    header: Header,
    *,
    today: date,
    default_language: str,
) -> EmployeeChange:
    """The commands that bring the log in line with the row; none when it already agrees.

    A leave is recorded once its end date has come (`today`, in the organisation's time zone);
    a future end date is only a plan, and a later import records it.
    """
    leaves = row.end_date is not None and row.end_date <= today and header.manages(END_DATE)
    manager_id = row.manager_id if header.manages(MANAGER) else None
    if state is None:
        hire = HireEmployee(
            employee_id=row.employee_id,
            name=row.name,
            email=row.email,
            manager_id=manager_id,
            language=row.language or default_language,
            department=row.department or None,
            function=row.function or None,
            start_date=row.start_date,
        )
        leaving = (RecordLeaving(row.end_date),) if leaves and row.end_date else ()
        return EmployeeChange(row.line, row.employee_id, (hire, *leaving))
    commands: list[OrganisationCommand] = []
    details = ChangeEmployeeDetails(
        name=row.name if row.name != state.name else None,
        email=row.email if row.email != state.email else None,
        language=row.language if row.language and row.language != state.language else None,
        department=_changed(header, DEPARTMENT, row.department, state.department),
        function=_changed(header, FUNCTION, row.function, state.function),
    )
    if details != ChangeEmployeeDetails():
        commands.append(details)
    if header.manages(MANAGER) and manager_id != state.manager_id:
        commands.append(ChangeManager(manager_id))
    if leaves and row.end_date is not None and state.left_on is None:
        commands.append(RecordLeaving(row.end_date))
    return EmployeeChange(row.line, row.employee_id, tuple(commands), _notes(row, state, header))


def _changed(header: Header, column: Column, value: str, current: str | None) -> str | None:
    if not header.manages(column) or value == (current or ""):
        return None
    return value


def _notes(row: OrgRow, state: EmployeeState, header: Header) -> tuple[RowError, ...]:
    """What the file says that the log cannot follow: no event corrects these facts."""
    notes: list[RowError] = []
    if (
        header.manages(START_DATE)
        and row.start_date is not None
        and state.start_date is not None
        and row.start_date != state.start_date
    ):
        notes.append(
            RowError(
                row.line,
                header.title(START_DATE),
                f"kept the recorded start date {state.start_date.isoformat()}: "
                "a start date is not changed after registration",
            )
        )
    if header.manages(END_DATE) and state.left_on is not None and row.end_date != state.left_on:
        recorded = state.left_on.isoformat()
        message = (
            f"kept the recorded end date {recorded}: a leave is not moved"
            if row.end_date is not None
            else f"employee left on {recorded}: a return is not recorded by an import"
        )
        notes.append(RowError(row.line, header.title(END_DATE), message))
    return tuple(notes)
