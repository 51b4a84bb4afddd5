"""Check an Atom document against RFC 4287's RELAX NG schema and the W3C validator's rules.

The schema catches structure only; the W3C feed validator also warns about the
things listed in PRACTICES.md "Valid and warning-free Atom". ``validate_atom``
returns one message per problem (empty when the feed is clean), so a test can
``assert validate_atom(path) == []`` and see every problem at once.
"""

from __future__ import annotations

import html.entities
import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
from lxml import etree

ATOM_NS = "http://www.w3.org/2005/Atom"
XHTML_NS = "http://www.w3.org/1999/xhtml"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
SCHEMA_PATH = Path(__file__).parent / "data" / "atom.rng"

# RFC 3339 date-time: a full date, a time, optional fraction, and a mandatory offset.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})"
)
# Attributes inside (X)HTML content that carry URLs the validator resolves.
_URL_ATTRS = ("href", "src", "cite", "action", "poster", "background", "longdesc")
# The HTML elements the W3C validator accepts inside escaped HTML; every other one draws
# SecurityRisk (bdo, script, iframe, object, embed, style, ...). From its HTMLValidator.
_SAFE_ELEMENTS = frozenset("""
    a abbr acronym address area article aside audio b bdi big blockquote br button canvas caption
    center cite code col colgroup command data datagrid datalist dd del details dfn dialog dir div dl
    dt em eventsource fieldset figcaption figure footer font form header h1 h2 h3 h4 h5 h6 hgroup hr
    i img input ins keygen kbd label legend li m main map mark menu meter multicol nav nextid ol
    output optgroup option p picture pre progress q rp rt ruby s samp section select small sound
    source spacer span strike strong sub summary sup table tbody td template textarea time tfoot th
    thead tr track tt u ul var video noscript wbr""".split())
# Attributes it accepts on them (besides data-*); others draw SecurityRiskAttr, style
# DangerousStyleAttr. Only the ones a sanitizer might plausibly keep are listed: anything
# else in our output is a finding either way.
_SAFE_ATTRIBUTES = frozenset("""
    abbr align alt border cellpadding cellspacing cite class colspan datetime dir headers height href
    hreflang lang rel reversed rowspan scope span src start summary target title type width""".split())
# A text construct (type "text", or none) whose text holds an HTML end tag or what reads
# as a character reference draws ContainsUndeclaredHTML, an author's name or a category's
# label ContainsHTML: the validator takes it for markup that no type declares.
_END_TAG = re.compile(r"</(\w+)>")
_REFERENCE = re.compile(r"&(#?\w+)")
_HTML_TAGS = _SAFE_ELEMENTS | frozenset(
    "applet base basefont bdo body embed frame frameset head html iframe isindex link meta noframes "
    "object param script slot style title xmp plaintext comment listing".split())
# An author's name holding "<user@host>" draws ContainsEmail.
_EMAIL_IN_NAME = re.compile(r"<[\w\-+.']+@(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.|(?:[a-z0-9\-]+\.)+)[a-z0-9][-a-z0-9]*>",
                            re.IGNORECASE | re.ASCII)
# Characters it reports as BadCharacters anywhere in text or attributes: C1 controls
# (mojibake of windows-1252) and U+FFFD (a decoder's replacement character).
_BAD_CHARACTERS = re.compile("[\x80-\x9f\ufffd]")
# Dates it calls ImplausibleDate: before 1990, or more than ten minutes ahead.
_PLAUSIBLE_SINCE = datetime(1990, 1, 1, tzinfo=timezone.utc)
# ASCII characters an IRI may hold (its rfc2396 check); any other one is InvalidUriChar.
_URI_CHARS = re.compile(r"[0-9A-Za-z;/?:@&=+$.\-_!~*'()%,#]*")


def _a(name: str) -> str:
    return f"{{{ATOM_NS}}}{name}"


@lru_cache(maxsize=1)
def _schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(SCHEMA_PATH)))


def _parse(path_or_bytes: str | Path | bytes) -> etree._Element:
    # Never expand entities or fetch a DTD: the documents under test are ours,
    # but the helper must not be a way to reach the network.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    if isinstance(path_or_bytes, bytes):
        return etree.fromstring(path_or_bytes, parser)
    return etree.parse(str(path_or_bytes), parser).getroot()


def _parse_date(text: str | None) -> datetime | None:
    """An aware datetime for RFC 3339 text with a timezone, else None."""
    if text is None or not _RFC3339.fullmatch(text.strip()):
        return None
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # e.g. month 13: matches the shape, is no date
        return None


def _is_absolute(url: str) -> bool:
    return bool(urlsplit(url.strip()).scheme)


def _has_base(elem: etree._Element) -> bool:
    """True when an ``xml:base`` is in scope at ``elem`` (relative refs then resolve)."""
    node: etree._Element | None = elem
    while node is not None:
        if node.get(XML_BASE):
            return True
        node = node.getparent()
    return False


def _where(entry: etree._Element, index: int) -> str:
    ident = entry.findtext(_a("id"))
    return f"entry {index} ({ident})" if ident else f"entry {index}"


def _relative_refs(content: etree._Element) -> list[str]:
    """URLs in href/src-like attributes of HTML or XHTML content that have no scheme."""
    kind = content.get("type", "text")
    if kind == "html":
        text = content.text or ""
        if not text.strip():
            return []
        roots = [lxml.html.fragment_fromstring(text, create_parent="div")]
    elif kind == "xhtml":
        roots = list(content)
    else:
        return []
    found = []
    for root in roots:
        for node in root.iter():
            if not isinstance(node.tag, str):
                continue  # comments and processing instructions carry no URLs
            for attr in _URL_ATTRS:
                url = node.get(attr)
                if url is not None and url.strip() and not _is_absolute(url):
                    found.append(url)
    return found


def _html_roots(elem: etree._Element) -> list[etree._Element]:
    kind = elem.get("type", "text")
    if kind == "html":
        text = elem.text or ""
        return [lxml.html.fragment_fromstring(text, create_parent="div")] if text.strip() else []
    if kind == "xhtml":
        return list(elem)
    return []


def _unsafe_html(elem: etree._Element) -> list[str]:
    """What the validator calls SecurityRisk in escaped HTML or XHTML: elements and
    attributes outside its safe lists."""
    found = []
    for root in _html_roots(elem):
        for node in root.iter():
            if not isinstance(node.tag, str) or node is root and elem.get("type") == "html":
                continue
            tag = etree.QName(node).localname.lower()
            if tag not in _SAFE_ELEMENTS:
                found.append(f"<{tag}> (SecurityRisk)")
            for attr in node.keys():
                name = etree.QName(attr).localname.lower()
                if name not in _SAFE_ATTRIBUTES and not name.startswith("data-"):
                    found.append(f"<{tag} {name}=...> (SecurityRiskAttr)")
    return found


def _undeclared_html(text: str | None) -> str | None:
    """The markup the validator sees in plain text, or None."""
    for tag in _END_TAG.findall(text or ""):
        if tag.lower() in _HTML_TAGS:
            return f"</{tag}>"
    for ref in _REFERENCE.findall(text or ""):
        if ref in html.entities.name2codepoint or ref == "apos" or not ref.isalpha():
            return f"&{ref}"
    return None


def _check_text(feed: etree._Element, problems: list[str]) -> None:
    texts = ("title", "subtitle", "rights", "summary", "content")
    for elem in feed.iter(*(_a(t) for t in texts)):
        tag = etree.QName(elem).localname
        if elem.get("type", "text") == "text" and elem.get("src") is None:
            markup = _undeclared_html(elem.text)
            if markup:
                problems.append(f"{tag} {elem.text!r}: text with {markup} (ContainsUndeclaredHTML)")
        for risk in _unsafe_html(elem):
            problems.append(f"{tag}: {risk}")
    for name in feed.iter(_a("name")):
        markup = _undeclared_html(name.text)
        if markup:
            problems.append(f"name {name.text!r}: text with {markup} (ContainsHTML)")
        if _EMAIL_IN_NAME.search(name.text or ""):
            problems.append(f"name {name.text!r}: holds an e-mail address (ContainsEmail)")
    for category in feed.iter(_a("category")):
        markup = _undeclared_html(category.get("label"))
        if markup:
            problems.append(f"category label {category.get('label')!r}: text with {markup} (ContainsHTML)")
    for elem in feed.iter():
        if not isinstance(elem.tag, str):
            continue
        for value in (elem.text, *elem.attrib.values()):
            if value and _BAD_CHARACTERS.search(value):
                problems.append(f"{etree.QName(elem).localname} {value!r}: C1 control or U+FFFD (BadCharacters)")
                break


def _iri_problem(href: str) -> str | None:
    """Why the validator refuses ``href`` as an IRI, or None. It IDNA-encodes the whole
    IRI first (each dot-separated run a label); a non-ASCII run too long for a label, or
    one IDNA refuses (right-to-left letters next to Latin ones), stays an invalid IRI."""
    try:
        value = href.encode("idna").decode("ascii")
    except UnicodeError:
        if not href.isascii():
            return "InvalidIRI"
        value = href
    if not _URI_CHARS.fullmatch(value):
        return "InvalidUriChar"
    return None


_DEFAULT_PORTS = {"http": "80", "https": "443"}
_UNRESERVED_ESCAPE = re.compile(r"%(?:[46][1-9A-Fa-f]|[57][0-9Aa]|3[0-9]|2[DEde]|5[Ff]|7[Ee])")


def _non_canonical(uri: str) -> bool:
    """True when the validator would call ``uri``, an id, not in canonical form
    (NonCanonicalURI): an http(s) URI with upper-case scheme or host, its default port,
    an empty path, an escaped unreserved character or lower-case escape digits."""
    parts = urlsplit(uri)
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        return False
    netloc = parts.netloc.rpartition("@")[2]
    return (
        parts.scheme != parts.scheme.lower() or netloc != netloc.lower() or not parts.path
        or netloc.endswith(":" + _DEFAULT_PORTS[parts.scheme.lower()]) or netloc.endswith(":")
        or bool(_UNRESERVED_ESCAPE.search(uri)) or bool(re.search(r"%[0-9A-F]?[a-f]", uri))
    )


def _check_ids(feed: etree._Element, problems: list[str]) -> None:
    for elem in feed.iter(_a("id")):
        ident = (elem.text or "").strip()
        if _non_canonical(ident):
            problems.append(f"id {ident!r} is not in canonical form (NonCanonicalURI)")


def _check_hrefs(feed: etree._Element, problems: list[str]) -> None:
    for link in feed.iter(_a("link")):
        href = link.get("href", "")
        problem = _iri_problem(href)
        if problem:
            problems.append(f"link href {href!r} ({problem})")
    # Media RSS pictures: the validator checks their url as a full URI (MissingAttribute,
    # InvalidFullLink, InvalidUriChar).
    for thumbnail in feed.iter("{http://search.yahoo.com/mrss/}thumbnail"):
        url = thumbnail.get("url", "")
        problem = "MissingAttribute" if not url else None if _is_absolute(url) else "InvalidFullLink"
        # A URI, not an IRI: unlike a link's href, the url is not IDNA-encoded before the check.
        problem = problem or (None if _URI_CHARS.fullmatch(url) else "InvalidUriChar")
        if problem:
            problems.append(f"media:thumbnail url {url!r} ({problem})")


def _check_dates(feed: etree._Element, problems: list[str]) -> None:
    latest = datetime.now(timezone.utc) + timedelta(minutes=10)
    empty = feed.find(_a("entry")) is None
    for elem in feed.iter(_a("updated"), _a("published")):
        when = _parse_date(elem.text)
        tag = etree.QName(elem).localname
        if when is None:
            problems.append(f"{tag} {elem.text!r} is not an RFC 3339 date with a timezone")
        elif when < _PLAUSIBLE_SINCE or when > latest:
            if empty and elem.getparent() is feed:
                continue  # DESIGN's updated of a feed without entries: all.xml's, the epoch when it has none
            problems.append(f"{tag} {elem.text!r} is implausible (ImplausibleDate: before 1990 or in the future)")


def _check_entries(feed: etree._Element, problems: list[str]) -> None:
    entries = feed.findall(_a("entry"))
    feed_has_author = feed.find(_a("author")) is not None
    seen_ids: dict[str, int] = {}
    seen_updated: dict[datetime, int] = {}
    for index, entry in enumerate(entries):
        where = _where(entry, index)
        ident = (entry.findtext(_a("id")) or "").strip()
        if ident in seen_ids:
            problems.append(f"{where}: id duplicates entry {seen_ids[ident]} (DuplicateEntries)")
        seen_ids.setdefault(ident, index)
        if ident and not _is_absolute(ident):
            problems.append(f"{where}: id {ident!r} is not an absolute IRI")
        updated = _parse_date(entry.findtext(_a("updated")))
        if updated is not None:
            if updated in seen_updated:
                problems.append(
                    f"{where}: updated duplicates entry {seen_updated[updated]} (DuplicateUpdated)"
                )
            seen_updated.setdefault(updated, index)
        if not feed_has_author and entry.find(_a("author")) is None:
            problems.append(f"{where}: no author on the entry or the feed (MissingElement author)")
        content = entry.find(_a("content"))
        alternates = [
            ln for ln in entry.findall(_a("link")) if ln.get("rel", "alternate") == "alternate"
        ]
        if content is None and not alternates:
            problems.append(f"{where}: neither content nor an alternate link (MissingContentOrAlternate)")
        if content is None and entry.find(_a("summary")) is None:
            problems.append(f"{where}: neither content nor summary (MissingTextualContent)")
        if content is not None and content.get("src") is not None and entry.find(_a("summary")) is None:
            problems.append(f"{where}: content with src and no summary (MissingSummary)")
        if content is not None and content.get("src") is None and not (content.text or "") and not len(content):
            problems.append(f"{where}: empty content (NotBlank)")
        for source in entry.findall(_a("source")):
            for part in ("id", "title", "updated"):
                if source.find(_a(part)) is None:
                    problems.append(f"{where}: atom:source has no {part} (MissingSourceElement)")
        for text_elem in (content, entry.find(_a("summary"))):
            if text_elem is None or _has_base(text_elem):
                continue
            tag = etree.QName(text_elem).localname
            for url in _relative_refs(text_elem):
                problems.append(f"{where}: relative URL {url!r} in {tag} (ContainsRelRef)")


def validate_atom(
    path_or_bytes: str | Path | bytes, *, self_url: str | None = None
) -> list[str]:
    """Every problem found in one Atom feed document; ``[]`` means valid and warning-free.

    ``self_url`` is the URL the file is served at; when given, the feed's
    ``rel=self`` link and its id must equal it. Without it, a ``rel=self`` link
    with an absolute URL is still required.
    """
    try:
        feed = _parse(path_or_bytes)
    except (etree.XMLSyntaxError, OSError) as e:
        return [f"not well-formed XML: {e}"]
    problems: list[str] = []
    schema = _schema()
    if not schema.validate(feed):
        problems.extend(f"schema: line {err.line}: {err.message}" for err in schema.error_log)
    if feed.tag != _a("feed"):
        problems.append(f"root element is {feed.tag}, not atom:feed")
        return problems

    for elem in feed.iter():
        if isinstance(elem.tag, str) and elem.get("type") == "CDATA":
            problems.append(f'{etree.QName(elem).localname} has type="CDATA", which Atom lacks')
    _check_dates(feed, problems)
    _check_text(feed, problems)
    _check_hrefs(feed, problems)
    _check_ids(feed, problems)

    selfs = [ln.get("href", "") for ln in feed.findall(_a("link")) if ln.get("rel") == "self"]
    if len(selfs) != 1:
        problems.append(f"feed has {len(selfs)} rel=self links, wants exactly 1")
    for href in selfs:
        if not _is_absolute(href):
            problems.append(f"rel=self {href!r} is not absolute")
        if self_url is not None and href != self_url:
            problems.append(f"rel=self {href!r} != {self_url!r} (SelfDoesntMatchLocation)")
    if self_url is not None and (feed.findtext(_a("id")) or "").strip() != self_url:
        problems.append(f"feed id {feed.findtext(_a('id'))!r} != {self_url!r}")

    _check_entries(feed, problems)
    return problems
