"""How the store knows an entry it stored again: by its key, as the indexed columns
store it (``_indexed``), and the link row that key finds (``_links_of``); whether the
entry changed upstream, by its fingerprints; and what it is stored and known by besides:
its canonical link as indexed (``_indexed_link``), its title (``fallback_title`` for an
untitled one), the rules' text, and the text whose key finds its story (``_derived_texts``).
Ingest, its moved-feed part (``moves``) and its stories' part (``merges``) read them."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from ..identity import canonical_link, dedup_text, item_texts, untracked
from ..models import item_sources, items
from ..sanitize import html_to_text, without_text_breaks
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


def _indexed_link(link: str | None) -> str | None:
    canon = canonical_link(link)
    return _indexed(canon) if canon else None


def _derived_texts(entry: EntryData) -> tuple[str, str, str | None]:
    """(stored title, rule match text, dedup text) of an entry. An untitled entry's
    rules see its fallback title; its dedup text has no title, as the source sent none."""
    titled = _visible(entry.title)
    title = entry.title if entry.title and titled else fallback_title(entry)
    match_text, dedup = item_texts(title, entry.summary, entry.content, entry.content_type)
    if not titled:
        dedup = dedup_text(None, entry.content or entry.summary, entry.content_type)
    return title, match_text, dedup


# Characters a reader shows as nothing: format controls (zero-width space and joiners, a
# stray byte order mark, direction marks), separators and other controls (C1 among them).
_INVISIBLE = frozenset({"Cf", "Cc", "Zs", "Zl", "Zp"})


def _visible(title: str | None) -> bool:
    """Whether a title shows anything: one of only zero-width spaces or a byte order mark
    reads as blank in every reader, and is taken as none (the entry's first sentence)."""
    if not title:
        return False
    if title.isascii():
        return not title.isspace()
    # U+FFFD, a decoder's mark for bytes it could not read, is left out at render
    # (atom._without_bad_characters): a title of nothing else would show nothing.
    return any(c != "\ufffd" and unicodedata.category(c) not in _INVISIBLE for c in title)


def fallback_title(entry: EntryData) -> str:
    """A title for an entry that has none, by the seeds' rule: its first sentence, at most
    100 characters with a closing "…" when cut."""
    from ..seeds import first_sentence, make_title  # rare: only untitled entries pay for the import

    raw = entry.content or entry.summary or ""
    # A line break of plain text (text_as_html's <br>) stays one: a blank line ends a paragraph.
    # Inline tags join their text as a reader shows it (Mastodon's "#<span>cat</span>" reads
    # "#cat", not "# cat"); strip_html, the rules' reading, makes every tag a space.
    text = ("\n\n".join(html_to_text(part) for part in without_text_breaks(raw).split("\n\n"))
            if entry.content_type == "html" else raw)
    # A text of only zero-width characters has a first sentence as blank as such a title.
    title = make_title(first_sentence(text)) if text.strip() else ""
    return title if _visible(title) else entry.link or "(untitled)"
