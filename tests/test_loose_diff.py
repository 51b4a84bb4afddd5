"""feedparser's loose parser, as aggregator.parse patches it, against its strict one: a
malformed document reads as its well-formed copy. A small share of tests/loose_diff.py (run it
for thousands: .venv/bin/python tests/loose_diff.py 5000 7)."""

from __future__ import annotations

import random

import pytest

from loose_diff import compare, data_documents, entity_heavy, generated, undeclared_prefix, _excluded, _is_loose
from test_fastparse import NOW, URL, rss, atom  # noqa: F401
from aggregator.parse import parse_feed


def test_the_real_documents_read_alike_when_malformed() -> None:
    cases = data_documents()
    assert len(cases) >= 10  # both malformations of the documents the strict parser reads
    for label, body, malformed, content_type in cases:
        assert not compare(body, malformed, content_type), label


@pytest.mark.parametrize("seed", [1, 2])
def test_generated_documents_read_alike_when_malformed(seed: int) -> None:
    rng = random.Random(seed)
    ran = 0
    for _ in range(120):
        made = generated(rng)
        if made is not None:
            ran += 1
            body, malformed, content_type = made
            assert not compare(body, malformed, content_type), malformed
    assert ran > 40


@pytest.mark.parametrize("seed", [1, 2])
def test_entity_heavy_documents_read_alike_when_malformed(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(150):
        made = entity_heavy(rng)
        assert made is not None
        body, malformed, content_type = made
        assert not compare(body, malformed, content_type), malformed


def test_a_comment_with_a_bare_ampersand_malforms_nothing() -> None:
    # XML reads no reference in a comment: such a document is well-formed, read strictly.
    body = rss("<title>t</title><guid>g</guid>").replace(b"</channel>", b"<!-- R & D --></channel>")
    assert not _is_loose(body, "")


@pytest.mark.xfail(strict=True, reason="feedparser's loose parser reads no default namespace an element declares"
                   " (<encoded xmlns='http://purl.org/rss/1.0/modules/content/'>): an unknown 'encoded', no content;"
                   " a pre-existing difference, not of our patch")
def test_content_encoded_in_a_default_namespace_of_its_own_is_read_when_malformed() -> None:
    body = rss("<title>t</title><guid>g</guid><encoded xmlns='http://purl.org/rss/1.0/modules/content/'>&lt;p&gt;x&lt;/p&gt;</encoded>")
    malformed = undeclared_prefix(body)
    assert malformed is not None and _is_loose(malformed, "")
    assert parse_feed(URL, malformed, {}, now=NOW).entries == parse_feed(URL, body, {}, now=NOW).entries


@pytest.mark.xfail(strict=True, reason="feedparser's loose parser writes a self-closed tag in CDATA back as '<br />'"
                   " (the strict one keeps '<br/>'): the content shown is the same, the hash key of an entry with no"
                   " id or link is not; a pre-existing difference, fixing it changes stored keys")
def test_a_self_closed_tag_in_cdata_keeps_a_keyless_entrys_key_when_malformed() -> None:
    body = rss("<description><![CDATA[Line<br/>break]]></description>")
    malformed = undeclared_prefix(body)
    assert malformed is not None and _is_loose(malformed, "")
    assert parse_feed(URL, malformed, {}, now=NOW).entries == parse_feed(URL, body, {}, now=NOW).entries


def test_an_unknown_prefix_bound_again_reads_alike_when_malformed() -> None:
    body = rss("<link>http://a.example/own</link><q><x:thing xmlns:x='http://x.example/'>v</x:thing></q>"
               "<x:link>http://x/</x:link>").replace(b"<rss ", b"<rss xmlns:x='http://unknown.example/ns' ")
    malformed = undeclared_prefix(body)
    assert malformed is not None and _is_loose(malformed, "") and not _is_loose(body, "")
    assert parse_feed(URL, malformed, {}, now=NOW).entries == parse_feed(URL, body, {}, now=NOW).entries


def _in(codec: str, text: str) -> bytes:
    """The document in that encoding, a UTF-16 one with its byte order mark (as a server sends it)."""
    if codec == "utf-8":
        return text.encode(codec)
    return {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}[codec] + text.encode(codec)


@pytest.mark.parametrize("codec", ["utf-8", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("shape", [
    "<encoded xmlns='http://purl.org/rss/1.0/modules/content/'>&lt;p&gt;x&lt;/p&gt;</encoded>",
    "<description><![CDATA[Line<br/>break]]></description>",
])
def test_the_harness_leaves_out_the_shapes_of_its_xfails_in_any_encoding(codec: str, shape: str) -> None:
    # Each the shape of one of the xfails above, a difference of feedparser's own and not what the
    # harness looks for. Searched for as ASCII bytes, a UTF-16 document (the generator writes
    # some) never matched: loose_diff 3000 7 reported #515 and #1485 (a <br/> in CDATA).
    head = "<rss xmlns:x='http://unknown.example/ns' xmlns:y='http://y.example/' "
    assert _excluded(_in(codec, rss("<title>t</title>" + shape).decode().replace("<rss ", head)))
    assert not _excluded(_in(codec, rss("<title>t</title><description>Line&lt;br/&gt;break</description>").decode()
                             .replace("<rss ", head)))
