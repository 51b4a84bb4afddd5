"""Feed parsing: a pure function of (final URL, body bytes, response headers).

RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 go through feedparser; JSON Feed 1.x, which
feedparser does not read, through the small reader at the end of this module.
Documents that declare XML entities are refused before any XML parser runs
(billion laughs, XXE). feedparser is told neither to sanitize nor to rewrite
content: our single nh3 pass in ``aggregator.sanitize`` does both, which saves a
second HTML parse of every fragment.
"""

from __future__ import annotations

import calendar
import codecs
import hashlib
import html
import io
import json
import logging
import re
import time
import xml.sax
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.html
from lxml import etree

from aggregator.errors import ParseError
from aggregator.fastparse import fast_feed
from aggregator.sanitize import html_to_text, sanitize_html
from aggregator.text import drop_not_xml
from aggregator.types import Enclosure, EntryData, FeedData

__all__ = ["parse_feed", "entry_key", "clamp_date"]

log = logging.getLogger(__name__)

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
# An entry's start and end tags, of any prefix (RSS <item>, Atom <entry>; not <items>).
_ENTRY_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>]")
_ENTRY_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>")
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9A-Fa-f]+)|([0-9]+));")
_CHARSET_PARAM = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
_EBCDIC_SIGNATURE = b"\x4c\x6f\xa7\x94"  # "<?xm" in EBCDIC, as feedparser detects it
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
# A markup declaration's text up to its ">" (or the DOCTYPE's "["), quoted literals whole:
# possessive, so an unterminated literal fails at once instead of backtracking.
_DECLARATION_TEXT = re.compile(rb"""(?:[^"'\[>]++|"[^"]*+"|'[^']*+')*+""")
# What can end an internal subset, open its next part, or (a stray quote) derail a parser there.
_SUBSET_STOP = re.compile(rb"[\"'\]<]")
_HTML_ROOT = re.compile(rb"<(?:html|head|body)\b", re.IGNORECASE)
_HTML_DOCTYPE = re.compile(rb"<!DOCTYPE\s+html", re.IGNORECASE)
# An http(s) URL whose authority urlsplit takes as is (ASCII, no brackets, no spaces
# or controls, ended by "/", "?", "#" or the end): it has a scheme and a netloc.
_PLAIN_HTTP_URL = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9._~!$&'()*+,;=:@%-]+(?:[/?#]|\Z)")


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
    content_type = headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not body or body.isspace():  # isspace stops at the first non-space: no copy
        raise ParseError("not a feed: empty body")
    if looks_like_json(body, media_type):
        return parse_json_feed(url, body, now=now)
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
        return _feed_data(url, feed_dict, raw_entries, None, now, feed_dict.get("author"))
    return _parse_with_feedparser(url, body, content_type, now)


def _parse_with_feedparser(url: str, body: bytes, content_type: str, now: datetime) -> FeedData:
    """The feedparser path: every document the fast path declines, and the tests' reference."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    # No content-location on purpose: feedparser would then also resolve GUIDs and
    # atom:ids against the fetch URL, so every key would change when a feed moves.
    # We resolve links and content against xml:base (which feedparser tracks) and
    # then the fetch URL ourselves.
    body, content_type = _utf16_as_utf8(body, content_type)
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
    if bad_refs:
        refs = f"malformed XML recovered: {bad_refs} character reference(s) to surrogates or beyond U+10FFFF"
        warning = f"{refs}; {warning}" if warning else refs
    if parsed.get("bozo") and raw_entries and _cut_short(body):
        # The document ends inside an entry (a transfer or a server's output cut off):
        # the last entry recovered has lost text, and stored, it would overwrite that
        # entry's complete version (or, keyed by its title, be a new item). The next
        # whole document brings it.
        raw_entries = raw_entries[:-1]
        cut = "the document is cut short: its last entry was left out"
        warning = f"{warning}; {cut}" if warning else cut
    # An Atom feed's author is its entries' when they name none (RFC 4287 §4.2.1).
    atom = str(parsed.get("version") or "").startswith("atom")
    feed_author = (parsed.feed.get("author_detail") or {}).get("name") if atom else None
    return _feed_data(url, parsed.feed, raw_entries, warning, now, (feed_author or "").strip() or None)


_DECLARED_ENCODING = re.compile(r"""(<\?xml[^>]*?encoding\s*=\s*["'])[^"']*""")


def _utf16_as_utf8(body: bytes, content_type: str) -> tuple[bytes, str]:
    """A UTF-16 document with a byte order mark, as UTF-8 (declaration and charset to match).

    The mark decides a document's encoding (XML 1.0 appendix F, RFC 7303 §3), but
    feedparser reads such a document only when it also declares encoding="utf-16" and
    is not served as text/*: without the declaration expat meets the mark as a stray
    character. Other documents are returned as they are.
    """
    if not body.startswith((b"\xff\xfe", b"\xfe\xff")) or body.startswith(b"\xff\xfe\x00\x00"):
        return body, content_type  # no UTF-16 mark (FF FE 00 00 is UTF-32's)
    try:
        text = body.decode("utf-16")  # reads the mark and drops it
    except UnicodeDecodeError:
        return body, content_type
    text = _DECLARED_ENCODING.sub(r"\g<1>utf-8", text[:200], count=1) + text[200:]
    media_type = content_type.split(";", 1)[0].strip()
    return text.encode("utf-8"), f"{media_type}; charset=utf-8" if media_type else ""


_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
_STRICT_XML = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _absolute_bases(url: str, body: bytes, content_type: str) -> tuple[bytes, str]:
    """The document with every xml:base made absolute against the chain above it and ``url``.

    feedparser only resolves an xml:base against one with a scheme: with no
    content-location given (see above), a relative base on the feed takes, but one
    nested in it (an entry's "2024/" under the feed's "/blog/") is dropped, and links
    resolve against the wrong folder. Each base is resolved against the nearest one above
    it as XML Base says, by ``urljoin`` as links are (lxml's ``.base`` answers the document
    URL for a base that is an IRI, not a URI: "/café/"). Only a well-formed document with
    a base feedparser drops, whose bytes lxml decodes as feedparser would, is rewritten;
    any other is returned as it is.
    """
    if b"xml:base" not in body:
        return body, content_type
    header = _CHARSET_PARAM.search(content_type)
    declared = _XML_ENCODING.match(body)
    if header:
        try:
            own = declared.group(1).decode("ascii") if declared else "utf-8"
            if codecs.lookup(header.group(1)).name != codecs.lookup(own).name:
                return body, content_type  # the HTTP charset wins in feedparser, not in lxml
        except LookupError:
            return body, content_type
    try:
        root = etree.fromstring(body, _STRICT_XML)
    except (etree.LxmlError, ValueError):
        return body, content_type
    based = [element for element in root.iter() if element.get(_XML_BASE) is not None]
    try:
        if not any(_dropped_by_feedparser(element) for element in based):
            # feedparser resolves these alike. Rewritten, the outermost relative base would
            # be absolute against the fetch URL, and feedparser resolves relative ids and
            # GUIDs against it too: keys would change with the feed's URL.
            return body, content_type
    except ValueError:  # a base urlsplit refuses ("http://[oops/"): feedparser copes with it
        return body, content_type
    for element in based:  # in document order: the bases above it are absolute already
        above = next((a.get(_XML_BASE) for a in element.iterancestors() if a.get(_XML_BASE) is not None), url)
        try:
            element.set(_XML_BASE, urljoin(above, element.get(_XML_BASE)))
        except ValueError:  # e.g. an unbalanced "[" in a host: left for feedparser
            continue
    media_type = content_type.split(";", 1)[0].strip()
    rewritten = etree.tostring(root.getroottree(), encoding="utf-8", xml_declaration=True)
    return rewritten, f"{media_type}; charset=utf-8" if media_type else ""


def _dropped_by_feedparser(element: etree._Element) -> bool:
    """Whether feedparser drops ``element``'s xml:base: a relative one with only relative
    ones above it (under an absolute one it resolves, and alone it takes it as it is)."""
    value = element.get(_XML_BASE)
    if not value or urlsplit(value).scheme:
        return False
    above = [a.get(_XML_BASE) for a in element.iterancestors() if a.get(_XML_BASE) is not None]
    return bool(above) and not any(urlsplit(base).scheme for base in above)


def _repair_char_refs(body: bytes) -> tuple[bytes, int]:
    """``body`` with each numeric character reference to no character replaced, and how many.

    feedparser's loose parser raises on ``&#xD800;`` or ``&#x110000;``
    (kurtmckee/feedparser#591), failing the whole feed; some servers write an emoji as
    its UTF-16 pair, ``&#55357;&#56832;``. A high and low surrogate side by side become
    the character they encode; any other such reference becomes U+FFFD. ASCII-compatible
    encodings only: in UTF-16 the pattern never matches and the body is left as it is.
    """
    if b"&#" not in body:
        return body, 0
    bad = []
    for ref in _CHAR_REF.finditer(body):
        value = _char_ref_value(ref)
        if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
            bad.append((ref.start(), ref.end(), value))
    if not bad:
        return body, 0
    out: list[bytes] = []
    pos = i = 0
    while i < len(bad):
        start, end, value = bad[i]
        if (0xD800 <= value <= 0xDBFF and i + 1 < len(bad) and bad[i + 1][0] == end
                and 0xDC00 <= bad[i + 1][2] <= 0xDFFF):
            value = 0x10000 + ((value - 0xD800) << 10) + (bad[i + 1][2] - 0xDC00)
            end = bad[i + 1][1]
            i += 1
        else:
            value = 0xFFFD
        out += (body[pos:start], b"&#%d;" % value)
        pos, i = end, i + 1
    out.append(body[pos:])
    return b"".join(out), len(bad)


def _char_ref_value(ref: re.Match[bytes]) -> int:
    hex_digits, digits = ref.groups()
    text = (hex_digits or digits).lstrip(b"0")
    if len(text) > 8:
        return 0x110000  # far beyond Unicode; int() would refuse thousands of digits
    return int(text or b"0", 16 if hex_digits else 10)


def _cut_short(body: bytes) -> bool:
    """Whether ``body`` ends inside an entry: its last ``item`` or ``entry`` start tag has
    no end tag after it. (A document that only lacks its closing ``</channel></rss>``
    is a common malformation and loses nothing.)"""
    view = _ascii_view(body)
    last_start = max((m.start() for m in _ENTRY_START.finditer(view)), default=-1)
    return last_start >= 0 and _ENTRY_END.search(view, last_start) is None


def _feed_data(
    url: str, feed: Mapping[str, Any], raw_entries: list[Any], warning: str | None, now: datetime,
    feed_author: str | None = None,
) -> FeedData:
    """Map feedparser-shaped dictionaries (from either path) to ``FeedData``; ``feed_author``
    is the author of the entries that name none."""
    entries: list[EntryData] = []
    for index, raw in enumerate(raw_entries):
        try:
            entry = _entry(raw, url, now, feed_author)
        except Exception as exc:  # one bad entry must never sink the feed
            log.warning("%s: skipping entry %d: %s", url, index, exc)
            continue
        if entry is not None:
            entries.append(entry)
    return FeedData(
        url=url,
        title=_title_text(feed.get("title"), feed.get("title_detail")),
        link=_absolute_link(url, feed.get("link")),
        entries=tuple(entries),
        warning=warning,
    )


def _ascii_view(body: bytes) -> bytes:
    """The body with UTF-16/32 zero bytes dropped, so markup checks see ASCII."""
    head = body[:4]
    if b"\x00" in head or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return body.replace(b"\x00", b"").lstrip(b"\xff\xfe")
    return body


def _security_views(body: bytes, content_type: str) -> list[bytes]:
    """The body as each decoding feedparser might apply would present it to expat.

    feedparser transcodes to UTF-8 before parsing, from the HTTP charset, the XML
    declaration or an EBCDIC signature; a declaration hidden by one of those codecs
    (UTF-7, EBCDIC, UTF-16 without a BOM...) must not slip past a bytes-only look.
    """
    views = [_ascii_view(body)]
    charsets: list[str] = []
    header = _CHARSET_PARAM.search(content_type)
    if header:
        charsets.append(header.group(1))
    declared = _XML_ENCODING.match(views[0])
    if declared:
        charsets.append(declared.group(1).decode("ascii", "replace"))
    if body.startswith(_EBCDIC_SIGNATURE):
        charsets.append("cp037")
    seen: set[str] = {"utf-8"}
    for charset in charsets:
        try:
            name = codecs.lookup(charset.strip()).name
        except (LookupError, ValueError):
            continue
        if name in seen:
            continue
        seen.add(name)
        try:
            views.append(body.decode(name, "replace").encode("utf-8", "replace"))
        except Exception:  # a codec that fails even with "replace" cannot feed expat either
            continue
    return views


def _reject_entity_declarations(sample: bytes) -> None:
    """Refuse a document that declares entities, before a parser can expand them.

    Conservative on purpose: any "<!ENTITY" before the root element's start tag is
    refused, wherever it sits (internal subset, literal, comment: feedparser lifts
    declarations even out of prolog comments). Only where the root starts takes care,
    and ``_root_start`` errs towards later, never earlier.
    """
    if _ENTITY_DECL.search(sample, 0, _root_start(sample)):
        raise ParseError("refused: the document's DOCTYPE declares XML entities (never expanded)")


def _root_start(sample: bytes) -> int:
    """Where the root element's start tag begins, found the way an XML parser finds it.

    Walks the prolog (declaration, PIs, comments, whitespace, the DOCTYPE with its
    literals and internal subset), so no "<a" or "]>" inside a comment, PI or quoted
    literal ends it early. Anything the walk cannot place (text, an unterminated
    construct, a root name feedparser would not see as one) answers the whole body.
    """
    pos, size = 0, len(sample)
    if sample.startswith(b"\xef\xbb\xbf"):
        pos = 3
    while pos != -1:
        while pos < size and sample[pos] in b" \t\r\n":
            pos += 1
        if sample.startswith(b"<?", pos):
            pos = _after(sample, b"?>", pos + 2)
        elif sample.startswith(b"<!--", pos):
            pos = _after(sample, b"-->", pos + 4)
        elif sample[pos : pos + 9].upper() == b"<!DOCTYPE":
            pos = _declaration_end(sample, pos + 9, doctype=True)
        elif _FIRST_ELEMENT.match(sample, pos):
            return pos
        else:
            return size
    return size


def _after(sample: bytes, token: bytes, pos: int) -> int:
    """The index just past the next ``token`` at or after ``pos``, or -1."""
    end = sample.find(token, pos)
    return -1 if end == -1 else end + len(token)


def _declaration_end(sample: bytes, pos: int, *, doctype: bool) -> int:
    """The index just past the ">" closing the markup declaration ``pos`` is in, or -1.

    Quoted literals are skipped whole (a system id or entity value may hold ">" or
    "]"), and so is the DOCTYPE's internal subset.
    """
    while pos != -1:
        text = _DECLARATION_TEXT.match(sample, pos)  # always matches, if only ""
        pos = text.end() if text else pos
        char = sample[pos : pos + 1]
        if char == b">":
            return pos + 1
        if char != b"[":
            return -1  # the end of the body, or a literal that never closes
        pos = _subset_end(sample, pos + 1) if doctype else pos + 1
    return -1


def _subset_end(sample: bytes, pos: int) -> int:
    """The index just past the "]" closing an internal subset that opens before ``pos``, or -1."""
    while pos != -1:
        found = _SUBSET_STOP.search(sample, pos)
        if found is None:
            return -1
        char, start = found.group(), found.start()
        if char == b"]":
            return start + 1
        if char != b"<":
            return -1  # a literal outside any declaration: no parser reads on, so neither do we
        if sample.startswith(b"<!--", start):
            pos = _after(sample, b"-->", start + 4)
        elif sample.startswith(b"<?", start):
            pos = _after(sample, b"?>", start + 2)
        else:
            pos = _declaration_end(sample, start + 1, doctype=False)
    return -1


def _is_html_page(sample: bytes) -> bool:
    """True when the document's first markup is an HTML doctype or root element."""
    first_element = _FIRST_ELEMENT.search(sample)
    if first_element is None:
        return False
    prolog_end = first_element.start()
    if _HTML_DOCTYPE.search(sample, 0, prolog_end + 1):
        return True
    return _HTML_ROOT.match(sample, prolog_end) is not None


def _html_page_message(url: str, body: bytes, kind: str) -> str:
    """The error for an HTML page, naming the feeds it advertises: a site's home page
    pasted as a source is the usual cause, and its <link rel="alternate"> the fix."""
    feeds = advertised_feeds(url, body)
    if not feeds:
        return f"not a feed: got an HTML page ({kind})"
    if len(feeds) == 1:
        return f"not a feed: got an HTML page ({kind}); the page names its feed: {feeds[0]} (make that the url)"
    listed = ", ".join(feeds[:3]) + (", ..." if len(feeds) > 3 else "")
    return f"not a feed: got an HTML page ({kind}); the page names its feeds: {listed} (make one the url)"


# A longer URL is named by no feed in practice, and a hostile page's megabyte href would be
# kept in the source's error, its fetch history and every /healthz answer.
_NAMED_URL_MAX = 2048
_FEED_LINK_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/feed+json",
                              "application/json", "application/rdf+xml", "application/xml", "text/xml"})


def advertised_feeds(url: str, body: bytes) -> list[str]:
    """The http(s) URLs of the feeds an HTML page announces with ``<link rel="alternate"
    type="application/rss+xml" href="...">`` (and Atom, JSON Feed), in document order,
    resolved against its ``<base href>`` or ``url``; ``url`` itself is left out."""
    try:
        doc = lxml.html.document_fromstring(body)
    except (etree.LxmlError, ValueError):
        return []
    base = url
    for element in doc.iter("base"):
        href = element.get("href")
        if href:
            base = _absolute_link(url, href) or url
            break
    found: dict[str, None] = {}  # a dict, not a list: a hostile page may hold 100,000 links
    for element in doc.iter("link"):
        rel = (element.get("rel") or "").lower().split()
        kind = (element.get("type") or "").split(";", 1)[0].strip().lower()
        if "alternate" not in rel or kind not in _FEED_LINK_TYPES:
            continue
        link = _absolute_link(base, element.get("href"))
        if kind == "application/json" and link and "/wp-json/" in link:
            continue  # WordPress's REST API announces each page so: no feed
        if link and len(link) <= _NAMED_URL_MAX and link != url:  # not the page itself
            found[link] = None
    return list(found)


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
    """An entry's identity in its source: GUID, else link, else a hash of title and content."""
    for candidate in (guid, link):
        if candidate:
            candidate = candidate.strip()
            if candidate:
                return candidate
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


def _http_url(value: str | None) -> str | None:
    """``value`` stripped if it is an absolute http(s) URL; javascript: and such are dropped."""
    if not value:
        return None
    value = value.strip()
    if _PLAIN_HTTP_URL.match(value):
        return value  # the common case, without urlsplit's object churn
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _absolute_link(base: str, value: str | None) -> str | None:
    """``value`` resolved against ``base``, kept only if it is an http(s) URL."""
    if not value:
        return None
    value = value.strip()
    if not value:
        return None
    if value[:8].lower().startswith(("http://", "https://")):
        return _http_url(value)  # already absolute: urljoin is the slowest step here
    try:
        return _http_url(urljoin(base, value))
    except ValueError:
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


def _entry(raw: Any, feed_url: str, now: datetime, feed_author: str | None = None) -> EntryData | None:
    get = raw.get  # one bound method for the dozen look-ups below (the per-entry hot path)
    raw_title = get("title")
    title = _title_text(raw_title, get("title_detail")) if raw_title else None

    contents = get("content")
    content_detail = _best_content(contents) if contents else None
    summary_detail = get("summary_detail")
    raw_summary: str | None = get("summary") or None
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
            summary = html.escape(raw_summary.strip(), quote=False)
        summary = summary or None

    raw_link = get("link")
    if get("guidislink") and raw_link == get("id") and _http_url(raw_link) is None:
        # feedparser copies a permalink GUID into the link; an id like "post-17" is
        # no URL, and resolving it against the feed URL would invent a dead link.
        raw_link = None
    link = _absolute_link(feed_url, raw_link)
    key = entry_key(get("id"), link, title, raw_content or raw_summary)
    if key is None:
        return None

    # feedparser answers updated_parsed with published_parsed when the entry has no
    # updated element of its own; dict.__contains__ sees only what the feed said.
    updated_struct = get("updated_parsed") if dict.__contains__(raw, "updated_parsed") else None
    published_struct = get("published_parsed")
    author_detail = get("author_detail")
    author = ((author_detail and author_detail.get("name")) or get("author") or "").strip() or None
    if author is None:
        # RFC 4287 §4.2.1: the authors of the entry's atom:source, else the feed's.
        source = get("source")
        source_author = source and ((source.get("author_detail") or {}).get("name") or "").strip()
        author = source_author or feed_author

    files = get("enclosures")
    return EntryData(
        key,
        title,
        link,
        summary,
        content or None,
        content_type,
        _struct_date(published_struct, now) if published_struct else None,
        _struct_date(updated_struct, now) if updated_struct else None,
        author,
        # feedparser types an Atom link that names no type text/html: a file with that type is
        # one whose type is unknown (no enclosure is a web page), so it is published with none.
        # It leaves an RSS <enclosure>'s url as written: that resolves against the xml:base in
        # effect in the entry (its title's, else its summary's), as the entry's link does.
        enclosures=_enclosures(_content_base(feed_url, get("title_detail") or summary_detail),
                               [(f.get("href"), None if f.get("type") == "text/html" else f.get("type"),
                                 f.get("length")) for f in files])
        if files else (),
    )


MAX_ENCLOSURES = 20  # a feed's item with more is not a podcast episode: the rest are left out
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")


def _enclosures(base: str, found: Iterable[tuple[Any, Any, Any]]) -> tuple[Enclosure, ...]:
    """The files an entry carries, from its (href, type, length) triples as the source wrote
    them: http(s) URLs only (resolved against ``base``), each once; a type only when it is a
    media type, a length only when it is a byte count."""
    files: list[Enclosure] = []
    for href, kind, length in found:
        url = _absolute_link(base, href) if isinstance(href, str) else None
        if url is None or any(f.href == url for f in files):
            continue
        media_type = kind.split(";", 1)[0].strip().lower() if isinstance(kind, str) else ""
        size = str(length).strip() if isinstance(length, (str, int)) and not isinstance(length, bool) else ""
        files.append(Enclosure(
            drop_not_xml(url),
            media_type if _MEDIA_TYPE.fullmatch(media_type) else None,
            int(size) if size.isdigit() and size.isascii() and len(size) < 19 else None,
        ))
        if len(files) == MAX_ENCLOSURES:
            break
    return tuple(files)


def _best_content(contents: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The longest content value, HTML preferred over text when both exist."""
    usable = [c for c in contents if c.get("value")]
    if not usable:
        return None
    htmls = [c for c in usable if _is_html(c)]
    return max(htmls or usable, key=lambda c: len(c["value"]))


# --- JSON Feed 1.0 / 1.1 (https://jsonfeed.org/version/1.1) ---------------------

_JSON_TYPES = ("application/feed+json", "application/json")
_JSONFEED_VERSION = "https://jsonfeed.org/version/1"


def looks_like_json(body: bytes, media_type: str) -> bool:
    """JSON by its media type, or by a body that opens an object (no XML does)."""
    start = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start == b"<":
        return False  # markup served under a JSON type: content negotiation is no verdict
    return start == b"{" or media_type in _JSON_TYPES or media_type.endswith("+json")


def parse_json_feed(url: str, body: bytes, *, now: datetime) -> FeedData:
    """Read a JSON Feed 1.x document; anything else that is JSON raises ``ParseError``."""
    try:
        doc = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"not a feed: invalid JSON ({exc})") from exc
    except RecursionError as exc:  # the decoder recurses once per level of nesting
        raise ParseError("not a feed: invalid JSON (arrays or objects nested too deeply)") from exc
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or not version.startswith(_JSONFEED_VERSION):
        raise ParseError("not a feed: JSON document is not a JSON Feed (no jsonfeed.org version)")
    items = doc.get("items")
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
    )


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
            return str(author["name"]).strip()
    return None


def _json_date(value: Any, now: datetime) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        # RFC 3339 allows a lower-case "z", which fromisoformat refuses.
        return clamp_date(datetime.fromisoformat(value.strip().upper()), now)
    except (ValueError, OverflowError):  # an instant outside datetime's range in UTC, as in _struct_date
        return None


def _json_entry(item: Mapping[str, Any], base: str, now: datetime, feed_author: str | None) -> EntryData | None:
    raw_link = _json_str(item, "url") or _json_str(item, "external_url")
    link = _absolute_link(base, raw_link)
    title = _title_text(_json_str(item, "title"), None)
    content_html = _json_str(item, "content_html")
    content_text = _json_str(item, "content_text")
    raw_content = content_html or content_text
    key = entry_key(_json_str(item, "id"), link, title, raw_content)
    if key is None:
        return None
    if content_html:
        content, content_type = sanitize_html(content_html, base) or None, "html"
    else:
        content, content_type = (content_text.strip() if content_text else None), "text"
    raw_summary = _json_str(item, "summary")  # plain text by the spec
    summary = html.escape(raw_summary.strip(), quote=False) if raw_summary else None
    if summary and summary == content:
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
    )
