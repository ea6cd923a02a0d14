"""`OrganisationImport` on real databases, with CSV files written the way HR's tools write them.

Excel in the Dutch locale saves "CSV (gescheiden door lijstscheidingsteken)" as UTF-8 with a BOM
(the "CSV UTF-8" choice), `;` between fields, CRLF line ends and day-first dates. A typical HR
system writes `,`, LF and quotes fields holding commas or line breaks. Both are written here
byte for byte, then imported, re-imported and changed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from events.errors import IdempotencyKeyReused
from events.sealing import sealed_subject
from handlers.actor import Actor, Role
from handlers.bootstrap import Popcycle
from handlers.imports import ImportOptions, ImportRefused, OrganisationImport
from handlers.organisation import PrefetchedKeys, organisation, sql_key_creator
from handlers.privacy import forget_employee
from tests.integration.conftest import SQL_KINDS
from tests.support.apps import database_url, wired
from tests.support.clock import FakeClock
from workflow.employee import ChangeEmployeeDetails, ChangeManager
from workflow.organisation import EmployeeChange

HR = Actor("hr-1", Role.HR)
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
DUTCH = "personeelsnummer;naam;e-mail;manager;afdeling;functie;taal;startdatum;einddatum"
ENGLISH = [
    "employee_number",
    "name",
    "email",
    "manager_number",
    "department",
    "function",
    "language",
    "start_date",
    "end_date",
]


@pytest.fixture(params=SQL_KINDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    postgres = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return database_url(request.param, tmp_path, postgres)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def app(url: str, clock: FakeClock) -> Iterator[Popcycle]:
    with wired(url, clock) as popcycle:
        yield popcycle


def excel_nl(path: Path, *rows: str) -> Path:
    """Lines as Dutch Excel saves them: BOM, `;`, CRLF."""
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([DUTCH, *rows, ""]).encode("utf-8"))
    return path


def hr_system(path: Path, *rows: list[str]) -> Path:
    """Rows as an HR system exports them: `,`, LF, quotes only where needed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ENGLISH)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def run(app: Popcycle, path: Path, **options: object) -> OrganisationImport:
    importer = OrganisationImport.for_app(app)
    importer.run(path, HR, ImportOptions(**options))  # type: ignore[arg-type]
    return importer


def new_events(app: Popcycle, after: int) -> list[tuple[str, str]]:
    return [(event.stream_id, event.type) for event in app.store.read_all(after)]


ORGANISATION = (
    "M1;Harrie Koning;harrie@example.nl;;Directie;Directeur;nl;1-1-2020;",
    "E1;Ann de Vries;ann@example.nl;M1;Verkoop;Adviseur;en;01-03-2021;",
    "E2;Bram Jansen;bram@example.nl;M1;Verkoop;Adviseur;;15-6-2022;",
    "E3;Chantal Smit;chantal@example.nl;E1;Inkoop;Inkoper;nl;2023-09-01;",
)


def test_an_excel_nl_file_round_trips_and_a_second_import_changes_nothing(
    app: Popcycle, tmp_path: Path
) -> None:
    path = excel_nl(tmp_path / "medewerkers.csv", *ORGANISATION)
    report = OrganisationImport.for_app(app).run(path, HR)
    assert (report.rows, report.hired, report.events) == (4, 4, 4)
    people = organisation(app.repository)
    ann = people["E1"]
    assert (ann.name, ann.email, ann.manager_id, ann.department, ann.function) == (
        "Ann de Vries",
        "ann@example.nl",
        "M1",
        "Verkoop",
        "Adviseur",
    )
    assert (ann.language, ann.start_date, people["E2"].language) == ("en", date(2021, 3, 1), "nl")
    assert people["E3"].manager_id == "E1"
    # Personal data is sealed with each person's own key
    registered = [e for e in app.store.read_all(0) if e.type == "EmployeeRegistered"]
    assert [sealed_subject(e.data) for e in registered] == ["M1", "E1", "E2", "E3"]
    assert all("Ann de Vries" not in str(e.data) for e in registered)

    head = app.store.head()
    again = OrganisationImport.for_app(app).run(path, HR)
    assert (again.unchanged, again.events, again.written) == (4, 0, False)
    assert app.store.head() == head


def test_an_hr_system_file_keeps_commas_and_line_breaks_inside_quoted_fields(
    app: Popcycle, tmp_path: Path
) -> None:
    path = hr_system(
        tmp_path / "export.csv",
        ["100", "Koning, Harrie", "h@example.com", "", "Sales, North", "Head", "en", "", ""],
        [
            "101",
            "Ann",
            "a@example.com",
            "100",
            "Sales, North",
            "Adviseur\nbuitendienst",
            "",
            "",
            "",
        ],
    )
    run(app, path)
    people = organisation(app.repository)
    assert people["100"].name == "Koning, Harrie"
    assert people["101"].department == "Sales, North"
    assert people["101"].function == "Adviseur\nbuitendienst"
    assert people["101"].manager_id == "100"
    head = app.store.head()
    run(app, path)
    assert app.store.head() == head


def test_a_newer_file_appends_exactly_its_differences_caused_by_the_import(
    app: Popcycle, clock: FakeClock, tmp_path: Path
) -> None:
    run(app, excel_nl(tmp_path / "v1.csv", *ORGANISATION))
    before, _hash = app.store.head()
    clock.set(datetime(2026, 4, 1, 8, 0, tzinfo=UTC))
    newer = excel_nl(
        tmp_path / "v2.csv",
        ORGANISATION[0],
        "E1;Ann de Vries;ann@example.nl;M1;Marketing;Adviseur;en;01-03-2021;",  # department
        "E2;Bram Jansen;bram@example.nl;M1;Verkoop;Adviseur;;15-6-2022;31-3-2026",  # leaves
        "E3;Chantal Smit;chantal@example.nl;M1;Inkoop;Inkoper;nl;2023-09-01;",  # new manager
        "E4;Daan Bakker;daan@example.nl;E1;Marketing;Stagiair;nl;2026-04-01;",  # hired
    )
    report = OrganisationImport.for_app(app).run(newer, HR)
    assert new_events(app, before) == [
        ("employee-E1", "EmployeeDetailsChanged"),
        ("employee-E2", "EmployeeLeft"),
        ("employee-E3", "ManagerChanged"),
        ("employee-E4", "EmployeeRegistered"),
    ]
    assert (report.hired, report.changed, report.left, report.unchanged) == (1, 3, 1, 1)
    metadata = [event.metadata for event in app.store.read_all(before)]
    assert {m.correlation_id for m in metadata} == {report.import_id}
    assert {(m.actor_id, m.actor_role) for m in metadata} == {("hr-1", "hr")}
    # The organisation as it stood before the newer file is still there to read
    then = organisation(app.repository, as_of=datetime(2026, 3, 15, tzinfo=UTC))
    now = organisation(app.repository)
    assert (then["E3"].manager_id, now["E3"].manager_id) == ("E1", "M1")
    assert (then["E2"].left_on, now["E2"].left_on) == (None, date(2026, 3, 31))
    assert "E4" not in then


def test_a_file_with_errors_reports_every_bad_row_and_imports_nothing(
    app: Popcycle, tmp_path: Path
) -> None:
    path = excel_nl(
        tmp_path / "fout.csv",
        ORGANISATION[0],
        "A1;Alfa;a@example.nl;B1;;;;;",
        "B1;Beta;b@example.nl;A1;;;;;",
        "C1;Gamma;ann@example.nl;M9;;;fr;31-02-2024;",
        "D1;Delta;ANN@example.nl;M1;;;;;",
    )
    head = app.store.head()
    with pytest.raises(ImportRefused) as refused:
        OrganisationImport.for_app(app).run(path, HR)
    assert [str(error) for error in refused.value.errors] == [
        "line 3, manager: reporting loop A1 → B1 → A1",
        "line 4, manager: reporting loop A1 → B1 → A1",
        "line 5, taal: unknown language 'fr' (use nl or en)",
        "line 5, startdatum: not a date: '31-02-2024' (use YYYY-MM-DD or DD-MM-YYYY)",
        "line 5, e-mail: duplicate e-mail (also on line 6)",
        "line 5, manager: unknown manager M9: not in this file and not registered",
        "line 6, e-mail: duplicate e-mail (also on line 5)",
    ]
    assert "4 of 5 rows have errors; nothing was imported" in refused.value.message
    assert app.store.head() == head


def test_skip_invalid_imports_the_good_rows_and_writes_the_rejects_beside_the_file(
    app: Popcycle, tmp_path: Path
) -> None:
    path = excel_nl(
        tmp_path / "medewerkers.csv",
        ORGANISATION[0],
        'E1;Ann;ann@example.nl;M1;"Verkoop; binnendienst";;xx;;',
        "E2;Bram;bram@example.nl;E1;;;;;",
        "E3;Chantal;chantal@example.nl;M1;;;;;",
    )
    report = OrganisationImport.for_app(app).run(path, HR, ImportOptions(skip_invalid=True))
    assert sorted(organisation(app.repository)) == ["E3", "M1"]
    assert report.rejects_file == tmp_path / "medewerkers.rejected.csv"
    raw = report.rejects_file.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens it with the right characters
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows == [
        [*DUTCH.split(";"), "regel", "fout"],
        [
            "E1",
            "Ann",
            "ann@example.nl",
            "M1",
            "Verkoop; binnendienst",
            "",
            "xx",
            "",
            "",
            "3",
            "taal: unknown language 'xx' (use nl or en)",
        ],
        [
            *["E2", "Bram", "bram@example.nl", "E1", "", "", "", "", ""],
            "4",
            "manager: manager E1 is not imported: line 3 has errors",
        ],
    ]


def test_managers_are_registered_before_the_people_who_report_to_them(
    app: Popcycle, tmp_path: Path
) -> None:
    # Subordinates first, managers last, three levels deep, one employee per transaction
    path = excel_nl(
        tmp_path / "omgekeerd.csv",
        "E1;Ann;ann@example.nl;T1;;;;;",
        "T1;Teamleider;t@example.nl;D1;;;;;",
        "D1;Directeur;d@example.nl;;;;;;",
    )
    run(app, path, batch_size=1)
    order = [e.stream_id for e in app.store.read_all(0) if e.type == "EmployeeRegistered"]
    assert order == ["employee-D1", "employee-T1", "employee-E1"]


def test_batches_write_the_same_events_as_one_transaction_per_employee(
    url: str, tmp_path: Path
) -> None:
    path = excel_nl(tmp_path / "medewerkers.csv", *ORGANISATION)
    seen = []
    for batch_size, database in ((1, url), (500, None)):
        target = database or database_url("sqlite", tmp_path / "second", None)
        with wired(target, FakeClock(START)) as popcycle:
            report = OrganisationImport.for_app(popcycle).run(
                path, HR, ImportOptions(batch_size=batch_size)
            )
            assert report.events == 4
            seen.append(
                [
                    (event.stream_id, event.version, event.type, decoded)
                    for event, decoded in popcycle.repository.unsealed(popcycle.store.read_all(0))
                ]
            )
    assert seen[0] == seen[1]


def test_a_dry_run_describes_the_changes_and_writes_nothing(app: Popcycle, tmp_path: Path) -> None:
    run(app, excel_nl(tmp_path / "v1.csv", *ORGANISATION))
    head = app.store.head()
    lines: list[str] = []
    report = OrganisationImport.for_app(app).run(
        excel_nl(
            tmp_path / "v2.csv",
            *ORGANISATION[:3],
            "E3;Chantal Smit;chantal.smit@example.nl;M1;Inkoop;Inkoper;nl;2023-09-01;",
        ),
        HR,
        ImportOptions(dry_run=True),
        on_change=lines.append,
    )
    assert lines == ["line 5: E3: email changed; manager E1 → M1"]
    assert (report.changed, report.events, report.written) == (1, 2, False)
    assert app.store.head() == head


def test_an_idempotency_key_returns_the_first_import_and_refuses_another_file(
    app: Popcycle, tmp_path: Path
) -> None:
    first = excel_nl(tmp_path / "a.csv", *ORGANISATION)
    options = ImportOptions(idempotency_key="hr-sync-2026-03-02")
    done = OrganisationImport.for_app(app).run(first, HR, options)
    head = app.store.head()
    again = OrganisationImport.for_app(app).run(first, HR, options)
    assert (again.replayed, again.import_id, again.hired) == (True, done.import_id, 4)
    assert app.store.head() == head
    with pytest.raises(IdempotencyKeyReused):
        OrganisationImport.for_app(app).run(
            excel_nl(tmp_path / "b.csv", *ORGANISATION[:2]), HR, options
        )


def test_bytes_that_are_not_utf8_are_refused_with_their_line_and_column(
    app: Popcycle, tmp_path: Path
) -> None:
    path = tmp_path / "ansi.csv"
    path.write_bytes(
        "\r\n".join([DUTCH, ORGANISATION[0], "E1;Ren\xe9e;renee@example.nl;M1;;;;;", ""]).encode(
            "cp1252"
        )
    )
    with pytest.raises(ImportRefused) as refused:
        run(app, path)
    assert [str(error) for error in refused.value.errors] == [
        "line 3, naam: not UTF-8 text: export the file as 'CSV UTF-8'"
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("naam;afdeling\r\nAnn;Verkoop\r\n", "missing required column"),
        (DUTCH + '\nE1;"Ann;ann@example.nl;;;;;;\n' + "x" * 140_000 + "\n", "line 2: the file"),
    ],
)
def test_an_unreadable_file_is_refused_as_a_whole(
    app: Popcycle, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "kapot.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImportRefused, match=message):
        run(app, path)


def test_an_excel_sep_line_sets_the_separator_and_lines_still_count_from_the_top(
    app: Popcycle, tmp_path: Path
) -> None:
    path = tmp_path / "sep.csv"
    path.write_text(
        "sep=,\r\n" + ",".join(ENGLISH) + "\r\nE1,Ann,ann@example.nl,,,,xx,,\r\n", encoding="utf-8"
    )
    with pytest.raises(ImportRefused) as refused:
        run(app, path)
    assert [str(error) for error in refused.value.errors] == [
        "line 3, language: unknown language 'xx' (use nl or en)"
    ]


def test_a_batch_leaves_out_a_change_its_rules_refuse_and_writes_the_rest(
    app: Popcycle, tmp_path: Path
) -> None:
    run(app, excel_nl(tmp_path / "v1.csv", *ORGANISATION))
    handler = OrganisationImport.for_app(app).handler
    people = organisation(app.repository)
    batch = [
        (people["E1"], EmployeeChange(3, "E1", (ChangeEmployeeDetails(email="not-an-address"),))),
        (people["E2"], EmployeeChange(4, "E2", (ChangeManager("E1"),))),
    ]
    outcome = handler.apply(HR, batch, correlation_id="import-test")
    assert [(change.employee_id, error.field) for change, error in outcome.refused] == [
        ("E1", "email")
    ]
    assert [planned.change.employee_id for planned in outcome.applied] == ["E2"]
    assert organisation(app.repository)["E2"].manager_id == "E1"


def test_a_forgotten_person_is_refused_and_gets_no_new_key(app: Popcycle, tmp_path: Path) -> None:
    path = excel_nl(tmp_path / "v1.csv", *ORGANISATION)
    run(app, path)
    forget_employee(app, HR, "E2")
    with pytest.raises(ImportRefused) as refused:
        run(app, path)
    assert [error.line for error in refused.value.errors] == [4]
    assert "was forgotten (GDPR erasure)" in refused.value.errors[0].message
    keys = PrefetchedKeys(app.repository.keys, sql_key_creator(app.engine))
    keys.prefetch({"E2", "E9"})
    assert keys.key_for("E2", create=True) is None  # destroyed stays destroyed
    assert keys.key_for("E9", create=False) is not None  # a newcomer's key was made
