"""Feed parsing: a pure function of (final URL, body bytes, response headers).

RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 go through feedparser; JSON Feed 1.x, which
feedparser does not read, through the small reader at the end of this module.
Documents that declare XML entities are refused before any XML parser runs
(billion laughs, XXE), and the repairs feedparser needs are made first: both in
``aggregator.document``. feedparser is told neither to sanitize nor to rewrite
content: our single nh3 pass in ``aggregator.sanitize`` does both, which saves a
second HTML parse of every fragment.
"""

from __future__ import annotations

import calendar
import codecs
import hashlib
import html
import html.entities
import io
import json
import logging
import math
import re
import time
import unicodedata
import xml.sax
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urljoin

import feedparser
import feedparser.api
import feedparser.mixin
import feedparser.sgml

from aggregator.document import (
    _CHARSET_PARAM,
    _HTML_TYPES,
    _XML_ENCODING,
    _absolute_bases,
    _absolute_link,
    _ascii_view,
    _cut_short,
    _html_page_message,
    _http_url,
    _is_html_page,
    _reject_entity_declarations,
    _repair_char_refs,
    _security_views,
    _unfinished,
    _utf16_as_utf8,
)
from aggregator.errors import ParseError
from aggregator.fastparse import fast_feed, parse_date, zone_in_range
from aggregator.identity import REDIRECTORS, untracked, unwrapped, without_credentials
from aggregator.sanitize import html_to_text, sanitize_html, text_as_html
from aggregator.text import collapse_ws, drop_not_xml
from aggregator.types import Enclosure, EntryData, FeedData

__all__ = ["parse_feed", "entry_key", "clamp_date"]

log = logging.getLogger(__name__)

def parse_feed(
    url: str, body: bytes, headers: Mapping[str, str], *, now: datetime | None = None
) -> FeedData:
    """Parse one fetched document into a ``FeedData``.

    ``url`` is the URL the body was finally fetched from (after redirects) and the
    base for relative links; ``headers`` has lower-cased names. Raises ``ParseError``
    for an empty body, an HTML page, a document declaring XML entities, JSON that
    is not a JSON Feed, or anything else that holds no feed. A malformed feed that
    feedparser recovers is returned with ``warning`` set.
    """
    now = now or datetime.now(timezone.utc)
    # A private feed's user and password (sent as Basic auth) are no part of the links
    # resolved against its URL: they would be published with every relative link.
    url = without_credentials(url)
    content_type = headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not body or body.isspace():  # isspace stops at the first non-space: no copy
        raise ParseError("not a feed: empty body")
    if looks_like_json(body, media_type):
        return parse_json_feed(url, body, now=now, content_type=content_type)
    for view in _security_views(body, content_type):
        _reject_entity_declarations(view)
    sample = _ascii_view(body)
    if _is_html_page(sample):
        if media_type in _HTML_TYPES:
            kind = media_type
        else:
            kind = f"text/html, served as {media_type}" if media_type else "text/html"
        raise ParseError(_html_page_message(url, body, kind))

    fast = fast_feed(body, content_type)
    if fast is not None:
        feed_dict, raw_entries = fast
        # An entry's <source> reaches here only from RSS: the fast path leaves atom:source to feedparser.
        return _feed_data(url, feed_dict, raw_entries, None, now, feed_dict.get("author"), rss=True)
    return _parse_with_feedparser(url, body, content_type, now)


def _parse_with_feedparser(url: str, body: bytes, content_type: str, now: datetime) -> FeedData:
    """The feedparser path: every document the fast path declines, and the tests' reference."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    # No content-location on purpose: feedparser would then also resolve GUIDs and
    # atom:ids against the fetch URL, so every key would change when a feed moves.
    # We resolve links and content against xml:base (which feedparser tracks) and
    # then the fetch URL ourselves.
    body, content_type = _utf16_as_utf8(body, content_type)
    body = _declaration_on_its_own_line(body)
    # Repaired first: lxml, which makes the bases absolute, refuses such a reference too.
    body, bad_refs = _repair_char_refs(body)
    body, content_type = _absolute_bases(url, body, content_type)
    response_headers = {"content-type": content_type} if content_type else {}
    # A stream, never bytes or str: feedparser would treat a str as a URL or path.
    try:
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers=response_headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser reports through bozo; a raise is a bug we contain
        raise ParseError(f"not a feed: the parser failed ({type(exc).__name__}: {exc})") from exc
    if not parsed.get("version") and not parsed.entries:
        if media_type in _HTML_TYPES:
            raise ParseError(_html_page_message(url, body, media_type))
        reason = _describe(parsed.get("bozo_exception")) if parsed.get("bozo") else "no feed elements"
        raise ParseError(f"not a feed: no RSS, Atom or JSON Feed found ({reason})")

    raw_entries, warning = parsed.entries, _warning(parsed, body, content_type)
    cut_short = bool(parsed.get("bozo")) and _unfinished(body)
    for found in (parsed.feed, *raw_entries):
        _drop_mistyped(found)
    if bad_refs:
        refs = f"malformed XML recovered: {bad_refs} character reference(s) to surrogates or beyond U+10FFFF"
        warning = f"{refs}; {warning}" if warning else refs
    if parsed.get("bozo") and raw_entries and _cut_short(body):
        # The document ends inside an entry (a transfer or a server's output cut off):
        # the last entry recovered has lost text, and stored, it would overwrite that
        # entry's complete version (or, keyed by its title, be a new item). The next
        # whole document brings it.
        raw_entries = raw_entries[:-1]
        cut_short = True
        cut = "the document is cut short: its last entry was left out"
        warning = f"{warning}; {cut}" if warning else cut
    # An Atom feed's author is its entries' when they name none (RFC 4287 §4.2.1).
    atom = str(parsed.get("version") or "").startswith("atom")
    feed_author = (_first_author(parsed.feed) or {}).get("name") if atom else None
    feed = _feed_data(url, parsed.feed, raw_entries, warning, now, (feed_author or "").strip() or None, rss=not atom)
    return replace(feed, cut_short=True) if cut_short else feed


_XML_DECLARATION = re.compile(rb"(?:\xef\xbb\xbf)?<\?xml\s[^>]*\?>")


def _declaration_on_its_own_line(body: bytes) -> bytes:
    """The document with a line break after its XML declaration when more of its first line
    names an encoding: feedparser takes the last encoding="..." on the first line for the
    declared one, and a feed written on one line that quotes an XML declaration (a post about
    XML) was read in that encoding, names and URLs garbled."""
    declaration = _XML_DECLARATION.match(body)
    if declaration is None:
        return body
    end = declaration.end()
    line_end = body.find(b"\n", end)
    if body.find(b"encoding=", end, len(body) if line_end < 0 else line_end) < 0:
        return body
    return body[:end] + b"\n" + body[end:]


# feedparser's own keys that hold structures: an element of the same name
# (<title_detail>, <author_detail>, <links>) stores its text there in their place, and
# reading it as the structure failed the entry (dropped, with a line in the log) or, in a
# channel, the whole feed.
_FEEDPARSER_LISTS = frozenset({"links", "tags", "content", "authors", "contributors", "enclosures"})


# Of those, the ones feedparser's handlers of other elements add to while it parses: an
# element of the name stored its text there, and each handler after it failed on a string,
# its element lost (an RSS item's <link> and <enclosure> after a <links>, its <author> after
# an <authors>). feedparser dispatches on handler names: these read the element as nothing,
# in its strict and its loose parser alike, as _drop_mistyped reads the others.
_FEEDPARSER_BUILT = ("links", "authors", "contributors", "author_detail", "publisher_detail")


def _skip_start(self: Any, attrs_d: Any) -> None:
    self.push("", 0)  # its text is kept by no one: pop() returns it unstored


def _skip_end(self: Any) -> None:
    self.pop("")


for _name in _FEEDPARSER_BUILT:
    setattr(feedparser.mixin._FeedParserMixin, f"_start_{_name}", _skip_start)
    setattr(feedparser.mixin._FeedParserMixin, f"_end_{_name}", _skip_end)

_feedparsers_end_link = feedparser.mixin._FeedParserMixin._end_link
_NO_LINK = object()


def _end_link(self: Any) -> None:
    """An empty RSS <link/> in an item is none: a permalink GUID is the item's link, as
    when it has no <link> (feedparser took the empty one for the link, before the GUID or
    after it, and the item had none to open)."""
    context = self._get_context()
    before = context.get("link", _NO_LINK) if self.inentry else _NO_LINK
    _feedparsers_end_link(self)
    if self.inentry and context.get("link") == "":
        if before is _NO_LINK:
            del context["link"]
        else:
            context["link"] = before


feedparser.mixin._FeedParserMixin._end_link = _end_link  # type: ignore[method-assign]


_feedparsers_end_author = feedparser.mixin._FeedParserMixin._end_author


def _end_author(self: Any) -> None:
    """feedparser's, keeping in the author's detail the text it was read from (``raw``):
    feedparser's ``author`` is the last author's, and a name its e-mail pattern cut short
    (see _author_name) reads whole only from its own author's text."""
    _feedparsers_end_author(self)
    context = self._get_context()
    authors, raw = context.get("authors"), context.get("author")
    if isinstance(authors, list) and authors and authors[-1] and isinstance(raw, str):
        authors[-1]["raw"] = raw


feedparser.mixin._FeedParserMixin._end_author = _end_author  # type: ignore[method-assign]


_feedparsers_unknown_endtag = feedparser.mixin._FeedParserMixin.unknown_endtag


def _unknown_endtag(self: Any, tag: str) -> None:
    """feedparser's, then the base in effect around the element ended, also when that is none.
    feedparser restores only a base that is not empty: with no xml:base above (and no
    content-location, see _parse_with_feedparser), one element's base (an entry's content, a
    file's) stayed in effect after it, and the entries after it resolved against it."""
    _feedparsers_unknown_endtag(self, tag)
    if self.basestack and not self.basestack[-1]:
        self.baseuri = self.basestack[-1]


feedparser.mixin._FeedParserMixin.unknown_endtag = _unknown_endtag  # type: ignore[method-assign]


def _resolving_url(start: Any) -> Any:
    """feedparser's handler of an element naming a file by its ``url`` (RSS <enclosure>,
    media:content), which leaves the url as written: resolved against the xml:base in effect
    there, as feedparser resolves an Atom link's href. Otherwise it took the base in effect
    at the item's title or description, the fetch URL for an item with neither. What is
    still relative then (a relative base, as an Atom link's href) resolves against the fetch URL.
    An <enclosure> naming its file by ``uri`` or ``href`` instead is read so too."""
    def handler(self: Any, attrs_d: Any) -> Any:
        name = next((k for k in ("url", "uri", "href") if k in attrs_d), "url")  # feedparser's order
        url = attrs_d.get(name)
        if self.baseuri and isinstance(url, str) and url.strip():  # no base: nothing to resolve against yet
            try:
                attrs_d[name] = urljoin(self.baseuri, url.strip())
            except ValueError:  # a base urljoin refuses: the url stays relative to the fetch URL
                pass
        return start(self, attrs_d)
    return handler


for _name in ("_start_enclosure", "_start_media_content", "_start_media_thumbnail", "_start_itunes_image"):
    setattr(feedparser.mixin._FeedParserMixin, _name, _resolving_url(getattr(feedparser.mixin._FeedParserMixin, _name)))


_feedparsers_start_media_content = feedparser.mixin._FeedParserMixin._start_media_content


def _start_media_content(self: Any, attrs_d: Any) -> None:
    """feedparser's, noting how deep the file's element is: what it holds describes that file."""
    _feedparsers_start_media_content(self, attrs_d)
    self.media_file_depth = self.depth


def _end_media_content(self: Any) -> None:
    self.media_file_depth = 0


def _in_media_file(self: Any) -> bool:
    return self.depth > getattr(self, "media_file_depth", 0) > 0


def _file_text(own_start: Any, own_end: Any) -> tuple[Any, Any]:
    """feedparser's handlers of media:title and media:description, which read them as the
    entry's title and description wherever they are: inside a media:content they are that
    file's (a Mastodon post's picture's alt text), and are read as nothing there, as
    Miniflux reads them. One in a media:group or the item itself is the entry's media's
    (a YouTube video's, see _start_media_description)."""
    def start(self: Any, attrs_d: Any) -> None:
        if _in_media_file(self):
            _skip_start(self, attrs_d)
        else:
            own_start(self, attrs_d)

    def end(self: Any) -> None:
        if _in_media_file(self):
            _skip_end(self)
        else:
            own_end(self)
    return start, end


def _start_media_description(self: Any, attrs_d: Any) -> None:
    """media:description as its own field, ``media_description``: feedparser read it as a
    description, and one beside the item's own (a news photo's caption) became the entry's
    content, or its summary when written first. It is the entry's text only when the entry
    has none (a YouTube video's, see _entry). Plain text unless it says html (Media RSS),
    where feedparser took it for HTML: a video's lines and paragraphs ran together."""
    self.push_content("media_description", {"type": "plain", **attrs_d}, "text/plain", 1)


def _end_media_description(self: Any) -> None:
    self.pop_content("media_description")


feedparser.mixin._FeedParserMixin._start_media_content = _start_media_content  # type: ignore[method-assign]
feedparser.mixin._FeedParserMixin._end_media_content = _end_media_content  # type: ignore[attr-defined]
for _name, _handlers in (
        ("media_title", (feedparser.mixin._FeedParserMixin._start_media_title,
                         feedparser.mixin._FeedParserMixin._end_media_title)),
        ("media_description", (_start_media_description, _end_media_description))):
    _start, _end = _file_text(*_handlers)
    setattr(feedparser.mixin._FeedParserMixin, f"_start_{_name}", _start)
    setattr(feedparser.mixin._FeedParserMixin, f"_end_{_name}", _end)


_feedparsers_itunes_summary = (feedparser.mixin._FeedParserMixin._start_itunes_summary,
                               feedparser.mixin._FeedParserMixin._end_itunes_summary)


def _start_itunes_summary(self: Any, attrs_d: Any) -> None:
    """An item's itunes:summary as its own field, ``itunes_summary``: feedparser read it as a
    summary, and one after the item's description (a podcast's show notes, their plain-text
    copy) became the entry's content, the HTML notes with their links only its summary. It
    is the entry's text only when the entry has none (see _entry), as Miniflux reads it. A
    channel's is feedparser's."""
    if self.inentry:
        self.push_content("itunes_summary", attrs_d, "text/plain", 1)
    else:
        _feedparsers_itunes_summary[0](self, attrs_d)


def _end_itunes_summary(self: Any) -> None:
    if self.inentry:
        self.pop_content("itunes_summary")
    else:
        _feedparsers_itunes_summary[1](self)


feedparser.mixin._FeedParserMixin._start_itunes_summary = _start_itunes_summary  # type: ignore[method-assign]
feedparser.mixin._FeedParserMixin._end_itunes_summary = _end_itunes_summary  # type: ignore[method-assign]


_feedparsers_track_namespace = feedparser.mixin._FeedParserMixin.track_namespace


def _track_namespace(self: Any, prefix: str | None, uri: str) -> None:
    """feedparser's, without its map from the document's prefixes to its own, in the strict
    parser: that parser already names an element of a namespace it knows by its own prefix,
    and the map, meant for the loose parser that reads prefixes as written, renamed it again,
    from the declaration on to the end of the document, wherever it was declared. One
    element declaring dc for DC terms made every later dc:creator and dc:date a dcterms
    element (the entries lost their author and date), and a prefix bound to DC at the root
    and to another namespace on an element made that namespace's creator an author."""
    _feedparsers_track_namespace(self, prefix, uri)
    self.namespacemap.pop(prefix, None)


feedparser.api.StrictFeedParser.track_namespace = _track_namespace  # type: ignore[method-assign]


_feedparsers_start_prefix_mapping = feedparser.api.StrictFeedParser.startPrefixMapping


def _start_prefix_mapping(self: Any, prefix: str | None, uri: str) -> None:
    """feedparser's, noting the binding the declaration hides (see _end_prefix_mapping)."""
    hidden: tuple[str, str] | None = None
    if uri:
        lower = uri.lower()
        if "backend.userland.com/rss" in lower:
            lower = "http://backend.userland.com/rss"
        key = self._matchnamespaces.get(lower, prefix or "")  # track_namespace's key
        if key in self.namespaces_in_use:
            hidden = (key, self.namespaces_in_use[key])
    scopes = self.__dict__.setdefault("_aggregator_scopes", {})
    scopes.setdefault(prefix, []).append(hidden)
    _feedparsers_start_prefix_mapping(self, prefix, uri)


def _end_prefix_mapping(self: Any, prefix: str | None) -> None:
    """The binding a declaration hid, back at the end of its element. feedparser's strict
    parser names an element of a namespace it does not know by the prefix bound to it, which
    it looks up among the bindings it has seen, one a prefix, the last: a prefix bound at the
    root to such a namespace and again on one element stayed bound to the element's namespace
    to the end of the document, and a later <x:link> or <x:title> of the root's namespace, no
    longer found, was read as the entry's link or title (the loose parser and lxml read the
    unknown elements they are). A binding not hiding another is left as feedparser keeps it."""
    stack = self.__dict__.get("_aggregator_scopes", {}).get(prefix)
    hidden = stack.pop() if stack else None
    if hidden is not None:
        self.namespaces_in_use[hidden[0]] = hidden[1]


feedparser.api.StrictFeedParser.startPrefixMapping = _start_prefix_mapping  # type: ignore[method-assign]
feedparser.api.StrictFeedParser.endPrefixMapping = _end_prefix_mapping  # type: ignore[method-assign]


# feedparser's loose parser (every document its strict parse failed on: an undeclared prefix,
# a bare "&", a cut-off answer) hands an element's text over with the five XML characters
# still escaped ("&amp;", "&lt;", ... and character references to them, which it writes so),
# unescaping them only for content typed text or HTML, and there one name after another: an
# element read with no content type (an author, a guid, an RSS <source>, Bing's <News:Source>
# and <News:Image>, a comments link) kept "AT&amp;T", and a text title's "&amp;quot;" (the
# text "&quot;") became a quote. The strict parser hands over the characters.
_LOOSE_TEXT_REF = re.compile(r"&(?:lt|gt|amp|quot|apos|#(?:60|62|38|34|39|x3[cCeE]|x2[26fF]|x27));")
_LOOSE_TEXT_CHAR = {
    "lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'", "#60": "<", "#62": ">", "#38": "&", "#34": '"',
    "#39": "'", "#x3c": "<", "#x3e": ">", "#x26": "&", "#x22": '"', "#x27": "'", "#x2f": "/",
}
_feedparsers_loose_decode = feedparser.api.LooseFeedParser.decode_entities
# In markup (XHTML content, or text with elements in it) the strict parser escapes only "&",
# "<" and ">" of the text; the loose one kept "&quot;" and "&apos;" (and wrote "&#34;" and
# "&#39;" so), which changed the hash key of an entry with no id or link. A tag, whose
# attribute values are escaped as the strict parser writes them, is kept as it is.
_MARKUP_QUOTE = re.compile(r"(<[^>]*>)|&quot;|&apos;")


def _loose_decode_entities(self: Any, element: str, data: str) -> str:
    """The loose parser's text as the strict parser gives it: markup (content of an XML type,
    XHTML) stays escaped as feedparser leaves it; any other text is unescaped in one pass."""
    if "&" not in data:
        return data  # every reference either reads has one
    kind = self.contentparams.get("type")
    if kind is not None and kind.endswith("xml"):
        markup: str = _feedparsers_loose_decode(self, element, data)
        if "&quot;" in markup or "&apos;" in markup:  # text's quotes as the strict parser gives them
            markup = _MARKUP_QUOTE.sub(lambda m: m.group(1) or _LOOSE_TEXT_CHAR[m.group()[1:-1]], markup)
        return markup
    return _LOOSE_TEXT_REF.sub(lambda m: _LOOSE_TEXT_CHAR[m.group()[1:-1].lower()], data)


_feedparsers_loose_pop = feedparser.api.LooseFeedParser.pop


def _loose_pop(self: Any, element: str, strip_whitespace: int = 1) -> Any:
    """feedparser's, with the text of an element it reads without decoding (an Atom author's
    name and email, dc:creator's and itunes:owner's parts: ``push(name, 0)``) decoded as any."""
    stack = self.elementstack
    verbatim = bool(stack) and stack[-1][0] == element and not stack[-1][1]
    output = _feedparsers_loose_pop(self, element, strip_whitespace)
    if verbatim and isinstance(output, str):
        return _loose_decode_entities(self, element, output)
    return output


# Its attributes keep every reference but "&amp;" (sgmllib writes them back as they were): a
# url's "&#38;" or "&#x26;" stayed so (an enclosure's, a picture's, an Atom link's), and so did
# "&lt;", "&quot;" and "&apos;". Each is read once, as the strict parser reads it, and an HTML
# entity as the loose parser reads one in text; what names no character is kept as written.
_ATTRIBUTE_REF = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]*));")
_XML_CHAR = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def _attribute_char(match: re.Match[str]) -> str:
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        found = _XML_CHAR.get(name) or html.entities.name2codepoint.get(name)
        return match.group() if found is None else found if isinstance(found, str) else chr(found)
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0x10FFFF and code not in (0xFFFE, 0xFFFF):
        return chr(code)
    return match.group()  # no XML character: as written


def _loose_normalize_attribute(kv: tuple[str, str]) -> tuple[str, str]:
    name = kv[0].lower()
    value = kv[1].lower() if name in ("rel", "type") else kv[1]
    return name, _ATTRIBUTE_REF.sub(_attribute_char, value) if "&" in value else value


feedparser.api.LooseFeedParser.decode_entities = _loose_decode_entities  # type: ignore[method-assign]
feedparser.api.LooseFeedParser.pop = _loose_pop  # type: ignore[method-assign]
feedparser.api.LooseFeedParser._normalize_attributes = staticmethod(_loose_normalize_attribute)  # type: ignore[method-assign,assignment]
# Decoded, they are written back into inline XHTML escaped, as the strict parser writes them
# (the loose parser's own escapes only the quote, for values it left escaped).
feedparser.api.LooseFeedParser.strattrs = staticmethod(feedparser.mixin._FeedParserMixin.strattrs)  # type: ignore[method-assign,assignment]

# sgmllib, under the loose parser, took any "&" before letters for a reference, ";" or not, and
# feedparser writes one to an entity it does not know back with a ";": a bare "&" (a feed
# written without escaping, the commonest malformation) read "R&D budget" as "R&D; budget" and
# an outlet "AT&T" as "AT&T;". A reference is now a name and its ";", or one of the names
# HTML reads without it (&amp, &copy, &nbsp...); any other "&" is text, as a browser reads it.
# One of those before "=" is a URL's query parameter ("?a=1&reg=us", "&copy=6"), as HTML reads
# it in an attribute: read as the entity, a link and a GUID key changed ("?a=1®=us").
_LEGACY_NAMES = "|".join(sorted((n for n in html.entities.html5 if not n.endswith(";")), key=len, reverse=True))
feedparser.sgml.sgmllib.entityref = re.compile(
    rf"&((?:[a-zA-Z][-.a-zA-Z0-9]*(?=;))|(?:{_LEGACY_NAMES})(?=[^a-zA-Z0-9=]))[^a-zA-Z0-9]")


def _drop_mistyped(found: Any) -> None:
    """Take out of one of feedparser's dictionaries the keys an element of their name
    filled with text: without them it reads as a feed without that element."""
    for key in [k for k, v in dict.items(found) if not isinstance(v, (dict, list, tuple, time.struct_time))]:
        if key.endswith(("_detail", "_parsed")) or key in _FEEDPARSER_LISTS:
            dict.__delitem__(found, key)


def _feed_data(
    url: str, feed: Mapping[str, Any], raw_entries: list[Any], warning: str | None, now: datetime,
    feed_author: str | None = None, *, rss: bool = False,
) -> FeedData:
    """Map feedparser-shaped dictionaries (from either path) to ``FeedData``; ``feed_author``
    is the author of the entries that name none; ``rss``: an entry's ``source`` is RSS's
    <source> (see _outlet), not an atom:source."""
    entries: list[EntryData] = []
    for index, raw in enumerate(raw_entries):
        try:
            entry = _entry(raw, url, now, feed_author, rss)
        except Exception as exc:  # one bad entry must never sink the feed
            log.warning("%s: skipping entry %d: %s", url, index, exc)
            continue
        if entry is not None:
            entries.append(entry)
    return FeedData(
        url=url,
        title=_title_text(feed.get("title"), feed.get("title_detail")),
        link=_absolute_link(url, _string(feed.get("link"))),
        entries=tuple(entries),
        warning=warning,
    )


def _string(value: Any) -> str | None:
    """A link as feedparser stored it, or None: an element named like one of its own keys
    (``<links>``) derails it into storing a dict there."""
    return value if isinstance(value, str) else None


def _describe(exc: object) -> str:
    if isinstance(exc, xml.sax.SAXParseException):
        return f"{exc.getMessage()} at line {exc.getLineNumber()}"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _warning(parsed: Any, body: bytes, content_type: str) -> str | None:
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    if isinstance(exc, feedparser.NonXMLContentType):
        return None  # a feed served as text/plain or text/html is common and harmless
    if isinstance(exc, feedparser.CharacterEncodingOverride):
        if _own_encoding_under_text_type(body, content_type, parsed.get("encoding")):
            return None
        return f"wrong character encoding: {_describe(exc)}"
    return f"malformed XML recovered: {_describe(exc)}"


def _own_encoding_under_text_type(body: bytes, content_type: str, used: str | None) -> bool:
    """True when a text/* answer without a charset was read in the document's own encoding.

    feedparser follows RFC 3023, under which such an answer is US-ASCII, and flags any
    other byte as a wrong encoding ("declared as us-ascii"). RFC 7303 dropped that
    default: the XML declaration (else UTF-8) decides. Countless servers send feeds as
    text/xml; a feed read as it declares itself is nothing to warn about.
    """
    media_type, _, params = content_type.partition(";")
    if not media_type.strip().lower().startswith("text/") or _CHARSET_PARAM.search(params) or not used:
        return False
    declared = _XML_ENCODING.match(body)
    own = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        return codecs.lookup(own).name == codecs.lookup(used).name
    except LookupError:
        return False


def entry_key(guid: str | None, link: str | None, title: str | None, content: str | None) -> str | None:
    """An entry's identity in its source: GUID, else link (less its tracking parameters,
    see ``untracked``), else a hash of title and content."""
    if guid and guid.strip():
        return guid.strip()
    if link and link.strip():
        return untracked(link.strip())
    if not title and not content:
        return None
    digest = hashlib.sha256(f"{title or ''}\0{content or ''}".encode("utf-8")).hexdigest()
    return f"sha256:{digest}"


def clamp_date(value: datetime | None, now: datetime) -> datetime | None:
    """Aware UTC, and never later than ``now`` (a future date would pin an item on top)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return min(value, now)


def _struct_date(value: datetime | time.struct_time | None, now: datetime) -> datetime | None:
    """A ``*_parsed`` value as an aware UTC datetime; the fast path already gives one."""
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value <= now else now  # aware UTC already: clamp_date in short
    try:
        return clamp_date(datetime.fromtimestamp(calendar.timegm(value), timezone.utc), now)
    except (OverflowError, ValueError, OSError):
        return None


def _content_base(feed_url: str, detail: Mapping[str, Any] | None) -> str:
    """The xml:base in effect for a fragment (feedparser records it), else the feed URL."""
    base = str((detail or {}).get("base") or "")
    if not base:
        return feed_url  # what urljoin(feed_url, "") answers
    try:
        return urljoin(feed_url, base)
    except ValueError:
        return feed_url


def _is_html(detail: Mapping[str, Any] | None) -> bool:
    return bool(detail) and detail.get("type", "text/html") in _HTML_TYPES  # type: ignore[union-attr]


def _title_text(value: str | None, detail: Mapping[str, Any] | None) -> str | None:
    if not value:
        return None
    text = html_to_text(value) if _is_html(detail) else " ".join(value.split())
    return text or None


def _entry(raw: Any, feed_url: str, now: datetime, feed_author: str | None = None, rss: bool = False) -> EntryData | None:
    get = raw.get  # one bound method for the dozen look-ups below (the per-entry hot path)
    raw_title = get("title")
    title = _title_text(raw_title, get("title_detail")) if raw_title else None
    source = get("source")
    outlet = _outlet(source) if rss and source else None
    if outlet is None and rss and (credit := get("news_source")):
        outlet = _credited(credit)  # Bing News: <News:Source>Reuters</News:Source>

    contents = get("content")
    content_detail = _best_content(contents) if contents else None
    summary_detail = get("summary_detail")
    raw_summary: str | None = get("summary") or None
    if raw_summary is None and not contents:
        if get("media_description"):
            # Media RSS's description of the item's media, its only text (a YouTube video's).
            raw_summary, summary_detail = get("media_description"), get("media_description_detail")
        elif get("itunes_summary"):  # a podcast episode's only text
            raw_summary, summary_detail = get("itunes_summary"), get("itunes_summary_detail")
    if raw_summary and contents and any(_is_binary(c) and c.get("value") == raw_summary for c in contents):
        raw_summary = None  # feedparser's copy of the content, for an entry without a summary
    raw_content: str | None = content_detail.get("value") if content_detail else None

    content: str | None = None
    content_type = "html"
    if raw_content:
        if _is_html(content_detail):
            content = sanitize_html(raw_content, _content_base(feed_url, content_detail))
        else:
            content, content_type = raw_content.strip(), "text"

    summary: str | None = None
    if raw_summary and raw_summary != raw_content:
        if _is_html(summary_detail):
            summary = sanitize_html(raw_summary, _content_base(feed_url, summary_detail))
        else:
            # The summary field is HTML: plain text is escaped, never trusted as markup.
            summary = text_as_html(raw_summary)
        summary = summary or None

    raw_link = _string(get("link"))
    if get("guidislink") and raw_link == get("id") and _http_url(raw_link) is None:
        # feedparser copies a permalink GUID into the link; an id like "post-17" is
        # no URL, and resolving it against the feed URL would invent a dead link.
        raw_link = None
    link = _absolute_link(feed_url, raw_link)
    if link is None and contents:
        # Atom content out of line (<content src="report.pdf"/>): all there is to open.
        link = next((found for c in contents if c.get("src")
                     and (found := _absolute_link(_content_base(feed_url, c), c["src"]))), None)
    if link is not None and link.startswith(REDIRECTORS):
        # The story's own URL, to publish and to dedup by, and the key of an entry with no
        # guid (a Bing item): the tracker's tid is its response's, another at every fetch.
        # Stored items keyed by the tracker are found by this key (0018's former keys).
        link = unwrapped(link)
    key = entry_key(get("id"), link, title, raw_content or raw_summary)
    if key is None:
        return None
    # After the key, which takes the feedproxy link (stable per item) as sent: an item
    # keyed by it keeps its item.
    if (orig_link := get("feedburner_origlink")) and isinstance(orig_link, str) and (orig_link := _http_url(orig_link)):
        link = orig_link  # FeedBurner's <feedburner:origLink> beside its feedproxy link
    if outlet and title:
        # After the key, which takes the title as sent: an item keyed by it keeps its item.
        title = _without_outlet(title, outlet)

    # feedparser answers updated_parsed with published_parsed when the entry has no
    # updated element of its own; dict.__contains__ sees only what the feed said.
    updated_struct = get("updated_parsed") if dict.__contains__(raw, "updated_parsed") else None
    published_struct = get("published_parsed")
    author_detail = _first_author(raw)
    author = _author_text((author_detail and _author_name(author_detail, author_detail.get("raw", get("author"))))
                          or get("author") or "") or None
    if author is None:
        # RFC 4287 §4.2.1: the authors of the entry's atom:source, else the feed's. An RSS
        # item's <source> names the outlet it came from, as readers credit it (Google News).
        source_author = source and collapse_ws((_first_author(source) or {}).get("name") or "")
        author = source_author or outlet or (feed_author and collapse_ws(feed_author)) or None

    try:
        files = get("enclosures")
    except (TypeError, AttributeError):  # feedparser derives them from its links, which a <links> element replaced
        files = None
    # Media RSS (YouTube, news and podcast feeds): media:content, alone or in a media:group,
    # names a file as <enclosure> does, as Miniflux and reader read it (thumbnails are not).
    media = get("media_content")
    media = [m for m in media if isinstance(m, Mapping) and m.get("url")] if isinstance(media, list) else []
    thumbnails = get("media_thumbnail")
    episode_image = get("image")  # feedparser's for an entry: its itunes:image
    bing_image = get("news_image") if rss else None  # Bing News' <News:Image>: its picture of the story
    image = _image(feed_url, [
        *((t.get("url"), True) for t in (thumbnails if isinstance(thumbnails, list) else ()) if isinstance(t, Mapping)),
        *((m["url"], m.get("medium") == "image" or _is_image_type(m.get("type"))) for m in media),
        *((f.get("href"), _is_image_type(f.get("type"))) for f in files or () if isinstance(f, Mapping)),
        (episode_image.get("href") if isinstance(episode_image, Mapping) else None, True),
        (bing_image, True),
    ]) if thumbnails or media or files or episode_image or bing_image else None
    published = _struct_date(published_struct, now) if published_struct else None
    updated = _struct_date(updated_struct, now) if updated_struct else None
    return EntryData(
        key,
        title,
        link,
        summary,
        content or None,
        content_type,
        published,
        updated,
        author,
        # feedparser types an Atom link that names no type text/html: a file with that type is
        # one whose type is unknown (no enclosure is a web page), so it is published with none.
        # Their urls come resolved against the xml:base in effect where they are written (see
        # _resolving_url), as the entry's link: what is relative still, against the fetch URL
        # (a relative base applied twice, once more at the title, gave .../base/base/file).
        enclosures=_enclosures(feed_url,
                               [(f.get("href"), None if f.get("type") == "text/html" else f.get("type"),
                                 f.get("length")) for f in files or ()],
                               [(m["url"], m.get("type"), m.get("filesize")) for m in media])
        if files or media else (),
        image=image,
    )


def _outlet(source: Any) -> str | None:
    """The name an RSS item's <source> gives (feedparser's ``title`` of it): RSS 2.0's "the
    RSS channel that the item came from", the outlet of a news aggregator's item (Google
    News: <source url="https://www.reuters.com">Reuters</source>)."""
    name = source.get("title") if isinstance(source, Mapping) else None
    return _credited(name)


def _credited(name: Any) -> str | None:
    """An outlet's name as one line of text, or None: also Bing News' <News:Source>, which
    feedparser keeps as ``news_source`` (a dictionary when written with attributes)."""
    return (_author_text(name) or None) if isinstance(name, str) else None


# What a news aggregator writes between a headline and its outlet's name.
_OUTLET_SEPARATORS = (" - ", " | ", " – ", " — ")


def _without_outlet(title: str, outlet: str) -> str:
    """``title`` without a separator and ``outlet`` at its end ("Cables cut - Reuters", from
    Reuters): only that exact name, never a guess at another's, and never the whole title:
    what comes before it must be a headline, a letter, digit or symbol ("- - Reuters" and a
    zero-width space before " - Reuters" are kept whole, not cut to "-" or to nothing)."""
    if not title.endswith(outlet):
        return title
    head = title[:-len(outlet)]
    for separator in _OUTLET_SEPARATORS:
        if head.endswith(separator):
            headline = head[:-len(separator)].rstrip()
            if any(c.isalnum() or unicodedata.category(c)[0] == "S" for c in headline):
                return headline
            return title
    return title


def _is_image_type(kind: Any) -> bool:
    return isinstance(kind, str) and kind.lstrip()[:6].lower() == "image/"


def _image(base: str, candidates: Iterable[tuple[Any, bool]]) -> str | None:
    """The entry's one picture: the first candidate (url, is a picture) that is a picture
    with an http(s) URL, resolved against ``base``. Candidates come best first: an explicit
    thumbnail (Media RSS media:thumbnail, alone, in a media:group or a media:content), then
    a file that is an image (media:content medium="image" or of an image type, an enclosure
    of an image type), then a podcast episode's itunes:image, then Bing News' News:Image (its
    picture of the story, an image by the element's meaning); JSON Feed's ``image``, then
    ``banner_image``, then an image attachment (see _json_entry)."""
    for url, is_picture in candidates:
        if is_picture and isinstance(url, str) and (found := _absolute_link(base, url)) is not None:
            return drop_not_xml(found)
    return None


_TAG = re.compile(r"</?[A-Za-z][^<>]*>")


def _author_text(name: str) -> str:
    """A name as one line of text, as a title is: a CMS's template wraps it over several,
    and a theme may write it as markup (a link to the author's page), read as its text."""
    return html_to_text(name) if _TAG.search(name) else collapse_ws(name)


def _first_author(found: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The first author of an entry, a feed or an atom:source that has a name, else its
    ``author_detail``. feedparser's ``author`` is the last one's, and so is the name in
    an Atom ``author_detail``: an entry by several authors was credited to its last."""
    authors = found.get("authors")
    if isinstance(authors, list):
        for person in authors:
            if isinstance(person, Mapping) and isinstance(name := person.get("name"), str) and name.strip():
                return person
    detail = found.get("author_detail")
    return detail if isinstance(detail, Mapping) else None


# What may follow an e-mail address's first four letters of a top-level domain.
_DOMAIN_REST = re.compile(r"[A-Za-z0-9-]+(?:\?subject=\S+)?")


def _author_name(detail: Mapping[str, Any], raw: Any) -> str | None:
    """The author's name: feedparser's, unless it read the e-mail address in an RSS author
    ("jo@news.agency (Jo)") cut short. Its pattern takes at most four letters of a
    top-level domain, and the rest of the address became the name ("cy (Jo"); the name
    is then what is left beside the whole address, cleaned as feedparser cleans it."""
    name, email = detail.get("name"), detail.get("email")
    if not email or not isinstance(raw, str) or email not in raw:
        return name
    at = raw.index(email) + len(email)
    rest = _DOMAIN_REST.match(raw, at)
    if rest is None:
        return name
    left = raw[:raw.index(email)] + raw[rest.end():]
    left = left.replace("()", "").replace("<>", "").replace("&lt;&gt;", "").strip()
    if left[:1] == "(":
        left = left[1:]
    if left[-1:] == ")":
        left = left[:-1]
    return left.strip() or None


MAX_ENCLOSURES = 20  # a feed's item with more is not a podcast episode: the rest are left out
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")


def _enclosures(
    base: str, found: Iterable[tuple[Any, Any, Any]], media: Iterable[tuple[Any, Any, Any]] = ()
) -> tuple[Enclosure, ...]:
    """The files an entry carries, from its (href, type, length) triples as the source wrote
    them, then those of its Media RSS ``media``: http(s) URLs only (resolved against ``base``),
    each once; a type only when it is a media type, a length only when it is a byte count."""
    files: list[Enclosure] = []
    for href, kind, length, from_media in [*((*f, False) for f in found), *((*m, True) for m in media)]:
        url = _absolute_link(base, href) if isinstance(href, str) else None
        if url is None or any(f.href == url for f in files):
            continue
        media_type = kind.split(";", 1)[0].strip().lower() if isinstance(kind, str) else ""
        size = str(length).strip() if isinstance(length, (str, int)) and not isinstance(length, bool) else ""
        files.append(Enclosure(
            drop_not_xml(url),
            media_type if _MEDIA_TYPE.fullmatch(media_type) else None,
            int(size) if size.isdigit() and size.isascii() and len(size) < 19 else None,
            from_media,
        ))
        if len(files) == MAX_ENCLOSURES:
            break
    return tuple(files)


def _is_binary(detail: Mapping[str, Any]) -> bool:
    """Atom content of a media type that is neither text nor XML: base64 of an image, a PDF
    (RFC 4287 §4.1.3.3), which feedparser hands over as it is, or decoded when that reads as
    UTF-8. Published as the entry's text, it showed a screen of base64."""
    kind = str(detail.get("type") or "text/plain").split(";", 1)[0].strip().lower()
    return not (kind.startswith("text/") or kind.endswith(("/xml", "+xml")) or kind in _HTML_TYPES)


def _best_content(contents: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The longest content value, HTML preferred over text when both exist; binary content
    is none (the entry shows its summary, else its title)."""
    usable = [c for c in contents if c.get("value") and not _is_binary(c)]
    if not usable:
        return None
    htmls = [c for c in usable if _is_html(c)]
    return max(htmls or usable, key=lambda c: len(c["value"]))


# --- JSON Feed 1.0 / 1.1 (https://jsonfeed.org/version/1.1) ---------------------

_JSON_TYPES = ("application/feed+json", "application/json")
# The version is the spec's address: written with www. (where the spec is published), http or
# a final slash too, as generators copy it.
_JSONFEED_VERSION = re.compile(r"https?://(?:www\.)?jsonfeed\.org/version/1(?:[./]|$)", re.IGNORECASE)


def looks_like_json(body: bytes, media_type: str) -> bool:
    """JSON by its media type, or by a body that opens an object (no XML does)."""
    encoding = json.detect_encoding(body[:4])
    if not encoding.startswith("utf-8"):  # UTF-16 or UTF-32, by its byte order mark or zero bytes
        body = body[:64].decode(encoding, "ignore").encode("utf-8")
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start == b"<":
        return False  # markup served under a JSON type: content negotiation is no verdict
    return start == b"{" or media_type in _JSON_TYPES or media_type.endswith("+json")


def _json_text(body: bytes, content_type: str) -> tuple[str, str | None]:
    """The document as text, and a warning when it was not what it said it was.

    JSON is UTF-8 (RFC 8259), and a body that reads as UTF-8 is read so, whatever the
    Content-Type says. Otherwise the charset it declares (a PHP site's ISO-8859-1), else,
    as feedparser reads an XML feed, Windows-1252 when no byte of it is UTF-8, else UTF-8
    with each byte that is not left out: a stray byte fails no feed. A document in UTF-16
    or UTF-32 (which RFC 7159 allowed), told by its byte order mark or zero bytes as
    Python's JSON reader tells it, is read in that encoding.
    """
    encoding = json.detect_encoding(body[:4])
    if not encoding.startswith("utf-8"):
        try:
            return body.decode(encoding).removeprefix("\ufeff"), None
        except UnicodeDecodeError:
            pass
    try:
        return body.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        problem = exc
    declared = _CHARSET_PARAM.search(content_type)
    if declared:
        try:
            return body.decode(declared.group(1)), None
        except (LookupError, ValueError):  # an unknown name or a wrong one: UnicodeError is a ValueError
            pass
    text = body.decode("utf-8-sig", "replace")
    if text.count("\ufffd") == sum(not c.isascii() for c in text):
        return body.decode("windows-1252", "replace"), "malformed JSON recovered: not UTF-8, read as windows-1252"
    return text, f"malformed JSON recovered: not UTF-8 ({problem.reason} at byte {problem.start})"


def parse_json_feed(url: str, body: bytes, *, now: datetime, content_type: str = "") -> FeedData:
    """Read a JSON Feed 1.x document; anything else that is JSON raises ``ParseError``."""
    text, warning = _json_text(body, content_type)
    start = text.lstrip("\ufeff \t\r\n")
    if "\ufeff" in text[:len(text) - len(start)]:
        # A second byte order mark, or one after a line break: a PHP site's output of files
        # saved with one (an XML feed in that state is read too).
        marks = "malformed JSON recovered: byte order mark before the document"
        warning, text = f"{warning}; {marks}" if warning else marks, start
    try:
        doc = json.loads(text, parse_int=str, parse_float=_json_float)
    except ValueError as exc:
        raise ParseError(f"not a feed: invalid JSON ({exc})") from exc
    except RecursionError as exc:  # the decoder recurses once per level of nesting
        raise ParseError("not a feed: invalid JSON (arrays or objects nested too deeply)") from exc
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or not _JSONFEED_VERSION.match(version.strip()):
        raise ParseError("not a feed: JSON document is not a JSON Feed (no jsonfeed.org version)")
    # A generator leaves out an empty list (gorilla/feeds writes items with omitempty) or
    # writes it null (a Go nil slice): a feed with nothing in it yet, as an RSS channel
    # without items is.
    items = doc.get("items")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise ParseError("not a feed: JSON Feed without an items array")

    entries: list[EntryData] = []
    # "If not specified in an item, then the top-level authors, if present, are the
    # authors of the item" (JSON Feed 1.1; 1.0 says the same of author).
    feed_author = _json_author(doc)
    for index, item in enumerate(items):
        try:
            # JSON has no xml:base, so relative links resolve against the fetch URL
            # (DESIGN.md); home_page_url is the site's front page, not a base.
            entry = _json_entry(item, url, now, feed_author) if isinstance(item, dict) else None
        except Exception as exc:  # one bad item must never sink the feed
            log.warning("%s: skipping JSON Feed item %d: %s", url, index, exc)
            continue
        if entry is not None:
            entries.append(entry)
    return FeedData(
        url=url,
        title=_title_text(_json_str(doc, "title"), None),
        link=_absolute_link(url, _json_str(doc, "home_page_url")),
        entries=tuple(entries),
        warning=warning,
    )


def _json_float(literal: str) -> float | str:
    """A JSON number with a fraction or exponent; one beyond a float (``1e999``) stays its
    text, as every integer does (``parse_int=str``): read as numbers, an integer of more
    than 4,300 digits failed the whole feed, and ``1e999`` and ``2e999`` were one id, "inf"."""
    value = float(literal)
    return value if math.isfinite(value) else literal


def _json_str(obj: Mapping[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # ids are strings by the spec, numbers in the wild
    return value if isinstance(value, str) and value.strip() else None


def _json_author(obj: Mapping[str, Any]) -> str | None:
    authors = obj.get("authors")  # 1.1
    candidates = authors if isinstance(authors, list) else []
    candidates = [*candidates, obj.get("author")]  # 1.0
    for author in candidates:
        if isinstance(author, dict) and _json_str(author, "name"):
            return collapse_ws(str(author["name"]))
    return None


def _json_date(value: Any, now: datetime) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        # RFC 3339 allows a lower-case "z", which fromisoformat refuses. It takes a zone's
        # minutes up to 99 ("+05:99" is 6:39 ahead): such a zone, as on the XML paths, is none.
        stamp = datetime.fromisoformat(value.strip().upper())
        return clamp_date(stamp, now) if stamp.tzinfo is None or zone_in_range(value) else None
    except OverflowError:  # an instant outside datetime's range in UTC, as in _struct_date
        return None
    except ValueError:
        # Not RFC 3339: some JSON Feeds write RSS's RFC 822 dates ("Mon, 01 Jan 2024 10:00:00
        # GMT"); read as the XML path reads dates, they were lost and every item dated anew.
        return _struct_date(parse_date(value.strip()), now)


def _json_entry(item: Mapping[str, Any], base: str, now: datetime, feed_author: str | None) -> EntryData | None:
    # The item's own page, else the page it links to: also when its url is no http(s) link.
    link = _absolute_link(base, _json_str(item, "url")) or _absolute_link(base, _json_str(item, "external_url"))
    title = _title_text(_json_str(item, "title"), None)
    content_html = _json_str(item, "content_html")
    content_text = _json_str(item, "content_text")
    raw_content = content_html or content_text
    key = entry_key(_json_str(item, "id"), link, title, raw_content)
    if key is None:
        return None
    content, content_type = (sanitize_html(content_html, base) or None) if content_html else None, "html"
    if content is None and content_text:
        content, content_type = content_text.strip(), "text"
    elif content is not None and content_text and content_text.strip() and not sanitize_html(
            content_html or "", base, embeds=False):
        # The HTML was only a video's embed, now its link: the text is the same item's
        # words (JSON Feed: "the HTML or plain text of the item"), and the link follows them.
        content = f"<p>{text_as_html(content_text.strip())}</p>{content}"
    raw_summary = _json_str(item, "summary")  # plain text by the spec
    summary = text_as_html(raw_summary) if raw_summary else None
    if raw_summary and (raw_summary.strip() == (content_text or "").strip()
                        or html.escape(raw_summary.strip(), quote=False) == content):
        # The item's own text (shown as its content, or beside its HTML) is no summary of it.
        summary = None
    return EntryData(
        key=key,
        title=title,
        link=link,
        summary=summary,
        content=content,
        content_type=content_type if content else "html",
        published=_json_date(item.get("date_published"), now),
        updated=_json_date(item.get("date_modified"), now),
        author=_json_author(item) or feed_author,
        enclosures=_enclosures(base, [(a.get("url"), a.get("mime_type"), a.get("size_in_bytes"))
                                      for a in attachments if isinstance(a, dict)])
        if isinstance(attachments := item.get("attachments"), list) else (),
        # JSON Feed's "main image for the item" is its explicit picture: first.
        image=_image(base, [(item.get("image"), True), (item.get("banner_image"), True),
                            *((a.get("url"), _is_image_type(a.get("mime_type")))
                              for a in (attachments if isinstance(attachments, list) else ()) if isinstance(a, dict))]),
    )
