"""External sources end to end: a real upstream server on 127.0.0.1, the real pipeline, the CLI.

Every case drives ``aggregator update`` and ``aggregator status --json`` against a temporary
config whose sources point at ``feedserver.FeedServer``, then asserts what was stored (through the
published ``all.xml``) and what ``status`` says. Every published file must pass ``validate_atom``.
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import feedparser
import pytest
from click.testing import CliRunner
from lxml import etree

import aggregator.pipeline
import aggregator.store
from aggregator import USER_AGENT
from aggregator.cli import main

from atomcheck import validate_atom
from feedserver import FORMATS, Entry, FeedServer, atom10, build_feed, feed_server, http_date, rss20, rss091  # noqa: F401

DATA = Path(__file__).parent / "data"
BASE_URL = "http://127.0.0.1:8080"
INTERVAL = 600  # "10m" in every test config
ATOM = "{http://www.w3.org/2005/Atom}"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


# --- helpers ------------------------------------------------------------------------------------


class Project:
    def __init__(self, root: Path, sources: dict[str, str]):
        self.root = root
        self.config = root / "aggregator.toml"
        lines = ["[aggregator]", 'database = "sqlite:///agg.db"', 'output_dir = "feeds"',
                 f'base_url = "{BASE_URL}"', 'title = "Test"', 'default_interval = "10m"', ""]
        for name, url in sources.items():
            lines += ["[[sources]]", f'name = "{name}"', f'url = "{url}"', 'interval = "10m"', ""]
        self.config.write_text("\n".join(lines), encoding="utf-8")

    def run(self, *args: str, code: int | None = 0) -> str:
        result = CliRunner().invoke(main, ["--config", str(self.config), "-q", *args], catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, result.output
        return result.output

    def update(self, code: int = 0) -> str:
        out = self.run("update", code=code)
        self.check_published()
        return out

    def status(self) -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in json.loads(self.run("status", "--json"))}

    def check_published(self) -> None:
        feeds = list((self.root / "feeds").glob("*.xml"))
        assert feeds
        for xml in feeds:
            assert validate_atom(xml, self_url=f"{BASE_URL}/{xml.name}") == [], xml.name

    def entries(self) -> list[Any]:
        return list(feedparser.parse((self.root / "feeds" / "all.xml").read_bytes()).entries)

    def entry_times(self) -> dict[str | None, str | None]:
        """Each published entry's id and updated, from all.xml."""
        return {el.findtext(f"{ATOM}id"): el.findtext(f"{ATOM}updated") for el in self.entry_elements()}

    def entry_elements(self) -> list[etree._Element]:
        tree = etree.parse(str(self.root / "feeds" / "all.xml"))
        return list(tree.getroot().iter(f"{ATOM}entry"))


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[[dict[str, str]], Project]:
    return lambda sources: Project(tmp_path, sources)


@pytest.fixture
def parse_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL the pipeline hands to the parser."""
    calls: list[str] = []
    real = aggregator.pipeline.parse_feed

    def counting(url: str, body: bytes, headers: Any, **kw: Any) -> Any:
        calls.append(url)
        return real(url, body, headers, **kw)

    monkeypatch.setattr(aggregator.pipeline, "parse_feed", counting)
    return calls


def fetcher_options(monkeypatch: pytest.MonkeyPatch, **options: Any) -> None:
    """The config has no timeout or cap keys: pass the fetcher short ones for a fast test."""
    for name, value in options.items():
        monkeypatch.setitem(aggregator.pipeline.FETCH_OPTIONS, name, value)


def test_opml_sources_import_and_listed_opml_files(feed_server: FeedServer, tmp_path: Path) -> None:
    """`sources import` adds an OPML file's feeds to the config (comments kept); feeds of an
    OPML file listed in `[aggregator] opml` are sources too; both refresh like any feed."""
    feed_server.route("/a.xml", rss20("Feed A", [story(1, "a")]))
    feed_server.route("/b.xml", atom10("Feed B", [story(1, "b")]))
    (tmp_path / "import.opml").write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>x</title></head><body>'
        f'<outline text="News"><outline text="Feed A" type="rss" xmlUrl="{feed_server.url("/a.xml")}"/>'
        "</outline></body></opml>")
    (tmp_path / "listed.opml").write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>y</title></head><body>'
        f'<outline text="Feed B" type="rss" xmlUrl="{feed_server.url("/b.xml")}"/></body></opml>')
    cfg = tmp_path / "aggregator.toml"
    cfg.write_text('# my comment\n[aggregator]\nopml = ["listed.opml"]\n\n'
                   '[[sources]]\nname = "local"\ntype = "seeds"\npath = "nothing.txt"\nenabled = false\n')
    runner = CliRunner()
    out = runner.invoke(main, ["--config", str(cfg), "sources", "import", str(tmp_path / "import.opml")])
    assert out.exit_code == 0, out.output
    assert "added source feed-a" in out.output
    assert cfg.read_text().startswith("# my comment")
    again = runner.invoke(main, ["--config", str(cfg), "sources", "import", str(tmp_path / "import.opml")])
    assert again.output.endswith(f"0 sources added to {cfg} (1 already configured)\n"), again.output
    result = runner.invoke(main, ["--config", str(cfg), "update"])
    assert result.exit_code == 0, result.output
    status = {s["name"]: s for s in json.loads(runner.invoke(main, ["--config", str(cfg), "status", "--json"]).output)}
    assert status["feed-a"]["items"] == 1 and status["feed-b"]["items"] == 1
    assert status["feed-b"]["url"] == feed_server.url("/b.xml")


def test_unsubscribing_an_opml_outline_leaves_the_others_items_where_they_are(
    feed_server: FeedServer, make_project: Callable[[dict[str, str]], Project]
) -> None:
    """Two untitled outlines on one host: removing the first must not hand its source (name,
    state, stored items) to the second. The second, alone, takes its bare name: the same
    source renamed, which keeps its state and the entries it stored under its suffixed name."""
    for tag in ("three", "four"):
        feed_server.route(f"/{tag}", rss20(f"Feed {tag}", [story(1, tag)], site=f"http://{tag}.example/"))
    p = make_project({})
    opml = p.root / "subs.opml"

    def listing(*tags: str) -> None:
        opml.write_text('<?xml version="1.0"?><opml version="2.0"><body>' + "".join(
            f'<outline xmlUrl="{feed_server.url("/" + tag)}"/>' for tag in tags) + "</body></opml>")

    listing("three", "four")
    p.config.write_text(p.config.read_text().replace("[aggregator]", '[aggregator]\nopml = ["subs.opml"]'))
    assert "2 new items, 0 updated, 0 merged" in p.update()
    listing("four")
    assert "0 new items, 0 updated, 0 merged" in p.update()
    self_links = {}
    for el in p.entry_elements():
        source = el.find(f"{ATOM}source")
        assert source is not None
        self_links[el.findtext(f"{ATOM}title")] = [
            link.get("href") for link in source.findall(f"{ATOM}link") if link.get("rel") == "self"]
    assert self_links == {"three story 1": [feed_server.url("/three")], "four story 1": [feed_server.url("/four")]}
    assert {name: (s["url"], s["items"]) for name, s in p.status().items()} == {
        "127-0-0-1": (feed_server.url("/four"), 1)}


def test_a_listed_opml_file_with_feed_urls_and_an_unusable_outline(
    feed_server: FeedServer, make_project: Callable[[dict[str, str]], Project]
) -> None:
    """`feed://` outlines are fetched over http; an outline with an unusable URL is skipped
    with a warning on stderr and stops no other source (it used to fail every command)."""
    feed_server.route("/a.xml", rss20("Feed A", [story(1, "a")]))
    feed_server.route("/good", rss20("Good", [story(1, "good")]))
    p = make_project({"good": feed_server.url("/good")})
    host = feed_server.url("").removeprefix("http://")
    (p.root / "subs.opml").write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>\n'
        f'<outline text="Podcast" xmlUrl="feed://{host}/a.xml"/>\n'
        '<outline text="Gopher" xmlUrl="gopher://old.example/rss"/>\n</body></opml>')
    p.config.write_text(p.config.read_text().replace("[aggregator]", '[aggregator]\nopml = ["subs.opml"]'))
    result = CliRunner().invoke(main, ["--config", str(p.config), "-q", "update"])
    assert result.exit_code == 0, result.output
    assert ("aggregator.opml[0]: subs.opml:3: skipping the outline 'Gopher': "
            "'gopher://old.example/rss' is not an http:// or https:// URL") in result.stderr
    status = CliRunner().invoke(main, ["--config", str(p.config), "-q", "status", "--json"])
    assert "skipping the outline 'Gopher'" in status.stderr  # on every load of the config
    assert {s["name"]: (s["url"], s["items"]) for s in json.loads(status.stdout)} == {
        "good": (feed_server.url("/good"), 1), "podcast": (feed_server.url("/a.xml"), 1)}


def when(text: str | None) -> datetime:
    assert text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def story(n: int, prefix: str = "s", **kw: Any) -> Entry:
    defaults: dict[str, Any] = dict(
        id=f"urn:{prefix}:{n}", title=f"{prefix} story {n}", link=f"http://example.org/{prefix}/{n}",
        content=f"<p>Body of {prefix} story {n}.</p>", updated=T0 - timedelta(hours=n),
    )
    defaults.update(kw)
    return Entry(**defaults)


# --- formats ------------------------------------------------------------------------------------


def test_every_format_is_fetched_parsed_stored_and_published(feed_server: FeedServer, make_project) -> None:
    for fmt, (builder, ctype) in FORMATS.items():
        entries = [story(1, fmt), story(2, fmt)]
        feed_server.route(f"/{fmt}", builder(f"{fmt} feed", entries), content_type=ctype)
    p = make_project({fmt: feed_server.url(f"/{fmt}") for fmt in FORMATS})
    out = p.update()
    assert "16 new items" in out
    status = p.status()
    for fmt in FORMATS:
        st = status[fmt]
        assert (st["http_status"], st["error"], st["warning"], st["items"], st["failures"]) == (200, None, None, 2, 0), st
        assert st["url"] == feed_server.url(f"/{fmt}")
        assert when(st["next_run"]) >= when(st["last_fetch"]) + timedelta(seconds=INTERVAL)
        [seen] = feed_server.requests(f"/{fmt}")
        assert seen.headers["user-agent"] == USER_AGENT and "aggregator" in USER_AGENT
    titles = {e.title for e in p.entries()}
    assert titles == {f"{fmt} story {n}" for fmt in FORMATS for n in (1, 2)}
    by_title = {e.title: e for e in p.entries()}
    assert by_title["rss10 story 1"].link == "http://example.org/rss10/1"
    assert "Body of jsonfeed11 story 2." in by_title["jsonfeed11 story 2"].content[0].value


# --- caching: conditional GET and unchanged bodies ----------------------------------------------


def test_twenty_feeds_fetched_twice_send_conditional_requests_and_parse_nothing(
    feed_server: FeedServer, make_project, parse_calls: list[str]
) -> None:
    sources = {}
    for i in range(20):
        # Half the servers give an ETag, half only Last-Modified: both validators must be echoed.
        validators = {"etag": f'"v{i}"'} if i % 2 else {"last_modified": http_date(T0 + timedelta(minutes=i))}
        feed_server.route(f"/f{i}", rss20(f"feed {i}", [story(1, f"f{i}"), story(2, f"f{i}")]), **validators)
        sources[f"feed-{i}"] = feed_server.url(f"/f{i}")
    p = make_project(sources)
    assert "40 new items" in p.update()
    assert len(parse_calls) == 20
    parse_calls.clear()
    out = p.update()
    assert "0 new items" in out and "published 0 files" in out
    assert parse_calls == []
    for i in range(20):
        first, second = feed_server.requests(f"/f{i}")
        assert "if-none-match" not in first.headers and "if-modified-since" not in first.headers
        if i % 2:
            assert second.headers["if-none-match"] == f'"v{i}"'
        else:
            assert second.headers["if-modified-since"] == http_date(T0 + timedelta(minutes=i))
        assert second.status == 304
    for st in p.status().values():
        assert (st["http_status"], st["error"], st["items"], st["failures"]) == (304, None, 2, 0)


def test_unchanged_body_without_validators_is_not_parsed_again(
    feed_server: FeedServer, make_project, parse_calls: list[str]
) -> None:
    route = feed_server.route("/plain", atom10("plain", [story(1)]))
    p = make_project({"plain": feed_server.url("/plain")})
    p.update()
    p.update()
    assert feed_server.hits("/plain") == 2 and len(parse_calls) == 1
    st = p.status()["plain"]
    assert (st["http_status"], st["error"], st["items"]) == (200, None, 1)
    route.body = atom10("plain", [story(1), story(2)])  # a real change is parsed again
    assert "1 new items" in p.update()
    assert len(parse_calls) == 2


def test_gzip_body_is_decoded(feed_server: FeedServer, make_project) -> None:
    feed_server.route("/gz", rss20("zipped", [story(n, "gz") for n in range(1, 4)]), gzip=True)
    p = make_project({"gz": feed_server.url("/gz")})
    assert "3 new items" in p.update()
    [seen] = feed_server.requests("/gz")
    assert "gzip" in seen.headers["accept-encoding"]
    assert p.status()["gz"]["items"] == 3


# --- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code, moves, etag", [
    (301, True, None), (308, True, None), (302, False, None), (307, False, None),
    (301, True, '"m1"'), (302, False, '"m1"'),  # with a validator, the second fetch is a 304
])
def test_redirects_move_the_source_only_when_permanent_twice(
    feed_server: FeedServer, make_project, code: int, moves: bool, etag: str | None
) -> None:
    # The target is a relative Location, and the feed's links are relative: both resolve
    # against the URL the document finally came from.
    feed_server.redirect("/old/feed", "/new/feed.xml", code)
    feed_server.route("/new/feed.xml", rss20("moved", [story(1, link="posts/1.html")]), etag=etag)
    old, new = feed_server.url("/old/feed"), feed_server.url("/new/feed.xml")
    p = make_project({"mover": old})
    p.update()
    st = p.status()["mover"]
    assert (st["url"], st["http_status"], st["error"]) == (old, 200, None)
    [entry] = p.entries()
    assert entry.link == feed_server.url("/new/posts/1.html")
    said = p.update()  # stderr too: the move is said, as the config still names the old URL
    assert p.status()["mover"]["url"] == (new if moves else old)
    assert (f"WARNING aggregator.pipeline: source mover: moved permanently to {new}, fetched from there "
            "from now on; its url in the config can say so\n" in said) == moves
    assert "moved permanently" not in p.update()
    assert feed_server.hits("/old/feed") == (2 if moves else 3)
    assert feed_server.hits("/new/feed.xml") == 3
    if etag:
        assert [r.status for r in feed_server.requests("/new/feed.xml")] == [200, 304, 304]
    assert p.status()["mover"]["items"] == 1


def test_a_permanent_redirect_to_a_temporary_one_moves_the_source_to_the_permanent_target(
    feed_server: FeedServer, make_project
) -> None:
    # http:// moved to https:// for good (301), which sends to a CDN's address of the day
    # (302): the 301 was ignored because a 302 followed it, so the source was fetched through
    # the old address for ever, and lost when that one went away.
    feed_server.redirect("/old", "/feed", 301)
    feed_server.redirect("/feed", "/cdn/today.xml", 302)
    feed_server.route("/cdn/today.xml", rss20("cdn", [story(1, "cdn")]))
    p = make_project({"chain": feed_server.url("/old")})
    p.update()
    said = p.update()
    assert p.status()["chain"]["url"] == feed_server.url("/feed")
    assert f"moved permanently to {feed_server.url('/feed')}" in said
    feed_server.route("/old", b"", status=404, content_type=None)  # the old address goes away
    p.update()
    st = p.status()["chain"]
    assert (st["url"], st["error"], st["items"]) == (feed_server.url("/feed"), None, 1)
    assert feed_server.hits("/old") == 2 and feed_server.hits("/cdn/today.xml") == 3

def relative_rss(*numbers: int, guid: bool = False, absolute: str | None = None) -> bytes:
    """RSS whose items link to their stories relative to the feed (story-1.html), as some
    CMSs write them, without GUIDs; ``absolute``: written whole under that folder instead."""
    return rss20("moving", []).replace(b"</channel>", "".join(
        f"<item><title>Moving story {n}</title><link>{absolute or ''}story-{n}.html</link>"
        + (f"<guid isPermaLink='false'>g{n}</guid>" if guid else "")
        + f"<description>The moving story number {n}, told at some length here.</description>"
        f"<pubDate>Mon, 0{n} Mar 2026 10:00:00 +0000</pubDate></item>" for n in numbers).encode() + b"</channel>")


@pytest.mark.parametrize("how", ["301 to a folder", "301 to a host", "302 to a folder", "301, same bytes"])
def test_a_feed_with_relative_links_and_no_guids_that_moves_keeps_its_entries(
    feed_server: FeedServer, make_project, how: str
) -> None:
    # Its entries are keyed by their links resolved against the feed's URL: once it moved,
    # every one took a new key, and the next document published each of them twice.
    with FeedServer() as elsewhere:
        feed_server.route("/old/feed.xml", relative_rss(1, 2))
        p = make_project({"moving": feed_server.url("/old/feed.xml")})
        p.update()
        before = {e.title: (e.id, e.updated) for e in p.entries()}
        server, path = (elsewhere, "/feed.xml") if "host" in how else (feed_server, "/new/feed.xml")
        there = server.url(path)
        route = server.route(path, relative_rss(1, 2, 3))
        feed_server.redirect("/old/feed.xml", there, 302 if "302" in how else 301)
        if "same bytes" in how:  # not parsed (the bytes it has), then with the next story
            route.body = relative_rss(1, 2)
            assert "0 new items" in p.update()
            assert "0 new items" in p.update()
            route.body = relative_rss(1, 2, 3)
        assert "1 new items" in p.update()
        after = {e.title: (e.id, e.updated, e.link) for e in p.entries()}
        assert sorted(after) == ["Moving story 1", "Moving story 2", "Moving story 3"]
        # The stories it had keep their ids and times (nothing happened to them), and take their
        # new links; behind a 302 (the feed is there for now) they keep their links, and only
        # the new story's is the mirror's.
        assert {t: after[t][:2] for t in before} == before
        moved = () if "302" in how else (1, 2)
        assert {t: v[2] for t, v in after.items()} == {
            f"Moving story {n}": (there.rpartition("/")[0] if n in (*moved, 3) else feed_server.url("/old")) + f"/story-{n}.html"
            for n in (1, 2, 3)}
        # Nothing moves again while it stays there (a 302 as much: its keys do not flap).
        assert "0 new items, 0 updated" in p.update()
        route.body = relative_rss(1, 2, 3, 4)
        assert "1 new items, 0 updated" in p.update()
        assert len(p.entries()) == 4 and p.status()["moving"]["items"] == 4
        if "302" in how:  # the redirect ends: the feed is at its own URL again
            feed_server.route("/old/feed.xml", relative_rss(1, 2, 3, 4, 5))
            # The stories first seen at the mirror are found at their links here (taken now).
            ids = {e.title: e.id for e in p.entries()}
            assert "1 new items, 2 updated" in p.update()
            final = {e.title: (e.id, e.updated, e.link) for e in p.entries()}
            assert len(final) == 5 and {t: final[t][:2] for t in before} == before
            assert {t: final[t][0] for t in ids} == ids
            assert {v[2] for v in final.values()} == {feed_server.url(f"/old/story-{n}.html") for n in range(1, 6)}
            assert "0 new items, 0 updated" in p.update()


@pytest.mark.parametrize("kind", ["guid", "absolute"])
def test_a_feed_with_guids_or_whole_links_that_moves_keeps_its_entries_as_before(
    feed_server: FeedServer, make_project, kind: str
) -> None:
    # Such entries keep their keys wherever the feed is: found by them, as before.
    absolute = feed_server.url("/posts/") if kind == "absolute" else None
    feed_server.route("/old/feed.xml", relative_rss(1, 2, guid=kind == "guid", absolute=absolute))
    p = make_project({"moving": feed_server.url("/old/feed.xml")})
    p.update()
    before = {e.id for e in p.entries()}
    feed_server.redirect("/old/feed.xml", "/new/feed.xml", 301)
    feed_server.route("/new/feed.xml", relative_rss(1, 2, 3, guid=kind == "guid", absolute=absolute))
    assert "1 new items" in p.update()
    entries = p.entries()
    assert len(entries) == 3 and before <= {e.id for e in entries}


def test_a_feed_of_whole_links_that_moves_with_a_new_story_under_its_new_folder_publishes_it_as_new(
    feed_server: FeedServer, make_project
) -> None:
    # Its links are written whole: a new story's link under the feed's new folder was taken
    # for a relative one and looked up under the old folder, where a story that left the
    # feed had that name: the new story took that story's id and times (an update of it).
    def whole(*stories: tuple[str, str]) -> bytes:
        return rss20("whole", []).replace(b"</channel>", "".join(
            f"<item><title>{title}</title><link>{feed_server.url(path)}</link>"
            f"<description>{title}, told at some length here.</description></item>"
            for title, path in stories).encode() + b"</channel>")

    feed_server.route("/old/feed.xml", whole(("Old one", "/old/story-1.html"), ("Old two", "/old/story-2.html")))
    p = make_project({"whole": feed_server.url("/old/feed.xml")})
    p.update()
    before = {e.title: e.id for e in p.entries()}
    feed_server.redirect("/old/feed.xml", "/new/feed.xml", 301)
    feed_server.route("/new/feed.xml", whole(("New one", "/new/story-1.html"), ("Old two", "/old/story-2.html")))
    assert "1 new items, 0 updated" in p.update()
    after = {e.title: e.id for e in p.entries()}
    assert sorted(after) == ["New one", "Old one", "Old two"]
    assert {t: after[t] for t in before} == before and after["New one"] not in before.values()


def test_a_feed_whose_relative_links_climb_out_of_its_folder_keeps_its_entries_when_it_moves(
    feed_server: FeedServer, make_project
) -> None:
    # <link>../story-1.html</link> from /a/feed/ is /a/story-1.html; moved to /b/feed/, it is
    # /b/story-1.html, which was not looked up under /a/: every entry was published twice.
    feed_server.route("/a/feed/rss.xml", relative_rss(1, 2).replace(b"<link>story", b"<link>../story"))
    p = make_project({"climbing": feed_server.url("/a/feed/rss.xml")})
    p.update()
    before = {e.title: (e.id, e.updated) for e in p.entries()}
    assert {e.link for e in p.entries()} == {feed_server.url(f"/a/story-{n}.html") for n in (1, 2)}
    feed_server.redirect("/a/feed/rss.xml", "/b/feed/rss.xml", 301)
    feed_server.route("/b/feed/rss.xml", relative_rss(1, 2, 3).replace(b"<link>story", b"<link>../story"))
    assert "1 new items, 2 updated" in p.update()  # the two take their new links
    after = {e.title: (e.id, e.updated, e.link) for e in p.entries()}
    assert len(after) == 3 and {t: after[t][:2] for t in before} == before
    assert {v[2] for v in after.values()} == {feed_server.url(f"/b/story-{n}.html") for n in (1, 2, 3)}


def test_a_url_fixed_in_the_config_keeps_the_feeds_entries(feed_server: FeedServer, make_project,
                                                             tmp_path: Path) -> None:
    # The same feed at a new address (a typo fixed, http to https): the source stays the
    # same (its entries are its own, DESIGN), and its relative links are read where they
    # were, as after a 301: the entries stay one.
    feed_server.route("/old/feed.xml", relative_rss(1, 2))
    feed_server.route("/new/feed.xml", relative_rss(1, 2, 3))
    p = make_project({"fixed": feed_server.url("/old/feed.xml")})
    p.update()
    before = {e.title: (e.id, e.updated) for e in p.entries()}
    Project(tmp_path, {"fixed": feed_server.url("/new/feed.xml")})
    assert "1 new items" in p.update()
    after = {e.title: (e.id, e.updated) for e in p.entries()}
    assert len(after) == 3 and {t: after[t] for t in before} == before


def test_a_source_pointed_at_another_feed_keeps_the_old_entries_and_stores_the_new_ones_anew(
    feed_server: FeedServer, make_project, tmp_path: Path
) -> None:
    # Another feed, whose relative links happen to have the old one's names (story-1.html):
    # its stories are new; the old ones stay as they were.
    feed_server.route("/old/feed.xml", relative_rss(1, 2))
    other = relative_rss(1, 2).replace(b"Moving story", b"Other story").replace(b"moving story", b"other story")
    feed_server.route("/other/feed.xml", other)
    p = make_project({"pointed": feed_server.url("/old/feed.xml")})
    p.update()
    before = {e.title: (e.id, e.updated, e.link) for e in p.entries()}
    Project(tmp_path, {"pointed": feed_server.url("/other/feed.xml")})
    assert "2 new items, 0 updated" in p.update()
    after = {e.title: (e.id, e.updated, e.link) for e in p.entries()}
    assert len(after) == 4 and {t: after[t] for t in before} == before


def test_a_302_alternating_between_two_mirrors_publishes_nothing_new(feed_server: FeedServer, make_project) -> None:
    # Measured (review 96): each fetch of a document that differs between the mirrors
    # re-keys every entry (its link row, its item's link, a former key deleted and one
    # written) and reports it updated; ids and times stay, but each entry's link flips
    # between the mirrors and each feed is written again (a new ETag for every reader).
    body = relative_rss(1, 2, 3)
    for mirror in ("m1", "m2"):
        feed_server.route(f"/{mirror}/feed.xml", body.replace(b"</channel>", f"<!-- {mirror} --></channel>".encode()))
    feed_server.redirect("/feed.xml", "/m1/feed.xml", 302)
    p = make_project({"mirrored": feed_server.url("/feed.xml")})
    p.update()
    feed_server.redirect("/feed.xml", "/m2/feed.xml", 302)
    p.update()
    published = (p.root / "feeds" / "all.xml").read_bytes()
    feed_server.redirect("/feed.xml", "/m1/feed.xml", 302)
    assert "0 new items, 0 updated" in p.update()
    assert (p.root / "feeds" / "all.xml").read_bytes() == published


def test_a_story_new_at_one_mirror_is_that_story_at_the_next_mirror_and_where_the_feed_is_again(
    feed_server: FeedServer, make_project
) -> None:
    # A story first seen behind a 302 is stored keyed at that mirror and leaves its key at
    # the feed's own URL; the next day's mirror sends it under a key of its own, which was
    # looked up only among stored keys: it was published a second time (and the first copy,
    # its former key taken by the second, stayed once the redirect ended).
    feed_server.route("/feed.xml", relative_rss(1, 2))
    p = make_project({"s": feed_server.url("/feed.xml")})
    p.update()
    feed_server.route("/m1/feed.xml", relative_rss(1, 2, 3))
    feed_server.route("/m2/feed.xml", relative_rss(1, 2, 3, 4).replace(b"</channel>", b"<!-- m2 --></channel>"))
    feed_server.redirect("/feed.xml", "/m1/feed.xml", 302)
    assert "1 new items" in p.update()
    seen = {e.title: (e.id, e.updated, e.link) for e in p.entries()}
    feed_server.redirect("/feed.xml", "/m2/feed.xml", 302)
    assert "1 new items, 0 updated" in p.update()  # story 4; story 3 is the one stored
    after = {e.title: (e.id, e.updated, e.link) for e in p.entries()}
    assert len(after) == 4 and {t: after[t] for t in seen} == seen
    feed_server.redirect("/feed.xml", "/m1/feed.xml", 302)
    assert "0 new items, 0 updated" in p.update()
    feed_server.route("/feed.xml", relative_rss(1, 2, 3, 4, 5))  # the redirect ends
    assert "1 new items, 2 updated" in p.update()
    final = {e.title: (e.id, e.updated, e.link) for e in p.entries()}
    assert len(final) == 5 and {t: final[t][:2] for t in after} == {t: v[:2] for t, v in after.items()}
    assert {v[2] for v in final.values()} == {feed_server.url(f"/story-{n}.html") for n in range(1, 6)}
    assert "0 new items, 0 updated" in p.update()


def test_a_story_new_behind_a_302_after_a_301_is_that_story_where_the_feed_moved(
    feed_server: FeedServer, make_project
) -> None:
    # 301 to /new/, which sends to a mirror for now (302): a story new there left its key
    # where the feed was (/old/); once /new/ answers itself, that story's key there was
    # looked up among stored keys only, and it was published twice (/m/ and /new/).
    feed_server.route("/old/feed.xml", relative_rss(1, 2))
    p = make_project({"s": feed_server.url("/old/feed.xml")})
    p.update()
    ids = {e.title: (e.id, e.updated) for e in p.entries()}
    feed_server.redirect("/old/feed.xml", "/new/feed.xml", 301)
    feed_server.redirect("/new/feed.xml", "/m/feed.xml", 302)
    feed_server.route("/m/feed.xml", relative_rss(1, 2, 3))
    assert "1 new items" in p.update()
    assert "0 new items" in p.update()  # the move is taken (the config's url stays)
    assert p.status()["s"]["url"] == feed_server.url("/new/feed.xml")
    ids.update({e.title: (e.id, e.updated) for e in p.entries()})
    feed_server.route("/new/feed.xml", relative_rss(1, 2, 3, 4))
    assert "1 new items, 3 updated" in p.update()  # the three take their links at /new/
    final = {e.title: (e.id, e.updated, e.link) for e in p.entries()}
    assert len(final) == 4 and {t: final[t][:2] for t in ids} == ids
    assert {v[2] for v in final.values()} == {feed_server.url(f"/new/story-{n}.html") for n in range(1, 5)}
    assert "0 new items, 0 updated" in p.update()


def test_a_story_new_behind_a_302_takes_its_link_when_the_feed_sends_the_mirrors_bytes_itself(
    feed_server: FeedServer, make_project
) -> None:
    # A mirror sends the feed's own bytes: when the redirect ended, the feed's first document
    # was the mirror's last, not parsed (the same bytes), and the story first seen at the
    # mirror kept the mirror's link (the address of the day, gone tomorrow) until a next story.
    feed_server.route("/old/feed.xml", relative_rss(1, 2))
    p = make_project({"s": feed_server.url("/old/feed.xml")})
    p.update()
    route = feed_server.route("/m/feed.xml", relative_rss(1, 2, 3))
    feed_server.redirect("/old/feed.xml", "/m/feed.xml", 302)
    assert "1 new items" in p.update()
    assert "0 new items, 0 updated" in p.update()  # the same bytes there again
    route.body = relative_rss(1, 2, 3).replace(b"number 3,", b"number 3 (corrected),")
    assert "0 new items, 1 updated" in p.update()  # an edit at the mirror is published
    seen = {e.title: (e.id, e.updated, e.summary) for e in p.entries()}
    feed_server.route("/old/feed.xml", route.body)
    assert "0 new items, 1 updated" in p.update()
    final = {e.title: (e.id, e.updated, e.summary, e.link) for e in p.entries()}
    assert {t: v[:3] for t, v in final.items()} == seen
    assert {v[3] for v in final.values()} == {feed_server.url(f"/old/story-{n}.html") for n in (1, 2, 3)}
    assert "0 new items, 0 updated" in p.update()


@pytest.mark.parametrize("code", [301, 302])
def test_a_feed_with_relative_pictures_in_its_entries_that_moves_keeps_its_entries(
    feed_server: FeedServer, make_project, code: int
) -> None:
    # <img src="pic.png"> in each entry's HTML, made absolute against the feed's URL: moved,
    # no entry was as it was where the feed was (its picture's URL had moved too), so the
    # feed was taken for another one (review 96) and every entry was published twice.
    def pictured(*numbers: int) -> bytes:
        return relative_rss(*numbers).replace(
            b"<description>The moving", b"<description>&lt;p&gt;&lt;img src=\"pic.png\"&gt; The moving")

    feed_server.route("/old/feed.xml", pictured(1, 2))
    p = make_project({"s": feed_server.url("/old/feed.xml")})
    p.update()
    before = {e.title: (e.id, e.updated) for e in p.entries()}
    feed_server.route("/m/feed.xml", pictured(1, 2, 3))
    feed_server.redirect("/old/feed.xml", "/m/feed.xml", code)
    # After a 301 the two take their new links and pictures, keeping their times; behind a
    # 302 they stay as they were (nothing published for them).
    assert f"1 new items, {2 if code == 301 else 0} updated" in p.update()
    after = {e.title: (e.id, e.updated, e.link, e.summary) for e in p.entries()}
    assert len(after) == 3 and {t: after[t][:2] for t in before} == before
    there = "/m/" if code == 301 else "/old/"
    assert {after[f"Moving story {n}"][2:] for n in (1, 2)} == {
        (feed_server.url(f"{there}story-{n}.html"),
         f'<p><img src="{feed_server.url(there)}pic.png" /> The moving story number {n}, told at some length here.</p>')
        for n in (1, 2)}
    assert "0 new items, 0 updated" in p.update()
    if code == 302:  # the redirect ends: story 3 takes its link and picture here, keeping its time
        feed_server.route("/old/feed.xml", pictured(1, 2, 3, 4))
        assert "1 new items, 1 updated" in p.update()
        final = {e.title: (e.id, e.updated, e.link, e.summary) for e in p.entries()}
        assert len(final) == 4 and {t: final[t][:2] for t in after} == {t: v[:2] for t, v in after.items()}
        assert final["Moving story 3"][2:] == (
            feed_server.url("/old/story-3.html"),
            f'<p><img src="{feed_server.url("/old/")}pic.png" /> The moving story number 3, told at some length here.</p>')
        assert "0 new items, 0 updated" in p.update()


@pytest.mark.parametrize("code", [301, 302])
def test_a_feed_with_guids_and_relative_links_that_moves_dates_nothing_anew(
    feed_server: FeedServer, make_project, code: int
) -> None:
    # Found by their GUIDs, its entries' links (story-1.html) had moved with the feed: each
    # was taken for an edit, dated anew (to the top of every feed) at the move, and behind a
    # 302 that alternates between mirrors at every fetch, its link flipping between them.
    feed_server.route("/old/feed.xml", relative_rss(1, 2, guid=True))
    p = make_project({"s": feed_server.url("/old/feed.xml")})
    p.update()
    before = {e.title: (e.id, e.updated) for e in p.entries()}
    for mirror in ("m1", "m2"):
        feed_server.route(f"/{mirror}/feed.xml", relative_rss(1, 2, guid=True).replace(
            b"</channel>", f"<!-- {mirror} --></channel>".encode()))
    feed_server.redirect("/old/feed.xml", "/m1/feed.xml", code)
    # After a 301 they take their new links, keeping their times; behind a 302 they stay.
    assert f"0 new items, {2 if code == 301 else 0} updated" in p.update()
    after = {e.title: (e.id, e.updated, e.link) for e in p.entries()}
    assert {t: v[:2] for t, v in after.items()} == before
    there = "/m1/" if code == 301 else "/old/"
    assert {v[2] for v in after.values()} == {feed_server.url(f"{there}story-{n}.html") for n in (1, 2)}
    if code == 302:
        published = (p.root / "feeds" / "all.xml").read_bytes()
        feed_server.redirect("/old/feed.xml", "/m2/feed.xml", 302)
        assert "0 new items, 0 updated" in p.update()
        feed_server.redirect("/old/feed.xml", "/m1/feed.xml", 302)
        assert "0 new items, 0 updated" in p.update()
        assert (p.root / "feeds" / "all.xml").read_bytes() == published
    else:
        assert "0 new items, 0 updated" in p.update()


@pytest.mark.xfail(strict=True, reason="the validators of a fetch behind a 302 (the mirror's Last-Modified, an rsync'd "
                   "mirror's being the feed's own) are sent to the feed's URL once the redirect ends, which answers 304: "
                   "nothing is parsed, and a story first seen at the mirror keeps the mirror's link until the document "
                   "changes. Keeping no validators from a temporary fetch would fix it, at the cost of every fetch behind "
                   "a 302 coming whole (skipped as the same bytes, not parsed): the lead's call")
def test_a_story_new_behind_a_302_takes_its_link_when_the_feed_answers_304_to_the_mirrors_validators(
    feed_server: FeedServer, make_project
) -> None:
    feed_server.route("/old/feed.xml", relative_rss(1, 2), last_modified="Mon, 02 Mar 2026 10:00:00 GMT")
    p = make_project({"s": feed_server.url("/old/feed.xml")})
    p.update()
    feed_server.route("/m/feed.xml", relative_rss(1, 2, 3), last_modified="Tue, 03 Mar 2026 10:00:00 GMT")
    feed_server.redirect("/old/feed.xml", "/m/feed.xml", 302)
    assert "1 new items" in p.update()
    feed_server.route("/old/feed.xml", relative_rss(1, 2, 3), last_modified="Tue, 03 Mar 2026 10:00:00 GMT")
    p.update()
    assert {e.link for e in p.entries()} == {feed_server.url(f"/old/story-{n}.html") for n in (1, 2, 3)}


# --- failures, backoff and recovery -------------------------------------------------------------


@pytest.mark.parametrize("code", [404, 500])
def test_http_errors_back_off_and_recover(feed_server: FeedServer, make_project, code: int) -> None:
    route = feed_server.route("/flaky", b"oops", status=code, content_type="text/plain")
    feed_server.route("/fine", rss20("fine", [story(1, "fine")]))
    p = make_project({"flaky": feed_server.url("/flaky"), "fine": feed_server.url("/fine")})
    p.update(code=1)
    st = p.status()["flaky"]
    assert st["http_status"] == code and st["failures"] == 1
    assert st["error"].startswith(f"HTTP {code}")
    first_delay = when(st["next_run"]) - when(st["last_fetch"])
    assert first_delay >= timedelta(seconds=2 * INTERVAL)
    assert p.status()["fine"]["items"] == 1  # the other source still ingests and publishes
    assert len(p.entries()) == 1
    p.update(code=1)
    st = p.status()["flaky"]
    assert st["failures"] == 2
    assert when(st["next_run"]) - when(st["last_fetch"]) >= 2 * first_delay
    route.status, route.body, route.content_type = 200, rss20("back", [story(1, "back")]), "application/xml"
    assert "1 new items" in p.update()
    st = p.status()["flaky"]
    assert (st["failures"], st["error"], st["http_status"], st["items"]) == (0, None, 200, 1)
    assert when(st["next_run"]) - when(st["last_fetch"]) <= timedelta(seconds=INTERVAL + 1)


def test_410_retires_the_source(feed_server: FeedServer, make_project) -> None:
    feed_server.route("/gone", b"", status=410, content_type=None)
    feed_server.route("/fine", rss20("fine", [story(1, "fine")]))
    p = make_project({"gone": feed_server.url("/gone"), "fine": feed_server.url("/fine")})
    p.update(code=1)
    st = p.status()["gone"]
    assert st["retired"] is True and st["http_status"] == 410 and "410" in st["error"]
    assert st["next_run"] is None and st["failures"] == 1
    out = p.run("update", code=0)  # retired earlier: skipped, not a failure of this update
    # Not "ok": it was not fetched (and never is again).
    assert "gone: retired, 0 new, 0 updated, 0 merged (the server answered 410 Gone; remove it from the config)" in out
    assert feed_server.hits("/gone") == 1 and feed_server.hits("/fine") == 2
    assert p.status()["gone"]["retired"] is True


def test_a_410_behind_a_temporary_redirect_is_a_failure_not_a_retirement(feed_server: FeedServer, make_project) -> None:
    # The source's URL only sends to another for now (a 302): that one being gone says
    # nothing for good of the source's, as a 302 moves no source. It retired the source,
    # never fetched again, though its URL could send elsewhere the next time.
    route = feed_server.redirect("/today", "/gone", 302)
    feed_server.route("/gone", b"", status=410, content_type=None)
    feed_server.route("/fine", rss20("fine", [story(1, "fine")]))
    p = make_project({"proxied": feed_server.url("/today")})
    p.update(code=1)
    st = p.status()["proxied"]
    assert (st["retired"], st["http_status"], st["error"], st["failures"]) == (False, 410, "HTTP 410 Gone", 1)
    assert st["next_run"] is not None
    route.redirect = "/fine"  # the next time, it sends to a feed that is there
    assert "1 new items" in p.update()
    st = p.status()["proxied"]
    assert (st["retired"], st["error"], st["items"]) == (False, None, 1)
    # A permanent redirect to a 410 retires it, as the source's own 410 does.
    feed_server.redirect("/moved", "/gone", 301)
    p = make_project({"moved": feed_server.url("/moved")})
    p.update(code=1)
    assert p.status()["moved"]["retired"] is True

def test_a_retired_source_taken_out_of_the_config_and_listed_again_is_fetched_again(
    feed_server: FeedServer, make_project, tmp_path: Path
) -> None:
    # status and update say "remove it from the config"; the feed came back later and was
    # listed again under its name: it stayed retired for ever, never fetched.
    feed_server.route("/gone", b"", status=410, content_type=None)
    feed_server.route("/fine", rss20("fine", [story(1, "fine")]))
    both = {"gone": feed_server.url("/gone"), "fine": feed_server.url("/fine")}
    p = make_project(both)
    p.update(code=1)
    assert p.status()["gone"]["retired"] is True
    Project(tmp_path, {"fine": feed_server.url("/fine")})  # taken out, as advised
    p.update()
    feed_server.route("/gone", rss20("back", [story(1, "back")]))
    Project(tmp_path, both)  # listed again
    st = p.status()["gone"]
    assert (st["retired"], st["error"], st["failures"]) == (False, None, 0)
    assert "1 new items" in p.update()
    st = p.status()["gone"]
    assert (st["retired"], st["error"], st["http_status"], st["items"]) == (False, None, 200, 1)
    assert feed_server.hits("/gone") == 2


def test_a_moved_source_whose_new_url_is_gone_starts_at_its_configured_url_when_listed_again(
    feed_server: FeedServer, make_project, tmp_path: Path
) -> None:
    # A 301 seen twice moved the source; its new URL later answered 410 and retired it.
    # Taken out of the config and listed again, as status advises, it "started afresh"
    # still at the moved URL: retired again at once, its configured URL never fetched.
    feed_server.redirect("/old", "/new", 301)
    feed_server.route("/new", rss20("new", [story(1, "m")]))
    p = make_project({"moved": feed_server.url("/old")})
    p.update()
    p.update()
    assert p.status()["moved"]["url"] == feed_server.url("/new")
    feed_server.route("/new", b"", status=410, content_type=None)
    p.update(code=1)
    assert p.status()["moved"]["retired"] is True
    feed_server.route("/old", rss20("old", [story(2, "m"), story(1, "m")]))  # the old address serves again
    feed_server.route("/fine", rss20("fine", [story(1, "fine")]))
    Project(tmp_path, {"fine": feed_server.url("/fine")})  # taken out, as advised
    p.update()
    Project(tmp_path, {"moved": feed_server.url("/old")})  # listed again
    assert p.status()["moved"]["url"] == feed_server.url("/old")
    assert "1 new items" in p.update()
    st = p.status()["moved"]
    assert (st["retired"], st["error"], st["http_status"], st["items"]) == (False, None, 200, 2)
    assert feed_server.hits("/new") == 3


def test_a_moved_source_taken_out_of_the_config_and_listed_again_starts_at_its_configured_url(
    feed_server: FeedServer, make_project, tmp_path: Path
) -> None:
    # Its new URL failing (404) for good, the only way back to the configured one was to
    # write the URL differently: listed again, a subscription starts where the config says.
    feed_server.redirect("/old", "/new", 301)
    feed_server.route("/new", rss20("new", [story(1, "m")]))
    feed_server.route("/fine", rss20("fine", [story(1, "fine")]))
    p = make_project({"moved": feed_server.url("/old"), "fine": feed_server.url("/fine")})
    p.update()
    p.update()
    feed_server.route("/new", b"", status=404, content_type=None)
    p.update(code=1)
    assert p.status()["moved"]["url"] == feed_server.url("/new")
    feed_server.route("/old", rss20("old", [story(2, "m"), story(1, "m")]))
    Project(tmp_path, {"fine": feed_server.url("/fine")})
    p.update()
    Project(tmp_path, {"moved": feed_server.url("/old"), "fine": feed_server.url("/fine")})
    assert "1 new items" in p.update()
    st = p.status()["moved"]
    assert (st["url"], st["error"], st["failures"], st["http_status"]) == (feed_server.url("/old"), None, 0, 200)


def test_a_source_renamed_in_the_config_keeps_its_state_and_its_entries(
    feed_server: FeedServer, make_project, tmp_path: Path
) -> None:
    # Renamed (or a feed retitled in an OPML file, whose names come from titles), a source
    # was a new one: fetched whole again, its untitled, unlinked entries stored twice, its
    # history gone. Same URL, old name gone: it is the same source, as in any reader.
    entries = [story(1, "r"), story(2, "r", link=None, title="", content="<p>Short.</p>")]
    route = feed_server.route("/r", rss20("R", entries), etag='"v1"')
    p = make_project({"old-name": feed_server.url("/r")})
    assert "2 new items" in p.update()
    Project(tmp_path, {"new-name": feed_server.url("/r")})
    assert "0 new items, 0 updated, 0 merged" in p.update()
    status = p.status()
    assert list(status) == ["new-name"] and status["new-name"]["items"] == 2
    assert feed_server.requests("/r")[-1].headers.get("if-none-match") == '"v1"'  # its validators kept
    route.body, route.etag = rss20("R", [story(3, "r"), *entries]), '"v2"'
    assert "1 new items" in p.update()
    assert len(p.entry_elements()) == 3
    # A retired one listed again under a new name starts afresh, as under its old one.
    feed_server.route("/r", b"", status=410, content_type=None)
    p.update(code=1)
    assert p.status()["new-name"]["retired"] is True
    feed_server.route("/r", rss20("R", [story(4, "r"), story(3, "r"), *entries]))
    Project(tmp_path, {"third-name": feed_server.url("/r")})
    assert "1 new items" in p.update()
    assert p.status()["third-name"]["retired"] is False


@pytest.mark.parametrize("code", [410, 503])
def test_editing_a_failing_sources_url_forgets_the_old_urls_error(
    feed_server: FeedServer, make_project, tmp_path: Path, code: int
) -> None:
    # The edit reset its failures (and a retirement) but status still showed the old
    # URL's error, with 0 failures, until the next refresh; and its HTTP status after that.
    feed_server.route("/old", b"", status=code, content_type=None)
    feed_server.route("/new", rss20("new", [story(1, "new")]))
    p = make_project({"src": feed_server.url("/old")})
    p.update(code=1)
    assert p.status()["src"]["failures"] == 1
    Project(tmp_path, {"src": feed_server.url("/new")})
    st = p.status()["src"]
    assert (st["url"], st["failures"], st["retired"], st["error"], st["http_status"]) == (
        feed_server.url("/new"), 0, False, None, None)
    assert "1 new items" in p.update()


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_is_honoured(feed_server: FeedServer, make_project, code: int) -> None:
    feed_server.route("/busy", b"slow down", status=code, content_type="text/plain",
                      headers={"Retry-After": "7200"})
    p = make_project({"busy": feed_server.url("/busy")})
    before = datetime.now(timezone.utc)
    p.update(code=1)
    st = p.status()["busy"]
    assert st["http_status"] == code and st["failures"] == 1 and str(code) in st["error"]
    assert when(st["next_run"]) >= before + timedelta(seconds=7200)


@pytest.mark.parametrize("retry_after", ["99999999999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_a_retry_after_of_years_waits_a_week_and_stops_no_other_source(
    feed_server: FeedServer, make_project, retry_after: str
) -> None:
    # A hostile or broken server: the wait overflowed the clock and aborted the whole
    # update, or parked the source until 9999.
    feed_server.route("/busy", b"slow down", status=429, content_type="text/plain",
                      headers={"Retry-After": retry_after})
    feed_server.route("/fine", rss20("fine", [story(1, "fine")]))
    p = make_project({"busy": feed_server.url("/busy"), "fine": feed_server.url("/fine")})
    before = datetime.now(timezone.utc)
    p.update(code=1)
    st = p.status()
    assert st["fine"]["items"] == 1 and st["fine"]["error"] is None
    assert st["busy"]["http_status"] == 429 and st["busy"]["failures"] == 1
    assert before + timedelta(days=7) <= when(st["busy"]["next_run"]) <= datetime.now(timezone.utc) + timedelta(days=7)


def test_slow_server_times_out_and_the_others_still_ingest(
    feed_server: FeedServer, make_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetcher_options(monkeypatch, read_timeout=0.5)
    feed_server.route("/slow", rss20("slow", [story(1, "slow")]), delay=5)
    feed_server.route("/fine", rss20("fine", [story(1, "fine")]))
    p = make_project({"slow": feed_server.url("/slow"), "fine": feed_server.url("/fine")})
    p.update(code=1)
    status = p.status()
    assert "timed out" in status["slow"]["error"] and status["slow"]["items"] == 0
    assert status["slow"]["failures"] == 1 and status["slow"]["http_status"] is None
    assert status["fine"]["items"] == 1 and status["fine"]["error"] is None


def test_endless_body_stops_at_the_cap(feed_server: FeedServer, make_project) -> None:
    feed_server.route("/endless", endless=True)
    feed_server.route("/fine", rss20("fine", [story(1, "fine")]))
    p = make_project({"endless": feed_server.url("/endless"), "fine": feed_server.url("/fine")})
    p.update(code=1)
    status = p.status()
    assert "body larger than 10 MiB" in status["endless"]["error"]
    assert status["endless"]["items"] == 0 and status["fine"]["items"] == 1


@pytest.mark.parametrize("how", ["declared", "chunked", "gzip"])
def test_a_body_over_the_cap_shows_the_status_the_server_answered(
    feed_server: FeedServer, make_project, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    # A gzip body decoded past the cap showed HTTP 200; the same body sent plain (its
    # length declared or not) showed no HTTP status, as if the server never answered.
    fetcher_options(monkeypatch, max_bytes=2048)
    big = rss20("big", [story(n, "big") for n in range(1, 40)])
    if how == "chunked":
        feed_server.route("/big", endless=True)
    else:
        feed_server.route("/big", big, gzip=how == "gzip")
    p = make_project({"big": feed_server.url("/big")})
    p.update(code=1)
    st = p.status()["big"]
    assert (st["error"], st["http_status"], st["failures"]) == ("body larger than 2 KiB", 200, 1)


# --- documents that are not (quite) feeds -------------------------------------------------------


def test_wrong_charset_is_decoded_with_a_warning(feed_server: FeedServer, make_project) -> None:
    # Declared UTF-8 (header and prolog), but the bytes are windows-1252.
    feed_server.route("/cs", (DATA / "http_wrong_charset.xml").read_bytes(), content_type="text/xml; charset=utf-8")
    p = make_project({"cs": feed_server.url("/cs")})
    p.update(code=0)
    st = p.status()["cs"]
    assert st["error"] is None and st["items"] == 1 and "encoding" in st["warning"]
    [entry] = p.entries()
    assert entry.title == "Déjà vu in Zürich"
    assert entry.source.title == "Café Europa"


def test_malformed_but_recovered_feed_is_ingested_with_a_warning(feed_server: FeedServer, make_project) -> None:
    feed_server.route("/bad", (DATA / "http_malformed.xml").read_bytes())
    p = make_project({"bad": feed_server.url("/bad")})
    p.update(code=0)
    st = p.status()["bad"]
    assert st["error"] is None and st["items"] == 2 and st["warning"].startswith("malformed XML recovered")
    assert {e.title for e in p.entries()} == {"Fish & chips bold", "Second survivor"}
    # Fetched again, the same broken bytes are not parsed again, and the source is still broken.
    assert "0 new items" in p.update(code=0)
    st = p.status()["bad"]
    assert st["error"] is None and st["warning"].startswith("malformed XML recovered")


def test_a_feed_cut_short_keeps_the_stored_version_of_its_last_entry(feed_server: FeedServer, make_project) -> None:
    long = "<p>" + "Every word of the whole story. " * 40 + "</p>"
    whole = rss20("cut", [story(1, "c"), story(2, "c", content=long)])
    feed_server.route("/cut", whole)
    p = make_project({"cut": feed_server.url("/cut")})
    p.update(code=0)
    before = {e.id: (e.summary, e.updated) for e in p.entries()}
    # The server's answer is cut off inside the last item's description (recovered).
    feed_server.route("/cut", whole[: whole.index(b"Every word of the whole story. Every") + 40])
    out = p.update(code=0)
    assert "cut: ok, 0 new, 0 updated, 0 merged" in out, out
    assert {e.id: (e.summary, e.updated) for e in p.entries()} == before  # nothing lost or moved
    assert p.status()["cut"]["warning"].endswith("the document is cut short: its last entry was left out")


def test_the_entry_a_cut_document_left_out_comes_with_the_next_whole_one(feed_server: FeedServer, make_project) -> None:
    # WordPress's ETag and Last-Modified date its newest post, not the bytes it sends: a
    # document cut off (a PHP error mid-feed) carries the validators the whole one has.
    # Stored, they had the next request answered 304, and the entry left out stayed out
    # until the site's next post (for good, once it fell out of the feed's window).
    long = "<p>" + "Every word of the whole story. " * 40 + "</p>"
    route = feed_server.route("/cut", rss20("cut", [story(3, "c")]), etag='"v1"',
                              last_modified="Wed, 01 May 2024 09:00:00 GMT")
    p = make_project({"cut": feed_server.url("/cut")})
    p.update()
    whole = rss20("cut", [story(1, "c"), story(2, "c", content=long), story(3, "c")])
    route.body = whole[: whole.index(b"Every word of the whole story. Every") + 40]
    route.etag, route.last_modified = '"v2"', "Wed, 01 May 2024 11:00:00 GMT"
    assert "cut: ok, 1 new" in p.update()
    assert "cut: ok, 0 new" in p.update()  # the same cut bytes again: still cut, still left out
    route.body = whole
    assert "cut: ok, 1 new" in p.update()
    assert sorted(e.title for e in p.entries()) == ["c story 1", "c story 2", "c story 3"]
    assert [s.status for s in feed_server.requests("/cut")] == [200, 200, 200, 200]
    p.update()  # whole, its validators stored: a conditional request again
    assert feed_server.requests("/cut")[-1].status == 304


def test_the_entries_after_a_php_error_come_with_the_next_whole_document(feed_server: FeedServer, make_project) -> None:
    # A PHP fatal error between two items ends the document there, every entry before it
    # whole, under the validators of the whole document (as above): the entries after it
    # waited for the site's next post.
    route = feed_server.route("/wp", rss20("wp", [story(3, "w")]), etag='"v1"',
                              last_modified="Wed, 01 May 2024 09:00:00 GMT")
    p = make_project({"wp": feed_server.url("/wp")})
    p.update()
    whole = rss20("wp", [story(1, "w"), story(2, "w"), story(3, "w")])
    route.body = whole[: whole.index(b"<item>", whole.index(b"<item>") + 1)] + (
        b"<br />\n<b>Fatal error</b>:  Allowed memory size of 134217728 bytes exhausted in "
        b"<b>/var/www/wp-includes/feed-rss2.php</b> on line <b>112</b><br />\n")
    route.etag, route.last_modified = '"v2"', "Wed, 01 May 2024 11:00:00 GMT"
    assert "wp: ok, 1 new" in p.update()
    route.body = whole
    assert "wp: ok, 1 new" in p.update()
    assert sorted(e.title for e in p.entries()) == ["w story 1", "w story 2", "w story 3"]


@pytest.mark.parametrize("name, ctype, message", [
    ("http_html_page.html", "text/html; charset=utf-8", "not a feed: got an HTML page (text/html); the page "
     "names its feed: http://127.0.0.1:{port}/feed.xml (make that the url)"),
    ("http_html_page.html", "application/xml", "not a feed: got an HTML page"),
    ("http_billion_laughs.xml", "application/xml", "declares XML entities"),
    (b"", "application/rss+xml", "not a feed: empty body"),
    (b'{"status": "ok", "items": []}', "application/json", "not a JSON Feed"),
    (b"just some words", "text/plain", "not a feed"),
    (b'{"version":"https://jsonfeed.org/version/1.1","items":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "application/feed+json", "nested too deeply"),
])
def test_non_feeds_are_errors_and_the_others_still_publish(
    feed_server: FeedServer, make_project, name: str | bytes, ctype: str, message: str
) -> None:
    body = name if isinstance(name, bytes) else (DATA / name).read_bytes()
    feed_server.route("/doc", body, content_type=ctype)
    feed_server.route("/fine", rss20("fine", [story(1, "fine")]))
    p = make_project({"doc": feed_server.url("/doc"), "fine": feed_server.url("/fine")})
    out = p.update(code=1)
    assert "doc: FAILED" in out
    status = p.status()
    assert message.format(port=feed_server.port) in status["doc"]["error"] and status["doc"]["items"] == 0
    assert status["doc"]["http_status"] == 200 and status["doc"]["failures"] == 1
    assert status["fine"]["items"] == 1 and status["fine"]["error"] is None
    assert [e.title for e in p.entries()] == ["fine story 1"]
    assert b"lollol" not in (p.root / "feeds" / "all.xml").read_bytes()


def test_status_shows_the_feeds_an_html_page_names_in_full(feed_server: FeedServer, make_project) -> None:
    # The README sends the user to `status` for a failing source's error; for a site's page
    # that error's point is the feed URLs it names, at its end, past any fixed width.
    feed_server.route("/site/", (DATA / "http_html_page.html").read_bytes(), content_type="text/html")
    p = make_project({"site": feed_server.url("/site/")})
    p.update(code=1)
    error = p.status()["site"]["error"]
    assert feed_server.url("/feed.xml") in error
    assert error in p.run("status")


def test_published_html_is_sanitized(feed_server: FeedServer, make_project) -> None:
    feed_server.route("/hostile/feed", (DATA / "http_hostile_content.xml").read_bytes())
    p = make_project({"hostile": feed_server.url("/hostile/feed")})
    p.update()
    [entry] = p.entries()
    html = entry.content[0].value
    lowered = html.lower()
    for bad in ("<script", "alert(1)", "onclick", "onerror", "onload", "javascript:", "<iframe", "<style"):
        assert bad not in lowered, (bad, html)
    assert "Hello" in html and "click" in html
    # Relative URLs inside content are made absolute (no xml:base needed in our output).
    assert feed_server.url("/hostile/more/2") in html and feed_server.url("/hostile/pic.png") in html
    assert entry.link == feed_server.url("/stories/1")


# --- identity: updates in place, re-sent entries, the same story twice ---------------------------


def test_entry_changed_upstream_is_updated_in_place(feed_server: FeedServer, make_project) -> None:
    route = feed_server.route("/live", atom10("live", [story(1, "live"), story(2, "live")]))
    p = make_project({"live": feed_server.url("/live")})
    p.update()
    before = {e.id: e for e in p.entries()}
    changed = story(1, "live", title="live story 1, corrected", updated=T0 + timedelta(hours=1))
    route.body = atom10("live", [changed, story(2, "live")])
    out = p.update()
    assert "0 new items, 1 updated" in out
    after = {e.id: e for e in p.entries()}
    assert set(after) == set(before) and len(after) == 2
    [entry_id] = [i for i, e in after.items() if e.title == "live story 1, corrected"]
    assert before[entry_id].title == "live story 1"
    assert after[entry_id].updated_parsed > before[entry_id].updated_parsed
    assert p.status()["live"]["items"] == 2


def test_resent_old_entries_add_nothing(feed_server: FeedServer, make_project) -> None:
    route = feed_server.route("/again", rss20("again", [story(1, "a"), story(2, "a")]))
    p = make_project({"again": feed_server.url("/again")})
    p.update()
    ids = sorted(e.id for e in p.entries())
    # Different bytes (new channel title, other order), the same entries: nothing to add or update.
    route.body = rss20("again, retitled", [story(2, "a"), story(1, "a")])
    out = p.update()
    assert "0 new items, 0 updated" in out
    assert sorted(e.id for e in p.entries()) == ids
    assert p.status()["again"]["items"] == 2


@pytest.mark.parametrize("fmt", ["rss091", "rss20"])
def test_entries_of_one_time_are_published_in_the_feeds_order(feed_server: FeedServer, make_project, fmt: str) -> None:
    # RSS 0.91 entries carry no date (each takes the time it was first seen); the RSS 2.0
    # feed stamps all four alike. A feed lists its newest entry first: nudged apart, it
    # must stay on top, or the newest entries are the ones max_entries leaves out.
    stories = [story(n, fmt, updated=T0) for n in range(1, 5)]
    feed_server.route("/same", build_feed(fmt, "same", stories))
    p = make_project({"same": feed_server.url("/same")})
    p.update()
    titles = [el.findtext(f"{ATOM}title") for el in p.entry_elements()]
    assert titles == [s.title for s in stories]
    [newest] = json.loads(p.run("items", "--limit", "1", "--json"))
    assert newest["title"] == stories[0].title


def test_the_same_story_from_two_sources_is_one_item(feed_server: FeedServer, make_project) -> None:
    long_text = "<p>The alliance agreed on a new air policing rotation over the Baltic states today.</p>"
    first = [
        story(1, "one", link="https://News.Example.org/a/1?id=7&utm_source=rss#top"),
        story(2, "one", title="Air policing", content=long_text, link="https://one.example/air"),
    ]
    second = [
        story(1, "two", link="https://news.example.org/a/1?id=7&utm_medium=feed&fbclid=x"),
        story(2, "two", title="  AIR policing ", content=long_text.replace(" today", "  today"),
              link="https://two.example/air-policing"),
    ]
    feed_server.route("/one", rss20("Source One", first))
    feed_server.route("/two", atom10("Source Two", second))
    p = make_project({"one": feed_server.url("/one"), "two": feed_server.url("/two")})
    out = p.update()
    assert "2 new items, 0 updated, 2 merged" in out  # the second source's entries attach to stored items
    entries = p.entry_elements()
    assert len(entries) == 2
    for el in entries:
        source = el.find(f"{ATOM}source")
        assert source is not None
        assert source.findtext(f"{ATOM}id") == "tag:aggregator,2026:source/one"
        self_links = [link.get("href") for link in source.findall(f"{ATOM}link") if link.get("rel") == "self"]
        assert self_links == [feed_server.url("/one")]
        assert source.findtext(f"{ATOM}title") == "Source One"
        via = [link.get("href") for link in el.findall(f"{ATOM}link") if link.get("rel") == "via"]
        assert via in (["https://news.example.org/a/1?id=7&utm_medium=feed&fbclid=x"],
                       ["https://two.example/air-policing"])
    status = p.status()
    assert status["one"]["items"] == 2 and status["two"]["items"] == 2
    # Fetched again unchanged: still two items, still one via link each.
    feed_server.routes["/two"].body = atom10("Source Two!", second)
    p.update()
    assert len(p.entry_elements()) == 2


@pytest.mark.parametrize(("title_one", "title_two", "items"), [
    # One story: the words after "x<" are dropped as a tag, and what is left is under 40 characters.
    ("Why x<y matters for the Baltic Sea and NATO allies", "Why x<y matters for the Baltic Sea and NATO allies", 1),
    # Two stories: their titles differ only inside what reads as a tag.
    ("NATO summit live: allies agree on spending <Update 1>", "NATO summit live: allies agree on spending <Update 2>", 2),
])
def test_a_titles_angle_brackets_are_words_to_text_dedup(
    feed_server: FeedServer, make_project, title_one: str, title_two: str, items: int
) -> None:
    # A title is plain text (the parsers read an HTML title as text, and it is published
    # escaped); DESIGN "Items and identity" strips HTML from the content of the normalized
    # text, not from the title's words.
    feed_server.route("/one", rss20("One", [story(1, "one", title=title_one, content="<p>Live.</p>",
                                                  link="https://one.example/a")]))
    feed_server.route("/two", rss20("Two", [story(1, "two", title=title_two, content="<p>Live.</p>",
                                                  link="https://two.example/b")]))
    p = make_project({"one": feed_server.url("/one"), "two": feed_server.url("/two")})
    p.update()
    assert sorted(el.findtext(f"{ATOM}title") for el in p.entry_elements()) == sorted({title_one, title_two})
    assert len(p.entry_elements()) == items


def test_a_further_source_that_moves_its_link_moves_the_via_link_in_the_feeds(
    feed_server: FeedServer, make_project
) -> None:
    # The further source's new link was stored, and `items --json` showed it, but nothing
    # counted as changed: the feeds were not published again and kept the old via link.
    feed_server.route("/one", rss20("One", [story(1, "one", link="https://news.example.org/a/1")]))
    two = feed_server.route("/two", rss20("Two", [story(1, "two", link="https://news.example.org/a/1?utm_source=two")]))
    p = make_project({"one": feed_server.url("/one"), "two": feed_server.url("/two")})
    assert "1 new items, 0 updated, 1 merged" in p.update()
    two.body = rss20("Two", [story(1, "two", link="https://two.example/copy/1")])
    before = p.entry_times()
    assert "two: ok, 0 new, 1 updated, 0 merged" in p.update()
    [el] = p.entry_elements()
    assert [link.get("href") for link in el.findall(f"{ATOM}link") if link.get("rel") == "via"] == [
        "https://two.example/copy/1"]
    assert p.entry_times() == before  # the story itself did not change: not re-dated
    [item] = json.loads(p.run("items", "--json"))
    assert item["via"] == ["https://two.example/copy/1"]


def test_a_story_without_a_link_takes_the_one_another_source_gives_it(feed_server: FeedServer, make_project) -> None:
    # DESIGN: "a link to the original where one exists". The first source sent the story
    # without a link; the second's link was only a via link, which readers do not open.
    text = "<p>The alliance agreed on a new air policing rotation over the Baltic states today.</p>"
    feed_server.route("/one", rss20("One", [story(1, "one", title="Air policing", content=text, link=None)]))
    feed_server.route("/two", rss20("Two", [story(1, "two", title="Air policing", content=text,
                                                  link="https://two.example/air")]))
    p = make_project({"one": feed_server.url("/one"), "two": feed_server.url("/two")})
    assert "1 new items, 0 updated, 1 merged" in p.update()
    [el] = p.entry_elements()
    assert [link.get("href") for link in el.findall(f"{ATOM}link") if link.get("rel") == "alternate"] == [
        "https://two.example/air"]
    assert el.findtext(f"{ATOM}source/{ATOM}id") == "tag:aggregator,2026:source/one"
    [item] = json.loads(p.run("items", "--json"))
    assert item["link"] == "https://two.example/air"


def guided(campaign: str) -> list[Entry]:
    """An entry with a GUID whose link carries a campaign (fbclid) parameter."""
    return [story(3, "guid", link=f"https://news.example.org/a/3?fbclid={campaign}")]


def test_a_link_that_only_moves_its_campaign_is_the_same_entry_unchanged(feed_server: FeedServer, make_project) -> None:
    # Feeds without GUIDs are keyed by their links, and many tag them with utm_* parameters
    # that move with each campaign: neither a new item nor an update (re-dated to the top).
    def links(campaign: str) -> list[Entry]:
        return [story(1, "bare", link=f"https://news.example.org/a/1?utm_source=rss&utm_campaign={campaign}"),
                story(2, "bare", link=f"https://news.example.org/a/2?id=5&utm_campaign={campaign}#top")]

    bare = feed_server.route("/bare", rss091("Bare", links("mon")))
    guid = feed_server.route("/guid", rss20("Guid", guided("mon")))
    p = make_project({"bare": feed_server.url("/bare"), "guid": feed_server.url("/guid")})
    assert "3 new items, 0 updated" in p.update()
    before = p.entry_times()
    bare.body = rss091("Bare", links("tue"))
    guid.body = rss20("Guid", guided("tue"))
    assert "0 new items, 0 updated" in p.update()
    assert p.entry_times() == before
    # A link that changes otherwise is a change (and, keying an entry, a new one).
    guid.body = rss20("Guid", [replace(guided("tue")[0], link="https://news.example.org/a/3?page=2")])
    assert "0 new items, 1 updated" in p.update()
    bare.body = rss091("Bare", [replace(links("tue")[0], link="https://news.example.org/a/1?page=2"), links("tue")[1]])
    assert "1 new items, 0 updated" in p.update()


def test_entries_stored_under_links_with_their_campaign_keep_their_items(feed_server: FeedServer, make_project) -> None:
    # Before schema 0008 an entry without a GUID was stored under its whole link, and its
    # fingerprint took the whole link: such entries are found, re-keyed, and not updated.
    import sqlite3

    from aggregator.parse import parse_feed
    from aggregator.store.ingest import fingerprint

    links = [f"https://news.example.org/a/{n}?utm_source=rss&utm_campaign=mon" for n in (1, 2)]
    body = rss091("Bare", [story(n, "bare", link=link) for n, link in enumerate(links, 1)])
    feed_server.route("/bare", body)
    p = make_project({"bare": feed_server.url("/bare")})
    assert "2 new items" in p.update()
    before = p.entry_times()
    parsed = {e.link: e for e in parse_feed(feed_server.url("/bare"), body, {}).entries}
    with sqlite3.connect(p.root / "agg.db") as db:  # as the earlier release left them
        for link in links:
            db.execute("UPDATE item_sources SET key = ?, fingerprint = ?, undated_fingerprint = NULL WHERE key = ?",
                       (link, fingerprint(parsed[link], tracked=True), link.split("?")[0]))
        db.execute("UPDATE sources SET etag = NULL, last_modified = NULL, body_hash = NULL")
        # what migration 0008 records of such a database
        db.execute("INSERT INTO meta (key, value) SELECT 'fingerprints_whole_after', MAX(id) FROM item_sources")
    assert "0 new items, 0 updated" in p.update()
    assert p.entry_times() == before
    with sqlite3.connect(p.root / "agg.db") as db:
        keys = sorted(k for (k,) in db.execute("SELECT key FROM item_sources"))
    assert keys == [link.split("?")[0] for link in links]
    assert "0 new items, 0 updated" in p.update()


def test_entries_stored_before_their_feed_moved_its_campaign_keep_their_items(feed_server: FeedServer,
                                                                               make_project) -> None:
    # The first refresh after the upgrade finds the feed's campaign moved since the earlier
    # release stored it: an entry keyed by its link is still found (by its canonical link),
    # and one with a GUID is unchanged (its fingerprint took the link as it was then).
    import sqlite3

    from aggregator.identity import entry_uid
    from aggregator.parse import parse_feed
    from aggregator.store.ingest import fingerprint

    def entries(campaign: str) -> list[Entry]:
        return [story(n, "bare", link=f"https://news.example.org/a/{n}?utm_source=rss&utm_campaign={campaign}")
                for n in (1, 2)]

    bare = feed_server.route("/bare", rss091("Bare", entries("mon")))
    guid = feed_server.route("/guid", rss20("Guid", guided("mon")))
    p = make_project({"bare": feed_server.url("/bare"), "guid": feed_server.url("/guid")})
    assert "3 new items" in p.update()
    sent = [*parse_feed(feed_server.url("/bare"), bare.body, {}).entries,
            *parse_feed(feed_server.url("/guid"), guid.body, {}).entries]
    with sqlite3.connect(p.root / "agg.db") as db:  # as the earlier release left them
        for e in sent:
            key = e.key if e.key.startswith("urn:") else e.link
            db.execute("UPDATE items SET uid = ? WHERE uid = ?", (entry_uid("bare", key), entry_uid("bare", e.key)))
            db.execute("UPDATE item_sources SET key = ?, fingerprint = ?, undated_fingerprint = NULL WHERE key = ?",
                       (key, fingerprint(e, tracked=True), e.key))
        # what migration 0008 records of such a database
        db.execute("INSERT INTO meta (key, value) SELECT 'fingerprints_whole_after', MAX(id) FROM item_sources")
    p.run("publish")
    before = p.entry_times()
    assert len(before) == 3
    bare.body = rss091("Bare", entries("tue"))
    guid.body = rss20("Guid", guided("tue"))
    assert "0 new items, 0 updated" in p.update()
    assert p.entry_times() == before
    with sqlite3.connect(p.root / "agg.db") as db:
        keys = sorted(k for (k,) in db.execute("SELECT key FROM item_sources"))
    assert keys == ["https://news.example.org/a/1", "https://news.example.org/a/2", "urn:guid:3"]
    assert "0 new items, 0 updated" in p.update()


@pytest.mark.parametrize(("sent", "cleaned", "stored"), [
    ("", "", ""),
    # A <pre> whose code starts with a blank line: releases before keep_pre_newline stored
    # it with one line break (which a reader's parser drops), this one with two. The same
    # code upstream, it must keep its time too.
    ("<pre>\n\nls -l</pre>", "<pre>\n\nls -l</pre>", "<pre>\nls -l</pre>"),
    ("<pre>\nls -l</pre>", "<pre>ls -l</pre>", "<pre>ls -l</pre>"),
])
def test_an_entry_cleaned_anew_by_a_stricter_sanitizer_keeps_its_time(
        feed_server: FeedServer, make_project, sent: str, cleaned: str, stored: str) -> None:
    # A release whose HTML cleaner drops one more tag (<bdo>) reads a stored entry's content
    # differently: nothing changed upstream, so the entry must not rise to the top of every
    # feed when its feed next changes; it takes the cleaner content and keeps its time.
    import sqlite3

    from aggregator.parse import parse_feed
    from aggregator.store.ingest import fingerprint

    quoted = story(1, "q", content=f'{sent}<p>Quote: <bdo dir="rtl">Baltic text</bdo></p>')
    route = feed_server.route("/q", rss20("Quotes", [quoted]))
    p = make_project({"q": feed_server.url("/q")})
    p.update()
    [entry] = parse_feed(feed_server.url("/q"), route.body, {}).entries
    assert entry.summary == f"{cleaned}<p>Quote: Baltic text</p>"  # an RSS description
    earlier = replace(entry, summary=f'{stored}<p>Quote: <bdo dir="rtl">Baltic text</bdo></p>')
    with sqlite3.connect(p.root / "agg.db") as db:  # as a release that kept <bdo> stored it
        db.execute("UPDATE items SET summary = ?", (earlier.summary,))
        db.execute("UPDATE item_sources SET fingerprint = ?, undated_fingerprint = NULL", (fingerprint(earlier),))
    p.run("publish", "--force")
    [before] = p.entry_elements()
    route.body = rss20("Quotes", [story(2, "q"), quoted])
    assert "1 new items, 1 updated" in p.update()
    after = {el.findtext(f"{ATOM}id"): el for el in p.entry_elements()}[before.findtext(f"{ATOM}id")]
    assert after.findtext(f"{ATOM}updated") == before.findtext(f"{ATOM}updated")
    assert "bdo" in (before.findtext(f"{ATOM}content") or "")
    assert after.findtext(f"{ATOM}content") == f"{cleaned}<p>Quote: Baltic text</p>"
    # A change upstream still dates it anew.
    route.body = rss20("Quotes", [story(2, "q"), replace(quoted, content="<p>Quote, corrected.</p>")])
    assert "0 new items, 1 updated" in p.update()
    again = {el.findtext(f"{ATOM}id"): el for el in p.entry_elements()}[before.findtext(f"{ATOM}id")]
    assert again.findtext(f"{ATOM}updated") > before.findtext(f"{ATOM}updated")


def test_a_plain_text_summary_stored_without_its_line_breaks_keeps_its_time(
        feed_server: FeedServer, make_project) -> None:
    # Releases before text_as_html stored a plain-text summary without a <br> at its line
    # ends: read with them now, nothing changed upstream, so the entry keeps its time.
    import sqlite3

    from aggregator.parse import parse_feed
    from aggregator.store.ingest import fingerprint

    def atom(entries: str) -> bytes:
        return ('<feed xmlns="http://www.w3.org/2005/Atom"><title>V</title><id>urn:v</id>'
                f'<updated>2024-05-01T12:00:00Z</updated>{entries}</feed>').encode()

    def video(n: int, text: str) -> str:
        return (f'<entry><id>urn:v:{n}</id><title>Video {n}</title><link href="http://e.org/{n}"/>'
                f'<updated>2024-05-01T1{n}:00:00Z</updated><summary>{text}</summary></entry>')

    route = feed_server.route("/v", atom(video(1, "Baltic patrol.\n\nFilmed in Tallinn.")),
                              content_type="application/atom+xml")
    p = make_project({"v": feed_server.url("/v")})
    p.update()
    [entry] = parse_feed(feed_server.url("/v"), route.body, {}).entries
    assert entry.summary == "Baltic patrol.<br>\n<br>\nFilmed in Tallinn."
    earlier = replace(entry, summary="Baltic patrol.\n\nFilmed in Tallinn.")
    with sqlite3.connect(p.root / "agg.db") as db:  # as earlier releases stored it
        db.execute("UPDATE items SET summary = ?", (earlier.summary,))
        db.execute("UPDATE item_sources SET fingerprint = ?, undated_fingerprint = NULL", (fingerprint(earlier),))
    p.run("publish", "--force")
    [before] = p.entry_elements()
    route.body = atom(video(2, "Another.") + video(1, "Baltic patrol.\n\nFilmed in Tallinn."))
    assert "1 new items, 1 updated" in p.update()
    after = {el.findtext(f"{ATOM}id"): el for el in p.entry_elements()}[before.findtext(f"{ATOM}id")]
    assert after.findtext(f"{ATOM}updated") == before.findtext(f"{ATOM}updated")
    assert after.findtext(f"{ATOM}content") == "Baltic patrol.<br>\n<br>\nFilmed in Tallinn."
    # A change upstream still dates it anew.
    route.body = atom(video(2, "Another.") + video(1, "Baltic patrol.\n\nFilmed in Riga."))
    assert "0 new items, 1 updated" in p.update()
    again = {el.findtext(f"{ATOM}id"): el for el in p.entry_elements()}[before.findtext(f"{ATOM}id")]
    assert again.findtext(f"{ATOM}updated") > before.findtext(f"{ATOM}updated")


def test_an_entry_this_release_reads_better_keeps_its_time(feed_server: FeedServer, make_project) -> None:
    # A release that reads more of an unchanged entry - a date form an earlier one lost
    # ("Mon, 01 Jan 2024 10:00:00", no zone), the whole of an author's e-mail address
    # ("jane@news.agency (Jane Doe)" was read "cy (Jane Doe") - must not lift it to the top
    # of every feed when its feed next changes: nothing changed upstream.
    import sqlite3

    from aggregator.parse import parse_feed
    from aggregator.store.ingest import fingerprint

    def item(n: int, date: str, author: str = "jane@news.agency (Jane Doe)") -> str:
        return (f"<item><guid>urn:r:{n}</guid><title>Story {n}</title><link>http://example.org/r/{n}</link>"
                f"<description>Body {n}.</description><author>{author}</author><pubDate>{date}</pubDate></item>")

    def feed(*items: str) -> bytes:
        return ('<?xml version="1.0"?><rss version="2.0"><channel><title>R</title><link>http://example.org/</link>'
                "<description>d</description>" + "".join(items) + "</channel></rss>").encode()

    old = item(1, "Mon, 01 Jan 2024 10:00:00")
    route = feed_server.route("/r", feed(old))
    p = make_project({"r": feed_server.url("/r")})
    p.update()
    [entry] = parse_feed(feed_server.url("/r"), route.body, {}).entries
    assert entry.author == "Jane Doe" and entry.published == datetime(2024, 1, 1, 10, tzinfo=timezone.utc)
    earlier = replace(entry, author="cy (Jane Doe", published=None, updated=None)
    with sqlite3.connect(p.root / "agg.db") as db:  # as the earlier release stored it: undated
        db.execute("UPDATE items SET author = ?, published = first_seen, updated = first_seen", (earlier.author,))
        db.execute("UPDATE item_sources SET fingerprint = ?, undated_fingerprint = NULL", (fingerprint(earlier),))
    p.run("publish", "--force")
    [before] = p.entry_elements()
    uid = before.findtext(f"{ATOM}id")

    def now_of(uid: str | None) -> etree._Element:
        return {el.findtext(f"{ATOM}id"): el for el in p.entry_elements()}[uid]

    route.body = feed(item(2, "Tue, 02 Jan 2024 10:00:00"), old)
    assert "1 new items, 1 updated" in p.update()
    after = now_of(uid)
    assert after.findtext(f"{ATOM}updated") == before.findtext(f"{ATOM}updated")
    assert after.findtext(f"{ATOM}author/{ATOM}name") == "Jane Doe"
    assert after.findtext(f"{ATOM}published") == "2024-01-01T10:00:00+00:00"
    # An author corrected upstream is no news either.
    route.body = feed(item(2, "Tue, 02 Jan 2024 10:00:00"), item(1, "Mon, 01 Jan 2024 10:00:00", "Jane Roe"))
    assert "0 new items, 1 updated" in p.update()
    assert now_of(uid).findtext(f"{ATOM}updated") == before.findtext(f"{ATOM}updated")
    assert now_of(uid).findtext(f"{ATOM}author/{ATOM}name") == "Jane Roe"
    # Nor is a date that alone moves upstream (a feed made on request stamps each entry
    # with the time of the request); a change of its text is news, and dates it anew.
    route.body = feed(item(2, "Tue, 02 Jan 2024 10:00:00"), item(1, "Wed, 03 Jan 2024 10:00:00", "Jane Roe"))
    assert "0 new items, 0 updated" in p.update()
    assert now_of(uid).findtext(f"{ATOM}updated") == before.findtext(f"{ATOM}updated")
    assert now_of(uid).findtext(f"{ATOM}published") == "2024-01-01T10:00:00+00:00"
    route.body = feed(item(2, "Tue, 02 Jan 2024 10:00:00"),
                      item(1, "Wed, 03 Jan 2024 10:00:00", "Jane Roe").replace("Body 1.", "Body 1, corrected."))
    assert "0 new items, 1 updated" in p.update()
    assert now_of(uid).findtext(f"{ATOM}updated") > before.findtext(f"{ATOM}updated")


@pytest.mark.parametrize("zone", ["CET", "MSK", "NZDT"])
def test_a_date_in_a_zone_named_as_feedparser_does_not_know_is_read_at_its_offset(
        feed_server: FeedServer, make_project, zone: str) -> None:
    # feedparser knows US zone names only: "10:00:00 CET" was read as 10:00 UTC, an hour
    # late. Read at its offset now; an entry an earlier release stored so keeps its time.
    import sqlite3

    from aggregator.parse import parse_feed
    from aggregator.store.ingest import fingerprint

    hours = {"CET": 1, "MSK": 3, "NZDT": 13}[zone]

    def item(n: int) -> str:
        return (f"<item><guid>urn:z:{n}</guid><title>Story {n}</title><link>http://example.org/z/{n}</link>"
                f"<description>Body {n}.</description><pubDate>Mon, 0{n} Jan 2024 10:00:00 {zone}</pubDate></item>")

    def feed(*items: str) -> bytes:
        return ('<?xml version="1.0"?><rss version="2.0"><channel><title>Z</title><link>http://example.org/</link>'
                "<description>d</description>" + "".join(items) + "</channel></rss>").encode()

    route = feed_server.route("/z", feed(item(1)))
    p = make_project({"z": feed_server.url("/z")})
    p.update()
    [entry] = parse_feed(feed_server.url("/z"), route.body, {}).entries
    sent = datetime(2024, 1, 1, 10, tzinfo=timezone.utc) - timedelta(hours=hours)
    assert entry.published == sent
    [el] = p.entry_elements()
    assert el.findtext(f"{ATOM}published") == sent.isoformat()
    as_utc = datetime(2024, 1, 1, 10, tzinfo=timezone.utc)  # as the earlier release read it
    earlier = replace(entry, published=as_utc)
    with sqlite3.connect(p.root / "agg.db") as db:
        db.execute("UPDATE items SET published = ?, updated = ?", (as_utc.isoformat(" ")[:-6],) * 2)
        db.execute("UPDATE item_sources SET fingerprint = ?, undated_fingerprint = NULL", (fingerprint(earlier),))
    p.run("publish", "--force")
    [before] = p.entry_elements()
    assert before.findtext(f"{ATOM}updated") == as_utc.isoformat()
    route.body = feed(item(2), item(1))
    assert "1 new items, 1 updated" in p.update()
    after = {el.findtext(f"{ATOM}id"): el for el in p.entry_elements()}[before.findtext(f"{ATOM}id")]
    assert after.findtext(f"{ATOM}updated") == as_utc.isoformat()  # its time kept
    assert after.findtext(f"{ATOM}published") == sent.isoformat()  # its date read anew


def test_an_entry_dated_year_one_that_changes_upstream_is_stored(feed_server: FeedServer, make_project) -> None:
    # An entry dated at the zero of a CMS's clock (0001-01-01T00:00:00Z) that changes
    # upstream has its dates tried at each zone's offset (IngestJob.reread_shifts): one
    # west of UTC is before year one, and the whole source failed to store at every refresh.
    def feed(body: str) -> bytes:
        return ('<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Y</title>'
                "<id>urn:y</id><updated>2024-01-01T00:00:00Z</updated><author><name>Y</name></author>"
                "<entry><id>urn:y:1</id><title>Year one</title><link href=\"http://example.org/y/1\"/>"
                f"<updated>0001-01-01T00:00:00Z</updated><content>{body}</content></entry></feed>").encode()

    route = feed_server.route("/y", feed("First body."))
    p = make_project({"y": feed_server.url("/y")})
    p.update()
    route.body = feed("Second body.")
    assert "0 new items, 1 updated" in p.update()
    [el] = p.entry_elements()
    assert el.findtext(f"{ATOM}content") == "Second body."


def test_an_upgraded_database_reads_its_unchanged_feeds_again(feed_server: FeedServer, make_project) -> None:
    # Migration 0009 comes with new readings (a date in CET or MSK, a date without a
    # zone, an author "jane@news.agency (Jane Doe)"). A feed that did not change since the
    # upgrade answered 304, or the same bytes, and was never parsed again: its entries kept
    # the earlier release's readings, an hour off or "cy (Jane Doe", until it next changed,
    # a quiet feed for good. It is parsed again now, and its entries keep their times.
    import sqlite3

    from alembic import command

    from aggregator.db import alembic_config, make_engine
    from aggregator.parse import parse_feed
    from aggregator.store.ingest import fingerprint

    body = ('<?xml version="1.0"?><rss version="2.0"><channel><title>Z</title><link>http://example.org/</link>'
            "<description>d</description><item><guid>urn:z:1</guid><title>Story</title>"
            "<link>http://example.org/z/1</link><author>jane@news.agency (Jane Doe)</author>"
            "<description>Body.</description><pubDate>Mon, 01 Jan 2024 10:00:00 CET</pubDate></item>"
            "</channel></rss>").encode()
    feed_server.route("/z", body, etag='"v1"')
    p = make_project({"z": feed_server.url("/z")})
    p.update()
    [entry] = parse_feed(feed_server.url("/z"), body, {}).entries
    as_utc = datetime(2024, 1, 1, 10, tzinfo=timezone.utc)  # as the earlier release read it
    earlier = replace(entry, published=as_utc, author="cy (Jane Doe")
    engine = make_engine(f"sqlite:///{p.root / 'agg.db'}")
    with engine.connect() as conn:  # a database of the earlier release
        command.downgrade(alembic_config(conn), "0008")
        conn.commit()
    engine.dispose()
    with sqlite3.connect(p.root / "agg.db") as db:
        db.execute("UPDATE items SET published = ?, updated = ?, author = ?",
                   (as_utc.isoformat(" ")[:-6], as_utc.isoformat(" ")[:-6], "cy (Jane Doe"))
        db.execute("UPDATE item_sources SET fingerprint = ?", (fingerprint(earlier),))  # schema 0008: no undated one
    p.run("migrate")
    p.run("publish", "--force")
    [el] = p.entry_elements()
    assert el.findtext(f"{ATOM}author/{ATOM}name") == "cy (Jane Doe"
    p.update()
    [el] = p.entry_elements()
    assert el.findtext(f"{ATOM}author/{ATOM}name") == "Jane Doe"
    assert el.findtext(f"{ATOM}published") == "2024-01-01T09:00:00+00:00"
    assert el.findtext(f"{ATOM}updated") == as_utc.isoformat()  # its time kept


def test_a_private_feeds_password_is_sent_but_never_published(feed_server: FeedServer, make_project) -> None:
    # https://user:password@host/feed: the fetch sends them as Basic auth; atom:source names
    # the feed without them, or every reader of a topic feed could read the private one.
    import base64

    feed_server.route("/private", rss20("Private", [story(1, "private")]))
    feed_server.route("/loop", status=301, redirect=feed_server.url("/loop"))
    url = feed_server.url("/private").replace("http://", "http://reader:s3cret@")
    p = make_project({"private": url, "loop": feed_server.url("/loop").replace("http://", "http://reader:s3cret@")})
    p.update(code=1)
    # /healthz shows the errors to anyone who can reach it
    assert p.status()["loop"]["error"] == f"redirect loop: {feed_server.url('/loop')} -> {feed_server.url('/loop')}"
    [seen] = feed_server.requests("/private")
    assert seen.headers["authorization"] == "Basic " + base64.b64encode(b"reader:s3cret").decode()
    published = "".join(f.read_text(encoding="utf-8") for f in (p.root / "feeds").iterdir())
    assert "s3cret" not in published
    [el] = p.entry_elements()
    source = el.find(f"{ATOM}source")
    assert source is not None
    assert [link.get("href") for link in source.findall(f"{ATOM}link") if link.get("rel") == "self"] == [
        feed_server.url("/private")]


def test_a_private_feeds_password_may_hold_an_at_sign(feed_server: FeedServer, make_project) -> None:
    # https://me:p@ss@host/feed: the config reads the host after the last "@" (as browsers
    # and Python do) and takes it; the fetch must read the same user and password, not a
    # host "ss" with a password "p" (libcurl splits at the first "@").
    import base64

    feed_server.route("/private", rss20("Private", [story(1, "private")]))
    feed_server.route("/accents", rss20("Accents", [story(2, "accents")]))
    p = make_project({"private": feed_server.url("/private").replace("http://", "http://me:p@ss:w%2Frd@"),
                      "accents": feed_server.url("/accents").replace("http://", "http://zoë:mañana@")})
    assert "2 new items" in p.update()
    [seen] = feed_server.requests("/private")
    assert seen.headers["authorization"] == "Basic " + base64.b64encode(b"me:p@ss:w/rd").decode()
    [seen] = feed_server.requests("/accents")
    assert seen.headers["authorization"] == "Basic " + base64.b64encode("zoë:mañana".encode()).decode()


def test_a_private_feeds_relative_links_never_carry_its_password(feed_server: FeedServer, make_project) -> None:
    # Relative links resolve against the URL the feed was fetched from: with its user and
    # password in it, every entry's link, its content's links and the site link would
    # publish them; and an HTML page's advertised feed would show them in the error.
    entry = Entry("p-1", "private", link="/posts/1", content='<p>See <a href="/posts/0">before</a>.</p>')
    feed_server.route("/private", rss20("Private", [entry], site="/"))
    feed_server.route("/login", b'<html><head><link rel="alternate" type="application/rss+xml" href="/private">'
                      b"</head><body>Log in</body></html>", content_type="text/html")
    p = make_project({"private": feed_server.url("/private").replace("http://", "http://reader:s3cret@"),
                      "login": feed_server.url("/login").replace("http://", "http://reader:s3cret@")})
    p.update(code=1)
    published = "".join(f.read_text(encoding="utf-8") for f in (p.root / "feeds").iterdir())
    assert "s3cret" not in published
    [el] = p.entry_elements()
    assert [link.get("href") for link in el.findall(f"{ATOM}link")] == [feed_server.url("/posts/1")]
    assert feed_server.url("/posts/0") in el.findtext(f"{ATOM}content")
    assert "s3cret" not in p.status()["login"]["error"]
    assert feed_server.url("/private") in p.status()["login"]["error"]


def test_entries_stored_with_a_private_feeds_password_in_their_links_keep_their_items(
        feed_server: FeedServer, make_project) -> None:
    # Before relative links were resolved without a private feed's user and password
    # (3206968), an entry without a GUID was stored under its link with them in it: after
    # the upgrade such an entry is found, re-keyed and updated in place, keeping its time,
    # not stored once more (a duplicate at the top of every feed, its old item orphaned).
    import sqlite3

    from aggregator.identity import entry_uid
    from aggregator.parse import parse_feed
    from aggregator.store.ingest import fingerprint

    posts = [story(1, "p", link="/posts/1", content='<p>See <a href="/posts/0">before</a>.</p>'),
             story(2, "p", link="/posts/2?utm_source=rss")]
    route = feed_server.route("/private", rss091("Private", posts, site="/"))
    url = feed_server.url("/private")
    secret = url.replace("http://", "http://reader:s3cret@")
    p = make_project({"private": secret})
    assert "2 new items" in p.update()
    plain, cred = url.rsplit("/", 1)[0], secret.rsplit("/", 1)[0]
    with sqlite3.connect(p.root / "agg.db") as db:  # as the earlier release left them
        for e in parse_feed(url, route.body, {}).entries:
            was = replace(e, link=e.link.replace(plain, cred), summary=e.summary.replace(plain, cred))
            db.execute("UPDATE items SET uid = ?, link = ?, summary = ? WHERE uid = ?",
                       (entry_uid("private", was.link), was.link, was.summary, entry_uid("private", e.key)))
            db.execute("UPDATE item_sources SET key = ?, link = ?, fingerprint = ?, undated_fingerprint = NULL WHERE key = ?",
                       (was.link, was.link, fingerprint(was, tracked=True), e.key))
        db.execute("INSERT INTO meta (key, value) SELECT 'fingerprints_whole_after', MAX(id) FROM item_sources")
    p.run("publish", "--force")
    before = p.entry_times()
    route.body = rss091("Private", [story(3, "p", link="/posts/3"), *posts], site="/")
    assert "1 new items, 2 updated" in p.update()
    after = p.entry_times()
    assert len(after) == 3
    assert {k: after[k] for k in before} == before
    published = (p.root / "feeds" / "all.xml").read_text(encoding="utf-8")
    assert "s3cret" not in published
    route.body = rss091("Private", [story(4, "p", link="/posts/4"), story(3, "p", link="/posts/3"), *posts], site="/")
    assert "1 new items, 0 updated" in p.update()


def test_a_private_feed_that_moves_keeps_its_password_on_its_own_host_only(feed_server: FeedServer,
                                                                         make_project) -> None:
    # A 301 to an absolute URL on the same host (the common move to https, or a new path):
    # the password goes with it, or the feed is locked out (for good, once the move is
    # stored). A redirect to another host never gets it.
    import base64

    auth = "Basic " + base64.b64encode(b"reader:s3cret").decode()
    feed_server.route("/private", rss20("Private", [story(1, "private")]))
    feed_server.route("/old", status=301, redirect=feed_server.url("/private"))
    elsewhere = feed_server.url("/private").replace("127.0.0.1", "localhost")
    feed_server.route("/away", status=302, redirect=elsewhere)
    p = make_project({"moved": feed_server.url("/old").replace("http://", "http://reader:s3cret@"),
                      "away": feed_server.url("/away").replace("http://", "http://reader:s3cret@")})
    for _ in range(2):  # the second 301 in a row stores the new URL
        p.update()
    assert p.status()["moved"]["url"] == feed_server.url("/private")  # status shows no password
    p.update()
    seen = feed_server.requests("/private")
    # moved: 2 redirected and 1 direct, with the password; away: 3 redirected to localhost, without
    assert sorted(r.headers.get("authorization", "") for r in seen) == ["", "", "", auth, auth, auth]
    assert {r.headers["host"].split(":")[0] for r in seen if "authorization" not in r.headers} == {"localhost"}
    assert all(r.headers.get("authorization") == auth for r in feed_server.requests("/away"))
    assert all(r.headers.get("authorization") == auth for r in feed_server.requests("/old"))


def test_status_shows_a_private_feeds_url_without_its_password(feed_server: FeedServer, make_project) -> None:
    # status --json is pasted into bug reports and read by monitoring: its url, as configured
    # or as a permanent redirect moved it, is the feed's without the user and password the
    # fetch still sends, as the published feeds name it.
    import base64

    feed_server.route("/private", rss20("Private", [story(1, "private")]))
    feed_server.route("/old", status=301, redirect=feed_server.url("/private"))
    p = make_project({"private": feed_server.url("/private").replace("http://", "http://reader:s3cret@"),
                      "moved": feed_server.url("/old").replace("http://", "http://reader:s3cret@")})
    for _ in range(2):  # the second 301 in a row stores the new URL
        p.update()
    assert {name: st["url"] for name, st in p.status().items()} == {
        "private": feed_server.url("/private"), "moved": feed_server.url("/private")}
    assert "s3cret" not in p.run("status") + p.run("status", "--json")
    p.update()
    auth = "Basic " + base64.b64encode(b"reader:s3cret").decode()
    assert [r.headers.get("authorization") for r in feed_server.requests("/private")] == [auth] * 6


def test_a_story_a_second_source_brings_later_joins_that_sources_topic(feed_server: FeedServer, make_project) -> None:
    # DESIGN "Topic rules": an item is in a topic limited to sources when its source is one of
    # them; a story merged from a source is that source's story too, whenever it arrives.
    feed_server.route("/one", rss20("Source One", [story(1, "one", link="https://news.example.org/cable")]))
    two = feed_server.route("/two", rss20("Source Two", []))
    p = make_project({"one": feed_server.url("/one"), "two": feed_server.url("/two")})
    with p.config.open("a", encoding="utf-8") as f:
        f.write('[[topics]]\nslug = "from-two"\nany = ["story"]\nsources = ["two"]\n')
    p.update()
    assert json.loads(p.run("items", "--topic", "from-two", "--json")) == []
    two.body = rss20("Source Two", [story(1, "two", link="https://news.example.org/cable")])
    assert "0 new items, 0 updated, 1 merged" in p.update()
    [merged] = json.loads(p.run("items", "--topic", "from-two", "--json"))
    assert merged["title"] == "one story 1"
    tree = etree.parse(str(p.root / "feeds" / "from-two.xml"))
    assert [e.findtext(f"{ATOM}title") for e in tree.getroot().iter(f"{ATOM}entry")] == ["one story 1"]


def test_a_topic_feed_is_not_rewritten_when_its_sources_other_items_change(
        feed_server: FeedServer, make_project) -> None:
    # A reader's conditional GET of a topic gets 304 unless the topic changed: a new item of
    # one of its sources outside the topic leaves the topic's bytes as they were.
    baltic = story(1, "one", link="https://news.example.org/baltic")
    one = feed_server.route("/one", rss20("Source One", [replace(baltic, title="Baltic cable cut")]))
    p = make_project({"one": feed_server.url("/one")})
    with p.config.open("a", encoding="utf-8") as f:
        f.write('[[topics]]\nslug = "baltic"\nany = ["Baltic"]\n')
    p.update()
    topic = p.root / "feeds" / "baltic.xml"
    before = topic.read_bytes()
    one.body = rss20("Source One", [story(2, "one", link="https://news.example.org/other", updated=T0),
                                    replace(baltic, title="Baltic cable cut")])
    assert "1 new items" in p.update()
    assert topic.read_bytes() == before
    assert b"one story 2" in (p.root / "feeds" / "all.xml").read_bytes()


def test_unreachable_server_is_an_error_and_the_others_still_ingest(feed_server: FeedServer, make_project) -> None:
    with FeedServer() as gone_away:
        dead_url = gone_away.url("/feed")  # a port that nothing listens on once it has stopped
    feed_server.route("/fine", rss20("fine", [story(1, "fine")]))
    p = make_project({"dead": dead_url, "fine": feed_server.url("/fine")})
    p.update(code=1)
    status = p.status()
    assert "connection refused" in status["dead"]["error"]
    assert status["dead"]["http_status"] is None and status["dead"]["failures"] == 1
    assert status["fine"]["items"] == 1


def test_future_dates_do_not_make_an_entry_change_on_every_refresh(feed_server: FeedServer, make_project) -> None:
    # A clock-skewed server dates its entry tomorrow; we clamp that to the fetch time, which
    # must not count as an upstream change each time the (otherwise unchanged) feed is read.
    future = datetime.now(timezone.utc) + timedelta(days=1)
    route = feed_server.route("/skewed", atom10("skewed", [story(1, "sk", updated=future), story(2, "sk")]))
    p = make_project({"skewed": feed_server.url("/skewed")})
    assert "2 new items" in p.update()
    first = {e.id: e.updated for e in p.entries()}
    route.body = atom10("skewed, retitled", [story(1, "sk", updated=future), story(2, "sk")])
    assert "0 new items, 0 updated" in p.update()
    assert {e.id: e.updated for e in p.entries()} == first
    assert all(when(u) <= datetime.now(timezone.utc) for u in first.values())


def test_a_source_whose_entries_cannot_be_stored_costs_the_others_nothing(
    feed_server: FeedServer, make_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_server.route("/bad", rss20("bad", [story(1, "bad")]))
    feed_server.route("/good", rss20("good", [story(1, "good")]))
    p = make_project({"bad": feed_server.url("/bad"), "good": feed_server.url("/good")})
    real = aggregator.store.Store._ingest_batch  # under ingest_batch and ingest_batch_behind

    def refuse_bad(self: Any, conn: Any, jobs: Any, *args: Any) -> Any:
        if any(j.source_name == "bad" for j in jobs):
            raise ValueError("simulated storage bug")
        return real(self, conn, jobs, *args)

    monkeypatch.setattr(aggregator.store.Store, "_ingest_batch", refuse_bad)
    out = p.update(code=1)
    assert "good: ok, 1 new" in out
    status = p.status()
    assert "could not store its entries" in status["bad"]["error"] and status["good"]["items"] == 1


def test_a_parser_that_raises_fails_only_its_source(
    feed_server: FeedServer, make_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_server.route("/buggy", rss20("buggy", [story(1, "buggy")]))
    feed_server.route("/good", rss20("good", [story(1, "good")]))
    p = make_project({"buggy": feed_server.url("/buggy"), "good": feed_server.url("/good")})
    real = aggregator.pipeline.parse_feed

    def parse_with_a_bug(url: str, body: bytes, headers: Any, **kw: Any) -> Any:
        if url.endswith("/buggy"):
            raise KeyError("simulated parser bug")
        return real(url, body, headers, **kw)

    monkeypatch.setattr(aggregator.pipeline, "parse_feed", parse_with_a_bug)
    out = p.update(code=1)
    assert "good: ok, 1 new" in out and "buggy: FAILED" in out
    assert 'raise KeyError("simulated parser bug")' in out  # logged with its traceback
    status = p.status()
    assert status["buggy"]["error"] == "internal error while parsing: KeyError: 'simulated parser bug'"
    assert status["buggy"]["failures"] == 1 and status["buggy"]["items"] == 0
    assert status["good"]["items"] == 1 and status["good"]["error"] is None
    # Fixed, the same body is parsed again: an internal error stores no body hash.
    monkeypatch.setattr(aggregator.pipeline, "parse_feed", real)
    p.update(code=0)
    assert p.status()["buggy"]["items"] == 1


def test_a_batch_whose_commit_fails_is_stored_again_source_by_source(
    feed_server: FeedServer, make_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The refresh commits each batch on the store's commit thread while it fetches the
    # next. A COMMIT that fails (a real one: a deferred foreign key) stored nothing of
    # the batch, which the refresh then stores again one source at a time.
    from test_store import commit_fails_once

    feed_server.route("/a", rss20("a", [story(1, "a"), story(2, "a")]))
    feed_server.route("/b", rss20("b", [story(1, "b")]))
    p = make_project({"a": feed_server.url("/a"), "b": feed_server.url("/b")})
    calls = commit_fails_once(monkeypatch)
    out = p.update()
    assert len(calls) == 3  # the batch, then each source alone
    assert "failed to commit; retrying one by one" in out, out
    assert "FOREIGN KEY constraint failed" in out
    assert "a: ok, 2 new" in out and "b: ok, 1 new" in out
    status = p.status()
    assert status["a"]["items"] == 2 and status["b"]["items"] == 1
    assert status["a"]["error"] is None and status["b"]["error"] is None
    assert status["a"]["failures"] == 0 and status["b"]["failures"] == 0
    assert "0 new items" in p.update()  # stored once, not twice


def test_a_refresh_that_fails_with_a_commit_running_waits_for_it_and_logs_its_end(
    feed_server: FeedServer, make_project, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from test_store import commit_fails_once

    from aggregator.config import load_config
    from aggregator.pipeline import open_store, refresh

    feed_server.route("/a", rss20("a", [story(1, "a")]))
    feed_server.route("/b", rss20("b", [story(1, "b")]))
    p = make_project({"a": feed_server.url("/a"), "b": feed_server.url("/b")})
    monkeypatch.setattr(aggregator.pipeline, "BATCH", 1)
    commit_fails_once(monkeypatch)
    real = aggregator.pipeline.decide_fetch
    decided: list[str] = []

    def crash_second(src: Any, *args: Any) -> Any:
        decided.append(src.name)
        if len(decided) == 2:
            raise RuntimeError("simulated bug")
        return real(src, *args)

    monkeypatch.setattr(aggregator.pipeline, "decide_fetch", crash_second)
    config = load_config(p.config)
    store = open_store(config)
    try:
        with pytest.raises(RuntimeError, match="simulated bug"):
            refresh(config, store)
        assert "batch of 1 sources failed to commit" in caplog.text
        assert "FOREIGN KEY" in caplog.text
        assert store.item_count() == 0
    finally:
        store.close()


def test_characters_xml_cannot_hold_are_dropped_and_publishing_goes_on(feed_server: FeedServer, make_project) -> None:
    # A JSON Feed may carry any code point ("\u0000"); RSS recovered from bad XML may too.
    # Stored as they came, one of them would break every publish of every topic after it.
    item = {"id": "nul\u0000-1", "url": "http://example.org/nul/1", "title": "Bad\u0000 title\u0001",
            "content_html": "<p>Body\u0000 with\u000b controls\ufffe.</p>", "date_published": "2024-05-01T10:00:00Z",
            "authors": [{"name": "A\u0008uthor"}]}
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "Feed\u0000 title", "home_page_url":
           "http://example.org/\u0000home", "items": [item]}
    feed_server.route("/nul.json", json.dumps(doc).encode(), content_type="application/feed+json")
    feed_server.route("/fine", rss20("fine", [story(1, "fine")]))
    p = make_project({"nul": feed_server.url("/nul.json"), "fine": feed_server.url("/fine")})
    assert "2 new items" in p.update()  # check_published: every file valid Atom
    by_title = {e.title: e for e in p.entries()}
    assert set(by_title) == {"Bad title", "fine story 1"}
    bad = by_title["Bad title"]
    assert "Body with controls." in bad.content[0].value and bad.author == "Author"
    assert bad.source.title == "Feed title"
    assert p.status()["nul"]["items"] == 1
    assert "0 new items, 0 updated" in p.update()  # the cleaned entry is the same entry next time


def test_a_json_feed_not_in_utf8_is_stored_with_a_warning_not_failed(feed_server: FeedServer, make_project) -> None:
    # A PHP site's JSON Feed in ISO-8859-1 (declared), and one in Windows-1252 (not):
    # each failed whole as "invalid JSON", its source an error in status, update exit 1.
    def doc(title: bytes) -> bytes:
        return (b'{"version":"https://jsonfeed.org/version/1.1","title":"Site","items":[{"id":"1","title":"'
                + title + b'","content_text":"Body."}]}')

    feed_server.route("/latin1.json", doc(b"Caf\xe9 story"), content_type="application/feed+json; charset=iso-8859-1")
    feed_server.route("/cp1252.json", doc(b"\x93Quoted\x94 story"), content_type="application/feed+json")
    p = make_project({"latin1": feed_server.url("/latin1.json"), "cp1252": feed_server.url("/cp1252.json")})
    assert "2 new items" in p.update()  # exit 0
    assert {e.title for e in p.entries()} == {"Caf\xe9 story", "\u201cQuoted\u201d story"}
    status = p.status()
    assert (status["latin1"]["error"], status["latin1"]["warning"]) == (None, None)
    assert status["cp1252"]["error"] is None and "not UTF-8" in status["cp1252"]["warning"]


def test_a_json_feed_in_utf16_is_stored_not_failed(feed_server: FeedServer, make_project) -> None:
    # Saved by a Windows tool in UTF-16 with its byte order mark: the source failed at every
    # refresh with "invalid JSON (Expecting value: line 1 column 1 (char 0))".
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "Site", "items": [
        {"id": "1", "title": "Caf\xe9 story", "content_text": "Body."}]}
    feed_server.route("/u16.json", json.dumps(doc, ensure_ascii=False).encode("utf-16"),
                      content_type="application/feed+json")
    p = make_project({"u16": feed_server.url("/u16.json")})
    assert "1 new item" in p.update()
    assert [e.title for e in p.entries()] == ["Caf\xe9 story"]
    assert (p.status()["u16"]["error"], p.status()["u16"]["warning"]) == (None, None)


def test_a_json_feed_without_items_yet_is_no_failing_source(feed_server: FeedServer, make_project) -> None:
    # gorilla/feeds leaves "items" out of a feed with none: update exited 1 and status
    # showed the source failing ("not a feed") until its first post.
    feed_server.route("/empty.json", b'{"version":"https://jsonfeed.org/version/1.1","title":"New site"}',
                      content_type="application/feed+json")
    feed_server.route("/fine", rss20("fine", [story(1, "fine")]))
    p = make_project({"empty": feed_server.url("/empty.json"), "fine": feed_server.url("/fine")})
    assert "1 new item" in p.update()  # exit 0
    status = p.status()["empty"]
    assert (status["error"], status["failures"], status["items"]) == (None, 0, 0)


def test_a_json_feed_summary_that_is_the_items_text_is_published_once(feed_server: FeedServer, make_project) -> None:
    # The same words as content and again as summary, when the text held "&" or the item
    # also had HTML (a summary the generator fills with the item's content_text).
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "Site", "items": [
        {"id": "1", "title": "Amp", "content_text": "Tom & Jerry <3", "summary": "Tom & Jerry <3"},
        {"id": "2", "title": "Both", "content_html": "<p>Hello world</p>", "content_text": "Hello world",
         "summary": "Hello world"}]}
    feed_server.route("/f.json", json.dumps(doc).encode(), content_type="application/feed+json")
    p = make_project({"f": feed_server.url("/f.json")})
    assert "2 new items" in p.update()
    published = {el.findtext(f"{ATOM}title"): el for el in p.entry_elements()}
    assert published["Amp"].findtext(f"{ATOM}content") == "Tom & Jerry <3"
    assert published["Both"].findtext(f"{ATOM}content") == "<p>Hello world</p>"
    assert [el.find(f"{ATOM}summary") for el in published.values()] == [None, None]


def test_objects_older_than_a_refresh_are_frozen_only_while_it_runs(
    feed_server: FeedServer, make_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    frozen_while_parsing: list[int] = []
    real = aggregator.pipeline.parse_feed

    def watching(url: str, body: bytes, headers: Any, **kw: Any) -> Any:
        frozen_while_parsing.append(gc.get_freeze_count())
        return real(url, body, headers, **kw)

    monkeypatch.setattr(aggregator.pipeline, "parse_feed", watching)
    feed_server.route("/f", rss20("feed", [story(1, "f")]))
    p = make_project({"feed": feed_server.url("/f")})
    assert gc.get_freeze_count() == 0
    assert "1 new item" in p.update()
    assert frozen_while_parsing and frozen_while_parsing[0] > 1000  # the imported world
    assert gc.get_freeze_count() == 0  # handed back to the collector


def test_garbage_left_while_another_refresh_runs_is_still_collected(feed_server: FeedServer, make_project) -> None:
    # The service runs refreshes in overlapping threads: under load one always runs. A
    # refresh that starts beside another must not freeze the cycles left for the collector
    # meanwhile (by other refreshes, the HTTP server): they would never be collected, and
    # the service grew by megabytes a minute with 400 sources on short intervals.
    import gc
    import weakref

    from aggregator.config import load_config
    from aggregator.pipeline import open_store, refresh

    feed_server.route("/slow", rss20("slow", [story(1, "slow")]), delay=4)
    feed_server.route("/fast", rss20("fast", [story(1, "fast")]))
    p = make_project({"slow": feed_server.url("/slow"), "fast": feed_server.url("/fast")})
    config = load_config(p.config)
    store = open_store(config)
    slow = threading.Thread(target=refresh, args=(config, store, ["slow"]))
    try:
        slow.start()
        deadline = time.monotonic() + 10
        while gc.get_freeze_count() == 0 and time.monotonic() < deadline:  # the slow one has begun
            time.sleep(0.01)

        class Node:
            other: Any = None

        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: only the collector frees it
        gone = weakref.ref(a)
        del a, b
        refresh(config, store, ["fast"])
        assert slow.is_alive()  # still running: nothing was unfrozen by the last refresh ending
        gc.collect()
        assert gone() is None
    finally:
        slow.join(10)
        store.close()


def test_a_title_with_angle_brackets_keeps_its_words_for_the_rules(
        feed_server: FeedServer, make_project: Callable[[dict[str, str]], Project]) -> None:
    # Titles are stored and published as text: a feed's escaped "<Baltic>" is words a reader
    # shows, not a tag for the rules to strip.
    feed_server.route("/f.xml", b"""<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>
<link>http://example.org/</link><description>d</description>
<item><title>Why &lt;Baltic&gt; security matters</title><link>http://example.org/1</link><guid>g1</guid>
<description>nothing else</description></item></channel></rss>""")
    p = make_project({"f": feed_server.url("/f.xml")})
    p.config.write_text(p.config.read_text() + '[[topics]]\nslug = "baltic"\nany = ["Baltic"]\n', encoding="utf-8")
    p.update()
    [entry] = feedparser.parse((p.root / "feeds" / "baltic.xml").read_bytes()).entries
    assert entry.title == "Why <Baltic> security matters"


def test_the_largest_max_connections_toml_holds_refreshes(
        feed_server: FeedServer, make_project: Callable[[dict[str, str]], Project]) -> None:
    # Any integer TOML holds is a valid max_connections (at least 1): it must bound nothing
    # rather than crash the refresh.
    feed_server.route("/f.xml", rss20("F", [Entry(id="1", title="One", link="http://example.org/1")]))
    p = make_project({"f": feed_server.url("/f.xml")})
    text = p.config.read_text().replace('title = "Test"', 'title = "Test"\nmax_connections = 9223372036854775807')
    p.config.write_text(text, encoding="utf-8")
    assert "1 new items" in p.update()


def test_removing_a_configured_source_title_brings_back_the_feeds_own(
        feed_server: FeedServer, make_project: Callable[[dict[str, str]], Project]) -> None:
    feed_server.route("/f.xml", rss20("Feed Title", [Entry(id="1", title="One", link="http://example.org/1")]))
    p = make_project({"f": feed_server.url("/f.xml")})
    plain = p.config.read_text()
    p.config.write_text(plain + 'title = "My Name"\n', encoding="utf-8")  # the [[sources]] table is last
    p.update()
    assert p.entries()[0].source.title == "My Name"
    p.config.write_text(plain, encoding="utf-8")  # README: "optional display title (else the feed's own title)"
    p.update()
    assert p.entries()[0].source.title == "Feed Title"


def test_a_feed_that_renames_itself_is_followed(feed_server: FeedServer, make_project) -> None:
    feed = feed_server.route("/f.xml", rss20("Old Name", [Entry(id="1", title="One", link="http://example.org/1")]))
    p = make_project({"f": feed_server.url("/f.xml")})
    p.update()
    assert p.entries()[0].source.title == "Old Name"
    feed.body = rss20("New Name", [Entry(id="1", title="One", link="http://example.org/1")])
    p.update()
    assert p.entries()[0].source.title == "New Name"


PODCAST = ('<?xml version="1.0"?><rss version="2.0"><channel><title>Cast</title><link>http://cast.example/</link>'
           '<description>d</description>{items}</channel></rss>')


def test_enclosures_are_republished_and_follow_their_entry(feed_server: FeedServer, make_project) -> None:
    # A podcast's audio (any entry's files) reaches the reader: nothing lost.
    item = ('<item><title>Episode {n}</title><guid>urn:ep:{n}</guid><description>Show notes {n}.</description>'
            '{files}</item>')
    audio = '<enclosure url="/audio/{n}.mp3" length="{size}" type="audio/mpeg"/>'
    cast = feed_server.route("/cast.xml", PODCAST.format(items=item.format(
        n=1, files=audio.format(n=1, size=1234)) + item.format(n=2, files="")).encode(),
        content_type="application/rss+xml")
    p = make_project({"cast": feed_server.url("/cast.xml")})
    assert "2 new items" in p.update()
    p.check_published()  # valid Atom, enclosure links included
    by_title = {e.title: e for e in p.entries()}
    [enc] = by_title["Episode 1"].enclosures
    assert (enc.href, enc.type, enc.length) == (feed_server.url("/audio/1.mp3"), "audio/mpeg", "1234")
    assert by_title["Episode 2"].get("enclosures", []) == []
    # A new file replaces the old; a file removed upstream leaves the entry.
    cast.body = PODCAST.format(items=item.format(n=1, files=audio.format(n="1b", size=99))
                               + item.format(n=2, files=audio.format(n=2, size=5))).encode()
    assert "2 updated" in p.update()
    by_title = {e.title: e for e in p.entries()}
    assert [x.href for x in by_title["Episode 1"].enclosures] == [feed_server.url("/audio/1b.mp3")]
    assert [x.length for x in by_title["Episode 2"].enclosures] == ["5"]
    cast.body = PODCAST.format(items=item.format(n=1, files="") + item.format(n=2, files=audio.format(n=2, size=5))).encode()
    assert "1 updated" in p.update()
    assert {e.title: e for e in p.entries()}["Episode 1"].get("enclosures", []) == []


# --- what the W3C validator warns about ---------------------------------------------------------


def test_markup_the_validator_calls_a_security_risk_is_not_republished(feed_server: FeedServer, make_project) -> None:
    # The W3C validator reports every element outside its safe list in escaped HTML as
    # SecurityRisk; <bdo> is one (check_published runs its rule on every file). Its text stays.
    body = '<p>Names: <bdo dir="rtl">كييف</bdo> and <bdi>Kyiv</bdi>, <b>bold</b>.</p>'
    feed_server.route("/risk", rss20("Risky", [story(1, "r", content=body)]))
    p = make_project({"risk": feed_server.url("/risk")})
    p.update()
    [entry] = p.entry_elements()
    content = entry.findtext(f"{ATOM}content") or ""
    assert "كييف" in content and "<bdo" not in content and "<bdi>Kyiv</bdi>" in content


@pytest.mark.parametrize("zero", [datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(1, 1, 1, tzinfo=timezone.utc)])
def test_a_feed_that_mends_its_zero_dates_lifts_no_entry(feed_server: FeedServer, make_project, zero: datetime) -> None:
    # Its entries dated the zero of its CMS's clock took the time they were first seen; when
    # the CMS learns their real dates (a month ago), that is no news: no entry rises above
    # the newer stories of other feeds.
    entries = [story(n, "m", updated=zero) for n in (1, 2)]
    route = feed_server.route("/m", atom10("Mended", entries), content_type="application/atom+xml")
    p = make_project({"m": feed_server.url("/m")})
    assert "2 new items" in p.update()
    before = p.entry_times()
    route.body = atom10("Mended", [replace(e, updated=T0 - timedelta(days=30 + n)) for n, e in enumerate(entries)])
    assert "0 new items, 2 updated" in p.update()  # their dates taken, their times kept
    assert p.entry_times() == before


@pytest.mark.parametrize("fmt", ["atom10", "rss20"])
@pytest.mark.parametrize("zero", [datetime(1970, 1, 1, tzinfo=timezone.utc), None])
def test_a_feed_that_loses_its_dates_lifts_no_entry(
        feed_server: FeedServer, make_project, fmt: str, zero: datetime | None) -> None:
    # The mirror of the above (review 41): month-old entries sent again without their dates,
    # or with a CMS's zero for them, all else the same: no news, no entry on top.
    import re

    builder, ctype = FORMATS[fmt]
    entries = [story(n, "l", updated=T0 - timedelta(days=30 + n)) for n in (1, 2)]
    route = feed_server.route("/l", builder("L", entries), content_type=ctype)
    p = make_project({"l": feed_server.url("/l")})
    assert "2 new items" in p.update()
    before = p.entry_times()
    if zero is None:
        route.body = re.sub(rb"<(published|updated|pubDate)>[^<]*</\1>", b"", route.body)
    else:
        route.body = builder("L", [replace(e, updated=zero) for e in entries])
    assert "0 new items, 2 updated" in p.update()
    assert p.entry_times() == before


_BARE_RSS = (  # items of a title, a link and a date: no text, no author
    '<?xml version="1.0"?><rss version="2.0"><channel><title>B</title><link>http://example.org/</link>'
    "<description>d</description>"
    "<item><title>Bare one</title><link>http://example.org/b/1</link><guid>urn:b:1</guid>"
    "<pubDate>Fri, 01 Mar 2024 10:00:00 GMT</pubDate></item>"
    "<item><title>Bare two</title><link>http://example.org/b/2</link><guid>urn:b:2</guid>"
    "<pubDate>Thu, 01 Feb 2024 10:00:00 GMT</pubDate></item></channel></rss>").encode()
_TWO_DATES_ATOM = (  # entries of a published and an updated
    '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
    "<id>urn:a</id><updated>2024-05-01T12:00:00Z</updated><author><name>a</name></author>"
    '<entry><title>One</title><link href="http://example.org/a/1"/><id>urn:a:1</id>'
    "<published>2024-03-01T10:00:00Z</published><updated>2024-03-02T10:00:00Z</updated>"
    '<content type="html">&lt;p&gt;Body one&lt;/p&gt;</content></entry>'
    '<entry><title>Two</title><link href="http://example.org/a/2"/><id>urn:a:2</id>'
    "<published>2024-02-01T10:00:00Z</published><updated>2024-02-02T10:00:00Z</updated>"
    '<content type="html">&lt;p&gt;Body two&lt;/p&gt;</content></entry></feed>').encode()


@pytest.mark.parametrize(("body", "gone"), [(_BARE_RSS, b"pubDate"), (_TWO_DATES_ATOM, b"published"),
                                            (_TWO_DATES_ATOM, b"updated")])
def test_a_feed_that_loses_a_date_of_entries_without_text_or_of_two_lifts_no_entry(
        feed_server: FeedServer, make_project, body: bytes, gone: bytes) -> None:
    # Review 42: items of a title and a link only, or entries that keep one of their two dates.
    import re

    route = feed_server.route("/l", body, content_type="application/xml")
    p = make_project({"l": feed_server.url("/l")})
    assert "2 new items" in p.update()
    before = p.entry_times()
    route.body = re.sub(rb"<%s>[^<]*</%s>" % (gone, gone), b"", body)
    assert "0 new items, 2 updated" in p.update()
    assert p.entry_times() == before
    # ... but a change upstream is news.
    route.body = re.sub(rb"(?i)one</title>", b"one, revised</title>", route.body)
    assert "0 new items, 1 updated" in p.update()
    after = p.entry_times()
    assert after != before and len(set(after.items()) & set(before.items())) == 1
    if gone == b"published":  # not a new date where the other went, alone: only the dates moved
        route.body = route.body.replace(b"2024-02-02T10:00:00Z", b"2024-04-02T10:00:00Z")
        assert "0 new items, 0 updated" in p.update()
        assert p.entry_times() == after


@pytest.mark.parametrize("first", ["pubDate", "dc:date"])
def test_a_feed_that_sends_its_date_in_another_element_lifts_no_entry(
        feed_server: FeedServer, make_project, first: str) -> None:
    # Review 42: <pubDate> (an entry's published) written as <dc:date> (its updated), the
    # same instant, or back: no news.
    pubdates = [b"<pubDate>Fri, 01 Mar 2024 10:00:00 GMT</pubDate>", b"<pubDate>Thu, 01 Feb 2024 10:00:00 GMT</pubDate>"]
    dcdates = [b"<dc:date>2024-03-01T10:00:00Z</dc:date>", b"<dc:date>2024-02-01T10:00:00Z</dc:date>"]
    pub = _BARE_RSS.replace(b'<rss version="2.0">', b'<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">')
    dc = pub
    for a, b in zip(pubdates, dcdates):
        dc = dc.replace(a, b)
    bodies = [pub, dc] if first == "pubDate" else [dc, pub]
    route = feed_server.route("/l", bodies[0], content_type="application/rss+xml")
    p = make_project({"l": feed_server.url("/l")})
    assert "2 new items" in p.update()
    before = p.entry_times()
    route.body = bodies[1]
    assert "0 new items, 2 updated" in p.update()
    assert p.entry_times() == before


@pytest.mark.parametrize("fmt", ["rss20", "atom10", "jsonfeed11"])
def test_a_title_of_only_invisible_characters_counts_as_none(feed_server: FeedServer, make_project, fmt: str) -> None:
    # A title of zero-width spaces, a stray byte order mark or direction marks shows as
    # blank in every reader: the entry takes its first sentence as its title, as an
    # untitled entry does, and the rules read that.
    builder, ctype = FORMATS[fmt]
    entries = [story(n, "z", title=title, content=f"<p>Baltic cable {n} cut. More follows.</p>")
               for n, title in enumerate(["\u200b", "\ufeff\u200d", "\u200e \u2060", "\u200bVisible"], 1)]
    feed_server.route("/z", builder("Zero", entries), content_type=ctype)
    p = make_project({"z": feed_server.url("/z")})
    p.update()
    assert sorted(e.findtext(f"{ATOM}title") for e in p.entry_elements()) == [
        "Baltic cable 1 cut.", "Baltic cable 2 cut.", "Baltic cable 3 cut.", "\u200bVisible"]


@pytest.mark.parametrize("fmt", ["rss20", "atom10", "jsonfeed11"])
def test_an_untitled_entry_whose_first_sentence_is_invisible_is_titled_by_its_link(
        feed_server: FeedServer, make_project, fmt: str) -> None:
    # The first sentence of a text of only zero-width characters is as blank as a title of
    # them: it was the entry's title, and readers listed an entry with no title at all.
    builder, ctype = FORMATS[fmt]
    entries = [story(1, "z", title="\u200b", content="<p>\u200b\u200d</p>"),
               story(2, "z", title="", content="\ufeff")]
    feed_server.route("/z", builder("Zero", entries), content_type=ctype)
    p = make_project({"z": feed_server.url("/z")})
    p.update()
    assert sorted(e.findtext(f"{ATOM}title") for e in p.entry_elements()) == [
        "http://example.org/z/1", "http://example.org/z/2"]


@pytest.mark.parametrize("fmt", ["rss20", "atom10", "rss10", "jsonfeed11"])
def test_c1_controls_and_replacement_characters_are_not_republished(
        feed_server: FeedServer, make_project, fmt: str) -> None:
    # The W3C validator reports C1 controls (Windows-1252 text read as Latin-1) and U+FFFD
    # (a decoder's mark for bytes it could not read) as BadCharacters; check_published runs
    # its rule. A C1 control is read as Windows-1252, as feedparser reads one in XML; one
    # it leaves unassigned goes, and so does U+FFFD.
    builder, ctype = FORMATS[fmt]
    entry = story(1, "c", title="Kyiv\x92s news \ufffd\x81here", content="<p>Man\x9cuvres \x8dand \ufffd more</p>")
    feed_server.route("/c1", builder("Feed \ufffd title", [entry]), content_type=ctype)
    p = make_project({"c1": feed_server.url("/c1")})
    p.update()
    [el] = p.entry_elements()
    assert el.findtext(f"{ATOM}title") == "Kyiv’s news here"
    assert el.findtext(f"{ATOM}content") == "<p>Manœuvres and  more</p>"
    assert "\ufffd" not in (p.root / "feeds" / "all.xml").read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["rss20", "atom10", "rss10", "jsonfeed11"])
def test_a_date_before_1990_counts_as_none(feed_server: FeedServer, make_project, fmt: str) -> None:
    # A CMS without a date for an entry often writes the zero of its clock: stored with it,
    # the entry sat under every other one and was never published in a busy feed, and the
    # W3C validator calls such a date implausible (check_published runs its rule). It takes
    # the time it was first seen, and keeps it while the feed keeps sending that date.
    builder, ctype = FORMATS[fmt]
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    entries = [story(1, "d"), story(2, "d", updated=epoch), story(3, "d", updated=datetime(1989, 12, 31, tzinfo=timezone.utc))]
    route = feed_server.route("/dates", builder("Dates", entries), content_type=ctype)
    p = make_project({"dates": feed_server.url("/dates")})
    started = datetime.now(timezone.utc)
    assert "3 new items" in p.update()
    [first, second, third] = p.entry_elements()
    assert [first.findtext(f"{ATOM}title"), second.findtext(f"{ATOM}title"), third.findtext(f"{ATOM}title")] == [
        "d story 2", "d story 3", "d story 1"]  # the feed's own order among entries seen at once
    for el in (first, second):
        for tag in ("updated", "published"):
            assert datetime.fromisoformat(el.findtext(f"{ATOM}{tag}") or "") >= started - timedelta(seconds=1)
    assert third.findtext(f"{ATOM}updated") == (T0 - timedelta(hours=1)).isoformat()
    before = p.entry_times()
    route.body = builder("Dates", [story(4, "d"), *entries])
    assert "1 new items, 0 updated" in p.update()
    assert {k: v for k, v in p.entry_times().items() if k in before} == before


def test_non_ascii_links_are_published_as_hrefs_the_validator_accepts(feed_server: FeedServer, make_project) -> None:
    # The W3C validator IDNA-encodes an href whole before checking it: a non-ASCII run
    # between dots longer than a DNS label (a Cyrillic slug), or one mixing Arabic and
    # Latin letters, fails that and is reported InvalidIRI. Published as URIs they pass.
    cyrillic = "http://example.org/2024/очень-длинный-заголовок-статьи-про-нато.html"
    arabic = "http://example.org/مقال-article?q=ü#abschnitt-ä"
    feed_server.route("/iri", rss20("IRI", [story(1, "i", link=cyrillic), story(2, "i", link=arabic)]))
    p = make_project({"iri": feed_server.url("/iri")})
    p.update()
    hrefs = {e.findtext(f"{ATOM}title"): e.find(f"{ATOM}link").get("href") for e in p.entry_elements()}
    assert hrefs == {
        "i story 1": "http://example.org/2024/%D0%BE%D1%87%D0%B5%D0%BD%D1%8C-%D0%B4%D0%BB%D0%B8%D0%BD%D0%BD%D1%8B%D0%B9"
                     "-%D0%B7%D0%B0%D0%B3%D0%BE%D0%BB%D0%BE%D0%B2%D0%BE%D0%BA-%D1%81%D1%82%D0%B0%D1%82%D1%8C%D0%B8"
                     "-%D0%BF%D1%80%D0%BE-%D0%BD%D0%B0%D1%82%D0%BE.html",
        "i story 2": "http://example.org/%D9%85%D9%82%D8%A7%D9%84-article?q=%C3%BC#abschnitt-%C3%A4",
    }


def test_text_that_reads_as_markup_is_published_as_the_html_it_reads_as(feed_server: FeedServer, make_project) -> None:
    # Plain text with an end tag or what looks like a character reference draws the W3C
    # validator's ContainsUndeclaredHTML; declared as escaped HTML, it reads the same.
    body = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            '<title>Code &amp;amp; notes</title><id>urn:x:code</id><updated>2024-05-01T12:00:00Z</updated>'
            '<entry><title type="text">Why &lt;/script&gt; ends inline JSON</title><id>urn:x:1</id>'
            '<updated>2024-05-01T12:00:00Z</updated><link href="http://example.org/1"/>'
            '<content type="text">Write &amp;amp; for &amp;,\nand &amp;lt;/p&amp;gt; for &lt;/p&gt;.</content>'
            '</entry></feed>')
    feed_server.route("/code", body.encode(), content_type="application/atom+xml")
    p = make_project({"code": feed_server.url("/code")})
    p.update()
    [entry] = p.entries()  # as feedparser reads them: the HTML, which a reader shows as text
    assert html.unescape(entry.title) == "Why </script> ends inline JSON"
    assert html.unescape(entry.source.title) == "Code &amp; notes"
    assert entry.author == "Code & notes"  # a name has no type: what HTML would show of it
    shown = entry.content[0].value.replace("<br />", "")
    assert html.unescape(shown) == "Write &amp; for &,\nand &lt;/p&gt; for </p>."


def test_an_authors_email_address_is_not_part_of_the_name_published(feed_server: FeedServer, make_project) -> None:
    # "Jane Doe <jane@example.com>" as a name draws the W3C validator's ContainsEmail.
    atom = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            '<title>A</title><id>urn:x:a</id><updated>2024-05-01T12:00:00Z</updated>'
            '<entry><title>One</title><id>urn:x:1</id><updated>2024-05-01T12:00:00Z</updated>'
            '<link href="http://example.org/1"/><author><name>Jane Doe &lt;jane@example.com&gt;</name></author>'
            '</entry></feed>')
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [
        {"id": "j1", "url": "http://example.org/j1", "title": "Two", "content_text": "x",
         "authors": [{"name": "<al@example.com>"}]}]}
    feed_server.route("/a", atom.encode(), content_type="application/atom+xml")
    feed_server.route("/j", json.dumps(feed).encode(), content_type="application/feed+json")
    p = make_project({"a": feed_server.url("/a"), "j": feed_server.url("/j")})
    p.update()
    assert {e.findtext(f"{ATOM}title"): e.findtext(f"{ATOM}author/{ATOM}name") for e in p.entry_elements()} == {
        "One": "Jane Doe", "Two": "J"}


def test_a_name_that_was_only_an_address_credits_the_source_as_a_name_too(feed_server: FeedServer, make_project) -> None:
    # The source's title stands in for the name; one that reads as markup ("R&amp;D", as
    # a feed that escapes twice sends it) is a name like any other: what HTML shows of it.
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "R&amp;D notes", "items": [
        {"id": "j1", "url": "http://example.org/j1", "title": "Two", "content_text": "x",
         "authors": [{"name": "<al@example.com>"}]}]}
    feed_server.route("/j", json.dumps(feed).encode(), content_type="application/feed+json")
    p = make_project({"j": feed_server.url("/j")})
    p.update()
    assert [e.findtext(f"{ATOM}author/{ATOM}name") for e in p.entry_elements()] == ["R&D notes"]


def test_c1_controls_are_published_as_the_windows_1252_characters_they_meant(
    feed_server: FeedServer, make_project
) -> None:
    # Windows-1252 text read as Latin-1 leaves C1 controls ("\x92" for ’), which the W3C
    # validator reports (BadCharacters). feedparser maps them in an XML feed's text, but a
    # JSON Feed string keeps them, and so does an Atom author's name.
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "Smith\x92s \x93notes\x94", "items": [
        {"id": "j1", "url": "http://example.org/j1", "title": "Europe\x92s \x96 defence",
         "content_html": "<p>It\x92s \x85 here\x81</p>", "summary": "Sum\x97mary", "date_published": "2024-05-01T10:00:00Z",
         "authors": [{"name": "O\x92Brien"}]}]}
    atom = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            '<title>A</title><id>urn:x:a</id><updated>2024-05-01T12:00:00Z</updated>'
            '<entry><title>One</title><id>urn:x:1</id><updated>2024-05-01T12:00:00Z</updated>'
            '<link href="http://example.org/1"/><author><name>Anne &#150; Marie</name></author></entry></feed>')
    feed_server.route("/j", json.dumps(feed).encode(), content_type="application/feed+json")
    feed_server.route("/a", atom.encode(), content_type="application/atom+xml")
    p = make_project({"j": feed_server.url("/j"), "a": feed_server.url("/a")})
    p.update()  # check_published: no BadCharacters in any file
    by_title = {e.title: e for e in p.entries()}
    assert set(by_title) == {"Europe’s – defence", "One"}
    j1 = by_title["Europe’s – defence"]
    assert j1.content[0].value == "<p>It’s … here</p>" and j1.summary == "Sum—mary"
    assert j1.author == "O’Brien" and j1.source.title == "Smith’s “notes”"
    assert by_title["One"].author == "Anne – Marie"


def test_a_link_whose_host_holds_characters_no_iri_may_is_published_as_a_valid_iri(
    feed_server: FeedServer, make_project
) -> None:
    # Characters no IRI may hold are percent-encoded in a link's path and query; in its
    # host they were kept, and the published href was invalid (InvalidUriChar).
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [
        {"id": "j1", "url": "https://exa mple.org/a b", "title": "Space", "content_text": "x",
         "attachments": [{"url": "http://cdn|1.example/a.mp3", "mime_type": "audio/mpeg"}]},
        {"id": "j2", "url": "http://user name@ex\"ample.org/", "title": "Quote", "content_text": "y"}]}
    feed_server.route("/j", json.dumps(feed).encode(), content_type="application/feed+json")
    p = make_project({"j": feed_server.url("/j")})
    p.update()  # check_published: every href a valid IRI
    hrefs = sorted(link.get("href") for e in p.entry_elements() for link in e.iter(f"{ATOM}link")
                   if link.get("rel") != "self")
    assert hrefs == ["http://cdn%7C1.example/a.mp3", "http://user%20name@ex%22ample.org/",
                     "https://exa%20mple.org/a%20b"]


@pytest.mark.parametrize("fmt", ["rss20", "atom10", "jsonfeed11"])
def test_a_title_of_only_replacement_characters_counts_as_none(feed_server: FeedServer, make_project, fmt: str) -> None:
    # A title a decoder could not read at all ("\ufffd\ufffd \ufffd": Cyrillic sent as
    # Windows-1251 and read as UTF-8) is left out at render (BadCharacters), which left
    # nothing: it was then published as sent, drawing the validator's warning. It shows
    # nothing a reader could use: the entry takes its first sentence, as an untitled one,
    # and a feed so titled is named by its source's name, as an untitled feed.
    builder, ctype = FORMATS[fmt]
    entries = [story(1, "r", title="\ufffd\ufffd \ufffd", content="<p>Baltic cable 1 cut. More follows.</p>")]
    feed_server.route("/r", builder("\ufffd\ufffd\ufffd", entries), content_type=ctype)
    p = make_project({"r": feed_server.url("/r")})
    p.update()  # check_published runs the validator's BadCharacters rule
    [el] = p.entry_elements()
    assert el.findtext(f"{ATOM}title") == "Baltic cable 1 cut."
    assert el.findtext(f"{ATOM}source/{ATOM}title") == "r"  # the feed's title too: its name stands in


@pytest.mark.parametrize("dated", [True, False])
def test_an_item_whose_empty_link_gives_way_to_its_permalink_guid_is_no_news(
        feed_server: FeedServer, make_project, dated: bool) -> None:
    # Review 44: an item's empty <link/> was taken for its link, and its permalink GUID was
    # not: it had none to open. Read now, the GUID is its link; the items an earlier release
    # stored without one (here: the same GUIDs, not permalinks) are not dated anew for it.
    def body(guid: str) -> bytes:
        items = "".join(
            f"<item><title>Item {n}</title><link/><guid{guid}>http://example.org/e/{n}</guid>"
            + (f"<pubDate>0{n} Mar 2024 10:00:00 GMT</pubDate>" if dated else "") + "</item>" for n in (1, 2))
        return f'<rss version="2.0"><channel><title>E</title>{items}</channel></rss>'.encode()

    route = feed_server.route("/e", body(' isPermaLink="false"'), content_type="application/rss+xml")
    p = make_project({"e": feed_server.url("/e")})
    assert "2 new items" in p.update()
    before = p.entry_times()
    route.body = body("")
    assert "0 new items, 2 updated" in p.update()
    assert p.entry_times() == before
    assert sorted(e.get("link") for e in p.entries()) == ["http://example.org/e/1", "http://example.org/e/2"]


def test_an_entry_by_several_authors_is_credited_to_its_first(feed_server: FeedServer, make_project) -> None:
    # feedparser's author is an entry's last: an Atom entry by Alice and Bob (and a feed by two
    # owners) reached readers as Bob's (and the second owner's), on both parse paths.
    atom = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            '<title>A</title><id>urn:x:a</id><updated>2024-05-01T12:00:00Z</updated>'
            '<author><name>Owner One</name></author><author><name>Owner Two</name></author>'
            '<entry><title>One</title><id>urn:x:1</id><updated>2024-05-01T12:00:00Z</updated>'
            '<link href="http://example.org/1"/><author><name>Alice</name><email>alice@example.org</email></author>'
            '<author><name>Bob</name></author></entry>'
            '<entry><title>Two</title><id>urn:x:2</id><updated>2024-05-01T11:00:00Z</updated>'
            '<link href="http://example.org/2"/></entry></feed>')
    # As the previous release read it: Bob's, the second owner's.
    route = feed_server.route("/a", atom.replace("<author><name>Owner One</name></author>", "").replace(
        "<author><name>Alice</name><email>alice@example.org</email></author>", "").encode(),
        content_type="application/atom+xml")
    p = make_project({"a": feed_server.url("/a")})
    p.update()
    assert {e.title: e.author for e in p.entries()} == {"One": "Bob", "Two": "Owner Two"}
    before = p.entry_times()
    route.body = atom.encode()
    p.update()
    assert {e.title: e.author for e in p.entries()} == {"One": "Alice", "Two": "Owner One"}
    assert p.entry_times() == before  # a name read anew is no news: no entry rises


def test_media_rss_files_are_republished_as_enclosures(feed_server: FeedServer, make_project) -> None:
    # Media RSS (YouTube, many news and podcast feeds) names an entry's files in media:content,
    # alone or in a media:group, as Miniflux and reader read them: those were lost. Only a
    # media:content with an http(s) url; one a plain <enclosure> already gives is that file.
    item = ('<item><title>Episode {n}</title><guid>urn:ep:{n}</guid><description>Notes {n}.</description>'
            '{files}</item>')
    body = ('<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
            '<title>Cast</title><link>http://cast.example/</link><description>d</description>{items}'
            '</channel></rss>').format(items="".join([
                item.format(n=1, files='<media:content url="/video/1.mp4" type="video/mp4" fileSize="4321" medium="video"/>'),
                item.format(n=2, files='<media:group><media:title>Two</media:title>'
                                       '<media:content url="https://cdn.example/2.webm" type="video/webm"/>'
                                       '<media:content url="https://cdn.example/2.mp4" type="video/mp4"/>'
                                       '<media:thumbnail url="https://cdn.example/2.jpg"/></media:group>'),
                item.format(n=3, files='<enclosure url="https://cdn.example/3.mp3" length="12" type="audio/mpeg"/>'
                                       '<media:content url="https://cdn.example/3.mp3" type="audio/mpeg"/>'
                                       '<media:content url="javascript:alert(1)"/><media:content medium="image"/>'),
            ]))
    feed_server.route("/cast.xml", body.encode(), content_type="application/rss+xml")
    p = make_project({"cast": feed_server.url("/cast.xml")})
    assert "3 new items" in p.update()  # check_published: valid Atom, enclosure links included
    files = {e.title: [(x.href, x.type, x.get("length")) for x in e.get("enclosures", [])] for e in p.entries()}
    assert files == {
        "Episode 1": [(feed_server.url("/video/1.mp4"), "video/mp4", "4321")],
        "Episode 2": [("https://cdn.example/2.webm", "video/webm", None), ("https://cdn.example/2.mp4", "video/mp4", None)],
        "Episode 3": [("https://cdn.example/3.mp3", "audio/mpeg", "12")],
    }


def test_stories_stored_before_schema_0011_stay_one_item_each_when_another_source_sends_them(
    feed_server: FeedServer, make_project
) -> None:
    # Schema 0011: a title's "<" is its words to text dedup, and an international host has
    # one spelling in canonical links. Items stored before hold the keys of the release
    # before; unless the upgrade gives them the new ones, the same story from another
    # source, keyed the new way, misses them and is stored a second time.
    from alembic import command
    from sqlalchemy import select, update

    from aggregator.db import SCHEMA_REVISION, alembic_config, make_engine
    from aggregator.identity import dedup_text, text_key
    from aggregator.models import item_sources, items

    angled_title = "Why x<y matters for the Baltic Sea and NATO allies"
    first = [story(1, "one", title="Bücher", link="https://bücher.example/story/1"),
             story(2, "one", title=angled_title, content="<p>Live.</p>", link="https://one.example/a"),
             story(3, "one", title="Q&A: what <Update 1> of the Baltic Sea plan means", link="https://one.example/c")]
    feed_server.route("/one", rss20("One", first))
    two = feed_server.route("/two", rss20("Two", [story(9, "two")]))
    p = make_project({"one": feed_server.url("/one"), "two": feed_server.url("/two")})
    assert "4 new items, 0 updated, 0 merged" in p.update()
    engine = make_engine(f"sqlite:///{p.root / 'agg.db'}")
    with engine.connect() as conn:
        with conn.begin():  # the keys the release before stored
            conn.execute(update(items).where(items.c.title == "Bücher").values(
                canonical_link="https://bücher.example/story/1"))
            conn.execute(update(items).where(items.c.title == angled_title).values(text_key=None))  # "why x live."
        command.downgrade(alembic_config(conn), "0010")
        conn.commit()
        columns_0010 = [c for c in items.c if c.name != "image"]  # image came with schema 0014
        before = conn.execute(select(*columns_0010).order_by(items.c.id)).all()
        links_before = conn.execute(select(item_sources).order_by(item_sources.c.id)).all()
    engine.dispose()
    times = p.entry_times()

    assert p.run("migrate").strip() == f"database at revision {SCHEMA_REVISION}"  # through 0011
    engine = make_engine(f"sqlite:///{p.root / 'agg.db'}")
    with engine.connect() as conn:
        after = conn.execute(select(*columns_0010).order_by(items.c.id)).all()
        assert conn.execute(select(item_sources).order_by(item_sources.c.id)).all() == links_before
    engine.dispose()
    changed = {row.title: (old._asdict(), row._asdict()) for old, row in zip(before, after) if old != row}
    assert changed.keys() == {"Bücher", angled_title}
    old, new = changed["Bücher"]
    assert new["canonical_link"] == "https://xn--bcher-kva.example/story/1"
    assert old | {"canonical_link": new["canonical_link"]} == new
    old, new = changed[angled_title]
    assert new["text_key"] == text_key(dedup_text(angled_title, "<p>Live.</p>") or "")
    assert old | {"text_key": new["text_key"]} == new

    # The same stories from the other source, in the other spellings: one item each still.
    two.body = rss20("Two", [story(9, "two"),
                             story(1, "two", title="Bücher", link="https://xn--bcher-kva.example/story/1"),
                             story(2, "two", title=angled_title, content="<p>Live.</p>", link="https://two.example/b")])
    assert "0 new items, 0 updated, 2 merged" in p.update()
    assert p.entry_times() == times
    assert p.status()["two"]["items"] == 3


def _upgraded_to_0013(feed_server: FeedServer, make_project):
    """A feed of two entries, stored by a release before schema 0013 and upgraded: (its
    first entry, its route, the project, the entries' times)."""
    from alembic import command

    from aggregator.db import alembic_config, make_engine

    post = story(1, "m", title="Cat", content="<p>A grey cat asleep on a laptop</p>")
    route = feed_server.route("/m", rss20("M", [post, story(2, "m")]))
    p = make_project({"m": feed_server.url("/m")})
    p.update()
    times = p.entry_times()
    engine = make_engine(f"sqlite:///{p.root / 'agg.db'}")
    with engine.connect() as conn:
        command.downgrade(alembic_config(conn), "0012")
        conn.commit()
    engine.dispose()
    p.run("migrate")
    return post, route, p, times


def test_the_first_refresh_after_an_upgrade_that_reads_feeds_anew_keeps_the_entries_times(
    feed_server: FeedServer, make_project
) -> None:
    # Schema 0013: this release reads some entries differently from the release before (a
    # Mastodon picture's alt text was read as the post), which a stored fingerprint cannot
    # tell from an edit upstream: every such entry of a feed's window went to the top of
    # every feed after the upgrade. Here the new reading is played by the feed sending
    # another text for the same bytes' entry.
    post, route, p, times = _upgraded_to_0013(feed_server, make_project)
    route.body = rss20("M", [replace(post, content="<p>Caturday, finally. #cat</p>"), story(2, "m")])
    assert "0 new items, 1 updated" in p.update()
    assert p.entry_times() == times
    assert any("Caturday" in e.content[0].value for e in p.entries())
    # Refreshed once since the upgrade: an edit is news again.
    route.body = rss20("M", [replace(post, content="<p>Caturday, at last. #cat</p>"), story(2, "m")])
    assert "0 new items, 1 updated" in p.update()
    assert p.entry_times() != times


def test_an_untitled_post_stored_before_schema_0013_takes_this_releases_title_at_the_first_refresh(
    feed_server: FeedServer, make_project
) -> None:
    # The release before made every tag of an untitled entry's text a space for its title
    # (a Mastodon hashtag read "# nato"); this one joins inline tags as a reader shows them
    # ("#nato"). 0013 has every feed re-read whole so that stored entries take this
    # release's readings, keeping their times; the post stored before kept "# nato" while
    # the same feed's new posts read "#nato".
    from alembic import command
    from sqlalchemy import select, update

    from aggregator.db import alembic_config, make_engine
    from aggregator.models import items

    hashtag = '<a href="https://m.example/tags/nato" class="mention hashtag" rel="tag">#<span>nato</span></a>'
    post = story(1, "m", title="", link="https://m.example/@a/1", content=f"<p>Hello {hashtag} friends and all.</p>")
    feed_server.route("/m", rss20("Masto", [post]))
    p = make_project({"m": feed_server.url("/m")})
    assert "1 new items" in p.update()
    engine = make_engine(f"sqlite:///{p.root / 'agg.db'}")
    with engine.connect() as conn:
        assert conn.execute(select(items.c.title)).scalar() == "Hello #nato friends and all."
        conn.execute(update(items).values(title="Hello # nato friends and all."))  # as the release before stored it
        command.downgrade(alembic_config(conn), "0012")
        conn.commit()
    engine.dispose()
    times = p.entry_times()
    p.update()  # upgrades, then reads the feed whole
    engine = make_engine(f"sqlite:///{p.root / 'agg.db'}")
    with engine.connect() as conn:
        assert conn.execute(select(items.c.title)).scalar() == "Hello #nato friends and all."
    engine.dispose()


def test_a_feed_whose_url_is_edited_with_the_upgrade_is_still_read_anew_at_its_first_parse(
    feed_server: FeedServer, make_project
) -> None:
    # An edited URL starts the source afresh (validators, body hash): it dropped schema
    # 0013's re-read mark too, so a feed moved to https in the config at the upgrade dated
    # every entry this release reads anew.
    post, route, p, times = _upgraded_to_0013(feed_server, make_project)
    feed_server.route("/m-moved", rss20("M", [replace(post, content="<p>Caturday, finally. #cat</p>"), story(2, "m")]))
    p.config.write_text(p.config.read_text(encoding="utf-8").replace(feed_server.url("/m"), feed_server.url("/m-moved")),
                        encoding="utf-8")
    assert "0 new items, 1 updated" in p.update()
    assert p.entry_times() == times


def test_a_feed_answering_304_to_its_first_request_after_the_upgrade_is_still_read_anew_at_its_next_parse(
    feed_server: FeedServer, make_project
) -> None:
    # Schema 0013 drops every feed's validators, so its next request is unconditional; a
    # server that answers it 304 anyway (a misconfigured cache) gave the source a success
    # with nothing parsed, and its first parse after that dated every entry read anew.
    post, route, p, times = _upgraded_to_0013(feed_server, make_project)
    route.status = 304
    p.update()
    route.status = 200
    route.body = rss20("M", [replace(post, content="<p>Caturday, finally. #cat</p>"), story(2, "m")])
    assert "0 new items, 1 updated" in p.update()
    assert p.entry_times() == times


def test_stored_items_take_their_pictures_at_the_first_refresh_after_schema_0014_keeping_their_times(
    feed_server: FeedServer, make_project
) -> None:
    # Schema 0014: an entry's picture is kept and published as media:thumbnail; the release
    # before read none. The feed sends the very bytes it sent before the upgrade (its body
    # hash alone would skip the parse): 0014 has it read anew, and its items take their
    # pictures without going to the top of the feeds.
    from alembic import command

    from aggregator.db import alembic_config, make_engine

    body = (b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/">'
            b'<channel><title>Pics</title><link>https://pics.example/</link><description>d</description>'
            b'<item><title>With</title><link>https://pics.example/1</link><guid>https://pics.example/1</guid>'
            b'<pubDate>Mon, 06 Jan 2025 10:00:00 GMT</pubDate><description>One</description>'
            b'<media:thumbnail url="/img/1.jpg"/></item>'
            b'<item><title>Without</title><link>https://pics.example/2</link><guid>https://pics.example/2</guid>'
            b'<pubDate>Sun, 05 Jan 2025 10:00:00 GMT</pubDate><description>Two</description></item>'
            b'</channel></rss>')
    feed_server.route("/pics", body)
    p = make_project({"pics": feed_server.url("/pics")})
    assert "2 new items" in p.update()
    picture = feed_server.url("/img/1.jpg")
    assert [e.get("media_thumbnail") for e in p.entries()] == [[{"url": picture}], None]
    times = p.entry_times()
    engine = make_engine(f"sqlite:///{p.root / 'agg.db'}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()
        command.downgrade(alembic_config(conn), "0013")  # as the release before stored them: no pictures
        conn.commit()
    engine.dispose()
    assert "0 new items, 1 updated" in p.update()  # upgrades, then reads the same bytes anew
    assert [e.get("media_thumbnail") for e in p.entries()] == [[{"url": picture}], None]
    assert p.entry_times() == times


def test_a_moved_feed_that_also_sends_an_old_link_whole_publishes_each_entry_under_an_id_of_its_own(
    feed_server: FeedServer, make_project
) -> None:
    # A feed served with a query (feed.php?id=3), relative links, no GUIDs, moved by a 301
    # to another folder: its entries keep their ids (made of their /old/ keys). The next
    # document also lists story 1's /old/ link whole, as an entry of its own: it took the
    # same id, and the published feeds carried two entries with one atom:id.
    feed_server.route("/old/feed.php", relative_rss(1, 2))
    p = make_project({"moving": feed_server.url("/old/feed.php?id=3")})
    p.update()
    feed_server.redirect("/old/feed.php", "/new/feed.php?id=3", 301)
    route = feed_server.route("/new/feed.php", relative_rss(1, 2))
    route.body = relative_rss(1, 2, 3)
    assert "1 new items" in p.update()
    assert "0 new items, 0 updated" in p.update()
    route.body = relative_rss(1, 2, 3).replace(b"</channel>", (
        "<item><title>Where story 1 was</title><link>" + feed_server.url("/old/story-1.html") + "</link>"
        "<description>Story 1 used to be here; it has moved to the new folder.</description></item>"
    ).encode() + b"</channel>")
    assert "1 new items, 0 updated" in p.update()  # make_project validates every published feed
    ids = [e.id for e in p.entries()]
    assert len(ids) == 4 == len(set(ids))
    assert "0 new items, 0 updated" in p.update()


@pytest.mark.parametrize("was", ["link", "guid"])
def test_a_feed_that_gives_its_entries_new_guids_keeps_one_item_each(
        feed_server: FeedServer, make_project: Callable[[dict[str, str]], Project], was: str) -> None:
    """A CMS migration: the feed keys its entries anew (GUIDs where it had none, or another
    scheme of GUIDs), their links and texts as they were. Each is the stored entry under a
    new key, as an entry of a moved feed is: one item, its id and times kept, not a second
    copy of every story in every feed."""
    stories = [Entry(f"http://example.org/{i}" if was == "link" else f"?p={i}", f"Story {i} of the month",
                     f"http://example.org/{i}", f"<p>The whole text of story {i}, long enough to be one.</p>",
                     T0 + timedelta(hours=i)) for i in range(12)]  # more than are looked up first
    feed_server.route("/feed.xml", (rss091 if was == "link" else rss20)("Outlet", stories))
    p = make_project({"outlet": feed_server.url("/feed.xml")})
    p.update()
    before = p.entry_times()
    assert len(before) == 12
    feed_server.route("/feed.xml", atom10("Outlet", [replace(e, id=f"tag:example.org,2024:{i}")
                                                    for i, e in enumerate(stories)]))
    assert "0 new" in p.update()
    assert p.entry_times() == before
    # A story under a key of the new scheme that is new is new.
    feed_server.route("/feed.xml", atom10("Outlet", [
        Entry("tag:example.org,2024:99", "Story 99", "http://example.org/99", "<p>A new one, long enough to be a story.</p>",
              T0 + timedelta(hours=99)),
        *[replace(e, id=f"tag:example.org,2024:{i}") for i, e in enumerate(stories)]]))
    assert "1 new" in p.update()
    assert len(p.entry_times()) == 13
    # The migration undone: each old key finds its item again (the key it left).
    feed_server.route("/feed.xml", (rss091 if was == "link" else rss20)("Outlet", stories))
    assert "0 new" in p.update()
    assert set(before) < set(p.entry_times()) and len(p.entry_times()) == 13


@pytest.mark.parametrize("published", [False, True])
def test_a_feed_served_as_atom_with_its_one_date_as_updated_keeps_its_entries_times(
        feed_server: FeedServer, make_project: Callable[[dict[str, str]], Project], published: bool) -> None:
    """The same feed as RSS (pubDate, the text in <description>) and then as Atom with the
    text in <content> and the date as <updated> alone (many generators write no <published>):
    the stories read as they did, so no entry is dated anew to the top of every feed."""
    stories = [
        Entry(f"?p={n}", f"Story {n}", f"http://example.org/{n}", f"<p>Text of story {n}.</p>", T0 - timedelta(hours=n))
        for n in range(3)]
    feed_server.route("/feed.xml", rss20("Outlet", stories))
    p = make_project({"outlet": feed_server.url("/feed.xml")})
    p.update()
    before = p.entry_times()
    entries = "".join(
        f"<entry><title>{e.title}</title><link href='{e.link}'/><id>{html.escape(e.id)}</id>"
        f"<updated>{e.updated.isoformat()}</updated>"
        + (f"<published>{e.updated.isoformat()}</published>" if published else "")
        + f"<content type='html'>{html.escape(e.content)}</content></entry>" for e in stories)
    feed_server.route("/feed.xml", (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'><title>Outlet</title>"
        f"<id>urn:outlet</id><updated>{T0.isoformat()}</updated>{entries}</feed>").encode())
    p.update()
    assert p.entry_times() == before
