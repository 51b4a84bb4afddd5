"""Tests for aggregator.parse and aggregator.sanitize, on hand-written feeds in tests/data/feeds."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from aggregator.errors import ParseError
from aggregator.parse import clamp_date, entry_key, parse_feed
from aggregator.sanitize import html_to_text, sanitize_html
from aggregator.types import Enclosure, EntryData, FeedData

FEEDS = Path(__file__).parent / "data" / "feeds"
NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)
FETCHED = "http://fetched.example.org/path/feed"


def parse(name: str, content_type: str = "application/xml", url: str = FETCHED) -> FeedData:
    return parse_feed(url, (FEEDS / name).read_bytes(), {"content-type": content_type}, now=NOW)


def by_key(feed: FeedData) -> dict[str, EntryData]:
    return {e.key: e for e in feed.entries}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# --- formats -----------------------------------------------------------------


def test_rss091_relative_link_resolves_against_fetch_url() -> None:
    feed = parse("rss091.xml", "text/xml")
    assert feed.title == "Old School News"
    assert feed.link == "http://old.example.org/"
    assert feed.warning is None
    first, second = feed.entries
    assert first.key == first.link == "http://old.example.org/items/1"
    assert first.summary == "The <b>first</b> item."
    assert second.link == "http://fetched.example.org/items/2"
    assert first.published is None and first.updated is None


def test_rss10_rdf_with_dc_fields() -> None:
    feed = parse("rss10.rdf", "application/rdf+xml")
    assert feed.title == "RDF Site"
    (entry,) = feed.entries
    assert entry.key == "http://rdf.example.org/a"
    assert entry.author == "Ada Author"
    assert entry.updated == utc(2024, 3, 5, 11, 30)
    assert entry.updated is not None and entry.updated.tzinfo is timezone.utc


def test_rss20_guid_variants_and_key_fallbacks() -> None:
    feed = parse("rss20_guids.xml", "application/rss+xml")
    keys = [e.key for e in feed.entries]
    # The fifth item has no guid, link, title or text: skipped, not an error.
    assert len(keys) == 4
    permalink, opaque, link_only, hashed = feed.entries
    # isPermaLink defaults to true: the guid is the key and doubles as the link.
    assert permalink.key == permalink.link == "https://guids.example.com/posts/1"
    # isPermaLink="false": the (stripped) guid is the key, the link stays separate.
    assert opaque.key == "tag:guids.example.com,2024:2"
    assert opaque.link == "https://guids.example.com/posts/2"
    assert opaque.content == "<p>Two, <em>in full</em>.</p>"
    assert opaque.content_type == "html"
    assert opaque.summary == "Two."
    assert opaque.author == "Eve Editor"
    assert opaque.published == utc(2024, 1, 3, 9, 0)
    # No guid: the absolute link is the key.
    assert link_only.key == link_only.link == "http://fetched.example.org/posts/3"
    # Neither: sha256 of title + NUL + content.
    expected = hashlib.sha256("Neither guid nor link\0Four, keyed by hash.".encode()).hexdigest()
    assert hashed.key == f"sha256:{expected}"
    assert hashed.link is None


def test_non_url_permalink_guid_invents_no_link() -> None:
    feed = parse("cp1252_prolog.xml")
    (entry,) = feed.entries
    assert entry.key == "cp-1"
    assert entry.link is None


def test_atom03() -> None:
    feed = parse("atom03.xml", "application/atom+xml")
    (entry,) = feed.entries
    assert entry.key == "tag:atom03.example.org,2024:1"
    assert entry.link == "http://atom03.example.org/e/1"
    assert entry.content == "<p>Escaped <i>HTML</i></p>"
    assert entry.published == utc(2024, 1, 31, 9)
    assert entry.updated == utc(2024, 2, 1, 10)


def test_atom10_xml_base_resolves_links_and_content() -> None:
    feed = parse("atom10_xmlbase.xml", "application/atom+xml")
    assert feed.title == "Base & Links"  # type="html": entities decoded, tags stripped
    assert feed.link == "https://base.example.net/blog/"
    first, second = feed.entries
    assert first.title == "Hello world & more"
    assert first.link == "https://base.example.net/blog/posts/1.html"  # alternate, not the enclosure
    assert 'href="https://base.example.net/blog/posts/2.html"' in (first.content or "")
    assert 'src="https://base.example.net/img/a.png"' in (first.content or "")
    assert first.summary == "A plain &lt;summary&gt; with brackets"  # text summary escaped as HTML
    assert first.author == "Bea Base"
    assert first.published == utc(2024, 4, 1, 6)
    assert first.updated == utc(2024, 4, 2)
    # An entry-level xml:base overrides the feed's.
    assert second.link == "https://other.example.net/x/y"
    assert second.content == '<p>XHTML <a href="https://other.example.net/x/z" rel="noopener noreferrer">link</a></p>'


@pytest.mark.parametrize("content_type", ["application/atom+xml", "text/xml", "application/xml; charset=utf-8"])
def test_nested_relative_xml_base_resolves_through_the_whole_chain(content_type: str) -> None:
    # XML Base: each relative xml:base resolves against the one above it, the outermost
    # against the fetch URL. feedparser dropped every relative base under a relative one.
    body = ('<feed xmlns="http://www.w3.org/2005/Atom" xml:base="/blog/"><title>Bases</title>'
            '<entry xml:base="2024/"><id>urn:b:1</id><title>Café</title><link href="post.html"/>'
            '<content type="html" xml:base="img/">&lt;img src="a.png"&gt;</content></entry>'
            '<entry><id>urn:b:2</id><link href="top.html"/>'
            '<summary type="html" xml:base="../up/">&lt;a href="x.html"&gt;x&lt;/a&gt;</summary></entry>'
            "</feed>").encode("utf-8")
    first, second = parse_feed("http://h.example/dir/feed", body, {"content-type": content_type}, now=NOW).entries
    assert (first.key, first.title, first.link) == ("urn:b:1", "Café", "http://h.example/blog/2024/post.html")
    assert first.content == '<img src="http://h.example/blog/2024/img/a.png">'
    assert (second.key, second.link) == ("urn:b:2", "http://h.example/blog/top.html")
    assert second.summary == '<a href="http://h.example/up/x.html" rel="noopener noreferrer">x</a>'


@pytest.mark.parametrize("base", ["/", "/blog/", "blog/"])
def test_ids_under_a_relative_xml_base_do_not_take_the_fetch_url(base: str) -> None:
    # Keys never depend on where the feed was fetched from (no content-location, above):
    # a feed that moves keeps its entries. Making a lone relative base absolute against
    # the fetch URL made feedparser resolve relative ids and GUIDs against it, so every
    # such entry was stored again after the upgrade and again whenever the feed moved.
    atom = (f'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="{base}"><title>B</title>'
            '<entry><id>post-1</id><title>t</title><link href="p.html"/></entry></feed>').encode()
    rss = (f'<rss version="2.0" xml:base="{base}"><channel><title>B</title>'
           "<item><guid>/p/2</guid><title>t</title></item></channel></rss>").encode()
    keys = {url: [e.key for body in (atom, rss)
                  for e in parse_feed(url, body, {"content-type": "application/xml"}, now=NOW).entries]
            for url in ("http://h.example/feed", "https://moved.example/new/feed")}
    assert keys["http://h.example/feed"] == keys["https://moved.example/new/feed"]
    assert keys["http://h.example/feed"][1] == "/p/2"


def test_xml_base_that_is_an_iri_not_a_uri_keeps_its_folder() -> None:
    # An xml:base is an IRI: "/café/" or "/2024 posts/" as the site writes it. libxml2's
    # resolver refuses those and answers the document's URL, which made every link of
    # the feed resolve against the fetch URL's folder.
    body = ('<feed xmlns="http://www.w3.org/2005/Atom" xml:base="/café/"><title>Bases</title>'
            '<entry xml:base="2024 posts/"><id>urn:b:1</id><link href="post.html"/>'
            '<content type="html">&lt;img src="a.png"&gt;</content></entry>'
            '<entry><id>urn:b:2</id><link href="top.html"/></entry>'
            "</feed>").encode("utf-8")
    first, second = parse_feed("http://h.example/dir/feed", body, {"content-type": "application/atom+xml"},
                               now=NOW).entries
    assert first.link == "http://h.example/café/2024 posts/post.html"
    assert first.content == '<img src="http://h.example/caf%C3%A9/2024%20posts/a.png">'
    assert second.link == "http://h.example/café/top.html"


def test_xml_base_that_urlsplit_refuses_leaves_the_feed_readable() -> None:
    body = (b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="http://[oops/"><title>B</title>'
            b'<entry><id>urn:b:1</id><title>Kept</title><link href="/p.html"/></entry></feed>')
    # It raised ValueError out of parse_feed: the source failed with an internal error.
    [entry] = parse_feed(FETCHED, body, {"content-type": "application/atom+xml"}, now=NOW).entries
    assert entry.title == "Kept"


def test_atom_ids_do_not_depend_on_the_fetch_url() -> None:
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        b"<entry><id>42</id><title>x</title><link href='p'/></entry></feed>"
    )
    a = parse_feed("https://a.example/feed", body, {}, now=NOW).entries[0]
    b = parse_feed("https://b.example/moved/feed", body, {}, now=NOW).entries[0]
    assert a.key == b.key == "42"
    assert (a.link, b.link) == ("https://a.example/p", "https://b.example/moved/p")


def test_jsonfeed_10() -> None:
    feed = parse("jsonfeed10.json", "application/feed+json")
    assert feed.title == "JSON One"
    assert feed.link == "https://json.example.org/"
    assert feed.warning is None
    first, second, third = feed.entries  # the string item is skipped
    assert first.key == "1"
    # relative links resolve against the fetch URL, never home_page_url (DESIGN.md)
    assert first.link == "http://fetched.example.org/posts/1"
    assert first.content == '<p>Hello <a href="http://fetched.example.org/about" rel="noopener noreferrer">about</a></p>'
    assert first.summary == "Hello summary"
    assert first.published == utc(2024, 5, 1, 8)
    assert first.updated == utc(2024, 5, 2, 10)
    assert first.author == "Item Author"
    assert second.key == "2"  # numeric id tolerated
    assert second.content == "Plain <text> only"
    assert second.content_type == "text"
    assert second.published is None  # unparseable date
    assert third.key == third.link == "https://json.example.org/posts/3"


def test_jsonfeed_11_sniffed_from_body_and_generic_json_type() -> None:
    body = (FEEDS / "jsonfeed11.json").read_bytes()
    for headers in ({"content-type": "application/json"}, {"content-type": "text/plain"}, {}):
        feed = parse_feed("https://json11.example.org/feed.json", body, headers, now=NOW)
        first, second = feed.entries
        assert first.link == "https://json11.example.org/a.html"
        assert first.content == '<p>café <img src="https://json11.example.org/i.png"></p>'
        assert first.author == "Quinn"
        assert second.link == "https://elsewhere.example.com/story"


def test_a_relative_rss_enclosure_resolves_against_xml_base_as_the_items_link_does() -> None:
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel xml:base="http://cdn.example/shows/">
<title>Cast</title><link>http://cast.example/</link><description>d</description>
<item><title>Ep</title><guid isPermaLink="false">1</guid><link>ep1.html</link>
<enclosure url="ep1.mp3" type="audio/mpeg" length="5"/></item></channel></rss>"""
    [entry] = parse_feed("http://feeds.example/cast.xml", body, {"content-type": "application/rss+xml"}, now=NOW).entries
    assert entry.link == "http://cdn.example/shows/ep1.html"
    assert [f.href for f in entry.enclosures] == ["http://cdn.example/shows/ep1.mp3"]


def test_a_relative_file_resolves_against_the_xml_base_in_effect_where_it_is_written() -> None:
    # The base of an RSS <enclosure> (or media:content) was the one in effect at the item's
    # title or description: an item with neither (a podcast's bare episode) took the fetch URL
    # though its channel names a base, and a file with an xml:base of its own lost it.
    body = b"""<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
<channel xml:base="http://cdn.example/shows/"><title>Cast</title><link>http://cast.example/</link><description>d</description>
<item><guid isPermaLink="false">1</guid><enclosure url="ep1.mp3" type="audio/mpeg" length="5"/></item>
<item><guid isPermaLink="false">2</guid><media:content url="ep2.mp4" type="video/mp4"/></item>
<item><title>Three</title><guid isPermaLink="false">3</guid>
<enclosure url="ep3.mp3" xml:base="http://other.example/3/"/><enclosure url="/top.mp3"/></item>
</channel></rss>"""
    feed = parse_feed("http://feeds.example/cast.xml", body, {"content-type": "application/rss+xml"}, now=NOW)
    assert [[f.href for f in e.enclosures] for e in feed.entries] == [
        ["http://cdn.example/shows/ep1.mp3"], ["http://cdn.example/shows/ep2.mp4"],
        ["http://other.example/3/ep3.mp3", "http://cdn.example/top.mp3"]]


def test_a_file_under_a_relative_xml_base_resolves_against_it_once() -> None:
    # A relative xml:base ("podcast/" on the channel) was applied where the file is written
    # and again as the base of the item's title: the file became .../podcast/podcast/ep1.mp3,
    # a URL that is not there, while the item's link was right. So was an Atom enclosure link.
    rss = b"""<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">
<channel xml:base="podcast/"><title>Cast</title><link>http://cast.example/</link><description>d</description>
<item><title>One</title><guid isPermaLink="false">1</guid><link>ep1.html</link>
<enclosure url="ep1.mp3" type="audio/mpeg" length="5"/><media:content url="ep1.mp4" type="video/mp4"/></item>
</channel></rss>"""
    [entry] = parse_feed("http://feeds.example/shows/cast.xml", rss, {"content-type": "application/rss+xml"},
                         now=NOW).entries
    assert entry.link == "http://feeds.example/shows/podcast/ep1.html"
    assert [f.href for f in entry.enclosures] == [
        "http://feeds.example/shows/podcast/ep1.mp3", "http://feeds.example/shows/podcast/ep1.mp4"]
    atom = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="podcast/">
<title>Cast</title><id>urn:cast</id><updated>2024-01-01T00:00:00Z</updated>
<entry><title>One</title><id>urn:1</id><updated>2024-01-01T00:00:00Z</updated><link href="ep1.html"/>
<link rel="enclosure" href="ep1.mp3" type="audio/mpeg"/></entry></feed>"""
    [entry] = parse_feed("http://feeds.example/shows/cast.xml", atom, {"content-type": "application/atom+xml"},
                         now=NOW).entries
    assert entry.link == "http://feeds.example/shows/podcast/ep1.html"
    assert [f.href for f in entry.enclosures] == ["http://feeds.example/shows/podcast/ep1.mp3"]


def test_an_xml_base_ends_with_its_element_when_none_is_above_it() -> None:
    # feedparser restores the enclosing base at an end tag only when it is not empty: with no
    # xml:base above (no content-location is given), one element's base (an entry's content,
    # a file's) stayed in effect after it, and the entries after it resolved their links,
    # content and files against another entry's base, their keys changing with the order.
    atom = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">
<title>Blog</title><id>urn:blog</id><updated>2024-01-02T00:00:00Z</updated>
<entry><id>urn:blog:1</id><title>One</title><link href="/2024/one/"/>
<content type="html" xml:base="http://mirror.example/one/">&lt;img src="a.png"&gt;</content></entry>
<entry><id>urn:blog:2</id><title>Two</title><link href="/2024/two/"/>
<content type="html">&lt;img src="b.png"&gt;</content></entry></feed>"""
    one, two = parse_feed("http://blog.example/feed/atom", atom, {"content-type": "application/atom+xml"},
                          now=NOW).entries
    assert one.link == "http://blog.example/2024/one/" and one.content == '<img src="http://mirror.example/one/a.png">'
    assert two.link == "http://blog.example/2024/two/" and two.content == '<img src="http://blog.example/feed/b.png">'
    rss = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Cast</title><link>http://cast.example/</link>
<description>d</description>
<item><title>One</title><guid isPermaLink="false">1</guid><enclosure url="ep1.mp3" xml:base="http://cdn.example/1/"/></item>
<item><title>Two</title><link>/ep2.html</link><enclosure url="ep2.mp3"/></item></channel></rss>"""
    one, two = parse_feed("http://cast.example/feed.xml", rss, {"content-type": "application/rss+xml"}, now=NOW).entries
    assert [f.href for f in one.enclosures] == ["http://cdn.example/1/ep1.mp3"]
    assert (two.key, two.link) == ("http://cast.example/ep2.html", "http://cast.example/ep2.html")
    assert [f.href for f in two.enclosures] == ["http://cast.example/ep2.mp3"]


def test_jsonfeed_attachments_are_the_items_enclosures() -> None:
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "Cast", "items": [
        {"id": "e1", "content_text": "one", "attachments": [
            {"url": "/a/1.mp3", "mime_type": "audio/mpeg", "size_in_bytes": 4096},
            {"url": "http://x.example/1.m4a", "mime_type": "not a type", "size_in_bytes": -3},
            {"url": "ftp://x.example/no"}, "junk", {"mime_type": "audio/mpeg"}]},
        {"id": "e2", "content_text": "two", "attachments": "junk"}]}
    feed = parse_feed("http://cast.example/feed.json", json.dumps(doc).encode(),
                      {"content-type": "application/feed+json"}, now=NOW)
    e1, e2 = feed.entries
    assert [(f.href, f.type, f.length) for f in e1.enclosures] == [
        ("http://cast.example/a/1.mp3", "audio/mpeg", 4096), ("http://x.example/1.m4a", None, None)]
    assert e2.enclosures == ()


def test_jsonfeed_relative_links_resolve_against_the_fetch_url_not_home_page_url() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Rel",
        "home_page_url": "http://ex.org/",
        "items": [
            {"id": "j1", "url": "/rel/j1",
             "content_html": '<p><a href="more">more</a> <img src="/img/j1.png"></p>'},
            {"id": "j2", "external_url": "../out/j2", "content_text": "two"},
            {"id": "j3", "url": "//cdn.example.net/j3", "content_text": "three"},
        ],
    }
    body = json.dumps(doc).encode()
    feed = parse_feed("http://127.0.0.1:18767/feeds/json", body, {"content-type": "application/feed+json"}, now=NOW)
    j1, j2, j3 = feed.entries
    assert feed.link == "http://ex.org/"  # the site's own home page is still the feed's link
    assert j1.link == "http://127.0.0.1:18767/rel/j1"
    assert j1.content == (
        '<p><a href="http://127.0.0.1:18767/feeds/more" rel="noopener noreferrer">more</a> '
        '<img src="http://127.0.0.1:18767/img/j1.png"></p>'
    )
    assert j2.link == "http://127.0.0.1:18767/out/j2"
    assert j3.link == "http://cdn.example.net/j3"
    # a relative home_page_url resolves against the fetch URL too
    doc["home_page_url"] = "/site/"
    feed = parse_feed("http://127.0.0.1:18767/feeds/json", json.dumps(doc).encode(), {}, now=NOW)
    assert feed.link == "http://127.0.0.1:18767/site/"
    assert feed.entries[0].link == "http://127.0.0.1:18767/rel/j1"


@pytest.mark.parametrize(
    "body",
    [b'{"version": "1.0", "items": []}', b"[1, 2, 3]", b'{"title": "no version"}', b"{not json"],
)
def test_json_that_is_not_a_json_feed(body: bytes) -> None:
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed(FETCHED, body, {"content-type": "application/json"}, now=NOW)


@pytest.mark.parametrize("items", ["", ', "items": null', ', "items": []'])
def test_a_json_feed_without_items_yet_is_an_empty_feed(items: str) -> None:
    # gorilla/feeds (Go) leaves an empty items list out (omitempty), a Go nil slice is
    # written null: such a feed (a new site's, an empty tag's) failed at every refresh as
    # "not a feed", where the same site's RSS without items is read.
    body = ('{"version": "https://jsonfeed.org/version/1.1", "title": "New site"' + items + "}").encode()
    feed = parse_feed(FETCHED, body, {"content-type": "application/feed+json"}, now=NOW)
    assert (feed.title, feed.entries, feed.warning) == ("New site", (), None)
    with pytest.raises(ParseError, match="without an items array"):  # items that are no list still fail
        parse_feed(FETCHED, b'{"version": "https://jsonfeed.org/version/1.1", "items": {"id": "1"}}', {}, now=NOW)


@pytest.mark.parametrize("version", ["https://www.jsonfeed.org/version/1.1", "https://www.jsonfeed.org/version/1.1/",
                                     "http://jsonfeed.org/version/1", " https://jsonfeed.org/version/1.1 "])
def test_json_feed_version_written_as_the_spec_pages_address_is_a_json_feed(version: str) -> None:
    # The spec lives at https://www.jsonfeed.org/version/1.1/, and generators copy that
    # address (or an http:// one) into version; Miniflux and NetNewsWire read such feeds,
    # and they failed here as "not a JSON Feed".
    doc = {"version": version, "title": "Site", "items": [{"id": "1", "content_text": "x"}]}
    feed = parse_feed(FETCHED, json.dumps(doc).encode(), {"content-type": "application/feed+json"}, now=NOW)
    assert (feed.title, [e.key for e in feed.entries]) == ("Site", ["1"])
    for other in ("https://example.org/jsonfeed.org/version/1", "https://jsonfeed.org/versions", "2"):
        with pytest.raises(ParseError, match="not a JSON Feed"):
            parse_feed(FETCHED, json.dumps({**doc, "version": other}).encode(), {}, now=NOW)


@pytest.mark.parametrize("top", [{"authors": [{"name": "Feed Writer"}]}, {"author": {"name": "Feed Writer"}}])
def test_jsonfeed_items_without_an_author_take_the_feeds(top: dict[str, object]) -> None:
    # JSON Feed 1.1: "If not specified in an item, then the top-level authors, if
    # present, are the authors of the item" (1.0 says it of author).
    doc = {"version": "https://jsonfeed.org/version/1.1", **top, "items": [
        {"id": "1", "content_text": "mine"},
        {"id": "2", "content_text": "theirs", "authors": [{"name": "Guest"}]},
    ]}
    feed = parse_feed(FETCHED, json.dumps(doc).encode(), {"content-type": "application/feed+json"}, now=NOW)
    assert [e.author for e in feed.entries] == ["Feed Writer", "Guest"]


def test_jsonfeed_dates_in_lower_case_rfc3339_are_read() -> None:
    # RFC 3339 §5.6: "T" and "Z" may be lower case.
    doc = {"version": "https://jsonfeed.org/version/1.1", "items": [
        {"id": "1", "content_text": "x", "date_published": "2024-01-02t03:04:05z",
         "date_modified": "2024-01-03T00:00:00.5z"},
    ]}
    [entry] = parse_feed(FETCHED, json.dumps(doc).encode(), {}, now=NOW).entries
    assert (entry.published, entry.updated) == (utc(2024, 1, 2, 3, 4, 5), datetime(2024, 1, 3, 0, 0, 0, 500000,
                                                                                     tzinfo=timezone.utc))


def test_json_item_with_a_date_beyond_utc_range_is_kept_without_it() -> None:
    # Both are valid ISO dates whose UTC instant falls outside year 1..9999: the XML
    # paths drop such a date (fastparse and feedparser alike) and keep the entry.
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": [
        {"id": "a", "title": "far future", "date_published": "9999-12-31T23:59:59-05:00"},
        {"id": "b", "title": "year one", "date_modified": "0001-01-01T00:00:00+05:00",
         "date_published": "2024-05-01T12:00:00Z"}]}).encode()
    feed = parse_feed(FETCHED, body, {}, now=NOW)
    assert [(e.key, e.published, e.updated) for e in feed.entries] == [
        ("a", None, None), ("b", utc(2024, 5, 1, 12), None)]
    for date in ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"):
        atom = ('<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:f</id><entry><id>urn:a</id>'
                f"<title>a</title><published>{date}</published></entry></feed>").encode()
        [entry] = parse_feed(FETCHED, atom, {}, now=NOW).entries
        assert entry.published is None


def test_json_item_with_a_lone_surrogate_in_its_html_is_kept_without_it() -> None:
    # JSON.stringify of a text cut inside an emoji's surrogate pair writes the half it kept
    # as "\ud83d"; json.loads gives it back as a lone surrogate, which nh3 cannot take.
    body = (b'{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"a","title":"Cable cut",'
            b'"content_html":"<p>Baltic cable \\ud83d</p>","url":"http://news.example/a"}]}')
    [entry] = parse_feed(FETCHED, body, {}, now=NOW).entries
    assert (entry.key, entry.title, entry.content) == ("a", "Cable cut", "<p>Baltic cable </p>")
    assert sanitize_html("<b>x\udc00</b>", None) == "<b>x</b>"
    assert html_to_text("<b>x\ud800</b> y") == "x y"


def test_character_references_to_no_character_do_not_fail_the_feed() -> None:
    # Some servers write an emoji as its UTF-16 pair of references; feedparser's loose
    # parser raised on any reference to a surrogate or beyond U+10FFFF, failing every entry.
    body = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
            "<item><guid>a</guid><title>Party &#55357;&#56832; &#xd83d;&#xDE00;</title></item>"
            "<item><guid>b</guid><title>Lone &#xD800; far &#x110000; huge &#99999999999999999999; ok &#233;</title></item>"
            "<item><guid>c</guid><title>Low first &#56832;&#55357;</title></item>"
            "</channel></rss>").encode()
    feed = parse_feed(FETCHED, body, {"content-type": "application/rss+xml"}, now=NOW)
    assert [(e.key, e.title) for e in feed.entries] == [
        ("a", "Party \U0001f600 \U0001f600"), ("b", "Lone \ufffd far \ufffd huge \ufffd ok \xe9"),
        ("c", "Low first \ufffd\ufffd")]
    assert feed.warning is not None and "character reference" in feed.warning


def test_character_references_repaired_leave_nested_xml_bases_resolved() -> None:
    # lxml, which makes nested bases absolute, refused the document for its references.
    body = ('<feed xmlns="http://www.w3.org/2005/Atom" xml:base="/blog/"><title>Bases</title>'
            '<entry xml:base="2024/"><id>urn:b:1</id><title>Party &#55357;&#56832;</title><link href="post.html"/>'
            "</entry></feed>").encode("utf-8")
    [entry] = parse_feed("http://h.example/dir/feed", body, {"content-type": "application/atom+xml"}, now=NOW).entries
    assert (entry.title, entry.link) == ("Party \U0001f600", "http://h.example/blog/2024/post.html")


def test_json_feed_in_a_declared_charset_or_with_a_stray_byte_is_read() -> None:
    # RFC 8259 asks for UTF-8, but a PHP site sends ISO-8859-1 and says so in its
    # Content-Type, and a stray Windows-1252 byte lands in a UTF-8 document: both failed
    # the whole feed ("invalid JSON"), where an XML feed in either state is read.
    def doc(title: bytes) -> bytes:
        return (b'{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"a","title":"' + title
                + b'","content_text":"x"},{"id":"b","title":"Second","content_text":"y"}]}')

    feed = parse_feed(FETCHED, doc(b"Caf\xe9 cr\xe8me"), {"content-type": "application/feed+json; charset=iso-8859-1"},
                      now=NOW)
    assert ([e.title for e in feed.entries], feed.warning) == (["Caf\xe9 cr\xe8me", "Second"], None)
    # Undeclared, a document with no UTF-8 in it is the single-byte text it looks like.
    feed = parse_feed(FETCHED, doc(b"Caf\xe9 \x93quoted\x94"), {"content-type": "application/feed+json"}, now=NOW)
    assert [e.title for e in feed.entries] == ["Caf\xe9 \u201cquoted\u201d", "Second"]
    assert feed.warning is not None and "not UTF-8" in feed.warning
    # UTF-8 with one bad byte: that byte alone is lost, the rest reads as UTF-8.
    feed = parse_feed(FETCHED, doc("Caf\xe9 ".encode() + b"\xff"), {"content-type": "application/feed+json"}, now=NOW)
    assert [e.title for e in feed.entries] == ["Caf\xe9 \ufffd", "Second"]
    assert feed.warning is not None and "not UTF-8" in feed.warning
    # A UTF-8 document under a wrong charset is still UTF-8 (no mojibake).
    feed = parse_feed(FETCHED, doc("Caf\xe9".encode()), {"content-type": "application/json; charset=iso-8859-1"},
                      now=NOW)
    assert ([e.title for e in feed.entries], feed.warning) == (["Caf\xe9", "Second"], None)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("content_type", ["application/feed+json", "text/plain", ""])
def test_json_feed_in_utf16_or_utf32_is_read(encoding: str, content_type: str) -> None:
    # A Windows tool's JSON Feed in UTF-16 (with its byte order mark or without), which
    # RFC 7159 allowed and Python's JSON reader tells by its first bytes: it failed whole
    # as "invalid JSON", or unsniffed went to the XML parser, where a UTF-16 XML feed is read.
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "Caf\xe9", "items": [
        {"id": "1", "title": "\u201cQuoted\u201d", "content_text": "x"}]}
    feed = parse_feed(FETCHED, json.dumps(doc, ensure_ascii=False).encode(encoding),
                      {"content-type": content_type} if content_type else {}, now=NOW)
    assert (feed.title, [e.title for e in feed.entries], feed.warning) == ("Caf\xe9", ["\u201cQuoted\u201d"], None)


def test_utf16_xml_served_as_json_is_still_parsed_as_xml() -> None:
    body = (FEEDS / "rss091.xml").read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    feed = parse_feed(FETCHED, body.encode("utf-16"), {"content-type": "application/json"}, now=NOW)
    assert feed.title == "Old School News"


@pytest.mark.parametrize("before", [b"\xef\xbb\xbf\xef\xbb\xbf", b"\n\xef\xbb\xbf", b"\xef\xbb\xbf\r\n\xef\xbb\xbf  "])
def test_json_feed_after_a_second_byte_order_mark_is_read_with_a_warning(before: bytes) -> None:
    # A PHP site's files saved with a byte order mark each put one before the document:
    # the feed failed whole as "invalid JSON (Unexpected UTF-8 BOM)", where an RSS feed
    # in that state is read (with a warning).
    body = before + b'{"version":"https://jsonfeed.org/version/1.1","items":[{"id":"1","title":"A"}]}'
    feed = parse_feed(FETCHED, body, {"content-type": "application/feed+json"}, now=NOW)
    assert [e.title for e in feed.entries] == ["A"]
    assert feed.warning == "malformed JSON recovered: byte order mark before the document"
    rss = before + b'<rss version="2.0"><channel><title>t</title><item><guid>1</guid><title>A</title></item></channel></rss>'
    assert [e.title for e in parse_feed(FETCHED, rss, {}, now=NOW).entries] == ["A"]


def test_json_feed_numbers_too_large_for_python_fail_no_item_and_stay_apart() -> None:
    # Python reads an integer of more than 4,300 digits as an error and 1e999 as
    # infinity: one such number (in an extension, say) failed the whole feed, and two
    # items numbered 1e999 and 2e999 both had the id "inf", one of them lost.
    body = (b'{"version":"https://jsonfeed.org/version/1.1","items":['
            b'{"id":1e999,"title":"a"},{"id":2e999,"title":"b"},{"id":12,"title":"c"},'
            b'{"id":"d","title":"d","_ext":{"n":' + b"9" * 5000 + b'}}]}')
    feed = parse_feed(FETCHED, body, {"content-type": "application/feed+json"}, now=NOW)
    assert [(e.key, e.title) for e in feed.entries] == [("1e999", "a"), ("2e999", "b"), ("12", "c"), ("d", "d")]


def test_plain_text_summaries_keep_their_line_breaks() -> None:
    # An Atom summary is plain text unless typed (a video's description, a release's notes),
    # as a JSON Feed summary always is: published as HTML without a <br> at its line ends,
    # readers ran its lines and paragraphs together.
    atom = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><id>urn:t</id>'
            b'<entry><id>urn:1</id><title>A</title><link href="http://e.org/1"/>'
            b'<summary>Line one &amp; more\r\nLine two\n\nA new paragraph.</summary></entry></feed>')
    [entry] = parse_feed(FETCHED, atom, {}, now=NOW).entries
    assert entry.summary == "Line one &amp; more<br>\nLine two<br>\n<br>\nA new paragraph."
    doc = {"version": "https://jsonfeed.org/version/1.1", "items": [
        {"id": "1", "content_html": "<p>Body</p>", "summary": "One\nTwo <b>"},
        {"id": "2", "content_text": "Same\ntext", "summary": "Same\ntext"}]}
    first, second = parse_feed(FETCHED, json.dumps(doc).encode(), {}, now=NOW).entries
    assert (first.summary, second.summary) == ("One<br>\nTwo &lt;b&gt;", None)


def test_a_json_feed_summary_that_is_the_items_text_is_not_published_again() -> None:
    # A summary written as the item's content_text was kept beside the content when that
    # text held a character HTML escapes ("&", "<"), or when the content shown was the
    # item's HTML: readers showed the same words twice.
    doc = {"version": "https://jsonfeed.org/version/1.1", "items": [
        {"id": "1", "content_text": "Tom & Jerry <3", "summary": "Tom & Jerry <3"},
        {"id": "2", "content_html": "<p>Hello world</p>", "content_text": "Hello world", "summary": "Hello world"},
        {"id": "3", "content_html": "<p>Hello world</p>", "content_text": "Hello world", "summary": "A greeting"}]}
    first, second, third = parse_feed(FETCHED, json.dumps(doc).encode(), {}, now=NOW).entries
    assert (first.content, first.content_type, first.summary) == ("Tom & Jerry <3", "text", None)
    assert (second.content, second.summary) == ("<p>Hello world</p>", None)
    assert third.summary == "A greeting"


def test_json_feed_html_that_sanitizes_to_nothing_gives_way_to_the_items_text() -> None:
    # A video post: its content_html only an embed, which the sanitizer removes, and its
    # content_text the words. Both were lost: the item had no content, and rules never saw them.
    doc = {"version": "https://jsonfeed.org/version/1.1", "items": [
        {"id": "v", "title": "Video", "content_html": '<iframe src="https://video.example/embed/1"></iframe>',
         "content_text": "Footage of the drone strike on the depot."}]}
    [entry] = parse_feed(FETCHED, json.dumps(doc).encode(), {}, now=NOW).entries
    # ... and the embed is a link to the video, after them
    assert (entry.content, entry.content_type) == (
        '<p>Footage of the drone strike on the depot.</p><a href="https://video.example/embed/1" '
        'rel="noopener noreferrer">https://video.example/embed/1</a>', "html")
    doc["items"][0]["content_html"] = '<iframe src="javascript:void(0)"></iframe>'  # nothing left: the text
    [entry] = parse_feed(FETCHED, json.dumps(doc).encode(), {}, now=NOW).entries
    assert (entry.content, entry.content_type) == ("Footage of the drone strike on the depot.", "text")


def test_deeply_nested_json_is_a_parse_error() -> None:
    body = b'{"version":"https://jsonfeed.org/version/1.1","items":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(ParseError, match="invalid JSON .*nested too deeply"):
        parse_feed(FETCHED, body, {"content-type": "application/feed+json"}, now=NOW)


# --- encodings -----------------------------------------------------------------


def test_windows_1252_declared_in_prolog() -> None:
    feed = parse("cp1252_prolog.xml", "application/xml")
    assert feed.title == "Café “Quotes”"
    assert feed.entries[0].title == "Price: 5 € — naïve"
    assert feed.entries[0].summary == "Déjà vu"
    assert feed.warning is None


def test_charset_only_in_content_type_header() -> None:
    feed = parse("latin1_header_only.xml", "application/xml; charset=iso-8859-1")
    assert feed.title == "Zürich Nachrichten"
    assert feed.entries[0].title == "Grüße aus Zürich"
    assert feed.warning is None


def test_wrong_charset_is_recovered_with_a_warning() -> None:
    feed = parse("wrong_charset.xml", "application/rss+xml; charset=utf-8")
    assert feed.entries[0].title == "Fußball in Köln"
    assert feed.warning is not None and "encoding" in feed.warning


TEXT_XML_RSS = '<rss version="2.0"><channel><title>t</title><item><guid>one</guid><title>{}</title></item></channel></rss>'


@pytest.mark.parametrize("declaration", ['<?xml version="1.0" encoding="utf-8"?>', "", '<?xml version="1.0"?>'])
def test_utf8_feed_served_as_text_xml_without_charset_draws_no_warning(declaration: str) -> None:
    # RFC 7303 dropped RFC 3023's US-ASCII default for text/*: the document's own
    # encoding holds, and "declared as us-ascii" would misstate what the feed says.
    body = (declaration + TEXT_XML_RSS.format("Première")).encode("utf-8")
    feed = parse_feed(FETCHED, body, {"content-type": "text/xml"}, now=NOW)
    assert feed.entries[0].title == "Première"
    assert feed.warning is None


def test_latin1_feed_served_as_text_xml_without_charset_draws_no_warning() -> None:
    body = ('<?xml version="1.0" encoding="iso-8859-1"?>' + TEXT_XML_RSS.format("Première")).encode("latin-1")
    feed = parse_feed(FETCHED, body, {"content-type": "text/xml"}, now=NOW)
    assert feed.entries[0].title == "Première"
    assert feed.warning is None


def test_mislabelled_bytes_under_text_xml_still_warn() -> None:
    body = TEXT_XML_RSS.format("Новости").encode("cp1251")  # no declaration: UTF-8 by default
    feed = parse_feed(FETCHED, body, {"content-type": "text/xml"}, now=NOW)
    assert feed.warning is not None and "encoding" in feed.warning


@pytest.mark.parametrize("declaration", ['<?xml version="1.0" encoding="utf-16"?>', '<?xml version="1.0"?>', ""])
@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("content_type", ["application/rss+xml", "text/xml", "application/xml; charset=utf-16", ""])
def test_utf16_with_a_byte_order_mark_is_read_whatever_else_is_said(
    declaration: str, codec: str, content_type: str
) -> None:
    # The mark decides (XML 1.0 appendix F, RFC 7303): feedparser alone read such a
    # document only with encoding="utf-16" declared and a non-text type.
    mark = "\ufeff".encode(codec)
    body = mark + (declaration + TEXT_XML_RSS.format("Новости дня")).encode(codec)
    feed = parse_feed(FETCHED, body, {"content-type": content_type} if content_type else {}, now=NOW)
    assert [e.title for e in feed.entries] == ["Новости дня"]
    assert feed.warning is None


# --- broken and hostile documents ---------------------------------------------------


def test_malformed_xml_recovered_keeps_entries_and_warns() -> None:
    feed = parse("malformed.xml", "application/rss+xml")
    assert [e.key for e in feed.entries] == ["b-1", "b-2"]
    assert feed.entries[0].title == "First & only ampersand"
    assert feed.warning is not None
    assert feed.warning.startswith("malformed XML recovered:")
    assert "line 8" in feed.warning


RSS_TWO_ITEMS = (
    '<?xml version="1.0"?>\n<!-- <b>made by hand</b> -->\n<rss version="2.0"><channel><title>t</title>'
    "<item><guid>one</guid><title>One</title><description>The first, whole.</description></item>"
    "<item><guid>two</guid><title>Two</title><description>" + "A long text. " * 50 + "</description></item>"
    "</channel></rss>\n<!-- served in 3 ms -->\n"
)


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_a_document_cut_short_leaves_its_last_entry_out(bom: bytes) -> None:
    # Cut inside the second item's description: recovered, that entry has lost text, and
    # stored it would overwrite its whole version (the next whole document brings it).
    cut = RSS_TWO_ITEMS[: RSS_TWO_ITEMS.index("A long text. A long") + 8]
    feed = parse_feed(FETCHED, bom + cut.encode(), {"content-type": "application/rss+xml"}, now=NOW)
    assert [e.key for e in feed.entries] == ["one"]
    assert feed.entries[0].summary == "The first, whole."
    assert feed.warning is not None and feed.warning.startswith("malformed XML recovered:")
    assert feed.warning.endswith("; the document is cut short: its last entry was left out")


def test_an_atom_document_cut_inside_an_entry_leaves_that_entry_out() -> None:
    body = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:t</id>'
            b"<entry><id>urn:1</id><title>One</title><content>Whole.</content></entry>"
            b"<entry><id>urn:2</id><title>Two</title><content>Half a sen")
    feed = parse_feed(FETCHED, body, {"content-type": "application/atom+xml"}, now=NOW)
    assert [e.key for e in feed.entries] == ["urn:1"]
    assert feed.warning is not None and "cut short" in feed.warning


def test_a_malformed_document_that_ends_whole_keeps_every_entry() -> None:
    # An undefined entity (malformed, recovered) in a document whose root element closes,
    # followed by a comment: nothing is cut, nothing left out.
    body = RSS_TWO_ITEMS.replace("The first, whole.", "The first&nbsp;whole.").encode()
    feed = parse_feed(FETCHED, body, {"content-type": "application/rss+xml"}, now=NOW)
    assert [e.key for e in feed.entries] == ["one", "two"]
    assert feed.warning is not None and "cut short" not in feed.warning


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/xml", ""])
def test_html_page_is_not_a_feed(content_type: str) -> None:
    with pytest.raises(ParseError, match=r"not a feed: got an HTML page \(text/html\)|got an HTML page"):
        parse("html_page.html", content_type)


def test_html_page_message_names_the_type_and_the_feed_the_page_advertises() -> None:
    # A site's home page pasted as a source: its <link rel="alternate"> is the fix.
    with pytest.raises(ParseError) as info:
        parse("html_page.html", "text/html; charset=utf-8")
    assert str(info.value) == ("not a feed: got an HTML page (text/html); the page names its feed: "
                               "http://fetched.example.org/feed.xml (make that the url)")
    bare = b"<!DOCTYPE html><html><head><title>No feed here</title></head><body>x</body></html>"
    with pytest.raises(ParseError) as info:
        parse_feed(FETCHED, bare, {"content-type": "text/html"}, now=NOW)
    assert str(info.value) == "not a feed: got an HTML page (text/html)"


def test_html_page_that_names_its_own_url_as_the_feed_gives_no_advice_to_use_it() -> None:
    # An HTML answer at the feed's own URL (a "browser-friendly" page, a bot wall that
    # copies the site's head): "make that the url" would name the url it already is.
    page = (b'<html><head><link rel="alternate" type="application/rss+xml" href="/path/feed">'
            b'<link rel="alternate" type="application/atom+xml" href="' + FETCHED.encode() + b'"></head></html>')
    with pytest.raises(ParseError) as info:
        parse_feed(FETCHED, page, {"content-type": "text/html"}, now=NOW)
    assert str(info.value) == "not a feed: got an HTML page (text/html)"


@pytest.mark.parametrize(("page", "named"), [
    # Resolved against its <base>; javascript: and text/html links are no feeds.
    (b'<html><head><base href="https://cdn.example/b/">'
     b'<link rel="Alternate home" type="application/atom+xml; charset=utf-8" href="atom.xml">'
     b'<link rel="alternate" type="application/rss+xml" href="javascript:x">'
     b'<link rel="alternate" type="text/html" href="/fr/">'
     b'<link rel="alternate" type="application/feed+json" href="//j.example/f.json"></head></html>',
     "https://cdn.example/b/atom.xml, https://j.example/f.json"),
    # WordPress announces its REST API as application/json: no feed (a JSON Feed 1.0 is).
    (b'<html><head><link rel="alternate" type="application/rss+xml" href="https://blog.example/feed/">'
     b'<link rel="alternate" type="application/json" href="https://blog.example/wp-json/wp/v2/pages/2">'
     b'<link rel="alternate" type="application/json" href="https://blog.example/feed.json"></head></html>',
     "https://blog.example/feed/, https://blog.example/feed.json"),
])
def test_html_page_advertising_several_feeds_names_them(page: bytes, named: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_feed(FETCHED, page, {"content-type": "text/html"}, now=NOW)
    assert str(info.value) == (f"not a feed: got an HTML page (text/html); the page names its feeds: {named} "
                               "(make one the url)")


def test_html_page_advertising_thousands_of_feeds_is_named_in_linear_time() -> None:
    # A hostile or generated page within the 10 MiB body cap: each advertised feed was
    # checked against the list of those found, 60,000 links took 12 s of CPU.
    links = b"".join(b'<link rel="alternate" type="application/rss+xml" href="/f%d">' % i for i in range(60_000))
    page = b"<html><head>" + links + b"</head><body></body></html>"
    started = time.perf_counter()
    with pytest.raises(ParseError) as info:
        parse_feed(FETCHED, page, {"content-type": "text/html"}, now=NOW)
    assert time.perf_counter() - started < 3
    assert str(info.value).endswith("feeds: http://fetched.example.org/f0, http://fetched.example.org/f1, "
                                    "http://fetched.example.org/f2, ... (make one the url)")


def test_html_page_message_leaves_out_an_advertised_url_of_a_megabyte() -> None:
    # The message is the source's error: stored, kept in its fetch history at every
    # refresh, shown by status and /healthz. A hostile href made it a megabyte long.
    page = (b'<html><head><link rel="alternate" type="application/rss+xml" href="/' + b"x" * 1_000_000 + b'">'
            b'<link rel="alternate" type="application/atom+xml" href="/atom.xml"></head></html>')
    with pytest.raises(ParseError) as info:
        parse_feed(FETCHED, page, {"content-type": "text/html"}, now=NOW)
    assert str(info.value) == ("not a feed: got an HTML page (text/html); the page names its feed: "
                               "http://fetched.example.org/atom.xml (make that the url)")


@pytest.mark.parametrize("name", ["billion_laughs.xml", "xxe.xml"])
def test_entity_declarations_are_refused_fast_and_never_expanded(name: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ParseError, match="declares XML entities") as info:
        parse(name)
    assert time.perf_counter() - started < 0.5
    assert "root:" not in str(info.value) and "lol" not in str(info.value)


def test_entity_declaration_in_utf16_is_refused() -> None:
    body = (FEEDS / "xxe.xml").read_text("utf-8").replace('encoding="utf-8"', 'encoding="utf-16"')
    with pytest.raises(ParseError, match="declares XML entities"):
        parse_feed(FETCHED, body.encode("utf-16"), {}, now=NOW)


def test_doctype_text_inside_cdata_is_not_a_declaration() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>sec</title>'
        b"<item><guid>g</guid><title>XXE explained</title><description><![CDATA["
        b"<pre>&lt;!DOCTYPE x [&lt;!ENTITY e SYSTEM 'file:///etc/passwd'&gt;]&gt;</pre>"
        b"<!DOCTYPE x [<!ENTITY e 'raw'>]>]]></description></item></channel></rss>"
    )
    feed = parse_feed(FETCHED, body, {}, now=NOW)
    assert feed.entries[0].title == "XXE explained"


@pytest.mark.parametrize("body", [b"", b"   \n\t ", b"\x89PNG\r\n\x1a\n\x00\x00binary", b"just some words"])
def test_empty_or_garbage_body(body: bytes) -> None:
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed(FETCHED, body, {"content-type": "application/rss+xml"}, now=NOW)


def test_feed_served_as_text_html_is_still_a_feed() -> None:
    feed = parse("rss20_guids.xml", "text/html")
    assert len(feed.entries) == 4
    assert feed.warning is None


# --- entry rules ------------------------------------------------------------------------


def test_text_plain_content_stays_text() -> None:
    feed = parse("atom_text_content.xml", "application/atom+xml")
    entry = feed.entries[0]
    assert entry.content_type == "text"
    assert entry.content == "Use <b> for bold & <script>alert(1)</script> stays text"


def test_hostile_payload_is_sanitized() -> None:
    entry = by_key(parse("rss20_cases.xml"))["hostile"]
    html = entry.summary or ""
    assert entry.title == "Hostile <script>"  # a text title stays literal text
    assert entry.link is None  # a javascript: link is dropped
    assert "Safe text" in html
    lowered = html.lower()
    for banned in ("<script", "alert", "onclick", "onerror", "javascript:", "data:", "vbscript:",
                   "<iframe", "<style", "<object", "<embed", "<form", "<input"):
        assert banned not in lowered, banned
    assert 'src="http://fetched.example.org/path/x.png"' in html
    assert 'href="http://fetched.example.org/path/more.html"' in html


def test_future_date_is_clamped_to_now() -> None:
    entry = by_key(parse("rss20_cases.xml"))["future"]
    assert entry.published == NOW


def test_missing_dates_stay_none() -> None:
    entry = by_key(parse("rss20_cases.xml"))["undated"]
    assert entry.published is None and entry.updated is None


def test_updated_does_not_fall_back_to_published() -> None:
    # feedparser's entry.get("updated_parsed") answers published_parsed here.
    guids = parse("rss20_guids.xml")
    assert all(e.updated is None for e in guids.entries)
    assert guids.entries[0].published == utc(2024, 1, 2, 10)
    text = parse("atom_text_content.xml", "application/atom+xml")
    only_published, only_updated = text.entries
    assert only_published.published == utc(2024, 7, 1) and only_published.updated is None
    assert only_updated.updated == utc(2024, 6, 30) and only_updated.published is None


def test_a_bad_entry_does_not_sink_the_feed(monkeypatch: pytest.MonkeyPatch) -> None:
    import aggregator.parse as parse_module

    real = parse_module._struct_date
    calls = {"n": 0}

    def flaky(value: time.struct_time | None, now: datetime) -> datetime | None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return real(value, now)

    monkeypatch.setattr(parse_module, "_struct_date", flaky)
    feed = parse("rss20_guids.xml")
    assert len(feed.entries) == 3


@pytest.mark.parametrize("where", ["channel", "item"])
@pytest.mark.parametrize("name", ["links", "title_detail", "author_detail", "summary_detail", "published_parsed",
                                  "tags", "content", "authors"])
def test_an_element_named_as_feedparsers_own_keys_neither_fails_the_feed_nor_drops_its_entry(
        where: str, name: str) -> None:
    # feedparser keeps structures under these keys: an element of that name derails it into
    # storing its text there. The feed failed (internal error), or the entry was dropped
    # with only a line in the log.
    links = f"<{name}>http://a.example/other</{name}>"
    body = (f"<rss version='2.0'><channel>{links if where == 'channel' else ''}<title>T</title>"
            f"<link>http://a.example/</link><item>{links if where == 'item' else ''}"
            "<guid isPermaLink='false'>g1</guid><title>Kept</title><link>http://a.example/1</link>"
            "<description>Text</description></item></channel></rss>").encode()
    feed = parse_feed(FETCHED, body, {"content-type": "application/rss+xml"}, now=NOW)
    assert [(e.key, e.title, e.summary) for e in feed.entries] == [("g1", "Kept", "Text")]
    assert feed.title == "T"


@pytest.mark.parametrize(("written", "name"), [
    ("jane@news.agency (Jane Doe)", "Jane Doe"),
    ("Jane Doe &lt;jane@studio.design&gt;", "Jane Doe"),
    ("Jane (jane@a.museum)", "Jane"),
    ("jane@blog.online", "jane@blog.online"),
    ("jane@example.com (Jane Doe)", "Jane Doe"),
])
def test_an_rss_author_whose_address_has_a_long_top_level_domain_keeps_the_name(written: str, name: str) -> None:
    # feedparser's e-mail pattern stops after four letters of the top-level domain: the rest
    # of the address became the name ("cy (Jane Doe", "Jane Doe <gn>", "ne"), on both paths.
    from aggregator.parse import _parse_with_feedparser

    body = (f"<rss version='2.0'><channel><title>T</title><item><guid isPermaLink='false'>a</guid>"
            f"<title>t</title><author>{written}</author></item></channel></rss>").encode()
    for feed in (parse_feed(FETCHED, body, {}, now=NOW), _parse_with_feedparser(FETCHED, body, "", NOW)):
        assert [e.author for e in feed.entries] == [name]


@pytest.mark.parametrize(("written", "name"), [
    ("jane@news.agency (Jane Doe)", "Jane Doe"),
    ("Jane Doe &lt;jane@studio.design&gt;", "Jane Doe"),
    ("Jane (jane@a.museum)", "Jane"),
    ("jane@example.com (Jane Doe)", "Jane Doe"),
])
@pytest.mark.parametrize("second", ["<author>al@example.org (Al)</author>", "<dc:creator>Al</dc:creator>"])
def test_the_first_of_several_rss_authors_keeps_a_name_beside_a_long_top_level_domain(
        written: str, name: str, second: str) -> None:
    # The first author is the entry's; its name was read whole from feedparser's author,
    # which is the last one's: beside it, the first read "cy (Jane Doe" or "Jane Doe <gn>".
    body = (f"<rss version='2.0' xmlns:dc='http://purl.org/dc/elements/1.1/'><channel><title>T</title>"
            f"<item><guid isPermaLink='false'>a</guid><title>t</title><author>{written}</author>{second}"
            "</item></channel></rss>").encode()
    assert [e.author for e in parse_feed(FETCHED, body, {}, now=NOW).entries] == [name]


@pytest.mark.parametrize("written", ["Mon, 01 Jan 2024 10:00:00", "Mon, 1 Jan 2024 10:00", "01 Jan 2024 10:00:00"])
def test_an_rfc822_date_without_a_zone_is_read_as_utc_with_or_without_its_day_name(written: str) -> None:
    # feedparser read it without the day name only: with one, the date was lost.
    from aggregator.parse import _parse_with_feedparser

    body = (f"<rss version='2.0'><channel><title>T</title><item><guid isPermaLink='false'>a</guid>"
            f"<title>t</title><pubDate>{written}</pubDate></item></channel></rss>").encode()
    for feed in (parse_feed(FETCHED, body, {}, now=NOW), _parse_with_feedparser(FETCHED, body, "", NOW)):
        assert [e.published for e in feed.entries] == [utc(2024, 1, 1, 10)]


def test_entry_key_and_clamp_helpers() -> None:
    assert entry_key("  g  ", "http://l", "t", "c") == "g"
    assert entry_key("  ", " http://l ", "t", "c") == "http://l"
    assert entry_key(None, None, None, None) is None
    assert entry_key(None, None, "t", None) == "sha256:" + hashlib.sha256(b"t\0").hexdigest()
    assert clamp_date(datetime(2030, 1, 1), NOW) == NOW
    assert clamp_date(datetime(2020, 1, 1, 2, tzinfo=timezone.utc), NOW) == utc(2020, 1, 1, 2)


# --- sanitize ----------------------------------------------------------------------------


def test_sanitize_resolves_relative_refs_and_keeps_formatting() -> None:
    out = sanitize_html('<p><strong>B</strong> <a href="../x?a=1&amp;b=2#f">x</a> <img src="//cdn.example/i.png" alt="i"></p>',
                        "https://site.example/a/b/")
    assert out == (
        '<p><strong>B</strong> <a href="https://site.example/a/x?a=1&amp;b=2#f" rel="noopener noreferrer">x</a>'
        ' <img src="https://cdn.example/i.png" alt="i"></p>'
    )


def test_sanitize_without_base_drops_relative_refs() -> None:
    out = sanitize_html('<a href="x">x</a><img src="/i.png"><a href="https://ok.example/">ok</a>', None)
    assert 'href="x"' not in out and "i.png" not in out
    assert 'href="https://ok.example/"' in out


def test_sanitize_drops_cite_which_the_cleaner_would_pass_unresolved() -> None:
    # nh3 treats cite as text: kept, a relative cite would stay relative in published
    # content (ContainsRelRef) and a javascript: one would pass. The quote itself stays.
    out = sanitize_html('<blockquote cite="q/x">said</blockquote><q cite="javascript:alert(1)">x</q>'
                        '<del cite="/why" datetime="2024-01-01">old</del>', "https://site.example/a/")
    assert out == '<blockquote>said</blockquote><q>x</q><del datetime="2024-01-01">old</del>'


@pytest.mark.parametrize(
    "payload",
    ['<a href="java&#x09;script:alert(1)">x</a>', '<a href=" JaVaScRiPt:alert(1)">x</a>',
     '<img src="data:image/svg+xml,<svg onload=alert(1)>">', '<svg><script>alert(1)</script></svg>',
     '<div style="background:url(javascript:alert(1))">x</div>', '<a href="vbscript:x">x</a>'],
)
def test_sanitize_blocks_script_urls(payload: str) -> None:
    out = sanitize_html(payload, "https://site.example/").lower()
    assert "javascript" not in out and "alert" not in out and "vbscript" not in out and "data:" not in out


def test_sanitize_is_deterministic_and_idempotent() -> None:
    raw = (FEEDS / "rss20_cases.xml").read_text("utf-8")
    once = sanitize_html(raw, "https://site.example/")
    assert once == sanitize_html(raw, "https://site.example/")
    assert sanitize_html(once, "https://site.example/") == once


@pytest.mark.parametrize(
    "fragment",
    ['<p>plain <b>bold</b></p>', '<a href="rel/x">x</a>', '<a HREF="rel">x</a>', '<img SrC="i.png">',
     '<a href>empty</a>', '<img src>', '<blockquote cite="q/x">q</blockquote>', '<q cite="/a">x</q>',
     '<form action="f"><input formaction="g"></form>', '<object data="o"></object>', '<a ping="p">p</a>',
     '<video poster="v.png"></video>', '<img srcset="a.png 1x">', '<svg><a xlink:href="s">s</a></svg>',
     '<p>data, action, ping and poster in prose</p>', '<a title="x" lang="en">t</a>'],
)
def test_sanitize_skips_the_base_only_when_it_cannot_matter(fragment: str) -> None:
    # sanitize_html uses one shared cleaner for fragments without href/src; the output
    # must equal the one from the cleaner built for the base.
    from aggregator.sanitize import _cleaner

    base = "https://site.example/a/b"
    assert sanitize_html(fragment, base) == _cleaner(base).clean(fragment).strip()


def test_sanitize_shortcut_for_unchanged_fragments_agrees_with_the_cleaner() -> None:
    # ASCII text and bare <p> paragraphs skip the cleaner; random fragments from those parts
    # and the characters and tags it does rewrite must come out as the cleaner has them.
    import random

    from aggregator.sanitize import _cleaner, _unchanged_by_cleaner

    base = "https://site.example/a/b"
    rng = random.Random(5)
    chars = [chr(c) for c in [*range(1, 0x3000), *range(0x3000, 0x110000, 97)] if not 0xD800 <= c <= 0xDFFF]
    parts = ["<p>", "</p>", "<p>", "</p>", "<P>", "<br>", "<b>", "&amp;", "&", "<", ">", "\r\n", "\x00", "\xa0",
             " ", "\n", "text", "é", "<p >", "</p >", "<!-- c -->", "<a href='x'>"]

    def piece() -> str:
        draw = rng.random()
        return rng.choice(parts) if draw < 0.4 else rng.choice(chars[:126] if draw < 0.9 else chars)

    shortcut = 0
    for _ in range(5000):
        fragment = "".join(piece() for _ in range(rng.randint(1, 12)))
        shortcut += _unchanged_by_cleaner(fragment)
        assert sanitize_html(fragment, base) == _cleaner(base).clean(fragment).strip(), repr(fragment)
    for ch in chars:
        fragment = f"<p>a{ch}b</p> {ch}"
        assert sanitize_html(fragment, base) == _cleaner(base).clean(fragment).strip(), repr(fragment)
    assert shortcut > 300  # the shortcut was really exercised


@pytest.mark.parametrize("code", ["\nls -l\n", "\n\nls -l", "ls -l", "\r\n\nx"])
def test_sanitize_keeps_the_blank_line_a_pre_block_starts_with(code: str) -> None:
    # An HTML parser drops the one line break right after <pre>; the cleaner's serializer
    # does not write it back, so code that began with a blank line lost it, and lost one
    # more line break at each cleaning and at the reader's parse.
    import html

    import nh3

    sent = f'<pre title="a>\nb">\n{code}</pre>'
    cleaned = sanitize_html(sent, None)
    assert sanitize_html(cleaned, None) == cleaned

    def read(fragment: str) -> str:  # the text of the <pre> as an HTML5 parser (html5ever) has it
        return html.unescape(nh3.clean(fragment, tags=set()))

    assert read(cleaned) == read(sent) == code.replace("\r\n", "\n")
    assert 'title="a&gt;\nb"' in cleaned


def test_html_to_text() -> None:
    assert html_to_text("A &amp; <b>b</b>\n <script>x()</script> c") == "A & b c"


def test_html_titles_keep_the_space_a_line_break_or_block_makes() -> None:
    # "Line one<br>Line two" read "Line oneLine two"; inline markup still joins as written.
    assert html_to_text("Line one<br>Line two") == "Line one Line two"
    assert html_to_text("<p>Ships</p><p>collide</p><BR/>x<li>y</li>") == "Ships collide x y"
    assert html_to_text("X<b>html</b> ti<span>tle</span>, &lt;br&gt; kept") == "Xhtml title, <br> kept"
    body = ('<feed xmlns="http://www.w3.org/2005/Atom"><title type="html">News&lt;br/&gt;Desk</title>'
            '<id>urn:f</id><entry><id>urn:a</id><title type="html">Breaking:&lt;br&gt;Cable cut</title>'
            '<updated>2024-05-01T12:00:00Z</updated></entry></feed>').encode()
    feed = parse_feed(FETCHED, body, {"content-type": "application/atom+xml"}, now=NOW)
    assert (feed.title, feed.entries[0].title) == ("News Desk", "Breaking: Cable cut")


XXE_DOCTYPE = '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
XXE_REST = '<rss version="2.0"><channel><title>&xxe;</title><item><guid>g</guid><title>&xxe;</title></item></channel></rss>'


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        # A comment holding "<a>" must not end the prolog scan early.
        (('<?xml version="1.0"?><!-- <a href="x"> -->\n' + XXE_DOCTYPE + XXE_REST).encode(), ""),
        (("<?pi <b> ?>" + XXE_DOCTYPE.replace("ENTITY", "entity") + XXE_REST).encode(), ""),
        # UTF-16 without a BOM, named only by the HTTP charset.
        (('<?xml version="1.0"?>' + XXE_DOCTYPE + XXE_REST).encode("utf-16-be"), "application/xml; charset=utf-16be"),
        # EBCDIC, which feedparser recognises by its signature and transcodes.
        (('<?xml version="1.0" encoding="cp037"?>' + XXE_DOCTYPE + XXE_REST).encode("cp037"), ""),
        # ... and then decodes with the code page its declaration names, where "!" and "["
        # are other bytes than in cp037.
        (('<?xml version="1.0" encoding="cp500"?>' + XXE_DOCTYPE + XXE_REST).encode("cp500"), ""),
        (('<?xml version="1.0" encoding="cp273"?>' + XXE_DOCTYPE + XXE_REST).encode("cp273"), ""),
        # UTF-7 declared in the prolog: "+ADw-" is "<".
        (b'<?xml version="1.0" encoding="utf-7"?>+ADw-+ACE-DOCTYPE rss +AFs-+ADw-+ACE-ENTITY xxe SYSTEM'
         b' +ACI-file:///etc/passwd+ACI-+AD4-+AF0-+AD4-' + XXE_REST.encode(), ""),
        # A "]>" inside the subset's comments, PIs or literals does not end it.
        (XXE_DOCTYPE.replace("[", "[<!-- ]> -->").encode() + XXE_REST.encode(), ""),
        (XXE_DOCTYPE.replace("[", "[<?pi ]> ?>").encode() + XXE_REST.encode(), ""),
        (XXE_DOCTYPE.replace("[", '[<!ATTLIST rss a CDATA "]>">').encode() + XXE_REST.encode(), ""),
        (XXE_DOCTYPE.replace("[", "[<!NOTATION n SYSTEM ']><a>'>").encode() + XXE_REST.encode(), ""),
        # Nor does a ">" or "[" in the DOCTYPE's own system id.
        (XXE_DOCTYPE.replace("rss [", 'rss SYSTEM "a>b[" [').encode() + XXE_REST.encode(), ""),
        # Declarations after the DOCTYPE, or behind text a parser may skip, are still in the prolog.
        (('<!DOCTYPE rss>\n<!--\n<!ENTITY xxe "hidden">\n-->' + XXE_REST).encode(), ""),
        (("junk" + XXE_DOCTYPE.replace("[", "[<!-- ]> -->") + XXE_REST).encode(), ""),
        (XXE_DOCTYPE.replace("<!ENTITY ", "<!ENTITY\n").encode() + XXE_REST.encode(), ""),
    ],
)
def test_hidden_entity_declarations_are_refused(body: bytes, content_type: str) -> None:
    with pytest.raises(ParseError, match="declares XML entities"):
        parse_feed(FETCHED, body, {"content-type": content_type}, now=NOW)


def test_entities_behind_a_comment_holding_the_subset_end_are_never_expanded() -> None:
    laughs = '<!ENTITY l0 "lol">' + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 7))
    body = (f'<?xml version="1.0"?><!DOCTYPE rss [<!-- ]> -->{laughs}]>'
            '<rss version="2.0"><channel><title>T</title><item><guid>g</guid><title>x</title>'
            "<description>&l6;</description></item></channel></rss>").encode()
    started = time.perf_counter()
    with pytest.raises(ParseError, match="declares XML entities"):
        parse_feed(FETCHED, body, {"content-type": "application/xml"}, now=NOW)
    assert time.perf_counter() - started < 0.5


def test_entity_text_after_the_root_start_is_content() -> None:
    # A DOCTYPE whose subset holds "]>" in a comment and literals, then "<!ENTITY" in CDATA.
    body = (b'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "x.dtd" [<!-- ]> --><!ATTLIST rss v CDATA "]>">]>'
            b'<!-- after --><rss version="2.0"><channel><title>sec</title><item><guid>g</guid>'
            b'<title>XXE</title><description><![CDATA[<p>Write <!ENTITY e "raw"> like so</p>]]></description>'
            b"</item></channel></rss>")
    feed = parse_feed(FETCHED, body, {}, now=NOW)
    assert [(e.title, e.summary) for e in feed.entries] == [("XXE", "<p>Write  like so</p>")]


def test_doctype_without_entities_is_accepted() -> None:
    feed = parse("rss091.xml")  # carries the Netscape RSS 0.91 DOCTYPE
    assert len(feed.entries) == 2


def test_xml_served_as_json_is_still_parsed_as_xml() -> None:
    feed = parse("rss091.xml", "application/json")
    assert feed.title == "Old School News"


@pytest.mark.parametrize(
    "url",
    ["http://a.example/x", "HTTPS://A.example", "https://a.example?q=1", "http://a.example#f", "http://u:p@h:81/",
     "http://[::1]/", "http://[::1/", "http://a]b/", "http://a[b/", "http:///path", "http://", "https://?q",
     "http://ex\u00e4mple.org/", "http://a\tb/", "http://a b/", "javascript://x/%0aalert(1)", "ftp://a.example/",
     "http:/a.example/", "//a.example/x", "  http://a.example/  ", "http://a.example/\u00e4?\u00fc#\u00f6",
     "http://%41.example/", "http://a.example:99999/", "http://\uff21.example/", "http://a.example/ b"],
)
def test_http_url_shortcut_agrees_with_urlsplit(url: str) -> None:
    from urllib.parse import urlsplit

    from aggregator.parse import _http_url

    value = url.strip()
    try:
        parts = urlsplit(value)
        expected = value if parts.scheme.lower() in ("http", "https") and parts.netloc else None
    except ValueError:
        expected = None
    assert _http_url(url) == expected


@pytest.mark.parametrize(("fragment", "expected"), [
    ('<p><img data-src="/a.jpg" alt="x"></p>', '<p><img src="http://ex.org/a.jpg" alt="x"></p>'),
    ('<img src="data:image/gif;base64,R0lGOD" data-lazy-src="https://c.example/b.png?w=1&amp;h=2">',
     '<img src="https://c.example/b.png?w=1&amp;h=2">'),
    ("<IMG DATA-ORIGINAL='c.png' class=lazy>", '<img src="http://ex.org/p/c.png">'),
    ('<img src="/real.jpg" data-src="/hi.jpg">', '<img src="http://ex.org/real.jpg">'),  # a real src stays
    ('<img data-src="javascript:alert(1)">', "<img>"),  # and the cleaner still judges the URL
    ('<p data-src="/x.jpg">text</p>', "<p>text</p>"),  # images only
])
def test_lazy_loaded_images_keep_their_picture(fragment: str, expected: str) -> None:
    # WordPress and others publish <img data-src> for a script to swap in: no reader runs it.
    assert sanitize_html(fragment, "http://ex.org/p/") == expected


@pytest.mark.parametrize(("fragment", "expected"), [
    # A WordPress post's embedded YouTube video: the cleaner dropped it, and the post read
    # as if it had none.
    ('<p>Watch:</p><iframe width="560" src="https://www.youtube.com/embed/abc" title="YouTube video player">'
     '</iframe><p>After.</p>',
     '<p>Watch:</p><a href="https://www.youtube.com/embed/abc" rel="noopener noreferrer">'
     'https://www.youtube.com/embed/abc</a><p>After.</p>'),
    ('<video controls src="/v.mp4">No video.</video>',
     '<a href="https://ex.org/v.mp4" rel="noopener noreferrer">https://ex.org/v.mp4</a>No video.'),
    ('<VIDEO><source src="v.webm" type="video/webm"></VIDEO>',
     '<a href="https://ex.org/p/v.webm" rel="noopener noreferrer">https://ex.org/p/v.webm</a>'),
    ('<iframe src="//player.vimeo.com/video/1?a=1&amp;b=2"></iframe>',
     '<a href="https://player.vimeo.com/video/1?a=1&amp;b=2" rel="noopener noreferrer">'
     'https://player.vimeo.com/video/1?a=1&amp;b=2</a>'),
    ('<iframe src="javascript:alert(1)"></iframe><embed src="data:text/html,x">', ""),  # no http(s): nothing
    ('<iframe src="http://[oops/"></iframe>', ""),
    ("<p>&lt;iframe src=x&gt; is text</p>", "<p>&lt;iframe src=x&gt; is text</p>"),
    # WordPress's [audio] shortcode (every WordPress podcast's post): its fallback link is
    # the link; one more, of its <source>, ran into it ("https://…/ep1.mp3?_=1https://…").
    ('<audio class="wp-audio-shortcode" id="audio-1-1" preload="none" controls="controls">'
     '<source type="audio/mpeg" src="https://c.example/ep1.mp3?_=1" />'
     '<a href="https://c.example/ep1.mp3">https://c.example/ep1.mp3</a></audio><p>Notes.</p>'
     '<video><source src="https://c.example/v.mp4"></video>',
     '<a href="https://c.example/ep1.mp3" rel="noopener noreferrer">https://c.example/ep1.mp3</a><p>Notes.</p>'
     '<a href="https://c.example/v.mp4" rel="noopener noreferrer">https://c.example/v.mp4</a>'),
    # A video's two sources, two frames in a row: their links ran together as one text.
    ('<video controls><source src="v.webm" type="video/webm"><source src="v.mp4" type="video/mp4"></video>'
     '<iframe src="https://a.example/1"></iframe><iframe src="https://a.example/2"></iframe>'
     '<p><iframe src="https://a.example/3"></iframe></p>',
     '<a href="https://ex.org/p/v.webm" rel="noopener noreferrer">https://ex.org/p/v.webm</a>'
     ' <a href="https://ex.org/p/v.mp4" rel="noopener noreferrer">https://ex.org/p/v.mp4</a>'
     ' <a href="https://a.example/1" rel="noopener noreferrer">https://a.example/1</a>'
     ' <a href="https://a.example/2" rel="noopener noreferrer">https://a.example/2</a>'
     '<p><a href="https://a.example/3" rel="noopener noreferrer">https://a.example/3</a></p>'),
])
def test_an_embedded_video_or_frame_is_a_link_to_it(fragment: str, expected: str) -> None:
    assert sanitize_html(fragment, "https://ex.org/p/") == expected


def test_atom_content_out_of_line_is_the_entrys_link_when_it_has_none() -> None:
    # <content src="report.pdf"/>: no text, no alternate link. Published with neither, the
    # reader had nothing to open; the document is the entry's link now (resolved against
    # its xml:base), and an alternate link still wins.
    body = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="http://a.example/docs/">'
            b"<title>T</title><id>urn:x</id><updated>2024-01-01T00:00:00Z</updated>"
            b'<entry><title>Report</title><id>urn:a</id><updated>2024-01-01T00:00:00Z</updated>'
            b'<content type="application/pdf" src="report.pdf"/></entry>'
            b'<entry><title>Page</title><id>urn:b</id><updated>2024-01-01T00:00:00Z</updated>'
            b'<link href="/page"/><content type="application/pdf" src="other.pdf"/></entry></feed>')
    feed = parse_feed(FETCHED, body, {"content-type": "application/atom+xml"}, now=NOW)
    assert [(e.key, e.link) for e in feed.entries] == [
        ("urn:a", "http://a.example/docs/report.pdf"), ("urn:b", "http://a.example/page")]


@pytest.mark.parametrize("malformed", [False, True])
@pytest.mark.parametrize(("name", "atom"), [("links", False), ("links", True), ("authors", False),
                                            ("author_detail", False)])
def test_an_element_named_as_feedparsers_own_keys_keeps_the_link_files_and_author_after_it(
        name: str, atom: bool, malformed: bool) -> None:
    # feedparser stored the element's text under its key, and the handlers of the <link>,
    # <enclosure> and <author> after it failed on that text: those were lost (the link, so
    # the key, the podcast's file, the author), in its strict and its loose parser.
    from aggregator.parse import _parse_with_feedparser

    stray = f"<{name}>x</{name}>"
    if atom:
        body = ("<feed xmlns='http://www.w3.org/2005/Atom'><title>T</title><entry><id>urn:e1</id>"
                f"<title>A</title>{stray}<link href='http://a.example/1'/>"
                "<link rel='enclosure' href='http://a.example/1.mp3' type='audio/mpeg' length='9'/>"
                "<author><name>Jo</name></author></entry></feed>")
    else:
        body = (f"<rss version='2.0'><channel><title>T</title><item><title>A</title>{stray}"
                "<link>http://a.example/1</link><author>jo@news.example (Jo)</author>"
                "<enclosure url='http://a.example/1.mp3' type='audio/mpeg' length='9'/></item></channel></rss>")
    if malformed:
        body = body.replace("<title>T</title>", "<title>T</titl></title>")
    for feed in (parse_feed(FETCHED, body.encode(), {}, now=NOW), _parse_with_feedparser(FETCHED, body.encode(), "", NOW)):
        assert [(e.link, e.author, e.enclosures) for e in feed.entries] == [
            ("http://a.example/1", "Jo", (Enclosure("http://a.example/1.mp3", "audio/mpeg", 9),))]


@pytest.mark.parametrize("summary", ["", "<summary>A chart of sales</summary>"])
@pytest.mark.parametrize("kind", ["image/png", "application/pdf"])
def test_atom_binary_content_is_not_published_as_the_entrys_text(kind: str, summary: str) -> None:
    # RFC 4287 §4.1.3.3: content of a type neither text nor XML is base64. It was taken for
    # the entry's text (feedparser's copy of it for its summary too): a reader showed a screen
    # of base64, or the decoded bytes. The entry reads as without it: its summary, else its title.
    from aggregator.parse import _parse_with_feedparser

    data = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(64)) if kind == "image/png" else b"plain words").decode()
    body = ("<feed xmlns='http://www.w3.org/2005/Atom'><title>T</title><entry><id>urn:e1</id><title>Chart</title>"
            f"<link href='http://a.example/1'/>{summary}<content type='{kind}'>{data}</content></entry></feed>").encode()
    for feed in (parse_feed(FETCHED, body, {}, now=NOW), _parse_with_feedparser(FETCHED, body, "", NOW)):
        assert [(e.title, e.content, e.summary) for e in feed.entries] == [
            ("Chart", None, "A chart of sales" if summary else None)]


@pytest.mark.parametrize(("written", "instant"), [
    ("Mon, 01 Jan 2024 10:00:00 GMT", utc(2024, 1, 1, 10)),
    ("Mon, 01 Jan 2024 10:00:00 +0100", utc(2024, 1, 1, 9)),
    ("2024-01-01T10:00:00z", utc(2024, 1, 1, 10)),
    ("not a date", None),
])
def test_a_json_feed_date_written_as_rss_writes_it_is_read(written: str, instant: datetime | None) -> None:
    # JSON Feed asks for RFC 3339; some generators write RSS's RFC 822 dates. They were lost
    # (every item dated at its fetch), where the XML path, and other readers, read them.
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": [
        {"id": "1", "content_text": "x", "date_published": written, "date_modified": written}]}).encode()
    feed = parse_feed(FETCHED, body, {"content-type": "application/feed+json"}, now=NOW)
    assert [(e.published, e.updated) for e in feed.entries] == [(instant, instant)]


@pytest.mark.parametrize("guid", ["<guid>http://a.example/p/1</guid>",
                                  "<guid isPermaLink='false'>http://a.example/p/1</guid>", "<guid>p1</guid>"])
@pytest.mark.parametrize("link", ["<link/>", "<link> </link>"])
@pytest.mark.parametrize("guid_first", [False, True])
def test_an_items_empty_link_gives_way_to_its_permalink_guid(link: str, guid: str, guid_first: bool) -> None:
    # The empty <link/> was the item's link (before the GUID or after it), and a permalink
    # GUID, the page the item names (RSS 2.0), was not: the item had nothing to open.
    from aggregator.parse import _parse_with_feedparser

    item = guid + link if guid_first else link + guid
    body = f"<rss version='2.0'><channel><title>T</title><item><title>A</title>{item}</item></channel></rss>".encode()
    expected = "http://a.example/p/1" if "isPermaLink" not in guid and "http" in guid else None
    for feed in (parse_feed(FETCHED, body, {}, now=NOW), _parse_with_feedparser(FETCHED, body, "", NOW)):
        assert [e.link for e in feed.entries] == [expected]


@pytest.mark.parametrize("body", [
    # An RSS item's link, then an empty atom:link (an alternate link whose href a template
    # left empty): the previous release read it as no link on both paths (the item keyed by
    # its text), and the feedparser path still does.
    "<rss version='2.0' xmlns:atom='http://www.w3.org/2005/Atom'><channel><title>T</title><item>"
    "<title>A</title><link>http://a.example/p/1</link><atom:link rel='alternate' href=''/></item></channel></rss>",
    "<feed xmlns='http://www.w3.org/2005/Atom'><title>T</title><id>urn:f</id><entry><title>A</title>"
    "<id>urn:e</id><link href='http://a.example/p/1'/><link href=''/></entry></feed>",
    "<feed xmlns='http://www.w3.org/2005/Atom'><title>T</title><id>urn:f</id><entry><title>A</title>"
    "<link href=''/><id>http://a.example/p/1</id></entry></feed>",
])
def test_an_empty_href_reads_as_the_feedparser_path_and_the_previous_release_read_it(body: str) -> None:
    # The fast path took an empty RSS <link/> for none (review 44) and, with it, an empty
    # href: the entry had the link (and the RSS item the key) it had before only on the
    # feedparser path, so it was stored again as a new item, or dated anew, at the upgrade,
    # and again each time its feed went the other path.
    from aggregator.parse import _parse_with_feedparser

    fast = parse_feed(FETCHED, body.encode(), {}, now=NOW)
    slow = _parse_with_feedparser(FETCHED, body.encode(), "", NOW)
    assert fast.entries == slow.entries
    assert [e.link for e in fast.entries] == [None]


@pytest.mark.parametrize("document", [
    "<rss version='2.0' xmlns:dc='http://purl.org/dc/elements/1.1/'><channel><title>T</title><item>"
    "<guid isPermaLink='false'>a</guid><title>t</title><dc:creator>\n  Jane\n\tDoe\r\n</dc:creator></item></channel></rss>",
    "<rss version='2.0'><channel><title>T</title><item><guid isPermaLink='false'>a</guid><title>t</title>"
    "<author>jane@example.com (Jane\n   Doe)</author></item></channel></rss>",
    "<feed xmlns='http://www.w3.org/2005/Atom'><title>T</title><id>urn:f</id><updated>2024-01-01T00:00:00Z</updated>"
    "<author><name>Jane\n  Doe</name></author><entry><id>urn:a</id><title>t</title>"
    "<updated>2024-01-01T00:00:00Z</updated></entry></feed>",
    "<feed xmlns='http://www.w3.org/2005/Atom'><title>T</title><id>urn:f</id><updated>2024-01-01T00:00:00Z</updated>"
    "<entry><id>urn:a</id><title>t</title><updated>2024-01-01T00:00:00Z</updated>"
    "<author><name>Jane\u2028Doe </name></author></entry></feed>",
    json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "T",
                "items": [{"id": "a", "content_text": "t", "authors": [{"name": " Jane\n\n Doe"}]}]}),
])
def test_an_authors_name_is_one_line(document: str) -> None:
    # A CMS that wraps the name (a template's line breaks inside <dc:creator>) sends it over
    # several lines: the name is one line, runs of whitespace one space, as a title is.
    from aggregator.parse import _parse_with_feedparser

    body = document.encode()
    feeds = [parse_feed(FETCHED, body, {}, now=NOW)]
    if not document.startswith("{"):
        feeds.append(_parse_with_feedparser(FETCHED, body, "", NOW))
    for feed in feeds:
        assert [e.author for e in feed.entries] == ["Jane Doe"]


@pytest.mark.parametrize("url", ["javascript:void(0)", "mailto:editor@example.org", "urn:uuid:1", "   ", None])
def test_a_json_feed_items_unusable_url_gives_way_to_its_external_url(url: str | None) -> None:
    # The item's url was taken whenever it was set, then dropped as no http(s) link: the
    # external_url beside it, the one page to open, was never looked at.
    item = {"id": "1", "content_text": "t", "external_url": "https://elsewhere.example/story"}
    if url is not None:
        item["url"] = url
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": [item]}).encode()
    feed = parse_feed(FETCHED, body, {"content-type": "application/feed+json"}, now=NOW)
    assert [e.link for e in feed.entries] == ["https://elsewhere.example/story"]


@pytest.mark.parametrize(("written", "name"), [
    ('<![CDATA[<a href="https://news.example/u/jo" rel="author">Jo  Smith</a>]]>', "Jo Smith"),
    ("<![CDATA[<span class='byline'>Jo &amp; Al</span>]]>", "Jo & Al"),
    ("Jo &lt; Al", "Jo < Al"),
    ("Jo &amp; Al", "Jo & Al"),
])
def test_an_author_written_as_markup_is_its_text(written: str, name: str) -> None:
    # WordPress themes and others put a link to the author's page in <dc:creator>: the name
    # was stored and published with its tags ("<a href=...>Jo Smith</a>" in readers); it is
    # the markup's text, as Miniflux reads it. A name without tags is kept as it is.
    from aggregator.parse import _parse_with_feedparser

    body = ("<rss version='2.0' xmlns:dc='http://purl.org/dc/elements/1.1/'><channel><title>T</title><item>"
            f"<guid isPermaLink='false'>a</guid><title>t</title><dc:creator>{written}</dc:creator></item>"
            "</channel></rss>").encode()
    for feed in (parse_feed(FETCHED, body, {}, now=NOW), _parse_with_feedparser(FETCHED, body, "", NOW)):
        assert [e.author for e in feed.entries] == [name]


# Dates no calendar or clock has: feedparser's ISO 8601 handler rolled them over (mktime) into
# real dates ("2024-02-30" was 1 March), and its W3DTF and RFC 822 handlers took any two digits
# of a numeric zone for hours ("+2500" a day and an hour ahead). Such a date is none.
IMPOSSIBLE_DATES = [
    "2024-02-30T10:00:00Z", "2023-02-29T10:00:00+00:00", "2024-02-30", "2024-13-01T10:00:00Z",
    "2024-01-01T99:00:00Z", "2024-01-01T10:61:00Z", "2024-01-01T10:00:61Z", "2024-02-30 10:00:00",
    "2024-01-01T10:00:00+25:00", "2024-01-01T10:00:00-99:00", "2024-01-01T10:00:00+05:99", "2024-01-01T10:00:00+2500",
    "Fri, 30 Feb 2024 10:00:00 GMT", "Mon, 01 Jan 2024 99:00:00 GMT", "Mon, 01 Jan 2024 10:61:00 GMT",
    "Mon, 01 Jan 2024 10:00:00 +2500", "Mon, 01 Jan 2024 10:00:00 -9900", "Mon, 01 Jan 2024 10:00:00 +0099",
    "Mon, 01 Jan 2024 10:00:00 GMT+25:00", "Fri, 2024/02/30 10:00:00 EDT",
]


@pytest.mark.parametrize("written", IMPOSSIBLE_DATES)
def test_an_impossible_date_is_no_date_on_every_path(written: str) -> None:
    from aggregator.parse import _parse_with_feedparser

    for tag in ("pubDate", "dc:date"):
        body = (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0' xmlns:dc='http://purl.org/dc/elements/1.1/'>"
                f"<channel><title>t</title><link>http://x.example/</link><item><title>a</title>"
                f"<guid isPermaLink='false'>1</guid><{tag}>{written}</{tag}></item></channel></rss>").encode()
        for feed in (parse_feed(FETCHED, body, {"content-type": "application/rss+xml"}, now=NOW),
                     _parse_with_feedparser(FETCHED, body, "application/rss+xml", NOW)):
            [entry] = feed.entries
            assert (entry.published, entry.updated) == (None, None), (tag, written)
    atom_body = (f"<feed xmlns='http://www.w3.org/2005/Atom'><id>urn:f</id><title>t</title><updated>2024-01-01T00:00:00Z"
                 f"</updated><entry><id>urn:1</id><title>a</title><published>{written}</published><updated>{written}"
                 f"</updated></entry></feed>").encode()
    for feed in (parse_feed(FETCHED, atom_body, {"content-type": "application/atom+xml"}, now=NOW),
                 _parse_with_feedparser(FETCHED, atom_body, "application/atom+xml", NOW)):
        [entry] = feed.entries
        assert (entry.published, entry.updated) == (None, None), written
    json_body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "t", "items": [
        {"id": "1", "content_text": "x", "date_published": written, "date_modified": written}]}).encode()
    [entry] = parse_feed(FETCHED, json_body, {"content-type": "application/feed+json"}, now=NOW).entries
    assert (entry.published, entry.updated) == (None, None), written


@pytest.mark.parametrize(("written", "instant"), [
    ("2024-01-01T10:00:00+14:00", utc(2023, 12, 31, 20)), ("2024-01-01T10:00:00-12:00", utc(2024, 1, 1, 22)),
    ("2024-01-01T10:00:00+23:59", utc(2023, 12, 31, 10, 1)), ("Mon, 01 Jan 2024 10:00:00 +1345", utc(2023, 12, 31, 20, 15)),
    ("2024-01-01T24:00:00Z", utc(2024, 1, 2)),  # ISO 8601's end of the day
    ("2024-02-29T10:00:00Z", utc(2024, 2, 29, 10)),
])
def test_dates_at_the_edges_of_their_ranges_are_read(written: str, instant: datetime) -> None:
    body = (f"<feed xmlns='http://www.w3.org/2005/Atom'><id>urn:f</id><title>t</title><updated>2024-01-01T00:00:00Z"
            f"</updated><entry><id>urn:1</id><title>a</title><updated>{written}</updated></entry></feed>").encode()
    [entry] = parse_feed(FETCHED, body, {"content-type": "application/atom+xml"}, now=NOW).entries
    assert entry.updated == instant
