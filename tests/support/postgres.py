"""A throwaway PostgreSQL server for tests and benchmarks.

`initdb` refuses to run as root, and tests run as root on CI; so when we are root the server
runs as the `postgres` OS user, on a data folder that user owns. It listens on 127.0.0.1 on a
free port (never 5432: the machine may be shared) and on a unix socket in its own temp folder.
Durability settings stay at PostgreSQL's defaults (fsync and synchronous_commit on) so that
benchmarks measure what production would do; pass `fsync="off"` etc. to change that.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin",)
SERVER_USER = "postgres"
DATABASE = "popcycle"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries or the `postgres` OS user are missing."""


def find_pg_bin() -> Path:
    """The folder holding `initdb`, `pg_ctl` and `postgres` (version 15 preferred)."""
    for candidate in PG_BIN_CANDIDATES:
        folder = Path(candidate)
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    initdb = shutil.which("initdb")
    if initdb is not None:
        folder = Path(initdb).resolve().parent
        if (folder / "pg_ctl").is_file():
            return folder
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found (no /usr/lib/postgresql/15/bin/initdb, no initdb "
        "on PATH): install them with `apt-get update && apt-get install -y postgresql-15` "
        "(the test script does this on a fresh machine)"
    )


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _Runner:
    """Runs the server's programs as the `postgres` user when we are root, else as ourselves."""

    def __init__(self) -> None:
        self.as_other_user = os.geteuid() == 0
        if self.as_other_user:
            try:
                account = pwd.getpwnam(SERVER_USER)
            except KeyError as missing:
                raise PostgresUnavailable(
                    f"running as root, but there is no {SERVER_USER!r} OS user to run the "
                    "server as (initdb refuses root); installing postgresql-15 creates it"
                ) from missing
            self.uid, self.gid = account.pw_uid, account.pw_gid
        else:
            self.uid, self.gid = os.geteuid(), os.getegid()

    def own(self, path: Path) -> None:
        if self.as_other_user:
            os.chown(path, self.uid, self.gid)

    def run(self, argv: list[str], cwd: Path, timeout: float = 60) -> None:
        """Run a server program; on failure raise with its output, which says what went wrong."""
        # Equivalent to `su postgres -s /bin/sh -c ...`, minus the shell quoting: the child
        # drops to the postgres user itself. cwd must be a folder that user may enter.
        extra: dict[str, Any] = {}
        if self.as_other_user:
            extra = {"user": self.uid, "group": self.gid, "extra_groups": []}
        done = subprocess.run(
            argv,
            cwd=cwd,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **extra,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )


@contextmanager
def running_postgres(
    database: str = DATABASE, *, start_attempts: int = 3, **settings: str | int | bool
) -> Iterator[str]:
    """Start a fresh PostgreSQL server, yield an SQLAlchemy URL of a new database on it.

    `settings` become server settings (`postgresql.conf` lines), e.g. `fsync="off"`. On exit the
    server is stopped (`pg_ctl stop -m immediate`, then SIGKILL to its PID) and its files removed.
    """
    bin_dir = find_pg_bin()
    runner = _Runner()
    root = Path(tempfile.mkdtemp(prefix="popcycle-pg-"))
    runner.own(root)
    data = root / "data"
    try:
        runner.run(
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                SERVER_USER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",  # only initdb's own files: the server itself still fsyncs
                "--no-instructions",
            ],
            cwd=root,
        )
        port = _start(
            runner,
            bin_dir=bin_dir,
            root=root,
            data=data,
            settings=settings,
            attempts=start_attempts,
        )
        _create_database(port, database)
        yield f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{port}/{database}"
    finally:
        _stop(runner, bin_dir, root, data)
        shutil.rmtree(root, ignore_errors=True)


def _start(
    runner: _Runner,
    *,
    bin_dir: Path,
    root: Path,
    data: Path,
    settings: Mapping[str, str | int | bool],
    attempts: int,
) -> int:
    """Start the server on a free port; retry with another port if someone took ours meanwhile."""
    last_error: Exception | None = None
    for _ in range(attempts):
        port = free_port()
        conf = {
            "listen_addresses": "127.0.0.1",
            "port": port,
            "unix_socket_directories": str(root),
            "max_connections": 100,
            **settings,
        }
        with (data / "postgresql.auto.conf").open("w", encoding="utf-8") as auto:
            for name, value in conf.items():
                auto.write(f"{name} = {_conf_value(value)}\n")
        runner.own(data / "postgresql.auto.conf")
        try:
            runner.run(
                [
                    str(bin_dir / "pg_ctl"),
                    "--pgdata",
                    str(data),
                    "--log",
                    str(root / "server.log"),
                    "--wait",
                    "--timeout",
                    "60",
                    "start",
                ],
                cwd=root,
                timeout=90,
            )
        except RuntimeError as error:
            last_error = error
            _stop(runner, bin_dir, root, data)
            continue
        if _is_ours(port, data):
            return port
        last_error = RuntimeError(f"port {port} answers, but not with the server we started")
        _stop(runner, bin_dir, root, data)
    log = root / "server.log"
    detail = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    raise RuntimeError(f"could not start PostgreSQL: {last_error}\n{detail}")


def _conf_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def _is_ours(port: int, data: Path) -> bool:
    """Whether the server on `port` really is the one on our data folder (not a squatter)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(
                host="127.0.0.1", port=port, user=SERVER_USER, dbname="postgres", connect_timeout=5
            ) as connection:
                row = connection.execute("SHOW data_directory").fetchone()
                return row is not None and Path(row[0]).resolve() == data.resolve()
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _create_database(port: int, database: str) -> None:
    with psycopg.connect(
        host="127.0.0.1", port=port, user=SERVER_USER, dbname="postgres", autocommit=True
    ) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def _stop(runner: _Runner, bin_dir: Path, root: Path, data: Path) -> None:
    """Stop the server fast (no checkpoint: the data is thrown away), by force if need be."""
    pid = _server_pid(data)
    if pid is None:
        return
    with suppress(RuntimeError, subprocess.TimeoutExpired):
        runner.run(
            [str(bin_dir / "pg_ctl"), "--pgdata", str(data), "--mode", "immediate", "stop"],
            cwd=root,
            timeout=30,
        )
    if _alive(pid) and _server_pid(data) == pid:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _server_pid(data: Path) -> int | None:
    try:
        first_line = (data / "postmaster.pid").read_text(encoding="utf-8").splitlines()[0]
    except (FileNotFoundError, IndexError):
        return None
    return int(first_line) if first_line.strip().isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def new_database(url: str, name: str) -> str:
    """A further empty database on the server of `url`; returns its URL (for per-test state)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    with psycopg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        dbname="postgres",
        autocommit=True,
    ) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return parsed.set(database=name).render_as_string(hide_password=False)
