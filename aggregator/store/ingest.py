"""Ingest: a batch of sources' entries into items, in one transaction.

What each source sent before is looked up by the entries' keys (``keys``; where the feed
was, for one that moved: ``moves``); each entry is then new, changed upstream, or
unchanged: inserted, updated in place, or skipped. A new entry may be the same story
another source already brought (same canonical link or same normalised text), and is
attached to that item; an edit may make two stories one: ``merges`` decides, ingest
writes. Lookups run once per batch, writes are executemany.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select, update

from ..identity import canonical_link, entry_uid, text_key, untracked, without_credentials
from ..models import item_enclosures, item_sources, items, rule_texts, sources
from ..errors import StoreError
from ..text import drop_not_xml, has_not_xml
from ..sanitize import same_markup, without_pre_newlines, without_text_breaks
from ..types import EntryData
from .keys import (PLAUSIBLE_SINCE, _derived_texts, _indexed, _indexed_link, _isoformat, _links_of, _visible,
                   _with_legacy, fallback_title, fingerprint, fingerprints)
from .merges import (_insert_aliases, _keep_copy_keys, _keep_earlier_keys, _merge_edited, _merge_items,
                     _merged_into, _names_a_story, _place_fresh, _unclassify)
from .moves import (_ITS_OWN, _as_it_was, _await_where_it_was, _former_sources_of, _found_by_former_keys,
                    _found_where_it_was, _keep_former_keys, _moved_prefixes, _read_there, _relinked)
from .sql import _chunks, _get_meta, _in_list, _insert_rows, _listed, _statement, staged_ids, unstage

log = logging.getLogger(__name__)

ONE_US = timedelta(microseconds=1)


# Columns of the tables every new entry writes, in the order ``_insert_rows`` takes.
_ITEM_COLUMNS = ("uid", "source_id", "title", "link", "canonical_link", "text_key", "summary", "content",
                 "content_type", "author", "truncated", "first_seen", "published", "updated", "classified",
                 "image")
_LINK_COLUMNS = ("item_id", "source_id", "key", "link", "fingerprint", "undated_fingerprint", "first_seen")
_TEXT_COLUMNS = ("item_id", "text")
_ENCLOSURE_COLUMNS = ("item_id", "position", "href", "type", "length")


# The ingest's statements, for _statement. Parameters are lists bound with _listed.
def _source_ids_of(sqlite: bool) -> Any:  # :names
    return select(sources.c.name, sources.c.id).where(_in_list(sources.c.name, "names", sqlite))


def _links_by_item_link(sqlite: bool) -> Any:  # _links_of, by their items' :links (canonical)
    return (select(item_sources.c.key, item_sources.c.id, item_sources.c.item_id, item_sources.c.fingerprint,
                   item_sources.c.undated_fingerprint, items.c.source_id, item_sources.c.source_id, item_sources.c.link,
                   items.c.image)
            .join(items, items.c.id == item_sources.c.item_id)
            .where(_in_list(items.c.canonical_link, "links", sqlite),
                   _in_list(item_sources.c.source_id, "sources", sqlite))
            .order_by(item_sources.c.id))


def _taken_times(sqlite: bool) -> Any:  # :times already some item's updated
    return select(items.c.updated).where(_in_list(items.c.updated, "times", sqlite))


def _texts_of(sqlite: bool) -> Any:  # :ids -> (item, its content, summary, author, published, updated)
    return (select(items.c.id, items.c.content, items.c.summary, items.c.author, items.c.published,
                   items.c.updated)
            .where(_in_list(items.c.id, "ids", sqlite)))


def _times_of(sqlite: bool) -> Any:  # :ids -> (item, its updated)
    return select(items.c.id, items.c.updated).where(_in_list(items.c.id, "ids", sqlite))


def _titles_of(sqlite: bool) -> Any:  # :ids -> (item, its title)
    return select(items.c.id, items.c.title).where(_in_list(items.c.id, "ids", sqlite))


def _relink(sqlite: bool) -> Any:  # a source's link row after it sent a change: b_id, b_fingerprint, b_undated, b_link
    return (update(item_sources).where(item_sources.c.id == bindparam("b_id"))
            .values(fingerprint=bindparam("b_fingerprint"), undated_fingerprint=bindparam("b_undated"),
                    link=bindparam("b_link")))


def _rekey(sqlite: bool) -> Any:  # a source's link row stored under its entry's legacy key: b_id, b_key
    return update(item_sources).where(item_sources.c.id == bindparam("b_id")).values(key=bindparam("b_key"))


# What an update upstream writes into its item (b_<column>, b_id); classify sees it again.
_ITEM_UPDATE_COLUMNS = ("title", "link", "canonical_link", "text_key", "summary", "content", "content_type",
                        "author", "truncated", "updated", "image")


def _item_update(sqlite: bool) -> Any:
    return (update(items).where(items.c.id == bindparam("b_id"))
            .values({**{c: bindparam(f"b_{c}") for c in _ITEM_UPDATE_COLUMNS}, "classified": False}))


def _item_update_dated(sqlite: bool) -> Any:  # _item_update, and the entry's published time
    return _item_update(sqlite).values(published=bindparam("b_published"))


def _enclosures_of_items(sqlite: bool) -> Any:  # :ids, items whose entry changed
    return delete(item_enclosures).where(_in_list(item_enclosures.c.item_id, "ids", sqlite))


def _insert_enclosures(conn: Connection, carried: Iterable[tuple[int, EntryData]]) -> None:
    """Rows for the files each (item id, entry) carries; most entries carry none."""
    rows = [(item_id, n, enc.href, enc.type, enc.length)
            for item_id, entry in carried for n, enc in enumerate(entry.enclosures)]
    if rows:
        unstage(conn)  # they refer to their items
        _insert_rows(conn, item_enclosures, _ENCLOSURE_COLUMNS, rows)


def _rule_text_update(sqlite: bool) -> Any:
    return update(rule_texts).where(rule_texts.c.item_id == bindparam("b_id")).values(text=bindparam("b_text"))


def _uids_at(sqlite: bool) -> Any:  # items :first and :last
    return select(items.c.id, items.c.uid).where(items.c.id.in_([bindparam("first"), bindparam("last")]))


def _insert_items(
    conn: Any, rows: list[tuple[Any, ...]], converted: dict[str, dict[Any, Any]] | None = None
) -> list[int]:
    """Insert item rows (tuples of _ITEM_COLUMNS; ``converted``: see _insert_rows);
    returns their ids, in order. Staged (``stage_inserts``): with the ids SQLite would
    give them.

    SQLite gives a row without an id one more than the largest id, and the transaction
    holds the write lock, so one executemany inserts consecutive ids ending at
    last_insert_rowid() (checked at both ends). Elsewhere, INSERT … RETURNING."""
    if not rows:
        return []
    table: Any = items
    if conn.dialect.name != "sqlite":
        return _insert_returning_ids(conn, [dict(zip(_ITEM_COLUMNS, row)) for row in rows])
    staged = staged_ids(conn, table, len(rows))
    if staged is not None:
        _insert_rows(conn, table, ("id", *_ITEM_COLUMNS), [(i, *row) for i, row in zip(staged, rows)], converted,
                     staged=True)
        return staged
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


@dataclass(frozen=True)
class IngestJob:
    """One source's entries for ``Store.ingest_batch``."""

    source_name: str
    entries: Sequence[EntryData]
    seen_times: Callable[[int], list[datetime]] | None = None  # first-seen times of k new items
    clamped_at: datetime | None = None  # the time the parser clamped future dates to, if it did
    # What changes in an entry found by its key is only how it is read, never news, so its
    # item keeps its times: a seed's (its key hashes its text; is it cut at the file's
    # longest?), and a feed's at its first parse after an upgrade that reads feeds anew
    # (pipeline.REREAD).
    keep_times: bool = False
    # This release's HTML cleaner (the parser's): a stored entry whose content and summary
    # it turns into the ones sent now, all else equal, changed only in how HTML is cleaned
    # (a release that drops one more tag), not upstream, and its item keeps its times.
    resanitize: Callable[[str], str] | None = None
    # A private feed's origin without and with its user and password: a release before
    # relative links were resolved without them stored an entry keyed by its link under
    # the second, and its links (content's too) with them; found so, it keeps its item.
    credentials: tuple[str, str] | None = None
    # How far dates an earlier release misread may lie from this one's reading (it took a
    # time zone by name it did not know, CET or MSK, for UTC): a stored entry whose dates
    # are the ones sent now moved by one of these, all else equal, is no news.
    reread_shifts: tuple[timedelta, ...] = ()
    # (the URL the source's stored entries' relative links were resolved against, the one
    # these entries' were), when the feed moved (a 301, or a 302 to elsewhere): an entry
    # keyed by its link, not found by it, is found by the key the same relative link had
    # there, re-keyed, and its item takes the new link without being dated anew.
    moved: tuple[str, str] | None = None
    # Of a moved feed's entries, the links its document writes whole (not relative to
    # it): those did not move with it, and are never looked up where the feed was.
    written_whole: frozenset[str] = frozenset()
    # The move is a temporary redirect's (302/303/307: a mirror, a CDN's address of the
    # day): an entry found where the feed was is read as it was there (its key and link
    # stay, so alternating mirrors publish nothing), and a new one, keyed where it is now,
    # leaves the key it has where the feed was (item_former_keys), to be found there once
    # the redirect ends.
    for_now: bool = False


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


def ingest(conn: Connection, jobs: Sequence[IngestJob], now: datetime) -> list[IngestResult]:
    # What an earlier call in this transaction staged (stage_inserts) is read below.
    unstage(conn)
    if len({j.source_name for j in jobs}) < len(jobs):
        # One source in two jobs: stored in rounds with each source once, in order,
        # so a later job sees what an earlier one stored (a key new to both would
        # otherwise be inserted twice).
        results: list[IngestResult] = []
        start = 0
        seen: set[str] = set()
        for k, job in enumerate(jobs):
            if job.source_name in seen:
                results += ingest(conn, jobs[start:k], now)
                start, seen = k, set()
            seen.add(job.source_name)
        return results + ingest(conn, jobs[start:], now)
    names = sorted({j.source_name for j in jobs})
    source_ids = dict(conn.execute(
        _statement(conn, _source_ids_of), {"names": _listed(conn, sources.c.name, names)}).all())
    if len(source_ids) < len(names):
        # A source renamed while it was being refreshed (sync_sources): its entries are
        # left for the next refresh under its new name, which reads them again.
        gone = set(names) - set(source_ids)
        log.info("sources %s renamed during their refresh: their entries wait for the next one", ", ".join(sorted(gone)))
        kept = [j for j in jobs if j.source_name not in gone]
        stored = iter(ingest(conn, kept, now) if kept else [])
        return [IngestResult() if j.source_name in gone else next(stored) for j in jobs]
    per_job: list[dict[str, EntryData]] = []
    for job in jobs:
        unique: dict[str, EntryData] = {}
        for e in job.entries:
            e = _storable(e)
            unique.setdefault(e.key, e)
        per_job.append(unique)

    # What each source already sent: (source_id, key) -> (link row, item, fingerprint, origin,
    # the link it sent, the item's picture).
    known: dict[tuple[int, str], tuple[int, int, str, str | None, int, str | None, str | None]] = {}
    all_keys = {k for unique in per_job for k in unique}
    raw_key = {_indexed(k): k for k in all_keys}  # stored form -> the entry's key
    wanted_ids = [source_ids[j.source_name] for j in jobs]
    wanted_sources = _listed(conn, item_sources.c.source_id, wanted_ids)
    links_of = _statement(conn, _links_of)
    for part in _chunks(sorted(raw_key.keys() | all_keys)):  # all_keys: see _with_legacy
        for key, link_id, item_id, fp, ufp, origin, sid, sent, pic in conn.execute(
            links_of, {"keys": _listed(conn, item_sources.c.key, part), "sources": wanted_sources}
        ):
            known[(sid, raw_key.get(key, key))] = (link_id, item_id, fp, ufp, origin, sent, pic)
    # An entry keyed by its link was stored, before schema 0008, under the link with its
    # tracking parameters (see ``untracked``): found by that key too, and re-keyed.
    legacy_of = {raw: key for unique in per_job for key, e in unique.items()
                 if e.link and "?" in e.link and (raw := e.link.strip()) != key and untracked(raw) == key}
    for job, unique in zip(jobs, per_job):
        if job.credentials:
            plain, cred = job.credentials
            legacy_of.update((cred + raw[len(plain):], key) for key, e in unique.items()
                             if e.link and (raw := e.link.strip()).startswith(plain + "/") and key == untracked(raw))
    # One keyed by its link, whose site moved to https (or back): found by its link of the
    # other scheme too (no news: _earlier_fingerprints), unless the feed sends that link as
    # well. Not re-keyed: the item's id is made of the key it was first stored under, which
    # a new item of that link (the feed listing both) would take again.
    schemes = {other: key for unique in per_job for key, e in unique.items()
               if e.link and key.startswith(("https://", "http://")) and key == untracked(e.link.strip())
               and (other := _other_scheme(key)) not in unique}
    legacy: dict[tuple[int, str], tuple[int, int, str, str | None, int, str | None, str | None]] = {}
    by_scheme: dict[tuple[int, str], tuple[int, int, str, str | None, int, str | None, str | None]] = {}
    if legacy_of or schemes:
        stored_legacy = {_indexed(raw): raw for raw in (*schemes, *legacy_of)}
        for part in _chunks(sorted(stored_legacy.keys() | schemes.keys() | legacy_of.keys())):
            for key, link_id, item_id, fp, ufp, origin, sid, sent, pic in conn.execute(
                links_of, {"keys": _listed(conn, item_sources.c.key, part), "sources": wanted_sources}
            ):
                raw = stored_legacy.get(key, key)
                if raw in legacy_of:
                    legacy[(sid, legacy_of[raw])] = (link_id, item_id, fp, ufp, origin, sent, pic)
                else:
                    by_scheme[(sid, schemes[raw])] = (link_id, item_id, fp, ufp, origin, sent, pic)
    if legacy_of:
        # The feed may have moved its campaign since: a row keyed by its whole link, whose
        # link less its tracking parameters is the key, found by its item's canonical link.
        moved = {key for key in legacy_of.values()
                 if any((sid, key) not in known and (sid, key) not in legacy for sid in wanted_ids)}
        by_canon = sorted({c for key in moved if (c := canonical_link(key))})
        for part in _chunks(_with_legacy(by_canon)):
            for key, link_id, item_id, fp, ufp, origin, sid, sent, pic in conn.execute(
                _statement(conn, _links_by_item_link),
                {"links": _listed(conn, items.c.canonical_link, part), "sources": wanted_sources},
            ):
                was = sent.strip() if sent else None
                if was and key in (was, _indexed(was)) and (now_key := untracked(was)) in moved:
                    legacy.setdefault((sid, now_key), (link_id, item_id, fp, ufp, origin, sent, pic))
    rekeyed: list[dict[str, Any]] = []
    relocated: dict[tuple[int, str], tuple[int, int, str, str | None, int, str | None, str | None]] = {}
    awaited: dict[tuple[int, str], str] = {}  # see _found_where_it_was
    if any(j.moved for j in jobs):
        relocated, there, awaited = _found_where_it_was(conn, jobs, per_job, source_ids, known)
        if there:
            # Behind a temporary redirect: each such entry is the one sent where the feed
            # was (its key and link there), found by that key, as if it had not moved.
            for j, job in enumerate(jobs):
                sid = source_ids[job.source_name]
                if job.for_now and any((sid, key) in there for key in per_job[j]):
                    per_job[j] = dict(_as_it_was(per_job[j], sid, there, _moved_prefixes(*job.moved or ("", ""))))
            for (sid, key), (was_key, _) in there.items():
                known[(sid, was_key)] = relocated.pop((sid, key))
    # A key a moved item left (item_former_keys): the item, when nothing else in the
    # document found it; else a new entry's, which must not take the item's id.
    taken_ids: set[tuple[int, str]] = set()
    former = _former_sources_of(conn, wanted_ids)
    if former:
        found_ids = {hit[0] for hit in (*known.values(), *legacy.values(), *by_scheme.values(), *relocated.values())}
        back, taken_ids = _found_by_former_keys(
            conn, jobs, per_job, source_ids, former,
            lambda sid, key: (sid, key) in known or (sid, key) in legacy or (sid, key) in by_scheme
            or (sid, key) in relocated, found_ids)
        relocated = {**relocated, **back}

    # A document none of whose entries its source's stored keys find (a CMS migration that
    # gave every entry a GUID, or another scheme of them): an entry is the stored one of its
    # source with its link and text, whose key the document no longer sends; re-keyed, as
    # a moved entry is, not stored a second time.
    hits = [found for found in (known, legacy, by_scheme, relocated) if found]
    lost = [j for j, job in enumerate(jobs) if per_job[j] and not any(
        (source_ids[job.source_name], key) in found for found in hits for key in per_job[j])]
    if lost:
        relocated = {**relocated, **_found_by_link_and_text(conn, [jobs[j] for j in lost],
                                                            [per_job[j] for j in lost], source_ids)}
    counts = [[0, 0, 0] for _ in jobs]  # new, updated, attached
    fresh: list[tuple[int, str, int, EntryData, tuple[str, str]]] = []  # (job, name, source id, entry, fingerprints)
    relinked: list[dict[str, Any]] = []  # item_sources rows whose source sent a change
    copies: list[tuple[int, EntryData]] = []  # (item, entry) of a further source that sent a change
    changed: list[tuple[int, EntryData]] = []  # (item, entry) of items that source made
    enriched: list[tuple[int, EntryData]] = []  # ... whose entry only reads fuller now
    whole_after: int | None = None  # read when a changed entry needs it (see migration 0008)
    recleaned: list[tuple[IngestJob, int, EntryData, EntryData, str, bool, bool]] = []  # see _recleaned
    untitled: list[tuple[int, int, EntryData]] = []  # (job, item, entry): unchanged, read anew, titled by its text
    edited: list[tuple[int, int, EntryData, bool]] = []  # (job, item, entry, counted as updated): see _merge_edited
    reread: list[tuple[int, int, EntryData]] = []  # (job, item, entry) of enriched whose link or text may have moved
    moved_pairs: dict[int, list[tuple[str, str, str | None]]] = {}  # job -> _moved_prefixes, once
    for j, (job, unique) in enumerate(zip(jobs, per_job)):
        sid = source_ids[job.source_name]
        for key, entry in unique.items():
            fp, ufp = fingerprints(entry, job.clamped_at)
            hit = known.get((sid, key))
            if hit is None and legacy:
                hit = legacy.get((sid, key))
                if hit is not None:
                    rekeyed.append({"b_id": hit[0], "b_key": _indexed(key)})
            if hit is None and by_scheme:
                hit = by_scheme.get((sid, key))
            if hit is None and relocated:
                hit = relocated.get((sid, key))
                if hit is not None:
                    rekeyed.append({"b_id": hit[0], "b_key": _indexed(key)})
            if hit is None:
                fresh.append((j, job.source_name, sid, entry, (fp, ufp)))
                continue
            link_id, item_id, old_fp, old_ufp, origin, sent, image = hit
            if origin == sid and image != entry.image and (old_fp == fp or old_ufp == ufp):
                # Only its picture changed (or came: a release before schema 0014 read
                # none), which the fingerprint leaves out: the item takes it, keeping its
                # times, as an entry that only reads fuller (its feeds are written again).
                # Only the values of its dates moved besides: the item keeps its times.
                enriched.append((item_id, entry if old_fp == fp else replace(entry, published=None)))
                counts[j][1] += 1
                if old_fp == fp:
                    continue
            elif old_fp == fp:
                if job.keep_times and origin == sid and not _visible(entry.title):
                    # Its title is derived from its text after the fingerprint: a release
                    # that derives it anew ("#cat", where one before read "# cat") is seen
                    # only against the stored title.
                    untitled.append((j, item_id, entry))
                continue
            moved_there: EntryData | None = None
            if job.moved and origin == sid and not (relocated and relocated.get((sid, key)) is hit):
                # Found by its key (a GUID) in a moved document: its relative link, pictures
                # and links read where the feed was are as stored. Behind a temporary redirect
                # nothing moves (alternating mirrors date nothing anew); after a 301 it takes
                # them, keeping its times.
                if j not in moved_pairs:
                    moved_pairs[j] = _moved_prefixes(*job.moved)
                as_there = _read_there(entry, moved_pairs[j], _ITS_OWN)
                if as_there != entry and fingerprints(as_there, job.clamped_at)[0] == old_fp:
                    if job.for_now:
                        continue
                    moved_there = as_there
            relinked.append({"b_id": link_id, "b_fingerprint": fp, "b_undated": ufp, "b_link": entry.link})
            if old_ufp == ufp:
                # Only the values of its dates moved (a feed made on request, stamping each
                # entry with the time of the request): no news. The item keeps its times,
                # and its feeds their bytes; the next move is measured from these. (A
                # further source's via link that moved is published again, as below.)
                if origin != sid and sent != entry.link:
                    counts[j][1] += 1
                continue
            if origin != sid:
                # The story is its origin's; this source's link is its via link in the
                # feeds, which must be published again when it moves.
                if sent != entry.link:
                    counts[j][1] += 1
                copies.append((item_id, entry))
                edited.append((j, item_id, entry, sent != entry.link))
                continue
            if whole_after is None:
                whole_after = int(_get_meta(conn, "fingerprints_whole_after") or 0)
            earlier = link_id <= whole_after  # fingerprinted by a release before schema 0008
            # ... with the link whole, as it was sent then (the feed may have moved its
            # campaign since).
            was = entry
            if (earlier and sent and entry.link and sent != entry.link
                    and untracked(without_credentials(sent)) == untracked(entry.link)):
                was = replace(entry, link=sent)
            # Found where its feed was before it moved: the story as it was there, its link
            # as resolved there (a story whose text changed too is news, as any).
            moved_link = bool(relocated) and relocated.get((sid, key)) is hit
            if moved_link:
                was = _read_there(entry, _moved_prefixes(*job.moved) if job.moved else _relinked(entry.link, sent), sent)
            elif moved_there is not None:
                was, moved_link = moved_there, True
            tracked = earlier and was.link is not None and untracked(was.link) != was.link
            if tracked and was.link == without_credentials(was.link or "") and old_fp == fingerprint(
                    was, job.clamped_at, tracked=True):
                continue  # unchanged, fingerprinted as before schema 0008: the new one is stored
            read_fuller = job.keep_times or (
                (moved_link or entry.enclosures or entry.author or entry.published or entry.updated
                 or entry.link == key)
                and old_fp in _earlier_fingerprints(was, job, earlier, tracked))
            if not read_fuller and job.resanitize is not None and (
                    entry.content or entry.summary or entry.author
                    or not (_plausible(entry.published) and _plausible(entry.updated))):  # a date may have gone
                recleaned.append((job, item_id, entry, was, old_fp, earlier, tracked))
            else:
                (enriched if read_fuller else changed).append((item_id, entry))
                if read_fuller:
                    reread.append((j, item_id, entry))
                else:
                    edited.append((j, item_id, entry, True))
            counts[j][1] += 1
    if untitled:
        titles: dict[int, str] = {}
        for part in _chunks(sorted({item_id for _, item_id, _ in untitled})):
            titles.update(conn.execute(_statement(conn, _titles_of), {"ids": _listed(conn, items.c.id, part)}).all())
        for j, item_id, entry in untitled:
            if titles.get(item_id, "") != fallback_title(entry):
                enriched.append((item_id, entry))
                counts[j][1] += 1
    if recleaned:
        job_index = {id(job): j for j, job in enumerate(jobs)}
        for (item_id, entry, cleaned), (job, *_) in zip(_recleaned(conn, recleaned), recleaned):
            (enriched if cleaned else changed).append((item_id, entry))
            if cleaned:
                reread.append((job_index[id(job)], item_id, entry))
            else:
                edited.append((job_index[id(job)], item_id, entry, True))
    text_keys: dict[int, int | None] = {}  # id(entry) -> its text key, for _merge_edited
    if relocated:
        _keep_former_keys(conn, relocated)
    if rekeyed:
        conn.execute(_statement(conn, _rekey), rekeyed)
    if relinked:
        conn.execute(_statement(conn, _relink), relinked)
    left: set[int] = set()  # id(entry) of copies that no longer name their story: see _keep_copy_keys
    if copies:
        left = _keep_copy_keys(conn, copies, text_keys)
    moved_keys: set[int] = set()
    if changed or enriched:
        moved_keys = _keep_earlier_keys(conn, changed + enriched, text_keys)
    if changed:
        _update_items(conn, changed, now)
    if enriched:
        _update_items(conn, enriched, now, keep_times=True)
    # An entry read anew whose link or text moved may name another source's story now (the
    # release before stored a click tracker's copy apart from the outlet's): merged as an
    # edit is. One whose keys stayed (most of a re-read: a date, an author) costs nothing.
    merging = [(j, source_ids[jobs[j].source_name], item_id, entry, counted, False)
               for j, item_id, entry, counted in edited if id(entry) not in left]
    merging += [(j, source_ids[jobs[j].source_name], item_id, entry, True, True)
                for j, item_id, entry in reread if item_id in moved_keys]
    if merging:
        # A link that a new entry of the same source sends too (two updates of a live page)
        # is no one story's, as between new entries (_sent_twice).
        editing = {sid for _, sid, *_ in merging}
        sent_beside = {(sid, _indexed(canon)) for _, _, sid, e, _ in fresh
                       if sid in editing and (canon := canonical_link(e.link)) and _names_a_story(canon)}
        _merge_edited(conn, merging, counts, text_keys, sent_beside)
    if fresh:
        _insert_fresh(conn, jobs, fresh, counts, now, taken_ids)
        if awaited:
            unstage(conn)
            _await_where_it_was(conn, {(sid, e.key) for _, _, sid, e, _ in fresh}, awaited)
    return [IngestResult(new=c[0], updated=c[1], attached=c[2]) for c in counts]


def _stored_by_link(sqlite: bool) -> Any:  # :links (canonical) -> their items' link rows
    return (select(item_sources.c.key, item_sources.c.id, item_sources.c.item_id, item_sources.c.fingerprint,
                   item_sources.c.undated_fingerprint, items.c.source_id, item_sources.c.source_id, item_sources.c.link,
                   items.c.image, items.c.canonical_link, items.c.text_key, items.c.published, items.c.first_seen)
            .join(items, items.c.id == item_sources.c.item_id)
            # By the link alone: a filter by source has SQLite scan every row of the source.
            .where(_in_list(items.c.canonical_link, "links", sqlite))
            .order_by(item_sources.c.id))


def _carrying(sqlite: bool) -> Any:  # :sources that carry a stored item
    return select(sources.c.id).where(
        _in_list(sources.c.id, "sources", sqlite),
        select(item_sources.c.id).where(item_sources.c.source_id == sources.c.id).exists())


_PROBED = 8  # links of a document looked up first (_found_by_link_and_text)
_ANOTHER_POST = timedelta(days=1)  # an item dated this far from an entry is another post (ditto)


def _found_by_link_and_text(
    conn: Connection, jobs: Sequence[IngestJob], per_job: list[dict[str, EntryData]], source_ids: dict[str, int],
) -> dict[tuple[int, str], tuple[int, int, str, str | None, int, str | None, str | None]]:
    """For documents none of whose keys their source stored: each entry that is the one
    stored item of its source with its link (one that names a story) and its text, whose
    key the document does not send, as (source, key) -> its link row, as ``known`` holds
    them. An item two entries would take, or an entry two items, is left alone."""
    sids = [source_ids[job.source_name] for job in jobs]
    carrying = {sid for (sid,) in conn.execute(_statement(conn, _carrying), {"sources": _listed(conn, sources.c.id, sids)})}
    documents = {sid: unique for sid, unique in zip(sids, per_job) if sid in carrying}
    found: dict[tuple[int, str], tuple[int, int, str, str | None, int, str | None, str | None]] = {}
    wanted: dict[tuple[int, str], list[EntryData]] = defaultdict(list)  # (source, link) -> its entries
    sent: dict[int, set[str]] = {}  # source -> the keys its document sends, as stored
    # (source, link) -> (text key, the date its entry gave or None, link row) of its stored items
    rows: dict[tuple[int, str], list[tuple[int | None, datetime | None,
                                           tuple[int, int, str, str | None, int, str | None, str | None]]]]
    rows = defaultdict(list)

    def want(sid: int, entries: Iterable[EntryData]) -> None:
        for e in entries:
            if (canon := canonical_link(e.link)) and _names_a_story(canon):
                wanted[(sid, _indexed(canon))].append(e)

    def look_up(links: list[tuple[int, str]]) -> set[int]:
        """Rows of ``links`` into ``rows``; the sources that have any of them."""
        having: set[int] = set()
        for part in _chunks(sorted({link for _, link in links})):
            for key, link_id, item_id, fp, ufp, origin, sid, link, pic, canon, th, dated, seen in conn.execute(
                _statement(conn, _stored_by_link),
                {"links": _listed(conn, items.c.canonical_link, part)},
            ):
                if origin == sid and (sid, canon) in wanted:
                    having.add(sid)
                    if sid not in sent:
                        sent[sid] = {_indexed(k) for k in documents[sid]}
                    if key not in sent[sid]:
                        rows[(sid, canon)].append((th, None if dated == seen else dated,
                                                   (link_id, item_id, fp, ufp, origin, link, pic)))
        return having

    # A feed whose entries all rotated since it was last read (one read seldom) is the
    # common case, and has none of its links stored: a few of its newest and oldest links
    # tell (the oldest: a migrated feed read seldom has new stories on top), and only a
    # source that has them stored has the rest looked up.
    half = _PROBED // 2
    for sid, unique in documents.items():
        entries = list(unique.values())
        want(sid, entries if len(entries) <= _PROBED else entries[:half] + entries[-half:])
    if not wanted:
        return found
    probed = set(wanted)
    having = look_up(sorted(probed))
    for sid in having:
        if len(documents[sid]) > _PROBED:
            want(sid, list(documents[sid].values())[half:-half])
    if rest := [pair for pair in wanted if pair not in probed]:
        look_up(rest)
    # The text only of the few entries whose link one of their source's stored items has.
    # A migration keeps its entries' dates: an item dated a day or more before or after
    # the entry is another post of the same link and text (a daily reminder, a re-run, from
    # a feed that sends its newest entry alone), not that entry keyed anew. An item stored
    # undated (dated when first seen) is compared by link and text alone.
    for (sid, canon), stored in rows.items():
        entries = wanted[(sid, canon)]
        if len(entries) != 1 or not (dedup := _derived_texts(entries[0])[2]):
            continue
        th = text_key(dedup)
        date = _plausible(entries[0].published) or _plausible(entries[0].updated)
        same = [hit for key, dated, hit in stored if key == th and (
            dated is None or date is None or abs(date - dated) < _ANOTHER_POST)]
        if len(same) == 1:
            found[(sid, entries[0].key)] = same[0]
    return found


def _recleaned(
    conn: Connection, candidates: list[tuple[IngestJob, int, EntryData, EntryData, str, bool, bool]]
) -> list[tuple[int, EntryData, bool]]:
    """(item, entry, whether it changed only in how it is read) for each changed entry of a
    job with ``resanitize``: its stored content and summary, cleaned again, are the ones
    sent now, and with them, and with its stored author or the one sent now, the entry
    has the fingerprint it was stored with. An author is never news: a release that reads
    it better ("jo@news.agency (Jo)" read as "cy (Jo"), or a feed that corrects it, keeps
    the entry's time. A file of stored items is read only for such entries, and only once
    a batch."""
    stored: dict[int, tuple[Any, ...]] = {}
    for part in _chunks(sorted({c[1] for c in candidates})):
        for item_id, *texts in conn.execute(
                _statement(conn, _texts_of), {"ids": _listed(conn, items.c.id, part)}):
            stored[item_id] = tuple(texts)
    out = []
    for job, item_id, entry, was, old_fp, earlier, tracked in candidates:
        content, summary, author, published, updated = stored.get(item_id, (None,) * 5)
        clean = job.resanitize
        assert clean is not None
        read = [content, summary]
        if job.credentials:  # its links as the earlier release resolved them
            plain, cred = job.credentials
            read = [t.replace(cred + "/", plain + "/") if t else t for t in read]
        same = (
            (_reads_as(entry.content, read[0], clean) if entry.content_type == "html"
             else (entry.content or None) == (read[0] or None))
            and _reads_as(entry.summary, read[1], clean)
        )
        if same:  # ... and all else as it was stored (by this release or an earlier one)
            dates: list[tuple[datetime | None, datetime | None]] = []
            sent_published, sent_updated = _plausible(entry.published), _plausible(entry.updated)
            if published is not None and not (sent_published and sent_updated):
                # Dates that go (or turn into a CMS's zero) are no news either, all of
                # them or one of two: the ones it sent are the item's, its published kept
                # whole (the one date of an RSS item or an Atom entry), its updated unless
                # nudged. A date still sent is the one it sent, or the other it was (a
                # feed that writes <dc:date> for <pubDate>).
                dates = [(p, u) for p in ([sent_published] if sent_published else [published, None])
                         for u in ([sent_updated] if sent_updated else [updated, published, None])]
                if bool(sent_published) != bool(sent_updated):
                    dates.append((sent_updated, sent_published))
            fingerprints: set[str] = set()
            for name in {was.author, author}:
                before = replace(was, content=content, summary=summary, author=name)
                fingerprints |= _earlier_fingerprints(before, job, earlier, tracked)
                fingerprints.update(fingerprint(before, job.clamped_at, tracked=t) for t in {False, tracked})
                if dates:
                    fingerprints.update(fp for t in {False, tracked}
                                        for fp in _fingerprints_dated(before, dates, job.clamped_at, t))
            same = old_fp in fingerprints
        out.append((item_id, entry, same))
    return out


def _reads_as(sent: str | None, stored: str | None, clean: Callable[[str], str]) -> bool:
    """Whether HTML ``stored`` reads as ``sent`` (which ``clean`` gave) once cleaned again.
    The cleaner's output does not always come back the same when cleaned again, though a
    reader parses it into the same document (a tag left open closes elsewhere): then
    ``sent`` cleaned again is compared too. Releases before keep_pre_newline lost the
    line break a <pre> starts with at each cleaning: those are left out of both; and
    before text_as_html, plain text was stored without a <br> at its line ends."""
    if not stored or not sent:
        return not stored and not sent
    again = clean(stored)
    if sent == again:
        return True
    cleaned = clean(sent)  # once: cleaning is the costly step of a changed entry
    return (cleaned == again or without_pre_newlines(cleaned) == without_pre_newlines(again)
            or ("<br>\n" in cleaned and without_text_breaks(cleaned) == again)
            # A CMS that writes the same post anew (a newline between paragraphs, a
            # link's attributes in another order): the story as it was.
            or same_markup(cleaned, again))


def _text_moved(entry: EntryData) -> bool:
    """Whether ``entry`` may have its one HTML text in the other element than it had: an RSS
    item's <description> (its summary) served as Atom <content> (Blogger's two feeds of one
    blog, a new theme), or back. The story reads as it did."""
    return (entry.summary is None) != (entry.content is None) and entry.content_type == "html"


def _earlier_fingerprints(entry: EntryData, job: IngestJob, earlier: bool, tracked: bool) -> set[str]:
    """The fingerprints ``entry`` had when nothing but how it is read changed: a stored
    one of these means the source sent nothing new. An author that appears is never news
    (an Atom feed that names its author gives it to every entry), nor are dates that appear
    (a date form this release reads and an earlier one lost, or a feed that starts dating
    its entries, or mends the zero of its clock it wrote for them), nor dates read in the
    zone they name (``IngestJob.reread_shifts``). ``earlier``: its link row was
    fingerprinted before schema 0008, maybe by a release that did not read files
    (enclosures) yet, or took its link whole (``tracked``: the link has tracking
    parameters); for a row fingerprinted since, a file that appears is a change upstream,
    unless it came from Media RSS (``Enclosure.media``), which no release read before this
    one: a stored row does not tell one that appears upstream from one read anew, and either
    is taken without dating the entry anew, as an author that appears is.
    Nor is a link that moves from http to https (or back), the rest of it as it was."""
    if earlier:
        bare = replace(entry, enclosures=())
        variants = [bare, replace(bare, author=None)]
    else:
        variants = [entry, replace(entry, author=None)] if entry.author else [entry]
        if any(f.media for f in entry.enclosures):
            plain = tuple(f for f in entry.enclosures if not f.media)
            variants += [replace(v, enclosures=plain) for v in variants]
    if entry.link is not None and entry.link == entry.key:
        # Its link is its permalink GUID, which releases before review 44 did not read for
        # an item whose <link/> is empty: it had none.
        variants += [replace(v, link=None) for v in variants]
    if entry.link is not None and entry.link.startswith(("https://", "http://")):
        # A site moving to https, its stories as they were: no news (every entry of its
        # window went to the top of every feed); the item takes the new link. Nor is one
        # going back, or whose links take the scheme of the request its page was made for.
        other = _other_scheme(entry.link)
        variants += [replace(v, link=other) for v in variants]
    if _text_moved(entry):
        variants += [replace(v, summary=v.content, content=v.summary) for v in variants]
    published, updated = entry.published, entry.updated
    dates = [(published, updated)]
    if published or updated:
        dates.append((None, None))
        if published and updated:
            # One of two dates that appears beside the other (RSS's pubDate alone, the
            # same feed as Atom with <updated> too): the story as it was.
            dates += [(published, None), (None, updated)]
        else:
            # Its one date in the other element: RSS's pubDate as the Atom feed's <updated>
            # alone (a generator that writes no <published>), or back.
            dates.append((updated, published))
        for shift in job.reread_shifts:  # a date read in the zone it names, where an earlier release read UTC
            try:
                dates.append((published and published + shift, updated and updated + shift))
            except OverflowError:  # a date a zone's offset takes past year 1 or 9999 (a CMS's 0001-01-01)
                continue
        for zero in _ZERO_DATES:  # a CMS that wrote the zero of its clock for a date it lacked, mended
            zero_published, zero_updated = published and zero, updated and zero
            dates += [(zero_published, updated), (published, zero_updated), (zero_published, zero_updated)]
    return {fp for v in variants for t in {False, tracked} for fp in _fingerprints_dated(v, dates, job.clamped_at, t)}


def _other_scheme(link: str) -> str:
    """An http(s) ``link`` under the other scheme: https for http, http for https."""
    return "http://" + link[8:] if link.startswith("https://") else "https://" + link[7:]


# The dates a CMS writes for one it has not, which count as none (PLAUSIBLE_SINCE): its
# real date that appears in their place is no news either.
_ZERO_DATES = (datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(1, 1, 1, tzinfo=timezone.utc))


def _fingerprints_dated(
    entry: EntryData, dates: list[tuple[datetime | None, datetime | None]], clamped_at: datetime | None, tracked: bool
) -> list[str]:
    """``fingerprint(replace(entry, published=p, updated=u), clamped_at, tracked=tracked)``
    for each (p, u) of ``dates``. The texts before the dates are hashed once: with a zone
    offset each, a changed entry has some forty, and its content may be long."""
    link = entry.link
    head = hashlib.sha256("\x1f".join((
        entry.title or "", (link if tracked else untracked(link)) if link else "", entry.summary or "", entry.content or "",
        entry.content_type or "", entry.author or "", "",
    )).encode())
    tail = "\x1f" + str(entry.truncated)
    if entry.enclosures:
        tail += "\x1f" + repr([(e.href, e.type, e.length) for e in entry.enclosures])
    out = []
    for pair in dates:
        pub, upd = ("" if t is None else "future" if clamped_at is not None and t >= clamped_at else _isoformat(t)
                    for t in pair)
        h = head.copy()
        h.update(f"{pub}\x1f{upd}{tail}".encode())
        out.append(h.hexdigest())
    return out


def _update_items(
    conn: Connection, changed: list[tuple[int, EntryData]], now: datetime, *, keep_times: bool = False
) -> None:
    """Write each (item id, entry) into its item, in one statement per table.

    ``keep_times``: the entries changed only as this release reads them (``_earlier_fingerprints``),
    not upstream: each item keeps its ``updated``, so old entries do not rise to the top.

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
            _update_items(conn, [(item_id, entry)], now, keep_times=keep_times)
        return
    old: dict[int, datetime] = {}
    for part in _chunks(ids):
        old.update(conn.execute(_statement(conn, _times_of), {"ids": _listed(conn, items.c.id, part)}).all())
    if keep_times:
        times = [old[item_id] for item_id in ids]
    else:
        wanted = []
        for item_id, entry in changed:
            was = old[item_id]
            sent = _plausible(entry.updated)
            t = sent if sent and sent > was else now
            wanted.append(t if t > was else was + ONE_US)
        # Nudged last entry first, as new ones are (_insert_fresh): of entries changed at
        # once, the feed's first, its newest, takes the highest time and stays on top.
        times = _free_times(conn, wanted[::-1])[::-1]
    rows: dict[bool, list[dict[str, Any]]] = {True: [], False: []}  # by "has a published time"
    texts = []
    for (item_id, entry), updated in zip(changed, times):
        title, match_text, dedup = _derived_texts(entry)
        row = {
            "b_id": item_id, "b_title": title, "b_link": entry.link, "b_canonical_link": _indexed_link(entry.link),
            "b_text_key": text_key(dedup) if dedup else None, "b_summary": entry.summary,
            "b_content": entry.content, "b_content_type": entry.content_type, "b_author": entry.author,
            "b_truncated": entry.truncated, "b_updated": updated, "b_image": entry.image,
        }
        published = _plausible(entry.published)
        if published:  # an entry without one keeps the item's
            row["b_published"] = published
        rows[bool(published)].append(row)
        texts.append({"b_id": item_id, "b_text": match_text})
    for dated, group in rows.items():
        if group:
            conn.execute(_statement(conn, _item_update_dated if dated else _item_update), group)
    # (A missing rule_texts row stays missing until the next full classify restores
    # it; until then classify derives the text from the item.)
    conn.execute(_statement(conn, _rule_text_update), texts)
    for part in _chunks(ids):  # the files they carry now, in place of those they carried
        conn.execute(_statement(conn, _enclosures_of_items), {"ids": _listed(conn, item_enclosures.c.item_id, part)})
    _insert_enclosures(conn, changed)


def _plausible(t: datetime | None) -> datetime | None:
    """``t``, or None for a date before PLAUSIBLE_SINCE."""
    return t if t is not None and t >= PLAUSIBLE_SINCE else None


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
    conn: Connection,
    jobs: Sequence[IngestJob],
    fresh: list[tuple[int, str, int, EntryData, tuple[str, str]]],
    counts: list[list[int]],
    now: datetime,
    taken_ids: set[tuple[int, str]] | None = None,  # (source, stored key): see _found_by_former_keys
) -> None:
    links: list[str | None] = []  # as stored
    raw_links: list[str] = []
    texts: list[int | None] = []
    derived: list[tuple[str, str]] = []  # (title, match text)
    stored_keys: list[str] = []  # item_sources.key
    matched: list[str | None] = []  # the link as looked up: None for one that names no story
    for _, _, _, e, _ in fresh:
        canon = canonical_link(e.link)
        if canon:
            links.append(_indexed(canon))
            if _names_a_story(canon):
                raw_links.append(canon)
                matched.append(links[-1])
            else:
                matched.append(None)
        else:
            links.append(None)
            matched.append(None)
        stored_keys.append(_indexed(e.key))
        title, match_text, dedup = _derived_texts(e)
        derived.append((title, match_text))
        texts.append(text_key(dedup) if dedup else None)
    new, target_item, target_new, alias_links, alias_texts, twin_links, twin_texts, merged = _place_fresh(
        conn, fresh, matched, raw_links, texts, counts)

    # First-seen times: per job, from its seen_times callback (seeds) or now.
    first_seen: dict[int, datetime] = {}
    by_job: dict[int, list[int]] = defaultdict(list)
    for i in new:
        by_job[fresh[i][0]].append(i)
    for j, idxs in by_job.items():
        cb = jobs[j].seen_times
        times = cb(len(idxs)) if cb else [now] * len(idxs)
        first_seen.update(zip(idxs, times))
    wanted = [_plausible(fresh[i][3].updated) or _plausible(fresh[i][3].published) or first_seen[i] for i in new]
    # Times bound once for the lookup and the inserts (their text costs a C isoformat each).
    time_texts: dict[Any, Any] = {}
    converted = {repr(items.c.updated.type): time_texts}
    # Nudged last entry first: of entries sharing a time (undated, or a feed stamping a
    # batch alike) the feed's first, its newest, takes the highest and stays on top.
    free = _free_times(conn, wanted[::-1], time_texts)[::-1]
    rows: list[tuple[Any, ...]] = []
    for i, upd in zip(new, free):
        _, name, sid, e, _ = fresh[i]
        t = first_seen[i]
        title = derived[i][0]
        rows.append((  # _ITEM_COLUMNS
            _fresh_uid() if taken_ids and (sid, stored_keys[i]) in taken_ids else entry_uid(name, e.key),
            sid, title, e.link, links[i], texts[i], e.summary, e.content,
            e.content_type, e.author, e.truncated, t, _plausible(e.published) or _plausible(e.updated) or t, upd, False,
            e.image,
        ))
    if merged:
        target_item = {i: _merged_into(merged, item_id) for i, item_id in target_item.items()}
        _merge_items(conn, merged)
        alias_links = [(key, _merged_into(merged, item_id)) for key, item_id in alias_links]
        alias_texts = [(key, _merged_into(merged, item_id)) for key, item_id in alias_texts]
    new_ids = dict(zip(new, _insert_items(conn, rows, converted)))
    _insert_rows(conn, rule_texts, _TEXT_COLUMNS, [(new_ids[i], derived[i][1]) for i in new], staged=True)
    _insert_enclosures(conn, [(new_ids[i], fresh[i][3]) for i in new])
    link_rows = []
    for i, (_, _, sid, e, (fp, ufp)) in enumerate(fresh):
        item_id = new_ids.get(i) or target_item.get(i) or new_ids[target_new[i]]
        link_rows.append((item_id, sid, stored_keys[i], e.link, fp, ufp, now))  # _LINK_COLUMNS
    _insert_rows(conn, item_sources, _LINK_COLUMNS, link_rows, converted, staged=True)
    if alias_links or alias_texts or twin_links or twin_texts:
        _insert_aliases(conn, [*alias_links, *((key, new_ids[i]) for key, i in twin_links)],
                        [*alias_texts, *((key, new_ids[i]) for key, i in twin_texts)])
    # A stored item that another source now carries may belong to topics limited to
    # that source: classify sees it again.
    for part in _chunks(sorted(set(target_item.values()))):
        conn.execute(_statement(conn, _unclassify), {"ids": _listed(conn, items.c.id, part)})



def _fresh_uid() -> str:
    """The id of a new item whose key a moved item left, whose id ``entry_uid`` of that key
    is (item_former_keys): one of its own, for ever (stored, never computed again)."""
    import uuid

    return f"urn:uuid:{uuid.uuid4()}"
