"""The POP workload the append benchmark and its profiler drive through the real command path.

`cycles` employees each get one cycle driven through ten commands, one command per transaction:
start (with the interview date), prepare x2 (employee, manager), interview held, draft plan
(two SMART goals), sign x2, review x2, evaluate. The commands are sent step by step across all
cycles (every cycle's start, then every cycle's first preparation, …), so consecutive appends
hit different streams, as they would with many people at work. Registering the people is setup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from events.domain import GoalResult, Progress, Reason, Side, Support
from events.keyring import InMemoryKeyRing
from events.memory import InMemoryEventStore
from handlers.actor import Actor, Role
from handlers.bootstrap import Popcycle, bootstrap
from handlers.clock import system_clock
from handlers.commands import CommandHandler
from handlers.repository import Repository
from handlers.settings import Settings
from workflow.commands import (
    CycleCommand,
    DraftPlan,
    GoalDraft,
    RecordEvaluation,
    RecordInterviewHeld,
    ReviewProgress,
    SignPlan,
    SubmitPreparation,
)
from workflow.employee import RegisterEmployee

HR = Actor("hr-bench", Role.HR)

#: Commands per cycle: the start plus the nine of `cycle_commands`.
COMMANDS_PER_CYCLE = 10

#: Called after every command with its name (progress, profiling).
OnCommand = Callable[[str], None]


def cycle_commands(today: date) -> list[CycleCommand]:
    """The nine commands after the start, in the order a real cycle sends them."""
    goals = (
        GoalDraft(
            "Excel",
            "Externe cursus van 10 lessen volgen, onder werktijd",
            "Voorkomende werkzaamheden zelfstandig in Excel uitvoeren",
            today + timedelta(days=180),
            Support(own_hours=16, budget_eur=450),
        ),
        GoalDraft(
            "Klantgericht werken",
            "Zes donderdagmiddagen meewerken op de servicebalie",
            "Weten welke benadering tevreden klanten oplevert",
            today + timedelta(days=300),
            Support(coach="Corrie de Jong", coach_hours=24),
        ),
    )
    return [
        SubmitPreparation(
            Side.EMPLOYEE, ("Ik wil beter worden in mijn vak", "Doorgroeien naar teamleider")
        ),
        SubmitPreparation(Side.MANAGER, ("Klantgerichtheid", "Planning van het werk")),
        RecordInterviewHeld(summary="Open gesprek over groei en planning"),
        DraftPlan(goals),
        SignPlan(Side.EMPLOYEE),
        SignPlan(Side.MANAGER),
        ReviewProgress(Progress.ON_TRACK, "Cursus loopt volgens plan"),
        ReviewProgress(Progress.STALLED, "Balie-middagen uitgesteld", goal_id="g2"),
        RecordEvaluation(
            (
                GoalResult("g1", True, "Zelfstandig in Excel"),
                GoalResult("g2", False, "Nog niet aan toe gekomen"),
            ),
            "Evaluatie afgerond",
        ),
    ]


@dataclass(frozen=True, slots=True)
class Workload:
    """`cycles` cycles of ten commands; one manager per ten employees."""

    cycles: int

    @classmethod
    def for_commands(cls, commands: int) -> Workload:
        """The workload closest to `commands` commands (whole cycles, at least one)."""
        return cls(max(1, round(commands / COMMANDS_PER_CYCLE)))

    @property
    def commands(self) -> int:
        return self.cycles * COMMANDS_PER_CYCLE

    @property
    def managers(self) -> int:
        return max(1, self.cycles // 10)

    @property
    def people(self) -> int:
        return self.cycles + self.managers

    def employee_id(self, index: int) -> str:
        return f"E{index:06d}"

    def manager_id(self, index: int) -> str:
        return f"M{index % self.managers:04d}"


def wire(url: str) -> Popcycle:
    """The product as `pop` wires it (handlers/bootstrap.py) on `url`, with the real clock."""
    return bootstrap(Settings.from_env({"POP_DATABASE_URL": url}), system_clock)


def wire_in_memory() -> tuple[InMemoryEventStore, CommandHandler]:
    """The same command path on the in-memory reference store and key ring."""
    store = InMemoryEventStore(system_clock)
    return store, CommandHandler(Repository(store, InMemoryKeyRing()), system_clock)


def register_people(handler: CommandHandler, workload: Workload) -> None:
    """Setup, not measured: the managers, then the employees."""
    for index in range(workload.managers):
        person = f"M{index:04d}"
        handler.register_employee(
            HR, RegisterEmployee(person, f"Manager {index}", f"{person.lower()}@bench.example")
        )
    for index in range(workload.cycles):
        person = workload.employee_id(index)
        handler.register_employee(
            HR,
            RegisterEmployee(
                person,
                f"Medewerker {index}",
                f"{person.lower()}@bench.example",
                workload.manager_id(index),
                "nl",
            ),
        )


def command_steps(handler: CommandHandler, workload: Workload) -> Iterator[str]:
    """Send the commands one at a time, step by step across the cycles; yields each one's name.

    Every cycle's start first, then every cycle's first preparation, and so on: consecutive
    commands hit different streams.
    """
    now = datetime.now(UTC)
    interview_at = now + timedelta(days=30)
    cycle_ids: list[str] = []
    for index in range(workload.cycles):
        started = handler.start_cycle(
            HR,
            workload.employee_id(index),
            workload.manager_id(index),
            Reason.PERIODIC,
            interview_at,
        )
        if started.cycle_id is None:
            raise AssertionError("start_cycle returned no cycle id")
        cycle_ids.append(started.cycle_id)
        yield "StartCycle"
    for command in cycle_commands(now.date()):
        name = type(command).__name__
        for cycle_id in cycle_ids:
            handler.handle(HR, cycle_id, command)
            yield name


def drive(handler: CommandHandler, workload: Workload, on_command: OnCommand | None = None) -> int:
    """Send every command of the workload; returns the count."""
    sent = 0
    for name in command_steps(handler, workload):
        sent += 1
        if on_command is not None:
            on_command(name)
    return sent
