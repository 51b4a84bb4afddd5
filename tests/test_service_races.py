"""The service's waiting line, a reload racing a refresh of an old URL, and a config with
warnings at start (an independent review's reproductions)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from pathlib import Path

from test_service_reload import HEAD, SRC, a_holds_its_host, old_url_refreshing, ups, write  # noqa: F401 - ups: a fixture
from test_service_watch import Gate, make_service, shut

from aggregator import jobs
from aggregator.service import core as service_mod
from aggregator.config import load_config
from aggregator.pipeline import open_store, publish
from aggregator.service import Service, utcnow

OPML = ('<?xml version="1.0"?><opml version="2.0"><head/><body>'
        '<outline text="ok" xmlUrl="http://127.0.0.1:9/ok.xml"/>'
        '<outline text="bad" xmlUrl="ftp://example.invalid/x"/></body></opml>')


def test_unchanged_config_with_warnings_is_not_reloaded_at_start(tmp_path: Path, monkeypatch, caplog, ups) -> None:
    (tmp_path / "subs.opml").write_text(OPML)
    write(tmp_path / "agg.toml", HEAD.format(maxc=4, extra='opml = ["subs.opml"]'))
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("agg.toml"))  # cli: find_config returns the path as given
    assert config.warnings
    store = open_store(config)
    publish(config, store)
    svc = Service(config, store)
    jobs.register(svc)
    svc.start_scheduler()
    svc.scheduler.pause()
    try:
        with caplog.at_level(logging.INFO, logger="aggregator"):
            svc.watch_once()  # the first look: nothing was edited
        assert "config reloaded" not in caplog.text
    finally:
        shut(svc)


def test_warnings_are_logged_once_per_start(tmp_path: Path, caplog, ups) -> None:
    (tmp_path / "subs.opml").write_text(OPML)
    cfg = tmp_path / "agg.toml"
    write(cfg, HEAD.format(maxc=4, extra='opml = ["subs.opml"]'))
    with caplog.at_level(logging.WARNING, logger="aggregator"):
        svc = make_service(cfg)  # load_config logs the warning once, as the cli does
        try:
            svc.watch_once()  # first look, nothing edited
        finally:
            shut(svc)
    assert caplog.text.count("skipping the outline 'bad'") == 1, caplog.text


def test_a_reload_raising_max_per_host_wakes_the_waiting_jobs(tmp_path: Path, ups) -> None:
    cfg = tmp_path / "agg.toml"
    body = "".join(SRC.format(name=n, port=ups[0].port, path=f"hold-{n}", enabled="true") for n in "abc")
    write(cfg, HEAD.format(maxc=8, extra="max_per_host = 1") + body)
    svc = make_service(cfg)
    later = utcnow() + timedelta(hours=1)
    try:
        for n in "bc":  # as after the scheduler fired them: next run an interval away
            svc.scheduler.modify_job(jobs.job_id(n), next_run_time=later)
        worker = threading.Thread(target=svc.refresh_job, args=("a",))
        worker.start()
        while ups[0].now == 0:
            time.sleep(0.05)
        svc.refresh_job("b"); svc.refresh_job("c")  # both wait in line
        write(cfg, HEAD.format(maxc=8, extra="max_per_host = 4") + body)
        svc.watch_once()
        assert svc.config.settings.max_per_host == 4
        woken = [n for n in "bc" if svc.scheduler.get_job(jobs.job_id(n)).next_run_time <= utcnow()]
        ups[0].release.set(); worker.join(20)
        woken_after = [n for n in "bc" if svc.scheduler.get_job(jobs.job_id(n)).next_run_time <= utcnow()]
        assert woken == ["b", "c"] and woken_after == ["b", "c"], \
            f"after the reload woken={woken}; after a's end woken={woken_after}; waiting={svc.gate.waiting}"
    finally:
        ups[0].release.set()
        shut(svc)


def test_a_failed_wake_does_not_drop_the_waiting_job(tmp_path: Path, ups) -> None:
    from sqlalchemy.exc import OperationalError
    svc, worker = a_holds_its_host(tmp_path, ups, maxc=8)
    try:
        svc.refresh_job("b")
        real = svc.scheduler.modify_job
        calls = []

        def flaky(*a, **k):  # the job table is busy once (SQLite: "database is locked")
            calls.append(a)
            if len(calls) == 1:
                raise OperationalError("UPDATE apscheduler_jobs", {}, Exception("database is locked"))
            return real(*a, **k)
        svc.scheduler.modify_job = flaky
        ups[0].release.set(); worker.join(20)
        assert svc.gate.waiting or svc.scheduler.get_job(jobs.job_id("b")).next_run_time <= utcnow(), \
            "b was taken out of the line and never woken"
    finally:
        ups[0].release.set()
        shut(svc)


def test_url_change_racing_apply_config_does_not_retire_the_new_url(tmp_path: Path, ups, monkeypatch) -> None:
    svc, old, worker = old_url_refreshing(tmp_path, ups, 410)
    real_sync = service_mod.sync_sources

    def sync_then_refresh_ends(new, store):  # the old URL's 410 lands right after the reload's sync
        real_sync(new, store)
        old.release.set()
        worker.join(20)
    monkeypatch.setattr(service_mod, "sync_sources", sync_then_refresh_ends)
    try:
        svc.watch_once()
        st = svc.store.source_state("up")
        job = svc.scheduler.get_job(jobs.job_id("up"))
        assert st.url.endswith("/feed.xml") and not st.retired and job is not None, \
            f"new URL: stored url={st.url} retired={st.retired} failures={st.failures} job={job}"
    finally:
        old.close()
        shut(svc)


def test_a_job_firing_while_a_reload_stores_new_sources_waits_and_fetches_the_new_url(
    tmp_path: Path, ups, monkeypatch
) -> None:
    # The scheduler fires "up" while the reload's sync_sources waits for the write lock
    # (another process writing): taking the new source with the old stored URL, it fetched
    # the old URL, stored its 410 over the new one and retired it.
    old = Gate()
    cfg = tmp_path / "agg.toml"
    head = HEAD.format(maxc=4, extra="")
    write(cfg, head + f'\n[[sources]]\nname = "up"\nurl = "http://127.0.0.1:{old.port}/hold-410"\ninterval = "1h"\n')
    svc = make_service(cfg)
    write(cfg, head + SRC.format(name="up", port=ups[0].port, path="feed.xml", enabled="true"))
    real_sync = service_mod.sync_sources
    fired: list[threading.Thread] = []

    def a_job_fires_during_the_sync(new, store):  # type: ignore[no-untyped-def]
        fired.append(threading.Thread(target=svc.refresh_job, args=("up",)))
        fired[0].start()
        time.sleep(0.5)
        assert old.now == 0  # it waits for the sync, rather than fetch the old URL
        real_sync(new, store)

    monkeypatch.setattr(service_mod, "sync_sources", a_job_fires_during_the_sync)
    try:
        svc.watch_once()
        old.release.set()
        fired[0].join(20)
        st = svc.store.source_state("up")
        assert st.url.endswith("/feed.xml") and not st.retired and st.failures == 0
        assert svc.scheduler.get_job(jobs.job_id("up")) is not None and old.peak == 0
    finally:
        old.close()
        shut(svc)


def test_a_newly_broken_opml_outline_is_reported_once(tmp_path: Path, caplog, ups) -> None:
    outline = '<outline text="{0}" xmlUrl="{1}"/>'
    doc = '<?xml version="1.0"?><opml version="2.0"><head/><body>{}</body></opml>'
    good = outline.format("ok", "http://127.0.0.1:9/ok.xml")
    (tmp_path / "subs.opml").write_text(doc.format(good))
    cfg = tmp_path / "agg.toml"
    write(cfg, HEAD.format(maxc=4, extra='opml = ["subs.opml"]'))
    svc = make_service(cfg)
    try:
        svc.watch_once()
        time.sleep(0.02)
        (tmp_path / "subs.opml").write_text(doc.format(good + outline.format("bad", "ftp://example.invalid/x")))
        with caplog.at_level(logging.INFO, logger="aggregator"):
            svc.watch_once()
            svc.watch_once()
        assert caplog.text.count("skipping the outline 'bad'") == 1, caplog.text
        assert "config reloaded" not in caplog.text  # nothing else changed
    finally:
        shut(svc)
