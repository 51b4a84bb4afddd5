"""Atom rendering pinned byte for byte: entries are written with lxml directly, the feed's
head by feedgen, and the result must stay the bytes feedgen alone wrote (golden files made
by the feedgen-only renderer), so a faster path never changes a published feed."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from aggregator.atom import render_atom
from aggregator.publish import EPOCH
from aggregator.types import FeedView, PublishedItem, SourceInfo
from atomcheck import validate_atom

DATA = Path(__file__).parent / "data"
BASE = "http://127.0.0.1:8080/"
SITE = "Watch & <Co>"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
CET = timezone(timedelta(hours=1))

FEED_SRC = SourceInfo(id="https://a.example/feed.xml", title="A & B <news>", updated=T0,
                      self_link="https://a.example/feed.xml", link="https://a.example/")
SITE_SRC = SourceInfo(id="tag:aggregator,2026:source/site", title="site only",
                      updated=datetime(2024, 5, 1, 13, 0, 0, 250, tzinfo=CET), link="https://b.example/")
SEED_SRC = SourceInfo(id="tag:aggregator,2026:source/seeds", title="seeds", updated=T0 - timedelta(days=1))


def _item(n: int, **kw: object) -> PublishedItem:
    fields: dict[str, object] = dict(
        id=f"urn:uuid:00000000-0000-0000-0000-{n:012d}", title=f"Item {n}",
        updated=T0 - timedelta(minutes=n), published=T0 - timedelta(minutes=n, seconds=30), source=FEED_SRC,
    )
    fields.update(kw)
    return PublishedItem(**fields)  # type: ignore[arg-type]


# One item per branch of the entry renderer.
ITEMS = (
    _item(1, title="Ships & <subs> “watched”", link="https://a.example/x?a=1&b=2",
          content='<p>Body <a href="https://a.example/y">link</a></p>', summary="<p>Short &amp; sweet</p>",
          author="Jane Døe", topics=("baltic", "cables", "unknown-topic"),
          via=("https://c.example/1", "https://d.example/2?q=<x>")),
    _item(2, title="Plain text", content="1 < 2 && 3 > 2", content_type="text", source=SEED_SRC,
          topics=("baltic",)),
    _item(3, title="Link only", link="https://a.example/3", source=SITE_SRC),
    _item(4, title="Title only: Ünïcödé ✓", source=SEED_SRC),
    _item(5, title="Summary only", summary="<p>just a summary</p>", link="https://a.example/5"),
    _item(6, title="Same summary and content", content="<p>same</p>", summary="<p>same</p>",
          updated=datetime(2024, 5, 1, 12, 54, 0, 123456, tzinfo=CET),
          published=datetime(2024, 4, 30, 23, 0, 0, 1, tzinfo=CET), source=SITE_SRC, via=("https://e.example/6",)),
    _item(7, title="Text content with a link", content="  spaced\n\ttext  ", content_type="text",
          link="https://a.example/7", author="", summary=""),
)
TOPIC_TITLES = {"baltic": "Baltic & <Sea>", "cables": "Cables"}


def _render(view: FeedView, cache: dict[str, bytes] | None = None) -> bytes:
    return render_atom(view, base_url=BASE, site_title=SITE, fallback_updated=EPOCH + timedelta(days=9),
                       topic_titles=TOPIC_TITLES, entry_cache=cache)


def _views() -> list[FeedView]:
    return [
        FeedView("all", "All items", ITEMS, len(ITEMS)),
        FeedView("baltic", "Baltic", tuple(i for i in ITEMS if "baltic" in i.topics), 2),
        FeedView("empty", "Nothing here", (), 0),
    ]


@pytest.mark.parametrize("view", _views(), ids=lambda v: v.slug)
def test_rendering_matches_the_golden_feedgen_bytes(view: FeedView) -> None:
    golden = DATA / f"publish_golden_{view.slug}.xml"
    if os.environ.get("AGGREGATOR_WRITE_GOLDEN"):  # regenerate on purpose only
        golden.write_bytes(_render(view))
    assert _render(view) == golden.read_bytes()


def test_golden_feeds_are_valid_atom(tmp_path: Path) -> None:
    for view in _views():
        path = tmp_path / f"{view.slug}.xml"
        path.write_bytes(_render(view))
        assert validate_atom(path, self_url=f"{BASE}{view.slug}.xml") == []


def test_shared_entries_render_once_and_identically() -> None:
    cache: dict[str, bytes] = {}
    together = [_render(v, cache) for v in _views()]
    assert set(cache) == {i.id for i in ITEMS}
    assert together == [_render(v) for v in _views()]


def test_entry_fields_and_order() -> None:
    ns = {"a": "http://www.w3.org/2005/Atom"}
    root = etree.fromstring(_render(_views()[0]))
    first, second, third = root.findall("a:entry", ns)[:3]
    assert [etree.QName(e).localname for e in first] == [
        "id", "title", "updated", "author", "content", "summary", "category", "category", "category",
        "published", "link", "link", "link", "source"]
    assert [(lk.get("rel"), lk.get("href")) for lk in first.findall("a:link", ns)] == [
        ("alternate", "https://a.example/x?a=1&b=2"), ("via", "https://c.example/1"),
        ("via", "https://d.example/2?q=<x>")]
    # A topic the caller gave no title for is labelled with its slug.
    assert [c.get("label") for c in first.findall("a:category", ns)] == ["Baltic & <Sea>", "Cables", "unknown-topic"]
    assert second.find("a:content", ns).get("type") == "text"  # type: ignore[union-attr]
    assert second.find("a:source/a:link", ns) is None  # a local source has no feed to point at
    assert third.find("a:content", ns) is None  # a link stands in for content
    assert third.findtext("a:source/a:updated", namespaces=ns) == "2024-05-01T12:00:00.000250+00:00"


def test_entry_without_content_or_link_gets_empty_text_content() -> None:
    root = etree.fromstring(_render(_views()[0]))
    fourth = root.findall("{http://www.w3.org/2005/Atom}entry")[3]
    content = fourth.find("{http://www.w3.org/2005/Atom}content")
    assert content is not None and content.get("type") == "text" and not content.text


def test_naive_dates_and_empty_titles_are_refused() -> None:
    for bad in (_item(8, updated=datetime(2024, 1, 1)), _item(8, published=datetime(2024, 1, 1)),
                _item(8, source=SourceInfo(id="x:y", title="t", updated=datetime(2024, 1, 1)))):
        with pytest.raises(ValueError, match="timezone-aware"):
            _render(FeedView("all", "all", (bad,), 1))
    with pytest.raises(ValueError):
        _render(FeedView("all", "all", (_item(8, title=""),), 1))


def test_xml_incompatible_text_is_refused() -> None:
    with pytest.raises(ValueError):
        _render(FeedView("all", "all", (_item(8, content="bell \x07"),), 1))
