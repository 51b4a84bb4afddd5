"""Plain-text views of item text: HTML stripping, whitespace and case normalisation.

These are the texts that topic rules (``rules``) and duplicate detection (``identity``)
look at; both must see exactly the same words, so both build on this module.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from html import unescape
from html.parser import HTMLParser
from typing import overload

from lxml import etree

__all__ = ["bare_paragraphs", "collapse_ws", "drop_not_xml", "has_not_xml", "normalize", "rule_text", "strip_html", "NOT_XML",
           "WORD_CLASS"]

# Characters XML 1.0 cannot hold: C0 controls but tab, LF and CR; lone surrogates; U+FFFE
# and U+FFFF. Text bound for published feeds must not carry them.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# NOT_XML's characters in UTF-8: the C0 controls are single bytes that never occur inside
# a longer sequence; U+FFFE and U+FFFF are these; lone surrogates do not encode at all.
_NOT_XML_BYTES = bytes(b for b in range(0x20) if b not in (0x09, 0x0A, 0x0D))
_NONCHARACTERS = ("\ufffe".encode(), "\uffff".encode())


def has_not_xml(s: str) -> bool:
    """``NOT_XML.search(s) is not None``, at a tenth of its cost: the regex tests its
    character class at every character, where an encode and a byte-table pass run in C
    at memory speed. Every stored entry is checked."""
    try:
        data = s.encode()
    except UnicodeEncodeError:  # only a lone surrogate cannot be encoded in UTF-8
        return True
    if len(data.translate(None, _NOT_XML_BYTES)) != len(data):
        return True
    return len(data) != len(s) and (_NONCHARACTERS[0] in data or _NONCHARACTERS[1] in data)  # not ASCII


@overload
def drop_not_xml(value: str) -> str: ...
@overload
def drop_not_xml(value: None) -> None: ...
def drop_not_xml(value: str | None) -> str | None:
    """``value`` without NOT_XML's characters (the same object when it has none)."""
    return NOT_XML.sub("", value) if value and has_not_xml(value) else value


def _mark_ranges() -> str:
    """Regex class ranges for combining marks that Python's ``\\w`` leaves out.

    Python's ``\\w`` is ``str.isalnum()`` plus ``_``, which excludes combining marks
    (categories Mn/Mc/Me). Without them a decomposed ``é`` or a Devanagari vowel sign
    would split a word in two, so ``ह`` would match inside ``हिन्दी``. Only the Basic
    Multilingual Plane is covered: there the regex engine turns the class into one
    bitmap test, while every range beyond U+FFFF would be tested one by one on every
    character and make scans about three times slower (the marks up there belong to
    historic scripts and ideographic variation selectors).
    """
    points = [
        cp
        for cp in range(0x10000)
        if unicodedata.category(chr(cp))[0] == "M" and not chr(cp).isalnum()
    ]
    parts: list[str] = []
    start = prev = points[0]
    for cp in points[1:] + [-1]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(f"\\u{start:04x}" if start == prev else f"\\u{start:04x}-\\u{prev:04x}")
        start = prev = cp
    return "".join(parts)


# A word is a run of letters, digits and "_" (DESIGN.md "Topic rules"); combining
# marks belong to the letter they decorate. Use inside a regex character class.
WORD_CLASS = "\\w" + _mark_ranges()

# Contents of these elements are never visible text.
_INVISIBLE = ("script", "style", "template")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_HIDDEN_TAG = re.compile(r"<\s*(?:script|style|template)\b", re.IGNORECASE)

_LXML_PARSER = etree.HTMLParser(remove_comments=True, remove_pis=True, no_network=True)


class _FallbackStripper(HTMLParser):
    """Stdlib parser for the rare input lxml refuses (e.g. control characters)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE:
            self._hidden += 1
        self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE and self._hidden:
            self._hidden -= 1
        self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _strip_with_stdlib(html: str) -> str:
    parser = _FallbackStripper()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def bare_paragraphs(html: str) -> list[str] | None:
    """The texts around the tags when ``html``'s only markup is unnested ``<p>…</p>``
    pairs (text may sit between them), in order; None for anything else.

    String splits and ``in`` scans (memchr) only: a regex over the whole fragment costs
    several times more.
    """
    chunks = html.split("<p>")
    pieces = [chunks[0]]
    for chunk in chunks[1:]:
        inner, closed, tail = chunk.partition("</p>")
        if not closed:
            return None
        pieces += (inner, tail)
    for piece in pieces:
        if "<" in piece or ">" in piece:
            return None
    return pieces


@lru_cache(maxsize=256)  # an untitled entry's fallback title and dedup text strip the same HTML
def strip_html(html: str) -> str:
    """Visible text of an HTML fragment: each tag becomes a space, entities decoded.

    Script/style contents and comments are dropped. Broken HTML never raises: lxml
    (libxml2) recovers what it can, and the stdlib parser takes anything lxml refuses.
    Whitespace is left as found; callers collapse it when they need to.
    """
    if "<" not in html and "&" not in html:
        return html  # nothing to parse: the common case for titles and plain text
    pieces = bare_paragraphs(html)
    if pieces is not None:
        # Only bare paragraphs (the commonest sanitized summary): the tag split below
        # gives these same pieces.
        return unescape(" ".join(filter(None, pieces)))
    if "<!" not in html and not _HIDDEN_TAG.search(html):
        # Plain, well-formed markup (what the sanitizer emits): each tag becomes a space
        # by a regex, at a fifth of a parse. Anything left that looks like markup (a
        # quoted ">" in an attribute, a stray "<") goes to the parser below.
        pieces = _TAG.split(html)
        if not any("<" in piece or ">" in piece for piece in pieces):
            # Joined like lxml's itertext(): one space between the texts around a tag.
            return unescape(" ".join(filter(None, pieces)))
    try:
        root = etree.fromstring(html, _LXML_PARSER)
    except (etree.LxmlError, ValueError):
        return _strip_with_stdlib(html)
    if root is None:  # only comments or whitespace
        return ""
    if "<s" in html or "<t" in html or "<S" in html or "<T" in html:  # skip a tree walk
        for element in list(root.iter(*_INVISIBLE)):
            element.clear(keep_tail=True)  # its text and children go, what follows stays
    # itertext() yields each text node and tail separately, and two consecutive ones
    # are always divided by at least one tag, so joining with a space turns every tag
    # boundary into a space: "<b>Bal</b>tic" is "Bal tic", two words.
    return " ".join(root.itertext())


def collapse_ws(s: str) -> str:
    """Runs of whitespace (any Unicode whitespace, NBSP included) become one space; stripped."""
    # Most texts (stripped HTML of clean feeds) are ASCII and already collapsed. Proving
    # that with one C scan per whitespace character (str.split's ASCII set: \t\n\v\f\r,
    # \x1c-\x1f, space) is ~5x cheaper than splitting a 1.5 KB text into words and joining.
    if (
        s.isascii()
        and "  " not in s
        and "\n" not in s
        and "\t" not in s
        and "\r" not in s
        and "\f" not in s
        and "\v" not in s
        and "\x1c" not in s
        and "\x1d" not in s
        and "\x1e" not in s
        and "\x1f" not in s
    ):
        return s.strip(" ")
    return " ".join(s.split())


def normalize(s: str) -> str:
    """Case-folded, NFC text: the form both phrases and item texts are compared in.

    NFC comes first so decomposed and precomposed input fold alike, and again after
    folding because casefold() may emit combining sequences (``İ`` -> ``i̇``).
    """
    if s.isascii():  # NFC leaves ASCII alone and folds it to lower case: one C pass
        return s.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", s).casefold())


def _as_text(value: str | None, is_html: bool) -> str:
    if not value:
        return ""
    return strip_html(value) if is_html else value


def rule_text(
    title: str | None,
    summary: str | None,
    content: str | None,
    content_type: str = "html",
) -> str:
    """The text topic rules match against: title + summary + content, stripped and folded.

    ``title`` is always plain text (the parsers turn an HTML title into text, and it is
    published escaped, so ``Why <Baltic> matters`` means those words); ``summary`` is
    always HTML (as in ``EntryData``); ``content`` is HTML when ``content_type == "html"``
    and plain text otherwise, so a seed item's literal ``<`` or ``&amp;`` survives.
    Whitespace runs are left alone (phrases match any run, and collapsing would cost a
    third of the time of a reclassify); soft hyphens, which are invisible, are removed so
    ``Bal&shy;tic`` reads as ``baltic``.
    """
    is_html = content_type == "html"
    joined = "\n".join(
        part
        for part in (
            _as_text(title, False),
            _as_text(summary, True),
            _as_text(content, is_html),
        )
        if part
    )
    if "\xad" in joined:
        joined = joined.replace("\xad", "")
    return normalize(joined).strip()
