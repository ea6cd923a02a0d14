"""`POST /api/imports` as HR's automation calls it: the CSV as the body, over real HTTP.

Files are written the way Dutch Excel ("CSV UTF-8": BOM, `;`, CRLF) and a typical HR system
(`,`, English headers, quoted fields with commas and line breaks) write them. Every refusal is
checked to have written nothing (the log's head stays where it was).
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from handlers.bootstrap import Popcycle
from handlers.organisation import organisation
from tests.support.hr_csv import DUTCH, PEOPLE, excel_nl
from tests.support.served import Client, Reply, served
from web import create_app
from web.api.imports import MAX_BYTES_SETTING

CSV = {"Content-Type": "text/csv"}


def post_csv(client: Client, body: bytes, query: str = "", **headers: str) -> Reply:
    return client.post(f"/api/imports{query}", raw=body, headers={**CSV, **headers})


def people(app: Popcycle) -> dict[str, tuple[str | None, str]]:
    """Who the log knows now: manager and name per employee."""
    return {
        employee_id: (state.manager_id, state.name)
        for employee_id, state in organisation(app.repository).items()
    }


def test_excel_file_imports_then_reimports_as_nothing_then_a_newer_one_as_its_differences(
    hr: Client, web_popcycle: Popcycle
) -> None:
    first = post_csv(hr, excel_nl(PEOPLE))
    assert first.status == 200, first.text
    assert first.media_type == "application/json"
    summary = first.json
    assert (summary["hired"], summary["changed"], summary["rows"], summary["rejected"]) == (
        4,
        0,
        4,
        0,
    )
    assert (summary["dry_run"], summary["replayed"], summary["rejected_rows"]) == (
        False,
        False,
        [],
    )
    assert people(web_popcycle)["E1"] == ("M1", "Ann de Vries")

    head = web_popcycle.store.head()
    again = post_csv(hr, excel_nl(PEOPLE)).json
    assert (again["hired"], again["changed"], again["unchanged"], again["events"]) == (0, 0, 4, 0)
    assert web_popcycle.store.head() == head

    newer = excel_nl([*PEOPLE[:2], PEOPLE[2].replace(";M1;", ";M2;"), PEOPLE[3] + "31-12-2025"])
    diff = post_csv(hr, newer).json
    assert (diff["changed"], diff["left"], diff["unchanged"], diff["events"]) == (2, 1, 2, 2)
    written = list(web_popcycle.store.read_all(head[0]))
    assert [(e.stream_id, e.type, e.data.get("manager_id")) for e in written] == [
        ("employee-E1", "ManagerChanged", "M2"),
        ("employee-E2", "EmployeeLeft", None),
    ]
    assert {e.metadata.correlation_id for e in written} == {diff["import_id"]}
    assert people(web_popcycle)["E1"][0] == "M2"


def test_a_dry_run_lists_what_would_change_and_writes_nothing(
    hr: Client, web_popcycle: Popcycle
) -> None:
    post_csv(hr, excel_nl(PEOPLE))
    head = web_popcycle.store.head()
    newer = excel_nl([*PEOPLE[:2], PEOPLE[2].replace(";M1;", ";M2;"), PEOPLE[3] + "31-12-2025"])
    dry = post_csv(hr, newer, "?dry_run=true", **{"Idempotency-Key": "dry-1"})
    assert dry.status == 200, dry.text
    assert dry.json["dry_run"] is True
    assert (dry.json["changed"], dry.json["left"], dry.json["events"]) == (2, 1, 2)
    assert dry.json["changes"] == [
        "line 4: E1: manager M1 → M2",
        "line 5: E2: leaves on 2025-12-31",
    ]
    assert web_popcycle.store.head() == head
    # A dry run does not spend its key: the real import under it writes.
    real = post_csv(hr, newer, **{"Idempotency-Key": "dry-1"})
    assert (real.json["replayed"], real.json["events"]) == (False, 2)
    assert real.json["changes"] == []


def test_a_typical_hr_system_export_with_quoted_commas_and_line_breaks(
    hr: Client, web_popcycle: Popcycle
) -> None:
    body = (
        b"employee_number,name,email,manager_number,department,function,language,start_date\n"
        b'M1,"Koning, Harrie",harrie@example.nl,,"Directie\nen staf",Directeur,nl,2020-01-01\n'
        b'E1,"Vries, Ann de",ann@example.nl,M1,Verkoop,"Adviseur, senior",en,2021-03-01\n'
    )
    reply = post_csv(hr, body)
    assert reply.status == 200, reply.text
    assert reply.json["hired"] == 2
    assert people(web_popcycle) == {"M1": (None, "Koning, Harrie"), "E1": ("M1", "Vries, Ann de")}


def test_a_classic_mac_file_with_lone_cr_line_ends(hr: Client, web_popcycle: Popcycle) -> None:
    """Excel for Mac's "CSV (Macintosh)" ends lines with CR alone (found by the API fuzzing)."""
    reply = post_csv(hr, "\r".join([DUTCH, *PEOPLE, ""]).encode())
    assert reply.status == 200, reply.text
    assert reply.json["hired"] == 4
    assert people(web_popcycle)["E1"] == ("M1", "Ann de Vries")


def test_bad_rows_are_all_listed_in_a_problem_and_nothing_is_imported(
    hr: Client, web_popcycle: Popcycle
) -> None:
    head = web_popcycle.store.head()
    body = excel_nl(
        [
            PEOPLE[0],
            "A1;Alfa;a@example.nl;B1;;;;;",
            "B1;Beta;b@example.nl;A1;;;;;",
            "C1;Gamma;harrie@example.nl;M9;;;fr;2024-02-30;",
        ]
    )
    reply = post_csv(hr, body, "?skip_invalid=false")
    assert reply.status == 422
    assert reply.media_type == "application/problem+json"
    problem = reply.json
    assert (problem["field"], problem["type"]) == ("body", "urn:popcycle:problem:import-refused")
    assert problem["detail"] == (
        "4 of 4 rows have errors; nothing was imported (?skip_invalid=true imports the good rows)"
    )
    assert problem["rows"] == [
        {"line": 2, "column": "e-mail", "reason": "duplicate e-mail (also on line 5)"},
        {"line": 3, "column": "manager", "reason": "reporting loop A1 → B1 → A1"},
        {"line": 4, "column": "manager", "reason": "reporting loop A1 → B1 → A1"},
        {"line": 5, "column": "taal", "reason": "unknown language 'fr' (use nl or en)"},
        {
            "line": 5,
            "column": "startdatum",
            "reason": "not a date: '2024-02-30' (use YYYY-MM-DD or DD-MM-YYYY)",
        },
        {"line": 5, "column": "e-mail", "reason": "duplicate e-mail (also on line 2)"},
        {
            "line": 5,
            "column": "manager",
            "reason": "unknown manager M9: not in this file and not registered",
        },
    ]
    assert web_popcycle.store.head() == head


def test_skip_invalid_imports_the_good_rows_and_returns_the_rejected_ones(
    hr: Client, web_popcycle: Popcycle
) -> None:
    body = excel_nl([*PEOPLE, "E3;;e3@example.nl;M1;;;;;"])
    reply = post_csv(hr, body, "?skip_invalid=true")
    assert reply.status == 200, reply.text
    assert (reply.json["hired"], reply.json["rejected"]) == (4, 1)
    assert reply.json["rejected_rows"] == [{"line": 6, "column": "naam", "reason": "required"}]
    assert "rejects_file" not in reply.json
    assert sorted(people(web_popcycle)) == ["E1", "E2", "M1", "M2"]


def test_the_same_key_and_file_return_the_first_reply_and_write_nothing(
    hr: Client, web_popcycle: Popcycle
) -> None:
    body = excel_nl([*PEOPLE, "E3;;e3@example.nl;M1;;;;;"])
    key = {"Idempotency-Key": "hr-sync-2026-01-05"}
    first = post_csv(hr, body, "?skip_invalid=true", **key)
    assert first.status == 200, first.text
    head = web_popcycle.store.head()

    retry = post_csv(hr, body, "?skip_invalid=true", **key)
    assert retry.status == 200
    assert retry.json == {**first.json, "replayed": True}
    assert web_popcycle.store.head() == head

    other_file = post_csv(hr, excel_nl(PEOPLE[:1]), "?skip_invalid=true", **key)
    other_option = post_csv(hr, body, **key)
    for refused in (other_file, other_option):
        assert refused.status == 422
        assert refused.json["field"] == "Idempotency-Key"
    assert web_popcycle.store.head() == head


def test_a_key_first_used_for_a_cycle_command_is_not_an_import(
    hr: Client, web_popcycle: Popcycle
) -> None:
    post_csv(hr, excel_nl(PEOPLE))
    key = {"Idempotency-Key": "shared-key"}
    started = hr.post(
        "/api/cycles",
        {"employee_id": "E1", "manager_id": "M1", "reason": "periodic"},
        headers=key,
    )
    assert started.status == 201, started.text
    reply = post_csv(hr, excel_nl(PEOPLE), **key)
    assert reply.status == 422
    assert reply.json["field"] == "Idempotency-Key"


def test_a_manager_change_and_a_leaver_reach_their_open_cycles(
    hr: Client, web_popcycle: Popcycle
) -> None:
    post_csv(hr, excel_nl(PEOPLE))
    cycles = {}
    for employee in ("E1", "E2"):
        started = hr.post(
            "/api/cycles", {"employee_id": employee, "manager_id": "M1", "reason": "periodic"}
        )
        assert started.status == 201, started.text
        cycles[employee] = started.json["cycle_id"]
    newer = excel_nl([*PEOPLE[:2], PEOPLE[2].replace(";M1;", ";M2;"), PEOPLE[3] + "5-1-2026"])
    reply = post_csv(hr, newer)
    assert (reply.json["moved_cycles"], reply.json["cancelled_cycles"]) == (1, 1)
    moved = hr.get(f"/api/cycles/{cycles['E1']}").json
    assert (moved["manager_id"], moved["phase"]) == ("M2", "invitation")
    assert hr.get(f"/api/cycles/{cycles['E2']}").json["phase"] == "cancelled"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"employees": []}'),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\n--x--\r\n"),
        ("text/plain", excel_nl(PEOPLE)),
        ("text/csv; charset=windows-1252", excel_nl(PEOPLE)),
    ],
)
def test_a_body_that_is_not_utf8_csv_is_refused_with_415(
    hr: Client, web_popcycle: Popcycle, content_type: str, body: bytes
) -> None:
    head = web_popcycle.store.head()
    reply = hr.post("/api/imports", raw=body, headers={"Content-Type": content_type})
    assert reply.status == 415, reply.text
    assert reply.media_type == "application/problem+json"
    assert reply.json["field"] == "Content-Type"
    assert web_popcycle.store.head() == head


def test_utf8_charset_is_accepted(hr: Client) -> None:
    reply = hr.post(
        "/api/imports", raw=excel_nl(PEOPLE), headers={"Content-Type": "text/csv; charset=UTF-8"}
    )
    assert reply.status == 200, reply.text


@pytest.mark.parametrize(
    ("body", "field", "rows"),
    [
        (b"", "body", None),
        (
            b"personeelsnummer;naam;manager\r\nE1;Ann;\r\n",
            "body",
            [{"line": 1, "column": "email (e-mail)", "reason": "missing required column"}],
        ),
    ],
    ids=["empty", "missing-column"],
)
def test_an_empty_body_or_a_missing_column_is_422(
    hr: Client, web_popcycle: Popcycle, body: bytes, field: str, rows: object
) -> None:
    head = web_popcycle.store.head()
    reply = post_csv(hr, body)
    assert reply.status == 422, reply.text
    assert reply.json["field"] == field
    assert reply.json.get("rows") == rows
    assert web_popcycle.store.head() == head


@pytest.mark.parametrize(("query", "field"), [("?dryrun=true", "dryrun"), ("?=1", "query")])
def test_a_mistyped_option_is_refused_by_name(
    hr: Client, web_popcycle: Popcycle, query: str, field: str
) -> None:
    head = web_popcycle.store.head()
    reply = post_csv(hr, excel_nl(PEOPLE), query)
    assert reply.status == 422
    assert reply.media_type == "application/problem+json"
    assert reply.json["field"] == field
    assert web_popcycle.store.head() == head


@pytest.fixture
def small_limit(web_popcycle: Popcycle, hr: Client) -> Iterator[Client]:
    """The app again, accepting uploads of at most 300 bytes."""
    app = create_app(web_popcycle, secret_key="test", config={MAX_BYTES_SETTING: 300})
    with served(app) as url:
        yield Client(url, hr.token)


def _chunked(base: str, token: str | None, body: bytes) -> tuple[int, str]:
    """POST without Content-Length, as a client streaming a file of unknown size does."""
    where = urlsplit(base)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
    try:
        headers = {**CSV, "Authorization": f"Bearer {token}"}
        connection.request(
            "POST", "/api/imports", body=iter([body[:100], body[100:]]), headers=headers
        )
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("Content-Type", "")
    finally:
        connection.close()


def test_a_body_over_the_limit_is_413_declared_or_streamed(
    small_limit: Client, web_popcycle: Popcycle
) -> None:
    head = web_popcycle.store.head()
    large = excel_nl(PEOPLE)
    assert len(large) > 300
    reply = post_csv(small_limit, large)
    assert reply.status == 413
    assert reply.media_type == "application/problem+json"
    assert "300 bytes" in reply.json["detail"]
    assert _chunked(small_limit.base, small_limit.token, large) == (
        413,
        "application/problem+json",
    )
    assert web_popcycle.store.head() == head
    fits = excel_nl(PEOPLE[:1])
    assert len(fits) <= 300
    assert _chunked(small_limit.base, small_limit.token, fits)[0] == 200
    assert sorted(people(web_popcycle)) == ["M1"]
