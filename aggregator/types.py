"""Frozen dataclasses that carry parsed data between modules.

Fetching, parsing and the seed reader produce these; the store converts them to
rows at its boundary, and the publisher receives ``PublishedItem`` views back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class FeedData:
    """A parsed feed document."""

    url: str  # the URL it was finally fetched from
    title: str | None = None
    link: str | None = None  # the site's home page
    entries: tuple[EntryData, ...] = ()
    warning: str | None = None  # set when a lenient parser recovered a malformed feed


@dataclass(frozen=True)
class FetchResult:
    """The outcome of one HTTP exchange that produced a usable answer."""

    url: str  # the URL finally answered (after redirects)
    status: int  # final HTTP status (200 or 304)
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes | None = None  # None on 304
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None  # target of a 301/308 chain, if every hop was permanent

    @property
    def not_modified(self) -> bool:
        return self.status == 304
