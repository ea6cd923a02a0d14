"""A whole POP cycle through the `pop` command, as HR would run it from a shell."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import POP, Run, pop_runner


@pytest.fixture
def pop(tmp_path: Path) -> Run:
    """`pop` against a fresh, initialised SQLite file; `now=` moves the clock."""
    return pop_runner(tmp_path / "pop.sqlite3")


def _json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The `--json` reply of a command: parsed JSON, so its values are untyped."""
    reply: dict[str, Any] = json.loads(done.stdout)
    return reply


GOALS = {
    "goals": [
        {
            "title": "Excel",
            "activity": "Externe cursus van 10 lessen volgen, onder werktijd",
            "result": "Voorkomende werkzaamheden zelfstandig in Excel uitvoeren",
            "deadline": "2026-12-31",
            "support": {"own_hours": 20, "budget_eur": 450},
        },
        {
            "title": "Klantgericht werken",
            "activity": "Zes donderdagmiddagen meewerken op de servicebalie",
            "result": "Weten welke benadering tevreden klanten oplevert",
            "deadline": "2026-05-01",
            "support": {"coach": "Corrie de Jong", "coach_hours": 24},
        },
    ]
}


def test_a_whole_cycle_from_invitation_to_restart(pop: Run) -> None:
    # Given a manager and an employee
    pop("employee", "add", "--id", "m1", "--name", "Harrie Koning", "--email", "h@example.nl")
    pop(
        "employee",
        "add",
        "--id",
        "e1",
        "--name",
        "Ann de Vries",
        "--email",
        "a@example.nl",
        "--manager",
        "m1",
        "--language",
        "en",
    )
    # When HR invites the employee with the interview already planned
    started = _json(
        pop(
            "cycle",
            "start",
            "--employee",
            "e1",
            "--manager",
            "m1",
            "--interview-at",
            "2026-01-26T10:00",
            "--json",
        )
    )
    cycle = str(started["cycle_id"])
    assert started["phase"] == "invitation"

    # Then each step moves the phase as DESIGN §5 says
    def phase_after(*args: str, now: str) -> str:
        return str(_json(pop("cycle", *args, "--json", now=now))["phase"])

    assert (
        phase_after(
            "prepare",
            cycle,
            "--author",
            "employee",
            "--point",
            "Excel leren",
            now="2026-01-06T09:00:00+01:00",
        )
        == "preparation"
    )
    assert (
        phase_after(
            "prepare",
            cycle,
            "--author",
            "manager",
            "--point",
            "Klantgerichtheid",
            now="2026-01-07T09:00:00+01:00",
        )
        == "interview"
    )
    assert (
        phase_after("held", cycle, "--summary", "Goed gesprek", now="2026-01-26T11:00:00+01:00")
        == "agreement"
    )
    agreed = pop(
        "cycle",
        "agree",
        cycle,
        "--goals",
        "-",
        "--json",
        stdin=json.dumps(GOALS),
        now="2026-01-27T09:00:00+01:00",
    )
    assert _json(agreed)["phase"] == "agreement"
    assert (
        phase_after("sign", cycle, "--signer", "employee", now="2026-01-28T09:00:00+01:00")
        == "agreement"
    )
    assert (
        phase_after("sign", cycle, "--signer", "manager", now="2026-01-29T09:00:00+01:00")
        == "progress_review"
    )
    assert (
        phase_after(
            "review",
            cycle,
            "--goal",
            "g2",
            "--progress",
            "done",
            "--note",
            "Klaar",
            now="2026-04-20T09:00:00+01:00",
        )
        == "progress_review"
    )
    assert (
        phase_after(
            "review",
            cycle,
            "--goal",
            "g1",
            "--progress",
            "stalled",
            "--note",
            "Cursus vol",
            now="2026-06-01T09:00:00+02:00",
        )
        == "progress_review"
    )
    assert (
        phase_after(
            "evaluate",
            cycle,
            "--achieved",
            "g2",
            "--missed",
            "g1",
            "--effect",
            "g2=Meer tevreden klanten",
            now="2027-01-10T09:00:00+01:00",
        )
        == "completed"
    )
    restarted = _json(pop("cycle", "restart", cycle, "--json", now="2027-01-11T09:00:00+01:00"))
    assert restarted["phase"] == "invitation"
    assert restarted["cycle_id"] != cycle

    # And the new cycle carries the unreached goal as a proposal, linked to where it came from
    shown = _json(pop("cycle", "show", str(restarted["cycle_id"])))
    assert shown["previous_cycle_id"] == cycle
    assert [p["carried_from"] for p in shown["proposals"]] == [f"{cycle}/g1"]

    # And the history lists every step with who acted and for whom
    history = _json(pop("history", cycle, "--json"))["events"]
    types = [event["type"] for event in history]
    assert types == [
        "CycleStarted",
        "InterviewScheduled",
        "PreparationSubmitted",
        "PreparationSubmitted",
        "InterviewHeld",
        "PlanDrafted",
        "PlanSigned",
        "PlanSigned",
        "ProgressReviewed",
        "ProgressReviewed",
        "EvaluationRecorded",
        "CycleRestarted",
    ]
    signed = history[6]
    assert signed["actor"] == {"id": "cli", "role": "hr", "on_behalf_of": "e1"}


def test_history_as_of_shows_the_plan_as_it_stood(pop: Run) -> None:
    pop("employee", "add", "--id", "m1", "--name", "M", "--email", "m@example.nl")
    pop("employee", "add", "--id", "e1", "--name", "E", "--email", "e@example.nl")
    cycle = str(
        _json(
            pop(
                "cycle",
                "start",
                "--employee",
                "e1",
                "--manager",
                "m1",
                "--json",
                now="2026-01-05T09:00:00+00:00",
            )
        )["cycle_id"]
    )
    pop(
        "cycle",
        "cancel",
        cycle,
        "--reason",
        "left the organisation",
        now="2026-02-01T09:00:00+00:00",
    )
    before = _json(pop("cycle", "show", cycle, "--as-of", "2026-01-20T00:00:00+00:00"))
    after = _json(pop("cycle", "show", cycle))
    assert (before["phase"], after["phase"]) == ("invitation", "cancelled")
    lines = pop("history", cycle, "--as-of", "2026-01-20T00:00:00+00:00").stdout.splitlines()
    assert len(lines) == 1
    assert "CycleStarted" in lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("cycle", "show", "nope"), "cycle_id: no cycle nope"),
        (("cycle", "start", "--employee", "ghost", "--manager", "m1"), "employee_id: no employee"),
        (("cycle", "schedule", "CYCLE", "--at", "tomorrow"), "scheduled_at: not an ISO 8601"),
        (
            ("cycle", "sign", "CYCLE", "--signer", "employee"),
            "cannot sign while the cycle is in phase invitation",
        ),
        (("cycle", "review", "CYCLE", "--progress", "done", "--note", "x"), "cannot review"),
        (
            (
                "cycle",
                "bogus",
            ),
            "No such command",
        ),
        (("employee", "add", "--name", "X", "--email", "not-an-address"), "email:"),
        (("cycle", "agree", "CYCLE", "--goals", "/nonexistent.json"), "goals: cannot read"),
    ],
)
def test_bad_input_is_one_line_exit_nonzero_and_changes_nothing(
    pop: Run, args: tuple[str, ...], message: str
) -> None:
    pop("employee", "add", "--id", "m1", "--name", "M", "--email", "m@example.nl")
    pop("employee", "add", "--id", "e1", "--name", "E", "--email", "e@example.nl")
    cycle = str(
        _json(pop("cycle", "start", "--employee", "e1", "--manager", "m1", "--json"))["cycle_id"]
    )
    before = pop("history", cycle).stdout
    done = pop(*[cycle if arg == "CYCLE" else arg for arg in args], ok=False)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: ")
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert pop("history", cycle).stdout == before


def test_a_retried_command_with_the_same_idempotency_key_applies_once(pop: Run) -> None:
    pop("employee", "add", "--id", "m1", "--name", "M", "--email", "m@example.nl")
    pop("employee", "add", "--id", "e1", "--name", "E", "--email", "e@example.nl")
    start = ("cycle", "start", "--employee", "e1", "--manager", "m1", "--idempotency-key", "k-1")
    first = _json(pop(*start, "--json"))
    again = _json(pop(*start, "--json"))
    assert again["cycle_id"] == first["cycle_id"]
    assert again["replayed"] is True
    other = pop(*start, "--reason", "problem", ok=False)
    assert other.returncode == 1
    assert "already used for a different request" in other.stderr


def test_commands_before_init_say_to_run_init(tmp_path: Path) -> None:
    env = {**os.environ, "POP_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    done = subprocess.run(
        [*POP, "cycle", "show", "c1"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == "error: the database has no popcycle schema yet: run `pop init` first"
    )
