"""The exclusive lock that ``aggregator run`` holds on its database (DESIGN.md "Scale").

Two services on one database would run every job twice and fight over APScheduler's job
table, so the second one must refuse to start and say who holds the database:

- SQLite: an OS file lock (``filelock``) on ``<db>.lock`` beside the database, taken without
  waiting. The kernel drops it when the holder dies, even on SIGKILL, so a crash never leaves a
  stale lock; the holder's pid and host go into ``<db>.lock.owner`` for the error message.
- PostgreSQL: ``pg_try_advisory_lock`` on a dedicated connection that lives as long as the lock;
  the holder is named through that connection's ``application_name``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Any

import filelock
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from .db import connection_defaults, sqlite_file
from .errors import LockedError, StoreError, driver_message

log = logging.getLogger(__name__)

ROLE = "aggregator run"
# What a command other than the service holds the lock for: upgrading the schema while no
# service uses the database (pipeline.open_database). Another command waits for it to end.
UPGRADE_ROLE = "aggregator schema upgrade"


def _holder_text(pid: Any, host: Any, role: Any = ROLE) -> str:
    return f"pid {pid} on {host} ({role})"


class DatabaseLock:
    """Base class: ``acquire()`` raises LockedError when another process holds the lock.
    ``role`` is what the holder is said to be doing to another process that wants it."""

    def __init__(self, url: str, role: str = ROLE):
        self.url = url
        self.role = role

    def describe(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def acquire(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def release(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def check(self) -> None:
        """Raise LockedError when the lock, once acquired, is now another process's; a
        lock that cannot be lost (an OS file lock, held until this process ends) is fine."""

    def __enter__(self) -> DatabaseLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class SQLiteLock(DatabaseLock):
    def __init__(self, url: str, database: Path, role: str = ROLE):
        super().__init__(url, role)
        self.database = database
        self.lock_path = database.with_name(database.name + ".lock")
        self.owner_path = database.with_name(database.name + ".lock.owner")
        # thread_local=False: the service may release from another thread than the one that
        # acquired (signal handling, executor shutdown).
        self._lock = filelock.FileLock(str(self.lock_path), thread_local=False)

    def describe(self) -> str:
        return str(self.database)

    def acquire(self) -> None:
        # filelock creates missing parent folders; every other command refuses a database
        # whose folder is missing (db.make_engine), so `run` must too, before creating anything.
        folder = self.database.parent
        if not folder.is_dir():
            raise StoreError(f"database folder {folder} does not exist")
        try:
            self._lock.acquire(blocking=False)
        except filelock.Timeout:
            holder, role = self._read_holder()
            raise LockedError(f"database {self.database} is in use by {holder}", role=role) from None
        record = {"pid": os.getpid(), "host": socket.gethostname(), "role": self.role}
        # Written after the lock is ours, and replaced atomically, so a reader never sees half
        # a record; a stale record of a killed holder is simply overwritten here.
        tmp = self.owner_path.with_name(self.owner_path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
        os.replace(tmp, self.owner_path)
        log.debug("locked %s", self.lock_path)

    def _read_holder(self) -> tuple[str, str | None]:
        """The holder of the lock, as the error names it, and its role."""
        try:
            record = json.loads(self.owner_path.read_text(encoding="utf-8"))
            role = record.get("role", ROLE)
            return _holder_text(record["pid"], record["host"], role), role
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            # The holder has the lock but has not written its record yet (or it is unreadable).
            return f"another process (see {self.lock_path})", None

    def release(self) -> None:
        if not self._lock.is_locked:
            return
        try:
            record = json.loads(self.owner_path.read_text(encoding="utf-8"))
            if record.get("pid") == os.getpid():
                self.owner_path.unlink()
        except (OSError, ValueError):
            pass
        self._lock.release(force=True)


# The advisory-lock key of `aggregator run`: the first 8 bytes of sha256("aggregator:run").
# One fixed key, not one made from the URL: advisory locks are per database already, and a
# key made of the URL's host, port and name differed for one database reached as localhost
# and as 127.0.0.1 (or through a socket), so a second service on it started.
RUN_LOCK_KEY = int.from_bytes(hashlib.sha256(b"aggregator:run").digest()[:8], "big", signed=True)


def legacy_run_key(url: str) -> int:
    """The key of run's advisory lock in releases until 88c64e2 (schema 0008 and before):
    made of the URL's host, port and database name. A service of such a release holds only
    that one, so this release takes it too, or a command upgraded the schema under that
    service (which then failed every refresh) and a service of this release ran beside it."""
    parsed = make_url(url)
    name = f"aggregator:{parsed.host or ''}:{parsed.port or ''}:{parsed.database or ''}"
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


RELEASE_WAIT = 2.0  # seconds release() waits for a check of the lock in progress


class PostgresLock(DatabaseLock):
    def __init__(self, url: str, role: str = ROLE):
        super().__init__(url, role)
        self.key = RUN_LOCK_KEY
        self.legacy_key = legacy_run_key(url)
        self.app_name = f"{role} pid {os.getpid()} on {socket.gethostname()}"[:63]
        self._engine: Any = None
        self._conn: Any = None
        self._mutex = threading.Lock()  # check() runs in the service's threads, release() at its end
        self._held = False  # acquired and not released: what check() keeps
        self._session: int | None = None  # the server's pid of the session that took the lock

    def acquire(self) -> None:
        # A dedicated single connection: an advisory lock belongs to a session, and a pooled
        # connection could be recycled (and the lock silently dropped) under us.
        self._engine = create_engine(
            self.url, pool_size=1, max_overflow=0, pool_recycle=-1,
            connect_args={**connection_defaults(self.url), "application_name": self.app_name},
        )
        try:
            self._conn = self._engine.connect()
            self._conn.execution_options(isolation_level="AUTOCOMMIT")
            got, session = self._conn.execute(
                text("SELECT pg_try_advisory_lock(:k), pg_backend_pid()"), {"k": self.key}).one()
            if got and not self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.legacy_key}).scalar():
                # A service of an earlier release; the session's end (_dispose) lets go of ours.
                holder, _, role = self._holder(self.legacy_key)
                self._dispose()
                raise LockedError(f"database {self.describe()} is in use by {holder}", role=role)
        except LockedError:
            raise
        except Exception as e:
            self._dispose()
            raise StoreError(f"cannot take the database lock on {self.describe()}: {driver_message(e)}") from e
        if not got:
            holder, pid, role = self._holder(self.key)
            self._dispose()
            if self._session is not None and pid == self._session:
                # Its connection was cut on the way (a NAT, a firewall) but the server has not
                # seen the session end: it still holds the lock for this service, and nobody
                # else can take it. Not lost: the next check tries again.
                raise StoreError(f"the database lock on {self.describe()} is still held by this service's "
                                 "earlier session, which the server has not seen end yet")
            raise LockedError(f"database {self.describe()} is in use by {holder}", role=role)
        self._held, self._session = True, session

    def _holder(self, key: int) -> tuple[str, int | None, str | None]:
        """The holder of the lock on ``key``, as the error names it, its session's server pid,
        and its role."""
        assert self._conn is not None
        classid, objid = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
        row = self._conn.execute(text(
            "SELECT a.pid, a.application_name, a.client_addr FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = :c "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.objid::bigint = :o AND l.objsubid = 1"
        ), {"c": classid, "o": objid}).first()
        if row is None:
            return "another process", None, None
        app = row.application_name or ""
        for role in (ROLE, UPGRADE_ROLE):
            if app.startswith(role + " "):
                return app[len(role) + 1:] + f" ({role})", row.pid, role
        return f"server backend {row.pid} ({app or row.client_addr or 'unknown client'})", row.pid, None

    def _dispose(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # a connection that ended may fail to close
                self._conn.close()
            self._conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def check(self) -> None:
        """The lock belongs to the session of its connection: when that connection ends (a
        server restart, a failover, an idle-session timeout, a network reset) the lock is
        gone, and a second service could start. Take it again; LockedError when another
        process holds it by now, StoreError when the server cannot be reached (the next
        check tries again)."""
        with self._mutex:
            if not self._held:  # released meanwhile (the stop does not wait for a check)
                return
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT 1"))
                    return
                except Exception as e:  # noqa: BLE001 - any failure means the session is gone
                    log.warning("the database lock's connection ended (%s); taking the lock again", driver_message(e))
                    self._dispose()
            self.acquire()
            log.info("the database lock is held again")

    def release(self) -> None:
        # A check still connecting (a server that does not answer) must not hold the stop:
        # the lock it may take ends with this process's sessions.
        self._held = False
        if not self._mutex.acquire(timeout=RELEASE_WAIT):
            log.warning("releasing the database lock: a check of it is still connecting; it ends with this process")
            return
        try:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:k), pg_advisory_unlock(:old)"),
                                       {"k": self.key, "old": self.legacy_key})
                except Exception as e:  # closing the session drops the lock anyway
                    log.warning("releasing the database lock: %s", driver_message(e))
            self._dispose()
        finally:
            self._mutex.release()


class NoLock(DatabaseLock):
    """For databases we cannot lock (in-memory SQLite, other dialects): warn and go on."""

    def acquire(self) -> None:
        log.warning("no exclusive lock for %s: do not run two services on it", self.describe())

    def release(self) -> None:
        pass


def database_lock(url: str, role: str = ROLE) -> DatabaseLock:
    """The right lock for a SQLAlchemy URL (not yet acquired), held for ``role``."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        file = sqlite_file(url)
        return NoLock(url, role) if file is None else SQLiteLock(url, file.resolve(), role)
    if backend == "postgresql":
        return PostgresLock(url, role)
    return NoLock(url, role)
