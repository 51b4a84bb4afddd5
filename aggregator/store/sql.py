"""The store's SQL plumbing: statements built once, the SQLite fast paths around
SQLAlchemy Core, and what every write transaction does (the write lock, the commit,
the meta table)."""

from __future__ import annotations

import gc
import hashlib
import json
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, select, text, update

from ..db import advisory_xact_lock
from ..errors import StoreError
from ..models import meta, sqlite_utc_text

CHUNK = 500  # bound for IN (...) lists: SQLite allows 32k variables, PostgreSQL more
# PostgreSQL advisory lock held by every write transaction (see Store.writing): any fixed
# 64-bit number other than db.SCHEMA_LOCK_KEY and the service's lock.
WRITE_LOCK_KEY = int.from_bytes(hashlib.sha256(b"aggregator:write").digest()[:8], "big", signed=True)


def _bind_processor(dialect: Any, column: Any) -> Any:
    """``column``'s bind processor on ``dialect`` (on SQLite a time's is models.sqlite_utc_text)."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _result_processor(dialect: Any, column: Any) -> Any:
    """``column``'s result processor on ``dialect``: what turns its stored form into the
    value Core reads (on SQLite, a time's text into an aware UTC datetime)."""
    return column.type.dialect_impl(dialect).result_processor(dialect, None)


# (table name, columns) -> (SQLite INSERT, [(column index, its type's repr, bind processor)]).
_SQLITE_INSERTS: dict[tuple[str, tuple[str, ...]], tuple[str, list[tuple[int, str, Any]]]] = {}


def _sqlite_insert(conn: Any, table: Any, columns: tuple[str, ...]) -> tuple[str, list[tuple[int, str, Any]]]:
    """The driver-level INSERT of ``columns`` (placeholders in that order) and the bind
    processor of each column that has one; built once per table and columns."""
    found = _SQLITE_INSERTS.get((table.name, columns))
    if found is None:
        dialect = conn.dialect
        compiled = table.insert().compile(dialect=dialect, column_keys=list(columns))
        if tuple(compiled.positiontup) != columns:  # Core adds a column we left to a default
            raise StoreError(f"{table.name}: insert columns {columns} are not all of its columns")
        procs = [(n, repr(table.c[k].type), p) for n, k in enumerate(columns)
                 if (p := _bind_processor(dialect, table.c[k]))]
        found = _SQLITE_INSERTS[(table.name, columns)] = (str(compiled), procs)
    return found


class _Stage:
    """Rows of a transaction's inserts held back in temporary tables (``stage_inserts``):
    per table, in the order first staged, the statement that moves them into it."""

    __slots__ = ("moves", "next_id")

    def __init__(self) -> None:
        self.moves: dict[str, str] = {}  # table name -> INSERT … SELECT, in the order first staged
        self.next_id: int | None = None  # of the next staged item (``staged_ids``)


# Connections whose inserts are staged: the entry dies with its connection.
_STAGES: weakref.WeakKeyDictionary[Any, _Stage] = weakref.WeakKeyDictionary()
# The temporary tables are each connection's own, made at its first staged insert.
_STAGED_TABLE = "temp.staged_{}"
STAGED_CACHE_KIB = 256


def stage_inserts(conn: Any) -> None:
    """SQLite: hold ``conn``'s inserts through ``_insert_rows`` back in temporary tables
    until ``unstage``, which ``_commit_and_close`` runs before its COMMIT.

    An executemany binds each row with the GIL held and runs SQLite's step for it, which
    releases the GIL only while that row goes into the table and its indexes (the items
    table has six); the thread that called it waits the while. Into a temporary table
    without an index each row costs about half as much, and the rows then move into
    their tables with one ``INSERT … SELECT`` each: one call, which does all its work
    with the GIL released. A refresh commits on its commit thread
    (``Store.ingest_batch_behind``), so that work runs on the other core while the event
    loop's thread parses the next batch. Whatever reads or refers to the staged rows in
    the same transaction runs ``unstage`` first."""
    if conn.dialect.name == "sqlite":
        _STAGES[conn] = _Stage()


def unstage(conn: Any) -> None:
    """Move the rows staged on ``conn`` into their tables (nothing when none are)."""
    stage = _STAGES.get(conn)
    if stage is None or not stage.moves:
        return
    moves, stage.moves = stage.moves, {}
    stage.next_id = None
    for name, move in moves.items():
        conn.exec_driver_sql(move)
        conn.exec_driver_sql(f"DELETE FROM {_STAGED_TABLE.format(name)}")


def staged_ids(conn: Any, table: Any, count: int) -> list[int] | None:
    """Ids for ``count`` rows of ``table`` about to be staged on ``conn``, in order (the
    ids SQLite would give them: one more than the largest, which the transaction's write
    lock keeps); None when ``conn`` does not stage."""
    stage = _STAGES.get(conn)
    if stage is None:
        return None
    first = stage.next_id
    if first is None:
        first = (conn.exec_driver_sql(f"SELECT max(id) FROM {table.name}").scalar() or 0) + 1
    stage.next_id = first + count
    return list(range(first, first + count))


def _staged_insert(conn: Any, stage: _Stage, table: Any, columns: tuple[str, ...]) -> str:
    """The INSERT into ``table``'s temporary table, made (and its move queued) at the
    first staged rows of the transaction."""
    staged = _STAGED_TABLE.format(table.name)
    listed = ", ".join(f'"{c}"' for c in columns)
    if table.name not in stage.moves:
        # Made at a connection's first staged rows (IF NOT EXISTS after); the columns are the
        # one insert's (each table has one).
        if not stage.moves:
            # The temporary tables' own page cache (SQLite's default is 2 MiB): past it, a
            # large batch spills to a temporary file, which the OS caches, not this process.
            # The default held ≈ 1.4 MiB more at a cold refresh's peak.
            conn.exec_driver_sql(f"PRAGMA temp.cache_size=-{STAGED_CACHE_KIB}")
        conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS staged_{table.name} ({listed})")
        stage.moves[table.name] = f"INSERT INTO {table.name} ({listed}) SELECT {listed} FROM {staged}"
    return f"INSERT INTO {staged} ({listed}) VALUES ({', '.join('?' * len(columns))})"


def _insert_rows(
    conn: Any, table: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]],
    converted: dict[str, dict[Any, Any]] | None = None, *, staged: bool = False,
) -> None:
    """``INSERT`` many rows, each a tuple of ``columns``' values. ``converted`` holds
    values already converted on SQLite, by ``repr`` of their type (see ``_one_of``).

    On SQLite the driver's executemany gets plain tuples, each value through its
    column's own bind processor, column by column and once per distinct value (a batch
    repeats its first-seen time and flags): this skips SQLAlchemy's per-row parameter
    handling, a third of the cost of storing a large refresh. Other databases take the
    ordinary Core path. ``staged``: held back in a temporary table when ``conn`` stages
    (``stage_inserts``)."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(table.insert(), [dict(zip(columns, row)) for row in rows])
        return
    sql, procs = _sqlite_insert(conn, table, columns)
    if staged and (stage := _STAGES.get(conn)) is not None:
        sql = _staged_insert(conn, stage, table, columns)
    if procs:
        cols: list[Any] = list(zip(*rows))
        # Columns of one type share their converted values (an entry's published and
        # updated times are often one time).
        by_type: dict[str, dict[Any, Any]] = {} if converted is None else converted
        for n, kind, proc in procs:
            col = cols[n]
            done = by_type.setdefault(kind, {})
            for value in set(col).difference(done):
                done[value] = proc(value)
            cols[n] = map(done.__getitem__, col)
        rows = list(zip(*cols))
    conn.exec_driver_sql(sql, rows)


def _one_of(conn: Any, column: Any, values: Sequence[Any], converted: dict[Any, Any] | None = None) -> Any:
    """``column IN (values)``. On SQLite the values travel as one JSON array (json_each),
    so the statement compiles once: an expanding ``IN`` renders a placeholder per value
    on every call, a tenth of the cost of storing a refresh. ``converted`` (SQLite)
    keeps each value's bound form for a later insert of the same values."""
    if conn.dialect.name == "sqlite":
        return column.in_(select(func.json_each(_listed(conn, column, values, converted)).table_valued("value").c.value))
    return column.in_(values)


def _listed(conn: Any, column: Any, values: Sequence[Any], converted: dict[Any, Any] | None = None) -> Any:
    """``values`` as the parameter of ``_in_list(column, …)``: on SQLite one JSON array of
    the values as the column stores them (a time as its text), elsewhere the list."""
    if conn.dialect.name != "sqlite":
        return list(values)
    proc = _bind_processor(conn.dialect, column)
    if proc and converted is not None:
        listed = [converted[v] if v in converted else converted.setdefault(v, proc(v)) for v in values]
    else:
        listed = [proc(v) for v in values] if proc else list(values)
    return json.dumps(listed)


def _in_list(column: Any, name: str, sqlite: bool) -> Any:
    """``column IN (:name)`` for a list bound with ``_listed``: through json_each on
    SQLite, an expanding parameter elsewhere."""
    if sqlite:
        return column.in_(select(func.json_each(bindparam(name)).table_valued("value").c.value))
    return column.in_(bindparam(name, expanding=True))


_STATEMENTS: dict[tuple[str, Callable[[bool], Any]], Any] = {}


def _statement(conn: Any, build: Callable[[bool], Any]) -> Any:
    """``build(on_sqlite)``, built once per dialect. A statement an ingest runs once per
    batch is then neither constructed nor given a cache key again: doing both cost more
    than SQLite's work for the lookups of a 250-entry refresh batch."""
    key = (conn.dialect.name, build)
    found = _STATEMENTS.get(key)
    if found is None:
        found = _STATEMENTS[key] = build(conn.dialect.name == "sqlite")
    return found


_DRIVER_SQL: dict[Callable[[bool], Any], tuple[str, tuple[str, ...]]] = {}


def _driver_sql(conn: Any, build: Callable[[bool], Any]) -> tuple[str, tuple[str, ...]]:
    """SQLite: ``build(True)`` compiled once, as (SQL with ``?`` placeholders, the
    parameter names in placeholder order), for ``exec_driver_sql``. Its results and
    parameters skip SQLAlchemy's type processing: values travel in their stored form."""
    found = _DRIVER_SQL.get(build)
    if found is None:
        compiled = build(True).compile(dialect=conn.dialect)
        found = _DRIVER_SQL[build] = (str(compiled), tuple(compiled.positiontup or ()))
    return found


def _stored_form(value: Any) -> Any:
    """A value for a driver-level statement on SQLite: a time as the text UTCDateTime
    stores; anything else (text read back as stored, numbers, flags) as it is."""
    return sqlite_utc_text(value) if isinstance(value, datetime) else value



def _lock_for_writing(conn: Connection) -> None:
    """Take the database's write lock at the start of ``conn``'s transaction (see ``Store.writing``)."""
    if conn.dialect.name == "sqlite":
        # A write statement takes the lock (RESERVED) before it reads anything; this one
        # changes no row. pysqlite has already begun the transaction.
        conn.exec_driver_sql("UPDATE meta SET value = value WHERE 0")
    elif conn.dialect.name == "postgresql":
        advisory_xact_lock(conn, WRITE_LOCK_KEY)


def _commit_and_close(conn: Connection) -> None:
    """The commit thread's work: move the rows staged on ``conn`` into their tables
    (``stage_inserts``), commit its transaction and hand the connection
    back to the pool. A COMMIT that fails is rolled back here: SQLite keeps the
    transaction, and with it the write lock, open after some failed COMMITs (a busy or
    full database, a deferred foreign key), and the pool would not end it."""
    try:
        try:
            unstage(conn)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    finally:
        conn.close()


def _get_meta(conn: Connection, key: str) -> str | None:
    value: str | None = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar()
    return value


def _set_meta(conn: Connection, key: str, value: str) -> None:
    if conn.execute(update(meta).where(meta.c.key == key).values(value=value)).rowcount == 0:
        conn.execute(insert(meta).values(key=key, value=value))


# One statement, built once: every ingest batch that changed anything runs it.
_BUMP_DATA_VERSION = text(
    "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR(20)) WHERE key = 'data_version'")


def _bump_data_version(conn: Connection) -> None:
    if conn.execute(_BUMP_DATA_VERSION).rowcount == 0:
        _set_meta(conn, "data_version", "1")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector. An ingest allocates a few containers per
    entry (rows, tuples, dicts) that all stay alive until it commits and are then freed
    by reference counting; the collector, triggered every 700 allocations, walked them
    again and again (a third of its work went away: ~6 k instructions an entry of a
    1,000-entry batch). Re-enabled only if it was enabled."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _chunks(seq: Sequence, size: int = CHUNK) -> Iterator[Sequence]:  # type: ignore[type-arg]
    for i in range(0, len(seq), size):
        yield seq[i : i + size]

