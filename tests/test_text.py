from __future__ import annotations

import pytest

from aggregator.text import collapse_ws, normalize, rule_text, strip_html


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<b>Bal</b>tic", "Bal tic"),  # a tag is a word boundary
        ("Tom &amp; Jerry", "Tom & Jerry"),
        ("caf&eacute; &#8217; &#x2014;", "café ’ —"),
        ("R&amp;D<br/>budget", "R&D budget"),
        ("<p>one</p><p>two</p>", "one two"),
        ("<!-- <b>hidden</b> -->shown", "shown"),
        ("<script>var a = '<b>x</b>';</script>after<style>p{}</style>end", "after end"),
        ("<SCRIPT>alert(1)</SCRIPT>upper<Template><b>t</b></Template>case", "upper case"),
        ("<a href='x?a=1&b=2' title='a>b'>link</a>", "link"),
        ("<p>unclosed <b>bold", "unclosed bold"),
        ("a < b and c > d", "a < b and c > d"),
        ("plain text", "plain text"),
        ("", ""),
        ("<!-- only a comment -->", ""),
        ("   ", ""),
    ],
)
def test_strip_html(html: str, expected: str) -> None:
    assert collapse_ws(strip_html(html)) == expected


def test_strip_html_keeps_whitespace_runs_for_callers() -> None:
    assert strip_html("a\n\n<i>b</i>") == "a\n\n b"


@pytest.mark.parametrize(
    "broken",
    [
        "<div><p>never closed",
        "</b></i>stray closers",
        "<<<>>>&&&;;",
        "<a href=\"unterminated>text",
        "ctrl\x01char<b>x</b>",
        '<?xml version="1.0" encoding="utf-8"?><p>declared</p>',
        "<![CDATA[cdata]]>tail",
    ],
)
def test_strip_html_never_raises_on_broken_html(broken: str) -> None:
    out = strip_html(broken)
    assert isinstance(out, str)
    assert "<b>" not in out and "<p>" not in out


def test_strip_html_falls_back_and_keeps_text() -> None:
    # lxml refuses strings with an encoding declaration; the stdlib parser takes over.
    assert collapse_ws(strip_html('<?xml version="1.0" encoding="utf-8"?><p>declared &amp; kept</p>')) == "declared & kept"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  a \t b\n\n c  ", "a b c"),
        ("a\u00a0\u2003b", "a b"),  # NBSP and em space are whitespace too
        ("", ""),
        ("\n\t ", ""),
        ("single", "single"),
    ],
)
def test_collapse_ws(raw: str, expected: str) -> None:
    assert collapse_ws(raw) == expected


def test_collapse_ws_equals_split_join_for_every_whitespace_character() -> None:
    # The already-collapsed shortcut must agree with str.split() on every character
    # it treats as whitespace, alone, doubled, leading and trailing, ASCII or not.
    spaces = [chr(c) for c in range(0x3001) if chr(c).isspace()]
    assert "\x1c" in spaces and "\x85" in spaces
    for ws in spaces:
        for text in (f"a{ws}b", f"a {ws}b", f"{ws}a b{ws}", f"a{ws}{ws}b", f" a b ", f"é{ws}b", ws):
            assert collapse_ws(text) == " ".join(text.split()), repr(text)


def test_normalize_folds_case_and_composes() -> None:
    assert normalize("STRAßE") == normalize("strasse") == "strasse"
    assert normalize("Ü") == normalize("u\u0308") == "ü"  # decomposed input composes
    assert normalize("İstanbul") == "i\u0307stanbul"


def test_normalize_ascii_fast_path_equals_the_unicode_path() -> None:
    import unicodedata

    every_ascii = "".join(map(chr, range(128))) * 2
    assert normalize(every_ascii) == unicodedata.normalize("NFC", every_ascii.casefold())
    assert normalize("NATO Summit\tIN\x00Vilnius") == "nato summit\tin\x00vilnius"


def test_rule_text_joins_strips_and_folds() -> None:
    text = rule_text("NATO summit", "<p>The Baltic&rsquo;s</p>", "<b>Bal</b>tic  &amp;\nMore")
    assert collapse_ws(text) == "nato summit the baltic’s bal tic & more"


def test_rule_text_takes_the_title_as_plain_text() -> None:
    # Titles are stored as text (a feed's "Why &lt;Baltic&gt; matters" is shown so in a
    # reader): a "<" in one starts no tag that would hide the words after it.
    assert collapse_ws(rule_text("Why <Baltic> matters", None, "<p>x</p>")) == "why <baltic> matters x"
    assert collapse_ws(rule_text("Tom &amp; Jerry", None, None)) == "tom &amp; jerry"


def test_rule_text_keeps_parts_apart() -> None:
    # Title and content must not glue into one word.
    assert collapse_ws(rule_text("Baltic", None, "Sea")) == "baltic sea"
    assert rule_text(None, None, None) == ""
    assert rule_text("", "", "x") == "x"


def test_rule_text_does_not_strip_text_content() -> None:
    text = rule_text("A <b> title", None, "R&amp;D <tag> stays", content_type="text")
    assert collapse_ws(text) == "a <b> title r&amp;d <tag> stays"
    # The summary is HTML whatever the content type.
    assert collapse_ws(rule_text(None, "<p>x &amp; y</p>", "plain", content_type="text")) == "x & y plain"


def test_rule_text_removes_soft_hyphens() -> None:
    assert rule_text(None, None, "Bal&shy;tic Sea") == "baltic sea"


def test_rule_text_strips_the_ends() -> None:
    assert rule_text(None, None, "  <p> Baltic </p> ") == "baltic"
    assert rule_text(" Baltic ", None, None) == "baltic"


def test_strip_html_paragraph_shortcut_equals_the_tag_split() -> None:
    # Fragments whose only markup is <p> and </p> take plain string splits; the result
    # must be the one the general tag split gives (each tag a space, entities decoded).
    import html
    import random

    from aggregator.text import _TAG

    rng = random.Random(7)
    parts = ["<p>", "</p>", "<p>", "</p>", "a", " ", "&amp;", "<", ">", "<b>", "x\n", "&lt;", "<P>", "<p >", "é"]
    checked = 0
    for _ in range(20000):
        fragment = "".join(rng.choice(parts) for _ in range(rng.randint(1, 8)))
        tags = fragment.count("<p>") + fragment.count("</p>")
        if fragment.count("<") != tags or fragment.count(">") != tags or ("<" not in fragment and "&" not in fragment):
            continue
        checked += 1
        expected = html.unescape(" ".join(piece for piece in _TAG.split(fragment) if piece))
        assert strip_html(fragment) == expected, repr(fragment)
    assert checked > 1000
    assert strip_html("<p>Baltic</p><p>Sea &amp; more</p>") == "Baltic Sea & more"


def test_has_not_xml_agrees_with_the_regex_on_every_bmp_character() -> None:
    from aggregator.text import NOT_XML, has_not_xml

    for cp in range(0x10000):
        c = chr(cp)
        for s in (c, f"ab{c}", f"é{c}x", f"\U0001f600{c}\n"):
            assert has_not_xml(s) == (NOT_XML.search(s) is not None), hex(cp)
    for s in ("", "plain", "\t\n\r", "a\x1fb", "\ud83d", "\ud83d\ude00", "x\ufffe", "\U0010ffff", "\uffef\uffbf"):
        assert has_not_xml(s) == (NOT_XML.search(s) is not None), repr(s)
