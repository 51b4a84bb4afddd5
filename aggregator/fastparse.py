"""The fast parsing path: well-formed RSS 2.0 and Atom 1.0 read from one strict lxml tree.

feedparser (about 1 MB/s here) dominates a refresh's CPU. Most feeds are well-formed
RSS 2.0 or Atom 1.0 with a handful of common elements, and for those this module
produces the same raw entry dictionaries that feedparser would (the keys
``aggregator.parse`` reads: title/_detail, link, id, guidislink, summary/_detail,
content, published_parsed, updated_parsed, author/_detail), so one mapping step in
``parse.py`` serves both paths and the results stay identical. The common Media RSS and
iTunes elements of news, YouTube and podcast feeds are read too, into the keys parse.py's
patched feedparser handlers fill (media_content, media_thumbnail, media_description,
itunes_summary, an episode's image, media:title as the title of an entry without one), and
so are Bing News' News:Source and News:Image (news_source, news_image: feedparser's names for
elements it has no handler for);
an unusual attribute (a base, a thumbnail's url as text) or a shape whose feedparser
reading hangs on depth and order (two media:titles, an empty title beside one) declines.

Identity with feedparser is the rule, not speed: ``fast_feed`` answers None, and the
caller falls back to feedparser, for anything whose feedparser result this module
does not reproduce exactly — malformed XML, a DOCTYPE, xml:base, an encoding choice
other than plain UTF-8/ASCII, RSS 1.0/0.9x and Atom 0.3, markup or comments inside a
text element, XHTML or base64 content, repeated fields (feedparser's precedence rules
for duplicates are intricate), and any element feedparser has a handler for that is
not handled here (it could feed a field we read). Dates go through feedparser's own
date handlers, given what the slow path gives them (an ISO 8601 zone without its colon is
read here, '+0530', as parse.py has feedparser read it), so both paths read every date alike;
the forms feedparser misread ("20240101T100000Z", "2024-060", "+5:30") are read by handlers
registered ahead of its own, on both paths.
"""

from __future__ import annotations

import calendar
import codecs
import re
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import feedparser
import feedparser.api
import feedparser.mixin
from feedparser.datetimes import _date_handlers, _parse_date
from feedparser.datetimes.asctime import _parse_date_asctime
from feedparser.datetimes.iso8601 import _iso8601_matches, _parse_date_iso8601
from feedparser.datetimes.perforce import _parse_date_perforce
from feedparser.datetimes.rfc822 import _parse_date_rfc822, day_names, timezone_names
from feedparser.datetimes.w3dtf import _parse_date_w3dtf
from lxml import etree

__all__ = ["fast_feed", "fast_path_count", "parse_date", "zone_in_range"]

# How many documents took the fast path (tests assert on it; cheap to keep).
fast_path_count = 0

_ATOM_NS = "http://www.w3.org/2005/Atom"
_ATOM_FEED = "{%s}feed" % _ATOM_NS
_RSS10_NAMESPACES = frozenset({"http://purl.org/rss/1.0/", "http://my.netscape.com/rdf/simple/0.9/"})

# feedparser's canonical prefix per namespace URI, and the element names it has
# handlers for: an element outside both our handled set and this list is stored by
# feedparser under its own name, which no field we read ever uses.
_MATCH_NAMESPACES: dict[str, str] = {k.lower(): v for k, v in feedparser.api.StrictFeedParser.namespaces.items()}
_HANDLED_BY_FEEDPARSER: frozenset[str] = frozenset(
    name.split("_", 2)[2]
    for name in dir(feedparser.api.StrictFeedParser)
    if name.startswith(("_start_", "_end_")) and len(name.split("_", 2)) == 3
)
# Keys feedparser derives from elements: an unknown element of that name would collide.
_RESERVED_KEYS = frozenset({"guidislink", "links", "tags", "authors", "contributors", "enclosures"})

_XML_DECL_ENCODING = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']+)[\"']")
_STRICT = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=False
)
# feedparser maps C1 controls to the Windows-1252 characters they usually meant.
_CP1252: dict[int, str] = {}
for _code in range(0x80, 0xA0):
    try:
        _CP1252[_code] = bytes([_code]).decode("cp1252")
    except UnicodeDecodeError:
        pass
_LATIN1_ONLY = re.compile("[\x00-\xff]*")
_C1_CONTROL = re.compile("[\x80-\x9f]")
_URI_FIXER = re.compile("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
_ENTITY_IN_LINK = re.compile("&([A-Za-z0-9_]+);")
# feedparser's e-mail pattern for "jo@example.org (Jo)" style RSS authors.
_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"""
    r"""([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)


class _NotFast(Exception):
    """This document needs feedparser to be read exactly as feedparser reads it."""


def fast_feed(body: bytes, content_type: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """(feed dict, entry dicts) shaped like feedparser's, or None to use feedparser.

    Never raises for bad input: anything unexpected means "not fast".
    """
    global fast_path_count
    # A one-byte search runs on memchr, many times faster than a multi-byte one: a
    # body without "!" (no DOCTYPE, CDATA or comment) skips two full scans.
    if b"xml:base" in body or (b"!" in body and (b"<!DOCTYPE" in body or b"<!doctype" in body)):
        return None
    if not _plain_utf8(body, content_type):
        return None
    try:
        root = etree.fromstring(body, _STRICT)
        if root.tag == "rss" and root.get("version") == "2.0":
            channel = _only_channel(root)
            result = _walk_feed(channel, atom=False)
        elif root.tag == _ATOM_FEED and not any(uri.lower() in _RSS10_NAMESPACES for uri in root.nsmap.values()):
            # feedparser takes the first of these namespaces it meets, in any case, for the version.
            if any(key.rpartition("}")[2].lower() == "base" for key in root.keys()):
                # feedparser takes a plain base attribute (or one in a namespace it does not
                # know) for xml:base: every link, id and fragment resolves against it.
                raise _NotFast("base attribute on the feed")
            result = _walk_feed(root, atom=True)
        else:
            return None
    except (_NotFast, etree.LxmlError, ValueError, UnicodeError):
        return None
    fast_path_count += 1
    return result


def _plain_utf8(body: bytes, content_type: str) -> bool:
    """True when feedparser would decode the body as UTF-8 (or it is ASCII) without a warning.

    Mirrors feedparser's RFC 3023 choice; lxml then reads the same characters.
    """
    if body[:1] != b"<":
        return False  # BOMs and leading whitespace: feedparser's sniffing decides
    mime, _, params = content_type.partition(";")
    mime = mime.strip()
    http_charset = ""
    for chunk in params.split(";"):
        key, _, value = chunk.partition("=")
        if key.strip().lower() == "charset":
            http_charset = value.strip().strip("\"'")
    declared = _XML_DECL_ENCODING.match(body)
    xml_encoding = declared.group(1).decode("ascii", "replace").lower() if declared else ""
    if mime in ("application/xml", "application/xml-dtd", "application/xml-external-parsed-entity") or (
        mime.startswith("application/") and mime.endswith("+xml")
    ):
        chosen = http_charset or xml_encoding or "utf-8"
    elif mime.startswith("text/"):
        chosen = http_charset or "us-ascii"
    else:
        chosen = xml_encoding or "utf-8"
    try:
        chosen_name = codecs.lookup(chosen).name
        declared_name = codecs.lookup(xml_encoding).name if xml_encoding else "utf-8"
    except LookupError:
        return False
    if body.isascii():
        return chosen_name in ("utf-8", "ascii") and declared_name in ("utf-8", "ascii")
    return chosen_name == "utf-8" and declared_name == "utf-8"


def _only_channel(rss: Any) -> Any:
    children = [c for c in rss if isinstance(c.tag, str)]
    if len(children) != 1 or children[0].tag != "channel" or set(rss.attrib) - {"version"}:
        raise _NotFast("rss without exactly one channel")
    if children[0].keys():
        # feedparser reads a channel's CDF attributes: href (in any namespace) as the feed's link.
        raise _NotFast("attributes on the channel")
    return children[0]


def _usual_prefix(uri: str) -> str | None:
    """feedparser's prefix for a namespace, or None for one it does not know."""
    lower = uri.lower()
    if "backend.userland.com/rss" in lower:
        lower = "http://backend.userland.com/rss"
    return _MATCH_NAMESPACES.get(lower)


# Tag -> feedparser name, for the tags whose name does not depend on the document's
# own prefixes (no namespace, or a namespace feedparser knows). Bounded: tags are
# whatever the feeds say.
_NAMES: dict[str, str] = {}
_NAMES_MAX = 2048


def _fp_name(element: Any) -> str:
    """The name feedparser's handlers know an element by (``dc_creator``, ``title``...)."""
    tag = element.tag
    name = _NAMES.get(tag)
    if name is not None:
        return name
    if not isinstance(tag, str):
        raise _NotFast("comment or processing instruction")
    if tag[0] == "{":
        uri, _, local = tag[1:].partition("}")
        prefix = _usual_prefix(uri)
        if prefix is None:
            prefix = element.prefix
            if not prefix:
                raise _NotFast("unknown default namespace")  # expat reports these differently
            if sum(1 for other, bound in element.nsmap.items() if bound == uri and other) > 1:
                # feedparser names it by the prefix bound first, not by the one it is written with.
                raise _NotFast("unknown namespace bound to several prefixes")
            local = local.lower()
            return f"{prefix.lower()}_{local}"  # the document's own prefix: not cached
        local = local.lower()
        name = f"{prefix.lower()}_{local}" if prefix else local
    else:
        name = tag.lower()
    if len(_NAMES) < _NAMES_MAX:
        _NAMES[tag] = name
    return name


def _check_ignorable(element: Any) -> None:
    """An element we skip must be one feedparser also keeps out of our fields."""
    name = _fp_name(element)
    if (name in _HANDLED_BY_FEEDPARSER or name in _RESERVED_KEYS or name in _BING_KEYS or name == _ORIG_LINK
            or name.endswith(("_detail", "_parsed"))):
        # A News:Source (or an origLink) anywhere but an item's own child (deeper, or the
        # channel's) is feedparser's to place: it stores the shallowest in the entry or the feed.
        raise _NotFast(f"element {name} needs feedparser")
    for child in element:
        _check_ignorable(child)


def _text(element: Any) -> str:
    """An element's text as feedparser's pop() leaves it: stripped, with its encoding repairs."""
    if len(element):
        raise _NotFast("markup inside a text element")
    value = (element.text or "").strip()
    if not value.isascii():
        if _LATIN1_ONLY.fullmatch(value):
            try:
                value = value.encode("iso-8859-1").decode("utf-8")
            except UnicodeDecodeError:
                pass
        if _C1_CONTROL.search(value):
            value = value.translate(_CP1252)
    return value


def _resolve(value: str) -> str:
    """feedparser's resolve_uri with no base: only its "scheme:///" slash fix applies."""
    if ":///" not in value:
        return value  # the fix only ever removes slashes right after "scheme://"
    match = _URI_FIXER.match(value)
    return match.group(1) + value[match.end(2) :] if match else value


_TEXT_TYPES = {"text": "text/plain", "plain": "text/plain", "html": "text/html"}


def _content_type(element: Any, default: str) -> str:
    """The mapped type attribute; anything feedparser would treat as XHTML or base64 is refused."""
    keys = element.keys()  # a plain list: cheaper than the attrib proxy
    if not keys:
        return default
    if keys != ["type"]:
        raise _NotFast("attributes on a text element")
    value = element.get("type").lower()
    value = _TEXT_TYPES.get(value, value)
    if value not in ("text/plain", "text/html"):
        raise _NotFast(f"content type {value}")
    return value


def _looks_like_html(value: str) -> bool:
    if "<" not in value and "&" not in value:
        return False  # feedparser's test needs a close tag or an entity reference
    return bool(feedparser.api.StrictFeedParser.looks_like_html(value))


def _walk_feed(container: Any, *, atom: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    feed: dict[str, Any] = {}
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    entry_tag = "entry" if atom else "item"
    for child in container:
        name = _fp_name(child)
        if name == entry_tag:
            entries.append(_walk_entry(child, atom=atom))
            continue
        if name in ("title", "id"):  # links: the last alternate wins on both paths
            if name in seen:
                raise _NotFast(f"repeated feed {name}")
            seen.add(name)
        if name == "title":
            feed["title"], feed["title_detail"] = _title(child, atom=atom)
        elif name == "link":
            link = _link(child, atom=atom, in_entry=False)
            if link is not None:
                feed["link"] = link
        elif name == "id" and atom:
            if child.attrib:
                raise _NotFast("attributes on id")
            feed.setdefault("link", _resolve(_text(child)))  # feedparser's guid-is-link rule
        elif name == "author" and atom:  # the entries' author when they name none (RFC 4287 §4.2.1)
            if "author" in feed:
                raise _NotFast("several feed authors")
            feed["author"] = _author(child, atom=True)["author"]
        elif name in _FEED_IGNORED_ATOM if atom else name in _FEED_IGNORED_RSS:
            _check_leaf_or_simple(child)
        else:
            _check_ignorable(child)
    return feed, entries


# Feed-level elements feedparser handles but that feed nothing we read, as long as
# they hold only plain text (or, for author and image, only their usual children).
_FEED_IGNORED_RSS = frozenset(
    {"description", "language", "copyright", "managingeditor", "webmaster", "pubdate", "lastbuilddate",
     "category", "generator", "docs", "ttl", "image", "cloud", "rating", "skiphours", "skipdays",
     # A podcast's and a news site's channel: feedparser keeps these in feed fields we do not read
     # (an RSS channel's author is no entry's). Not media:title, which it reads as the feed's title.
     "itunes_author", "itunes_owner", "itunes_image", "itunes_category", "itunes_explicit", "itunes_summary",
     "itunes_subtitle", "itunes_keywords", "itunes_block", "media_thumbnail", "media_category", "media_keywords",
     "media_rating", "media_credit", "media_copyright",
     # As real channels write them: Anchor's <author>, Megaphone's show notes in content:encoded (a feed
     # summary and content to feedparser), The Guardian's Dublin Core date, language and rights, a
     # channel's atom:updated or <published>, TWiT's creativeCommons:license (a feed link of rel
     # "license", never the feed's link).
     "author", "content_encoded", "dc_date", "dc_language", "dc_rights", "dc_publisher", "dc_creator", "updated",
     "published", "creativecommons_license"}
)
_FEED_IGNORED_ATOM = frozenset(
    {"subtitle", "updated", "published", "author", "contributor", "category", "generator", "icon", "logo", "rights"}
)
# Their usual children. Only inside an image are a title and a link the image's own: anywhere
# else feedparser stores them as the feed's title and link.
_PERSON_CHILDREN = frozenset({"name", "email", "uri"})
_SIMPLE_CHILDREN: dict[str, frozenset[str]] = {
    "image": frozenset({"url", "title", "link", "width", "height", "description"}),
    "author": _PERSON_CHILDREN, "contributor": _PERSON_CHILDREN,
    "skiphours": frozenset({"hour"}), "skipdays": frozenset({"day"}),
    "itunes_owner": frozenset({"itunes_name", "itunes_email"}), "itunes_category": frozenset({"itunes_category"}),
}


def _check_leaf_or_simple(element: Any) -> None:
    name = _fp_name(element)
    allowed = _SIMPLE_CHILDREN.get(name, frozenset())
    for child in element:
        if _fp_name(child) not in allowed or len(child):
            raise _NotFast("unexpected nested element")
    if name[:6] in ("itunes", "media_"):
        _check_plain_attributes(element)
        for child in element:
            _check_plain_attributes(child)


def _check_plain_attributes(element: Any) -> None:
    """No attribute feedparser takes for a base (``base`` in any namespace), and none on an
    element whose handler reads only its text (feedparser's keyword handlers fail on one)."""
    keys = element.keys()
    if keys and (any(key.rpartition("}")[2].lower() == "base" for key in keys)
                 or _fp_name(element) in ("media_keywords", "itunes_keywords")):
        raise _NotFast("attributes on a media or itunes element")


def _link(element: Any, *, atom: bool, in_entry: bool, enclosures: list[dict[str, Any]] | None = None) -> str | None:
    """RSS <link>text</link> or Atom <link rel href type/>: the link feedparser stores
    from it (which also counts as an explicit link), or None when it stores none."""
    keys = element.keys()  # a plain list: cheaper than the attrib proxy
    if not keys and not atom:
        value = _resolve(_text(element))
        value = value.replace("&amp;", "&") if in_entry else value
        return _ENTITY_IN_LINK.sub(r"&\g<1>", value) if "&" in value else value
    attrs = {k.lower(): v for k, v in element.items()}
    if len(element) or (element.text or "").strip() or set(attrs) - {"rel", "type", "href", "hreflang",
                                                                       "title", "length"}:
        raise _NotFast("unusual link element")
    if "href" not in attrs:
        raise _NotFast("link without href")
    rel = attrs.get("rel", "alternate").lower()
    written = attrs.get("type", "application/atom+xml" if rel == "self" else "text/html").lower()
    kind = {"text": "text/plain", "plain": "text/plain", "html": "text/html",
            "xhtml": "application/xhtml+xml"}.get(written, written)
    if rel == "alternate" and kind in ("text/html", "application/xhtml+xml"):
        return _resolve(attrs["href"])
    if rel == "enclosure" and enclosures is not None:
        # feedparser's enclosure: the link's href resolved, its type as written (lower-cased,
        # text/html when none was given), not mapped as an alternate link's is.
        enclosures.append({"href": _resolve(attrs["href"]), "type": written, "length": attrs.get("length")})
    return None


# Entry field name -> the entry key it sets: a second element that would set a key
# already there needs feedparser's rules for duplicates (feedparser folds dc_creator
# into author, dc_date into updated, content:encoded into content, description into
# summary). Links are absent: the last alternate link wins on both paths.
_ENTRY_KEYS_RSS: dict[str, str] = {
    "title": "title", "guid": "id", "pubdate": "published_parsed", "description": "summary",
    "author": "author", "dc_creator": "author", "content_encoded": "content", "dc_date": "updated_parsed",
    "itunes_author": "author",  # feedparser's _start_itunes_author is its _start_author
    # An item's <updated> (Le Monde) or <published>, plain or Atom's: feedparser's handlers of
    # dc:date and pubDate are these.
    "updated": "updated_parsed", "published": "published_parsed",
}
_ENTRY_KEYS_ATOM: dict[str, str] = {
    "title": "title", "id": "id", "published": "published_parsed", "summary": "summary", "author": "author",
    "content": "content", "updated": "updated_parsed",
}
_ENTRY_IGNORED = frozenset({"category", "comments", "source", "contributor"})
# Bing News' outlet and picture (<News:Source>, <News:Image>): feedparser stores any element it
# has no handler for under its prefixed name, and parse.py reads these two of an RSS item.
_BING_KEYS = frozenset({"news_source", "news_image"})
# FeedBurner's <feedburner:origLink>, the item's own URL beside its feedproxy link: feedparser
# knows the namespace (any prefix is "feedburner") but has no handler, so it keeps the text.
_ORIG_LINK = "feedburner_origlink"

# Media RSS and iTunes elements feedparser handles into entry fields we do not read (credits,
# ratings, tags, flags, an episode's subtitle), as long as they hold only text.
_MEDIA_LEAVES = frozenset({
    "media_credit", "media_rating", "media_category", "media_keywords", "media_restriction", "media_license",
    "media_player", "itunes_explicit", "itunes_block", "itunes_subtitle", "itunes_keywords", "itunes_category",
})
# The attributes of a file (media:content) and a thumbnail as Media RSS writes them, lower-cased as
# feedparser hands them over. Any other (a base, a namespaced one) sends the document to feedparser.
_MEDIA_FILE_ATTRS = frozenset({"url", "type", "medium", "filesize", "width", "height", "duration", "bitrate",
                               "framerate", "samplingrate", "channels", "lang", "isdefault", "expression"})
_THUMBNAIL_ATTRS = frozenset({"url", "width", "height", "time"})


class _Media:
    """What an entry's Media RSS elements say that needs the whole entry to place: feedparser
    reads media:title as the entry's title (where it has none) and media:description as
    ``media_description`` (see parse._start_media_description)."""

    __slots__ = ("titles", "descriptions")

    def __init__(self) -> None:
        self.titles: list[tuple[str, dict[str, str]]] = []
        self.descriptions: list[tuple[str, str]] = []


def _media_attrs(element: Any, allowed: frozenset[str]) -> dict[str, str]:
    """The attributes feedparser's handler gets: names lower-cased, the type's value too."""
    attrs: dict[str, str] = {}
    for key, value in element.items():
        lower = key.lower()
        if lower not in allowed or lower in attrs:  # a namespaced name is "{uri}name": never allowed
            raise _NotFast("unusual media attributes")
        attrs[lower] = value.lower() if lower == "type" else value
    if (element.text or "").strip():
        raise _NotFast("text in a media file element")  # a thumbnail's text is its url to feedparser
    return attrs


def _media_leaf(element: Any) -> None:
    if len(element):
        raise _NotFast("markup inside a media element")
    _check_plain_attributes(element)


def _media_element(name: str, element: Any, entry: dict[str, Any], media: _Media, *, atom: bool,
                   in_group: bool = False) -> None:
    """One Media RSS or iTunes element of an entry (or of its media:group), read as feedparser
    with parse.py's handlers reads it, or _NotFast."""
    if name == "media_content":
        entry.setdefault("media_content", []).append(_media_attrs(element, _MEDIA_FILE_ATTRS))
        for child in element:
            child_name = _fp_name(child)
            if child_name == "media_thumbnail":
                _media_element(child_name, child, entry, media, atom=atom)
            elif child_name in ("media_title", "media_description"):
                if len(child):  # the file's own title and text: read as nothing (parse._file_text)
                    raise _NotFast("markup inside a media file's text")
            elif child_name in _MEDIA_LEAVES:
                _media_leaf(child)
            else:
                _check_ignorable(child)
    elif name == "media_thumbnail":
        if len(element):
            raise _NotFast("markup inside media:thumbnail")
        entry.setdefault("media_thumbnail", []).append(_media_attrs(element, _THUMBNAIL_ATTRS))
    elif name == "media_title":
        media.titles.append(_title(element, atom=atom))
    elif name == "media_description":
        kind = _content_type(element, "text/plain")
        value = _text(element)
        if not atom and kind == "text/plain" and _looks_like_html(value):
            kind = "text/html"
        media.descriptions.append((value, kind))
    elif name == "media_group" and not in_group:
        if element.keys():
            raise _NotFast("attributes on media:group")
        for child in element:
            child_name = _fp_name(child)
            if child_name in ("media_content", "media_thumbnail", "media_title", "media_description"):
                _media_element(child_name, child, entry, media, atom=atom, in_group=True)
            elif child_name in _MEDIA_LEAVES:
                _media_leaf(child)
            else:
                _check_ignorable(child)
    elif name == "itunes_image" and not in_group:
        if len(element) or element.keys() != ["href"] or (element.text or "").strip():
            raise _NotFast("unusual itunes:image")
        if "image" in entry:
            raise _NotFast("several itunes:image")
        href = element.get("href")
        entry["image"] = {"href": href} if href else None
    elif name == "itunes_summary" and not in_group:
        # parse._start_itunes_summary: the entry's own field, typed as a description is.
        if "itunes_summary" in entry:
            raise _NotFast("several itunes:summary")
        kind = _content_type(element, "text/plain")
        value = _text(element)
        if not atom and kind == "text/plain" and _looks_like_html(value):
            kind = "text/html"
        entry["itunes_summary"], entry["itunes_summary_detail"] = value, {"type": kind, "base": ""}
    elif name in _MEDIA_LEAVES and not in_group:
        _media_leaf(element)
    else:
        _check_ignorable(element)  # itunes:duration, :episode...: no handler, kept under their own names


def _place_media(entry: dict[str, Any], media: _Media, has_source: bool) -> None:
    """media:title and media:description where feedparser leaves them: a title that is not
    empty wins over a media:title wherever each is (the first sets feedparser's title depth,
    and a deeper or later media:title is dropped; an earlier one is overwritten)."""
    if media.titles:
        if len(media.titles) > 1 or has_source:  # <source> resets feedparser's title depth
            raise _NotFast("media:title beside several titles")
        if "title" in entry:
            if not entry["title"]:
                raise _NotFast("an empty title beside media:title")  # which wins depends on depth and order
        else:
            entry["title"], entry["title_detail"] = media.titles[0]
    if media.descriptions:
        if len(media.descriptions) > 1:
            raise _NotFast("several media:description")  # the shallowest's text, the last one's type
        value, kind = media.descriptions[0]
        entry["media_description"], entry["media_description_detail"] = value, {"type": kind, "base": ""}


def _walk_entry(item: Any, *, atom: bool) -> dict[str, Any]:
    """One pass over the entry's children, one dispatch per child (the hot loop of a refresh)."""
    if item.keys():
        raise _NotFast("attributes on an entry")
    entry: dict[str, Any] = {}
    keys = _ENTRY_KEYS_ATOM if atom else _ENTRY_KEYS_RSS
    explicit_link = guid_is_link = False
    guid_before_link = True
    media: _Media | None = None
    for child in item:
        name = _NAMES.get(child.tag) or _fp_name(child)
        if name == "link":
            link = _link(child, atom=atom, in_entry=True, enclosures=entry.setdefault("enclosures", []))
            if link == "" and not child.keys():
                continue  # an empty RSS <link/> is none (parse._end_link); an empty href is as feedparser reads it
            if link is not None:
                entry["link"] = link
                explicit_link = True
            continue
        key = keys.get(name)
        if key is None:
            if name == "enclosure":
                # feedparser's enclosure, in RSS and (out of place, but read) in Atom alike: a
                # link with the attributes as written, url as href.
                attrs = dict(child.items())
                if len(child) or "url" not in attrs or set(attrs) - {"url", "type", "length"}:
                    raise _NotFast("unusual enclosure")
                attrs["href"] = attrs.pop("url")
                entry.setdefault("enclosures", []).append(attrs)
            elif name == "source" and not atom:
                # RSS's <source url="...">Name</source>, the channel the item came from: feedparser's
                # ``source`` of it, {"href": url, "title": Name}. An atom:source is feedparser's.
                if "source" in entry or len(child) or set(child.keys()) - {"url"}:
                    raise _NotFast("unusual source")
                source = {"href": child.get("url")} if "url" in child.keys() else {}
                if value := _text(child):
                    source["title"] = value
                entry["source"] = source
            elif name in _BING_KEYS and not atom:
                # Bing News' <News:Source>Reuters</News:Source> and <News:Image>, in a namespace of
                # its own (the search's URL): feedparser keeps each under its prefixed name.
                if name in entry or len(child) or child.keys():
                    raise _NotFast(f"unusual {name}")
                entry[name] = _text(child)
            elif name == _ORIG_LINK:
                if name in entry or len(child) or child.keys():
                    raise _NotFast("unusual feedburner:origLink")
                entry[name] = _text(child)
            elif name in _ENTRY_IGNORED and not (atom and name in ("source", "contributor")):
                if len(child) or set(child.attrib) - {"domain", "url", "term", "scheme", "label"}:
                    raise _NotFast(f"unusual {name}")
            elif name[:6] in ("media_", "itunes"):
                if media is None:
                    media = _Media()
                _media_element(name, child, entry, media, atom=atom)
            else:
                _check_ignorable(child)
            continue
        if key in entry:
            raise _NotFast(f"repeated entry field {name}")
        if key == "title":
            entry["title"], entry["title_detail"] = _title(child, atom=atom)
        elif key == "id":
            attrs = child.keys()
            if attrs and attrs != ["isPermaLink"]:
                raise _NotFast("attributes on guid")
            guid_is_link = not attrs or child.get("isPermaLink") == "true"
            value = _text(child)
            entry["id"] = _resolve(value) if guid_is_link else value
            guid_before_link = not explicit_link
        elif key == "published_parsed" or key == "updated_parsed":
            if child.keys():
                raise _NotFast("attributes on a date")
            entry[key] = parse_date(_text(child))
        elif key == "summary":
            kind = _content_type(child, "text/plain" if atom else "text/html")
            value = _text(child)
            if not atom and kind == "text/plain" and _looks_like_html(value):
                kind = "text/html"
            entry["summary"], entry["summary_detail"] = value, {"type": kind, "base": ""}
        elif key == "content":
            if name == "content" and child.get("src") is not None:
                raise _NotFast("out-of-line content")
            kind = _content_type(child, "text/plain" if name == "content" else "text/html")
            value = _text(child)
            if not atom and kind == "text/plain" and _looks_like_html(value):
                kind = "text/html"
            entry["content"] = [{"type": kind, "value": value, "base": ""}]
        else:  # author
            entry.update(_author(child, atom=atom))
    if media is not None:
        _place_media(entry, media, not atom and any(c.tag == "source" for c in item))
        if entry.get("image", 0) is None:
            del entry["image"]  # an itunes:image with an empty href: feedparser stores none
    if "id" in entry:
        entry["guidislink"] = guid_is_link and guid_before_link
        if guid_is_link and not explicit_link:
            entry["link"] = entry["id"]
    content = entry.get("content")
    if content and "summary" not in entry:
        entry["summary"] = content[0]["value"]  # feedparser copies content into summary
    return entry


# The two date forms nearly every feed uses, exactly as written by the RFCs. For these,
# feedparser's first handler (W3DTF) or its RFC 822 handler is the one that answers,
# and the aware datetime below is the instant its UTC struct_time stands for.
_RFC822 = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"(\d{4}) (\d\d):(\d\d):(\d\d) (GMT|UTC?|Z|[+-]\d{4})"
)
# W3DTF with an offset written with its colon or without (feedparser's handlers read
# "+0530" as "+05:30", see _zone_with_colon) and at most six fraction digits (it truncates
# them through a float, which could round up to 60).
_W3DTF = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d{1,6})?(Z|[+-]\d\d:?\d\d)")
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"), 1)}
_MONTH_DIGITS = {name: f"{number:02d}" for name, number in _MONTHS.items()}


def _rfc822_without_zone(value: str) -> time.struct_time | None:
    """An RFC 822 date with a day name and a time but no zone ("Mon, 01 Jan 2024 10:00:00"),
    read as UTC. feedparser reads it so without the day name, but with one it counts the
    parts before removing the name and finds too few: the date was lost."""
    parts = value.split()
    if len(parts) == 5 and parts[0][:3].lower() in day_names and ":" in parts[4]:
        return _parse_date_rfc822(f"{value} GMT")
    return None


# Time zones written by name that feedparser does not know (its own table holds the US
# ones, UT/GMT/Z, MET/MEST and military letters): it reads the time as UTC, hours off for a
# European, Russian or Asian site ("10:00:00 CET" is 09:00 UTC). Only names that mean one
# zone wherever feeds use them: IST (India, Ireland, Israel) and the like stay unread.
ZONE_OFFSETS: dict[str, str] = {
    "wet": "+0000", "west": "+0100", "bst": "+0100", "cet": "+0100", "cest": "+0200",
    "eet": "+0200", "eest": "+0300", "msk": "+0300", "msd": "+0400", "wat": "+0100",
    "cat": "+0200", "sast": "+0200", "eat": "+0300", "pkt": "+0500", "wib": "+0700",
    "hkt": "+0800", "sgt": "+0800", "awst": "+0800", "jst": "+0900", "kst": "+0900",
    "acst": "+0930", "acdt": "+1030", "aest": "+1000", "aedt": "+1100", "nzst": "+1200",
    "nzdt": "+1300", "hst": "-1000", "akst": "-0900", "akdt": "-0800", "nst": "-0330",
    "ndt": "-0230",
}


def _rfc822_named_zone(value: str) -> time.struct_time | None:
    """An RFC 822 date whose zone is a name of ZONE_OFFSETS, at that offset."""
    head, _, zone = value.strip().rpartition(" ")
    offset = ZONE_OFFSETS.get(zone.lower())
    return _parse_date_rfc822(f"{head} {offset}") if offset and head else None


# Registered once, ahead of feedparser's own handlers: both paths read dates through them.
feedparser.registerDateHandler(_rfc822_without_zone)
feedparser.registerDateHandler(_rfc822_named_zone)


# A numeric zone after a time of day ("10:00:00 +0100", "10:00:00.5-05:00", "10:00 GMT+01:00").
_NUMERIC_ZONE = re.compile(r"\d:\d\d(?::\d\d(?:[.,]\d*)?)?\s*(?:gmt|utc?)?\s*[+-](\d\d)(?::?(\d\d))?", re.IGNORECASE)


def zone_in_range(value: str) -> bool:
    """False for a numeric zone no date can have: RFC 3339 and RFC 5322 write hours 00-23 and
    minutes 00-59 ("+2500", "-99:00", "+0099"); feedparser's handlers took it as so many hours."""
    match = _NUMERIC_ZONE.search(value)
    return match is None or (int(match.group(1)) < 24 and int(match.group(2) or 0) < 60)


def _iso8601_in_range(value: str) -> bool:
    """False for an ISO 8601 date with a field out of its range ("2024-02-30", hour 99, minute
    61): feedparser's ISO 8601 handler lets mktime() roll it over into a real date (1 March)."""
    for match in _iso8601_matches:
        found = match(value)
        if found:
            break
    else:
        return True  # the handler reads nothing from it
    fields = found.groupdict()
    year = int(fields["year"]) if fields.get("year") and len(fields["year"]) == 4 else 2000  # a leap year
    month, day, ordinal = (int(fields.get(k) or 0) for k in ("month", "day", "ordinal"))
    if fields.get("month") and not 1 <= month <= 12:
        return False
    if fields.get("day") and not 1 <= day <= calendar.monthrange(year, month or 1)[1]:
        return False
    if fields.get("ordinal") and not 1 <= ordinal <= 365 + calendar.isleap(year):
        return False
    hour, minute, tz_hour, tz_minute = (int(fields.get(k) or 0) for k in ("hour", "minute", "tzhour", "tzmin"))
    second = float(fields.get("second") or 0)
    if hour == 24 and (minute or second or fields.get("fracsecond")):
        return False  # 24:00:00 alone is a time: ISO 8601's end of a day
    return hour <= 24 and minute < 60 and second < 61 and tz_hour < 24 and tz_minute < 60  # :60 a leap second


# A numeric zone without its colon after an ISO 8601 time ("10:00:00+0530", "10:00 -0330").
_ZONE_WITHOUT_COLON = re.compile(r"(:\d\d(?:[.,]\d+)?\s?[+-]\d\d)(\d\d)\s*$")


def _zone_with_colon(handler: Any) -> Any:
    """``handler`` given an ISO 8601 date's zone with its colon: feedparser's W3DTF handler
    reads the minutes of "+0530" from their last digit (India's 10:00 was 05:00 UTC, not
    04:30; Nepal's "+0545" 04:55, not 04:15), and its ISO 8601 handler drops them."""
    def handler_with_colon(value: str) -> Any:
        return handler(_ZONE_WITHOUT_COLON.sub(r"\1:\2", value, count=1))

    handler_with_colon.__name__ = handler.__name__
    return handler_with_colon


def _checked(handler: Any, *checks: Any) -> Any:
    def checked_handler(value: str) -> Any:
        return handler(value) if all(check(value) for check in checks) else None

    checked_handler.__name__ = handler.__name__
    return checked_handler


def _perforce_in_range(value: str) -> bool:
    """False for a Perforce date ("Fri, 2006/09/15 08:19:53 EDT") no calendar has: its handler
    rolls it over as the ISO 8601 one does."""
    found = re.search(r"(\d{,4})/(\d{,2})/(\d{2}) (\d{,2}):(\d{2}):(\d{2})", value)
    if found is None:
        return True
    try:
        year, month, day, hour, minute, second = (int(part) for part in found.groups())
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    return True


# An impossible date counts as none, as an undated entry's (it takes the time it was first
# seen), on both paths: feedparser's handlers, in their list, refuse what is out of range.
# W3DTF's and RFC 822's handlers already refuse an impossible day or time (datetime does).
_CHECKS: dict[Any, tuple[Any, ...]] = {
    _parse_date_w3dtf: (zone_in_range,), _parse_date_rfc822: (zone_in_range,),
    _parse_date_iso8601: (_iso8601_in_range,), _parse_date_asctime: (zone_in_range,),
    _parse_date_perforce: (_perforce_in_range,),
}
_date_handlers[:] = [_checked(_zone_with_colon(h) if h in (_parse_date_w3dtf, _parse_date_iso8601) else h, *_CHECKS[h])
                     if h in _CHECKS else h for h in _date_handlers]
_FEEDPARSERS_HANDLERS = list(_date_handlers)  # feedparser's, checked as above


def _iso8601_whole(value: str) -> bool:
    """False for a date feedparser's ISO 8601 handler stops reading inside of: its patterns
    match a prefix, and it took "20240101T100000Z" (the basic format) and "2024-01-01
    10:00:00 UTC" for midnight, "2024/01/01 10:00" and the week date "2024-W01-1" for the
    first of the current month, "10:00:00+5:30" for UTC. Such a date counts as none; a
    time it read whole, a word after it ("10:00:00 GMT", "-05:00 (EST)"), is read as before."""
    value = _ZONE_WITHOUT_COLON.sub(r"\1:\2", value, count=1)
    for match in _iso8601_matches:
        found = match(value)
        if found:
            after = value[found.end():]
            rest = after.strip()
            if not rest.rstrip(".,;"):
                return True  # "2024-01-01T10:00:00Z," as a sentence ends it
            if after[0] in "0123456789,.:+-" or rest[0] in "+-":
                return False  # and "20240101T10:00:00 +0100": a zone, not a word
            return found.group("hour") is not None or not any(c.isdigit() for c in rest)
    return True


# ISO 8601's basic format, as some generators write dc:date or updated ("20240101T100000Z",
# "20240101T1000+0530"), written out in the extended one that the W3DTF handler reads.
_ISO8601_BASIC = re.compile(
    r"(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d(?:[.,]\d+)?)?\s*(Z|[+-]\d\d(?::?\d\d)?)?", re.IGNORECASE)
# ISO 8601's ordinal date ("2024-060", the 60th day), which feedparser's first pattern that
# matches takes for year and month ("2024-06", 1 June): written out as its calendar date.
_ISO8601_ORDINAL = re.compile(r"(\d{4})-(\d{3})((?:T|\s+)\d.*)?", re.IGNORECASE | re.DOTALL)
# A numeric zone written short after a time of day: its hour in one digit ("+5:30", "-3"),
# or after the name of UTC ("GMT+2", "UTC+05:30", "UTC-0300"; feedparser read "UTC+2" as
# UTC and lost "GMT+2").
_SHORT_ZONE = re.compile(
    r"(.*\d:\d\d(?::\d\d(?:\.\d+)?)?)(\s*)(?:(gmt|utc?)\s*)?([+-])(\d\d?)(?::?(\d\d))?\s*", re.IGNORECASE | re.DOTALL)
# A fraction of a second written with a comma, ISO 8601's other decimal sign
# ("10:00:00,5+01:00": the ISO 8601 handler dropped the zone).
_COMMA_FRACTION = re.compile(r"(.*\d:\d\d:\d\d),(\d.*)", re.DOTALL)
# An ISO 8601 date and time followed by the name of its zone ("2024-01-01 10:00:00 UTC", as
# Ruby's Time#to_s writes it, was read as midnight; "T10:00:00 CET" as UTC): one feedparser's
# RFC 822 handler knows (UTC, GMT, EST, ...; no military letter but Z) or of ZONE_OFFSETS.
_ISO8601_NAMED_ZONE = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?)\s*([a-z]{1,5})", re.IGNORECASE)
# An ISO 8601 date and time with a numeric zone and then its name, bare or in parentheses, as
# Go's time.Time.String() writes it ("2024-01-01 10:00:00 +0000 UTC", read as midnight) or
# with a comment ("T10:00:00+0530 (IST)", read with the zone's minutes dropped): the number is
# the zone, the name a comment (RFC 5322's "+0100 (CET)").
_ISO8601_ZONE_AND_NAME = re.compile(
    r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?\s*[+-]\d\d:?\d\d)\s*(?:\([^()]*\)|[a-z]{1,5})",
    re.IGNORECASE)


def _iso8601_basic(value: str) -> time.struct_time | None:
    """A date in ISO 8601's basic format, read as its extended form is."""
    found = _ISO8601_BASIC.fullmatch(value.strip())
    if found is None:
        return None
    year, month, day, hour, minute, second, zone = found.groups()
    second = (":" + second.replace(",", ".")) if second else ""
    zone = zone.upper() if zone else ""
    return _parse_date(f"{year}-{month}-{day}T{hour}:{minute}{second}{zone}")


def _iso8601_ordinal(value: str) -> time.struct_time | None:
    """An ISO 8601 ordinal date (and time), read as its calendar date is; a day the year
    has not (000, 366 of 2023) is no date."""
    found = _ISO8601_ORDINAL.fullmatch(value.strip())
    if found is None:
        return None
    year, ordinal, rest = int(found.group(1)), int(found.group(2)), found.group(3) or ""
    if not 1 <= ordinal <= 365 + calendar.isleap(year) or year < 1:
        return None
    day = datetime(year, 1, 1) + timedelta(days=ordinal - 1)
    return _parse_date(f"{day.year:04d}-{day.month:02d}-{day.day:02d}{rest}")


def _short_zone(value: str) -> time.struct_time | None:
    """A date whose numeric zone is written short (``_SHORT_ZONE``), read as with the
    zone written in full ("+05:30")."""
    found = _SHORT_ZONE.fullmatch(value)
    if found is None:
        return None
    head, space, name, plus, hours, minutes = found.groups()
    if len(hours) == 2 and minutes and not name:
        return None  # written in full: the handlers below read it (its hours alone, "+01",
        # only the ISO 8601 one, after a "T": PostgreSQL's "2024-01-01 10:00:00-05" was lost)
    return _parse_date(f"{head}{space or (' ' if name else '')}{plus}{int(hours):02d}:{minutes or '00'}")


def _comma_fraction(value: str) -> time.struct_time | None:
    """A date whose fraction of a second is written with a comma, read as with a point."""
    found = _COMMA_FRACTION.fullmatch(value)
    return _parse_date(f"{found.group(1)}.{found.group(2)}") if found else None


def _zone_offset(name: str) -> str | None:
    """The offset ("+0100") of a zone written by name: UTC, one feedparser's RFC 822 handler
    knows or one of ZONE_OFFSETS. No military letter but Z (RFC 822 wrote them backwards),
    and the two-letter US names ("ET", "AT") only in capitals: "at" and "et" are words."""
    lower = name.lower()
    if lower == "utc":
        return "+0000"
    hours = timezone_names.get(lower) if len(name) > 2 or lower in ("z", "ut") or name.isupper() and len(name) == 2 else None
    return ZONE_OFFSETS.get(lower) if hours is None else f"{'-' if hours < 0 else '+'}{abs(hours):02d}00"


def _iso8601_named_zone(value: str) -> time.struct_time | None:
    """An ISO 8601 date and time with its zone's name (``_ISO8601_NAMED_ZONE``)."""
    found = _ISO8601_NAMED_ZONE.fullmatch(value.strip())
    if found is None:
        return None
    offset = _zone_offset(found.group(2))
    return _parse_date(f"{found.group(1)}{offset[:3]}:{offset[3:]}") if offset else None


def _iso8601_zone_and_name(value: str) -> time.struct_time | None:
    """An ISO 8601 date and time with a numeric zone and its name (``_ISO8601_ZONE_AND_NAME``),
    read by the number."""
    found = _ISO8601_ZONE_AND_NAME.fullmatch(value.strip())
    return _parse_date(found.group(1)) if found else None


def _asctime_year_last(value: str) -> bool:
    """False for asctime with something after the year (``_asctime_zoned`` reads it, or no
    one): feedparser's asctime handler takes a zone there for the year."""
    parts = value.split()
    return len(parts) != 6 or parts[5].isdigit() and not parts[4].isdigit()  # "2024 0530": no zone


# A numeric zone after asctime's year, after UTC's name or not ("+0530", "GMT+01:00", "UTC-3").
_ASCTIME_ZONE = re.compile(r"(?:gmt|utc?)?([+-])(\d\d?)(?::?(\d\d))?", re.IGNORECASE)


def _asctime_zoned(value: str) -> time.struct_time | None:
    """asctime with a zone after the year, as git and strftime("%c %z") write it ("Mon Jan 1
    10:00:00 2024 +0530"; feedparser's asctime handler took the zone for the year, 530),
    or with a zone named in ZONE_OFFSETS before it ("Mon Jan 01 10:00:00 CET 2024", as
    date(1) writes it; read as UTC): read as RFC 822 is."""
    parts = value.split()
    if len(parts) != 6 or parts[0][:3].lower() not in day_names or ":" not in parts[3]:
        return None
    if parts[4].isdigit() and len(parts[4]) == 4:
        year, zone = parts[4], parts[5]
    elif parts[5].isdigit() and parts[4].lower() in ZONE_OFFSETS:
        year, zone = parts[5], parts[4]
    else:
        return None
    numeric = _ASCTIME_ZONE.fullmatch(zone)
    if numeric is not None:  # "+0530", "GMT+01:00", "UTC-3"
        plus, hours, minutes = numeric.groups()
        zone = f"{plus}{int(hours):02d}{minutes or '00'}"
    else:
        offset = _zone_offset(zone.removeprefix("(").removesuffix(")"))  # "CET", "(UTC)"
        if offset is None:
            return None  # a word, an unsigned "0530", a military letter, "IST": no zone
        zone = offset
    if not (zone[1:].isdigit() and len(zone) == 5 and zone[1:3] < "24" and zone[3:] < "60"):
        return None  # no zone is that far (zone_in_range)
    return _parse_date_rfc822(f"{parts[0]} {parts[2]} {parts[1]} {year} {parts[3]} {zone}")


# Ahead of the handlers above; the ISO 8601 handler refuses what it cannot read whole.
_date_handlers[:] = [
    _iso8601_basic, _iso8601_ordinal, _comma_fraction, _short_zone, _iso8601_named_zone, _iso8601_zone_and_name,
    _asctime_zoned,
    *(_checked(h, _iso8601_whole) if h.__name__ == "_parse_date_iso8601"
      else _checked(h, _asctime_year_last) if h.__name__ == "_parse_date_asctime" else h for h in _FEEDPARSERS_HANDLERS),
]
def parse_date(value: str) -> datetime | time.struct_time | None:
    """feedparser's reading of a date: an aware UTC datetime for the common RFC 822 and
    W3DTF forms (a fifth of the cost), else feedparser's own UTC struct_time or None."""
    match = _RFC822.fullmatch(value)
    if match is not None:
        day, month, year, hour, minute, second, zone = match.groups()
        if zone[0] not in "+-" and hour < "24":
            # UTC written as a name: one C call reads it, at half the cost of six int()s
            # and the constructor. Anything it refuses (non-ASCII digits, which int() and
            # the regex take; an impossible date) goes the long way below, as before.
            # Hour 24 never gets here: newer Pythons read "24:00:00" as the next midnight.
            try:
                iso = f"{year}-{_MONTH_DIGITS[month]}-{day:0>2}T{hour}:{minute}:{second}+00:00"
                return datetime.fromisoformat(iso)
            except ValueError:
                pass
        month_number = _MONTHS[month]
    else:
        match = _W3DTF.fullmatch(value)
        if match is None:
            return _parse_date(value)
        year, month, day, hour, minute, second, zone = match.groups()
        month_number = int(month)
    try:
        stamp = datetime(int(year), month_number, int(day), int(hour), int(minute), int(second),
                         tzinfo=timezone.utc)
        if zone[0] in "+-":
            zone_hours, zone_minutes = int(zone[1:3]), int(zone[-2:])
            if zone_hours > 23 or zone_minutes > 59:
                return _parse_date(value)  # no zone is that far (RFC 3339, RFC 5322): see zone_in_range
            offset = timedelta(hours=zone_hours, minutes=zone_minutes)
            stamp = stamp - offset if zone[0] == "+" else stamp + offset
    except (ValueError, OverflowError):
        return _parse_date(value)  # an impossible date: feedparser's other handlers get a turn
    return stamp


def _title(element: Any, *, atom: bool) -> tuple[str, dict[str, str]]:
    """A feed's or entry's title and its detail; an RSS title that looks like HTML is
    typed HTML, as feedparser types it."""
    kind = _content_type(element, "text/plain")
    value = _text(element)
    if not atom and kind == "text/plain" and _looks_like_html(value):
        kind = "text/html"
    return value, {"type": kind}


def _author(element: Any, *, atom: bool) -> Mapping[str, Any]:
    keys = element.keys()
    if keys and (atom or any(key.rpartition("}")[2].lower() in ("base", "lang") for key in keys)):
        # Flickr's RSS <author flickr:profile="..."> is read as any author; a base or a language
        # is feedparser's to apply.
        raise _NotFast("attributes on author")
    if atom:
        names: dict[str, Any] = {}
        for child in element:
            name = _fp_name(child)
            if name in _PERSON_CHILDREN:
                if name in names:
                    raise _NotFast("unusual atom author")
                names[name] = child
            else:
                _check_ignorable(child)  # Flickr's flickr:nsid and flickr:buddyicon: kept under their names
        if "name" not in names:
            raise _NotFast("unusual atom author")
        for other in names.values():
            _text(other)  # no markup anywhere inside
        # feedparser pushes <name> as not expecting text: its pop() returns it stripped,
        # before the encoding repairs _text() copies (mojibake, C1 controls).
        name = (names["name"].text or "").strip()
        if not name:
            raise _NotFast("atom author without a name")
        return {"author_detail": {"name": name}, "author": name}
    value = _text(element)
    detail: dict[str, str] = {}
    author = value
    match = _EMAIL.search(author) if author else None
    if match:
        author = author.replace(match.group(0), "").replace("()", "").replace("<>", "")
        author = author.replace("&lt;&gt;", "").strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    if author:
        detail["name"] = author
    if match:
        detail["email"] = match.group(0)  # as feedparser's detail has it (parse.py reads both)
    return {"author": value, "author_detail": detail}
