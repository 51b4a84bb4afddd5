"""Stories: how two sources' copies of one story become one item, and stay one.

A new entry of one source is the story another source brought when it names it, by
canonical link (``_names_a_story``: a site's front page names none) or by the text key of
its normalised text (``_stories_of``: stored items by their own link and text and the
further ones they are known by, item_alias_links and item_alias_texts; and the sources
that carry each). ``_place_fresh`` decides, entry by entry and in order, whether it goes to
a stored item, to a new item of the same batch (its twin), or is an item of its own; a
source's two entries are two items, and an entry whose link names one story and whose
text another makes the two one (``_merge_items``: the older takes the newer's sources,
links and texts). A link or text is known by its story from then on (``_insert_aliases``):
also when the story's origin edits it (``_keep_earlier_keys``) or a further source's copy
moves or changes (``_keep_copy_keys``), and an entry changed upstream that now names
another source's story merges the two as a new one would (``_merge_edited``). ``ingest``
calls these and writes what ``_place_fresh`` decides.
"""

from __future__ import annotations

import logging
from bisect import insort
from collections import defaultdict
from collections.abc import Iterable
from typing import Any, NamedTuple

from sqlalchemy import Connection, delete, select, union_all, update

from ..identity import canonical_link, text_key
from ..models import item_alias_links, item_alias_texts, item_sources, items
from ..types import EntryData
from .keys import _derived_texts, _indexed, _indexed_link, _with_legacy
from .sql import _chunks, _in_list, _listed, _statement, unstage

# ingest's: merges logged under it before they had a module of their own, and a log
# filter or alert on the name still finds them.
log = logging.getLogger("aggregator.store.ingest")


# The stories' statements, for _statement. Parameters are lists bound with _listed.
def _items_by_link(sqlite: bool) -> Any:  # :links, oldest item first: items' own and further links
    found = union_all(
        select(items.c.id, items.c.canonical_link).where(_in_list(items.c.canonical_link, "links", sqlite)),
        select(item_alias_links.c.item_id, item_alias_links.c.link)
        .where(_in_list(item_alias_links.c.link, "links", sqlite)),
    )
    return found.order_by(found.selected_columns[0])


def _items_by_text(sqlite: bool) -> Any:  # :keys (text keys), oldest item first: items' own and further texts
    found = union_all(
        select(items.c.id, items.c.text_key).where(_in_list(items.c.text_key, "keys", sqlite)),
        select(item_alias_texts.c.item_id, item_alias_texts.c.text_key)
        .where(_in_list(item_alias_texts.c.text_key, "keys", sqlite)),
    )
    return found.order_by(found.selected_columns[0])


def _carriers_of(sqlite: bool) -> Any:  # :ids -> (item, source) pairs
    return (select(item_sources.c.item_id, item_sources.c.source_id)
            .where(_in_list(item_sources.c.item_id, "ids", sqlite)))


def _keys_of(sqlite: bool) -> Any:  # :ids -> (item, its canonical link, its text key)
    return select(items.c.id, items.c.canonical_link, items.c.text_key).where(_in_list(items.c.id, "ids", sqlite))


def _unclassify(sqlite: bool) -> Any:  # :ids, items a further source now carries
    return update(items).where(_in_list(items.c.id, "ids", sqlite)).values(classified=False)


def _insert_aliases(conn: Connection, links: Iterable[tuple[str, int]], texts: Iterable[tuple[int, int]]) -> None:
    """Further (link, item) and (text key, item) pairs a story is known by; pairs already
    stored are left as they are."""
    # Imported here: PostgreSQL's dialect module costs ≈ 1.4 MiB that a SQLite database
    # never needs.
    insert: Any
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    for table, column, pairs in ((item_alias_links, "link", links), (item_alias_texts, "text_key", texts)):
        rows = [{column: key, "item_id": item_id} for key, item_id in sorted(set(pairs))]
        if rows:
            unstage(conn)  # they may refer to items of this batch
            conn.execute(insert(table).on_conflict_do_nothing(), rows)


def _names_a_story(canon: str) -> bool:
    """Whether a canonical link can name one story: a site's front page (no path, no
    query) names none, though a feed may link every entry of its own to it, and another
    source's entries too."""
    rest = canon.partition("://")[2]
    return rest.find("/") != len(rest) - 1


def _stored_keys(conn: Connection, item_ids: Iterable[int]) -> dict[int, tuple[str | None, int | None]]:
    """Each item's own canonical link and text key, as stored."""
    keys: dict[int, tuple[str | None, int | None]] = {}
    for part in _chunks(sorted(set(item_ids))):
        for item_id, canon, key in conn.execute(_statement(conn, _keys_of), {"ids": _listed(conn, items.c.id, part)}):
            keys[item_id] = (canon, key)
    return keys


def _keep_earlier_keys(
    conn: Connection, changed: list[tuple[int, EntryData]], text_keys: dict[int, int | None] | None = None
) -> set[int]:
    """Keep the canonical link and text key each item had before its entry in ``changed``
    is written into it, where the entry has others: a copy another source took of the story
    before its origin edited it is still the same story (``_items_by_link``, ``_items_by_text``).
    ``text_keys``: the text keys it computes are put there, by ``id(entry)``. Answers the
    items whose canonical link or text key the entry moves."""
    old = _stored_keys(conn, [item_id for item_id, _ in changed])
    links: list[tuple[str, int]] = []
    texts: list[tuple[int, int]] = []
    moved: set[int] = set()
    for item_id, entry in changed:
        was_canon, was_key = old[item_id]
        if was_canon != _indexed_link(entry.link):
            moved.add(item_id)
            # (a long link is stored hashed: whether it names a story is not known, and most do)
            if was_canon and (was_canon.startswith("sha256:") or _names_a_story(was_canon)):
                links.append((was_canon, item_id))
        dedup = _derived_texts(entry)[2]
        key = text_key(dedup) if dedup else None
        if text_keys is not None:
            text_keys[id(entry)] = key
        if was_key != key:
            moved.add(item_id)
            if was_key is not None:
                texts.append((was_key, item_id))
    _insert_aliases(conn, links, texts)
    return moved


def _keep_copy_keys(
    conn: Connection, copies: list[tuple[int, EntryData]], text_keys: dict[int, int | None] | None = None
) -> set[int]:
    """Keep the canonical link and text key of a further source's copy that changed (its
    outlet moved it to a new address, or edited it) as its story's: a copy taken of it
    since is still that story, as one of the copy first stored is (``_insert_fresh``).
    ``text_keys``: each entry's text key is put there, by ``id(entry)``. Answers the
    ``id(entry)`` of the copies whose link and text both left their story: neither names
    its item (own or further keys) as stored before (an aggregator's entry that became
    another story: its GUID given to the next headline); those make no two stories one."""
    item_ids = sorted({item_id for item_id, _ in copies})
    own = _stored_keys(conn, item_ids)
    known_links: set[tuple[str, int]] = {(canon, i) for i, (canon, _) in own.items() if canon}
    known_texts: set[tuple[int, int]] = {(key, i) for i, (_, key) in own.items() if key is not None}
    for part in _chunks(item_ids):
        known_links.update((link, i) for i, link in conn.execute(
            select(item_alias_links.c.item_id, item_alias_links.c.link).where(item_alias_links.c.item_id.in_(part))))
        known_texts.update((key, i) for i, key in conn.execute(
            select(item_alias_texts.c.item_id, item_alias_texts.c.text_key).where(item_alias_texts.c.item_id.in_(part))))
    links: list[tuple[str, int]] = []
    texts: list[tuple[int, int]] = []
    left: set[int] = set()
    for item_id, entry in copies:
        item_canon, item_key = own[item_id]
        canon = canonical_link(entry.link)
        link = _indexed(canon) if canon else None
        dedup = _derived_texts(entry)[2]
        key = text_key(dedup) if dedup else None
        if text_keys is not None:
            text_keys[id(entry)] = key
        if (link is None or (link, item_id) not in known_links) and (key is None or (key, item_id) not in known_texts):
            left.add(id(entry))
        if canon and link and _names_a_story(canon) and link != item_canon:
            links.append((link, item_id))
        if key is not None and key != item_key:
            texts.append((key, item_id))
    _insert_aliases(conn, links, texts)
    return left


def _sent_twice(fresh: list[tuple[int, str, int, EntryData, tuple[str, str]]], matched: list[str | None]) -> set[str]:
    """The links of ``matched`` (one for each entry of ``fresh``) that two entries of one
    source send."""
    linked = set(matched)
    linked.discard(None)
    if len(linked) == len(matched) - matched.count(None):  # (most batches: every link once, a set's cost)
        return set()
    sent: set[tuple[int, str]] = set()
    shared: set[str] = set()
    for (_, _, sid, _, _), canon in zip(fresh, matched):
        if canon is not None:
            if (sid, canon) in sent:
                shared.add(canon)
            else:
                sent.add((sid, canon))
    return shared


def _merged_into(merged: dict[int, int], item_id: int) -> int:
    while item_id in merged:
        item_id = merged[item_id]
    return item_id


def _merge_items(conn: Connection, merged: dict[int, int]) -> None:
    """Merge each stored item of ``merged`` into the item it maps to (through any chain):
    the older item takes the newer's link rows (its sources), further links and texts, and
    its own link and text as further ones; the newer is deleted, with its topics, and the
    older is classified again (its sources grew)."""
    final = {gone: _merged_into(merged, gone) for gone in merged}
    gone_ids = sorted(final)
    own = _stored_keys(conn, gone_ids)
    links: list[tuple[str, int]] = []
    texts: list[tuple[int, int]] = []
    for gone, (canon, key) in own.items():
        if canon and (canon.startswith("sha256:") or _names_a_story(canon)):
            links.append((canon, final[gone]))
        if key is not None:
            texts.append((key, final[gone]))
    for part in _chunks(gone_ids):
        for table, column, out in ((item_alias_links, item_alias_links.c.link, links),
                                   (item_alias_texts, item_alias_texts.c.text_key, texts)):
            for item_id, value in conn.execute(select(table.c.item_id, column).where(table.c.item_id.in_(part))):
                out.append((value, final[item_id]))  # type: ignore[arg-type]
    for gone, keep in final.items():
        conn.execute(update(item_sources).where(item_sources.c.item_id == gone).values(item_id=keep))
        log.info("item %d is the story of item %d: merged into it", gone, keep)
    _insert_aliases(conn, links, texts)
    conn.execute(delete(items).where(items.c.id.in_(gone_ids)))


def _stories_of(
    conn: Connection, raw_links: Iterable[str], text_keys: Iterable[int | None], also: Iterable[int] = (),
) -> tuple[dict[str, list[int]], dict[int, list[int]], dict[int, set[int]]]:
    """The stored items known by each canonical link (stored form) and by each text key,
    oldest first, by their own keys or further ones (``_items_by_link``, ``_items_by_text``),
    and every source that carries each of them and of ``also``."""
    by_link: dict[str, list[int]] = defaultdict(list)
    by_text: dict[int, list[int]] = defaultdict(list)
    for part in _chunks(_with_legacy(raw_links)):
        for item_id, canon in conn.execute(
            _statement(conn, _items_by_link), {"links": _listed(conn, items.c.canonical_link, part)}
        ):
            if canon is not None:
                known = by_link[_indexed(canon)]
                if not known or known[-1] != item_id:  # by its own link and a further one
                    known.append(item_id)
    for part in _chunks(sorted({v for v in text_keys if v is not None})):
        for item_id, key in conn.execute(
            _statement(conn, _items_by_text), {"keys": _listed(conn, items.c.text_key, part)}
        ):
            if key is not None:
                known_texts = by_text[key]
                if not known_texts or known_texts[-1] != item_id:
                    known_texts.append(item_id)
    carriers: dict[int, set[int]] = defaultdict(set)  # stored item id -> source ids
    candidates = sorted({i for ids in (*by_link.values(), *by_text.values()) for i in ids} | set(also))
    for part in _chunks(candidates):
        for item_id, source_id in conn.execute(
            _statement(conn, _carriers_of), {"ids": _listed(conn, item_sources.c.item_id, part)}
        ):
            carriers[item_id].add(source_id)
    return by_link, by_text, carriers


class _Placed(NamedTuple):
    """Where ``_place_fresh`` puts each new entry (by its index in ``fresh``)."""

    new: list[int]  # the entries that are items of their own
    target_item: dict[int, int]  # entry -> the stored item it is a copy of
    target_new: dict[int, int]  # entry -> the entry of this batch whose new item it is a copy of
    alias_links: list[tuple[str, int]]  # further (link, stored item) pairs
    alias_texts: list[tuple[int, int]]  # further (text key, stored item) pairs
    twin_links: list[tuple[str, int]]  # further (link, entry of a new item) pairs
    twin_texts: list[tuple[int, int]]  # further (text key, entry of a new item) pairs
    merged: dict[int, int]  # stored item -> the stored item it is merged into (_merge_items)


def _place_fresh(
    conn: Connection,
    fresh: list[tuple[int, str, int, EntryData, tuple[str, str]]],
    matched: list[str | None],
    raw_links: list[str],
    texts: list[int | None],
    counts: list[list[int]],
) -> _Placed:
    """Whose story each new entry of ``fresh`` is: a stored item's, a new item's of this
    batch, or its own. ``matched``: each entry's canonical link as stored, None for one
    that names no story; ``raw_links``: those links as sent (canonical); ``texts``: each
    entry's text key. ``counts`` (new, updated, attached per job) counts each entry new or
    attached. Reads the stored stories; writes nothing."""
    shared = _sent_twice(fresh, matched)
    if shared:
        # A link that two new entries of one source send (updates of a live page, a
        # section page) is no one story's, as one several stored stories share is not
        # (story_of): the first of them took another source's story with that link, or
        # merged that story into the one of its text, and the second was a story of its own.
        matched = [None if canon in shared else canon for canon in matched]
        raw_links = [canon for canon in raw_links if _indexed(canon) not in shared]
    by_link, by_text, carriers = _stories_of(conn, raw_links, texts)

    # Decide, in order: attach to a stored item, to a new item of this batch, or create.
    # Only the same story from ANOTHER source is merged: two entries of one source
    # are two items even when they share a link or a text.
    new: list[int] = []  # indexes into fresh
    target_item: dict[int, int] = {}  # fresh index -> stored item id
    target_new: dict[int, int] = {}  # fresh index -> fresh index of the new twin
    batch_link: dict[str, list[int]] = defaultdict(list)
    batch_text: dict[int, list[int]] = defaultdict(list)
    new_carriers: dict[int, set[int]] = {}  # fresh index of a new item -> source ids
    # Further links and texts of stories, from a further source's copy: (key, stored item)
    # and (key, fresh index of a new item).
    alias_links: list[tuple[str, int]] = []
    alias_texts: list[tuple[int, int]] = []
    twin_links: list[tuple[str, int]] = []
    twin_texts: list[tuple[int, int]] = []

    def stored_match(keys: list[int], sid: int) -> int | None:
        return next((item_id for item_id in keys if sid not in carriers[item_id]), None)

    def batch_match(keys: list[int], sid: int) -> int | None:
        return next((idx for idx in keys if sid not in new_carriers[idx]), None)

    def story_of(keys: list[int] | None, text: list[int] | None) -> list[int] | None:
        """Of the items with an entry's link (``keys``), those that can be its story: a
        link that several stories share (a feed that links each entry to its site's front
        page, or to one live page) names none of them, and the oldest with it would take
        every other source's entry with that link, whatever its text. Then only those
        that have its text too."""
        if keys is None or len(keys) == 1:
            return keys
        return [k for k in keys if k in text] if text else None

    # Its link names one story and its text another (a third outlet linked an outlet's page
    # before that outlet carried the story, whose text is a first outlet's): the two are
    # one story, unless a source carries both (two entries of one source are two items).
    # The older takes the newer's sources, links and texts.
    merged: dict[int, int] = {}  # stored item -> the stored item it was merged into (_merge_items)

    def merge(one: int, other: int) -> int:
        keep, gone = min(one, other), max(one, other)
        merged[gone] = keep
        carriers[keep] |= carriers.pop(gone)
        for found in (*by_link.values(), *by_text.values()):
            if gone in found:
                found.remove(gone)
                if keep not in found:
                    insort(found, keep)
        return keep

    def known_by(stored: int, canon: str | None, th: int | None) -> None:
        """The stored story is known by this link and text too, from now on (and to the
        rest of this batch)."""
        if canon and stored not in by_link.get(canon, ()):
            insort(by_link.setdefault(canon, []), stored)
            alias_links.append((canon, stored))
        if th is not None and stored not in by_text.get(th, ()):
            insort(by_text.setdefault(th, []), stored)
            alias_texts.append((th, stored))

    def twin_known_by(twin: int, canon: str | None, th: int | None) -> None:
        if canon and twin not in batch_link.get(canon, ()):
            insort(batch_link[canon], twin)
            twin_links.append((canon, twin))
        if th is not None and twin not in batch_text.get(th, ()):
            insort(batch_text[th], twin)
            twin_texts.append((th, twin))

    def unmake(twin: int) -> tuple[set[int], list[str | None], list[int | None]]:
        """A new item of this batch found to be another's story is no item of its own:
        its sources, and the links and texts it is known by, for that story to take."""
        new.remove(twin)
        counts[fresh[twin][0]][0] -= 1
        counts[fresh[twin][0]][2] += 1
        for found in (*batch_link.values(), *batch_text.values()):
            if twin in found:
                found.remove(twin)
        links: list[str | None] = [matched[twin], *(key for key, t in twin_links if t == twin)]
        keys: list[int | None] = [texts[twin], *(key for key, t in twin_texts if t == twin)]
        twin_links[:] = [pair for pair in twin_links if pair[1] != twin]
        twin_texts[:] = [pair for pair in twin_texts if pair[1] != twin]
        return new_carriers.pop(twin), links, keys

    def twin_into_stored(twin: int, stored: int) -> None:
        sids, links, keys = unmake(twin)
        carriers[stored] |= sids
        target_item[twin] = stored
        for k in [k for k, t in target_new.items() if t == twin]:
            del target_new[k]
            target_item[k] = stored
        for canon in links:
            known_by(stored, canon, None)
        for th in keys:
            known_by(stored, None, th)

    def twin_into_twin(keep: int, gone: int) -> None:
        sids, links, keys = unmake(gone)
        new_carriers[keep] |= sids
        target_new[gone] = keep
        for k, t in target_new.items():
            if t == gone:
                target_new[k] = keep
        for canon in links:
            twin_known_by(keep, canon, None)
        for th in keys:
            twin_known_by(keep, None, th)

    for i, (j, _, sid, e, _) in enumerate(fresh):
        canon, th = matched[i], texts[i]
        # .get: most entries match nothing, and a defaultdict lookup would store an
        # empty list for each of them.
        same = by_text.get(th) if th is not None else None
        found = story_of(by_link.get(canon), same) if canon else None
        by_its_link = stored_match(found, sid) if found else None
        by_its_text = stored_match(same, sid) if same else None
        batch_same = batch_text.get(th) if th is not None else None
        twin_by_link = twin_by_text = None
        if by_its_link is None and canon and (found := story_of(batch_link.get(canon), batch_same)):
            twin_by_link = batch_match(found, sid)
        if by_its_text is None and batch_same:
            twin_by_text = batch_match(batch_same, sid)
        stored = by_its_link if by_its_link is not None else by_its_text
        # Merged only by a text that names one story: one several share (a source's daily
        # boilerplate) would merge the link's story into the oldest of them.
        if by_its_link is not None:
            if by_its_text is not None and same and len(same) == 1 and by_its_link not in same:
                if carriers[by_its_text].isdisjoint(carriers[by_its_link]):
                    stored = merge(by_its_link, by_its_text)
            elif (twin_by_text is not None and not same and batch_same and len(batch_same) == 1
                  and new_carriers[twin_by_text].isdisjoint(carriers[by_its_link])):
                twin_into_stored(twin_by_text, by_its_link)
        elif by_its_text is not None and twin_by_link is not None and same and len(same) == 1:
            if new_carriers[twin_by_link].isdisjoint(carriers[by_its_text]):
                twin_into_stored(twin_by_link, by_its_text)
        if stored is not None:
            target_item[i] = stored
            carriers[stored].add(sid)
            counts[j][2] += 1
            known_by(stored, canon, th)
            continue
        twin = twin_by_link if twin_by_link is not None else twin_by_text
        if (twin_by_link is not None and twin_by_text is not None and batch_same
                and len(batch_same) == 1 and not same and twin_by_link not in batch_same
                and new_carriers[twin_by_link].isdisjoint(new_carriers[twin_by_text])):
            twin = min(twin_by_link, twin_by_text)
            twin_into_twin(twin, max(twin_by_link, twin_by_text))
        if twin is not None:
            target_new[i] = twin
            new_carriers[twin].add(sid)
            counts[j][2] += 1
            twin_known_by(twin, canon, th)
            continue
        new.append(i)
        new_carriers[i] = {sid}
        counts[j][0] += 1
        if canon:
            batch_link[canon].append(i)
        if th is not None:
            batch_text[th].append(i)
    return _Placed(new, target_item, target_new, alias_links, alias_texts, twin_links, twin_texts, merged)


def _merge_edited(
    conn: Connection, edited: list[tuple[int, int, int, EntryData, bool, bool]], counts: list[list[int]],
    text_keys: dict[int, int | None], sent_beside: set[tuple[int, str]],
) -> None:
    """Merge the stories that entries sent changed make one, as ``_insert_fresh`` does for
    new entries: an entry whose item is one story and whose link or text now names another
    (b's short note on the page c linked, filled with a's text; or b's own story, edited
    into a's), unless a source carries both. Each (job, source, item, entry, counted as
    updated, read anew) is written already; an entry that merges and was not counted (a
    further source's copy whose text changed) counts as merged: the feeds change; one read
    anew (counted as updated only for this release's reading of it: a re-read) counts as
    merged in place of updated, as a new entry of a stored story does. ``text_keys``: the entries' text
    keys as ingest computed them, by ``id(entry)``. ``sent_beside``: the (source, link as
    stored) of the batch's new entries, whose links name no story to that source's edits."""
    links: list[str | None] = []
    keys: list[int | None] = []
    for _, _, _, entry, _, _ in edited:
        canon = canonical_link(entry.link)
        links.append(_indexed(canon) if canon and _names_a_story(canon) else None)
        if id(entry) in text_keys:
            keys.append(text_keys[id(entry)])
        else:  # (not computed by ingest)
            dedup = _derived_texts(entry)[2]
            keys.append(text_key(dedup) if dedup else None)
    raw_links = sorted({canonical_link(e.link) or "" for _, _, _, e, _, _ in edited} - {""})
    by_link, by_text, carriers = _stories_of(conn, raw_links, keys, [item_id for _, _, item_id, _, _, _ in edited])
    merged: dict[int, int] = {}

    def stories(found: list[int] | None) -> list[int]:
        """The items of ``found`` as they stand after this batch's merges, oldest first."""
        return sorted({_merged_into(merged, i) for i in found or ()})

    for (j, sid, item_id, _, counted, read_anew), canon, key in zip(edited, links, keys):
        own = _merged_into(merged, item_id)
        same = stories(by_text.get(key) if key is not None else None)
        named = stories(by_link.get(canon) if canon else None)
        # A link several other stories share, or one a new entry of the source sends too,
        # names none of them but by its text too.
        if sum(i != own for i in named) > 1 or (canon and (sid, canon) in sent_beside):
            named = [i for i in named if i in same]
        for found in (same, named):
            # (a text or link that several other stories share names none of them)
            others = [i for i in found if i != own]
            if len(others) != 1 or not carriers[own].isdisjoint(carriers[other := others[0]]):
                continue
            keep, gone = min(own, other), max(own, other)
            merged[gone] = keep
            carriers[keep] |= carriers.pop(gone)
            own = keep
            if read_anew:
                counts[j][1] -= 1
                read_anew, counted = False, False
            if not counted:
                counts[j][2] += 1
                counted = True
    if merged:
        _merge_items(conn, merged)
        keeps = sorted({_merged_into(merged, i) for i in merged})
        for part in _chunks(keeps):
            conn.execute(_statement(conn, _unclassify), {"ids": _listed(conn, items.c.id, part)})
