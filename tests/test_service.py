"""The long-running service: the real ``aggregator run`` as a subprocess, plus its pure parts.

The end-to-end tests run the console script against a temporary config with a local upstream
feed server (127.0.0.1 only), a source that always fails, and the seed documents.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from click.testing import CliRunner

from aggregator import jobs
from aggregator.config import SourceConfig, load_config
from aggregator.cli import main
from aggregator.errors import LockedError, StoreError
from aggregator.lock import database_lock
from aggregator.policy import jitter
from aggregator.service import Service, clamp_max_age
from aggregator.store import SourceState, SourceStatus

ROOT = Path(__file__).resolve().parent.parent
AGGREGATOR = Path(sys.executable).with_name("aggregator")
T = TypeVar("T")


# -- helpers ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, step: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


class Upstream:
    """A local RSS feed whose entries the test can change."""

    def __init__(self, port: int = 0) -> None:
        self.hits = 0  # answered feed requests
        self.title = "Upstream"
        self.entries: list[tuple[str, str]] = [
            ("upstream-1", "Ukraine receives new air defence systems"),
            ("upstream-2", "Allies meet in Brussels"),
        ]
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.hanging = 0  # requests to /hang that are being held open right now
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/hang":
                    # Accept and then say nothing: the fetch is stuck until its read timeout.
                    with upstream.lock:
                        upstream.hanging += 1
                    upstream.closing.wait(60)
                    return
                body = upstream.render()
                with upstream.lock:
                    upstream.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, guid: str, title: str) -> None:
        with self.lock:
            self.entries.append((guid, title))

    def render(self) -> bytes:
        base = datetime(2026, 1, 1, tzinfo=timezone.utc)
        with self.lock:
            items = "".join(
                f"<item><guid isPermaLink='false'>{guid}</guid><title>{title}</title>"
                f"<description>{title}.</description>"
                f"<pubDate>{format_datetime(base + timedelta(hours=n))}</pubDate></item>"
                for n, (guid, title) in enumerate(self.entries)
            )
        return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
                f"<title>{self.title}</title><link>http://127.0.0.1:{self.port}/</link>"
                f"<description>test</description>{items}</channel></rss>").encode()

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Site:
    root: Path
    config: Path
    port: int
    upstream: Upstream
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.root / "data" / "agg.db"

    def start(self) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        proc = subprocess.Popen(
            [str(AGGREGATOR), "--config", str(self.config), "run"],
            stdout=open(self.root / f"out{n}.txt", "wb"), stderr=open(self.root / f"err{n}.txt", "wb"),
            cwd=self.root,
        )
        self.procs.append(proc)
        wait_for("/healthz", lambda: proc.poll() is None and self.health() is not None
                 or _died(proc, self.root / f"err{n}.txt"), 20)
        return proc

    def health(self) -> dict[str, Any] | None:
        try:
            status, _, body = http_get(f"{self.base}/healthz")
        except OSError:
            return None
        return json.loads(body) if status == 200 else None

    def cli(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(AGGREGATOR), "--config", str(self.config), *args],
                              capture_output=True, text=True, timeout=timeout, cwd=self.root)

    def item_ids(self) -> set[str]:
        """Every stored item's published id, read straight from the database (WAL lets a
        reader in while the service writes; a CLI call would cost seconds per poll)."""
        with sqlite3.connect(self.db) as conn:
            return {uid for (uid,) in conn.execute("SELECT uid FROM items")}

    def cli_item_ids(self) -> set[str]:
        done = self.cli("items", "--json", "--limit", "1000")
        assert done.returncode == 0, done.stderr
        return {i["id"] for i in json.loads(done.stdout)}

    def job_runs(self) -> dict[str, float]:
        with sqlite3.connect(self.db) as conn:
            return dict(conn.execute("SELECT id, next_run_time FROM apscheduler_jobs"))


def _died(proc: subprocess.Popen[bytes], err: Path) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"service exited {proc.returncode}: {err.read_text()}")
    return False


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc (psutil is not a dependency)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields follow the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> tuple[int, float]:
    started = time.monotonic()
    proc.send_signal(sig)
    rc = proc.wait(timeout=15)
    return rc, time.monotonic() - started


def config_text(port: int, upstream_port: int, closed_port: int) -> str:
    return f"""
[aggregator]
database = "sqlite:///data/agg.db"
output_dir = "feeds"
base_url = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"
title = "Test Watch"

[[sources]]
name = "seeds"
type = "seeds"
path = "seeds"
interval = "1h"

[[sources]]
name = "upstream"
url = "http://127.0.0.1:{upstream_port}/feed.xml"
interval = "10s"

[[sources]]
name = "broken"
url = "http://127.0.0.1:{closed_port}/feed.xml"
interval = "10s"

[[topics]]
slug = "ukraine"
title = "Ukraine"
any = ["Ukrain*"]

[[topics]]
slug = "baltic"
title = "Baltic Sea"
any = ["Baltic"]
"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    (tmp_path / "data").mkdir()
    upstream = Upstream()
    port = free_port()
    closed_port = free_port()  # nothing listens there: every fetch fails at once
    config = tmp_path / "agg.toml"
    s = Site(tmp_path, config, port, upstream)
    s.config.write_text(config_text(port, upstream.port, closed_port), encoding="utf-8")
    yield s
    for proc in s.procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    upstream.close()


# -- end to end ------------------------------------------------------------------------------
def test_serves_refreshes_publishes_and_stops(site: Site) -> None:
    # A source whose server accepts and never answers: a refresh is stuck in it at SIGTERM.
    with site.config.open("a", encoding="utf-8") as f:
        f.write(f'\n[[sources]]\nname = "hanging"\n'
                f'url = "http://127.0.0.1:{site.upstream.port}/hang"\ninterval = "10s"\n')
    proc = site.start()
    out = wait_for("subscribe URLs", lambda: "index.opml" in (site.root / "out0.txt").read_text()
                   and (site.root / "out0.txt").read_text(), 5)
    for path in ("all.xml", "ukraine.xml", "baltic.xml", "index.opml"):
        assert f"{site.base}/{path}" in out

    # Published from the database before listening, with validators that give 304s (the
    # date once the second of the publish is over: serve.py sends none before).
    time.sleep(1.0)
    for path in ("all.xml", "ukraine.xml", "baltic.xml", "index.opml", ""):
        status, headers, body = http_get(f"{site.base}/{path}")
        assert status == 200 and body, path
        assert "etag" in headers and "last-modified" in headers, path
        if path.endswith(".xml"):
            assert headers["content-type"].startswith("application/atom+xml")
        max_age = int(headers["cache-control"].rsplit("max-age=", 1)[1])
        assert 60 <= max_age <= 3600
        assert http_get(f"{site.base}/{path}", {"If-None-Match": headers["etag"]})[0] == 304, path
        assert http_get(f"{site.base}/{path}",
                        {"If-Modified-Since": headers["last-modified"]})[0] == 304, path

    # Every source ran at start (none had run before); the broken one backs off.
    health = wait_for("first refreshes", lambda: (h := site.health()) and all(
        h["sources"][n]["last_refresh"] for n in ("seeds", "upstream", "broken")) and h, 15)
    assert set(health["sources"]) == {"seeds", "upstream", "broken", "hanging"}
    assert health["sources"]["hanging"]["last_refresh"] is None
    assert health["status"] == "degraded" and health["failing"] == ["broken"]
    assert health["sources"]["upstream"]["error"] is None
    broken = health["sources"]["broken"]
    assert broken["error"]
    gap = (datetime.fromisoformat(broken["next_run"]) - datetime.fromisoformat(broken["last_refresh"]))
    assert gap.total_seconds() >= 19, "a failed source must back off to twice its 10 s interval"
    upstream_first = health["sources"]["upstream"]["last_refresh"]

    # An upstream change reaches the topic feed within one interval (+ jitter, debounce, slack).
    old_status, old_headers, old_body = http_get(f"{site.base}/baltic.xml")
    assert b"Gotland" not in old_body
    site.upstream.add("upstream-3", "Baltic undersea cable damaged near Gotland")
    changed_at = time.monotonic()
    wait_for("the new entry in baltic.xml", lambda: b"Gotland" in http_get(f"{site.base}/baltic.xml")[2], 20)
    assert time.monotonic() - changed_at < 10 + 8
    assert http_get(f"{site.base}/baltic.xml", {"If-None-Match": old_headers["etag"]})[0] == 200
    assert site.health()["sources"]["upstream"]["last_refresh"] != upstream_first  # type: ignore[index]

    # A second service on the same database is refused, naming the holder.
    second = site.cli("run", timeout=20)
    assert second.returncode == 1
    assert (f"aggregator: database {site.db.resolve()} is in use by pid {proc.pid} "
            f"on {socket.gethostname()} (aggregator run)") in second.stderr

    assert children_of(proc.pid) == []
    assert site.upstream.hanging >= 1
    rc, elapsed = stop(proc)
    assert rc == 0 and elapsed < 10
    assert not Path(f"/proc/{proc.pid}").exists()
    err = (site.root / "err0.txt").read_text()
    assert "Traceback" not in err
    assert "stopped with a refresh still running" in err
    assert "source upstream: 1 new, 0 updated" in err and "publish: " in err
    assert not (site.root / "data" / "agg.db.lock.owner").exists()


def test_each_publish_is_one_log_line(site: Site) -> None:
    # A busy service publishes every few seconds (400 sources at 10 s - 1 m: 35 a minute);
    # each was logged twice, by the publisher and by the service, in other words.
    proc = site.start()
    wait_for("first refreshes published", lambda: "publish: " in (site.root / "err0.txt").read_text().split(
        "scheduler started", 1)[-1], 20)
    rc, _ = stop(proc)
    assert rc == 0
    lines = (site.root / "err0.txt").read_text().splitlines()
    listening = next(i for i, line in enumerate(lines) if "listening on" in line)
    # (\b: not the "publish" in this test's folder name)
    about_publishing = [i for i, line in enumerate(lines) if re.search(r"\bpublish(ed)?\b", line)]
    before = [lines[i] for i in about_publishing if i < listening]
    after = [lines[i] for i in about_publishing if i > listening]
    assert len(before) == 1, before  # the publish before listening
    assert after and all(" aggregator.service: publish: " in line for line in after), after


def test_the_publish_before_listening_names_the_feed_it_removes(site: Site) -> None:
    # A topic taken out of the config while the service was stopped: its feed goes at the
    # start, and the publisher's own line saying so is debug now (review 42).
    assert site.cli("publish").returncode == 0
    assert (site.root / "feeds" / "baltic.xml").exists()
    text = site.config.read_text(encoding="utf-8")
    site.config.write_text(text[:text.index('[[topics]]\nslug = "baltic"')], encoding="utf-8")
    proc = site.start()
    rc, _ = stop(proc)
    assert rc == 0
    assert not (site.root / "feeds" / "baltic.xml").exists()
    line = next(line for line in (site.root / "err0.txt").read_text().splitlines() if "before listening" in line)
    assert "removed (baltic.xml)" in line, line


def test_sources_hanging_on_one_host_do_not_hold_up_another(site: Site) -> None:
    # max_per_host = 1: the hanging source takes its host's one slot, and the upstream
    # source on the same host waits for it; a source on another host refreshes on time.
    other = Upstream()
    try:
        text = site.config.read_text(encoding="utf-8").replace('title = "Test Watch"',
                                                                'title = "Test Watch"\nmax_per_host = 1')
        site.config.write_text(text + f'''
[[sources]]
name = "hanging"
url = "http://127.0.0.1:{site.upstream.port}/hang"
interval = "10s"

[[sources]]
name = "other"
url = "http://127.0.0.1:{other.port}/feed.xml"
interval = "10s"
''', encoding="utf-8")
        proc = site.start()
        wait_for("a refresh stuck in /hang", lambda: site.upstream.hanging >= 1, 15)
        stuck_at, hits = time.monotonic(), other.hits
        # Every 10 s (+ up to 1 s of jitter) while the hanging fetch holds its slot for 30 s.
        wait_for("two refreshes of the other host", lambda: other.hits >= hits + 2, 25)
        assert time.monotonic() - stuck_at < 25
        assert stop(proc)[0] == 0
    finally:
        other.close()


def test_a_hung_refresh_is_logged_once_not_at_every_run_it_holds_up(site: Site) -> None:
    # The 10 s interval comes due twice or three times while the fetch waits out its 30 s
    # read timeout: APScheduler warned "Execution of job ... skipped: maximum number of
    # running instances reached (1)" each time, for ever under journald with a hung host.
    with site.config.open("a", encoding="utf-8") as f:
        f.write(f'\n[[sources]]\nname = "hanging"\n'
                f'url = "http://127.0.0.1:{site.upstream.port}/hang"\ninterval = "10s"\n')
    proc = site.start()
    err = site.root / "err0.txt"
    wait_for("a refresh stuck in /hang", lambda: site.upstream.hanging >= 1, 15)
    stuck_at = time.monotonic()
    line = wait_for("the hung refresh named", lambda: next(
        (x for x in err.read_text().splitlines() if "hanging" in x and "still running" in x), None), 20)
    assert "previous refresh" in line and "WARNING" in line, line
    # Another due time (10 s + up to 1 s of jitter) passes before the 30 s timeout ends it.
    time.sleep(max(0.0, stuck_at + 23 - time.monotonic()))
    assert site.upstream.hanging == 1
    rc, _ = stop(proc)
    assert rc == 0
    text = err.read_text()
    assert "maximum number of running instances" not in text
    assert len([x for x in text.splitlines() if "still running" in x and "hanging" in x]) == 1, text


def test_config_edits_and_updates_beside_run_are_followed(site: Site) -> None:
    proc = site.start()
    health = wait_for("broken failing", lambda: (h := site.health()) and h["failing"] == ["broken"] and h, 15)
    assert "extra" not in health["sources"]
    assert http_get(f"{site.base}/brussels.xml")[0] == 404

    # A new source and a new topic: the service takes them within seconds, refreshes the
    # source and publishes the topic (and never deletes a feed `aggregator publish` wrote).
    with site.config.open("a", encoding="utf-8") as f:
        f.write(f'''
[[sources]]
name = "extra"
url = "http://127.0.0.1:{site.upstream.port}/extra.xml"
interval = "10s"

[[topics]]
slug = "brussels"
title = "Brussels"
any = ["Brussels"]
''')
    assert site.cli("publish").returncode == 0
    assert http_get(f"{site.base}/brussels.xml")[0] == 200
    wait_for("extra refreshed", lambda: (h := site.health()) and h["sources"].get("extra", {}).get("last_refresh"), 15)
    time.sleep(3)  # past a publish of the service's
    status, _, body = http_get(f"{site.base}/brussels.xml")
    assert status == 200 and b"Allies meet in Brussels" in body

    # A broken edit is refused with its problems; the service goes on with what it had.
    good = site.config.read_text(encoding="utf-8")
    site.config.write_text(good + '\n[[topics]]\nslug = "bad"\n', encoding="utf-8")
    err = site.root / "err0.txt"
    wait_for("the refusal", lambda: "config not reloaded" in err.read_text(), 10)
    assert "agg.toml: topics[3]: " in err.read_text() and proc.poll() is None and site.health()

    # `aggregator update` fixes the broken source beside the service: /healthz and the
    # job follow it at once, not after the source's backoff.
    site.config.write_text(good, encoding="utf-8")
    broken_url = next(line for line in good.splitlines() if "/feed.xml" in line and str(site.upstream.port) not in line)
    fixed = Upstream(int(broken_url.split(":")[2].split("/")[0]))
    try:
        done = site.cli("update", "--source", "broken")
        assert done.returncode == 0, done.stderr
        health = wait_for("broken healthy", lambda: (h := site.health()) and h["failing"] == [] and h, 10)
        stored = json.loads(site.cli("status", "--json").stdout)
        [broken] = [s for s in stored if s["name"] == "broken"]
        assert broken["failures"] == 0 and health["sources"]["broken"]["next_run"] == broken["next_run"]
        job = site.job_runs()["source:broken"]
        assert abs(job - datetime.fromisoformat(broken["next_run"]).timestamp()) < 0.001
        assert job < time.time() + 15  # its interval, not a backoff
    finally:
        fixed.close()

    # The output folder removed under the running service: it publishes it again.
    time.sleep(3)  # the reload of the good config, and its publish, are over
    good_all = http_get(f"{site.base}/all.xml")[2]
    shutil.rmtree(site.root / "feeds")
    wait_for("all.xml published again", lambda: (site.root / "feeds" / "all.xml").is_file(), 10)
    assert wait_for("all.xml served again", lambda: (r := http_get(f"{site.base}/all.xml"))[0] == 200 and r, 5)[2] == good_all
    assert stop(proc)[0] == 0
    assert "Traceback" not in err.read_text()


def test_restart_keeps_schedule_and_sigkill_loses_nothing(site: Site) -> None:
    proc = site.start()
    wait_for("first refreshes", lambda: (h := site.health()) and all(
        h["sources"][n]["last_refresh"] for n in ("seeds", "upstream")), 15)
    before = site.item_ids()
    assert len(before) >= 76 + 2
    runs = site.job_runs()
    assert set(runs) == {"source:seeds", "source:upstream", "source:broken"}
    seeds_next = runs["source:seeds"]
    assert seeds_next > time.time() + 3000  # the next refresh is an hour away

    assert stop(proc)[0] == 0
    assert site.job_runs()["source:seeds"] == seeds_next
    proc = site.start()
    # The persisted job keeps its next run; the store (and `status`) agree with it.
    assert site.job_runs()["source:seeds"] == seeds_next
    status = json.loads(site.cli("status", "--json").stdout)
    seeds_status = next(s for s in status if s["name"] == "seeds")
    when = datetime.fromisoformat(seeds_status["next_run"]).timestamp()
    assert abs(when - seeds_next) < 0.001
    assert site.health()["sources"]["seeds"]["next_run"] == seeds_status["next_run"]  # type: ignore[index]

    # SIGKILL (no clean-up at all): the restart takes the lock and every item is still there.
    site.upstream.add("upstream-9", "Ukraine and the Baltic states sign a pact")
    stored = wait_for("the new entry stored", lambda: (ids := site.item_ids()) > before and ids, 20)
    rc, _ = stop(proc, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    proc = site.start()
    assert site.cli_item_ids() >= stored > before
    rc, elapsed = stop(proc, signal.SIGINT)
    assert rc == 0 and elapsed < 10


def test_a_refresh_cut_short_by_the_stop_runs_again_at_the_restart(site: Site) -> None:
    # An hourly source whose server hangs: its first refresh is still running at SIGTERM.
    with site.config.open("a", encoding="utf-8") as f:
        f.write(f'\n[[sources]]\nname = "hanging"\n'
                f'url = "http://127.0.0.1:{site.upstream.port}/hang"\ninterval = "1h"\n')
    proc = site.start()
    wait_for("the hanging refresh", lambda: site.upstream.hanging >= 1, 20)
    assert stop(proc)[0] == 0
    assert "stopped with a refresh still running" in (site.root / "err0.txt").read_text()

    # Nothing of that refresh was stored: the restart runs it again soon, not an hour later.
    site.start()
    health = site.health()
    assert health is not None and health["sources"]["hanging"]["last_refresh"] is None
    next_run = datetime.fromisoformat(health["sources"]["hanging"]["next_run"])
    assert next_run < datetime.now(timezone.utc) + timedelta(seconds=60), next_run
    wait_for("the refresh run again", lambda: site.upstream.hanging >= 2, 20)


def test_a_url_edited_while_the_service_was_stopped_runs_at_the_start_not_after_the_old_backoff(
    site: Site,
) -> None:
    # A running service takes an edited URL soon; edited while it was stopped, the new URL
    # waited for the old one's backoff (minutes to a day), while status said 0 failures.
    for _ in range(4):  # 10 s * 2**4: the next try is 160 s away
        assert site.cli("update", "--source", "broken").returncode == 1
    proc = site.start()  # its job is stored with that backoff
    assert stop(proc)[0] == 0
    fixed = f"http://127.0.0.1:{site.upstream.port}/other.xml"
    text = site.config.read_text(encoding="utf-8")
    site.config.write_text(re.sub(r'(name = "broken"\nurl = ")[^"]*', lambda m: m[1] + fixed, text), encoding="utf-8")
    assert fixed in site.config.read_text(encoding="utf-8")
    status = {s["name"]: s for s in json.loads(site.cli("status", "--json").stdout)}
    assert status["broken"]["failures"] == 0
    assert datetime.fromisoformat(status["broken"]["next_run"]) < datetime.now(timezone.utc) + timedelta(seconds=5)
    site.start()
    wait_for("the new URL fetched", lambda: (h := site.health()) and h["sources"]["broken"]["last_refresh"]
             and h["sources"]["broken"]["error"] is None, 30)

def test_a_feed_that_renames_itself_is_republished_under_its_new_title(site: Site) -> None:
    proc = site.start()
    wait_for("the upstream refreshed", lambda: site.upstream.hits >= 1, 20)
    # ukraine.xml: all.xml's newest 50 are the seeds, newer than the upstream's entries.
    wait_for("its title in ukraine.xml",
             lambda: b"<title>Upstream</title>" in http_get(f"{site.base}/ukraine.xml")[2], 10)
    # Only the feed's own title changes: no entry is new or updated.
    with site.upstream.lock:
        site.upstream.title = "Upstream Renamed"
        hits = site.upstream.hits
    wait_for("a refresh of the renamed feed", lambda: site.upstream.hits > hits, 20)
    wait_for("the new title in ukraine.xml",
             lambda: b"<title>Upstream Renamed</title>" in http_get(f"{site.base}/ukraine.xml")[2], 10)
    assert stop(proc)[0] == 0



def test_healthz_reports_a_publish_that_fails(site: Site) -> None:
    # Every source healthy: only the publish can make the service "degraded" here.
    text = site.config.read_text(encoding="utf-8")
    broken = text.index('[[sources]]\nname = "broken"')
    site.config.write_text(text[:broken] + text[text.index("[[topics]]"):], encoding="utf-8")
    proc = site.start()
    wait_for("first refreshes", lambda: (h := site.health()) and h["status"] == "ok" and all(
        s["last_refresh"] for s in h["sources"].values()) and h, 15)
    # A directory where a feed goes: every publish fails until it is gone.
    feed = site.root / "feeds" / "baltic.xml"
    feed.unlink()
    feed.mkdir()
    health = wait_for("the failed publish in /healthz",
                      lambda: (h := site.health()) and h["status"] == "degraded" and h, 10)
    assert health["failing"] == [] and "baltic.xml" in health["publish_error"]
    feed.rmdir()
    health = wait_for("a publish that works again",
                      lambda: (h := site.health()) and h["status"] == "ok" and h, 10)
    assert health["publish_error"] is None and feed.is_file()
    assert stop(proc)[0] == 0
    # An error we expect (the folder cannot be written) is one log line, not a traceback.
    err = (site.root / "err0.txt").read_text()
    assert "publish failed: cannot publish to " in err and "Traceback" not in err

def test_a_database_error_logged_with_its_traceback_leaves_a_private_feeds_password_out(site: Site) -> None:
    # A failure we do not expect is logged with its traceback, SQLAlchemy's statement and
    # its parameters with it: a refresh's parameters hold the source's URL, and a private
    # feed's user and password must not reach the service's log that way either.
    text = site.config.read_text(encoding="utf-8")
    site.config.write_text(text.replace(f"http://127.0.0.1:{site.upstream.port}/",
                                        f"http://reader:s3cret@127.0.0.1:{site.upstream.port}/"), encoding="utf-8")
    assert site.cli("migrate").returncode == 0
    with sqlite3.connect(site.db) as conn:  # the database refuses to store the refresh
        conn.execute("CREATE TRIGGER refuse BEFORE UPDATE ON sources WHEN NEW.name = 'upstream' "
                     "AND NEW.last_fetch IS NOT NULL BEGIN SELECT RAISE(ABORT, 'refused'); END")
    proc = site.start()
    err = site.root / "err0.txt"
    wait_for("the refresh's crash in the log", lambda: "source upstream: refresh crashed" in err.read_text(), 15)
    assert stop(proc)[0] == 0
    logged = err.read_text()
    assert "sqlite3.IntegrityError) refused" in logged
    assert "s3cret" not in logged


def test_no_feed_is_cached_for_long_while_a_publish_is_due(site: Site) -> None:
    # One hourly source: once its first refresh is done the next is an hour away, but the
    # publish of what it brought comes a moment later (debounced). A feed served in
    # between must not tell readers and proxies to keep it for that hour.
    text = site.config.read_text(encoding="utf-8")
    upstream = text[text.index('[[sources]]\nname = "upstream"'):text.index('[[sources]]\nname = "broken"')]
    text = text[:text.index("[[sources]]")] + upstream.replace('"10s"', '"1h"') + text[text.index("[[topics]]"):]
    site.config.write_text(text, encoding="utf-8")
    site.start()
    seen: list[tuple[int, bool]] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        _, headers, body = http_get(f"{site.base}/all.xml")
        published = b"Allies meet in Brussels" in body  # the upstream's entry
        seen.append((int(headers["cache-control"].rsplit("max-age=", 1)[1]), published))
        if published:
            break
        time.sleep(0.02)
    assert seen[-1][1], "the upstream's entries were never published"
    stale = sorted({age for age, published in seen if not published})
    assert max(stale) <= 60, f"all.xml without the refreshed entries was cacheable for {stale} s"


# -- the pure parts and the lock, in process -------------------------------------------------
def _state(name: str, **kw: Any) -> SourceState:
    base: dict[str, Any] = dict(id=1, name=name, type="feed", url=None, etag=None, last_modified=None,
                                body_hash=None, pending_redirect=None, failures=0, retired=False,
                                next_run=None, last_success=None)
    base.update(kw)
    return SourceState(**base)


def _source(name: str, interval: int, enabled: bool = True) -> SourceConfig:
    return SourceConfig(name=name, type="feed", url=f"http://127.0.0.1:9/{name}", path=None,
                        interval=interval, enabled=enabled, title=None, origin="config")


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_first_run_time() -> None:
    # Never ran, or overdue: now, spread by at most 10 s, the same for the same name.
    first = jobs.first_run_time("a", 3600, None, NOW)
    assert NOW <= first < NOW + timedelta(seconds=10)
    assert jobs.first_run_time("a", 60, _state("a", next_run=NOW - timedelta(hours=1)), NOW) == first
    # A stored future run (e.g. a backoff) is kept ...
    later = NOW + timedelta(hours=3)
    assert jobs.first_run_time("a", 600, _state("a", next_run=later, failures=2), NOW) == later
    # ... but a shortened interval after a success brings it forward.
    done = NOW - timedelta(minutes=5)
    assert jobs.first_run_time("a", 600, _state("a", next_run=later, last_success=done), NOW) == \
        done + timedelta(seconds=600)


def test_sync_jobs_follows_the_config(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    kept_time = NOW + timedelta(days=3650)  # far ahead: nothing fires during the test

    def synced(sources: list[SourceConfig], states: dict[str, SourceState]) -> dict[str, Any]:
        scheduler = jobs.make_scheduler(url, workers=1)
        scheduler.start(paused=True)
        try:
            planned = jobs.sync_jobs(scheduler, sources, states, datetime.now(timezone.utc))
            return {"planned": planned, "jobs": {j.id: j for j in scheduler.get_jobs()}}
        finally:
            scheduler.shutdown(wait=False)

    first = synced([_source("a", 60), _source("b", 3600), _source("off", 60, enabled=False)],
                   {"b": _state("b", next_run=kept_time, failures=1)})
    assert set(first["jobs"]) == {"source:a", "source:b"}
    assert first["planned"]["b"] == kept_time
    job = first["jobs"]["source:a"]
    assert job.func_ref == "aggregator.jobs:refresh_source" and job.args == ("a",)
    assert job.max_instances == 1 and job.coalesce and job.misfire_grace_time >= 60
    # Every run after the first is spread too: the persisted trigger carries the jitter bound.
    assert job.trigger.jitter == 6.0 and first["jobs"]["source:b"].trigger.jitter == 300.0
    later_runs = [job.trigger.get_next_fire_time(NOW, NOW) - NOW for _ in range(50)]
    assert all(timedelta(seconds=57) <= gap <= timedelta(seconds=63) for gap in later_runs)  # 60 s, ± 3
    assert len(set(later_runs)) > 1

    # Restart: b unchanged keeps its time; a's interval changed; c is new; a retired source goes.
    second = synced([_source("a", 120), _source("b", 3600), _source("c", 60), _source("gone", 60)],
                    {"gone": _state("gone", retired=True)})
    assert set(second["jobs"]) == {"source:a", "source:b", "source:c"}
    assert second["jobs"]["source:b"].next_run_time == kept_time
    assert second["jobs"]["source:a"].trigger.interval == jobs.trigger_period(120)

    third = synced([_source("c", 60)], {})
    assert set(third["jobs"]) == {"source:c"}


def test_a_job_of_an_older_release_on_the_same_interval_is_replaced_without_saying_it_changed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Its trigger ran on the interval itself; replaced for the period, its interval is the same.
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    far = datetime.now(timezone.utc) + timedelta(days=3)
    scheduler = jobs.make_scheduler(url, workers=1)
    scheduler.start(paused=True)
    try:
        for name, seconds in (("same", 3600), ("changed", 600)):
            scheduler.add_job(jobs.REFRESH_FUNC, args=(name,), id=jobs.job_id(name), next_run_time=far,
                              trigger=IntervalTrigger(seconds=seconds, start_date=far, timezone=timezone.utc,
                                                      jitter=jobs.trigger_jitter(3600)),
                              max_instances=1, coalesce=True, misfire_grace_time=3600)
        caplog.set_level("INFO", logger="aggregator.jobs")
        planned = jobs.sync_jobs(scheduler, [_source("same", 3600), _source("changed", 3600)],
                                 {n: _state(n, next_run=far, failures=1) for n in ("same", "changed")},
                                 datetime.now(timezone.utc), starting=True)
        assert planned == {"same": far, "changed": far}
        assert {j.id: j.trigger.interval for j in scheduler.get_jobs()} == {
            jobs.job_id("same"): jobs.trigger_period(3600), jobs.job_id("changed"): jobs.trigger_period(3600)}
        assert "rescheduling source changed: interval is now 3600s" in caplog.text
        assert "source same" not in caplog.text
    finally:
        scheduler.shutdown(wait=False)


def test_a_job_stored_under_a_long_name_before_ids_were_cut_short_is_kept(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # SQLite does not enforce the job id column's 191 characters: such a job was stored
    # whole by earlier releases, and the first start after the upgrade finds it.
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    name = "n" * 195
    far = datetime.now(timezone.utc) + timedelta(days=3)
    scheduler = jobs.make_scheduler(url, workers=1)
    scheduler.start(paused=True)
    try:
        scheduler.add_job(jobs.REFRESH_FUNC, args=(name,), id=jobs.JOB_PREFIX + name, next_run_time=far,
                          trigger=IntervalTrigger(seconds=3600, start_date=far, timezone=timezone.utc,
                                                  jitter=jobs.trigger_jitter(3600)),
                          max_instances=1, coalesce=True, misfire_grace_time=3600)
        caplog.set_level("INFO", logger="aggregator.jobs")
        planned = jobs.sync_jobs(scheduler, [_source(name, 3600)], {name: _state(name, next_run=far)},
                                 datetime.now(timezone.utc), starting=True)
        assert planned[name] == far
        assert [j.args for j in scheduler.get_jobs()] == [(name,)]
        assert scheduler.get_jobs()[0].id == jobs.job_id(name)
        assert "unscheduled" not in caplog.text  # it was not removed, disabled or retired
    finally:
        scheduler.shutdown(wait=False)


def test_trigger_jitter_and_job_matches() -> None:
    assert jobs.trigger_jitter(10) == 1.0 and jobs.trigger_jitter(5) == 1.0  # at least a second
    assert jobs.trigger_jitter(600) == 60.0 and jobs.trigger_jitter(86400) == 300.0
    # The same bound as policy.jitter's per-source offset.
    assert all(jitter(600, f"s{n}") < jobs.trigger_jitter(600) for n in range(100))

    def job(trigger: IntervalTrigger) -> SimpleNamespace:
        return SimpleNamespace(trigger=trigger, func_ref=jobs.REFRESH_FUNC, args=("a",),
                               max_instances=1, coalesce=True)

    start = dict(seconds=570, start_date=NOW, timezone=timezone.utc)
    assert jobs.job_matches(job(IntervalTrigger(**start, jitter=60.0)), "a", 600)
    # A job saved before the trigger had jitter is replaced, once; so is one on the interval
    # itself (it ran half a jitter late on average).
    assert not jobs.job_matches(job(IntervalTrigger(**start)), "a", 600)
    assert not jobs.job_matches(job(IntervalTrigger(**start, jitter=60.0)), "a", 1200)
    assert not jobs.job_matches(job(IntervalTrigger(**{**start, "seconds": 600}, jitter=60.0)), "a", 600)


@pytest.mark.parametrize("interval", [10, 600, 3600, 86400])
def test_a_scheduled_source_runs_on_its_interval_on_average_not_later(tmp_path: Path, interval: int) -> None:
    # APScheduler adds the trigger's jitter to the previous run's time, its jitter included:
    # a "1h" source ran every 62.5 minutes on average, and its schedule drifted later for ever.
    scheduler = jobs.make_scheduler(f"sqlite:///{tmp_path / 'jobs.db'}", workers=1)
    scheduler.start(paused=True)
    try:
        jobs.schedule_source(scheduler, _source("a", interval), NOW)
        trigger = scheduler.get_job(jobs.job_id("a")).trigger
    finally:
        scheduler.shutdown(wait=False)
    runs = 4000
    at = NOW
    for _ in range(runs):
        at = trigger.get_next_fire_time(at, at)
    mean_gap = (at - NOW).total_seconds() / runs
    spread = jobs.trigger_jitter(interval)
    assert abs(mean_gap - interval) < spread * 0.05, (mean_gap, interval)


def _status(name: str, error: str | None = None, retired: bool = False) -> SourceStatus:
    return SourceStatus(name=name, type="feed", url=f"http://127.0.0.1:9/{name}", last_fetch=NOW,
                        last_success=None if error else NOW, http_status=410 if retired else 200,
                        error=error, warning=None, items=0, failures=1 if error else 0,
                        next_run=None, retired=retired)


def _write_config(root: Path, database: str, names: list[str]) -> Path:
    config = root / "agg.toml"
    config.write_text(
        f'[aggregator]\ndatabase = "{database}"\noutput_dir = "feeds"\n'
        f'base_url = "http://127.0.0.1:9"\nlisten = "127.0.0.1:{free_port()}"\n'
        + "".join(f'\n[[sources]]\nname = "{n}"\nurl = "http://127.0.0.1:9/{n}.xml"\n'
                  f'interval = "10m"\n' for n in names),
        encoding="utf-8")
    return config


def test_health_lists_a_retired_source_apart(tmp_path: Path) -> None:
    config = load_config(_write_config(tmp_path, "sqlite:///agg.db", ["ok", "broken", "gone"]))
    service = Service(config, store=None)  # type: ignore[arg-type]  # _note_status reads no store
    service._note_status({"ok": _status("ok"), "broken": _status("broken", "HTTP 500"),
                          "gone": _status("gone", "HTTP 410 Gone", retired=True)},
                         ["ok", "broken", "gone"])
    health = service.health()
    assert health["status"] == "degraded" and health["failing"] == ["broken"]
    assert health["retired"] == ["gone"]
    # The reason stays visible, as in `status --json`.
    assert health["sources"]["gone"]["error"] == "HTTP 410 Gone"
    assert health["sources"]["gone"]["retired"] and not health["sources"]["ok"]["retired"]
    # Once the failing source recovers, a retired one alone leaves the service "ok".
    service._note_status({"broken": _status("broken")}, ["broken"])
    health = service.health()
    assert health["status"] == "ok" and health["failing"] == [] and health["retired"] == ["gone"]
    assert not (tmp_path / "agg.db").exists()


def test_clamp_max_age() -> None:
    assert clamp_max_age([], NOW) == 3600
    assert clamp_max_age([NOW + timedelta(seconds=5)], NOW) == 60
    assert clamp_max_age([NOW + timedelta(seconds=700), NOW + timedelta(seconds=400)], NOW) == 400
    assert clamp_max_age([NOW + timedelta(days=1)], NOW) == 3600


def test_sqlite_lock_names_the_holder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    first = database_lock(url)
    first.acquire()
    with pytest.raises(LockedError, match=rf"is in use by pid {os.getpid()} on {socket.gethostname()}"):
        database_lock(url).acquire()
    first.release()
    assert not (tmp_path / "x.db.lock.owner").exists()
    # A stale owner record (its process died) does not block: the OS lock is what counts.
    (tmp_path / "x.db.lock.owner").write_text('{"pid": 999999, "host": "elsewhere"}')
    with database_lock(url):
        record = json.loads((tmp_path / "x.db.lock.owner").read_text())
        assert record["pid"] == os.getpid()


def test_run_refuses_a_missing_database_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nodir"
    with pytest.raises(StoreError, match=f"^database folder {missing} does not exist$"):
        database_lock(f"sqlite:///{missing / 'x.db'}").acquire()
    assert not missing.exists()

    # The whole command, in process: it exits 1 with the message every other command gives,
    # and never gets as far as opening the store (were it to, the test fails, not hangs).
    def no_store(_config: object) -> None:
        raise AssertionError("run went on past the lock")

    monkeypatch.setattr("aggregator.service.core.open_store", no_store)
    config = _write_config(tmp_path, "sqlite:///nodir/x.db", ["a"])
    result = CliRunner().invoke(main, ["--config", str(config), "run"])
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1, result.output
    assert f"aggregator: database folder {missing} does not exist" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agg.toml"]
