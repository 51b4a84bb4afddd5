"""Engine creation and schema migrations (Alembic, run in-process).

A fresh database gets the models' schema straight from ``create_all`` and the Alembic
stamp written by hand: importing and running Alembic costs about 15 MiB of resident
memory that a long-running service never gives back. Alembic only runs to upgrade a
database that already holds our tables (tests keep both paths' schemas identical).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import Column, Engine, MetaData, PrimaryKeyConstraint, String, Table, create_engine, event, inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import SingletonThreadPool

from .errors import StoreError

log = logging.getLogger(__name__)

_PACKAGE_DIR = Path(__file__).resolve().parent
# An installed wheel carries the migrations inside the package (pyproject.toml maps
# them there); a checkout, editable installs included, keeps them at its top.
MIGRATIONS_DIR = next(
    (d for d in (_PACKAGE_DIR / "migrations", _PACKAGE_DIR.parent / "migrations") if (d / "env.py").is_file()),
    _PACKAGE_DIR.parent / "migrations",
)
# The newest revision in migrations/versions (a test keeps the two in step). A database
# already there needs no Alembic at all, which spares every command its import.
SCHEMA_REVISION = "0018"

# How long a SQLite connection waits for another's lock before "database is locked".
BUSY_TIMEOUT_S = 30

# The advisory lock that serialises schema changes in one PostgreSQL database (advisory
# locks are per database). Any fixed 64-bit number: this one is the first 8 bytes of
# sha256("aggregator:create_fresh"); `aggregator run` locks another (aggregator.lock).
SCHEMA_LOCK_KEY = int.from_bytes(bytes.fromhex("ddbdef94c942f1da"), "big", signed=True)

# Alembic's own bookkeeping table, as its MigrationContext creates it.
VERSION_TABLE = Table(
    "alembic_version", MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


# Page size of a new SQLite database: SQLite's default, said here because it was weighed.
# At 16 KiB a 1,000-entry bulk ingest into a new database wrote a quarter of the log
# frames (each frame is two write calls, and the checkpoint copies each) and ran ≈ 10 %
# faster. But every insert into an index whose keys arrive in random order (text keys,
# and the canonical links of real feeds) dirties a whole page once the index is much
# larger than a batch: with random links, 30,000 items into a database of 400,000 wrote
# 53 KiB an item at 16 KiB and 21 at 4 KiB, and ran at 11.9–14.5k/s against 13.8–16.8k
# (3 pairs; 8 KiB: 33 KiB, 15.3k). Nothing is ever deleted, so every database becomes
# a large one, and on an SD card or a small disk the writes are what costs.
PAGE_SIZE = 4096
# Page cache per SQLite connection, in KiB whatever the page size (1 MiB), and what a
# large write widens it to: 4 KiB per entry, at most 8 MiB.
CACHE_KIB = 1024
CACHE_KIB_PER_ENTRY = 4
WIDE_CACHE_KIB = 8192
# The log's size at which a committing connection checkpoints in place (_sqlite_pragmas).
WAL_AUTOCHECKPOINT_BYTES = 40 * 1024 * 1024


def widen_cache_for(conn: Connection, entries: int) -> None:
    """Give ``conn`` (SQLite) the page cache an ingest of ``entries`` entries needs, 4 KiB
    an entry, at most WIDE_CACHE_KIB, until it goes back to the pool. A transaction that
    dirties more pages than its cache holds spills them to the log before its COMMIT,
    and then writes each page it changes again once more; the pages it cannot keep it
    reads back. An ingest of 1,000 entries dirties about 3.6 MB: with a 1 MiB cache it
    made 305,000 writes and 241,000 reads per 100,000 items, with 4 MiB 222,000 and
    98,000 (4 KiB pages)."""
    kib = entries * CACHE_KIB_PER_ENTRY
    if conn.dialect.name != "sqlite" or kib <= CACHE_KIB:
        return
    conn.exec_driver_sql(f"PRAGMA cache_size=-{min(kib, WIDE_CACHE_KIB)}")  # negative: KiB
    conn.info["wide_cache"] = True


def _narrow_cache(dbapi_connection: Any, connection_record: Any) -> None:
    # The pool's "checkin": the connection is back, its transaction ended; SQLite frees
    # the cache pages past the limit.
    if connection_record.info.get("wide_cache") and dbapi_connection is not None:
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            cursor.close()
        except Exception as e:  # noqa: BLE001 - a raise here would keep the connection from the pool
            log.warning("could not narrow a database connection's page cache again: %s", e)
        else:
            del connection_record.info["wide_cache"]


def _into_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, waiting for its lock. Switching a new file to WAL takes
    an exclusive lock, and SQLite answers "database is locked" at once, without its busy
    handler, while another connection holds one: two commands opening one new database
    at the same moment (a service and an `update`) failed one of them."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    # A plain cursor: Python 3.11's sqlite3 has no .autocommit attribute.
    cursor = dbapi_connection.cursor()
    # Before anything is written: only a new, empty database takes it (in WAL mode the
    # page size cannot change later), and on any other it does nothing. The cache and
    # checkpoint limits below are in bytes, for a database made with any page size.
    cursor.execute(f"PRAGMA page_size={PAGE_SIZE}")
    cursor.execute("PRAGMA foreign_keys=ON")
    _into_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    # 1 MiB of page cache per connection, not SQLite's 2: the OS caches the file anyway,
    # and the bench's ingest, classify and publish figures did not move; a refresh's
    # peak memory went down by 1 MiB. A large write widens it for its transaction
    # (widen_cache_for).
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    # The store checkpoints on a thread of its own after each commit (Store.checkpoint_soon);
    # a committing connection checkpoints in place, copying what that thread has not yet
    # copied, only once the log holds 40 MiB (SQLite's default is 1,000 pages, 4 MiB at
    # 4 KiB). Under a steady stream of writes the log grows to that size before it
    # starts over: a write that began before the last checkpoint ended cannot restart
    # it. 8 and 16 MiB measured a little slower on a bulk ingest (4 KiB pages).
    page_size = cursor.execute("PRAGMA page_size").fetchone()[0]
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_BYTES // page_size}")
    cursor.close()


# The adapter sqlite3 gets for None: a C method answering None, which binds as NULL.
_NONE_ADAPTER: Any = {}.get


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL opens (a URI filename, ``file:…?uri=true``, decoded); None
    for an in-memory database or another database."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") and parsed.query.get("uri") == "true":
        if parsed.query.get("mode") == "memory":
            return None
        path = urlsplit(database).path  # "file:///x", "file:/x" and "file:x" alike
        # "file::memory:" is SQLite's in-memory database, not a file of that name
        return Path(unquote(path)) if path and path != ":memory:" else None
    return Path(database)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout.

    Its errors leave the statement's parameters out: a traceback in the log would show a
    private feed's URL with its user and password (and any item's text)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        file = sqlite_file(url)
        if file is not None and not file.parent.is_dir():
            raise StoreError(f"database folder {file.parent} does not exist")
        # Python 3.11's sqlite3 adapts each parameter that is not exactly a str, int,
        # float or bytearray. For None, with no adapter registered, it asks its protocol
        # type for __adapt__, which formats an AttributeError and clears it: ≈ 2,000
        # instructions for each NULL bound (every stored entry binds some). Registered,
        # it is one dictionary hit, and None binds as NULL as before. The registry is
        # process-wide: an adapter for None that other code registered first stays.
        sqlite3.adapters.setdefault((type(None), sqlite3.PrepareProtocol), _NONE_ADAPTER)
        # In memory, the database lives in its connection: one per thread, as SQLAlchemy
        # itself picks for ":memory:" and mode=memory but not for a "file::memory:" URI.
        pool = {"poolclass": SingletonThreadPool} if file is None else {}
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S}, hide_parameters=True, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "checkin", _narrow_cache)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args=connection_defaults(url), hide_parameters=True)


# libpq's settings for a server that stops answering: one that accepts the connection and
# never replies (hung, or the network gone after a failover) held a command, or the
# service's lock check, for as long as TCP kept trying (a quarter of an hour), or for ever.
# Now a connection gives up after 10 s, and one whose peer's host goes silent within about
# a minute: keepalives from 10 s idle, and tcp_user_timeout, which (set) ends the connection
# when 60 s pass without an answer, to keepalives too (Linux tcp(7)), or to a query's data.
# A backend that hangs while its host acknowledges both is not noticed. A URL's own
# settings win.
PG_CONNECTION_DEFAULTS: dict[str, int] = {
    "connect_timeout": 10, "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
    "keepalives_count": 4, "tcp_user_timeout": 60_000,
}


def connection_defaults(url: str) -> dict[str, int]:
    """PG_CONNECTION_DEFAULTS less the settings ``url`` gives itself, or libpq's
    environment (PGCONNECT_TIMEOUT: a setting given to libpq would win over it), for
    PostgreSQL over libpq; none for another database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or parsed.get_driver_name() not in ("psycopg", "psycopg2"):
        return {}
    return {key: value for key, value in PG_CONNECTION_DEFAULTS.items()
            if key not in parsed.query and not (key == "connect_timeout" and os.environ.get("PGCONNECT_TIMEOUT"))}


def alembic_config(connection: Any | None = None) -> Any:
    from alembic.config import Config as AlembicConfig

    # No ini file: fileConfig() would otherwise reset our loggers.
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _known_revisions() -> set[str]:
    """Every revision the migrations folder holds (each file's ``revision = "…"``)."""
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def upgrade_from(engine: Engine) -> str | None:
    """The revision the database is at when this release would upgrade it; None when it
    needs no upgrade (new, current, or made by a newer release, which ``migrate`` refuses)."""
    revision = current_revision(engine)
    if revision is None or revision == SCHEMA_REVISION or revision not in _known_revisions():
        return None
    return revision


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision.

    On SQLite the batch mode of Alembic recreates tables; with foreign keys ON that
    would cascade deletes, so migrations run with the pragma OFF and a
    ``foreign_key_check`` afterwards.
    """
    revision = current_revision(engine)
    if revision is None:
        if create_fresh(engine):
            return
        revision = current_revision(engine)  # another opener may have just created it
        if revision is None:
            # Releases before create_fresh committed each CREATE TABLE on its own and wrote
            # the revision last: one cut short left tables and no revision.
            raise StoreError(
                "the database holds aggregator's tables but no schema revision (its alembic_version table "
                "is missing or empty), so it cannot be upgraded: its first setup was cut short, or another "
                "program made them; restore a backup, or move the database away to start afresh")
    if revision == SCHEMA_REVISION:
        return
    if revision not in _known_revisions():
        raise StoreError(
            f"the database is at schema revision {revision!r}, which this version of aggregator "
            f"(schema {SCHEMA_REVISION}) does not know: a newer release made it; run that release, "
            "or restore a backup made before it")
    from alembic import command

    is_sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if is_sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
            # One transaction for the whole upgrade, its CREATE and ALTER statements too:
            # Python's sqlite3 opens one only before INSERT, UPDATE or DELETE, so each DDL
            # statement committed on its own, and an upgrade cut short (a crash, Ctrl-C, a
            # full disk) left a half-changed schema under the old revision, which every
            # later attempt failed on. SQLite rolls schema changes back like any other.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            _lock_schema(connection)  # Alembic then reads the revision another opener left
        # Read under the lock: another opener may have upgraded it meanwhile.
        found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        started = time.monotonic()
        if found != SCHEMA_REVISION:
            # A large database takes minutes, which the service's log would spend silent.
            log.info("upgrading the database schema from revision %s to %s", found, SCHEMA_REVISION)
        try:
            command.upgrade(alembic_config(connection), "head")
        except SQLAlchemyError as e:
            first = _first_failure(e)
            if first is not e:
                raise first from first.__cause__
            raise
        connection.commit()
        if is_sqlite:
            problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            if problems:
                raise StoreError(f"migration left {len(problems)} dangling foreign keys")
    if found != SCHEMA_REVISION:
        log.info("the database schema is at revision %s, upgraded in %.1f s", SCHEMA_REVISION,
                 time.monotonic() - started)


def _first_failure(error: SQLAlchemyError) -> BaseException:
    """What an upgrade failed on first. When a batch table copy fails, Alembic drops its
    temporary table before it raises again, and on SQLite that drop fails in turn: a full
    disk or an I/O error has rolled the whole transaction back ("no such table:
    _alembic_tmp_items"), Ctrl-C has invalidated the connection ("Can't reconnect until
    invalid transaction is rolled back"). Its error hid the one to report; the upgrade is
    rolled back either way."""
    first: BaseException = error
    seen = error.__context__
    while seen is not None:
        if isinstance(seen, SQLAlchemyError) or not isinstance(seen, Exception):
            first = seen
        seen = seen.__context__
    return first


def create_fresh(engine: Engine) -> bool:
    """Create the newest schema in a database that holds none of our tables, stamped
    ``SCHEMA_REVISION``; False (nothing done) when any of them is already there."""
    from .models import metadata  # the store imports it anyway; db stays importable without it

    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            # pysqlite runs DDL outside any transaction unless told otherwise: take the
            # write lock now, so a second process opening the same new file waits and
            # then finds the finished schema instead of half of it.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            _lock_schema(connection)
        if _holds_our_tables(connection, metadata):
            connection.rollback()
            return False
        metadata.create_all(connection)
        VERSION_TABLE.create(connection)
        connection.execute(VERSION_TABLE.insert().values(version_num=SCHEMA_REVISION))
        connection.commit()
    log.info("created a fresh database schema at revision %s", SCHEMA_REVISION)
    return True


def _lock_schema(connection: Connection) -> None:
    """On PostgreSQL, wait until no other opener is creating or upgrading the schema: the
    lock goes with the transaction, so a second opener then sees the first one's work
    instead of failing on the same tables or columns at once."""
    if connection.dialect.name == "postgresql":
        advisory_xact_lock(connection, SCHEMA_LOCK_KEY)


def advisory_xact_lock(connection: Connection, key: int) -> None:
    """PostgreSQL: wait for the advisory lock ``key``, held until the transaction ends."""
    connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _holds_our_tables(connection: Connection, metadata: MetaData) -> bool:
    # Other tables (APScheduler's job store) may share the database; they are not ours.
    existing = set(inspect(connection).get_table_names())
    return bool(existing & (set(metadata.tables) | {VERSION_TABLE.name}))


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        try:
            row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
        except Exception:
            connection.rollback()  # PostgreSQL: the failed statement ended the transaction
            if not inspect(connection).has_table(VERSION_TABLE.name):
                return None
            # There now: another opener may have just created the schema (its commit fell
            # between the two reads), or it is there and not readable: a role granted
            # nothing on the tables another made (PostgreSQL), which the driver's message
            # says; not a database of no revision.
            row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
        return row[0] if row else None
