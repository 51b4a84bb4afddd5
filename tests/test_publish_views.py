"""What the publisher reads from a real store: ``Store.feed_items`` over SQLite under tmp_path.

Batched reads (ids in chunks, topics and sources in bulk) must give exactly what one
item at a time would: order, categories, via links, source details.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from aggregator.store import views as views_module
from aggregator.store import Store
from aggregator.types import EntryData

UTC = timezone.utc
T0 = datetime(2025, 3, 4, 5, 6, 7, 89, tzinfo=UTC)


def _topics_by_digit(text: str, names: object) -> tuple[str, ...]:
    # "n7" lands in "zeta" (every item), "alpha" (odd n) and "mid" (n divisible by 3).
    n = int(text.split("n", 1)[1].split()[0])
    return tuple(t for t, hit in (("zeta", True), ("alpha", n % 2 == 1), ("mid", n % 3 == 0)) if hit)


def _fill(store: Store, count: int) -> None:
    store.ingest("one", [EntryData(key=f"k{n}", title=f"n{n} story", link=f"https://one.test/{n}",
                                   content=f"<p>n{n} body</p>", updated=T0 + timedelta(minutes=n))
                         for n in range(count)], now=T0 + timedelta(days=1))
    ids = store.sync_topics([("zeta", "Zeta"), ("alpha", "Alpha"), ("mid", "Mid"), ("none", "None")])
    store.classify(_topics_by_digit, "h", ids)


def test_feed_items_order_topics_and_sources(store: Store) -> None:
    _fill(store, 12)
    # The same story from a second source (same link) attaches to item 4 as a via link.
    store.ingest("two", [EntryData(key="other", title="n4 retold", link="https://one.test/4?utm_source=x")],
                 now=T0 + timedelta(days=1))
    feeds = store.feed_items([None, "alpha", "mid", "none", "no-such-topic"], 5)
    assert [i.title for i in feeds[None]] == [f"n{n} story" for n in (11, 10, 9, 8, 7)]
    assert [i.title for i in feeds["alpha"]] == [f"n{n} story" for n in (11, 9, 7, 5, 3)]
    assert [i.title for i in feeds["mid"]] == [f"n{n} story" for n in (9, 6, 3, 0)]
    assert feeds["none"] == [] and feeds["no-such-topic"] == []
    by_title = {i.title: i for feed in feeds.values() for i in feed}
    assert by_title["n9 story"].topics == ("alpha", "mid", "zeta")  # slug order, not rule order
    assert by_title["n10 story"].topics == ("zeta",)
    # Every item of one source carries the same details.
    sources = {i.source for feed in feeds.values() for i in feed}
    assert len(sources) == 1
    [source] = sources
    assert source.self_link == "http://one.test/feed" and source.id.endswith("/one")
    [four] = store.feed_items(["zeta"], 12)["zeta"][7:8]
    assert four.title == "n4 story" and four.via == ("https://one.test/4?utm_source=x",)
    assert all(i.via == () for i in feeds[None])


def test_feed_items_across_chunks_matches_one_by_one(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(store, 30)
    whole = store.feed_items([None, "zeta", "alpha", "mid"], 30)
    chunks = views_module._chunks
    # Many IN lists of four ids: an item's rows must never be split or lost between them.
    monkeypatch.setattr(views_module, "_chunks", lambda seq, size=4: chunks(seq, 4))
    chunked = store.feed_items([None, "zeta", "alpha", "mid"], 30)
    assert chunked == whole
    assert [i.id for i in whole["zeta"]] == [i.id for i in whole[None]]
    assert [i.updated for i in whole[None]] == sorted((i.updated for i in whole[None]), reverse=True)
    assert len(whole["alpha"]) == 15 and len(whole["mid"]) == 10


def test_newest_first_breaks_equal_dates_by_entry_id() -> None:
    from aggregator.types import PublishedItem, SourceInfo

    src = SourceInfo(id="x:s", title="s")
    items = [PublishedItem(id=i, title=i, updated=T0 + timedelta(seconds=s), published=T0, source=src)
             for i, s in (("b", 0), ("c", 1), ("a", 0), ("d", 1))]
    assert [i.id for i in views_module._newest_first(items)] == ["c", "d", "a", "b"]
