"""Storage: every item, its sources, topics and refresh history, through SQLAlchemy.

Parsed data comes in as frozen dataclasses (``EntryData``) and goes out as
``PublishedItem`` views; database rows never leave this module. Writes are batched
(one transaction per ingest, Core ``executemany`` inserts).
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, exists, func, insert, null, select, text, update
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from .db import advisory_xact_lock, make_engine, migrate, widen_cache_for
from .errors import StoreError
from .identity import canonical_link, dedup_text, entry_uid, item_texts, text_key
from .models import fetches, item_sources, item_topics, items, meta, rule_texts, sources, sqlite_utc_text, topics
from .text import drop_not_xml, has_not_xml, rule_text, strip_html
from .types import EntryData, PublishedItem, SourceInfo

log = logging.getLogger(__name__)

CHUNK = 500  # bound for IN (...) lists: SQLite allows 32k variables, PostgreSQL more
ONE_US = timedelta(microseconds=1)
# PostgreSQL advisory lock held by every write transaction (see Store.writing): any fixed
# 64-bit number other than db.SCHEMA_LOCK_KEY and the service's lock.
WRITE_LOCK_KEY = int.from_bytes(hashlib.sha256(b"aggregator:write").digest()[:8], "big", signed=True)
# PostgreSQL refuses a B-tree index entry over 2,704 bytes, so one very long GUID or link
# would fail every refresh of its source there (SQLite has no such limit). Indexed text
# past this many UTF-8 bytes is stored as its hash instead: equal values stay equal.
INDEXED_MAX = 1000


# Membership writes, as (topic id, item id) pairs. The sort key is copied inside the
# database: no datetime round trip per row.
_DELETE_MEMBERSHIP = "DELETE FROM item_topics WHERE topic_id = :t AND item_id = :i"
_INSERT_MEMBERSHIP = (
    "INSERT INTO item_topics (topic_id, item_id, updated) SELECT :t, id, updated FROM items WHERE id = :i"
)

# SQLite (driver level): the stored times of items (a JSON array of ids), and a membership with its time.
_ITEM_TIMES = "SELECT id, updated FROM items WHERE id IN (SELECT value FROM json_each(?))"
_INSERT_MEMBERSHIP_TIMED = "INSERT INTO item_topics (topic_id, item_id, updated) VALUES (?, ?, ?)"

# Sort key of a (topic id, item id) pair in item_topics' primary-key order (C-level).
_by_item = itemgetter(1, 0)


def _write_pairs(conn: Any, sql: str, pairs: Collection[tuple[int, int]]) -> None:
    """executemany of ``sql`` (parameters :t, :i) over pairs: the driver gets plain
    tuples on SQLite, named parameters through SQLAlchemy elsewhere."""
    if not pairs:
        return
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(sql.replace(":t", "?").replace(":i", "?"), list(pairs))
    else:
        conn.execute(text(sql), [{"t": t, "i": i} for t, i in pairs])


def _insert_memberships(conn: Any, pairs: Sequence[tuple[int, int]]) -> None:
    """Insert (topic id, item id) pairs, each with its item's ``updated``.

    On SQLite the items' times are read first, in one statement, and inserted as stored
    (text: no datetime round trip). An INSERT … SELECT per pair looked its item up in
    the middle of the write: at 4 KiB pages a little slower (classify 40–41k items/s
    against 42–43k), at 16 KiB pages (a database made so) 4–5 µs a pair against 1.
    Elsewhere the INSERT … SELECT stays."""
    if not pairs:
        return
    if conn.dialect.name != "sqlite":
        _write_pairs(conn, _INSERT_MEMBERSHIP, pairs)
        return
    ids = sorted({i for _, i in pairs})
    times = dict(conn.exec_driver_sql(_ITEM_TIMES, (json.dumps(ids),)).fetchall())
    # An id with no item (a rule_texts row that a delete with foreign keys off left
    # behind) gets no membership, as the INSERT … SELECT gave it none.
    rows = [(t, i, times[i]) for t, i in pairs if i in times]
    if rows:
        conn.exec_driver_sql(_INSERT_MEMBERSHIP_TIMED, rows)


def _isoformat(value: datetime) -> str:
    """``value.isoformat()``. A UTC time is %-formatted: the C method formats through
    vfprintf twice (date and time, then the offset), three times the cost, and every
    stored entry formats one or two."""
    if value.tzinfo is not timezone.utc:
        return value.isoformat()
    if value.microsecond:
        return "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00" % (
            value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond)
    return "%04d-%02d-%02dT%02d:%02d:%02d+00:00" % (
        value.year, value.month, value.day, value.hour, value.minute, value.second)


def _bind_processor(dialect: Any, column: Any) -> Any:
    """``column``'s bind processor on ``dialect`` (on SQLite a time's is models.sqlite_utc_text)."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _result_processor(dialect: Any, column: Any) -> Any:
    """``column``'s result processor on ``dialect``: what turns its stored form into the
    value Core reads (on SQLite, a time's text into an aware UTC datetime)."""
    return column.type.dialect_impl(dialect).result_processor(dialect, None)


# Columns of the tables every new entry writes, in the order ``_insert_rows`` takes.
_ITEM_COLUMNS = ("uid", "source_id", "title", "link", "canonical_link", "text_key", "summary", "content",
                 "content_type", "author", "truncated", "first_seen", "published", "updated", "classified")
_LINK_COLUMNS = ("item_id", "source_id", "key", "link", "fingerprint", "first_seen")
_TEXT_COLUMNS = ("item_id", "text")
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


def _insert_rows(
    conn: Any, table: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]],
    converted: dict[str, dict[Any, Any]] | None = None,
) -> None:
    """``INSERT`` many rows, each a tuple of ``columns``' values. ``converted`` holds
    values already converted on SQLite, by ``repr`` of their type (see ``_one_of``).

    On SQLite the driver's executemany gets plain tuples, each value through its
    column's own bind processor, column by column and once per distinct value (a batch
    repeats its first-seen time and flags): this skips SQLAlchemy's per-row parameter
    handling, a third of the cost of storing a large refresh. Other databases take the
    ordinary Core path."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(table.insert(), [dict(zip(columns, row)) for row in rows])
        return
    sql, procs = _sqlite_insert(conn, table, columns)
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


# The ingest's statements, for _statement. Parameters are lists bound with _listed.
def _source_ids_of(sqlite: bool) -> Any:  # :names
    return select(sources.c.name, sources.c.id).where(_in_list(sources.c.name, "names", sqlite))


def _links_of(sqlite: bool) -> Any:  # :keys of :sources -> each one's link row, item and origin
    return (select(item_sources.c.key, item_sources.c.id, item_sources.c.item_id, item_sources.c.fingerprint,
                   items.c.source_id, item_sources.c.source_id)
            .join(items, items.c.id == item_sources.c.item_id)
            .where(_in_list(item_sources.c.key, "keys", sqlite), _in_list(item_sources.c.source_id, "sources", sqlite)))


def _taken_times(sqlite: bool) -> Any:  # :times already some item's updated
    return select(items.c.updated).where(_in_list(items.c.updated, "times", sqlite))


def _items_by_link(sqlite: bool) -> Any:  # :links, oldest item first
    return (select(items.c.id, items.c.canonical_link)
            .where(_in_list(items.c.canonical_link, "links", sqlite)).order_by(items.c.id))


def _items_by_text(sqlite: bool) -> Any:  # :keys (text keys), oldest item first
    return select(items.c.id, items.c.text_key).where(_in_list(items.c.text_key, "keys", sqlite)).order_by(items.c.id)


def _carriers_of(sqlite: bool) -> Any:  # :ids -> (item, source) pairs
    return (select(item_sources.c.item_id, item_sources.c.source_id)
            .where(_in_list(item_sources.c.item_id, "ids", sqlite)))


def _times_of(sqlite: bool) -> Any:  # :ids -> (item, its updated)
    return select(items.c.id, items.c.updated).where(_in_list(items.c.id, "ids", sqlite))


def _relink(sqlite: bool) -> Any:  # a source's link row after it sent a change: b_id, b_fingerprint, b_link
    return (update(item_sources).where(item_sources.c.id == bindparam("b_id"))
            .values(fingerprint=bindparam("b_fingerprint"), link=bindparam("b_link")))


# What an update upstream writes into its item (b_<column>, b_id); classify sees it again.
_ITEM_UPDATE_COLUMNS = ("title", "link", "canonical_link", "text_key", "summary", "content", "content_type",
                        "author", "truncated", "updated")


def _item_update(sqlite: bool) -> Any:
    return (update(items).where(items.c.id == bindparam("b_id"))
            .values({**{c: bindparam(f"b_{c}") for c in _ITEM_UPDATE_COLUMNS}, "classified": False}))


def _item_update_dated(sqlite: bool) -> Any:  # _item_update, and the entry's published time
    return _item_update(sqlite).values(published=bindparam("b_published"))


def _rule_text_update(sqlite: bool) -> Any:
    return update(rule_texts).where(rule_texts.c.item_id == bindparam("b_id")).values(text=bindparam("b_text"))


# SourceState's fields, in order, as sources columns.
_STATE_COLUMNS = ("id", "name", "type", "url", "etag", "last_modified", "body_hash", "pending_redirect",
                  "failures", "retired", "next_run", "last_success")


def _states_of(sqlite: bool) -> Any:  # for _statement or _driver_sql: every source's state
    return select(*(sources.c[name] for name in _STATE_COLUMNS))


def _uids_at(sqlite: bool) -> Any:  # items :first and :last
    return select(items.c.id, items.c.uid).where(items.c.id.in_([bindparam("first"), bindparam("last")]))


def _insert_items(
    conn: Any, rows: list[tuple[Any, ...]], converted: dict[str, dict[Any, Any]] | None = None
) -> list[int]:
    """Insert item rows (tuples of _ITEM_COLUMNS; ``converted``: see _insert_rows);
    returns their ids, in order.

    SQLite gives a row without an id one more than the largest id, and the transaction
    holds the write lock, so one executemany inserts consecutive ids ending at
    last_insert_rowid() (checked at both ends). Elsewhere, INSERT … RETURNING."""
    if not rows:
        return []
    table: Any = items
    if conn.dialect.name != "sqlite":
        return _insert_returning_ids(conn, [dict(zip(_ITEM_COLUMNS, row)) for row in rows])
    _insert_rows(conn, table, _ITEM_COLUMNS, rows, converted)
    last = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar()
    ids = list(range(last - len(rows) + 1, last + 1))
    ends = dict(conn.execute(_statement(conn, _uids_at), {"first": ids[0], "last": ids[-1]}).all())
    if ends.get(ids[0]) != rows[0][0] or ends.get(ids[-1]) != rows[-1][0]:  # [0]: uid
        raise StoreError("inserted items did not get consecutive ids")
    return ids


def _insert_returning_ids(conn: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert item rows with ``INSERT … RETURNING id``, ids in the order of ``rows``."""
    table: Any = items
    return list(conn.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True), rows).scalars())


def _indexed(value: str) -> str:
    """``value`` as the indexed columns item_sources.key and items.canonical_link store it."""
    if len(value) <= INDEXED_MAX // 4 or len(value.encode()) <= INDEXED_MAX:  # 4: most bytes per char
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def _indexed_link(link: str | None) -> str | None:
    canon = canonical_link(link)
    return _indexed(canon) if canon else None


def _with_legacy(values: Iterable[str]) -> list[str]:
    """Stored forms of ``values`` to look up: also each long one whole, as rows written
    before ``_indexed`` existed hold it (SQLite only: PostgreSQL could not store them)."""
    forms = set(values)
    forms.update([_indexed(v) for v in forms])
    return sorted(forms)


# A feed can carry characters XML cannot hold (a JSON "\u0000", a "&#1;" in recovered XML);
# stored, one would break every publish after it (and PostgreSQL refuses NUL): they stop here.
_ENTRY_TEXTS = ("key", "title", "link", "summary", "content", "author")


def _storable(entry: EntryData) -> EntryData:
    """``entry`` without characters XML cannot hold (the same object when it has none)."""
    # One scan of the six texts of _ENTRY_TEXTS (None reads "None": harmless) for the
    # common clean entry.
    if not has_not_xml(
        f"{entry.key}\n{entry.title}\n{entry.link}\n{entry.summary}\n{entry.content}\n{entry.author}"
    ):
        return entry
    cleaned: dict[str, Any] = {name: drop_not_xml(getattr(entry, name)) for name in _ENTRY_TEXTS}
    return replace(entry, **cleaned)


def _derived_texts(entry: EntryData) -> tuple[str, str, str | None]:
    """(stored title, rule match text, dedup text) of an entry. An untitled entry's
    rules see its fallback title; its dedup text has no title, as the source sent none."""
    title = entry.title or fallback_title(entry)
    match_text, dedup = item_texts(title, entry.summary, entry.content, entry.content_type)
    if not entry.title:
        dedup = dedup_text(None, entry.content or entry.summary, entry.content_type)
    return title, match_text, dedup


def _lock_for_writing(conn: Connection) -> None:
    """Take the database's write lock at the start of ``conn``'s transaction (see ``Store.writing``)."""
    if conn.dialect.name == "sqlite":
        # A write statement takes the lock (RESERVED) before it reads anything; this one
        # changes no row. pysqlite has already begun the transaction.
        conn.exec_driver_sql("UPDATE meta SET value = value WHERE 0")
    elif conn.dialect.name == "postgresql":
        advisory_xact_lock(conn, WRITE_LOCK_KEY)


def _commit_and_close(conn: Connection) -> None:
    """The commit thread's work: commit ``conn``'s transaction and hand the connection
    back to the pool. A COMMIT that fails is rolled back here: SQLite keeps the
    transaction, and with it the write lock, open after some failed COMMITs (a busy or
    full database, a deferred foreign key), and the pool would not end it."""
    try:
        try:
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


def fingerprint(entry: EntryData, clamped_at: datetime | None = None) -> str:
    """What a source sent for an entry; a different value means it changed upstream.

    The parser clamps a future date to the fetch time (``clamped_at``), which differs on
    every refresh: such a date counts as "future", or an unchanged entry would update each time.
    """
    # sha256 of title, link, summary, content, content type, author, published, updated
    # and str(truncated), each None as "", joined by U+001F; a date is its isoformat() or
    # "future". Written out (no helper, no generator): it runs for every entry fetched.
    published, updated = entry.published, entry.updated
    if published is None:
        pub = ""
    elif clamped_at is not None and published >= clamped_at:
        pub = "future"
    else:
        pub = _isoformat(published)
    if updated is None:
        upd = ""
    elif updated is published:  # a feed with one date per entry gives it twice
        upd = pub
    elif clamped_at is not None and updated >= clamped_at:
        upd = "future"
    else:
        upd = _isoformat(updated)
    joined = "\x1f".join((
        entry.title or "", entry.link or "", entry.summary or "", entry.content or "", entry.content_type or "",
        entry.author or "", pub, upd, str(entry.truncated),
    ))
    return hashlib.sha256(joined.encode()).hexdigest()


def fallback_title(entry: EntryData) -> str:
    """A title for an entry that has none, by the seeds' rule: its first sentence, at most
    100 characters with a closing "…" when cut."""
    from .seeds import first_sentence, make_title  # rare: only untitled entries pay for the import

    raw = entry.content or entry.summary or ""
    text = strip_html(raw) if entry.content_type == "html" else raw
    if not text.strip():
        return entry.link or "(untitled)"
    return make_title(first_sentence(text))


@dataclass(frozen=True)
class SourceSpec:
    """What the store needs to know of a configured source."""

    name: str
    type: str
    url: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class SourceState:
    id: int
    name: str
    type: str
    url: str | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    pending_redirect: str | None
    failures: int
    retired: bool
    next_run: datetime | None
    last_success: datetime | None


@dataclass(frozen=True)
class IngestJob:
    """One source's entries for ``Store.ingest_batch``."""

    source_name: str
    entries: Sequence[EntryData]
    seen_times: Callable[[int], list[datetime]] | None = None  # first-seen times of k new items
    clamped_at: datetime | None = None  # the time the parser clamped future dates to, if it did


@dataclass(frozen=True)
class IngestResult:
    new: int = 0
    updated: int = 0
    attached: int = 0  # same story already stored from another source

    @property
    def changed(self) -> bool:
        return bool(self.new or self.updated or self.attached)


class PendingCommit:
    """An ingest whose transaction is written and is being committed by the store's
    commit thread (``Store.ingest_batch_behind``)."""

    def __init__(self, results: list[IngestResult], done: Future[None]):
        self.results = results
        self._done = done

    def wait(self) -> list[IngestResult]:
        """The results once the batch is committed; or what the commit raised. The
        transaction is then rolled back, so nothing of the batch is stored, unless the
        COMMIT itself reached the database before failing (a PostgreSQL connection lost
        mid-COMMIT): as with any database, its outcome is then unknown."""
        self._done.result()
        return self.results


@dataclass(frozen=True)
class RefreshRecord:
    """The outcome of one refresh attempt of one source."""

    name: str
    started: datetime
    finished: datetime
    ok: bool
    http_status: int | None = None
    error: str | None = None
    warning: str | None = None
    next_run: datetime | None = None
    result: IngestResult | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    pending_redirect: str | None = None
    new_url: str | None = None
    retired: bool | None = None
    title: str | None = None
    site_link: str | None = None
    keep_validators: bool = False  # seeds: no HTTP validators to store
    keep_warning: bool = False  # body not parsed (304, same bytes): the last parse's warning stands


_REFRESH_COLUMNS = ("id", "last_fetch", "http_status", "next_run", "error", "warning", "failures",
                    "last_success", "etag", "last_modified", "body_hash", "pending_redirect", "url",
                    "title", "site_link", "retired")


_FETCH_COLUMNS = ("source_id", "started", "finished", "http_status", "error", "warning", "new_items", "updated_items")


def _refresh_rows_of(sqlite: bool) -> Any:  # for _statement: sources :names, name then _REFRESH_COLUMNS
    return select(sources.c.name, *(sources.c[c] for c in _REFRESH_COLUMNS)).where(
        _in_list(sources.c.name, "names", sqlite))


def _update_refreshed(sqlite: bool) -> Any:  # for _statement: a source's row after a refresh (b_<column>)
    return (update(sources).where(sources.c.id == bindparam("b_id"))
            .values({c: bindparam(f"b_{c}") for c in _REFRESH_COLUMNS if c != "id"}))


def _apply_refresh(row: dict[str, Any], rec: RefreshRecord) -> None:
    """How one refresh outcome changes its source's row (a dict of _REFRESH_COLUMNS)."""
    row["last_fetch"] = rec.finished
    row["http_status"] = rec.http_status
    row["next_run"] = rec.next_run
    if rec.ok:
        row["error"] = None
        if not rec.keep_warning:
            row["warning"] = rec.warning
        row["failures"] = 0
        row["last_success"] = rec.finished
        if not rec.keep_validators:
            row["etag"], row["last_modified"] = rec.etag, rec.last_modified
            if rec.body_hash is not None:
                row["body_hash"] = rec.body_hash
        row["pending_redirect"] = rec.pending_redirect
        if rec.new_url:
            row["url"] = rec.new_url
        if rec.title and not row["title"]:
            row["title"] = rec.title
        if rec.site_link:
            row["site_link"] = rec.site_link
    else:
        row["error"] = rec.error
        row["failures"] = (row["failures"] or 0) + 1
    if rec.retired is not None:
        row["retired"] = rec.retired


@dataclass(frozen=True)
class SourceStatus:
    name: str
    type: str
    url: str | None
    last_fetch: datetime | None
    last_success: datetime | None
    http_status: int | None
    error: str | None
    warning: str | None
    items: int
    failures: int
    next_run: datetime | None
    retired: bool


def _newest_first(items: list[PublishedItem]) -> list[PublishedItem]:
    """Sort ``items`` in place: updated desc, ties by entry id. Two stable sorts (the
    second keeps the first's order among equal dates) compare datetimes directly
    instead of turning each into a key; rows arrive nearly sorted, so both are cheap."""
    items.sort(key=lambda item: item.id)
    items.sort(key=lambda item: item.updated, reverse=True)
    return items


def source_iri(name: str) -> str:
    # From the name, "the key of a source for ever": a URL would change with a 301 or an edit.
    return f"tag:aggregator,2026:source/{name}"


class Store:
    """The database, opened (and migrated) once per process."""

    def __init__(self, engine: Engine):
        self.engine = engine
        # Commit-behind (ingest_batch_behind): one thread that commits, and the commit it
        # is running. A connection is used by one thread at a time; an in-memory SQLite
        # database lives in its creating thread's connection, so it commits in place.
        self._behind_ok = not isinstance(engine.pool, (SingletonThreadPool, StaticPool))
        self._committer: ThreadPoolExecutor | None = None
        self._committing: Future[None] | None = None  # the commit submitted last
        self._committing_lock = threading.Lock()
        self._closed = False
        # Checkpoints behind (SQLite files): after each commit, a thread of the store's
        # copies the write-ahead log into the database file. That copy and its two
        # fsyncs took about a third of a bulk ingest's time on the committing thread.
        self._checkpoint_behind = self._behind_ok and engine.dialect.name == "sqlite"
        self._checkpointer: ThreadPoolExecutor | None = None
        self._checkpoint_queued: Future[None] | None = None

    @classmethod
    def open(cls, url: str, *, run_migrations: bool = True) -> Store:
        engine = make_engine(url)
        if run_migrations:
            migrate(engine)
        return cls(engine)

    def close(self, *, wait: bool = True) -> None:
        """Close the database. ``wait=False`` (a service stopping with a refresh stuck in
        I/O) does not wait for a commit still running: the process is about to exit, and
        the database rolls back what that commit did not finish."""
        with self._committing_lock:
            self._closed = True
            committer, self._committer = self._committer, None
        if committer is not None:
            committer.shutdown(wait=wait)
        with self._committing_lock:
            checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.shutdown(wait=wait, cancel_futures=True)
        self.engine.dispose()  # the last connection closed checkpoints what is left

    def checkpoint_soon(self) -> None:
        """Have the checkpoint thread copy the write-ahead log into the database file
        (SQLite's PASSIVE checkpoint: it waits for no reader or writer, and copies what
        they leave it). Called after every commit; one already queued covers this one.
        Elsewhere (another database, an in-memory one) there is nothing to do."""
        if not self._checkpoint_behind:
            return
        with self._committing_lock:
            if self._closed:
                return
            queued = self._checkpoint_queued
            if queued is not None and not queued.running() and not queued.done():
                return  # not started yet: it will see this commit too
            try:
                if self._checkpointer is None:
                    self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="aggregator-checkpoint")
                self._checkpoint_queued = self._checkpointer.submit(self._checkpoint)
            except RuntimeError as e:
                # The interpreter is shutting down: no thread starts any more. The commit
                # has happened; the writers' own checkpoint, or the last close, copies it.
                log.debug("no checkpoint queued: %s", e)

    def wait_for_checkpoint(self) -> None:
        """Until the checkpoint queued last has ended (tests, benchmarks)."""
        with self._committing_lock:
            queued = self._checkpoint_queued
        if queued is not None:
            wait_for_futures([queued])

    def _checkpoint(self) -> None:
        if self._closed:  # close(wait=False) did not wait: don't open the database again
            return
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").close()
        except Exception as e:  # noqa: BLE001 - the next one, or the writers' own, tries again
            log.warning("checkpoint of the database's write-ahead log failed: %s", e)

    def wait_for_commit(self) -> None:
        """Until the commit submitted last by ``ingest_batch_behind`` has ended. Commits
        run one at a time, in order, so every earlier one has ended too. Its outcome is
        for whoever holds its ``PendingCommit``."""
        with self._committing_lock:
            running = self._committing
        if running is not None:
            wait_for_futures([running])

    def reading(self) -> Connection:
        """A connection for reads (``with store.reading() as conn``); rolled back on close."""
        return self.engine.connect()

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A connection in a transaction, committed at the end of the ``with`` block.

        The transaction holds the database's write lock from its start, so what it reads
        is still true when it writes: two processes on one database (``update`` beside
        ``run``) would otherwise both decide "new" from the same reads and store a story
        twice or fail on a unique key. The other one waits (SQLite's busy timeout).
        A commit still running behind an earlier ingest ends first."""
        self.wait_for_commit()
        with self.engine.begin() as conn:
            _lock_for_writing(conn)
            yield conn
        self.checkpoint_soon()

    # -- meta ---------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self.reading() as conn:
            return _get_meta(conn, key)

    def set_meta(self, key: str, value: str) -> None:
        with self.writing() as conn:
            _set_meta(conn, key, value)

    def data_version(self) -> int:
        return int(self.get_meta("data_version") or 0)

    # -- sources ------------------------------------------------------------
    def sync_sources(self, specs: Iterable[SourceSpec]) -> None:
        """Create rows for new sources; follow URL edits in the config."""
        with self.writing() as conn:
            existing = {src.name: src for src in conn.execute(
                select(sources.c.id, sources.c.name, sources.c.type, sources.c.title, sources.c.config_url))}
            new: list[dict[str, Any]] = []
            for spec in specs:
                src = existing.get(spec.name)
                if src is None:
                    new.append(dict(name=spec.name, type=spec.type, url=spec.url, config_url=spec.url,
                                    title=spec.title, failures=0, retired=False))
                    continue
                changes: dict[str, Any] = {}
                if spec.type != src.type:
                    changes["type"] = spec.type
                if spec.title and spec.title != src.title:
                    changes["title"] = spec.title
                if spec.url != src.config_url:
                    # The user edited the URL: start afresh with it.
                    changes.update(url=spec.url, config_url=spec.url, etag=None, last_modified=None,
                                   body_hash=None, pending_redirect=None, retired=False, failures=0)
                if changes:
                    conn.execute(update(sources).where(sources.c.id == src.id).values(changes))
            if new:
                conn.execute(insert(sources), new)

    def source_state(self, name: str) -> SourceState:
        with self.reading() as conn:
            src = conn.execute(select(sources).where(sources.c.name == name)).one()
            return self._state(src)

    def source_states(self) -> dict[str, SourceState]:
        with self.reading() as conn:
            if conn.dialect.name != "sqlite":
                return {src.name: self._state(src) for src in conn.execute(_statement(conn, _states_of))}
            # A refresh sends no request before it has these: read at the driver, only
            # the two times converted, by their column type's own processor (both are
            # UTCDateTime). A third of the time Core takes for 1,000 sources.
            time_of = _result_processor(conn.dialect, sources.c.next_run)
            return {
                name: SourceState(id_, name, type_, url, etag, modified, body_hash, pending, failures or 0,
                                  bool(retired), next_run if next_run is None else time_of(next_run),
                                  success if success is None else time_of(success))
                for (id_, name, type_, url, etag, modified, body_hash, pending, failures, retired, next_run, success)
                in conn.exec_driver_sql(_driver_sql(conn, _states_of)[0])
            }

    @staticmethod
    def _state(src: Any) -> SourceState:
        return SourceState(
            id=src.id, name=src.name, type=src.type, url=src.url, etag=src.etag,
            last_modified=src.last_modified, body_hash=src.body_hash,
            pending_redirect=src.pending_redirect, failures=src.failures or 0,
            retired=bool(src.retired), next_run=src.next_run, last_success=src.last_success,
        )

    def record_refresh(self, name: str, **outcome: Any) -> None:
        """Store the outcome of one refresh attempt; see ``RefreshRecord``."""
        self.record_refreshes([RefreshRecord(name=name, **outcome)])

    def record_refreshes(self, records: Sequence[RefreshRecord]) -> None:
        """Store the outcomes of refresh attempts, one transaction for all, and append
        them to the history."""
        if records:
            with self.writing() as conn:
                self._record_refreshes(conn, records)

    @staticmethod
    def _record_refreshes(conn: Connection, records: Sequence[RefreshRecord]) -> None:
        """``record_refreshes`` inside the transaction of ``conn``: each statement runs once
        for all records (executemany), and is built once per process (``_statement``)."""
        if not records:
            return
        sqlite = conn.dialect.name == "sqlite"
        rows: dict[str, dict[str, Any]] = {}
        for part in _chunks(sorted({r.name for r in records})):
            names = _listed(conn, sources.c.name, part)
            if sqlite:  # the stored values as they are: only those a refresh sets are converted
                found_rows: Any = conn.exec_driver_sql(_driver_sql(conn, _refresh_rows_of)[0], (names,))
            else:
                found_rows = conn.execute(_statement(conn, _refresh_rows_of), {"names": names})
            for found in found_rows:
                rows[found[0]] = dict(zip(_REFRESH_COLUMNS, found[1:]))
        history = []
        for rec in records:
            row = rows[rec.name]
            # Feed titles and links reach published XML; messages may quote a server.
            texts = (rec.title, rec.site_link, rec.warning, rec.error)
            if any(value and has_not_xml(value) for value in texts):
                rec = replace(rec, title=drop_not_xml(rec.title), site_link=drop_not_xml(rec.site_link),
                              warning=drop_not_xml(rec.warning), error=drop_not_xml(rec.error))
            _apply_refresh(row, rec)
            r = rec.result or IngestResult()
            history.append((row["id"], rec.started, rec.finished, rec.http_status, None if rec.ok else rec.error,
                            rec.warning, r.new, r.updated + r.attached))  # _FETCH_COLUMNS
        if sqlite:
            sql, params = _driver_sql(conn, _update_refreshed)
            columns = [p[2:] for p in params]  # b_<column>
            conn.exec_driver_sql(sql, [tuple(map(_stored_form, map(row.__getitem__, columns))) for row in rows.values()])
        else:
            conn.execute(_statement(conn, _update_refreshed),
                         [{f"b_{c}": row[c] for c in _REFRESH_COLUMNS} for row in rows.values()])
        _insert_rows(conn, fetches, _FETCH_COLUMNS, history)

    def sources_fingerprint(self) -> str:
        """A hash of what published feeds say about sources (their atom:source)."""
        with self.reading() as conn:
            rows = conn.execute(select(sources.c.name, sources.c.type, sources.c.title, sources.c.url, sources.c.site_link)
                             .order_by(sources.c.name)).all()
        return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()

    def set_next_run(self, name: str, when: datetime | None) -> None:
        with self.writing() as conn:
            conn.execute(update(sources).where(sources.c.name == name).values(next_run=when))

    def newest_item_time(self, name: str) -> datetime | None:
        """The newest first-seen time of the items first stored from this source."""
        with self.reading() as conn:
            return conn.scalar(
                select(func.max(items.c.first_seen)).join(sources, items.c.source_id == sources.c.id)
                .where(sources.c.name == name)
            )

    # -- ingest -------------------------------------------------------------
    def ingest(
        self,
        source_name: str,
        entries: Sequence[EntryData],
        *,
        now: datetime | None = None,
        seen_times: Callable[[int], list[datetime]] | None = None,
        clamped_at: datetime | None = None,
    ) -> IngestResult:
        """Store one source's entries; see ``ingest_batch``."""
        return self.ingest_batch([IngestJob(source_name, entries, seen_times, clamped_at)], now=now)[0]

    def ingest_batch(
        self,
        jobs: Sequence[IngestJob],
        *,
        now: datetime | None = None,
        then: Callable[[list[IngestResult]], Sequence[RefreshRecord]] | None = None,
    ) -> list[IngestResult]:
        """Store the entries of several sources in one transaction; ``then(results)``,
        when given, returns refresh records stored in the same transaction (a refresh
        batch then commits once, not twice).

        New entries are inserted; an entry whose content changed upstream updates its
        item in place; the same story already stored from another source (same
        canonical link, or same normalised text) is attached to that item as an extra
        source. Lookups run once per batch, inserts are ``executemany``.
        """
        with self.writing() as conn:
            return self._ingest_batch(conn, jobs, now or utcnow(), then)

    def ingest_batch_behind(
        self,
        jobs: Sequence[IngestJob],
        *,
        now: datetime | None = None,
        then: Callable[[list[IngestResult]], Sequence[RefreshRecord]] | None = None,
    ) -> PendingCommit:
        """``ingest_batch`` that returns once the batch is written, before its COMMIT,
        which the store's commit thread runs meanwhile. A refresh goes on fetching and
        parsing while the database writes its log and checkpoints: that COMMIT is one
        call that releases the GIL for all its work (≈ 7–9 % of a cold refresh's wall time).

        The batch is not known to be stored until ``wait()`` returns. The next write
        (``writing``, an ingest) and ``close`` first wait for the commit to end; its
        outcome is ``wait()``'s."""
        if self._closed:  # at once: a commit stuck behind would hold this call until it ends
            raise StoreError("the store is closed")
        self.wait_for_commit()
        conn = self.engine.connect()
        done: Future[None] | None = None
        try:
            conn.begin()
            _lock_for_writing(conn)
            results = self._ingest_batch(conn, jobs, now or utcnow(), then)
            if not self._behind_ok:
                done = Future()
                try:
                    _commit_and_close(conn)
                except Exception as e:  # noqa: BLE001 - the holder's wait() raises it
                    done.set_exception(e)
                else:
                    done.set_result(None)
                return PendingCommit(results, done)
            # Under the lock with the submit: the slot always holds the commit submitted
            # last (the database's write lock, held here, already orders the submits).
            with self._committing_lock:
                if self._closed:
                    raise StoreError("the store is closed")
                if self._committer is None:
                    self._committer = ThreadPoolExecutor(1, thread_name_prefix="aggregator-commit")
                done = self._committing = self._committer.submit(self._commit_behind, conn)
            return PendingCommit(results, done)
        except BaseException:
            if done is None:  # still ours: the commit thread never got it
                conn.close()  # rolls the transaction back
            raise

    def _commit_behind(self, conn: Connection) -> None:
        _commit_and_close(conn)
        self.checkpoint_soon()

    def _ingest_batch(
        self,
        conn: Connection,
        jobs: Sequence[IngestJob],
        now: datetime,
        then: Callable[[list[IngestResult]], Sequence[RefreshRecord]] | None,
    ) -> list[IngestResult]:
        # 4 KiB of cache per entry: a batch's pages stay in it until its COMMIT.
        widen_cache_for(conn, sum(len(job.entries) for job in jobs))
        with _collector_paused():
            results = self._ingest(conn, jobs, now)
            if any(r.changed for r in results):
                _bump_data_version(conn)
            if then is not None:
                self._record_refreshes(conn, then(results))
            return results

    def _ingest(self, conn: Connection, jobs: Sequence[IngestJob], now: datetime) -> list[IngestResult]:
        if len({j.source_name for j in jobs}) < len(jobs):
            # One source in two jobs: stored in rounds with each source once, in order,
            # so a later job sees what an earlier one stored (a key new to both would
            # otherwise be inserted twice).
            results: list[IngestResult] = []
            start = 0
            seen: set[str] = set()
            for k, job in enumerate(jobs):
                if job.source_name in seen:
                    results += self._ingest(conn, jobs[start:k], now)
                    start, seen = k, set()
                seen.add(job.source_name)
            return results + self._ingest(conn, jobs[start:], now)
        names = sorted({j.source_name for j in jobs})
        source_ids = dict(conn.execute(
            _statement(conn, _source_ids_of), {"names": _listed(conn, sources.c.name, names)}).all())
        per_job: list[dict[str, EntryData]] = []
        for job in jobs:
            unique: dict[str, EntryData] = {}
            for e in job.entries:
                e = _storable(e)
                unique.setdefault(e.key, e)
            per_job.append(unique)

        # What each source already sent: (source_id, key) -> (link row, item, fingerprint, origin).
        known: dict[tuple[int, str], tuple[int, int, str, int]] = {}
        all_keys = {k for unique in per_job for k in unique}
        raw_key = {_indexed(k): k for k in all_keys}  # stored form -> the entry's key
        wanted_sources = _listed(conn, item_sources.c.source_id, [source_ids[j.source_name] for j in jobs])
        links_of = _statement(conn, _links_of)
        for part in _chunks(sorted(raw_key.keys() | all_keys)):  # all_keys: see _with_legacy
            for key, link_id, item_id, fp, origin, sid in conn.execute(
                links_of, {"keys": _listed(conn, item_sources.c.key, part), "sources": wanted_sources}
            ):
                known[(sid, raw_key.get(key, key))] = (link_id, item_id, fp, origin)

        counts = [[0, 0, 0] for _ in jobs]  # new, updated, attached
        fresh: list[tuple[int, str, int, EntryData, str]] = []  # (job, name, source id, entry, fp)
        relinked: list[dict[str, Any]] = []  # item_sources rows whose source sent a change
        changed: list[tuple[int, EntryData]] = []  # (item, entry) of items that source made
        for j, (job, unique) in enumerate(zip(jobs, per_job)):
            sid = source_ids[job.source_name]
            for key, entry in unique.items():
                fp = fingerprint(entry, job.clamped_at)
                hit = known.get((sid, key))
                if hit is None:
                    fresh.append((j, job.source_name, sid, entry, fp))
                    continue
                link_id, item_id, old_fp, origin = hit
                if old_fp == fp:
                    continue
                relinked.append({"b_id": link_id, "b_fingerprint": fp, "b_link": entry.link})
                if origin == sid:
                    changed.append((item_id, entry))
                    counts[j][1] += 1
        if relinked:
            conn.execute(_statement(conn, _relink), relinked)
        if changed:
            self._update_items(conn, changed, now)
        if fresh:
            self._insert_fresh(conn, jobs, fresh, counts, now)
        return [IngestResult(new=c[0], updated=c[1], attached=c[2]) for c in counts]

    def _update_items(self, conn: Connection, changed: list[tuple[int, EntryData]], now: datetime) -> None:
        """Write each (item id, entry) into its item, in one statement per table.

        The new ``updated`` is the entry's own time when it is later than the item's,
        else ``now``, and always past the item's old one; then nudged free of every
        other item's (``_free_times``). The times are read once, before any update: a
        time an item of this batch is about to leave still counts as taken. That keeps
        every row of the executemany off every time still stored, in any order and
        across the two groups (one item at a time, a later entry could be given the
        freed time, a few microseconds lower; both are unique and never move an item
        back)."""
        ids = [item_id for item_id, _ in changed]
        if len(set(ids)) < len(ids):
            # One item twice in a batch: in order, each update seeing the one before.
            # (_ingest gives a source one job a round, and a source carries an item
            # once, so this is a guard: times read once would be wrong for the second.)
            for item_id, entry in changed:
                self._update_items(conn, [(item_id, entry)], now)
            return
        old: dict[int, datetime] = {}
        for part in _chunks(ids):
            old.update(conn.execute(_statement(conn, _times_of), {"ids": _listed(conn, items.c.id, part)}).all())
        wanted = []
        for item_id, entry in changed:
            was = old[item_id]
            t = entry.updated if entry.updated and entry.updated > was else now
            wanted.append(t if t > was else was + ONE_US)
        rows: dict[bool, list[dict[str, Any]]] = {True: [], False: []}  # by "has a published time"
        texts = []
        for (item_id, entry), updated in zip(changed, self._free_times(conn, wanted)):
            title, match_text, dedup = _derived_texts(entry)
            row = {
                "b_id": item_id, "b_title": title, "b_link": entry.link, "b_canonical_link": _indexed_link(entry.link),
                "b_text_key": text_key(dedup) if dedup else None, "b_summary": entry.summary,
                "b_content": entry.content, "b_content_type": entry.content_type, "b_author": entry.author,
                "b_truncated": entry.truncated, "b_updated": updated,
            }
            if entry.published:  # an entry without one keeps the item's
                row["b_published"] = entry.published
            rows[bool(entry.published)].append(row)
            texts.append({"b_id": item_id, "b_text": match_text})
        for dated, group in rows.items():
            if group:
                conn.execute(_statement(conn, _item_update_dated if dated else _item_update), group)
        # (A missing rule_texts row stays missing until the next full classify restores
        # it; until then classify derives the text from the item.)
        conn.execute(_statement(conn, _rule_text_update), texts)

    @staticmethod
    def _free_times(
        conn: Connection, wanted: list[datetime], converted: dict[Any, Any] | None = None
    ) -> list[datetime]:
        """Nudge times by microseconds so no two items share ``updated``
        (feed readers and the W3C validator treat equal times as one change).
        ``converted``: see ``_one_of``."""
        if not wanted:
            return []
        used: set[datetime] = set()
        distinct = sorted(set(wanted))
        for part in _chunks(distinct):
            used.update(conn.execute(_statement(conn, _taken_times),
                                     {"times": _listed(conn, items.c.updated, part, converted)}).scalars())
        if not used and len(distinct) == len(wanted):
            return list(wanted)  # every time free and wanted once: the loop below keeps each
        checked = set(distinct)  # times known to be taken (in `used`) or free in the database
        # Earlier nudges sit just above a taken time: continue above the highest of them.
        resume: dict[datetime, datetime] = {}  # many items wanting one time: don't rescan
        for t in sorted(used & checked):
            top = conn.scalar(select(func.max(items.c.updated)).where(
                items.c.updated >= t, items.c.updated < t + timedelta(seconds=1)))
            resume[t] = (top or t) + ONE_US
        out = []
        for t in wanted:
            c = resume.get(t, t)
            while True:
                if c not in checked:  # a nudged time: it may be stored although t was free
                    checked.add(c)
                    if conn.scalar(select(items.c.id).where(items.c.updated == c)) is not None:
                        used.add(c)
                if c not in used:
                    break
                c += ONE_US
            used.add(c)
            resume[t] = c + ONE_US
            out.append(c)
        return out

    def _insert_fresh(
        self,
        conn: Connection,
        jobs: Sequence[IngestJob],
        fresh: list[tuple[int, str, int, EntryData, str]],
        counts: list[list[int]],
        now: datetime,
    ) -> None:
        links: list[str | None] = []  # as stored
        raw_links: list[str] = []
        texts: list[int | None] = []
        derived: list[tuple[str, str]] = []  # (title, match text)
        stored_keys: list[str] = []  # item_sources.key
        for _, _, _, e, _ in fresh:
            canon = canonical_link(e.link)
            if canon:
                links.append(_indexed(canon))
                raw_links.append(canon)
            else:
                links.append(None)
            stored_keys.append(_indexed(e.key))
            title, match_text, dedup = _derived_texts(e)
            derived.append((title, match_text))
            texts.append(text_key(dedup) if dedup else None)
        # Stored items with the same canonical link or text, oldest first, and every
        # source that already carries each of them.
        by_link: dict[str, list[int]] = defaultdict(list)
        by_text: dict[int, list[int]] = defaultdict(list)
        for part in _chunks(_with_legacy(raw_links)):
            for item_id, canon in conn.execute(
                _statement(conn, _items_by_link), {"links": _listed(conn, items.c.canonical_link, part)}
            ):
                if canon is not None:
                    by_link[_indexed(canon)].append(item_id)
        for part in _chunks(sorted({v for v in texts if v is not None})):
            for item_id, key in conn.execute(
                _statement(conn, _items_by_text), {"keys": _listed(conn, items.c.text_key, part)}
            ):
                if key is not None:
                    by_text[key].append(item_id)
        carriers: dict[int, set[int]] = defaultdict(set)  # stored item id -> source ids
        candidates = sorted({i for ids in (*by_link.values(), *by_text.values()) for i in ids})
        for part in _chunks(candidates):
            for item_id, source_id in conn.execute(
                _statement(conn, _carriers_of), {"ids": _listed(conn, item_sources.c.item_id, part)}
            ):
                carriers[item_id].add(source_id)

        # Decide, in order: attach to a stored item, to a new item of this batch, or create.
        # Only the same story from ANOTHER source is merged: two entries of one source
        # are two items even when they share a link or a text.
        new: list[int] = []  # indexes into fresh
        target_item: dict[int, int] = {}  # fresh index -> stored item id
        target_new: dict[int, int] = {}  # fresh index -> fresh index of the new twin
        batch_link: dict[str, list[int]] = defaultdict(list)
        batch_text: dict[int, list[int]] = defaultdict(list)
        new_carriers: dict[int, set[int]] = {}  # fresh index of a new item -> source ids

        def stored_match(keys: list[int], sid: int) -> int | None:
            return next((item_id for item_id in keys if sid not in carriers[item_id]), None)

        def batch_match(keys: list[int], sid: int) -> int | None:
            return next((idx for idx in keys if sid not in new_carriers[idx]), None)

        for i, (j, _, sid, e, _) in enumerate(fresh):
            canon, th = links[i], texts[i]
            # .get: most entries match nothing, and a defaultdict lookup would store an
            # empty list for each of them.
            found = by_link.get(canon) if canon else None
            stored = stored_match(found, sid) if found else None
            if stored is None and th is not None and (found := by_text.get(th)):
                stored = stored_match(found, sid)
            if stored is not None:
                target_item[i] = stored
                carriers[stored].add(sid)
                counts[j][2] += 1
                continue
            found = batch_link.get(canon) if canon else None
            twin = batch_match(found, sid) if found else None
            if twin is None and th is not None and (found := batch_text.get(th)):
                twin = batch_match(found, sid)
            if twin is not None:
                target_new[i] = twin
                new_carriers[twin].add(sid)
                counts[j][2] += 1
                continue
            new.append(i)
            new_carriers[i] = {sid}
            counts[j][0] += 1
            if canon:
                batch_link[canon].append(i)
            if th is not None:
                batch_text[th].append(i)

        # First-seen times: per job, from its seen_times callback (seeds) or now.
        first_seen: dict[int, datetime] = {}
        by_job: dict[int, list[int]] = defaultdict(list)
        for i in new:
            by_job[fresh[i][0]].append(i)
        for j, idxs in by_job.items():
            cb = jobs[j].seen_times
            times = cb(len(idxs)) if cb else [now] * len(idxs)
            first_seen.update(zip(idxs, times))
        wanted = [fresh[i][3].updated or fresh[i][3].published or first_seen[i] for i in new]
        # Times bound once for the lookup and the inserts (their text costs a C isoformat each).
        time_texts: dict[Any, Any] = {}
        converted = {repr(items.c.updated.type): time_texts}
        free = self._free_times(conn, wanted, time_texts)
        rows: list[tuple[Any, ...]] = []
        for i, upd in zip(new, free):
            _, name, sid, e, _ = fresh[i]
            t = first_seen[i]
            title = derived[i][0]
            rows.append((  # _ITEM_COLUMNS
                entry_uid(name, e.key), sid, title, e.link, links[i], texts[i], e.summary, e.content,
                e.content_type, e.author, e.truncated, t, e.published or e.updated or t, upd, False,
            ))
        new_ids = dict(zip(new, _insert_items(conn, rows, converted)))
        _insert_rows(conn, rule_texts, _TEXT_COLUMNS, [(new_ids[i], derived[i][1]) for i in new])
        link_rows = []
        for i, (_, _, sid, e, fp) in enumerate(fresh):
            item_id = new_ids.get(i) or target_item.get(i) or new_ids[target_new[i]]
            link_rows.append((item_id, sid, stored_keys[i], e.link, fp, now))  # _LINK_COLUMNS
        _insert_rows(conn, item_sources, _LINK_COLUMNS, link_rows, converted)

    # -- topics and membership ----------------------------------------------
    def sync_topics(self, wanted_topics: Sequence[tuple[str, str]]) -> dict[str, int]:
        """Make the topics table match the config (slug, title); returns slug -> id."""
        with self.writing() as conn:
            existing = {t.slug: t for t in conn.execute(select(topics))}
            wanted = dict(wanted_topics)
            for slug, topic in existing.items():
                if slug not in wanted:
                    conn.execute(delete(item_topics).where(item_topics.c.topic_id == topic.id))
                    conn.execute(delete(topics).where(topics.c.id == topic.id))
            for slug, title in wanted.items():
                if slug not in existing:
                    conn.execute(insert(topics).values(slug=slug, title=title))
                elif existing[slug].title != title:
                    conn.execute(update(topics).where(topics.c.id == existing[slug].id).values(title=title))
            return {t.slug: t.id for t in conn.execute(select(topics.c.slug, topics.c.id))}

    def classify(
        self,
        decide: Callable[[str, Sequence[str]], Sequence[str]],
        rules_hash: str,
        topic_ids: dict[str, int],
        *,
        by_source: bool = True,
        batch: int = 5000,
    ) -> int:
        """Recompute topic membership: every item when the rules changed, else only
        items added or changed since the last run. ``decide(match_text, source_names)``
        returns topic slugs; ``by_source=False`` (no topic is limited to sources) spares
        looking up each item's sources. Returns items classified."""
        full = self.get_meta("rules_hash") != rules_hash
        names = {sid: name for sid, name in self._source_names()}
        done = 0
        last_id = 0
        while True:
            # The collector paused as for an ingest: a batch holds a few tuples per item
            # until it commits (≈ 4 % of a reclassify's instructions).
            with self.writing() as conn, _collector_paused():
                if full and not last_id:
                    # Every item has its rule_texts row (an ingest writes both). Should
                    # one be missing, it comes back empty, so the scan below reaches its
                    # item and derives the text (one pass over an index, ~0.07 s for
                    # 100,000 items).
                    conn.execute(insert(rule_texts).from_select(
                        ["item_id", "text"],
                        select(items.c.id, null()).where(~exists().where(rule_texts.c.item_id == items.c.id))))
                # (id, rule text) of the next items, from rule_texts and not from the wide
                # items table; only unclassified ones, found through the classified
                # index, unless the rules changed.
                if full:
                    q = (select(rule_texts.c.item_id, rule_texts.c.text).where(rule_texts.c.item_id > last_id)
                         .order_by(rule_texts.c.item_id))
                else:
                    q = (select(items.c.id, rule_texts.c.text)
                         .join_from(items, rule_texts, rule_texts.c.item_id == items.c.id, isouter=True)
                         .where(items.c.classified.is_(False), items.c.id > last_id).order_by(items.c.id))
                rows = conn.execute(q.limit(batch)).all()
                if not rows:
                    if full:
                        _set_meta(conn, "rules_hash", rules_hash)
                        _bump_data_version(conn)
                    break
                ids = [r[0] for r in rows]
                # The batch's id range selects its sources and memberships through the
                # item_id indexes, without a bind parameter per item.
                first, last = ids[0], ids[-1]
                carriers: dict[int, list[str]] = defaultdict(list)
                if by_source:
                    for item_id, source_id in conn.execute(
                        select(item_sources.c.item_id, item_sources.c.source_id)
                        .where(item_sources.c.item_id.between(first, last))
                    ).all():
                        carriers[item_id].append(names[source_id])
                missing = [r[0] for r in rows if r[1] is None]  # stored before rule texts were kept
                legacy = {
                    item_id: rule_text(title, summary, content, ctype)
                    for item_id, title, summary, content, ctype in conn.execute(
                        select(items.c.id, items.c.title, items.c.summary, items.c.content, items.c.content_type)
                        .where(items.c.id.in_(missing))
                    )
                } if missing else {}
                wanted = {
                    (topic_ids[slug], item_id)
                    for item_id, match_text in rows
                    for slug in decide(legacy[item_id] if match_text is None else match_text,
                                       carriers.get(item_id, ()))
                }
                # all(): one fetch, where iterating the result fetches row by row. Plain
                # tuples, not rows: a row compared with a tuple of ``wanted`` goes through
                # a Python __eq__, a fifth of a reclassify's time.
                current: set[tuple[int, int]] = set(map(tuple, conn.execute(
                    select(item_topics.c.topic_id, item_topics.c.item_id)
                    .where(item_topics.c.item_id.between(first, last))).all()))
                if not full:  # the range also holds classified items, which were not read
                    batch_ids = set(ids)
                    current = {pair for pair in current if pair[1] in batch_ids}
                # Write only the difference: after a rule change most memberships stand.
                # Sorted in primary-key order (item, topic), the B-tree is written page
                # after page.
                _write_pairs(conn, _DELETE_MEMBERSHIP, sorted(current - wanted, key=_by_item))
                _insert_memberships(conn, sorted(wanted - current, key=_by_item))
                # Which of them are unclassified: all, unless the rules changed (then
                # found through the classified index, not by reading the items' rows).
                changed = ids if not full else list(conn.execute(
                    select(items.c.id).where(items.c.classified.is_(False), items.c.id.between(first, last))
                    .order_by(items.c.id)).scalars())
                if changed:
                    # Items added or updated since the last run: memberships that stand
                    # still carry the old sort key (new ones were written with the new).
                    changed_ids = set(changed)
                    standing = sorted({i for _, i in current & wanted if i in changed_ids})
                    if standing:
                        conn.execute(
                            update(item_topics).where(item_topics.c.item_id.in_(standing))
                            .values(updated=select(items.c.updated).where(items.c.id == item_topics.c.item_id)
                                    .scalar_subquery())
                        )
                    conn.execute(update(items).where(items.c.id.in_(changed)).values(classified=True))
                if not full:
                    _bump_data_version(conn)
                last_id = last
                done += len(ids)
        return done

    def _source_names(self) -> list[tuple[int, str]]:
        with self.reading() as conn:
            return list(conn.execute(select(sources.c.id, sources.c.name)).all())

    # -- reading --------------------------------------------------------------
    def topic_counts(self) -> dict[str, int]:
        with self.reading() as conn:
            # One scan of the (topic_id, updated) index, grouped in its order; count(*)
            # decodes no column. Half the cost of counting through a join with topics.
            counts: dict[int, int] = dict(conn.execute(
                select(item_topics.c.topic_id, func.count()).group_by(item_topics.c.topic_id)).all())
            return {slug: counts.get(topic_id, 0)
                    for topic_id, slug in conn.execute(select(topics.c.id, topics.c.slug))}

    def item_count(self) -> int:
        with self.reading() as conn:
            # count(*), not count(id): SQLite then counts B-tree cells without reading rows.
            return conn.scalar(select(func.count()).select_from(items)) or 0

    def newest_items(self, topic: str | None, limit: int) -> list[PublishedItem]:
        """Newest first (updated desc, then entry id), at most ``limit``."""
        return self.feed_items([topic], limit)[topic]

    def feed_items(
        self, feeds: Sequence[str | None], limit: int
    ) -> dict[str | None, list[PublishedItem]]:
        """The newest ``limit`` items of each topic (None: of all items), newest first.

        An item in several feeds is loaded once, and the sources once for all feeds,
        so publishing fifty topics costs a handful of queries, not fifty times as many.
        """
        with self.reading() as conn:
            ids_by_feed: dict[str | None, list[int]] = {}
            topic_ids: dict[str, int] = dict(conn.execute(select(topics.c.slug, topics.c.id)).all())
            # One range scan of the (topic, updated) index per topic; one statement for
            # all of them, so it is built and compiled once.
            newest_of_topic = (select(item_topics.c.item_id).where(item_topics.c.topic_id == bindparam("topic"))
                               .order_by(item_topics.c.updated.desc()).limit(limit))
            for topic in feeds:
                if topic is None:
                    q = select(items.c.id).order_by(items.c.updated.desc(), items.c.uid).limit(limit)
                    ids_by_feed[topic] = list(conn.execute(q).scalars().all())
                elif topic in topic_ids:
                    ids_by_feed[topic] = list(
                        conn.execute(newest_of_topic, {"topic": topic_ids[topic]}).scalars().all())
                else:
                    ids_by_feed[topic] = []
            slugs = {topic_id: slug for slug, topic_id in topic_ids.items()}
            views = self._views(conn, sorted({i for ids in ids_by_feed.values() for i in ids}), slugs)
            return {topic: _newest_first([views[i] for i in ids]) for topic, ids in ids_by_feed.items()}

    def _views(self, conn: Connection, ids: list[int], topic_slugs: dict[int, str]) -> dict[int, PublishedItem]:
        """PublishedItems of ``ids``; ``topic_slugs`` maps every topic id to its slug.

        Three statements per chunk of ids, the ids passed as ``_one_of`` lists (on
        SQLite one JSON array: the statement compiles once, where an expanding IN
        rendered 500 placeholders per chunk); rows fetched whole and unpacked by position.
        """
        if not ids:
            return {}
        it = items.c
        rows: list[Any] = []
        slugs_of: dict[int, list[str]] = defaultdict(list)
        carried: list[Any] = []
        for part in _chunks(ids):
            rows += conn.execute(select(
                it.id, it.uid, it.source_id, it.title, it.link, it.summary, it.content, it.content_type,
                it.author, it.published, it.updated,
            ).where(_one_of(conn, it.id, part))).all()
            for item_id, topic_id in conn.execute(
                select(item_topics.c.item_id, item_topics.c.topic_id).where(_one_of(conn, item_topics.c.item_id, part))
            ).all():
                slugs_of[item_id].append(topic_slugs[topic_id])
            # Every row of one item is in its item's chunk, so item_sources.id order holds per item.
            carried += conn.execute(
                select(item_sources.c.item_id, item_sources.c.source_id, item_sources.c.link)
                .where(_one_of(conn, item_sources.c.item_id, part)).order_by(item_sources.c.id)
            ).all()
        first = {row[0]: (row[2], row[4]) for row in rows}  # item id -> (its source, its link)
        via: dict[int, list[str]] = defaultdict(list)
        for item_id, source_id, link in carried:
            item_source, item_link = first[item_id]
            if source_id != item_source and link and link != item_link and link not in via[item_id]:
                via[item_id].append(link)
        infos = self._source_infos(conn, {row[2] for row in rows})
        no_topics: list[str] = []
        return {
            item_id: PublishedItem(
                id=uid, title=title, updated=updated, published=published, source=infos[source_id],
                link=link, content=content, content_type=content_type, summary=summary, author=author,
                # Slug order, as the category elements have always been written.
                topics=tuple(sorted(slugs_of.get(item_id, no_topics))), via=tuple(via.get(item_id, ())),
            )
            for (item_id, uid, source_id, title, link, summary, content, content_type, author, published,
                 updated) in rows
        }

    @staticmethod
    def _source_infos(conn: Connection, source_ids: set[int]) -> dict[int, SourceInfo]:
        wanted = sorted(source_ids)
        # One max() per source: each is a single seek of the (source_id, updated) index,
        # where a GROUP BY would read every index entry of every source.
        newest_of = (select(func.max(items.c.updated)).where(items.c.source_id == sources.c.id)
                     .correlate(sources).scalar_subquery())
        # The columns used, with the newest time in the same statement.
        rows = conn.execute(
            select(sources.c.id, sources.c.name, sources.c.type, sources.c.url, sources.c.title,
                   sources.c.site_link, newest_of)
            .where(sources.c.id.in_(wanted))
        ).all()
        return {
            sid: SourceInfo(
                id=source_iri(name), title=title or name, updated=newest,
                self_link=url if kind == "feed" else None, link=site_link,
            )
            for sid, name, kind, url, title, site_link, newest in rows
        }

    def statuses(self) -> dict[str, SourceStatus]:
        with self.reading() as conn:
            counts: dict[int, int] = dict(conn.execute(
                select(item_sources.c.source_id, func.count(item_sources.c.id)).group_by(item_sources.c.source_id)
            ).all())
            return {
                src.name: SourceStatus(
                    name=src.name, type=src.type, url=src.url, last_fetch=src.last_fetch,
                    last_success=src.last_success, http_status=src.http_status, error=src.error,
                    warning=src.warning, items=counts.get(src.id, 0), failures=src.failures or 0,
                    next_run=src.next_run, retired=bool(src.retired),
                )
                for src in conn.execute(select(sources))
            }
