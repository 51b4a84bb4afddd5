"""The core operations that commands and the scheduler call: refresh sources, classify, publish.

Configuration is read by the caller (CLI, service) and passed in explicitly.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import itertools
import json
import logging
import os
import re
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from .config import Config, SourceConfig
from .errors import FetchError, ParseError, SeedError, StoreError
from .fastparse import ZONE_OFFSETS
from .fetch import Fetcher, FetchRequest, GoneError, HTTPStatusError, host_key
from .identity import without_credentials
from .parse import parse_feed
from .policy import next_delay, redirect_decision
from .sanitize import sanitize_html
from .store import REREAD, IngestJob, IngestResult, PendingCommit, RefreshRecord, SourceSpec, SourceState, Store
from .types import EntryData, FeedView, FetchResult

if TYPE_CHECKING:  # the publisher (feedgen) is imported only by the commands that publish
    from .publish import PublishReport
    from .rules import Classifier, TopicRule

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SourceOutcome:
    name: str
    ok: bool
    new: int = 0
    updated: int = 0
    merged: int = 0  # entries that were the same story as an item from another source
    error: str | None = None
    warning: str | None = None
    http_status: int | None = None
    retired: bool = False  # not fetched: an earlier 410 retired it (ok: no failure of this refresh)


@dataclass
class RefreshReport:
    outcomes: list[SourceOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[SourceOutcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def changed(self) -> bool:
        return any(o.new or o.updated or o.merged for o in self.outcomes)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def open_store(config: Config, *, service: bool = False) -> Store:
    """The store, its schema upgraded (``open_database``) and its sources synced."""
    store = open_database(config.settings.database, service=service)
    try:
        sync_sources(config, store)
    except BaseException:
        store.close()
        raise
    return store


# How often a command polls the lock another command holds while it upgrades the schema.
UPGRADE_WAIT_S = 0.2


def open_database(url: str, *, service: bool = False) -> Store:
    """The store, its schema created or upgraded. A command other than the service
    (``service``: it holds the database's lock already) upgrades a database only while no
    service uses it: under a running service of an earlier release, every refresh of that
    service failed on the changed schema until it was restarted. It waits for another
    command that is upgrading it."""
    from .db import migrate, upgrade_from
    from .errors import LockedError
    from .lock import UPGRADE_ROLE, database_lock

    store = Store.open(url, run_migrations=False)
    try:
        revision = None if service else upgrade_from(store.engine)
        if revision is None:
            migrate(store.engine)  # nothing to upgrade, a new database to create, or a newer one to refuse
        else:
            lock = database_lock(url, role=UPGRADE_ROLE)
            waiting = False
            while True:
                try:
                    lock.acquire()
                    break
                except LockedError as e:
                    if e.role != UPGRADE_ROLE:
                        raise StoreError(
                            f"{e}, at schema revision {revision}, which this release upgrades: a service of "
                            "this release upgrades it as it starts (and may be doing so now); stop one of an "
                            "earlier release, then start this release's"
                        ) from None
                    # Another command of this release is upgrading it (`migrate` by hand, a
                    # cron job's `update`): this one goes on once it is done.
                    if not waiting:
                        log.info("%s: waiting for it to finish", e)
                        waiting = True
                    time.sleep(UPGRADE_WAIT_S)
            try:
                migrate(store.engine)
            finally:
                lock.release()
    except BaseException:
        store.close()
        raise
    return store


def sync_sources(config: Config, store: Store) -> None:
    """Give every configured source its row (and follow URL edits): at start, and when
    the service reloads its config."""
    store.sync_sources(
        SourceSpec(name=s.name, type=s.type, url=s.url, title=s.title) for s in config.sources
    )


# -- refresh -----------------------------------------------------------------
def refresh(
    config: Config,
    store: Store,
    names: Sequence[str] | None = None,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> RefreshReport:
    """Fetch and ingest the named sources (all enabled ones when ``names`` is None)."""
    chosen = [s for s in config.sources if (s.name in names if names else s.enabled)]
    report = RefreshReport()
    for src in chosen:
        if src.type == "seeds":
            report.outcomes.append(refresh_seeds(store, src, now=now))
            if progress:
                progress(src.name)
    feeds = [s for s in chosen if s.type == "feed"]
    if feeds:
        report.outcomes.extend(refresh_feeds(config, store, feeds, progress=progress, now=now))
    try:
        prune_history(store, now or utcnow())
    except (SQLAlchemyError, StoreError) as e:  # the refreshes are stored; the next one tries again
        log.warning("cannot prune the refresh history: %s", e)
    return report


HISTORY = timedelta(days=30)  # how long the refresh history (one row per attempt) is kept
_PRUNED = "fetches_pruned"  # meta: when it was last pruned


def prune_history(store: Store, now: datetime) -> None:
    """Once a day, forget refresh attempts older than HISTORY: a thousand sources refreshed
    every half hour add 48,000 a day, and nothing reads them past the latest."""
    last = store.get_meta(_PRUNED)
    if last is not None and now - datetime.fromisoformat(last) < timedelta(days=1):
        return
    removed = store.prune_fetches(now - HISTORY)
    store.set_meta(_PRUNED, now.isoformat())
    if removed:
        log.info("refresh history: %d attempts older than %d days forgotten", removed, HISTORY.days)


def refresh_seeds(store: Store, src: SourceConfig, *, now: datetime | None = None) -> SourceOutcome:
    # Imported here: a feeds-only refresh never needs it.
    from .seeds import legacy_seed_identity, read_seed_path, seed_entries, seed_identity, seed_times

    started = now or utcnow()
    assert src.path is not None
    try:
        items, warnings = read_seed_path(src.path)
    except SeedError as e:
        log.error("source %s: %s", src.name, e)
        store.record_refresh(src.name, started=started, finished=utcnow(), ok=False, error=str(e),
                             next_run=started + timedelta(seconds=src.interval))
        return SourceOutcome(src.name, ok=False, error=str(e))
    for w in warnings:
        log.warning("source %s: %s", src.name, w)
    warning = "; ".join(warnings) or None
    # Items stored before seed keys left the cut-off handling out take their new keys.
    rekeyed = store.rekey(src.name, {legacy_seed_identity(src.name, i): seed_identity(src.name, i) for i in items})
    if rekeyed:
        log.info("source %s: %d stored items re-keyed", src.name, rekeyed)
    newest = store.newest_item_time(src.name)
    result = store.ingest(
        src.name, seed_entries(src.name, items), now=started,
        seen_times=lambda k: seed_times(k, started, newest), keep_times=True,
    )
    finished = utcnow()
    store.record_refresh(src.name, started=started, finished=finished, ok=True, warning=warning,
                         result=result, next_run=finished + timedelta(seconds=src.interval),
                         keep_validators=True)
    log.info("source %s: %d new, %d updated", src.name, result.new, result.updated)
    return SourceOutcome(src.name, ok=True, new=result.new, updated=result.updated, merged=result.attached,
                         warning=warning)


# IngestJob.reread_shifts: the dates of a feed that names its time zone (CET, MSK), which
# releases before ZONE_OFFSETS read as UTC: later by the zone's offset than now. And those
# of one that writes an ISO 8601 zone a part of an hour from UTC without its colon
# ("+0530"), whose minutes releases before fastparse._zone_with_colon read from their last
# digit ("+0545" as +05:05; W3DTF) or not at all (ISO 8601, read at hour 24): later by the
# minutes missed east of UTC, earlier west. The zones such minutes are written in:
_PART_HOUR_ZONES = ("+0330", "+0430", "+0530", "+0545", "+0630", "+0845", "+0930", "+1030", "+1245", "+1345",
                    "-0230", "-0330", "-0930")
_REREAD_SHIFTS = tuple(sorted(({
    timedelta(hours=int(offset[1:3]), minutes=int(offset[3:])) * (1 if offset[0] == "+" else -1)
    for offset in ZONE_OFFSETS.values()} | {
    timedelta(minutes=missed) * (1 if zone[0] == "+" else -1)
    for zone in _PART_HOUR_ZONES for missed in (int(zone[3:]) - int(zone[4]), int(zone[3:]))}) - {timedelta(0)}))


def _resanitize(html: str) -> str:
    """The parser's HTML cleaning once more, over HTML it stored (its links already
    absolute): see ``IngestJob.resanitize``."""
    return sanitize_html(html, None)


def _credentials(url: str) -> tuple[str, str] | None:
    """A private feed's origin without and with its user and password, which releases
    before parse_feed left them out resolved relative links against: see
    ``IngestJob.credentials``."""
    end = min((i for i in map(url.find, "/?#", (url.find("://") + 3,) * 3) if i >= 0), default=len(url))
    plain = without_credentials(url[:end])
    return (plain, url[:end]) if plain != url[:end] else None


def _moved(stored: str | None, parsed: str | None) -> tuple[str, str] | None:
    """(the URL a source's stored entries' relative links were resolved against, the one
    this parse's were) when they differ (the feed moved, or a redirect sends it elsewhere):
    see ``IngestJob.moved``."""
    return (stored, parsed) if stored and parsed and stored != parsed else None


def _written_whole(entries: Sequence[EntryData], body: bytes) -> frozenset[str]:
    """The links of ``entries`` that ``body`` writes whole (as XML or JSON writes them): a
    feed that moved and links to its stories by whole URLs did not move them, while a link
    written relative to the feed (``story-1.html``, ``../story``) is the same story's as it
    was resolved where the feed was. Read only for a document that moved."""
    whole = set()
    for e in entries:
        if e.link and (link := e.link.strip()).startswith(("http://", "https://")):
            raw = link.encode()
            if raw in body or raw.replace(b"&", b"&amp;") in body or raw.replace(b"/", b"\\/") in body:
                whole.add(link)
    return frozenset(whole)


# A store transaction during a refresh takes this many sources, or fewer once their
# entries reach BATCH_ENTRIES: parsed entries wait in memory until it commits. Halving
# both from 100/500 cut 1.2 MiB of peak memory off a 1,000-feed refresh at no measurable
# cost in CPU (a commit in WAL mode is cheap; the per-batch lookups scale with entries).
BATCH = 50
BATCH_ENTRIES = 250
# Requests started but not yet handled: one per allowed connection, and this many answers
# more, waiting for the event loop's thread. When parsing and storing are what is slow
# (a cold refresh at many connections), more waiting answers are only memory: at 160
# connections, twice 160 held ≈ 1 MiB more bodies at the peak than 160 + 40, in the same time.
AHEAD = 40
FETCH_OPTIONS: dict[str, Any] = {}  # extra Fetcher arguments (tests shorten the timeouts)


def refresh_feeds(
    config: Config,
    store: Store,
    sources: Sequence[SourceConfig],
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> list[SourceOutcome]:
    """Fetch every feed at once; parse each answer as it arrives and store them in
    batches, so parsing and storing overlap the network instead of following it."""
    # A service refreshes one source a job: its row only, not every source's (thousands
    # of sources on short intervals made that a good part of a core).
    states = store.source_states() if len(sources) != 1 else {sources[0].name: store.source_state(sources[0].name)}
    rereads = {name for name, state in states.items() if state.body_hash == REREAD}
    started = now or utcnow()
    outcomes: list[SourceOutcome] = []
    requests = []
    by_name = {s.name: s for s in sources}
    for src in sources:
        state = states[src.name]
        if state.retired:
            # Not a failure of this refresh: the source was retired by an earlier 410.
            outcomes.append(SourceOutcome(src.name, ok=True, retired=True,
                                          warning="the server answered 410 Gone; remove it from the config"))
            continue
        requests.append(FetchRequest(key=src.name, url=state.url or src.url or "",
                                     etag=state.etag, last_modified=state.last_modified))
    if requests:
        with _old_objects_frozen():
            outcomes.extend(asyncio.run(_fetch_and_store(config, store, requests, by_name, states, rereads,
                                                         started, progress)))
    order = {s.name: i for i, s in enumerate(sources)}
    outcomes.sort(key=lambda o: order[o.name])
    return outcomes


# While any refresh runs (the service runs several at once, in threads): the collector's
# youngest generation is collected every REFRESH_GC_THRESHOLD allocations, not 700.
REFRESH_GC_THRESHOLD = 10_000
_refreshes_lock = threading.Lock()
_refreshes_running = 0
_gc_threshold_before: tuple[int, ...] = ()


@contextlib.contextmanager
def _old_objects_frozen() -> Iterator[None]:
    """Keep the objects alive before a refresh (imported code, config, caches: ~80k)
    out of the cyclic collector's way while it runs. A refresh allocates enough to
    trigger full collections, and each walked all of them (~50 ms, ~5 % of a cold
    1,000-feed refresh); frozen, a full collection walks only what the refresh made.
    Nothing is lost: unfreezing hands them back to the oldest generation.

    The youngest generation is also collected less often: a cold 1,000-feed refresh
    made ~55 collections of it, ≈ 45 ms (≈ 2 %), and what a refresh allocates is
    freed by reference counting, not by the collector. The first refresh to start
    raises the threshold and the last to end restores it (and unfreezes)."""
    global _refreshes_running, _gc_threshold_before
    with _refreshes_lock:
        if _refreshes_running == 0:
            _gc_threshold_before = gc.get_threshold()
            gc.set_threshold(max(REFRESH_GC_THRESHOLD, _gc_threshold_before[0]), *_gc_threshold_before[1:])
            # Only the first: a refresh starting beside others would freeze the cycles they
            # (and the HTTP server) left for the collector, and a busy service, where some
            # refresh always runs, would never unfreeze them.
            gc.freeze()
        _refreshes_running += 1
    try:
        yield
    finally:
        with _refreshes_lock:
            _refreshes_running -= 1
            if _refreshes_running == 0:
                gc.unfreeze()
                gc.set_threshold(*_gc_threshold_before)


async def _fetch_and_store(
    config: Config,
    store: Store,
    requests: Sequence[FetchRequest],
    by_name: dict[str, SourceConfig],
    states: dict[str, SourceState],
    rereads: set[str],
    started: datetime,
    progress: Progress | None,
) -> list[SourceOutcome]:
    outcomes: list[SourceOutcome] = []
    pending: list[_Fetched] = []
    # The batch whose COMMIT runs behind the fetching and parsing of the next one.
    behind: tuple[PendingCommit, list[_Fetched], list[IngestJob], Settle, list[SourceOutcome]] | None = None

    order = {name: i for i, name in enumerate(by_name)}

    def settler(batch: list[_Fetched]) -> Settle:
        def settle(results: Sequence[IngestResult | Exception]) -> tuple[list[RefreshRecord], list[SourceOutcome]]:
            """The records to store and the outcomes to report, given the ingest results
            (pure: it may run twice when the batch falls back to one source at a time)."""
            found = iter(results)
            records, settled = [], []
            for rec, entries, outcome in batch:
                if entries is not None:
                    r = next(found)
                    if isinstance(r, Exception):
                        error = f"could not store its entries: {r}"
                        records.append(RefreshRecord(rec.name, rec.started, rec.finished, ok=False, error=error,
                                                     http_status=rec.http_status, next_run=rec.next_run))
                        settled.append(SourceOutcome(rec.name, ok=False, error=error))
                        continue
                    rec = replace(rec, result=r)
                    outcome = replace(outcome, new=r.new, updated=r.updated, merged=r.attached)
                records.append(rec)
                settled.append(outcome)
            return records, settled

        return settle

    def report(batch: list[_Fetched], stored: list[SourceOutcome]) -> None:
        for (_, entries, _), outcome in zip(batch, stored):
            if entries is None:
                continue
            if outcome.error is not None:
                log.error("source %s: %s", outcome.name, outcome.error)
            elif outcome.new or outcome.updated or outcome.merged:
                log.info("source %s: %d new, %d updated, %d merged", outcome.name, outcome.new, outcome.updated,
                         outcome.merged)
        outcomes.extend(stored)

    def land() -> None:
        """Wait for the commit running behind; report its batch, or, if the commit
        failed (nothing of the batch is then stored), store it again one source at a time."""
        nonlocal behind
        if behind is None:
            return
        commit, batch, jobs, settle, stored = behind
        behind = None
        try:
            commit.wait()
        except Exception as e:  # noqa: BLE001 - whatever it was, the other sources must still be stored
            if database_lost(e):
                raise
            log.exception("batch of %d sources failed to commit; retrying one by one", len(jobs))
            stored = _ingest_one_by_one(store, jobs, started, settle)
        report(batch, stored)

    def flush() -> None:
        nonlocal behind
        land()
        # Config order within a batch: when two sources carry the same story, the
        # one listed first is its origin (as far as arrival order allows).
        batch = sorted(pending, key=lambda p: order[p[0].name])
        pending.clear()
        # parse_feed clamped future dates to `started`
        jobs = [IngestJob(rec.name, entries, clamped_at=started, resanitize=_resanitize,
                          reread_shifts=_REREAD_SHIFTS, keep_times=rec.name in rereads,
                          credentials=_credentials(states[rec.name].url or by_name[rec.name].url or ""),
                          moved=_moved(states[rec.name].link_base, rec.link_base), for_now=rec.base_for_now,
                          written_whole=rec.written_whole)
                for rec, entries, _ in batch if entries is not None]
        settle = settler(batch)
        if not jobs:
            records, stored = settle([])
            store.record_refreshes(records)
            report(batch, stored)
            return
        settled: list[SourceOutcome] = []

        def then(results: list[IngestResult]) -> list[RefreshRecord]:
            records, stored = settle(results)
            settled[:] = stored
            return records

        try:
            commit = store.ingest_batch_behind(jobs, now=started, then=then)
        except Exception as e:  # noqa: BLE001 - whatever it was, the other sources must still be stored
            if database_lost(e):
                raise
            log.exception("batch of %d sources failed to store; retrying one by one", len(jobs))
            report(batch, _ingest_one_by_one(store, jobs, started, settle))
            return
        behind = (commit, batch, jobs, settle, settled)

    settings = config.settings
    waiting = 0  # entries in `pending`
    try:
        async with Fetcher(max_connections=settings.max_connections, max_per_host=settings.max_per_host,
                           **FETCH_OPTIONS) as fetcher:
            answers = _fetch_bounded(fetcher, requests, settings.max_connections + AHEAD)
            # aclosing: if storing fails mid-way, the fetches still running are cancelled
            # here, while their session is open, not at interpreter shutdown.
            async with contextlib.aclosing(answers):
                async for req, res in answers:
                    pending.append(decide_fetch(by_name[req.key], states[req.key], res, started))
                    if progress:
                        progress(req.key)
                    waiting += len(pending[-1][1] or ())
                    if len(pending) >= BATCH or waiting >= BATCH_ENTRIES:
                        flush()
                        waiting = 0
        if pending:
            flush()
        land()
    finally:
        if behind is not None:  # the refresh failed: still leave no commit running, and say how it ended
            commit, _, jobs, _, _ = behind
            try:
                commit.wait()
            except Exception:  # noqa: BLE001 - the refresh's own error is on its way up
                log.exception("batch of %d sources failed to commit", len(jobs))
    return outcomes


async def _fetch_bounded(
    fetcher: Fetcher, requests: Sequence[FetchRequest], limit: int
) -> AsyncGenerator[tuple[FetchRequest, FetchResult | FetchError], None]:
    """Each request's answer as it arrives, with at most ``limit`` requests started and
    not yet handed out: a task and its body exist only for those, not for every source
    of a 1,000-feed refresh at once. Requests go out interleaved by host, so a host
    with many feeds, waiting on its own connection limit, cannot fill the window."""
    answers: asyncio.Queue[tuple[FetchRequest, FetchResult | FetchError | BaseException]] = asyncio.Queue()
    running: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks

    async def one(req: FetchRequest) -> None:
        try:
            res: FetchResult | FetchError | BaseException = await fetcher.fetch(req)
        except FetchError as e:
            res = e
        except BaseException as e:  # a bug, or cancellation: the consumer re-raises it
            answers.put_nowait((req, e))
            raise
        answers.put_nowait((req, res))

    def finished(task: asyncio.Task[None]) -> None:
        running.discard(task)
        if not task.cancelled():
            task.exception()  # marks a bug's exception as seen: the consumer re-raises it

    def start(req: FetchRequest) -> None:
        task = asyncio.create_task(one(req))
        running.add(task)
        task.add_done_callback(finished)

    queue = iter(interleave_by_host(requests))
    for req in itertools.islice(queue, max(1, min(limit, len(requests)))):  # a huge max_connections too
        start(req)
    outstanding = len(running)
    try:
        while outstanding:
            req, res = await answers.get()
            outstanding -= 1
            if isinstance(res, BaseException) and not isinstance(res, FetchError):
                raise res
            nxt = next(queue, None)
            if nxt is not None:  # refill first: the network works on while we parse
                start(nxt)
                outstanding += 1
            yield req, res
    finally:
        for task in running:
            task.cancel()


# A URL's scheme, "://" and authority: all that its host key (scheme, host, port) reads.
_ORIGIN = re.compile(r"[^:/?#]+://[^/?#]*")


def interleave_by_host(requests: Sequence[FetchRequest]) -> list[FetchRequest]:
    """Round-robin over hosts (in order of first appearance), each host's requests in order."""
    by_host: dict[tuple[str, str, int], list[FetchRequest]] = {}
    # Host keys by origin (what decides one): a URL is split once per origin, not once
    # per request (1,000 splits were ≈ 6 ms before a refresh's first request left).
    keys: dict[str, tuple[str, str, int]] = {}
    for req in requests:
        origin = _ORIGIN.match(req.url)
        if origin is None:
            key = host_key(req.url)
        else:
            known = keys.get(origin[0])
            key = known if known is not None else keys.setdefault(origin[0], host_key(origin[0]))
        by_host.setdefault(key, []).append(req)
    if len(by_host) <= 1:
        return list(requests)
    lanes = [iter(lane) for lane in by_host.values()]
    return [req for group in itertools.zip_longest(*lanes) for req in group if req is not None]


Settle = Callable[[Sequence[IngestResult | Exception]], tuple[list[RefreshRecord], list[SourceOutcome]]]
# One fetched source: its record, its entries to store (None: nothing to parse), its outcome.
_Fetched = tuple[RefreshRecord, tuple[EntryData, ...] | None, SourceOutcome]


def database_lost(e: BaseException) -> bool:
    """Whether ``e`` says the database cannot be used at all, for any source: its connection
    was lost (a server restarted, a failover), or could not be made, or a COMMIT failed for
    the database's own reason (a full disk). Storing source by source would only fail
    again, each with its traceback and each waiting for the connection's time-out: the
    refresh stops with it, and nothing of the batch is stored."""
    if not isinstance(e, DBAPIError):
        return False
    return e.connection_invalidated or (isinstance(e, OperationalError) and e.statement is None)


def _ingest_one_by_one(store: Store, jobs: list[IngestJob], now: datetime, settle: Settle) -> list[SourceOutcome]:
    """Store each source's entries in a transaction of its own, after a batch of them
    failed, so one source whose entries the database refuses never costs the others
    theirs; then the refresh records of all. Returns the outcomes."""
    results: list[IngestResult | Exception] = []
    for job in jobs:
        try:
            results.append(store.ingest_batch([job], now=now)[0])
        except Exception as e:  # noqa: BLE001
            if database_lost(e):
                raise
            log.exception("source %s: its entries could not be stored", job.source_name)
            results.append(e)
    records, outcomes = settle(results)
    store.record_refreshes(records)
    return outcomes


def decide_fetch(
    src: SourceConfig, state: SourceState, res: FetchResult | FetchError, started: datetime
) -> tuple[RefreshRecord, tuple[EntryData, ...] | None, SourceOutcome]:
    """What one fetch means for its source: the record to store, the entries to ingest
    (None when nothing is to be parsed), and the outcome to report."""
    finished = utcnow()
    if isinstance(res, FetchError):
        retry_after = res.retry_after if isinstance(res, HTTPStatusError) else None
        gone = isinstance(res, GoneError)
        delay = next_delay(src.interval, state.failures + 1, retry_after)
        log.error("source %s: %s", src.name, res)
        record = RefreshRecord(
            src.name, started, finished, ok=False, error=str(res), http_status=res.status,
            # A retired source never runs again: no next_run for status to show.
            next_run=None if gone else finished + timedelta(seconds=delay),
            retired=True if gone else None,
        )
        return record, None, SourceOutcome(src.name, ok=False, error=str(res), http_status=res.status)

    pending, move = redirect_decision(state.pending_redirect, res.permanent_redirect)
    if move and res.permanent_redirect:
        # Its config keeps the old URL (an edit there starts the source afresh): say so.
        log.warning("source %s: moved permanently to %s, fetched from there from now on; "
                    "its url in the config can say so", src.name, without_credentials(res.permanent_redirect))

    def ok(**more: Any) -> RefreshRecord:
        # Built once with everything known (dataclasses.replace would build it twice).
        return RefreshRecord(
            src.name, started, finished, ok=True, http_status=res.status, etag=res.etag,
            last_modified=res.last_modified, pending_redirect=pending,
            new_url=res.permanent_redirect if move else None,
            next_run=finished + timedelta(seconds=src.interval), **more,
        )

    if res.not_modified:
        return ok(keep_warning=True), None, SourceOutcome(src.name, ok=True, http_status=304)

    body = res.body or b""
    body_hash = res.body_sha256 or hashlib.sha256(body).hexdigest()
    if res.temporary:
        # The same bytes where a temporary redirect sent the fetch are not the same bytes at
        # the feed's own URL: there, once the redirect ends, the entries first seen at the
        # mirror take their links (IngestJob.for_now), also from a document the mirror sent.
        body_hash = hashlib.sha256(f"{res.url}\n{body_hash}".encode()).hexdigest()
    if body_hash == state.body_hash:
        # Same bytes as last time: nothing to parse.
        return (ok(keep_warning=True, body_hash=body_hash), None,
                SourceOutcome(src.name, ok=True, http_status=res.status))
    try:
        feed = parse_feed(res.url, body, res.headers, now=started)
    except Exception as e:  # noqa: BLE001 - a parser bug must fail its own source, never the batch
        if isinstance(e, ParseError):
            error = str(e)
            log.error("source %s: %s", src.name, error)
        else:
            error = f"internal error while parsing: {type(e).__name__}: {e}"
            log.exception("source %s: %s", src.name, error)
        delay = next_delay(src.interval, state.failures + 1)
        record = RefreshRecord(src.name, started, finished, ok=False, error=error, http_status=res.status,
                               next_run=finished + timedelta(seconds=delay))
        return record, None, SourceOutcome(src.name, ok=False, error=error, http_status=res.status)
    if feed.warning:
        log.warning("source %s: %s", src.name, feed.warning)
    whole = _written_whole(feed.entries, body) if _moved(state.link_base, feed.url) else frozenset()
    record = ok(warning=feed.warning, body_hash=body_hash, title=feed.title, site_link=feed.link, link_base=feed.url,
                base_for_now=res.temporary, written_whole=whole)
    if feed.cut_short:
        # The entries after the cut (and one it left out) come with the next whole
        # document, which a server whose validators date its newest post, not its bytes
        # (WordPress's ETag and Last-Modified), would answer with 304 until its next post,
        # and the same cut bytes again must be read as cut again: the next request asks
        # for it whole.
        record = replace(record, etag=None, last_modified=None, body_hash=None)
    return record, feed.entries, SourceOutcome(src.name, ok=True, warning=feed.warning, http_status=res.status)


# -- classify and publish ------------------------------------------------------
def topic_rules(config: Config) -> list[TopicRule]:
    from .rules import TopicRule  # the rule engine is for classify; a refresh never loads it

    return [TopicRule(slug=t.slug, any=t.any, all=t.all, none=t.none, sources=t.sources)
            for t in config.topics]


# Bumped when matching itself changes (2: a dotted capital I matches I; 3: ’ matches ';
# 4: a dotless ı matches i; 5: the hyphens ‐ and ‑ match -; 6: a phrase's soft hyphens are
# dropped, as the texts' are; 7: each character of a script written without spaces is a
# word; 8: full-width letters, digits and signs match ASCII ones; 9: the Ukrainian ʼ matches ',
# Russian ё matches е, Greek vowels match without tonos or dialytika, Romanian ş ţ match ș ț,
# half-width katakana match the usual ones), so that stored items are reclassified once under
# it, not only when the rules change.
MATCHING = 9


def rules_fingerprint(rules: Sequence[TopicRule]) -> str:
    data: list[object] = [[r.slug, list(r.any), list(r.all), list(r.none), list(r.sources)] for r in rules]
    data.append(MATCHING)
    return hashlib.sha256(json.dumps(data, ensure_ascii=False).encode()).hexdigest()


def classify(config: Config, store: Store) -> int:
    """Bring topic membership up to date with the stored items and the config's rules."""
    rules = topic_rules(config)
    topic_ids = store.sync_topics([(t.slug, t.title) for t in config.topics])
    classifier: Classifier | None = None

    def decide(text: str, sources: Sequence[str]) -> Sequence[str]:
        # Compiled on first use: most publishes find nothing to classify, and compiling
        # fifty topics' rules was a tenth of such a publish.
        nonlocal classifier
        if classifier is None:
            from .rules import Classifier

            classifier = Classifier(rules)
        return classifier.topics_for(text, sources)

    return store.classify(decide, rules_fingerprint(rules), topic_ids, by_source=any(r.sources for r in rules))


def _publish_stamp(config: Config, store: Store) -> str:
    from .atom import RENDERING

    s = config.settings
    # Source details (title, URL, site) are written in every entry's atom:source.
    data = [store.data_version(), store.sources_fingerprint(), s.base_url, s.title, s.max_entries,
            [(t.slug, t.title) for t in config.topics], str(s.output_dir), RENDERING]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def feed_views(config: Config, store: Store) -> list[FeedView]:
    limit = config.settings.max_entries
    counts = store.topic_counts()
    items = store.feed_items([None, *(t.slug for t in config.topics)], limit)
    views = [FeedView("all", "All items", tuple(items[None]), store.item_count())]
    for t in config.topics:
        views.append(FeedView(t.slug, t.title, tuple(items[t.slug]), counts.get(t.slug, 0)))
    return views


def expected_files(config: Config) -> list[str]:
    return ["all.xml"] + [f"{t.slug}.xml" for t in config.topics] + ["index.opml", "index.html"]


def files_stamp(config: Config) -> str:
    """Each published file's size and mtime (None when it is missing), as JSON: what tells
    a file deleted, cut off or edited by hand since the last publish."""
    out = config.settings.output_dir
    stamps: dict[str, list[int] | None] = {}
    for name in expected_files(config):
        try:
            st = os.stat(out / name)
        except OSError:
            stamps[name] = None
        else:
            stamps[name] = [st.st_size, st.st_mtime_ns]
    return json.dumps(stamps, sort_keys=True)


def output_intact(config: Config, store: Store) -> bool:
    """Whether the last publish's files are all still there as it wrote them (the service
    looks every few seconds, and publishes again when one went)."""
    return store.get_meta("published_files") == files_stamp(config)


def publish(config: Config, store: Store, *, force: bool = False) -> PublishReport:
    """Reclassify what needs it and write every feed whose bytes changed."""
    classify(config, store)
    stamp = _publish_stamp(config, store)
    if not force and store.get_meta("published_stamp") == stamp and output_intact(config, store):
        from .publish import PublishReport

        return PublishReport(written=(), unchanged=tuple(expected_files(config)))
    from .publish import publish as write_feeds

    report = write_feeds(
        config.settings.output_dir, feed_views(config, store), base_url=config.settings.base_url,
        site_title=config.settings.title, topic_titles={t.slug: t.title for t in config.topics},
    )
    store.set_metas({"published_stamp": stamp, "published_files": files_stamp(config)})
    return report
