"""Render one FeedView as an Atom 1.0 document: feedgen writes the feed, lxml the entries.

feedgen writes the feed's head (id, title, updated, author, links, generator). An
entry is built with lxml directly, in the very element order and form feedgen
gives it, and serialized once per publish: an item appears in up to fifty feeds, and
building each one through feedgen's ``FeedEntry`` cost more than the rest of a
publish together. Writing entries ourselves also lets ``atom:source`` carry the
``id``, ``title`` and ``updated`` that the W3C validator wants (feedgen writes a
title and a link only) and keeps each link's ``rel`` (feedgen 1.0 drops it). The
``<source>`` of a source and a ``<category>`` repeat in thousands of entries: lxml
serializes each once and the bytes are spliced in. Every date comes from the data, never from the clock, so the same view always renders to
the same bytes; tests/data/publish_golden_*.xml pin them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from functools import lru_cache
from typing import overload
from html import escape
from html.entities import name2codepoint
from urllib.parse import quote

from feedgen.feed import FeedGenerator
from lxml import etree

from aggregator.sanitize import html_to_text
from aggregator.text import drop_not_xml
from aggregator.types import Enclosure, FeedView, PublishedItem, SourceInfo

GENERATOR_NAME = "aggregator"
# Bumped whenever the same stored data renders to other bytes (a fix of how something is
# written): part of the publish stamp, so an upgrade republishes every feed once rather
# than when its data next changes. 2: hrefs as valid IRIs; entries without an author
# credit their source; atom:source's updated is the entry's own; enclosures. 3: hrefs
# with non-ASCII characters as URIs. 4: text that reads as markup as escaped HTML.
# 5: the title as the content of an entry with neither content nor link. 6: no e-mail
# address in an author's name. 7: a non-ASCII host in IDNA 2008 (ß kept), or escaped.
# 8: the source's title standing in for a name that was only an address, as a name.
# 9: no C1 control or U+FFFD in text (BadCharacters). 10: characters no IRI may hold
# escaped in a link's host too. 11: a feed title or category label that reads as markup
# as escaped HTML, or what HTML shows of it. (An entry's picture, media:thumbnail, needed
# no bump: no item stored before it had one.) 12: the title as the content of an entry
# with a link and no text of its own (MissingTextualContent).
RENDERING = 12
_FEED_END = b"</feed>\n"
_ENTRY_START = b"<entry>\n"
_ENTRY_END = b"</entry>\n"
_CATEGORIES_TAG = "categories"  # a placeholder, never published: no Atom element has this name
_CATEGORIES_MARK = b"  <categories/>\n"
_SOURCE_UPDATED = b"<updated/>"  # the only one in a source's bytes: lxml escapes every "<" of text
_UTC = timezone.utc
_SubElement = etree.SubElement
# Media RSS: its media:thumbnail is the picture readers take for an Atom entry (YouTube's
# Atom feeds carry one; feedparser reads it as media_thumbnail, Miniflux's Atom reader as the
# first of the entry's files; the W3C validator checks it in an entry). Declared on the
# element itself: entries are serialized on their own and spliced into each feed.
MEDIA_NS = "http://search.yahoo.com/mrss/"
_THUMBNAIL = "{%s}thumbnail" % MEDIA_NS
_MEDIA_NSMAP = {"media": MEDIA_NS}


# ASCII characters no IRI may hold (RFC 3987): controls and spaces, '"<>\^`{|}', and
# brackets outside an IPv6 host. Feeds do send links with them; an href that kept them
# would make our feed invalid Atom (the W3C validator's InvalidUriChar). Non-ASCII ones
# too: the validator IDNA-encodes an href whole, and a non-ASCII run between two dots
# longer than a DNS label (a Cyrillic slug) or mixing Arabic and Latin letters fails
# that (InvalidIRI). As UTF-8 percent-escapes (RFC 3987 §3.1) the link is the same.
_NOT_IRI = re.compile(r'[^\x21-\x7e]|["<>\\^`{|}\[\]]')
# The same in the scheme and authority, where brackets enclose an IPv6 host.
_NOT_IRI_AUTHORITY = re.compile(r'[^\x21-\x7e]|["<>\\^`{|}]')
_AUTHORITY = re.compile(r"[^:/?#]*://[^/?#]*")
_HOST = re.compile(r"(?<=://)(?:[^@/?#]*@)?([^@:/?#]+)")


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _quote_match(match: re.Match[str]) -> str:
    return quote(match.group(), safe="")


def _escape(part: str) -> str:
    return _NOT_IRI.sub(_quote_match, part)


def _idna_host(authority: str) -> str:
    """``authority`` (``scheme://user@host:port``) in ASCII: its host in IDNA 2008 with
    UTS #46, as browsers and our fetcher spell it (IDNA 2003 maps ``ß`` and ``ς`` away:
    ``straße.de`` would become another host, ``strasse.de``), else IDNA 2003 as the
    fetcher falls back to; a name neither can spell (a label longer than DNS allows) as
    UTF-8 percent-escapes (RFC 3987 §3.1), as every other non-ASCII character."""
    host = _HOST.search(authority)
    if host is None:
        return _NON_ASCII.sub(_quote_match, authority)
    name = host[1]
    if not name.isascii():
        import idna  # its tables take ≈ 1 MiB: only for the rare international host name

        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except UnicodeError:
            try:
                name = name.encode("idna").decode("ascii")
            except UnicodeError:
                name = _NON_ASCII.sub(_quote_match, name)
    return (_NON_ASCII.sub(_quote_match, authority[:host.start(1)]) + name
            + _NON_ASCII.sub(_quote_match, authority[host.end(1):]))


# Plain text holding an end tag ("</b>") or what reads as a character reference ("&amp",
# "&#38") is taken for undeclared markup by the W3C validator (ContainsUndeclaredHTML).
_END_TAG = re.compile(r"</\w+>")
_REFERENCE = re.compile(r"&(#?\w+)")


# An address in angle brackets inside a name, as the validator recognises one.
_EMAIL_IN_NAME = re.compile(r"<[\w\-+.']+@(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.|(?:[a-z0-9\-]+\.)+)[a-z0-9][-a-z0-9]*>",
                            re.IGNORECASE | re.ASCII)


def _reads_as_markup(text: str) -> bool:
    if "</" in text and _END_TAG.search(text):
        return True
    return "&" in text and any(
        ref in name2codepoint or ref == "apos" or not ref.isalpha() for ref in _REFERENCE.findall(text))


def _person_name(name: str) -> str:
    """``name`` as an author's name: what HTML would show of it when it reads as markup
    (a name has no type to declare: ContainsHTML otherwise), without an address in angle
    brackets ("Jane Doe <jane@example.com>": ContainsEmail). Empty when it was only one."""
    if _reads_as_markup(name):
        name = html_to_text(name) or name
    if "@" in name and "<" in name:
        name = " ".join(_EMAIL_IN_NAME.sub(" ", name).split())
    return name


def _text_construct(parent: etree._Element, tag: str, text: str, **attrs: str) -> None:
    """``<tag>text</tag>`` with ``attrs``, or, when the text reads as markup, the same
    text as escaped HTML (line breaks kept as <br>): a reader shows the same, and the
    validator finds the type it expects."""
    if _reads_as_markup(text):
        _SubElement(parent, tag, type="html").text = escape(text, quote=False).replace("\n", "<br>\n")
    else:
        _SubElement(parent, tag, attrs).text = text


def _iri(url: str) -> str:
    """``url`` as an href: those characters percent-encoded, a non-ASCII host in IDNA."""
    if not _NOT_IRI.search(url):
        return url
    authority = _AUTHORITY.match(url)
    host_end = authority.end() if authority else 0
    head = url[:host_end]
    if not head.isascii():
        head = _idna_host(head)
    if _NOT_IRI_AUTHORITY.search(head):
        head = _NOT_IRI_AUTHORITY.sub(_quote_match, head)  # "exa mple.org": no host, but a valid IRI
    return head + _escape(url[host_end:])


def as_utc(value: datetime, what: str) -> datetime:
    """Aware UTC copy of ``value``; naive datetimes are refused, their offset is unknown."""
    if value.tzinfo is _UTC:
        return value  # the store's own dates: already UTC, nothing to convert
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value!r}")
    return value.astimezone(_UTC)


def format_date(value: datetime) -> str:
    """RFC 3339 text as feedgen writes it (``isoformat`` of an aware UTC datetime)."""
    return as_utc(value, "date").isoformat()


def feed_updated(view: FeedView, fallback_updated: datetime) -> datetime:
    """The feed's ``updated``: its newest entry's, or the fallback when it has none."""
    if not view.items:
        return as_utc(fallback_updated, "fallback_updated")
    return max(as_utc(item.updated, f"updated of {item.id}") for item in view.items)


def _text(parent: etree._Element, tag: str, text: str) -> None:
    _SubElement(parent, tag).text = text


def _children_xml(build: Callable[[etree._Element], None]) -> bytes:
    """The serialized children of an ``<entry>`` that ``build`` fills, indented as they
    are inside any entry (lxml writes them; we only cut off the wrapper's own tags)."""
    wrapper = etree.Element("entry")
    build(wrapper)
    xml = etree.tostring(wrapper, pretty_print=True, encoding="UTF-8")
    if not (xml.startswith(_ENTRY_START) and xml.endswith(_ENTRY_END)):
        raise AssertionError("unexpected lxml output")  # an lxml upgrade changed its format
    return xml[len(_ENTRY_START):-len(_ENTRY_END)]


def _source_element(entry: etree._Element, src: SourceInfo) -> None:
    elem = _SubElement(entry, "source")
    _text(elem, "id", src.id)
    _text_construct(elem, "title", src.title)
    # Each entry's own updated goes here (_SOURCE_UPDATED), not the source's newest item
    # time: a new item of a source would change every feed holding any of its items.
    _SubElement(elem, "updated")
    if src.self_link:
        _SubElement(elem, "link", href=_iri(src.self_link), rel="self")
    if src.link:
        _SubElement(elem, "link", href=_iri(src.link), rel="alternate")


# A hundred sources and fifty topics recur across thousands of entries: their
# elements are serialized once (pure functions of their arguments, so the caches
# may outlive a publish) and spliced into each entry's bytes.
@lru_cache(maxsize=4096)
def _source_xml(src: SourceInfo) -> bytes:
    return _children_xml(lambda entry: _source_element(entry, src))


@lru_cache(maxsize=4096)
def _category_xml(slug: str, label: str) -> bytes:
    if _reads_as_markup(label):
        # An attribute declares no type (ContainsHTML): what HTML shows of it, else none.
        label = html_to_text(label)
        label = "" if _reads_as_markup(label) else label

    def build(entry: etree._Element) -> None:
        if label:
            _SubElement(entry, "category", term=slug, label=label)
        else:
            _SubElement(entry, "category", term=slug)

    return _children_xml(build)


def _entry_xml(item: PublishedItem, topic_titles: Mapping[str, str]) -> bytes:
    """One ``<entry>``, serialized on its own (pretty-printed, as feedgen would)."""
    if not (item.id and item.title):
        raise ValueError(f"entry {item.id!r} needs an id and a title")  # RFC 4287 §4.1.2
    # Element order is feedgen's: id, title, updated, author, content, summary,
    # categories, published, links, source.
    entry = etree.Element("entry")
    _SubElement(entry, "id").text = item.id
    _text_construct(entry, "title", item.title)
    updated = as_utc(item.updated, f"updated of {item.id}").isoformat()
    _SubElement(entry, "updated").text = updated
    published = as_utc(item.published, f"published of {item.id}").isoformat()
    # An entry without an author of its own would take the feed's (RFC 4287 §4.2.1): this
    # site's title. It is credited to the source that brought it instead, as Planet does.
    name = _person_name(item.author or item.source.title) or _person_name(item.source.title) or item.source.title
    _text(_SubElement(entry, "author"), "name", name)

    content, content_type = item.content, item.content_type
    summary = item.summary
    if not content and summary:
        # An entry without a body still shows its summary as its content.
        content, content_type, summary = summary, "html", None
    if content and content_type == "html":
        _SubElement(entry, "content", type="html").text = content
    elif content:
        _text_construct(entry, "content", content, type="text")
    else:
        # RFC 4287 §4.1.1.1: an entry needs content or an alternate link, and the W3C
        # validator warns of one with neither content nor summary (MissingTextualContent),
        # link or not; an empty one draws its NotBlank. The title, all there is, is the body.
        _text_construct(entry, "content", item.title, type="text")
    if summary and summary != content:
        _SubElement(entry, "summary", type="html").text = summary
    if item.topics:
        _SubElement(entry, _CATEGORIES_TAG)  # where the categories' bytes go
    _SubElement(entry, "published").text = published
    if item.link:
        _SubElement(entry, "link", href=_iri(item.link), rel="alternate", type="text/html")
    for via in item.via:
        _SubElement(entry, "link", href=_iri(via), rel="via")
    for enc in item.enclosures:
        attrs = {"href": _iri(enc.href), "rel": "enclosure"}
        if enc.type:
            attrs["type"] = enc.type
        if enc.length:  # 0 is how most feeds write "unknown" (RFC 4287's length is the file's size)
            attrs["length"] = str(enc.length)
        _SubElement(entry, "link", attrs)
    if item.image:
        _SubElement(entry, _THUMBNAIL, url=_iri(item.image), nsmap=_MEDIA_NSMAP)
    xml = etree.tostring(entry, pretty_print=True, encoding="UTF-8")
    if item.topics:
        # lxml escapes every "<" of text and attribute values, so this empty element
        # is the only "<categories/>" in the bytes.
        categories = b"".join(_category_xml(slug, topic_titles.get(slug, slug)) for slug in item.topics)
        xml = xml.replace(_CATEGORIES_MARK, categories, 1)
    # atom:source's updated: when the source last changed this entry, a snapshot that
    # stays as long as the entry does (RFC 4287 §4.2.11 lets the copy keep it).
    source = _source_xml(item.source).replace(_SOURCE_UPDATED, b"<updated>%s</updated>" % updated.encode(), 1)
    return xml[: -len(_ENTRY_END)] + source + _ENTRY_END


# What the W3C validator reports as BadCharacters in text: C1 controls (mostly Windows-1252
# text read as Latin-1) and U+FFFD (a decoder's mark for bytes it could not read). A C1
# control becomes the Windows-1252 character it stands for, as feedparser reads it in XML
# feeds (a JSON Feed's and the five code points Windows-1252 leaves unassigned are not
# read so), or goes; U+FFFD goes: the character it replaced is lost already.
_BAD_CHARACTERS = re.compile("[\x80-\x9f\ufffd]")
_BAD_CHARACTER_FIX: dict[int, str | None] = {0xFFFD: None}
for _code in range(0x80, 0xA0):
    try:
        _BAD_CHARACTER_FIX[_code] = bytes([_code]).decode("cp1252")
    except UnicodeDecodeError:
        _BAD_CHARACTER_FIX[_code] = None


def _has_bad_characters(text: str | None) -> bool:
    return text is not None and not text.isascii() and _BAD_CHARACTERS.search(text) is not None


@overload
def _fix_bad_characters(text: str) -> str: ...
@overload
def _fix_bad_characters(text: None) -> None: ...
def _fix_bad_characters(text: str | None) -> str | None:
    return text.translate(_BAD_CHARACTER_FIX) if text is not None and _has_bad_characters(text) else text


def _without_bad_characters(item: PublishedItem) -> PublishedItem:
    """``item`` with its text free of BadCharacters (the same object when it has none).
    Stored as sent: what fingerprints compare is what the source sent."""
    src = item.source
    if not any(_has_bad_characters(t) for t in (item.title, item.content, item.summary, item.author, src.title)):
        return item
    return replace(
        item, title=_fix_bad_characters(item.title).strip() or item.title, content=_fix_bad_characters(item.content),
        summary=_fix_bad_characters(item.summary), author=_fix_bad_characters(item.author),
        source=replace(src, title=_fix_bad_characters(src.title).strip() or src.title),
    )


def _xml_safe(item: PublishedItem) -> PublishedItem:
    """``item`` without characters XML cannot hold. The store drops them on the way in;
    a database written before it did may still hold some, and one such item would
    otherwise fail every publish."""
    src = item.source
    return replace(
        item, id=drop_not_xml(item.id), title=drop_not_xml(item.title), link=drop_not_xml(item.link),
        content=drop_not_xml(item.content), summary=drop_not_xml(item.summary), author=drop_not_xml(item.author),
        via=tuple(drop_not_xml(v) for v in item.via),
        enclosures=tuple(Enclosure(drop_not_xml(e.href), drop_not_xml(e.type), e.length) for e in item.enclosures),
        image=drop_not_xml(item.image),
        source=replace(src, title=drop_not_xml(src.title), link=drop_not_xml(src.link),
                       self_link=drop_not_xml(src.self_link)),
    )


def render_atom(
    view: FeedView,
    *,
    base_url: str,
    site_title: str,
    fallback_updated: datetime,
    topic_titles: Mapping[str, str] | None = None,
    entry_cache: dict[str, bytes] | None = None,
) -> bytes:
    """Serialize ``view`` as Atom 1.0 bytes (UTF-8, with XML declaration).

    The feed id and its rel=self link are ``{base_url}/{slug}.xml``; entries keep
    the given order (newest first). Raises ValueError on naive datetimes or an entry
    without id or title; text XML cannot hold (control characters) is dropped.
    ``entry_cache`` (item id -> entry XML) lets the feeds of one publish share the
    entries they have in common; pass the same dict to every call of one publish.
    """
    root = base_url.rstrip("/")
    self_url = f"{root}/{view.slug}.xml"
    title = f"{site_title}: {view.title}"
    title_is_html = _reads_as_markup(title)  # as an entry's title is then (_text_construct)
    fg = FeedGenerator()
    fg.id(self_url)
    fg.title(escape(title, quote=False) if title_is_html else title)
    fg.updated(feed_updated(view, fallback_updated))
    fg.author(name=_person_name(site_title) or site_title)
    # Self link before the alternate one, as PRACTICES asks of every feed we write.
    fg.link(href=self_url, rel="self", type="application/atom+xml")
    fg.link(href=f"{root}/", rel="alternate", type="text/html")
    # No version attribute: it would change the bytes on every upgrade.
    fg.generator(GENERATOR_NAME)
    # feedgen writes the feed's head; each entry is serialized once per publish and
    # spliced in, so an item shared by several topic feeds costs one rendering.
    head = fg.atom_str(pretty=True)
    if not head.endswith(_FEED_END):
        raise AssertionError("unexpected feedgen output")  # a feedgen upgrade changed its format
    if title_is_html:
        # feedgen writes no type; its first <title> is the feed's (lxml escapes "<" in text).
        head = head.replace(b"<title>", b'<title type="html">', 1)
    cache = entry_cache if entry_cache is not None else {}
    titles = topic_titles or {}
    parts = [head[: -len(_FEED_END)]]
    for item in view.items:
        xml = cache.get(item.id)
        if xml is None:
            item = _without_bad_characters(item)
            try:
                xml = _entry_xml(item, titles)
            except ValueError:
                safe = _xml_safe(item)
                if safe == item:
                    raise
                xml = _entry_xml(safe, titles)
            cache[item.id] = xml
        parts.append(xml)
    parts.append(_FEED_END)
    return b"".join(parts)
