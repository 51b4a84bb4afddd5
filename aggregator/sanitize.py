"""HTML sanitizing for everything we republish, built on nh3 (ammonia).

Feed content is hostile input that ends up inside other people's feed readers, so
every HTML fragment we return goes through one allow-list here. Relative URLs are
made absolute against the fragment's base, because published Atom content must not
carry relative references (the W3C validator's ContainsRelRef) and readers resolve
them against our feed, not the original site.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Literal
from urllib.parse import urljoin, urlsplit

import nh3

from aggregator.text import bare_paragraphs, drop_not_xml

__all__ = ["sanitize_html", "same_markup", "html_to_text", "text_as_html", "without_text_breaks", "keep_pre_newline",
           "without_pre_newlines", "ALLOWED_TAGS", "URL_SCHEMES"]

# Formatting, structure, links and images; nothing that runs code, embeds other
# documents or submits data (script, style, iframe, object, embed, form are absent).
# No <bdo> either: the W3C feed validator counts it among the unsafe elements
# (SecurityRisk); unwrapped, its text stays.
ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "a", "abbr", "acronym", "address", "b", "bdi", "big", "blockquote", "br",
        "caption", "center", "cite", "code", "col", "colgroup", "dd", "del", "details",
        "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q",
        "rp", "rt", "ruby", "s", "samp", "small", "span", "strike", "strong", "sub",
        "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr",
        "tt", "u", "ul", "var", "wbr",
    }
)

# No "style" or "class" anywhere (CSS can hide or overlay content), no "srcset"
# (a list of URLs the relative-URL rewrite would not cover), no "cite" (ammonia treats
# it as text, not a URL: a relative one would pass unresolved, and so would a
# javascript: one; readers do not show it anyway).
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"title", "lang", "dir"},
    "a": {"href", "hreflang"},
    "abbr": {"title"},
    "col": {"span"},
    "colgroup": {"span"},
    "del": {"datetime"},
    "img": {"src", "alt", "width", "height"},
    "ins": {"datetime"},
    "ol": {"start", "reversed", "type"},
    "td": {"colspan", "rowspan", "headers"},
    "th": {"colspan", "rowspan", "headers", "scope"},
    "time": {"datetime"},
}

# Everything else (javascript:, data:, vbscript:, file:, ...) loses its attribute.
URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})

# Removed with their content, not just unwrapped: their text is code, not prose.
_CLEAN_CONTENT_TAGS: frozenset[str] = frozenset(
    {"script", "style", "template", "noscript", "title", "textarea", "select", "noembed", "noframes"}
)


def _usable_base(base_url: str | None) -> str | None:
    """The base as nh3 can use it, or None when relative URLs must be dropped instead."""
    if not base_url:
        return None
    try:
        parts = urlsplit(base_url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return base_url.strip()


@lru_cache(maxsize=64)
def _cleaner(base_url: str | None) -> nh3.Cleaner:
    # A Cleaner compiles the policy once (~0.15 ms) and serves every fragment of a
    # feed (one base). Each holds its own copy of the policy (~14 KiB of native
    # memory): a cache of thousands added 14 MiB to a 1,000-feed refresh and was no
    # faster, so it only spans the feeds being parsed around the same time.
    url_relative: tuple[Literal["rewrite_with_base"], str] | Literal["deny"] = (
        ("rewrite_with_base", base_url) if base_url else "deny"
    )
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(_CLEAN_CONTENT_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        url_relative=url_relative,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def _unchanged_by_cleaner(fragment: str) -> bool:
    """True for fragments the cleaner gives back as they are: ASCII text and bare <p>
    paragraphs, with nothing it rewrites ("&", "<" and ">" in text come back escaped,
    CR as LF, NUL dropped). Tests compare this with the cleaner on random fragments."""
    return (
        fragment.isascii()
        and "&" not in fragment
        and "\r" not in fragment
        and "\x00" not in fragment
        and bare_paragraphs(fragment) is not None
    )


def sanitize_html(html_fragment: str, base_url: str | None, *, embeds: bool = True) -> str:
    """Return ``html_fragment`` reduced to safe, self-contained HTML.

    Removes scripts, styles, frames, objects, embeds, forms, event handlers and
    URLs of any scheme other than http/https/mailto; keeps common formatting,
    links and images. Relative ``href``/``src`` values are resolved
    against ``base_url``; without a usable absolute http(s) base they are dropped,
    so the output never holds a relative reference. Deterministic: the same input
    always gives the same output. An embedded document or player (a video's ``<iframe>``)
    becomes a link to its source, unless ``embeds`` is False.
    """
    if not html_fragment:
        return ""
    if _unchanged_by_cleaner(html_fragment):
        return html_fragment.strip()  # what the cleaner would give back, at a third of its cost
    lowered = html_fragment.lower()
    if "<img" in lowered and "data-" in lowered:
        html_fragment = _lazy_images(html_fragment)
        lowered = html_fragment.lower()
    if embeds and any(f"<{tag}" in lowered for tag in _EMBEDS):
        html_fragment = _embeds_as_links(html_fragment, base_url)
        lowered = html_fragment.lower()
    if "href" in lowered or "src" in lowered:
        cleaner = _cleaner_for(base_url)
    else:
        # The base only ever rewrites URL attributes, and the only ones our allow-list
        # keeps are href and src (ammonia's others - action, data, ping, poster... - sit
        # on tags or attributes we drop). Attribute names are ASCII, never written as
        # character references: without these letters the base cannot change the
        # output, and one shared cleaner saves building one per feed.
        cleaner = _cleaner(None)
    return _clean(cleaner, html_fragment).strip()


_IMG_TAG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_LAZY_SRC = re.compile(r"""\sdata-(?:lazy-src|src|original)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""",
                       re.IGNORECASE)
_SRC = re.compile(r"""\ssrc\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)


def _lazy_images(html_fragment: str) -> str:
    """Lazy-loaded images with their picture: an ``<img>`` whose real URL is in
    ``data-src`` (``data-lazy-src``, ``data-original``) and whose ``src`` is missing or a
    ``data:`` placeholder gets that URL as its ``src`` (the script that would have
    swapped it in never runs in a reader, and the cleaner drops data: URLs)."""
    def fix(tag: re.Match[str]) -> str:
        text = tag.group()
        lazy = _LAZY_SRC.search(text)
        if lazy is None:
            return text
        url = html.unescape(next(g for g in lazy.groups() if g is not None)).strip()
        src = _SRC.search(text)
        if not url or (src and not next(g for g in src.groups() if g is not None).strip().lower().startswith("data:")):
            return text
        if src:
            text = text[:src.start()] + text[src.end():]
        return f'{text[:4]} src="{html.escape(url)}"{text[4:]}'

    return _IMG_TAG.sub(fix, html_fragment)


# Elements that embed another document or a player, which the cleaner drops with their
# source: a post's embedded video (a YouTube <iframe>, a <video> and its <source>s)
# vanished without a trace. Each source becomes a link to it, where it stood.
_EMBEDS = ("iframe", "embed", "video", "audio", "source")
_EMBED_TAG = re.compile(r"<(?:iframe|embed|video|audio|source)\b[^>]*>", re.IGNORECASE)
# A player whose fallback content is a link already: WordPress's [audio] and [video]
# shortcodes write <audio><source src="….mp3?_=1"><a href="….mp3">….mp3</a></audio>, which
# the cleaner leaves as that link; one more, of the source, ran into it ("….mp3?_=1….mp3").
_PLAYER_WITH_LINK = re.compile(r"<(video|audio)\b[^>]*>(?:(?!</?\1\b).)*?<a\s(?:(?!</?\1\b).)*</\1\s*>",
                               re.IGNORECASE | re.DOTALL)
# What may stand between two embeds' links with nothing shown, not even a space: a <video>'s
# <source>s (WebM and MP4), or two frames in a row, whose links ran together as one text.
_NOTHING_SHOWN = re.compile(r"(?:</(?:iframe|embed|video|audio|source)\s*>)*", re.IGNORECASE)


def _embeds_as_links(html_fragment: str, base_url: str | None) -> str:
    """Each embedded document's or player's http(s) ``src`` (resolved against ``base_url``)
    as a link before its element, which the cleaner then drops; a player whose fallback
    content holds a link keeps that one alone."""
    linked = [m.span() for m in _PLAYER_WITH_LINK.finditer(html_fragment)] if "<a" in html_fragment.lower() else []
    last = -1  # where the element of the last link ends

    def link(tag: re.Match[str]) -> str:
        nonlocal last
        text = tag.group()
        if any(start <= tag.start() < end for start, end in linked):
            return text
        src = _SRC.search(text)
        url = html.unescape(next(g for g in src.groups() if g is not None)).strip() if src else ""
        if url and base_url:
            try:
                url = urljoin(base_url, url)
            except ValueError:  # a src urljoin refuses ("http://[oops/")
                return text
        if not url.lower().startswith(("http://", "https://")):
            return text
        shown = html.escape(url)
        apart = " " if last >= 0 and _NOTHING_SHOWN.fullmatch(html_fragment, last, tag.start()) else ""
        last = tag.end()
        return f'{apart}<a href="{shown}">{shown}</a>{text}'

    return _EMBED_TAG.sub(link, html_fragment)


def _clean(cleaner: nh3.Cleaner, html_fragment: str) -> str:
    try:
        cleaned = cleaner.clean(html_fragment)
    except UnicodeEncodeError:
        # A lone surrogate (a JSON Feed's "\ud83d", half of an emoji cut in two) cannot
        # reach nh3 as UTF-8; no XML we publish could hold it either.
        cleaned = cleaner.clean(drop_not_xml(html_fragment))
    return keep_pre_newline(cleaned)


# A <pre> start tag as html5ever writes it: attribute values double-quoted, their
# quotes escaped, so a ">" inside one cannot end the match early.
_PRE_START = r'(<pre(?:\s+[^\s="\'>/]+(?:="[^"]*")?)*\s*>)'
_PRE_THEN_NEWLINE = re.compile(_PRE_START + "\n")
_PRE_THEN_NEWLINES = re.compile(_PRE_START + "\n+")


def keep_pre_newline(cleaned: str) -> str:
    """A ``<pre>`` whose text starts with a line break, written so it keeps it.

    An HTML parser drops the one line break right after ``<pre>``, and html5ever's
    serializer (the current HTML standard) does not write it twice, so a block of code
    that began with a blank line lost it in the cleaner and lost its next line break at
    each reader's parse. Doubling it, as the standard's serializer once did, gives back
    the text the parser read."""
    if "<pre" not in cleaned:
        return cleaned
    return _PRE_THEN_NEWLINE.sub("\\1\n\n", cleaned)


def without_pre_newlines(cleaned: str) -> str:
    """``cleaned`` without the line breaks that start its ``<pre>`` blocks: HTML cleaned
    before ``keep_pre_newline`` read the same, as far as those allow telling."""
    if "<pre" not in cleaned:
        return cleaned
    return _PRE_THEN_NEWLINES.sub("\\1", cleaned)


_LINE_END = re.compile(r"\r\n?|\n")


def text_as_html(text: str) -> str:
    """Plain text (an Atom summary of type text, a JSON Feed summary) as the HTML a summary
    is: escaped, never trusted as markup, each line break a ``<br>``. Without them a reader
    ran its lines and paragraphs together (a video's description, a release's notes)."""
    return _LINE_END.sub("<br>\n", html.escape(text.strip(), quote=False))


def without_text_breaks(cleaned: str) -> str:
    """``cleaned`` without the ``<br>`` that ``text_as_html`` writes at each line end: plain
    text stored before it read the same."""
    return cleaned.replace("<br>\n", "\n")


@lru_cache(maxsize=64)
def _cleaner_for(base_url: str | None) -> nh3.Cleaner:
    """The cleaner for a fragment's base as given (every fragment of a feed shares it)."""
    try:
        return _cleaner(_usable_base(base_url))
    except ValueError:
        # nh3 refused the base (a URL the url crate cannot parse): drop relative refs.
        return _cleaner(None)


_STRIP_ALL = nh3.Cleaner(tags=set(), clean_content_tags=set(_CLEAN_CONTENT_TAGS), attributes={})
# Tags that break a line or start a block: the text on either side is two words
# ("Line one<br>Line two"). Inline ones (<b>, <a>, <span>) join their text as written.
_BREAKING_TAG = re.compile(
    r"<(?=/?(?:address|article|blockquote|br|caption|dd|div|dl|dt|figcaption|figure|footer|h[1-6]"
    r"|header|hr|li|ol|p|pre|section|table|td|th|tr|ul)\b)",
    re.IGNORECASE,
)


def html_to_text(html_fragment: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, spaces collapsed."""
    if not html_fragment:
        return ""
    text = html.unescape(_clean(_STRIP_ALL, _BREAKING_TAG.sub(" <", html_fragment)))
    return " ".join(text.split())


# Elements a reader lays out as blocks (and <br>): whitespace beside them shows as nothing.
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "details", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p",
    "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
})
# Elements whose text shows its whitespace as written.
_KEEPS_SPACE = frozenset({"pre"})
# html5ever writes no end tag for these, and an end tag for every other element.
_VOID = frozenset({
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img", "input", "keygen",
    "link", "meta", "param", "source", "track", "wbr",
})
_WS = " \t\n\r\f"  # HTML's whitespace: a no-break space is text
_WS_RUN = re.compile(f"[{_WS}]+")
_TAGS_AND_WS = re.compile(f"<[^>]*>|[{_WS}]+")
_NO_WS = str.maketrans("", "", _WS)
# A tag as html5ever writes it: lower-case name, each attribute's value double-quoted (its
# quotes escaped, a ">" in it as is). Split on it, a fragment is [text, slash, name,
# attributes, text, ...].
_MARKUP_TAG = re.compile(r'<(/?)([a-z][^\s/>]*)((?:\s+[^\s"\'=/>]+(?:="[^"]*")?)*)\s*>')
_MARKUP_ATTR = re.compile(r'([^\s"\'=/>]+)(?:="([^"]*)")?')


def _layout(cleaned: str) -> list[object] | None:
    """``cleaned`` as a reader lays it out: its tags (attributes in any order) and texts
    in document order, whitespace runs as one space, whitespace alone beside a block as
    none, inside <pre> as written. Read off the cleaner's own serialization, whose tags all
    close where they were opened: re-parsed by another parser (libxml2's HTML 4 rules close
    an <i> before a <p> inside it, stop nesting at 255 levels) two different documents came
    out the same. None for markup the cleaner does not write."""
    parts = _MARKUP_TAG.split(cleaned)
    out: list[object] = []
    open_tags: list[str] = []
    kept = 0  # open elements whose whitespace shows as written
    last = len(parts) - 1
    for i in range(0, len(parts), 4):
        text = parts[i]
        if "<" in text:
            return None
        if text:
            if kept:
                if i and text[0] == "\n" and parts[i - 2] in _KEEPS_SPACE and not parts[i - 3]:
                    text = text[1:]  # a parser drops the line break that starts a <pre>
                out.append(text)
            elif not text.strip(_WS):
                # Beside a tag of a block (or the fragment's edge), whitespace shows as nothing.
                if 0 < i < last and parts[i - 2] not in _BLOCKS and parts[i + 2] not in _BLOCKS:
                    out.append(" ")
            else:
                out.append(_WS_RUN.sub(" ", text))
        if i < last:
            slash, name, attributes = parts[i + 1:i + 4]
            if slash:
                if not open_tags or open_tags.pop() != name:
                    return None
                kept -= name in _KEEPS_SPACE
                out.append((name,))
            else:
                if name not in _VOID:
                    open_tags.append(name)
                    kept += name in _KEEPS_SPACE
                out.append((name, tuple(sorted(_MARKUP_ATTR.findall(attributes)))))
    return None if open_tags else out


def same_markup(a: str, b: str) -> bool:
    """Whether two cleaned fragments show the same document: the same elements, attributes
    (in any order) and text, where whitespace runs count as one space and whitespace beside
    a block counts as none (a CMS that writes its posts anew puts a newline between
    paragraphs, or a link's attributes in another order). Outside <pre>, as a browser
    lays it out. Only for entries whose markup changed (see store.ingest._reads_as), and
    only for the cleaner's output: other markup is never the same as anything else."""
    if a == b:
        return True
    # Most changed entries changed their text: that shows without reading either (the
    # characters but whitespace are the same ones, in another order at most).
    if len(a.translate(_NO_WS)) != len(b.translate(_NO_WS)) or _TAGS_AND_WS.sub("", a) != _TAGS_AND_WS.sub("", b):
        return False
    layout = _layout(a)
    return layout is not None and layout == _layout(b)
