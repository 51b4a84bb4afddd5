"""A feed that moves: its entries found where they were stored before.

A feed whose URL changed (a 301 or 308, a URL the user edited) resolves its relative
links against the new one: an entry keyed by such a link is found by the key the same
link had where the feed was, re-keyed, and keeps its item (``_found_where_it_was``); its
key before stays its former key (item_former_keys, ``_keep_former_keys``). A temporary
redirect (302, 303, 307: a mirror, a CDN's address of the day) leaves the entries found
so as they were there (``_as_it_was``), and a new one there leaves the key it has where
the feed was as its item's former key (``_await_where_it_was``). A former key finds its
item again when the feed sends the entry there (``_found_by_former_keys``): the redirect
ended, or the feed moved back. ``ingest`` calls these for ``IngestJob.moved``,
``IngestJob.for_now`` and the sources with former keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, delete, select

from ..identity import untracked
from ..models import item_former_keys, item_sources, items
from ..types import EntryData
from .keys import _indexed, _links_of, fingerprints
from .sql import _chunks, _in_list, _insert_rows, _listed, _statement

if TYPE_CHECKING:  # a type only: ingest, which holds it, calls this module
    from .ingest import IngestJob


# The moved-feed lookups' statements, for _statement. Parameters are lists bound with _listed.
def _links_of_items(sqlite: bool) -> Any:  # _links_of, by their :ids of :sources
    return (select(item_sources.c.key, item_sources.c.id, item_sources.c.item_id, item_sources.c.fingerprint,
                   item_sources.c.undated_fingerprint, items.c.source_id, item_sources.c.source_id, item_sources.c.link,
                   items.c.image)
            .join(items, items.c.id == item_sources.c.item_id)
            .where(_in_list(item_sources.c.item_id, "ids", sqlite),
                   _in_list(item_sources.c.source_id, "sources", sqlite)))


def _former_sources(sqlite: bool) -> Any:  # which of :sources have an item_former_keys row
    return (select(item_former_keys.c.source_id).distinct()
            .where(_in_list(item_former_keys.c.source_id, "sources", sqlite)))


def _former_of(sqlite: bool) -> Any:  # item_former_keys rows of :keys of :sources
    return (select(item_former_keys.c.source_id, item_former_keys.c.key, item_former_keys.c.item_id)
            .where(_in_list(item_former_keys.c.key, "keys", sqlite),
                   _in_list(item_former_keys.c.source_id, "sources", sqlite)))


def _keys_at(sqlite: bool) -> Any:  # :ids of link rows -> their keys
    return select(item_sources.c.id, item_sources.c.key).where(_in_list(item_sources.c.id, "ids", sqlite))


def _moved_prefixes(old: str, new: str) -> list[tuple[str, str, str | None]]:
    """What a relative link resolved against ``new`` starts with, and the same link
    resolved against ``old`` in its place, and a prefix under which a link is not this
    one's (a more specific one's), most specific first: the document's own URL (a link of
    a query alone, "?p=17"), its folder ("story-1.html"), each folder it climbs to
    ("../story", as far as both URLs have folders to climb), its origin when the host
    moved ("/story-1.html")."""
    try:
        was, now = urlsplit(old), urlsplit(new)
    except ValueError:
        return []
    if not (was.scheme and was.netloc and now.scheme and now.netloc):
        return []
    pairs: list[tuple[str, str, str | None]] = []
    was_origin, now_origin = f"{was.scheme}://{was.netloc}", f"{now.scheme}://{now.netloc}"
    was_path, now_path = was.path or "/", now.path or "/"
    pairs.append((f"{now_origin}{now_path}?", f"{was_origin}{was_path}?", None))
    was_dir, now_dir = was_path[:was_path.rfind("/") + 1], now_path[:now_path.rfind("/") + 1]
    pairs.append((now_origin + now_dir, was_origin + was_dir, None))
    while was_dir.count("/") > 1 and now_dir.count("/") > 1:  # "../": one folder up on both
        deeper = now_origin + now_dir
        was_dir, now_dir = was_dir[:was_dir.rfind("/", 0, -1) + 1], now_dir[:now_dir.rfind("/", 0, -1) + 1]
        pairs.append((now_origin + now_dir, was_origin + was_dir, deeper))
    if now_origin != was_origin:
        pairs.append((now_origin + "/", was_origin + "/", None))
    return [(n, o, d) for n, o, d in pairs if n != o]


_ITS_OWN = "\x00"  # _read_there: the entry's own link, read there as the rest


def _read_there(e: EntryData, pairs: list[tuple[str, str, str | None]], link: str | None) -> EntryData:
    """``e`` as the document read where the feed was (``_moved_prefixes``' pairs): its link
    ``link`` (``_ITS_OWN``: its own, read there), and each URL its text, picture and files
    resolved against the new URL (a relative picture, img/1.png, in its HTML) as resolved
    there, so that an unchanged entry has the fingerprint it was stored with."""
    if not pairs:
        return replace(e, link=e.link if link == _ITS_OWN else link)
    olds = {n: o for n, o, _ in pairs}
    # Alternatives in order, most specific first: at each place the first that matches.
    moved = re.compile("|".join(re.escape(n) for n, _, _ in pairs))

    def there(text: str | None) -> str | None:
        return moved.sub(lambda m: olds[m.group()], text) if text else text

    def there_url(url: str | None) -> str | None:
        m = moved.match(url) if url else None
        return olds[m.group()] + url[m.end():] if m and url else url

    return replace(e, link=there_url(e.link) if link == _ITS_OWN else link,
                   summary=there(e.summary), content=there(e.content), image=there_url(e.image),
                   enclosures=tuple(replace(f, href=there_url(f.href) or f.href) for f in e.enclosures))


def _relinked(link: str | None, sent: str | None) -> list[tuple[str, str, str | None]]:
    """For an entry found by a key its item left (a story first seen behind a temporary
    redirect, at a mirror, found at the feed's own URL once it ended): where its ``link``
    and the one stored (``sent``) part, up to the folder they share the rest of, as
    ``_moved_prefixes`` gives a move (http://host/old/ for http://host/m/)."""
    if not link or not sent or link == sent:
        return []
    i = 0
    while i < min(len(link), len(sent)) and link[-1 - i] == sent[-1 - i]:
        i += 1
    j = link.find("/", len(link) - i)
    if j < 0:
        return []
    now, was = link[:j + 1], sent[:len(sent) - (len(link) - j) + 1]
    return [(now, was, None)] if "://" in now and "://" in was and now != was else []


def _found_where_it_was(
    conn: Connection, jobs: Sequence[IngestJob], per_job: list[dict[str, EntryData]], source_ids: dict[str, int],
    known: dict[tuple[int, str], tuple[int, int, str, str | None, int, str | None, str | None]],
) -> tuple[dict[tuple[int, str], tuple[int, int, str, str | None, int, str | None, str | None]],
           dict[tuple[int, str], tuple[str, str]], dict[tuple[int, str], str]]:
    """For each job whose feed moved (``IngestJob.moved``): its entries keyed by their
    links and not found by them, each found by the key its link had against the feed's
    URL before (``_moved_prefixes``), as (source, key) -> its link row, as ``known``
    holds them. A key the document also sends is its own entry's, and a stored row is
    found for one entry at most. Then, for a job moved ``for_now``: of those found, (source,
    key) -> (its key, its link) where the feed was; of the others (new there), (source, key)
    -> its key where the feed was, which no stored entry of the source has."""
    wanted: dict[tuple[int, str], list[tuple[str, str, str]]] = {}  # (source, key) -> its keys before, best first
    for job, unique in zip(jobs, per_job):
        if not job.moved:
            continue
        sid = source_ids[job.source_name]
        pairs = _moved_prefixes(*job.moved)
        for key, e in unique.items():
            if ((sid, key) in known or not e.link or key != untracked(link := e.link.strip())
                    or link in job.written_whole):
                continue
            before = [(o + key[len(n):], n, o) for n, o, deeper in pairs
                      if key.startswith(n) and not (deeper and key.startswith(deeper))]
            before = [b for b in before if b[0] not in unique]
            if before:
                wanted[(sid, key)] = before
    if not wanted:
        return {}, {}, {}
    asked = {b for before in wanted.values() for b, _, _ in before}
    stored_form = {_indexed(b): b for b in asked}
    wanted_sources = _listed(conn, item_sources.c.source_id, sorted({sid for sid, _ in wanted}))
    rows: dict[tuple[int, str], tuple[int, int, str, str | None, int, str | None, str | None]] = {}
    for part in _chunks(sorted(stored_form.keys() | asked)):  # asked: see _with_legacy
        for key, link_id, item_id, fp, ufp, origin, sid, sent, pic in conn.execute(
            _statement(conn, _links_of), {"keys": _listed(conn, item_sources.c.key, part), "sources": wanted_sources}
        ):
            rows[(sid, stored_form.get(key, key))] = (link_id, item_id, fp, ufp, origin, sent, pic)
    # A key where the feed was that an entry new behind a temporary redirect left (it is
    # stored keyed at that mirror, _await_where_it_was): that entry's, found so at another
    # mirror (the CDN's address of the next day) or where the feed moved for good since.
    stored_as: dict[tuple[int, str], str] = {}  # (source, key where it was) -> the item's stored key
    if missing := {(sid, b) for sid, b in ((sid, b) for (sid, _), before in wanted.items() for b, _, _ in before)
                   if (sid, b) not in rows}:
        sent = {(source_ids[job.source_name], key) for job, unique in zip(jobs, per_job) if job.moved for key in unique}
        stored_as = _awaited_rows(conn, missing, sent, rows)
    found: dict[tuple[int, str], tuple[int, int, str, str | None, int, str | None, str | None]] = {}
    where: dict[tuple[int, str], tuple[str, str, str]] = {}
    claimed: set[int] = set()
    for (sid, key), before in sorted(wanted.items()):
        hit, at = next(((row, b) for b in before if (row := rows.get((sid, b[0]))) is not None
                        and row[0] not in claimed), (None, before[0]))
        if hit is not None:
            claimed.add(hit[0])
            found[(sid, key)] = hit
        where[(sid, key)] = at
    # Another feed (a source whose URL the user pointed elsewhere) may have relative links
    # of the same names: the same feed moved sends some of its stories as they were. A
    # source none of whose entries found so is unchanged (its link as it was there) moved
    # nothing: its entries are new, the stored ones stay as they were.
    same: set[int] = set()
    entries = {(source_ids[job.source_name], key): (e, job.clamped_at)
               for job, unique in zip(jobs, per_job) if job.moved for key, e in unique.items()}
    pairs_of = {source_ids[job.source_name]: _moved_prefixes(*job.moved) for job in jobs if job.moved}
    for (sid, key), hit in found.items():
        if sid not in same:
            entry, clamped_at = entries[(sid, key)]
            fp, ufp = fingerprints(_read_there(entry, pairs_of[sid], hit[5]), clamped_at)
            if fp == hit[2] or ufp == hit[3]:
                same.add(sid)
    for_now = {source_ids[job.source_name] for job in jobs if job.moved and job.for_now} & same
    there: dict[tuple[int, str], tuple[str, str]] = {}
    awaited: dict[tuple[int, str], str] = {}
    for (sid, key), (was_key, n, o) in where.items():
        if sid not in for_now:
            continue
        if (sid, key) in found and (sid, was_key) in stored_as:  # as it is stored (a mirror's)
            there[(sid, key)] = (stored_as[(sid, was_key)], found[(sid, key)][5] or "")
        elif (sid, key) in found:
            link = entries[(sid, key)][0].link or ""
            link = link.strip()
            there[(sid, key)] = (was_key, o + link[len(n):] if link.startswith(n) else found[(sid, key)][5] or link)
        elif not any((sid, b) in rows for b, _, _ in wanted[(sid, key)]):
            awaited[(sid, key)] = was_key
    return {k: hit for k, hit in found.items() if k[0] in same}, there, awaited


def _awaited_rows(
    conn: Connection, missing: set[tuple[int, str]], sent: set[tuple[int, str]],
    rows: dict[tuple[int, str], tuple[int, int, str, str | None, int, str | None, str | None]],
) -> dict[tuple[int, str], str]:
    """Of ``missing`` (source, key where the feed was), those an item of the source's own
    left as its former key (item_former_keys) while its stored key is not ``sent`` (the
    document does not send it where it is stored): its link row into ``rows``, as
    ``_links_of`` reads them; returns (source, key) -> the item's stored key."""
    former = set(_former_sources_of(conn, sorted({sid for sid, _ in missing})))
    wanted = {(sid, _indexed(key)): key for sid, key in missing if sid in former}
    if not wanted:
        return {}
    item_of: dict[tuple[int, str], int] = {}
    sources_listed = _listed(conn, item_former_keys.c.source_id, sorted(former))
    for part in _chunks(sorted({key for _, key in wanted})):
        for sid, key, item_id in conn.execute(
            _statement(conn, _former_of), {"keys": _listed(conn, item_former_keys.c.key, part), "sources": sources_listed}
        ):
            if (sid, key) in wanted:
                item_of[(sid, wanted[(sid, key)])] = item_id
    current: dict[tuple[int, int], tuple[str, tuple[int, int, str, str | None, int, str | None, str | None]]] = {}
    for part in _chunks(sorted(set(item_of.values()))):
        for key, link_id, item_id, fp, ufp, origin, sid, sent_link, pic in conn.execute(
            _statement(conn, _links_of_items), {"ids": _listed(conn, item_sources.c.item_id, part),
                                                "sources": _listed(conn, item_sources.c.source_id, sorted(former))}
        ):
            current[(sid, item_id)] = (key, (link_id, item_id, fp, ufp, origin, sent_link, pic))
    sent_stored = {(sid, _indexed(key)) for sid, key in sent}
    stored_as: dict[tuple[int, str], str] = {}
    for (sid, key), item_id in item_of.items():
        stored_key, hit = current.get((sid, item_id), (None, None))
        if hit is not None and stored_key is not None and hit[4] == sid and (sid, stored_key) not in sent_stored:
            rows[(sid, key)] = hit
            stored_as[(sid, key)] = stored_key
    return stored_as


def _as_it_was(unique: dict[str, EntryData], sid: int, there: dict[tuple[int, str], tuple[str, str]],
               pairs: list[tuple[str, str, str | None]]) -> Iterable[tuple[str, EntryData]]:
    """A document's entries, in order, those ``there`` holds read where the feed was
    (their texts' relative URLs too: ``_read_there``)."""
    for key, e in unique.items():
        if (at := there.get((sid, key))) is not None:
            yield at[0], replace(_read_there(e, pairs, at[1]), key=at[0])
        else:
            yield key, e


def _await_where_it_was(conn: Connection, fresh: set[tuple[int, str]], awaited: dict[tuple[int, str], str]) -> None:
    """For each new entry of a feed behind a temporary redirect (``awaited``): the key it
    has where the feed was, left as its item's former key, by which it is found there once
    the redirect ends (``_found_by_former_keys``), and not stored anew."""
    waiting = {k: v for k, v in awaited.items() if k in fresh}
    if not waiting:
        return
    items_of: dict[tuple[int, str], int] = {}
    sids = sorted({sid for sid, _ in waiting})
    stored_keys = {(sid, _indexed(key)): (sid, key) for sid, key in waiting}
    for part in _chunks(sorted({key for _, key in stored_keys})):
        for sid, key, item_id in conn.execute(
            select(item_sources.c.source_id, item_sources.c.key, item_sources.c.item_id)
            .where(item_sources.c.key.in_(part), item_sources.c.source_id.in_(sids))
        ):
            if (sid, key) in stored_keys:
                items_of[stored_keys[(sid, key)]] = item_id
    left = {(k[0], _indexed(waiting[k])): item_id for k, item_id in items_of.items()}
    for sid, key in sorted(left):
        conn.execute(delete(item_former_keys).where(item_former_keys.c.source_id == sid, item_former_keys.c.key == key))
    if left:
        _insert_rows(conn, item_former_keys, ("source_id", "key", "item_id"),
                     [(sid, key, item_id) for (sid, key), item_id in sorted(left.items())])


def _former_sources_of(conn: Connection, source_ids: list[int]) -> list[int]:
    """Which of ``source_ids`` have item_former_keys rows (most have none: their ingest
    looks nothing more up)."""
    return [sid for (sid,) in conn.execute(
        _statement(conn, _former_sources), {"sources": _listed(conn, item_former_keys.c.source_id, source_ids)})]


def _found_by_former_keys(
    conn: Connection, jobs: Sequence[IngestJob], per_job: list[dict[str, EntryData]], source_ids: dict[str, int],
    former: list[int], found: Callable[[int, str], bool], found_ids: set[int],
) -> tuple[dict[tuple[int, str], tuple[int, int, str, str | None, int, str | None, str | None]],
           set[tuple[int, str]]]:
    """Entries of the sources ``former`` not ``found`` by their keys whose key a moved item
    left (item_former_keys): (source, key) -> the item's link row, as ``known`` holds them,
    where the document sends nothing that found that row (``found_ids``) nor its key (the
    entry came back where it was, its item out of the document when the feed moved back);
    and the (source, stored key) of the others, which a new item takes without the id
    made of its key (the moved item's)."""
    wanted = {(sid, _indexed(key)): key for job, unique in zip(jobs, per_job)
              if (sid := source_ids[job.source_name]) in former for key in unique if not found(sid, key)}
    if not wanted:
        return {}, set()
    rows: dict[tuple[int, str], int] = {}
    sources_listed = _listed(conn, item_former_keys.c.source_id, former)
    for part in _chunks(sorted({key for _, key in wanted})):
        for sid, key, item_id in conn.execute(
            _statement(conn, _former_of), {"keys": _listed(conn, item_former_keys.c.key, part), "sources": sources_listed}
        ):
            if (sid, key) in wanted:
                rows[(sid, key)] = item_id
    if not rows:
        return {}, set()
    current: dict[tuple[int, int], tuple[str, tuple[int, int, str, str | None, int, str | None, str | None]]] = {}
    for part in _chunks(sorted(set(rows.values()))):
        for key, link_id, item_id, fp, ufp, origin, sid, sent, pic in conn.execute(
            _statement(conn, _links_of_items), {"ids": _listed(conn, item_sources.c.item_id, part),
                                                "sources": _listed(conn, item_sources.c.source_id, former)}
        ):
            current[(sid, item_id)] = (key, (link_id, item_id, fp, ufp, origin, sent, pic))
    sent_keys = {(source_ids[job.source_name], _indexed(key)) for job, unique in zip(jobs, per_job) for key in unique}
    back: dict[tuple[int, str], tuple[int, int, str, str | None, int, str | None, str | None]] = {}
    taken: set[tuple[int, str]] = set()
    for (sid, stored), item_id in sorted(rows.items()):
        now_key, hit = current.get((sid, item_id), (None, None))
        if (hit is not None and hit[0] not in found_ids and (sid, now_key) not in sent_keys
                and hit[4] == sid):  # its own story, not a further source's copy
            found_ids.add(hit[0])
            back[(sid, wanted[(sid, stored)])] = hit
        else:
            taken.add((sid, stored))
    return back, taken


def _keep_former_keys(
    conn: Connection, relocated: dict[tuple[int, str], tuple[int, int, str, str | None, int, str | None, str | None]],
) -> None:
    """Each re-keyed item's key before (item_former_keys), where it left one; a key an item
    takes is no other's former key (a new entry there is found by it)."""
    keys_before: dict[int, str] = {}
    for part in _chunks(sorted({hit[0] for hit in relocated.values()})):
        keys_before.update(conn.execute(_statement(conn, _keys_at), {"ids": _listed(conn, item_sources.c.id, part)}).all())
    taken = {(sid, _indexed(key)) for sid, key in relocated}
    left = {(sid, keys_before[hit[0]]): hit[1] for (sid, _), hit in relocated.items() if hit[0] in keys_before}
    left = {k: v for k, v in left.items() if k not in taken}
    for sid, key in sorted(taken | left.keys()):
        conn.execute(delete(item_former_keys).where(item_former_keys.c.source_id == sid, item_former_keys.c.key == key))
    if left:
        _insert_rows(conn, item_former_keys, ("source_id", "key", "item_id"),
                     [(sid, key, item_id) for (sid, key), item_id in sorted(left.items())])
