"""`POST /api/imports`: HR's automation sends its CSV export; the same import as `pop import`.

Why the CSV is the request body itself (`Content-Type: text/csv`) and not a multipart form:
one file per request is all an import needs, and `curl --data-binary @employees.csv` or any
HTTP library sends it without building a form. A form (or any other type) is refused with 415.

Why the body is spooled to a temporary file: the import engine reads the file twice (check
everything, then write) in bounded memory; a file on disk lets it do that for 100 000 rows
without holding them. The size is capped (`POP_IMPORT_MAX_BYTES`, default 64 MiB) while
spooling, so a runaway upload fills neither disk nor memory.

Why the API remembers its own reply under the Idempotency-Key rather than letting the engine
remember its summary: the reply lists the rejected rows, which exist only in that run, and a
retry after a lost connection must get them back too. The key's fingerprint is the file's
SHA-256 plus `skip_invalid`, so the same key with another file or option is refused (422).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import structlog
from flask import Response, current_app

from events.errors import IdempotencyKeyReused
from events.records import Metadata
from handlers.imports import ImportOptions, ImportRefused, ImportReport, OrganisationImport
from web.access import require_hr
from web.api import schemas as s
from web.api.blueprint import route
from web.api.commands import reply
from web.problems import Problem, invalid
from web.services import current_principal, services
from workflow.organisation import RowError

log = structlog.get_logger(__name__)

CSV_MEDIA_TYPE = "text/csv"
#: The upload limit, in bytes: an app config key, else the environment variable of that name.
MAX_BYTES_SETTING = "POP_IMPORT_MAX_BYTES"
DEFAULT_MAX_BYTES = 64 * 1024 * 1024  # 100 000 rows of a typical export are about 15 MiB
_CHUNK = 1 << 20
_UTF8_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii"})
IMPORT_ERRORS = (401, 403, 413, 415, 422)


@route(
    "post",
    "/imports",
    tag="organisation",
    ok={200: s.ImportResult},
    errors=IMPORT_ERRORS,
    summary="Import HR's CSV export of employees (only the differences are written)",
)
def import_employees(query: s.ImportQuery, header: s.ImportHeaders, raw: s.CsvBody) -> Response:
    """The body is the CSV itself (`Content-Type: text/csv`), as for `pop import`: English or
    Dutch headers, `,` or `;`, with or without BOM. A file with bad rows imports nothing and
    answers 422 listing every bad row, unless `skip_invalid` (then they come back in
    `rejected_rows`). `dry_run` lists in `changes` what would change and writes nothing."""
    principal = current_principal()
    require_hr(principal, "import the organisation")
    _refuse_unknown_options(raw.args)
    _require_csv(raw.mimetype, raw.mimetype_params.get("charset"))
    with _spooled(raw.stream, raw.content_length, _max_bytes()) as (path, digest):
        key = None if query.dry_run else header.idempotency_key
        fingerprint = f"{digest}:skip_invalid={query.skip_invalid}"
        store = services().popcycle.store
        if key is not None:
            earlier = store.lookup(key, fingerprint)
            if earlier is not None:
                return _replayed(key, earlier.result)
        changes: list[str] = []
        try:
            report = OrganisationImport.for_app(services().popcycle).run(
                path,
                principal.actor,
                ImportOptions(dry_run=query.dry_run, skip_invalid=query.skip_invalid),
                on_change=changes.append if query.dry_run else None,
            )
        except ImportRefused as refused:
            raise _refusal(refused) from None
    payload = _payload(report, changes)
    if key is None:
        return reply(payload, 200)
    metadata = Metadata(
        actor_id=principal.actor.person_id,
        actor_role=principal.actor.role.value,
        causation_id=report.import_id,
        correlation_id=report.import_id,
    )
    stored = store.append(
        [], metadata, idempotency_key=key, request_fingerprint=fingerprint, result=payload
    )
    if stored.replayed:  # the same request, sent twice at once, finished first elsewhere
        return _replayed(key, stored.result)
    return reply(payload, 200)


def _refuse_unknown_options(names: Iterable[str]) -> None:
    """A mistyped `dry_run` must not import for real. Checked here, not by the schema, so the
    refusal names the parameter even when it has no name (`?=1`)."""
    for name in names:
        if name not in s.ImportQuery.model_fields:
            raise invalid(
                f"unknown query parameter {name!r}: the options are dry_run and skip_invalid",
                name or "query",
            )


def _require_csv(media_type: str, charset: str | None) -> None:
    if media_type != CSV_MEDIA_TYPE:
        sent = media_type or "no Content-Type"
        raise _unsupported(
            f"send the CSV file itself as the body with Content-Type: text/csv, not {sent} "
            "(curl --data-binary @employees.csv -H 'Content-Type: text/csv')"
        )
    if charset is not None and charset.lower() not in _UTF8_CHARSETS:
        raise _unsupported(f"the file must be UTF-8 (export as 'CSV UTF-8'), not {charset}")


def _unsupported(detail: str) -> Problem:
    return Problem(415, "unsupported-media-type", "Unsupported media type", detail, "Content-Type")


def _max_bytes() -> int:
    configured = current_app.config.get(MAX_BYTES_SETTING, os.environ.get(MAX_BYTES_SETTING))
    if configured is None:
        return DEFAULT_MAX_BYTES
    try:
        return int(configured)
    except ValueError:
        raise ValueError(
            f"{MAX_BYTES_SETTING} must be a number of bytes, not {configured!r}"
        ) from None


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        "too-large",
        "Body too large",
        f"the file is larger than this server accepts ({limit} bytes, {MAX_BYTES_SETTING}); "
        "split it, or ask the administrator to raise the limit",
        "body",
    )


@contextmanager
def _spooled(stream: IO[bytes], declared: int | None, limit: int) -> Iterator[tuple[Path, str]]:
    """The body in a temporary file (removed afterwards), with its SHA-256; at most `limit`."""
    if declared is not None and declared > limit:
        raise _too_large(limit)
    digest, size = hashlib.sha256(), 0
    with tempfile.TemporaryDirectory(prefix="pop-import-") as folder:
        path = Path(folder) / "upload.csv"
        with path.open("wb") as spool:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                digest.update(chunk)
                spool.write(chunk)
        if size == 0:
            raise invalid("the body is empty: send the CSV export itself", "body")
        yield path, digest.hexdigest()


def _issues(errors: tuple[RowError, ...] | list[RowError]) -> list[dict[str, Any]]:
    return [{"line": e.line, "column": e.column, "reason": e.message} for e in errors]


def _refusal(refused: ImportRefused) -> Problem:
    """Nothing was written: every bad row, with its line and column, in `rows`."""
    log.info("api.import.refused", errors=len(refused.errors))
    # The engine speaks to the command line; over HTTP the option is a query parameter.
    detail = refused.message.replace("--skip-invalid", "?skip_invalid=true")
    return Problem(
        422,
        "import-refused",
        "The file cannot be imported",
        detail,
        "body",
        extra={"rows": _issues(refused.errors)},
    )


def _payload(report: ImportReport, changes: list[str]) -> dict[str, Any]:
    """The engine's summary, minus the rejects file (the upload's folder is gone by now)."""
    summary = {k: v for k, v in report.to_json().items() if k != "rejects_file"}
    return {
        **summary,
        "replayed": False,
        "rejected_rows": _issues(report.errors),
        "notes": _issues(report.notes),
        "changes": changes,
    }


def _replayed(key: str, stored: dict[str, Any]) -> Response:
    """The first reply under `key` again; a key first used for something else is refused."""
    if "import_id" not in stored or "rejected_rows" not in stored:
        raise IdempotencyKeyReused(key)
    return reply({**stored, "replayed": True}, 200)
