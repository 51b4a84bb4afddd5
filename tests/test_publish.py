"""Publisher tests: hand-built FeedViews in, files on disk checked with feedparser, the schema and the W3C rules."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from html import unescape
from pathlib import Path

import feedparser
import pytest
from lxml import etree, html

from aggregator.atom import render_atom
from aggregator.publish import (
    EPOCH,
    PublishReport,
    publish,
    render_index,
    render_opml,
)
from aggregator.types import FeedView, PublishedItem, SourceInfo
from atomcheck import validate_atom

BASE = "http://127.0.0.1:8080"
SITE = "NATO Watch & <Friends>"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
ATOM = "{http://www.w3.org/2005/Atom}"

FEED_SOURCE = SourceInfo(
    id="https://news.example.org/feed.xml",
    title="Example News & Views",
    self_link="https://news.example.org/feed.xml",
    link="https://news.example.org/",
)
SEED_SOURCE = SourceInfo(id="tag:aggregator,2024:seeds", title="seeds")


def _item(n: int, **kw: object) -> PublishedItem:
    fields: dict[str, object] = dict(
        id=f"urn:uuid:00000000-0000-0000-0000-{n:012d}",
        title=f"Item {n}",
        updated=T0 - timedelta(minutes=n),
        published=T0 - timedelta(minutes=n, seconds=30),
        source=FEED_SOURCE,
    )
    fields.update(kw)
    return PublishedItem(**fields)  # type: ignore[arg-type]


ITEMS = (
    _item(
        1,
        title="Baltic cable cut: Ships & <subs> “watched”",
        link="https://news.example.org/a?x=1&y=2",
        # Sanitized, as the store holds it: a <script> would draw the validator's SecurityRisk.
        content='<p>Naval patrols <a href="https://news.example.org/b">expanded</a>.</p>',
        summary="<p>Short version</p>",
        author="Jane Døe",
        topics=("baltic", "cables"),
        via=("https://other.example.net/story/1", "https://third.example.com/s"),
    ),
    _item(2, title="Plain text one", content="1 < 2 && 3 > 2 <b>not bold</b>", content_type="text",
          source=SEED_SOURCE, topics=("baltic",)),
    _item(3, title="Link only, no body", link="https://news.example.org/c", topics=("cables",)),
    _item(4, title="Nothing but a title: Ünïcödé ✓", source=SEED_SOURCE),
    _item(5, title="Summary only", summary="<p>just &amp; a summary</p>", link="https://news.example.org/e"),
)
TOPIC_TITLES = {"baltic": "Baltic Sea security", "cables": "Undersea cables & <pipes>"}


def _views(items: tuple[PublishedItem, ...] = ITEMS, topics: tuple[str, ...] = ("baltic", "cables", "empty")) -> list[FeedView]:
    views = [FeedView(slug="all", title="all items", items=items, total=len(items))]
    for slug in topics:
        members = tuple(i for i in items if slug in i.topics)
        views.append(FeedView(slug=slug, title=TOPIC_TITLES.get(slug, slug.title()), items=members, total=len(members) + 7))
    return views


def _publish(out: Path, views: list[FeedView] | None = None) -> PublishReport:
    return publish(out, _views() if views is None else views, base_url=BASE + "/", site_title=SITE, topic_titles=TOPIC_TITLES)


def _atom_date(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _root(path: Path) -> etree._Element:
    return etree.parse(str(path)).getroot()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "feeds" / "nested"  # publish must create missing folders


def test_store_guarantee_holds_in_fixtures() -> None:
    # The publisher relies on distinct updated times; the fixture must honour it, not fake it.
    assert len({i.updated for i in ITEMS}) == len(ITEMS)
    assert len({i.id for i in ITEMS}) == len(ITEMS)


def test_every_feed_is_valid_warning_free_atom(out: Path) -> None:
    report = _publish(out)
    names = {"all.xml", "baltic.xml", "cables.xml", "empty.xml", "index.opml", "index.html"}
    assert set(report.written) == names and report.unchanged == ()
    for view in _views():
        path = out / f"{view.slug}.xml"
        assert validate_atom(path, self_url=f"{BASE}/{view.slug}.xml") == []
        parsed = feedparser.parse(path.read_bytes())
        assert parsed.bozo == 0, parsed.get("bozo_exception")
        assert parsed.version == "atom10"
        assert [e.id for e in parsed.entries] == [i.id for i in view.items]
        assert parsed.feed.title == f"{SITE}: {view.title}"
        assert parsed.feed.author == SITE


def test_entry_fields_round_trip_through_feedparser(out: Path) -> None:
    _publish(out)
    entries = {e.id: e for e in feedparser.parse((out / "all.xml").read_bytes()).entries}
    first = entries[ITEMS[0].id]
    assert first.title == ITEMS[0].title
    assert first.link == "https://news.example.org/a?x=1&y=2"
    assert first.author == "Jane Døe"
    assert first.content[0].type == "text/html"
    assert first.summary == "<p>Short version</p>"
    assert [t.term for t in first.tags] == ["baltic", "cables"]
    assert [t.label for t in first.tags] == ["Baltic Sea security", "Undersea cables & <pipes>"]
    assert first.source.title == "Example News & Views"
    assert first.source.id == FEED_SOURCE.id
    via = [ln.href for ln in first.links if ln.rel == "via"]
    assert via == list(ITEMS[0].via)
    assert [ln.href for ln in first.links if ln.rel == "alternate"] == [ITEMS[0].link]
    assert first.updated_parsed[:6] == ITEMS[0].updated.timetuple()[:6]
    assert first.published_parsed[:6] == ITEMS[0].published.timetuple()[:6]

    text = entries[ITEMS[1].id]
    # Text holding an end tag goes out as the escaped HTML it reads as (the validator's
    # ContainsUndeclaredHTML otherwise): a reader shows the very same text.
    assert text.content[0].type == "text/html"
    assert unescape(text.content[0].value) == "1 < 2 && 3 > 2 <b>not bold</b>"
    assert text.get("links", []) == []
    # Summary-only item shows its summary as its body.
    assert "just &amp; a summary" in entries[ITEMS[4].id].content[0].value


def test_html_content_is_escaped_never_raw(out: Path) -> None:
    _publish(out)
    raw = (out / "all.xml").read_bytes()
    assert b"<p>Naval" not in raw and b"&lt;p&gt;Naval" in raw
    assert b"CDATA" not in raw
    root = _root(out / "all.xml")
    contents = root.findall(f"{ATOM}entry/{ATOM}content")
    assert all(len(c) == 0 for c in contents)  # escaped text, no child elements
    first = root.find(f"{ATOM}entry/{ATOM}content")
    assert first is not None and first.get("type") == "html" and "<p>Naval" in (first.text or "")


def test_atom_source_and_links_per_entry(out: Path) -> None:
    _publish(out)
    root = _root(out / "all.xml")
    entries = root.findall(f"{ATOM}entry")
    feed_src = entries[0].find(f"{ATOM}source")
    assert feed_src is not None
    assert feed_src.findtext(f"{ATOM}id") == FEED_SOURCE.id
    assert feed_src.findtext(f"{ATOM}updated") == entries[0].findtext(f"{ATOM}updated")
    rels = {ln.get("rel"): ln.get("href") for ln in feed_src.findall(f"{ATOM}link")}
    assert rels == {"self": FEED_SOURCE.self_link, "alternate": FEED_SOURCE.link}
    seed_src = entries[1].find(f"{ATOM}source")
    assert seed_src is not None and seed_src.findall(f"{ATOM}link") == []
    assert seed_src.findtext(f"{ATOM}title") == "seeds"
    # Feed-level links: self first, then the alternate site root.
    links = [(ln.get("rel"), ln.get("href")) for ln in root.findall(f"{ATOM}link")]
    assert links == [("self", f"{BASE}/all.xml"), ("alternate", f"{BASE}/")]
    assert root.findtext(f"{ATOM}id") == f"{BASE}/all.xml"
    # An item with neither content nor link still has a content element.
    bare = entries[3]
    assert bare.find(f"{ATOM}content") is not None and bare.find(f"{ATOM}link") is None


def test_feed_updated_is_newest_entry_and_empty_topics_use_all(out: Path) -> None:
    _publish(out)
    for slug in ("all", "baltic", "cables"):
        root = _root(out / f"{slug}.xml")
        entry_dates = [_atom_date(e.findtext(f"{ATOM}updated") or "") for e in root.findall(f"{ATOM}entry")]
        assert entry_dates == sorted(entry_dates, reverse=True)
        assert _atom_date(root.findtext(f"{ATOM}updated") or "") == max(entry_dates)
    cables = _root(out / "cables.xml")
    assert _atom_date(cables.findtext(f"{ATOM}updated") or "") == ITEMS[0].updated
    empty = _root(out / "empty.xml")
    assert empty.findall(f"{ATOM}entry") == []
    assert _atom_date(empty.findtext(f"{ATOM}updated") or "") == ITEMS[0].updated


def test_empty_store_uses_epoch(out: Path) -> None:
    _publish(out, _views(items=(), topics=("baltic",)))
    for slug in ("all", "baltic"):
        path = out / f"{slug}.xml"
        assert validate_atom(path, self_url=f"{BASE}/{slug}.xml") == []
        assert _atom_date(_root(path).findtext(f"{ATOM}updated") or "") == EPOCH
        assert feedparser.parse(path.read_bytes()).bozo == 0


def test_render_is_deterministic_and_keeps_given_order() -> None:
    view = _views()[0]
    kwargs = dict(base_url=BASE, site_title=SITE, fallback_updated=EPOCH)
    first = render_atom(view, **kwargs)  # type: ignore[arg-type]
    assert first == render_atom(view, **kwargs)  # type: ignore[arg-type]
    subset = FeedView(slug="all", title="all items", items=ITEMS[:2], total=5)
    ids = [e.findtext(f"{ATOM}id") for e in etree.fromstring(render_atom(subset, **kwargs)).findall(f"{ATOM}entry")]  # type: ignore[arg-type]
    assert ids == [ITEMS[0].id, ITEMS[1].id]


def test_naive_datetime_is_refused() -> None:
    naive = _item(9, updated=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        render_atom(FeedView("all", "all", (naive,), 1), base_url=BASE, site_title=SITE, fallback_updated=EPOCH)


def test_unchanged_publish_rewrites_nothing(out: Path) -> None:
    _publish(out)
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    # Age the files so a rewrite would show in mtime even on coarse clocks.
    for p in out.iterdir():
        os.utime(p, ns=(1_000_000_000, 1_000_000_000))
    before = {n: (ino, 1_000_000_000, data) for n, (ino, _, data) in before.items()}
    report = _publish(out)
    assert report.written == () and report.removed == ()
    assert set(report.unchanged) == set(before) - {".published"}  # the manifest isn't a feed
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.read_bytes()) for p in out.iterdir()}
    assert after == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_changed_feed_is_replaced_by_rename(out: Path) -> None:
    _publish(out)
    inodes = {p.name: p.stat().st_ino for p in out.iterdir()}
    newer = _item(0, title="Fresh cable news", content="<p>new</p>", topics=("cables",), updated=T0 + timedelta(seconds=1))
    report = _publish(out, _views(items=(newer, *ITEMS)))
    # all, cables and the empty topic (its fallback date moved) change; baltic does not.
    assert set(report.written) == {"all.xml", "cables.xml", "empty.xml", "index.html"}
    assert set(report.unchanged) == {"baltic.xml", "index.opml"}
    for name in report.written:
        assert (out / name).stat().st_ino != inodes[name]
    for name in report.unchanged:
        assert (out / name).stat().st_ino == inodes[name]
    assert oct((out / "all.xml").stat().st_mode & 0o777) == oct(0o644)
    ids = [e.id for e in feedparser.parse((out / "cables.xml").read_bytes()).entries]
    assert ids[0] == newer.id


def test_removed_topic_feed_is_deleted_but_nothing_else(out: Path) -> None:
    _publish(out)
    (out / "notes.txt").write_text("keep me")
    (out / ".hidden.xml").write_text("keep me too")
    (out / "sitemap.xml").write_text("<urlset/>")  # the user's own file beside our feeds
    report = _publish(out, _views(topics=("baltic",)))
    assert set(report.removed) == {"cables.xml", "empty.xml"}
    assert not (out / "cables.xml").exists() and not (out / "empty.xml").exists()
    assert (out / "notes.txt").exists() and (out / ".hidden.xml").exists()
    assert (out / "sitemap.xml").read_text() == "<urlset/>"
    assert (out / "baltic.xml").exists() and (out / "all.xml").exists()


def test_bad_slug_is_refused_before_writing(out: Path) -> None:
    bad = FeedView(slug="../escape", title="x", items=(), total=0)
    with pytest.raises(ValueError, match="slug"):
        _publish(out, [*_views(), bad])
    assert not out.exists()
    dup = _views()[1]
    with pytest.raises(ValueError, match="twice"):
        _publish(out, [*_views(), dup])


def test_opml_lists_every_feed(out: Path) -> None:
    _publish(out)
    data = (out / "index.opml").read_bytes()
    assert data == render_opml(_views(), base_url=BASE, site_title=SITE)
    root = etree.fromstring(data)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == SITE
    outlines = root.findall("body/outline")
    # Every topic feed; all.xml beside them would give a reader every item twice.
    assert [o.get("xmlUrl") for o in outlines] == [f"{BASE}/{s}.xml" for s in ("baltic", "cables", "empty")]
    assert all(o.get("type") == "rss" and o.get("htmlUrl") == f"{BASE}/" for o in outlines)
    assert outlines[0].get("text") == f"{SITE}: Baltic Sea security"
    # Without topics, all.xml is the feed to subscribe to.
    alone = etree.fromstring(render_opml(_views()[:1], base_url=BASE, site_title=SITE))
    assert [o.get("xmlUrl") for o in alone.findall("body/outline")] == [f"{BASE}/all.xml"]
    assert b"dateCreated" not in data
    # A feed reader's OPML parser sees the same list.
    parsed = feedparser.parse(data)
    assert parsed.bozo == 0


def test_index_html_has_autodiscovery_counts_and_escaping(out: Path) -> None:
    _publish(out)
    data = (out / "index.html").read_bytes()
    assert data.startswith(b"<!DOCTYPE html>")
    assert data == render_index(_views(), base_url=BASE, site_title=SITE)
    assert b"<Friends>" not in data and b"&lt;Friends&gt;" in data
    assert b"<pipes>" not in data and b"Undersea cables &amp; &lt;pipes&gt;" in data
    doc = html.fromstring(data)
    alternates = doc.xpath('//head/link[@rel="alternate"][@type="application/atom+xml"]')
    assert [a.get("href") for a in alternates] == [f"{BASE}/{s}.xml" for s in ("all", "baltic", "cables", "empty")]
    assert alternates[1].get("title") == f"{SITE}: Baltic Sea security"
    counts = [int(td.get("data-count")) for td in doc.xpath('//td[@class="count"]')]
    assert counts == [len(ITEMS), 2 + 7, 2 + 7, 0 + 7]
    assert doc.xpath('//td[@class="count"]')[0].text_content() == f"{len(ITEMS)} items"
    assert doc.xpath(f'//a[@href="{BASE}/index.opml"]')
    assert doc.xpath(f'//body//a[@href="{BASE}/baltic.xml"]')


def test_published_file_is_never_partial(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _publish(out)
    original = (out / "all.xml").read_bytes()

    def boom(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    newer = _item(0, title="Never lands", updated=T0 + timedelta(seconds=5))
    with pytest.raises(Exception, match="disk full"):
        _publish(out, _views(items=(newer, *ITEMS)))
    assert (out / "all.xml").read_bytes() == original
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_index_files_are_written_after_every_feed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Feeds are written by several threads; index.opml/index.html link them all and must
    # never be replaced before a new feed exists (a reader would get a 404).
    import aggregator.publish as publish_module

    order: list[str] = []
    real = publish_module._write_if_changed

    def recording(path: Path, data: bytes) -> bool:
        written = real(path, data)
        order.append(path.name)
        return written

    monkeypatch.setattr(publish_module, "_write_if_changed", recording)
    report = _publish(tmp_path / "feeds")
    indexes = [order.index("index.opml"), order.index("index.html")]
    feeds = [n for n, name in enumerate(order) if name.endswith(".xml")]
    assert len(feeds) == len(_views()) and max(feeds) < min(indexes)
    assert list(report.written[-2:]) == ["index.opml", "index.html"]


def test_temporary_files_a_cut_short_publish_left_are_removed(out: Path) -> None:
    # A publish killed mid-write (SIGKILL, a stop past its grace) leaves its temporary file.
    out.mkdir(parents=True, exist_ok=True)
    old = time.time() - 2 * 3600
    abandoned = out / ".all.xml.k3j_9x.tmp"
    in_progress = out / ".baltic.xml.a1b2c3.tmp"  # another process's write, seconds old
    not_ours = out / ".notes.txt.zz.tmp"
    for path in (abandoned, in_progress, not_ours):
        path.write_bytes(b"partial")
    os.utime(abandoned, (old, old))
    os.utime(not_ours, (old, old))
    _publish(out)
    assert not abandoned.exists() and in_progress.exists() and not_ours.exists()


def test_abandoned_temporaries_of_the_manifest_and_of_a_removed_feed_are_removed(out: Path) -> None:
    # A kill while the manifest was written, or while a topic's feed was, and that topic
    # taken out of the config since: both temporaries are ours, and must not stay for ever.
    first = _publish(out)
    assert "baltic.xml" in first.written
    old = time.time() - 2 * 3600
    manifest_tmp = out / "..published.k3j_9xab.tmp"
    removed_topic_tmp = out / ".baltic.xml.q8w_2zcd.tmp"
    for path in (manifest_tmp, removed_topic_tmp):
        path.write_bytes(b"partial")
        os.utime(path, (old, old))
    report = _publish(out, [v for v in _views() if v.slug != "baltic"])
    assert report.removed == ("baltic.xml",)
    assert not manifest_tmp.exists(), "the manifest's abandoned temporary stayed"
    assert not removed_topic_tmp.exists(), "a removed feed's abandoned temporary stayed"


def test_a_file_is_dated_when_it_appears_not_when_its_bytes_were_written(
        out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A file's mtime is its Last-Modified. Written, then fsynced on a slow disk (an SD card
    # takes a second), then renamed into place, it carried the time of the write: a reader
    # served the previous version after that second had ended got its date, and asking
    # If-Modified-Since with it, got 304 for the new version, dated in the same second.
    real_fsync = os.fsync
    synced: list[float] = []

    def slow_fsync(fd: int) -> None:
        time.sleep(0.3)
        real_fsync(fd)
        synced.append(time.time())

    monkeypatch.setattr(os, "fsync", slow_fsync)
    _publish(out)
    assert synced
    # Timestamps come from the kernel's coarse clock: a few ms behind time.time().
    assert (out / "all.xml").stat().st_mtime >= min(synced) - 0.05
