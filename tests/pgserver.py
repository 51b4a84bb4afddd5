"""A throwaway PostgreSQL server for the test session, and a fresh database per test.

``PostgresServer`` runs ``initdb`` into a temporary folder and starts ``postgres`` on it,
listening on 127.0.0.1 (a free port) and on a unix socket in that folder, with trust
authentication and no fsync: it holds nothing worth keeping and must start fast
(about 2 s, once per session). ``stop()`` shuts it down and removes every file.

initdb and pg_ctl refuse to run as root, and tests run as root here and in CI: then the
server runs as the ``postgres`` user (``runuser``), in a folder chowned to it.

The ``pg_server`` fixture skips (never fails) when the server binaries, psycopg or, as
root, the ``postgres`` user are missing; ``pg_url`` gives each test a new empty database.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "Unavailable", "find_bindir", "pg_server", "pg_url"]


class Unavailable(Exception):
    """What is missing to run a PostgreSQL server here (the reason the tests skip)."""


def find_bindir() -> Path:
    """The folder of initdb, pg_ctl and postgres: on PATH, else Debian's versioned folders."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl") and shutil.which("postgres"):
        # /usr/local/bin/initdb may be a link into /usr/lib/postgresql/N/bin; all three live there.
        return Path(os.path.realpath(found)).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True):
        if all(os.access(os.path.join(folder, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    raise Unavailable("no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or in /usr/lib/postgresql")


def _version(folder: str) -> tuple[int, ...]:
    name = Path(folder).parent.name
    return tuple(int(p) for p in name.split(".") if p.isdigit())


def _memory_dir() -> str | None:
    """/dev/shm when there is one: on a shared disk, creating a database took 0.3-0.8 s
    even without fsync; in memory 0.03 s. None: the default temporary folder."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder; a context manager."""

    def __init__(self, bindir: Path | None = None):
        self.bindir = bindir or find_bindir()
        self.run_as: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and there is no 'postgres' user to run the server as") from None
            if shutil.which("runuser") is None:
                raise Unavailable("running as root and runuser is missing")
            self.run_as = "postgres"
        self.root: Path | None = None
        self.port = 0
        self._names = itertools.count(1)

    @property
    def data(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.run_as:
            cmd = ["runuser", "-u", self.run_as, "--", *cmd]
        # cwd: the server user may not be allowed into the tests' current folder.
        done = subprocess.run(cmd, cwd=self.root, capture_output=True, text=True, timeout=60)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
        return done

    def start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="aggregator-pg-", dir=_memory_dir()))
        try:
            if self.run_as:
                entry = pwd.getpwnam(self.run_as)
                os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--locale=C", "--no-sync", "--no-instructions")
            for _ in range(3):  # a free port can be taken between the probe and the start
                self.port = _free_port()
                started = self._pg_ctl_start()
                if started.returncode == 0:
                    return
            log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL did not start: {started.stderr.strip()}\n{log}")
        except BaseException:
            self.stop()
            raise

    def _pg_ctl_start(self) -> subprocess.CompletedProcess[str]:
        assert self.root is not None
        options = " ".join([
            "-c listen_addresses=127.0.0.1", f"-p {self.port}", f"-c unix_socket_directories={self.root}",
            # Nothing here outlives the session: durability is pure cost.
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
            "-c shared_buffers=32MB", "-c max_connections=50",
            # Not UTC, and not a whole hour: a time the server shifted would show.
            "-c TimeZone=Asia/Kathmandu",
        ])
        return self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                         "-w", "-t", "30", "-o", options, "start", check=False)

    def shut_down(self) -> None:
        """Stop the server, keeping its files (``start_again`` brings it back): a restart
        or a failover, as its clients see it."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def start_again(self) -> None:
        """Start the server that ``shut_down`` stopped, on the same port, with its databases."""
        started = self._pg_ctl_start()
        if started.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start again: {started.stderr.strip()}")

    def stop(self) -> None:
        if self.root is None:
            return
        if (self.data / "postmaster.pid").exists():
            # immediate: nothing to save, and a test's leftover connection must not delay the exit.
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"test_{next(self._names)}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        import psycopg  # noqa: F401 - the driver behind postgresql+psycopg:// URLs
    except ImportError:
        pytest.skip("psycopg is not installed (pip install -e '.[test]')")
    try:
        server = PostgresServer()
    except Unavailable as e:
        pytest.skip(f"no PostgreSQL server to test against: {e}")
    with server:
        yield server


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """The URL of a new, empty PostgreSQL database."""
    return pg_server.create_database()
