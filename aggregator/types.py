"""Frozen dataclasses that carry parsed data between modules.

Fetching, parsing and the seed reader produce these; the store converts them to
rows at its boundary, and the publisher receives ``PublishedItem`` views back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Enclosure:
    """A file an entry carries (a podcast's audio, a picture): RSS ``<enclosure>``, Atom
    ``<link rel="enclosure">``, a JSON Feed attachment. Republished as it came."""

    href: str  # absolute http(s) URL
    type: str | None = None  # its media type, when the source gave a valid one
    length: int | None = None  # its size in bytes, when the source gave one
    # Read from Media RSS (media:content), which releases before did not read: its appearing
    # on a stored entry is no news (see store.ingest._earlier_fingerprints). Not stored.
    media: bool = False


# slots: no per-instance __dict__ (a refresh holds tens of thousands of these at once:
# less memory, fewer objects for the GC to track, cheaper construction).
@dataclass(frozen=True, slots=True)
class EntryData:
    """One entry as a source presents it, before identity and dedup decisions."""

    key: str  # identity within its source: GUID/atom:id, else link, else content hash
    title: str | None = None
    link: str | None = None  # absolute URL of the original, if any
    summary: str | None = None  # HTML
    content: str | None = None  # HTML when content_type == "html", else plain text
    content_type: str = "html"  # "html" or "text"
    published: datetime | None = None  # aware UTC
    updated: datetime | None = None  # aware UTC
    author: str | None = None
    truncated: bool = False
    enclosures: tuple[Enclosure, ...] = ()
    # Its one picture (absolute http(s) URL): media:thumbnail, an image file, itunes:image,
    # JSON Feed's image. Not in the fingerprint: a new picture alone dates no entry anew.
    image: str | None = None


@dataclass(frozen=True)
class FeedData:
    """A parsed feed document."""

    url: str  # the URL it was finally fetched from
    title: str | None = None
    link: str | None = None  # the site's home page
    entries: tuple[EntryData, ...] = ()
    warning: str | None = None  # set when a lenient parser recovered a malformed feed
    cut_short: bool = False  # the document ends before its root element: entries may be missing


@dataclass(frozen=True)
class FetchResult:
    """The outcome of one HTTP exchange that produced a usable answer."""

    url: str  # the URL finally answered (after redirects)
    status: int  # final HTTP status (200 or 304)
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes | None = None  # None on 304
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None  # target of the 301/308 hops the chain started with, if any
    # A 302/303/307 hop led to ``url``: the feed is there for now (a mirror, a CDN's address
    # of the day), not moved: its stored entries keep the links they have where it was.
    temporary: bool = False
    body_sha256: str | None = None  # hex SHA-256 of ``body``, when the fetcher already took it

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class SourceInfo:
    """What a published entry says about the source it first came from (atom:source)."""

    id: str  # an IRI: the feed's URL for feed sources, a tag: URI for local sources
    title: str
    self_link: str | None = None  # the feed's URL (rel=self); None for local sources
    link: str | None = None  # the source's web site (rel=alternate), if known
    name: str = ""  # its name in the config, which commands take (not published)


@dataclass(frozen=True)
class PublishedItem:
    """A stored item as the publisher sees it."""

    id: str  # stable entry id, e.g. "urn:uuid:…": the same in every feed, for ever
    title: str
    updated: datetime  # aware UTC, distinct across the store
    published: datetime  # aware UTC
    source: SourceInfo
    link: str | None = None  # the original article, if any
    content: str | None = None  # sanitized HTML (content_type "html") or plain text ("text")
    content_type: str = "html"
    summary: str | None = None  # sanitized HTML
    author: str | None = None
    topics: tuple[str, ...] = ()  # slugs, written as category terms
    via: tuple[str, ...] = ()  # links to the same story at its further sources
    enclosures: tuple[Enclosure, ...] = ()
    image: str | None = None  # its picture, published as media:thumbnail


@dataclass(frozen=True)
class FeedView:
    """One feed to publish: a topic, or the all-items feed (slug "all")."""

    slug: str
    title: str  # without the global title prefix
    items: tuple[PublishedItem, ...]  # newest first (updated desc, then id), at most max_entries
    total: int  # items in the topic overall (for the index page)
