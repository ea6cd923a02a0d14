"""The one place where popcycle's parts are wired together from its settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from events.database import make_engine
from events.group_commit import GroupCommitStore
from events.sqlkeyring import SqlKeyRing
from events.sqlstore import SqlEventStore
from events.store import EventStore
from handlers.broker import nudger_for
from handlers.clock import Clock, FileClock, frozen_clock, system_clock
from handlers.commands import CommandHandler
from handlers.gc_tuning import tune_garbage_collector
from handlers.repository import Repository
from handlers.settings import Settings

#: Connections a process keeps open. SQLAlchemy's default (5, plus 10 "overflow" connections
#: that are closed as soon as they are returned) made a web server with 16 threads open a new
#: PostgreSQL connection — a forked backend, ~3 ms of server CPU — for up to 4 commands in 10
#: under load, most with POP_GROUP_COMMIT=1 (its callers come back together and read at once).
#: The same ceiling of 15, kept open: bench.group_commit's HTTP case, bench/README.md.
POOL_SIZE = 15


@dataclass(frozen=True, slots=True)
class Popcycle:
    """The wired application: settings, clock, store and the command side."""

    settings: Settings
    clock: Clock
    engine: Engine
    store: EventStore
    repository: Repository
    commands: CommandHandler

    def close(self) -> None:
        if isinstance(self.store, GroupCommitStore):
            self.store.close()  # writes what is queued before the engine goes
        self.engine.dispose()


def bootstrap(settings: Settings, clock: Clock | None = None) -> Popcycle:
    """Build everything from settings; nothing opens a database before this is called."""
    tune_garbage_collector()
    if clock is None:
        clock = clock_for(settings)
    engine = make_engine(settings.database_url, pool_size=POOL_SIZE, max_overflow=0)
    sql_store = SqlEventStore(engine, clock)
    # POP_GROUP_COMMIT: the appends of the process's threads (a web server's) share commits.
    store: EventStore = GroupCommitStore(sql_store) if settings.group_commit else sql_store
    repository = Repository(store, SqlKeyRing(engine))
    # Read side (issue 3): after each committed append, nudge the projection workers.
    commands = CommandHandler(repository, clock, on_appended=nudger_for(settings))
    return Popcycle(settings, clock, engine, store, repository, commands)


def clock_for(settings: Settings) -> Clock:
    """POP_NOW (fixed), POP_CLOCK_FILE (moved by a file), else the real time."""
    if settings.frozen_now:
        return frozen_clock(settings.frozen_now)
    if settings.clock_file:
        return FileClock(Path(settings.clock_file))
    return system_clock
