"""The JSON API's schemas: they validate every request and *are* the OpenAPI document.

pydantic v2 models, read by flask-openapi3 both to check a request before the view runs and to
write `/api/openapi.json`, so the document cannot drift from what the server accepts. Request
models are strict (no "12" for 12) and refuse unknown fields, so a typo is named rather than
silently dropped. Field names are the public contract of DESIGN.md §5.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from flask_openapi3.models import RawModel
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$"


def _iso_time(value: object) -> datetime:
    """ISO 8601 text only (pydantic would also take a number of seconds)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("give a time as ISO 8601 text, e.g. 2027-02-01T10:00:00+01:00")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {value!r}") from None


def _iso_date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("give a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {value!r}") from None


Time = Annotated[
    datetime,
    PlainValidator(_iso_time),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A moment; without an offset it is read in the organisation's time zone (POP_TIMEZONE)."""

Day = Annotated[
    date, PlainValidator(_iso_date), WithJsonSchema({"type": "string", "format": "date"})
]
Id = Annotated[str, Field(pattern=ID_PATTERN)]
Text = Annotated[str, Field(max_length=4000)]
Side = Literal["employee", "manager"]


class Request(BaseModel):
    """Base of request bodies: strict types, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class Reply(BaseModel):
    """Base of response bodies: documented fields, more may follow (the API grows)."""

    model_config = ConfigDict(extra="allow")


# --- headers, path and query -----------------------------------------------------------------


def _idempotency_key(description: str) -> Any:
    """The optional `Idempotency-Key` header, bounded as the store's key column; one per POST."""
    return Field(
        None, alias="Idempotency-Key", min_length=1, max_length=255, description=description
    )


_SCHEMAS: dict[type, dict[str, Any]] = {}


class SchemaOnce(BaseModel):
    """A header or query model whose JSON schema is computed once.

    flask-openapi3 asks header and query models for their schema on every request (to find
    list parameters and aliases); computing it cost 0.3-1.3 ms, more than reading a cycle
    (bench/web.py, bench.group_commit's CPU per command). The document itself asks with
    arguments and still gets a fresh one.
    """

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs:
            return super().model_json_schema(*args, **kwargs)
        if cls not in _SCHEMAS:
            _SCHEMAS[cls] = super().model_json_schema()
        return _SCHEMAS[cls]


class CommandHeaders(SchemaOnce):
    """Headers every POST honours."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    idempotency_key: str | None = _idempotency_key(
        "Makes a retried POST safe: the first result is returned again."
    )
    if_match: str | None = Field(
        None,
        alias="If-Match",
        max_length=64,
        description="The cycle version the client read; a stale one is refused with 412.",
    )


class CyclePath(BaseModel):
    cycle_id: str = Field(description="The cycle's id.")


class AsOfQuery(SchemaOnce):
    model_config = ConfigDict(extra="ignore")

    as_of: Time | None = Field(None, description="The cycle as it stood at this moment.")


class FollowupsQuery(SchemaOnce):
    model_config = ConfigDict(extra="ignore")

    status: Literal["pending", "fired"] | None = None
    due_before: Time | None = None


class ImportHeaders(SchemaOnce):
    """Headers of `POST /api/imports` (an import pins no version, so no If-Match)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    idempotency_key: str | None = _idempotency_key(
        "A retry with the same key and file returns the first reply, writing nothing."
    )


class ImportQuery(SchemaOnce):
    """The import's options (the view refuses others: a mistyped `dry_run` must not write)."""

    model_config = ConfigDict(extra="ignore")

    dry_run: bool = Field(False, description="Report what would change; write nothing.")
    skip_invalid: bool = Field(
        False, description="Import the good rows; the bad ones come back in `rejected_rows`."
    )


# --- request bodies --------------------------------------------------------------------------


class NewEmployee(Request):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    email: Annotated[str, Field(min_length=3, max_length=254)]
    manager_id: Id | None = None
    language: Literal["nl", "en"] | None = None
    employee_id: Id | None = Field(None, description="The employee number (default: a new id).")


class NewCycle(Request):
    employee_id: Id
    manager_id: Id
    reason: Literal["periodic", "problem", "on_demand"]
    interview_at: Time | None = None


class Preparation(Request):
    author: Side
    talking_points: Annotated[list[Text], Field(min_length=1, max_length=50)]


class InterviewSchedule(Request):
    scheduled_at: Time


class InterviewHeld(Request):
    held_at: Time | None = None
    summary: Text | None = None
    follow_up_at: Time | None = Field(None, description="Plan a second talk.")


class SupportIn(Request):
    own_hours: Annotated[float, Field(ge=0, le=100_000)] | None = None
    coach_hours: Annotated[float, Field(ge=0, le=100_000)] | None = None
    budget_eur: Annotated[float, Field(ge=0, le=100_000_000)] | None = None
    coach: Text | None = None
    materials: Text | Annotated[list[Text], Field(max_length=50)] | None = Field(
        default=None, description="Learning materials: a list, or one text."
    )

    def materials_tuple(self) -> tuple[str, ...]:
        if self.materials is None:
            return ()
        return (self.materials,) if isinstance(self.materials, str) else tuple(self.materials)


class GoalIn(Request):
    title: Text
    activity: Text
    result: Text
    deadline: Day
    support: SupportIn = Field(default_factory=SupportIn)
    term: Literal["short", "medium"] | None = None
    starting_level: Text | None = None
    reward: Text | None = None
    goal_id: Id | None = None
    carried_from: Annotated[str, Field(max_length=200)] | None = None


class Agreement(Request):
    goals: Annotated[list[GoalIn], Field(max_length=30)]


class Signature(Request):
    signer: Side
    plan_version: int | None = Field(None, description="The plan version read before signing.")


class Review(Request):
    goal_id: Id | None = None
    progress: Literal["on_track", "stalled", "done"]
    note: Text


class ResultIn(Request):
    goal_id: Id
    achieved: bool
    effect: Text | None = None


class Evaluation(Request):
    results: Annotated[list[ResultIn], Field(max_length=30)]
    summary: Text | None = None


class CsvBody(RawModel):
    """HR's CSV export as the request body itself (UTF-8, `,` or `;`, BOM or not)."""

    mimetypes: list[str] = ["text/csv"]  # noqa: RUF012 (flask-openapi3 reads the class attribute)


# --- responses -------------------------------------------------------------------------------


class EmployeeCreated(Reply):
    employee_id: str


class CommandDone(Reply):
    cycle_id: str
    phase: str
    version: int


class SupportOut(Reply):
    own_hours: float | None = None
    coach_hours: float | None = None
    budget_eur: float | None = None
    coach: str | None = None
    materials: list[str] = Field(default_factory=list)


class GoalOut(Reply):
    goal_id: str
    title: str
    activity: str
    result: str
    deadline: date
    support: SupportOut
    term: str
    status: str


class FollowUp(Reply):
    kind: str
    cycle_id: str
    due_at: datetime
    status: Literal["pending", "fired"]
    fired_at: datetime | None = None


class Cycle(Reply):
    cycle_id: str
    employee_id: str
    manager_id: str
    phase: str
    version: int
    goals: list[GoalOut]
    next_followup: FollowUp | None


class Actor(Reply):
    id: str
    role: str
    on_behalf_of: str | None


class HistoryEvent(Reply):
    position: int
    type: str
    at: datetime
    actor: Actor
    data: dict[str, Any]


class History(Reply):
    events: list[HistoryEvent]


class FollowUps(Reply):
    followups: list[FollowUp]


class RowIssue(BaseModel):
    """One bad row of an imported file: its line (the header is line 1), column, reason."""

    line: int
    column: str | None
    reason: str


class ImportResult(Reply):
    """What an import changed (or, in a dry run, would change). Counts are of rows."""

    import_id: str
    file_sha256: str
    rows: int
    good_rows: int
    rejected: int
    hired: int
    changed: int = Field(description="Existing people with new details, manager or end date.")
    unchanged: int
    left: int
    moved_cycles: int = Field(description="Open cycles moved to the employee's new manager.")
    cancelled_cycles: int = Field(description="Open cycles of leavers, cancelled.")
    events: int
    dry_run: bool
    replayed: bool = Field(description="The Idempotency-Key was used before: its first reply.")
    rejected_rows: list[RowIssue] = Field(description="Rows not imported (skip_invalid).")
    notes: list[RowIssue] = Field(description="Facts in the file the log does not follow.")
    changes: list[str] = Field(description="In a dry run: one line per changing employee.")


class Violation(BaseModel):
    letter: Literal["S", "M", "A", "R", "T"]
    field: str
    message: str


class FieldIssue(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An error (RFC 9457 problem details); `field` names the input to fix."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    field: str | None
    violations: list[Violation] | None = Field(None, description="Every SMART letter failed.")
    allowed: list[str] | None = Field(None, description="What the cycle's phase allows now.")
    errors: list[FieldIssue] | None = Field(None, description="Every field that failed.")
    rows: list[RowIssue] | None = Field(None, description="Every bad row of an imported file.")
