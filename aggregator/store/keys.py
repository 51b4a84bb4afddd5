"""How the store knows an entry it stored again: by its key, as the indexed columns
store it (``_indexed``), and the link row that key finds (``_links_of``); and whether the
entry changed upstream, by its fingerprints. Ingest and its moved-feed part (``moves``)
both read them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from ..identity import untracked
from ..models import item_sources, items
from ..types import EntryData
from .sql import _in_list

# An entry's date before this is no date: a CMS that has none for an entry often writes
# the zero of its clock ("Thu, 01 Jan 1970 00:00:00 +0000", "0001-01-01"), and such an
# entry was stored at the bottom of every feed, under years of others, never published in
# a busy one. The W3C feed validator calls such a date implausible (ImplausibleDate, before
# 1990). It takes the time it was first seen, as an entry without a date does. Fingerprints
# keep the date as sent: an entry that keeps sending it is unchanged.
PLAUSIBLE_SINCE = datetime(1990, 1, 1, tzinfo=timezone.utc)
# PostgreSQL refuses a B-tree index entry over 2,704 bytes, so one very long GUID or link
# would fail every refresh of its source there (SQLite has no such limit). Indexed text
# past this many UTF-8 bytes is stored as its hash instead: equal values stay equal.
INDEXED_MAX = 1000


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


def _links_of(sqlite: bool) -> Any:  # :keys of :sources -> each one's link row, item and origin
    return (select(item_sources.c.key, item_sources.c.id, item_sources.c.item_id, item_sources.c.fingerprint,
                   item_sources.c.undated_fingerprint, items.c.source_id, item_sources.c.source_id, item_sources.c.link,
                   items.c.image)
            .join(items, items.c.id == item_sources.c.item_id)
            .where(_in_list(item_sources.c.key, "keys", sqlite), _in_list(item_sources.c.source_id, "sources", sqlite)))


def _indexed(value: str) -> str:
    """``value`` as the indexed columns item_sources.key and items.canonical_link store it."""
    if len(value) <= INDEXED_MAX // 4 or len(value.encode()) <= INDEXED_MAX:  # 4: most bytes per char
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def _with_legacy(values: Iterable[str]) -> list[str]:
    """Stored forms of ``values`` to look up: also each long one whole, as rows written
    before ``_indexed`` existed hold it (SQLite only: PostgreSQL could not store them)."""
    forms = set(values)
    forms.update([_indexed(v) for v in forms])
    return sorted(forms)


def fingerprint(entry: EntryData, clamped_at: datetime | None = None, *, tracked: bool = False) -> str:
    """What a source sent for an entry; a different value means it changed upstream.

    The parser clamps a future date to the fetch time (``clamped_at``), which differs on
    every refresh: such a date counts as "future", or an unchanged entry would update each time.
    The link counts without its tracking parameters (``untracked``): a feed that moves its
    campaign on changes no entry. ``tracked``: the link whole, as releases before schema
    0008 took it (see ``_earlier_fingerprints``).
    """
    return fingerprints(entry, clamped_at, tracked=tracked)[0]


def fingerprints(entry: EntryData, clamped_at: datetime | None = None, *, tracked: bool = False) -> tuple[str, str]:
    """(``fingerprint``, the undated fingerprint): the same less the values of the dates,
    which of them the entry has, and which are plausible, still counted. Equal undated fingerprints with different
    fingerprints: only the dates moved (a feed made on request, stamping each entry with
    the time of the request), which dates no item anew (``ingest``)."""
    # sha256 of title, link, summary, content, content type, author, published, updated
    # and str(truncated), each None as "", joined by U+001F; a date is its isoformat() or
    # "future". Written out (no helper, no generator): it runs for every entry fetched.
    # The texts before the dates are hashed once for both.
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
    link = entry.link
    head = hashlib.sha256("\x1f".join((
        entry.title or "", (link if tracked else untracked(link)) if link else "", entry.summary or "", entry.content or "", entry.content_type or "",
        entry.author or "", "",
    )).encode())
    tail = "\x1f" + str(entry.truncated)
    if entry.enclosures:  # only then: the fingerprints of entries without stay as they were
        tail += "\x1f" + repr([(e.href, e.type, e.length) for e in entry.enclosures])
    dated = head.copy()
    dated.update(f"{pub}\x1f{upd}{tail}".encode())
    # Of each date, whether there is one and whether it is plausible (a real date in place
    # of a CMS's zero is read as news, see _recleaned): written out, as above.
    head.update(f"{'' if published is None else 'd' if published >= PLAUSIBLE_SINCE else 'z'}\x1f"
                f"{'' if updated is None else 'd' if updated >= PLAUSIBLE_SINCE else 'z'}{tail}".encode())
    return dated.hexdigest(), head.hexdigest()
