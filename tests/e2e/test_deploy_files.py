"""deploy/: the units start `pop` with options it knows, the env example names only settings
popcycle reads (and they parse), and the backup holds every table a rebuild cannot make.

The units and the backup scripts run for real in the soak (`tests/integration/test_soak.py`
starts the same commands; it runs `deploy/backup.sh` and `deploy/restore.sh`); these checks are
the quick ones that catch a renamed option, variable or a new table left out of the backup.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect

from events.migrate import upgrade
from handlers.cli import cli
from handlers.projections.registry import PROJECTIONS
from handlers.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
POP_BINARY = "/opt/popcycle/.venv/bin/pop"
PRODUCT = ("events", "handlers", "scheduler", "web", "workflow")

#: Tables a restore does not load but makes again: read models (`pop projections rebuild`) and
#: their builds under way, the scheduler's follow-ups (synced from the log), and the
#: migrations' own bookkeeping.
REBUILT = {
    "projection_checkpoints",
    "projection_builds",
    "followups",
    "scheduler_checkpoints",
    "alembic_version",
}
#: Not kept: mail still waiting at backup time (deploy/README.md says how to keep it).
NOT_KEPT = {"outbox"}


def _commands(unit: Path) -> list[list[str]]:
    lines = unit.read_text(encoding="utf-8").splitlines()
    return [shlex.split(line.split("=", 1)[1]) for line in lines if line.startswith("ExecStart")]


def test_there_is_a_unit_for_web_workers_and_scheduler() -> None:
    names = {unit.name for unit in UNITS}
    assert names == {
        "popcycle-web.service",
        "popcycle-worker@.service",
        "popcycle-scheduler.service",
    }


@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_each_unit_runs_pop_init_then_a_pop_command_with_options_it_knows(unit: Path) -> None:
    commands = _commands(unit)
    assert next(argv[:2] for argv in commands) == [POP_BINARY, "init"]
    for argv in commands:
        assert argv[0] == POP_BINARY
        # --help after the unit's own arguments: click refuses an unknown option or command
        done = CliRunner().invoke(cli, [*argv[1:], "--help"])
        assert done.exit_code == 0, f"{unit.name}: {' '.join(argv)}: {done.output}"


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (the units are checked where systemd is)")
    pop = shutil.which("pop") or str(ROOT / ".venv" / "bin" / "pop")
    environment = tmp_path / "popcycle.env"
    environment.write_text("", encoding="utf-8")
    checked = []
    for unit in [*UNITS, DEPLOY / "systemd" / "popcycle.target"]:
        text = unit.read_text(encoding="utf-8").replace(POP_BINARY, pop)
        text = text.replace("/etc/popcycle/popcycle.env", str(environment))
        name = unit.name.replace("@.service", "@1.service")  # an instance of the template
        (tmp_path / name).write_text(text, encoding="utf-8")
        checked.append(str(tmp_path / name))
    done = subprocess.run(
        [analyze, "verify", "--man=no", *checked],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_the_env_example_names_only_settings_popcycle_reads_and_they_parse() -> None:
    text = (DEPLOY / "popcycle.env.example").read_text(encoding="utf-8")
    pairs = dict(re.findall(r"^#?(POP_[A-Z_]+)=(.*)$", text, flags=re.MULTILINE))
    source = "\n".join(
        path.read_text(encoding="utf-8")
        for package in PRODUCT
        for path in (ROOT / package).rglob("*.py")
    )
    unknown = [name for name in pairs if f'"{name}"' not in source]
    assert not unknown, f"the env example names settings nobody reads: {unknown}"
    assert {"POP_DATABASE_URL", "POP_BROKER_URL", "POP_SECRET_KEY", "POP_SMTP_URL"} <= set(pairs)
    settings = Settings.from_env(pairs)
    assert settings.broker_url is not None
    assert settings.broker_url.startswith("redis://")
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.frozen_now is None
    assert settings.clock_file is None


def test_the_backup_holds_every_table_that_a_rebuild_cannot_make(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'schema.sqlite3'}"
    upgrade(url)
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    backup = (DEPLOY / "backup.sh").read_text(encoding="utf-8")
    listed = re.search(r"^tables=\((.*)\)$", backup, flags=re.MULTILINE)
    assert listed is not None
    backed_up = set(listed.group(1).split())
    read_models = {table.name for p in PROJECTIONS for table in p.live.tables}
    assert backed_up <= tables
    assert tables - backed_up - read_models - REBUILT - NOT_KEPT == set()
    assert backed_up & (read_models | REBUILT) == set()
