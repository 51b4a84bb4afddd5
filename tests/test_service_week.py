"""The running service over a reader's week (an independent review's reproductions): the real
``aggregator run`` as a subprocess, upstream feeds that change between ``aggregator update``s
beside it, and a reader polling the served topic feed as feedparser reads it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import feedparser
import pytest
from feedserver import FeedServer
from test_service import free_port, wait_for

AGGREGATOR = Path(sys.executable).with_name("aggregator")


def rss(items: str) -> bytes:
    return ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>Moving</title>"
            f"<link>http://example.org/</link><description>d</description>{items}</channel></rss>").encode()


class Running:
    def __init__(self, root: Path, upstream: FeedServer, url: str) -> None:
        self.root = root
        self.port = free_port()
        self.config = root / "agg.toml"
        self.config.write_text(f"""
[aggregator]
database = "sqlite:///agg.db"
output_dir = "feeds"
listen = "127.0.0.1:{self.port}"
title = "Week"

[[sources]]
name = "moving"
url = "{url}"
interval = "1h"

[[topics]]
slug = "baltic"
any = ["Baltic"]
""", encoding="utf-8")
        self.proc = subprocess.Popen([str(AGGREGATOR), "--config", str(self.config), "run"], cwd=root,
                                     stdout=subprocess.DEVNULL, stderr=open(root / "err.txt", "wb"))

    def feed(self) -> feedparser.FeedParserDict | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/baltic.xml", timeout=5) as resp:
                return feedparser.parse(resp.read())
        except OSError:
            return None

    def update(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(AGGREGATOR), "--config", str(self.config), "update"], cwd=self.root,
                              capture_output=True, text=True, timeout=60)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(15)


@pytest.fixture
def upstream() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def test_a_feed_that_moves_does_not_publish_its_guidless_entries_twice(
    tmp_path: Path, upstream: FeedServer
) -> None:
    # A feed without GUIDs whose links are relative to it (story-1.html), as some CMSs write
    # them. The site moves the feed to a new folder with a 301 (a document that did not
    # change at all is skipped whole, so the move shows with the next story it brings).
    def body(*numbers: int) -> bytes:
        return rss("".join(
            f"<item><title>Baltic story {n}</title><link>story-{n}.html</link>"
            f"<description>The Baltic story number {n}, told at some length here.</description>"
            f"<pubDate>Mon, 0{n} Mar 2026 10:00:00 +0000</pubDate></item>" for n in numbers))

    upstream.route("/old/feed.xml", body(1, 2))
    run = Running(tmp_path, upstream, upstream.url("/old/feed.xml"))
    try:
        # The service refreshes a new source at once.
        before = wait_for("both entries served",
                          lambda: (d := run.feed()) is not None and len(d.entries) == 2 and d, 20)
        ids = {e.id for e in before.entries}

        upstream.redirect("/old/feed.xml", upstream.url("/new/feed.xml"))
        upstream.route("/new/feed.xml", body(1, 2, 3))
        done = run.update()
        assert done.returncode == 0, done.stdout + done.stderr
        time.sleep(0.5)
        after = wait_for("the feed served", run.feed, 10)
        # The reader has the new story, and the two it knows once each, under their ids.
        titles = sorted(e.title for e in after.entries)
        assert titles == ["Baltic story 1", "Baltic story 2", "Baltic story 3"], titles
        assert ids <= {e.id for e in after.entries}
    finally:
        run.stop()


def test_a_feed_that_switches_from_rss_to_atom_lifts_no_old_story_to_the_top(
    tmp_path: Path, upstream: FeedServer
) -> None:
    # The site's new theme serves its feed as Atom at the same URL, with the same ids,
    # titles, links and texts: each entry now has an <updated> beside its date. A reader
    # must see no story changed, none of them lifted above a newer one.
    stories = [("s1", "Baltic story one", "2026-03-01"), ("s2", "Baltic story two", "2026-03-02")]
    upstream.route("/old/feed.xml", rss("".join(
        f"<item><guid isPermaLink='false'>{g}</guid><title>{t}</title><link>http://example.org/{g}</link>"
        f"<description>{t}, told at some length.</description>"
        f"<pubDate>{day[8:]} Mar 2026 10:00:00 +0000</pubDate></item>" for g, t, day in stories)))
    run = Running(tmp_path, upstream, upstream.url("/old/feed.xml"))
    try:
        before = wait_for("both entries served",
                          lambda: (d := run.feed()) is not None and len(d.entries) == 2 and d, 20)
        upstream.route("/old/feed.xml", (
            "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
            "<title>Moving</title><id>http://example.org/</id><updated>2026-03-02T10:00:00Z</updated>"
            + "".join(f"<entry><id>{g}</id><title>{t}</title><link href='http://example.org/{g}'/>"
                      f"<summary>{t}, told at some length.</summary><published>{day}T10:00:00Z</published>"
                      f"<updated>{day}T10:00:00Z</updated></entry>" for g, t, day in stories)
            + "</feed>").encode())
        done = run.update()
        assert done.returncode == 0, done.stdout + done.stderr
        after = wait_for("the feed served", run.feed, 10)
        assert [(e.id, e.updated) for e in after.entries] == [(e.id, e.updated) for e in before.entries]
    finally:
        run.stop()


def test_a_cms_that_reserialises_its_html_lifts_no_old_story_to_the_top(
    tmp_path: Path, upstream: FeedServer
) -> None:
    # A CMS update writes every post's HTML anew: the same paragraphs and links, with a
    # newline between paragraphs and a link's attributes in another order. A reader sees
    # the same text; no story of the feed's window should go to the top of the topic.
    def feed(html: str) -> bytes:
        return rss("".join(
            f"<item><guid isPermaLink='false'>s{n}</guid><title>Baltic story {n}</title>"
            f"<link>http://example.org/s{n}</link><description><![CDATA[{html}]]></description>"
            f"<pubDate>0{n} Mar 2026 10:00:00 +0000</pubDate></item>" for n in (1, 2)))

    upstream.route("/old/feed.xml", feed('<p>A story.</p><p>More <a href="http://x.org/" title="t">here</a>.</p>'))
    run = Running(tmp_path, upstream, upstream.url("/old/feed.xml"))
    try:
        before = wait_for("both entries served",
                          lambda: (d := run.feed()) is not None and len(d.entries) == 2 and d, 20)
        upstream.route("/old/feed.xml", feed('<p>A story.</p>\n<p>More <a title="t" href="http://x.org/">here</a>.</p>'))
        done = run.update()
        assert done.returncode == 0, done.stdout + done.stderr
        after = wait_for("the feed served", run.feed, 10)
        assert [(e.id, e.updated) for e in after.entries] == [(e.id, e.updated) for e in before.entries]
    finally:
        run.stop()
