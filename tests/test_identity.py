from __future__ import annotations

import hashlib
import uuid

import pytest

from aggregator.identity import (
    canonical_link,
    dedup_text,
    entry_uid,
    item_texts,
    text_key,
    untracked,
    without_credentials,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://Example.COM/Path/Page?b=2&a=1#frag", "https://example.com/Path/Page?b=2&a=1"),
        (
            "https://example.com/a?utm_source=rss&id=7&utm_medium=feed&utm_campaign=x",
            "https://example.com/a?id=7",
        ),
        ("https://example.com/a?fbclid=abc&x=1&gclid=def", "https://example.com/a?x=1"),
        ("https://example.com/a?utm=keep&utm_=drop&UTM_Source=drop", "https://example.com/a?utm=keep"),
        ("https://example.com/a?z=1&y=2&x=3", "https://example.com/a?z=1&y=2&x=3"),  # order kept
        ("https://example.com/a?utm_source=rss", "https://example.com/a"),  # no bare "?"
        ("https://example.com/a?", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://example.com:443/a", "http://example.com:443/a"),  # only the scheme's default
        ("https://example.com", "https://example.com/"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"),
        ("https://User:Pw@Example.com/a", "https://User:Pw@example.com/a"),
        ("https://example.com/a%20b?q=a%20b&r=c+d", "https://example.com/a%20b?q=a%20b&r=c+d"),
        ("https://example.com/a?fbclidx=1", "https://example.com/a?fbclidx=1"),
    ],
)
def test_canonical_link(url: str, expected: str) -> None:
    assert canonical_link(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Example.com/a?id=7&utm_source=rss&UTM_Medium=x#top", "https://Example.com/a?id=7#top"),
        ("https://example.com/a?utm_source=rss&fbclid=1&gclid=2", "https://example.com/a"),
        ("https://example.com/a?a&&utm_source=x&b", "https://example.com/a?a&b"),
        # Unchanged, byte for byte, when it has nothing to drop: its key stays as stored.
        ("HTTP://Example.com:80/a?b=2&&a=1#f", "HTTP://Example.com:80/a?b=2&&a=1#f"),
        ("https://example.com/a?client=1&fbclidx=2&utm=3", "https://example.com/a?client=1&fbclidx=2&utm=3"),
        ("https://example.com/a#x?utm_source=rss", "https://example.com/a#x?utm_source=rss"),  # in the fragment
        ("https://example.com/a?", "https://example.com/a?"),
    ],
)
def test_untracked_drops_only_tracking_parameters(url: str, expected: str) -> None:
    assert untracked(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://me:pw@example.org:8443/feed?a=b@c#d@e", "https://example.org:8443/feed?a=b@c#d@e"),
        ("https://me@example.org", "https://example.org"),
        ("https://a:b@c@example.org/f", "https://example.org/f"),  # the last @ ends the user part
        ("https://example.org/p@x?q=@", "https://example.org/p@x?q=@"),
        ("urn:example:a@b", "urn:example:a@b"),
    ],
)
def test_without_credentials(url: str, expected: str) -> None:
    assert without_credentials(url) == expected


@pytest.mark.parametrize(
    "url",
    [None, "", "   ", "ftp://example.com/a", "mailto:a@example.com", "/relative/path",
     "example.com/a", "http:///nohost", "http://example.com:99999/", "http://[::1/"],
)
def test_canonical_link_none(url: str | None) -> None:
    assert canonical_link(url) is None


def test_canonical_link_same_story_two_ways() -> None:
    a = canonical_link("https://News.example.org/story?id=5&utm_source=twitter#comments")
    b = canonical_link("https://news.example.org:443/story?fbclid=1&id=5")
    assert a == b == "https://news.example.org/story?id=5"


def test_dedup_text_threshold() -> None:
    # Exactly 39 and 40 characters once normalized.
    assert dedup_text("a" * 39, None) is None
    assert dedup_text("a" * 40, None) == "a" * 40
    assert dedup_text("a" * 19, "b" * 19) is None  # 19 + space + 19 = 39
    assert dedup_text("a" * 19, "b" * 20) == "a" * 19 + " " + "b" * 20
    # The content's markup does not count towards the length; a title is plain text,
    # whose "<" and ">" are characters.
    assert dedup_text(None, "<b>" + "a" * 39 + "</b>") is None
    assert dedup_text("<b>" + "a" * 33 + "</b>", None) == "<b>" + "a" * 33 + "</b>"


def test_dedup_text_normalizes() -> None:
    html = dedup_text("Undersea  CABLE cut", "<p>Ships&nbsp;<b>seen</b> near Gotland, Straße</p>")
    text = dedup_text("undersea cable   cut", "Ships seen near\nGotland, STRASSE", content_type="text")
    assert html == text == "undersea cable cut ships seen near gotland, strasse"
    # NFC: a decomposed ü equals the composed one.
    assert dedup_text("Mu\u0308nchen " * 5, None) == dedup_text("München " * 5, None)


def test_dedup_text_text_content_not_stripped() -> None:
    out = dedup_text("Title here", "x <b>literal</b> markup and &amp; stays put", content_type="text")
    assert out == "title here x <b>literal</b> markup and &amp; stays put"


def test_text_key() -> None:
    # Golden: stored keys must not change. Migration 0003 derives them from the old
    # hex hashes, so the key is the first 8 bytes of the SHA-256, big-endian, signed.
    assert text_key("abc") == int("ba7816bf8f01cfea", 16) - 2**64
    assert text_key("ünïcode") == int.from_bytes(hashlib.sha256("ünïcode".encode()).digest()[:8], "big", signed=True)
    assert -(2**63) <= text_key("a") < 2**63 and text_key("a") != text_key("b")


def test_entry_uid_golden() -> None:
    # Golden values: entry ids are published and must never change.
    assert entry_uid("seeds", "abc") == "urn:uuid:f8a2651e-4f73-53f7-87c3-3b1466e90228"
    assert (
        entry_uid("nato-news", "https://example.org/1")
        == "urn:uuid:d39e7f1c-331f-5259-8591-c5e57d1b7223"
    )
    # The namespace is fixed and the separator keeps ("a", "bc") and ("ab", "c") apart.
    namespace = uuid.UUID("6f1c3b52-8a0e-5d47-9b8e-3c2a41d7e905")
    assert entry_uid("a", "bc") == f"urn:uuid:{uuid.uuid5(namespace, 'a' + chr(0) + 'bc')}"
    assert entry_uid("a", "bc") != entry_uid("ab", "c")
    assert entry_uid("seeds", "abc") == entry_uid("seeds", "abc")


_PIECES = ["Baltic", "cable", " ", "  \n", "<p>", "</p>", "<b>", "</b>", "&amp;", "&shy;", "\xad", "e\u0301",
           "\u0301", "İ", "ß", "<script>x</script>", "<!-- c -->", "&lt;", "<", ">", "Straße", "\u00a0",
           "<br/>", "NATO", "ﬁ", "x" * 30]


@pytest.mark.parametrize("seed", range(400))
def test_item_texts_equal_rule_text_and_dedup_text(seed: int) -> None:
    import random

    from aggregator.text import rule_text

    rng = random.Random(seed)

    def value() -> str | None:
        if rng.random() < 0.2:
            return rng.choice([None, ""])
        return "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 12)))

    title, summary, content = value(), value(), value()
    ctype = rng.choice(["html", "text"])
    assert item_texts(title, summary, content, ctype) == (
        rule_text(title, summary, content, ctype),
        dedup_text(title, content or summary, ctype),
    )


@pytest.mark.parametrize("other", [
    "https://xn--bcher-kva.example/story/1",  # the same host in punycode, as Google News and many feeds send it
    "https://bu\u0308cher.example/story/1",  # ... decomposed (NFD), as some CMSs save it
])
def test_canonical_link_one_idn_host_in_any_spelling(other: str) -> None:
    # DESIGN "Items and identity": the host is compared case aside; an internationalized
    # host has two spellings of one name (RFC 5890), and both are the same link.
    assert canonical_link(other) == canonical_link("https://BÜCHER.example/story/1")
