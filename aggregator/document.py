"""A fetched document before any parser reads it: what it is, whether it is safe, and the
repairs feedparser needs.

- Safety: documents that declare XML entities are refused, under every decoding a parser
  might apply (billion laughs, XXE).
- What it is: an HTML page is no feed; the feeds it advertises (``<link rel="alternate">``)
  are named in the error, for a site's page given as a source.
- Repairs, each for a document feedparser would misread: UTF-16 with a byte order mark,
  character references to no character, relative ``xml:base`` nested under another; and
  whether a document ends inside an entry (an answer cut off).
- Links: http(s) URLs only, resolved against a base.
"""

from __future__ import annotations

import codecs
import re
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from aggregator.errors import ParseError

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
# An entry's start and end tags, of any prefix (RSS <item>, Atom <entry>; not <items>).
_ENTRY_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s>]")
_ENTRY_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>")
# A feed document's root end tag (RSS <rss>, Atom <feed>, RSS 1.0 <rdf:RDF>), of any prefix.
_ROOT_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:rss|feed|RDF)\s*>")
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


def _unfinished(body: bytes) -> bool:
    """Whether ``body`` ends before its root element does (no ``</rss>``, ``</feed>`` or
    ``</rdf:RDF>``): cut off, between entries (a PHP error after one) or inside one, the
    entries after the cut are missing, whatever the entries before it lost."""
    return _ROOT_END.search(_ascii_view(body)) is None


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
        # feedparser then decodes with the code page the declaration names (cp500...),
        # where "!" and "[" are other bytes than in cp037: read it as feedparser does.
        declared = _XML_ENCODING.match(body.decode("cp037").encode("utf-8"))
        if declared:
            charsets.append(declared.group(1).decode("ascii", "replace"))
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
