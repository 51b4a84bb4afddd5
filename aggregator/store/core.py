"""The store: the database, opened once per process, and every read and write of it.

``Store`` is the one door; the work behind it lives beside it: ``ingest`` (entries into
items), ``classify`` (items into topics), ``views`` (what publishing reads), ``records``
(sources' state and refresh history) and ``sql`` (the plumbing they share).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, case, delete, func, insert, select, update
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from ..db import make_engine, migrate, widen_cache_for
from ..errors import StoreError
from ..models import fetches, item_sources, item_topics, items, sources, topics
from ..types import EntryData, PublishedItem
from . import classify as _classify
from .ingest import IngestJob, IngestResult, PendingCommit, ingest
from .records import (
    REREAD, RefreshRecord, SourceSpec, SourceState, SourceStatus, _states_of, record_refreshes_in, state_of,
)
from .sql import (
    _bump_data_version,
    _chunks,
    _collector_paused,
    _commit_and_close,
    _driver_sql,
    _get_meta,
    _lock_for_writing,
    _result_processor,
    _set_meta,
    _statement,
    stage_inserts,
    utcnow,
)
from .views import feed_items

log = logging.getLogger(__name__)


# A source's fetch state when its URL is new: nothing known of the new server (the old one's
# error, status and warning are no longer this source's, as its failures are not). An
# upgrade's re-read mark stays: the feed at its new URL is read by this release anew too.
_AFRESH: dict[str, Any] = dict(etag=None, last_modified=None, pending_redirect=None,
                               body_hash=case((sources.c.body_hash == REREAD, REREAD)),
                               retired=False, failures=0, error=None, http_status=None, warning=None)


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
        self.set_metas({key: value})

    def set_metas(self, values: Mapping[str, str]) -> None:
        """Several meta values in one transaction."""
        with self.writing() as conn:
            for key, value in values.items():
                _set_meta(conn, key, value)

    def data_version(self) -> int:
        return int(self.get_meta("data_version") or 0)

    # -- sources ------------------------------------------------------------
    def sync_sources(self, specs: Iterable[SourceSpec]) -> None:
        """Create rows for new sources; follow URL edits in the config; let a retired source
        that is no longer listed start afresh. A feed listed under a new name, its old one
        gone (a source renamed in the config, a feed retitled in an OPML file), is the same
        source: it keeps its row, its state and the entries it knows, as a reader keeps a
        subscription whose title changes."""
        specs = list(specs)
        with self.writing() as conn:
            existing = {src.name: src for src in conn.execute(
                select(sources.c.id, sources.c.name, sources.c.type, sources.c.config_title, sources.c.config_url,
                       sources.c.url, sources.c.retired))}
            new: list[dict[str, Any]] = []
            listed = {spec.name for spec in specs}
            renamed = {src.config_url: src for name, src in existing.items()
                       if name not in listed and src.type == "feed" and src.config_url}
            for spec in specs:
                src = existing.get(spec.name)
                if src is None and spec.type == "feed" and (src := renamed.pop(spec.url or "", None)) is not None:
                    log.info("source %s is the source %s renamed: it keeps its state and its entries",
                             spec.name, src.name)
                    # (one retired by a 410 and listed again under its new name starts afresh)
                    afresh = dict(url=src.config_url, **_AFRESH) if src.retired else {}
                    conn.execute(update(sources).where(sources.c.id == src.id).values(name=spec.name, **afresh))
                    del existing[src.name]
                    existing[spec.name] = src
                if src is None:
                    new.append(dict(name=spec.name, type=spec.type, url=spec.url, config_url=spec.url,
                                    config_title=spec.title, failures=0, retired=False))
                    continue
                changes: dict[str, Any] = {}
                if spec.type != src.type:
                    changes["type"] = spec.type
                if spec.title != src.config_title:  # set, changed or removed
                    changes["config_title"] = spec.title
                if spec.url != src.config_url:
                    # The user edited the URL: start afresh with it (the old URL's error is no
                    # longer this source's, as its failures are not), and now, not after the
                    # old URL's backoff (a service started later runs it at once).
                    changes.update(url=spec.url, config_url=spec.url, next_run=utcnow(), **_AFRESH)
                if changes:
                    conn.execute(update(sources).where(sources.c.id == src.id).values(changes))
            # A retired source taken out of the config (what `status` advises) starts afresh,
            # at its configured URL, when it is listed again: otherwise it would stay retired
            # for ever. So does one a permanent redirect moved (its new URL may have died).
            unlisted = [src.id for name, src in existing.items()
                        if (src.retired or src.url != src.config_url) and name not in listed]
            if unlisted:
                conn.execute(update(sources).where(sources.c.id.in_(unlisted))
                             .values(url=sources.c.config_url, next_run=utcnow(), **_AFRESH))
            if new:
                conn.execute(insert(sources), new)

    def start_afresh(self, name: str) -> None:
        """What an edit of a source's URL does (``sync_sources``), again: a refresh of the
        old URL that ended after the edit stored its outcome (a backoff, a retirement,
        validators) over the new URL's fresh start."""
        with self.writing() as conn:
            conn.execute(update(sources).where(sources.c.name == name)
                         .values(url=sources.c.config_url, **_AFRESH))

    def source_state(self, name: str) -> SourceState:
        with self.reading() as conn:
            src = conn.execute(select(sources).where(sources.c.name == name)).one()
            return state_of(src)

    def source_states(self) -> dict[str, SourceState]:
        with self.reading() as conn:
            if conn.dialect.name != "sqlite":
                return {src.name: state_of(src) for src in conn.execute(_statement(conn, _states_of))}
            # A refresh sends no request before it has these: read at the driver, only
            # the two times converted, by their column type's own processor (both are
            # UTCDateTime). A third of the time Core takes for 1,000 sources.
            time_of = _result_processor(conn.dialect, sources.c.next_run)
            return {
                name: SourceState(id_, name, type_, url, etag, modified, body_hash, pending, failures or 0,
                                  bool(retired), next_run if next_run is None else time_of(next_run),
                                  success if success is None else time_of(success), link_base)
                for (id_, name, type_, url, etag, modified, body_hash, pending, failures, retired, next_run, success,
                     link_base)
                in conn.exec_driver_sql(_driver_sql(conn, _states_of)[0])
            }

    def record_refresh(self, name: str, **outcome: Any) -> None:
        """Store the outcome of one refresh attempt; see ``RefreshRecord``."""
        self.record_refreshes([RefreshRecord(name=name, **outcome)])

    def record_refreshes(self, records: Sequence[RefreshRecord]) -> None:
        """Store the outcomes of refresh attempts, one transaction for all, and append
        them to the history."""
        if records:
            with self.writing() as conn:
                record_refreshes_in(conn, records)

    def sources_fingerprint(self, names: Sequence[str] | None = None) -> str:
        """A hash of what published feeds say about sources (their atom:source): of every
        source, or of the ``names`` given."""
        query = select(sources.c.name, sources.c.type, sources.c.config_title, sources.c.title,
                       sources.c.url, sources.c.site_link).order_by(sources.c.name)
        if names is not None:
            query = query.where(sources.c.name.in_(names))
        with self.reading() as conn:
            rows = conn.execute(query).all()
        return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()

    def prune_fetches(self, before: datetime, *, chunk: int = 20_000) -> int:
        """Forget the refresh history (``fetches``) older than ``before``; each source's
        own state (last refresh, error, validators) is kept. Returns the rows removed.
        ``chunk`` rows a transaction: the first prune of a long history must not hold the
        write lock for seconds (a refresh beside it waits for it)."""
        removed = 0
        oldest = select(fetches.c.id).where(fetches.c.finished < before).limit(chunk).scalar_subquery()
        while True:
            with self.writing() as conn:
                done = conn.execute(delete(fetches).where(fetches.c.id.in_(oldest))).rowcount
            removed += done
            if done < chunk:
                return removed

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

    def rekey(self, name: str, keys: Mapping[str, str]) -> int:
        """Entries of source ``name`` stored under an old key (``keys``: old to new, for a
        key whose recipe changed) take their new one, unless it is stored already.
        Returns how many did; a call with nothing to re-key writes nothing."""
        moves = {old: new for old, new in keys.items() if old != new}
        if not moves:
            return 0
        with self.reading() as conn:
            sid = conn.scalar(select(sources.c.id).where(sources.c.name == name))
            stored = set() if sid is None else {
                key for part in _chunks(sorted(moves))
                for key in conn.scalars(select(item_sources.c.key).where(
                    item_sources.c.source_id == sid, item_sources.c.key.in_(part)))}
        if not stored:
            return 0
        other = item_sources.alias("other")
        statement = (
            update(item_sources)
            .where(item_sources.c.source_id == sid, item_sources.c.key == bindparam("old"),
                   ~select(other.c.id).where(other.c.source_id == sid, other.c.key == bindparam("new")).exists())
            .values(key=bindparam("new"))
        )
        with self.writing() as conn:
            done = conn.execute(statement, [{"old": old, "new": moves[old]} for old in sorted(stored)])
        return done.rowcount

    # -- ingest -------------------------------------------------------------
    def ingest(
        self,
        source_name: str,
        entries: Sequence[EntryData],
        *,
        now: datetime | None = None,
        seen_times: Callable[[int], list[datetime]] | None = None,
        clamped_at: datetime | None = None,
        keep_times: bool = False,
    ) -> IngestResult:
        """Store one source's entries; see ``ingest_batch`` and ``IngestJob``."""
        return self.ingest_batch([IngestJob(source_name, entries, seen_times, clamped_at, keep_times)], now=now)[0]

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
            stage_inserts(conn)  # moved into their tables by the commit (on the commit thread)
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
            results = ingest(conn, jobs, now)
            if any(r.changed for r in results):
                _bump_data_version(conn)
            if then is not None:
                record_refreshes_in(conn, then(results))
            return results


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

    # Every item's topics after the rules: new or changed items, or all after a rule change.
    classify = _classify.classify

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

    def feed_items(self, feeds: Sequence[str | None], limit: int) -> dict[str | None, list[PublishedItem]]:
        """The newest ``limit`` items of each topic (None: of all items), newest first
        (see ``views.feed_items``)."""
        with self.reading() as conn:
            return feed_items(conn, feeds, limit)

    def statuses(self, *, count_items: bool = True, names: Collection[str] | None = None) -> dict[str, SourceStatus]:
        """Every source's status (or those of ``names``); ``count_items=False`` leaves
        ``items`` at 0 and spares counting every stored item (the service's watcher reads
        statuses every few seconds)."""
        chosen = select(sources) if names is None else select(sources).where(sources.c.name.in_(list(names)))
        with self.reading() as conn:
            counts: dict[int, int] = dict(conn.execute(
                select(item_sources.c.source_id, func.count(item_sources.c.id)).group_by(item_sources.c.source_id)
            ).all()) if count_items else {}
            return {
                src.name: SourceStatus(
                    name=src.name, type=src.type, url=src.url, last_fetch=src.last_fetch,
                    last_success=src.last_success, http_status=src.http_status, error=src.error,
                    warning=src.warning, items=counts.get(src.id, 0), failures=src.failures or 0,
                    next_run=src.next_run, retired=bool(src.retired),
                )
                for src in conn.execute(chosen)
            }
