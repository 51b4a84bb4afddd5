"""An entry's picture: read on both parser paths, stored, and published as media:thumbnail."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import feedparser
import pytest

import aggregator.fastparse as fastparse
from aggregator.atom import render_atom
from aggregator.parse import _parse_with_feedparser, parse_feed
from aggregator.store import Store
from aggregator.types import EntryData, FeedView, PublishedItem, SourceInfo
from atomcheck import validate_atom

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)
T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
URL = "http://fetched.example.org/path/feed"
NS = ('xmlns:media="http://search.yahoo.com/mrss/" '
      'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"')


def rss(item: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" {NS}><channel><title>T</title>'
            f'<link>http://site.example/</link><description>d</description>'
            f'<item><title>Item</title><link>http://site.example/1</link>{item}</item></channel></rss>').encode()


def atom(entry: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" {NS}>'
            f'<title>T</title><id>urn:feed</id><updated>2024-01-01T00:00:00Z</updated>'
            f'<entry><id>urn:e</id><title>Entry</title><updated>2024-01-01T00:00:00Z</updated>'
            f'<link href="http://site.example/e"/>{entry}</entry></feed>').encode()


def images(body: bytes, content_type: str = "application/xml") -> tuple[str | None, str | None, bool]:
    """(the picture on the default path, on feedparser's, whether the default was the fast path)."""
    before = fastparse.fast_path_count
    [fast] = parse_feed(URL, body, {"content-type": content_type}, now=NOW).entries
    took_fast = fastparse.fast_path_count > before
    [reference] = _parse_with_feedparser(URL, body, content_type, NOW).entries
    return fast.image, reference.image, took_fast


# Each shape: (document, its picture, whether the fast path reads it: all but an xml:base).
SHAPES = {
    "rss media:thumbnail, relative": (
        rss('<media:thumbnail url="/img/t.jpg" width="120"/>'), "http://fetched.example.org/img/t.jpg", True),
    "youtube atom media:group": (
        atom('<media:group><media:title>V</media:title>'
             '<media:content url="https://www.youtube.com/v/abc" type="application/x-shockwave-flash" width="640"/>'
             '<media:thumbnail url="https://i1.ytimg.com/vi/abc/hqdefault.jpg" width="480" height="360"/>'
             '<media:description>About</media:description></media:group>'),
        "https://i1.ytimg.com/vi/abc/hqdefault.jpg", True),
    "media:content medium=image": (
        rss('<media:content url="http://cdn.example/a.jpg" medium="image"/>'), "http://cdn.example/a.jpg", True),
    "media:content of an image type": (
        rss('<media:content url="http://cdn.example/v.mp4" type="video/mp4"/>'
            '<media:content url="http://cdn.example/b.png" type="IMAGE/PNG"/>'), "http://cdn.example/b.png", True),
    "rss enclosure of an image type": (
        rss('<enclosure url="http://cdn.example/ep.mp3" type="audio/mpeg" length="1"/>'
            '<enclosure url="pic.jpg" type="image/jpeg" length="2"/>'),
        "http://fetched.example.org/path/pic.jpg", True),
    "atom link rel=enclosure of an image type": (
        atom('<link rel="enclosure" href="http://cdn.example/c.webp" type="image/webp"/>'),
        "http://cdn.example/c.webp", True),
    "podcast episode itunes:image": (
        rss('<enclosure url="http://cdn.example/ep.mp3" type="audio/mpeg" length="1"/>'
            '<itunes:image href="http://cdn.example/ep.jpg"/>'), "http://cdn.example/ep.jpg", True),
    "a thumbnail before an image file and itunes:image": (
        rss('<itunes:image href="http://cdn.example/show.jpg"/><enclosure url="http://cdn.example/e.jpg" '
            'type="image/jpeg" length="1"/><media:content url="http://cdn.example/m.jpg" medium="image"/>'
            '<media:thumbnail url="http://cdn.example/t.jpg"/>'), "http://cdn.example/t.jpg", True),
    "an image media:content before an image enclosure before itunes:image": (
        rss('<itunes:image href="http://cdn.example/show.jpg"/><enclosure url="http://cdn.example/e.jpg" '
            'type="image/jpeg" length="1"/><media:content url="http://cdn.example/m.jpg" medium="image"/>'),
        "http://cdn.example/m.jpg", True),
    "no javascript: or data: URL": (
        rss('<media:thumbnail url="javascript:alert(1)"/><media:thumbnail url="data:image/png;base64,AAAA"/>'
            '<itunes:image href="ftp://cdn.example/x.jpg"/>'
            '<media:content url="http://cdn.example/ok.jpg" medium="image"/>'), "http://cdn.example/ok.jpg", True),
    "the xml:base in effect": (
        rss('<media:thumbnail xml:base="http://img.example/dir/" url="t.jpg"/>'), "http://img.example/dir/t.jpg",
        False),
    "audio only: none": (
        rss('<enclosure url="http://cdn.example/ep.mp3" type="audio/mpeg" length="1"/>'), None, True),
    "nothing: none": (rss(""), None, True),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_each_shape_gives_its_picture_on_both_parser_paths(name: str) -> None:
    body, expected, fast = SHAPES[name]
    assert images(body) == (expected, expected, fast)


def json_feed(item: dict[str, object]) -> bytes:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "J",
                       "items": [{"id": "1", "url": "http://site.example/1", "content_text": "Hi", **item}]}).encode()


@pytest.mark.parametrize(("item", "expected"), [
    ({"image": "/i.png", "banner_image": "http://cdn.example/banner.png"}, "http://fetched.example.org/i.png"),
    ({"banner_image": "http://cdn.example/banner.png"}, "http://cdn.example/banner.png"),
    ({"image": "data:image/png;base64,AAAA", "attachments": [
        {"url": "http://cdn.example/a.mp3", "mime_type": "audio/mpeg"},
        {"url": "http://cdn.example/a.jpg", "mime_type": "image/jpeg"}]}, "http://cdn.example/a.jpg"),
    ({"image": {"url": "http://cdn.example/a.jpg"}, "banner_image": ["http://cdn.example/b.jpg"]}, None),
])
def test_a_json_feed_items_image_then_banner_then_image_attachment(item: dict[str, object], expected: str) -> None:
    [entry] = parse_feed(URL, json_feed(item), {"content-type": "application/feed+json"}, now=NOW).entries
    assert entry.image == expected


def test_a_generated_feed_with_image_enclosures_keeps_the_fast_path_and_matches_feedparser() -> None:
    body = rss('<enclosure url="http://cdn.example/e.jpg" type="image/jpeg" length="1"/>')
    before = fastparse.fast_path_count
    fast = parse_feed(URL, body, {"content-type": "application/rss+xml"}, now=NOW)
    assert fastparse.fast_path_count == before + 1
    assert fast == _parse_with_feedparser(URL, body, "application/rss+xml", NOW)


# --- store -----------------------------------------------------------------------


def stored(store: Store) -> dict[str, PublishedItem]:
    return {i.title: i for i in store.newest_items(None, 10)}


def test_a_picture_is_stored_and_one_that_alone_changes_or_goes_updates_its_item_in_place(store: Store) -> None:
    post = EntryData(key="p", title="Post", content="<p>Text</p>", updated=T0, image="http://one.test/a.jpg")
    other = EntryData(key="q", title="Other", updated=T0 + timedelta(minutes=1))
    assert store.ingest("one", [post, other], now=T0).new == 2
    items = stored(store)
    assert (items["Post"].image, items["Other"].image) == ("http://one.test/a.jpg", None)
    was = items["Post"].updated
    # The same entry, its picture alone changed: updated, neither dated anew nor moved up.
    later = T0 + timedelta(days=1)
    r = store.ingest("one", [replace(post, image="http://one.test/b.jpg"), other], now=later)
    assert (r.new, r.updated) == (0, 1)
    items = stored(store)
    assert (items["Post"].image, items["Post"].updated) == ("http://one.test/b.jpg", was)
    assert [i.title for i in store.newest_items(None, 10)] == ["Other", "Post"]
    # ... and gone.
    assert store.ingest("one", [replace(post, image=None), other], now=later).updated == 1
    assert (stored(store)["Post"].image, stored(store)["Post"].updated) == (None, was)
    # Unchanged: nothing to do.
    assert store.ingest("one", [replace(post, image=None), other], now=later).updated == 0


def test_a_picture_that_comes_with_an_edit_is_stored_with_it(store: Store) -> None:
    post = EntryData(key="p", title="Post", content="<p>Text</p>", updated=T0)
    store.ingest("one", [post], now=T0)
    later = T0 + timedelta(days=1)
    r = store.ingest("one", [replace(post, content="<p>Text, edited</p>", image="http://one.test/a.jpg")], now=later)
    assert r.updated == 1
    item = stored(store)["Post"]
    assert (item.image, item.updated) == ("http://one.test/a.jpg", later)


def test_a_picture_alone_of_a_feed_that_stamps_each_request_keeps_the_items_times(store: Store) -> None:
    # Only the values of its dates moved, and a picture came: the item takes the picture, its
    # times as they were (a feed made on request dates every entry with the request's time).
    post = EntryData(key="p", title="Post", content="<p>Text</p>", published=T0, updated=T0)
    store.ingest("one", [post], now=T0)
    store.ingest("one", [replace(post, published=T0 + timedelta(hours=1), updated=T0 + timedelta(hours=1))],
                 now=T0 + timedelta(hours=1))  # the link row takes an undated fingerprint
    before = stored(store)["Post"]
    moved = T0 + timedelta(hours=2)
    r = store.ingest("one", [replace(post, published=moved, updated=moved, image="http://one.test/a.jpg")],
                     now=moved)
    assert r.updated == 1
    item = stored(store)["Post"]
    assert (item.image, item.updated, item.published) == ("http://one.test/a.jpg", before.updated, before.published)


def test_a_further_sources_picture_does_not_replace_the_origins(store: Store) -> None:
    story = EntryData(key="http://news.test/s", title="A story told twice", link="http://news.test/s",
                      content="<p>The same words of the same story, long enough to match.</p>", updated=T0)
    store.ingest("one", [replace(story, image="http://one.test/a.jpg")], now=T0)
    store.ingest("two", [replace(story, image="http://two.test/b.jpg")], now=T0 + timedelta(hours=1))
    store.ingest("two", [replace(story, image="http://two.test/c.jpg")], now=T0 + timedelta(hours=2))
    [item] = store.newest_items(None, 10)
    assert item.image == "http://one.test/a.jpg"


# --- published Atom ---------------------------------------------------------------


def test_the_published_entry_carries_its_picture_as_media_thumbnail(tmp_path: Path) -> None:
    src = SourceInfo(id="http://s.example/feed", title="S", self_link="http://s.example/feed")
    with_picture = PublishedItem(id="urn:uuid:1", title="One", updated=T0, published=T0, source=src,
                                 link="http://s.example/1", image="http://cdn.example/a b.jpg")
    without = PublishedItem(id="urn:uuid:2", title="Two", updated=T0 - timedelta(seconds=1),
                            published=T0, source=src, link="http://s.example/2")
    international = replace(with_picture, id="urn:uuid:3", updated=T0 - timedelta(seconds=2),
                            image="http://bücher.example/bild ü.jpg")
    body = render_atom(FeedView("all", "All", (with_picture, without, international), 3),
                       base_url="http://me.example", site_title="Me", fallback_updated=T0)
    path = tmp_path / "all.xml"
    path.write_bytes(body)
    assert validate_atom(path) == []
    one, two, three = feedparser.parse(body).entries
    assert one.media_thumbnail == [{"url": "http://cdn.example/a%20b.jpg"}]
    assert "media_thumbnail" not in two
    assert three.media_thumbnail == [{"url": "http://xn--bcher-kva.example/bild%20%C3%BC.jpg"}]
