"""`pop demo`'s organisation: realistic histories, the scheduler on its clock, same seed same log.

The demo is what people first see of popcycle and what the benchmarks and soak tests load,
so its shape is tested: cycles of one to two years with 20-40 events, every phase today,
restarts that carry unreached goals, follow-ups fired once each, and no refused step.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from events.records import StoredEvent
from handlers.bootstrap import bootstrap
from handlers.clock import frozen_clock
from handlers.demo import DemoReport, TickFactory, run_demo
from handlers.settings import Settings
from scheduler.demo import demo_tick
from scheduler.tables import FIRED, followups_table, outbox_table
from tests.support.apps import database_url
from workflow.phases import Phase
from workflow.state import CycleState

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EMPLOYEES = 30
Event = tuple[StoredEvent, dict[str, Any]]


@dataclass(frozen=True)
class Seeded:
    """A demo database as read back: its report, every event unsealed, its cycles' states."""

    report: DemoReport
    events: list[Event]
    cycles: dict[str, CycleState]
    latest: dict[str, CycleState]  # each employee's current cycle
    fired_rows: dict[str, str]  # follow-up key -> status of its row
    outbox: int  # notifications left queued

    def cycle_streams(self) -> dict[str, list[Event]]:
        streams: dict[str, list[Event]] = defaultdict(list)
        for event, data in self.events:
            if event.stream_id.startswith("cycle-"):
                streams[event.stream_id.removeprefix("cycle-")].append((event, data))
        return streams


def _seed(directory: Path, seed: int, hooks: Sequence[TickFactory]) -> Seeded:
    directory.mkdir()
    settings = Settings.from_env({"POP_DATABASE_URL": database_url("sqlite", directory, None)})
    report = run_demo(settings, NOW, employees=EMPLOYEES, seed=seed, hooks=hooks)
    app = bootstrap(settings, frozen_clock(NOW))
    try:
        events = app.repository.unsealed(app.store.read_all())
        ids = {data["cycle_id"] for event, data in events if event.type == "CycleStarted"}
        cycles = {cycle_id: app.repository.cycle(cycle_id) for cycle_id in ids}
        people = {data["employee_id"] for event, data in events if event.type == "CycleStarted"}
        latest = {}
        for person in people:
            latest_id = app.repository.employee(person).latest_cycle_id
            assert latest_id is not None
            latest[person] = cycles[latest_id]
        with app.engine.connect() as connection:
            rows = connection.execute(
                followups_table.select().with_only_columns(
                    followups_table.c.key, followups_table.c.status
                )
            ).all()
            outbox = connection.execute(select(func.count()).select_from(outbox_table)).scalar()
    finally:
        app.close()
    statuses = {row.key: row.status for row in rows}
    return Seeded(report, events, cycles, latest, statuses, outbox or 0)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Seeded:
    return _seed(tmp_path_factory.mktemp("demo") / "a", 2026, [demo_tick])


def test_no_step_of_the_demo_is_refused(demo: Seeded) -> None:
    assert demo.report.refused == 0
    assert demo.report.steps > 20 * EMPLOYEES
    assert demo.report.followups > 0


def test_cycles_have_realistic_histories(demo: Seeded) -> None:
    streams = demo.cycle_streams()
    counts = [len(events) for events in streams.values()]
    assert 20 <= statistics.mean(counts) <= 40
    # A cycle that ran its course took one to two years and some 25-45 events
    evaluated = [state for state in demo.cycles.values() if state.evaluated_at is not None]
    assert len(evaluated) >= EMPLOYEES // 2
    for state in evaluated:
        assert 330 <= (state.evaluated_at - state.invited_at).days <= 2 * 366  # type: ignore[operator]
        assert 20 <= len(streams[state.cycle_id]) <= 50
    types = Counter(event.type for events in streams.values() for event, _data in events)
    for kind in (
        "InterviewScheduled",
        "PreparationSubmitted",
        "InterviewHeld",
        "PlanDrafted",
        "PlanSigned",
        "ProgressReviewed",
        "EvaluationDue",
        "EvaluationRecorded",
        "CycleRestarted",
        "CycleCancelled",
        "FollowUpFired",
    ):
        assert types[kind] > 0, kind
    # the talk continued in a follow-up appointment, and plans revised and signed again
    assert any(state.interviews_held == 2 for state in demo.cycles.values())
    assert any(len(state.signed_plans) == 2 for state in demo.cycles.values())


def test_today_every_phase_is_present(demo: Seeded) -> None:
    phases = Counter(state.phase for state in demo.latest.values())
    assert set(phases) == set(Phase)
    assert phases[Phase.PROGRESS_REVIEW] == max(phases.values())


def test_restarts_link_the_cycles_and_carry_the_unreached_goals(demo: Seeded) -> None:
    restarted = [state for state in demo.cycles.values() if state.next_cycle_id is not None]
    assert restarted
    carried = 0
    for old in restarted:
        new = demo.cycles[old.next_cycle_id]  # type: ignore[index]
        assert new.previous_cycle_id == old.cycle_id
        missed = {result.goal_id for result in old.results if not result.achieved}
        expected = {f"{old.cycle_id}/{goal_id}" for goal_id in missed}
        assert {goal.carried_from for goal in new.proposals} == expected
        if new.plan_version:  # the carried goals are in the new plan
            in_plan = {goal.carried_from for goal in new.goals} - {None}
            assert in_plan == expected
            carried += len(in_plan)
    assert carried > 0


def test_follow_ups_fire_once_each_at_or_after_their_time(demo: Seeded) -> None:
    fired = [(event, data) for event, data in demo.events if event.type == "FollowUpFired"]
    keys = Counter(data["followup_key"] for _event, data in fired)
    assert keys
    assert max(keys.values()) == 1
    assert all(demo.fired_rows[key] == FIRED for key in keys)
    assert demo.outbox == 0  # nobody is mailed today about the demo's past
    for event, data in fired:
        assert event.recorded_at >= datetime.fromisoformat(data["due_at"])
    kinds = Counter(data["kind"] for _event, data in fired)
    for kind in ("invitation.reminder", "agreement.unsigned", "review.due", "evaluation.due"):
        assert kinds[kind] > 0, kind
    # the scheduler, not the demo, moved every evaluated cycle to its evaluation
    due = [data for event, data in demo.events if event.type == "EvaluationDue"]
    assert len(due) == kinds["evaluation.due"]


def test_the_same_seed_writes_the_same_log(
    demo: Seeded, tmp_path_factory: pytest.TempPathFactory
) -> None:
    again = _seed(tmp_path_factory.mktemp("demo") / "b", 2026, [demo_tick])
    assert _content(again.events) == _content(demo.events)
    other = _seed(tmp_path_factory.mktemp("demo") / "c", 7, [demo_tick])
    assert _content(other.events) != _content(demo.events)


def _content(events: list[Event]) -> list[tuple[Any, ...]]:
    """What a log says, personal data unsealed (sealing draws a fresh key per person)."""
    return [
        (e.position, e.stream_id, e.version, e.type, data, e.metadata, e.recorded_at)
        for e, data in events
    ]


def test_without_the_scheduler_the_demo_marks_evaluations_due_itself(tmp_path: Path) -> None:
    alone = _seed(tmp_path / "alone", 2026, [])
    assert alone.report.refused == 0
    assert alone.report.followups == 0
    assert not [event for event, _data in alone.events if event.type == "FollowUpFired"]
    phases = Counter(state.phase for state in alone.latest.values())
    assert set(phases) == set(Phase)


def test_the_demo_runs_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    url = database_url("postgres", tmp_path, postgres_url)
    settings = Settings.from_env({"POP_DATABASE_URL": url})
    report = run_demo(settings, NOW, employees=10, seed=3, hooks=[demo_tick])
    assert report.refused == 0
    assert report.followups > 0
    app = bootstrap(settings, frozen_clock(NOW))
    try:
        phases = {
            app.repository.cycle(cycle_id).phase
            for person in (f"E{index:05d}" for index in range(1, 11))
            if (cycle_id := app.repository.employee(person).latest_cycle_id) is not None
        }
    finally:
        app.close()
    assert phases == set(Phase)
