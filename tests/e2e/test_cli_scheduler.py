"""The scheduler's commands as HR runs them: preview a policy, list who is overdue, fire once."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from scheduler.delivery import MAX_ATTEMPTS
from tests.support.cli import Run, pop_runner
from tests.support.postgres import free_port

NOW = "2026-11-23T10:00:00+01:00"


@pytest.fixture
def pop(tmp_path: Path) -> Run:
    run = pop_runner(tmp_path / "scheduler.sqlite3")
    run("demo", "--employees", "18", now=NOW)
    return run


def test_simulate_previews_reminders_per_week_and_writes_csv(pop: Run, tmp_path: Path) -> None:
    out = tmp_path / "preview.csv"
    done = pop("simulate", "--until", "2027-03-01", "--csv", str(out), now=NOW)
    lines = done.stdout.splitlines()
    assert lines[-1].startswith("total ")
    total = int(lines[-1].split()[1])
    assert total > 0
    weeks = [line for line in lines[:-1] if line[:4] in ("2026", "2027")]
    assert sum(int(line.split()[1]) for line in weeks) == total
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == total
    assert {"week", "kind", "cycle_id", "recipients"} <= set(rows[0])
    # a preview changes nothing
    assert pop("scheduler", "--once", now="2026-11-23T10:00:01+01:00").returncode == 0


def test_simulate_refuses_a_period_that_ends_before_it_starts(pop: Run) -> None:
    done = pop("simulate", "--from", "2027-01-01", "--until", "2026-01-01", ok=False, now=NOW)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "--until" in done.stderr


def test_scheduler_once_fires_what_is_due_then_nothing(pop: Run) -> None:
    first = pop("scheduler", "--once", now=NOW)
    assert first.stdout.startswith("fired ")
    again = pop("scheduler", "--once", now=NOW)
    assert again.stdout.strip() == "fired 0 follow-ups"


def test_overdue_lists_people_without_a_recent_pop(pop: Run, tmp_path: Path) -> None:
    # Under the default on-demand policy (every five years) nobody is overdue yet
    calm = pop("overdue", now=NOW)
    assert calm.stdout == ""
    assert "0 overdue under the on_demand policy" in calm.stderr
    # Under a strict periodic policy, years later, people without a recent POP are overdue:
    # managers who never had one, and employees whose cycle ended long ago
    policy = tmp_path / "policy.toml"
    policy.write_text('model = "periodic"\nperiodic_years = 1\n', encoding="utf-8")
    strict = pop("overdue", now="2029-06-01T10:00:00+02:00", env={"POP_POLICY_FILE": str(policy)})
    overdue = strict.stdout.splitlines()
    assert overdue
    reasons = [line.split("\t")[1] for line in overdue]
    assert any(line.startswith("M") and "no POP cycle in 1 years" in line for line in overdue)
    assert all("1 years" in reason for reason in reasons)
    assert f"{len(overdue)} overdue under the periodic policy" in strict.stderr


def test_a_policy_file_with_a_typo_is_refused_naming_the_key(pop: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('modle = "periodic"\n', encoding="utf-8")
    refused = pop("overdue", ok=False, now=NOW, env={"POP_POLICY_FILE": str(bad)})
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: modle: unknown policy setting 'modle'"


def test_failed_notifications_end_as_dead_letters_that_can_be_listed_and_retried(
    pop: Run,
) -> None:
    # Given a mail server that is down for every attempt, hours apart (past each back-off),
    # a week after the demo (which fired what fell due in its own past)
    down = {"POP_SMTP_URL": f"smtp://127.0.0.1:{free_port()}"}
    for hour in range(MAX_ATTEMPTS):
        pop("scheduler", "--once", now=f"2026-11-30T{10 + hour:02d}:00:00+01:00", env=down)
    # Then the notifications are dead letters, listed with their attempts and last error
    listed = pop("outbox", "list", now="2026-11-30T18:00:00+01:00")
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert rows, "no dead letters"
    assert all(row[2] == str(MAX_ATTEMPTS) for row in rows)
    assert all(row[4] for row in rows)  # why it failed
    assert listed.stderr.strip() == f"{len(rows)} dead notifications"
    # When the operator retries them, they are pending again with fresh attempts
    retried = pop("outbox", "retry", "--all-dead", now="2026-11-30T18:00:00+01:00")
    assert retried.stdout.strip() == f"{len(rows)} dead letters queued again"
    pending = pop("outbox", "list", "--status", "pending", now="2026-11-30T18:00:00+01:00")
    assert {row[0] for row in rows} <= {line.split("\t")[0] for line in pending.stdout.splitlines()}
    assert pop("outbox", "list").stdout == ""


def test_retrying_what_is_not_a_dead_letter_is_refused_in_one_line(pop: Run) -> None:
    refused = pop("outbox", "retry", "no-such-message", ok=False)
    assert refused.returncode == 1
    assert refused.stderr == "error: only 0 of 1 are dead letters: nothing was retried\n"
    assert pop("outbox", "retry", ok=False).returncode == 2  # neither names nor --all-dead
