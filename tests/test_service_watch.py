"""The service's watcher, driven step by step (an independent review's reproductions):
config and OPML edits, a source removed mid-refresh, its own refreshes told from another
process's, and no false alarm about the published files."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from aggregator import jobs
from aggregator.config import load_config
from aggregator.pipeline import open_store, publish
from aggregator.service import Service, utcnow

RSS = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>U</title><link>http://u/</link>"
       b"<description>d</description><item><guid>g1</guid><title>Brussels meeting</title>"
       b"<description>Allies meet in Brussels.</description></item></channel></rss>")


class Gate:
    """A local feed server: requests to /hold… wait until ``release`` is set (``now`` of
    them at once, ``peak`` at most); a path with "bad" in it is answered 500, one ending
    in "-<status>" (/hold-410) that status, with no body."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.holding = threading.Event()
        self.lock = threading.Lock()
        self.now = self.peak = 0
        gate = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/hold"):
                    with gate.lock:
                        gate.now += 1
                        gate.peak = max(gate.peak, gate.now)
                    gate.holding.set()
                    gate.release.wait(30)
                    with gate.lock:
                        gate.now -= 1
                code = self.path.rsplit("-", 1)[-1]
                if "bad" in self.path or (code.isdigit() and len(code) == 3):
                    self.send_response(500 if "bad" in self.path else int(code))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.send_header("Content-Length", str(len(RSS)))
                self.end_headers()
                self.wfile.write(RSS)

            def log_message(self, *a: Any) -> None:
                pass

        self.server, self.port = serve_local(H)

    def close(self) -> None:
        self.release.set()
        close_local(self.server)


def serve_local(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, int]:
    """``handler`` served on 127.0.0.1 (a free port) by a thread of its own."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def close_local(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


BASE = """
[aggregator]
database = "sqlite:///agg.db"
output_dir = "feeds"
base_url = "http://127.0.0.1:18555"
listen = "127.0.0.1:18555"
title = "T"

[[sources]]
name = "seeds"
type = "seeds"
path = "seeds.txt"
interval = "1h"

[[sources]]
name = "up"
url = "http://127.0.0.1:{port}/{path}"
interval = "1h"
"""


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Path, Gate]]:
    (tmp_path / "seeds.txt").write_text("Allies meet in Brussels.\n", encoding="utf-8")
    gate = Gate()
    try:
        yield tmp_path, gate
    finally:
        gate.close()


def make_service(cfg: Path) -> Service:
    config = load_config(cfg)
    store = open_store(config)
    publish(config, store)
    svc = Service(config, store)
    jobs.register(svc)
    svc.start_scheduler()
    svc.scheduler.pause()  # nothing fires by itself: the test drives every step
    return svc


def shut(svc: Service) -> None:
    svc.stopping.set()
    svc.scheduler.shutdown(wait=False)
    jobs.unregister(svc)
    svc.store.close(wait=False)  # a commit held up by a test's stuck fetch must not hold it


def test_a_reload_that_adds_a_topic_does_not_claim_the_files_were_deleted(env, caplog) -> None:
    root, gate = env
    cfg = root / "agg.toml"
    cfg.write_text(BASE.format(port=gate.port, path="feed.xml"), encoding="utf-8")
    svc = make_service(cfg)
    try:
        time.sleep(0.01)
        cfg.write_text(cfg.read_text() + '\n[[topics]]\nslug = "brussels"\ntitle = "B"\nany = ["Brussels"]\n')
        with caplog.at_level(logging.INFO, logger="aggregator"):
            svc.watch_once()
        assert "config reloaded" in caplog.text
        # Nothing was deleted or edited: the new topic simply has no file yet.
        assert "publishing again" not in caplog.text
    finally:
        shut(svc)


def test_a_source_removed_while_it_refreshes_leaves_healthz(env) -> None:
    root, gate = env
    cfg = root / "agg.toml"
    text = BASE.format(port=gate.port, path="hold")
    cfg.write_text(text, encoding="utf-8")
    svc = make_service(cfg)
    try:
        worker = threading.Thread(target=svc.refresh_job, args=("up",))
        worker.start()
        assert gate.holding.wait(10)
        time.sleep(0.01)
        cfg.write_text(text.split("[[sources]]\nname = \"up\"")[0], encoding="utf-8")  # "up" removed
        svc.watch_once()
        assert "up" not in svc.health()["sources"]
        gate.release.set()
        worker.join(20)
        assert "up" not in svc.health()["sources"], svc.health()  # a ghost until restart
    finally:
        shut(svc)


def test_the_watcher_does_not_take_the_services_own_refresh_for_another_process(env, caplog) -> None:
    root, gate = env
    cfg = root / "agg.toml"
    cfg.write_text(BASE.format(port=gate.port, path="feed.xml"), encoding="utf-8")
    svc = make_service(cfg)
    try:
        jid = jobs.job_id("up")
        # As when the scheduler fires the job at T: the job moves on one interval, the store's
        # next_run (written by the last refresh) is T.
        fired = utcnow()
        svc.scheduler.modify_job(jid, jobstore="default", next_run_time=fired + timedelta(hours=1))
        svc.store.set_next_run("up", fired)
        real = svc.store.statuses
        raced = []

        def statuses(**kw: Any) -> Any:
            snap = real(**kw)
            if threading.current_thread().name == "watcher" and not raced:
                raced.append(1)
                svc.refresh_job("up")  # the service's refresh ends while the watcher reads
            return snap

        svc.store.statuses = statuses  # type: ignore[method-assign]
        t = threading.Thread(target=svc.watch_once, name="watcher")
        with caplog.at_level(logging.INFO, logger="aggregator"):
            t.start()
            t.join(20)
        job = svc.scheduler.get_job(jid)
        assert job.next_run_time > utcnow() + timedelta(minutes=30), (job.next_run_time, utcnow())
        assert "refreshed by another process" not in caplog.text
    finally:
        shut(svc)


def test_an_edit_of_a_listed_opml_file_is_followed(env) -> None:
    root, gate = env
    cfg = root / "agg.toml"
    opml = root / "subs.opml"
    outline = '<outline text="{t}" xmlUrl="http://127.0.0.1:{p}/{t}.xml"/>'
    doc = '<?xml version="1.0"?><opml version="2.0"><head/><body>{}</body></opml>'
    opml.write_text(doc.format(outline.format(t="one", p=gate.port)), encoding="utf-8")
    cfg.write_text(BASE.format(port=gate.port, path="feed.xml").replace('title = "T"', 'title = "T"\nopml = ["subs.opml"]'))
    svc = make_service(cfg)
    try:
        assert "one" in svc.sources
        opml.write_text(doc.format(outline.format(t="one", p=gate.port) + outline.format(t="two", p=gate.port)))
        svc.watch_once()  # what the 2-second look and SIGHUP (systemctl reload) both do
        assert "two" in svc.sources
    finally:
        shut(svc)


def test_a_topic_naming_an_opml_feed_still_means_it_when_a_same_titled_outline_comes(tmp_path: Path) -> None:
    # A second "News" outline suffixes both names (neither depends on the other's place);
    # a topic limited to "news" goes on meaning that feed, and now the other "News" too.
    (tmp_path / "seeds.txt").write_text("Hello world.\n")
    cfg = tmp_path / "agg.toml"
    cfg.write_text('[aggregator]\ndatabase = "sqlite:///agg.db"\nopml = ["subs.opml"]\n'
                   '[[sources]]\nname = "seeds"\ntype = "seeds"\npath = "seeds.txt"\n'
                   '[[topics]]\nslug = "t"\nany = ["x"]\nsources = ["news", "seeds"]\n')
    doc = '<?xml version="1.0"?><opml version="2.0"><head/><body>{}</body></opml>'
    a = '<outline text="News" xmlUrl="https://a.example/feed"/>'
    b = '<outline text="News" xmlUrl="https://b.example/feed"/>'
    (tmp_path / "subs.opml").write_text(doc.format(a))
    config = load_config(cfg)
    assert {s.url: s.name for s in config.sources}["https://a.example/feed"] == "news"
    assert config.topics[0].sources == ("news", "seeds")
    (tmp_path / "subs.opml").write_text(doc.format(a + b))
    config = load_config(cfg)
    names = {s.url: s.name for s in config.sources}
    assert names["https://a.example/feed"].startswith("news-") and names["https://b.example/feed"].startswith("news-")
    assert config.topics[0].sources == (names["https://a.example/feed"], names["https://b.example/feed"], "seeds")


def test_a_reload_before_the_service_listens_does_not_kill_it(env, monkeypatch: pytest.MonkeyPatch) -> None:
    # `systemctl reload` (SIGHUP) while `run` locks, migrates and publishes: the default
    # action would end the process before its handler is installed.
    import os
    import signal

    import aggregator.service.core as service

    root, gate = env
    cfg = root / "agg.toml"
    cfg.write_text(BASE.format(port=gate.port, path="feed.xml"), encoding="utf-8")
    real_publish = service.publish

    def publish_with_a_reload(*args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGHUP)
        return real_publish(*args, **kwargs)

    async def serve(self: Service, out: Any) -> None:
        pass

    before = signal.getsignal(signal.SIGHUP)
    monkeypatch.setattr(service, "publish", publish_with_a_reload)
    monkeypatch.setattr(Service, "serve", serve)
    try:
        assert service.run(load_config(cfg)) == 0
    finally:
        signal.signal(signal.SIGHUP, before)
