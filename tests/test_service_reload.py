"""Reloads of a running service, driven step by step (an independent review's reproductions):
max_connections lowered, an OPML file named before it exists, a failing source's URL fixed,
a source disabled mid-refresh, a job waiting on its host, a URL fixed mid-refresh, an edit
made while the service starts, a source moved by redirects to another host."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from http.server import BaseHTTPRequestHandler
from typing import Any, Iterator

import pytest
from test_service_watch import Gate, close_local, make_service, serve_local, shut

from aggregator import jobs
from aggregator.config import load_config
from aggregator.pipeline import open_store, publish, refresh
from aggregator.service import Service, utcnow

HEAD = """
[aggregator]
database = "sqlite:///agg.db"
output_dir = "feeds"
base_url = "http://127.0.0.1:18699"
listen = "127.0.0.1:18699"
title = "T"
max_connections = {maxc}
{extra}
[[sources]]
name = "seeds"
type = "seeds"
path = "seeds.txt"
interval = "1h"
"""
SRC = '\n[[sources]]\nname = "{name}"\nurl = "http://127.0.0.1:{port}/{path}"\ninterval = "1h"\nenabled = {enabled}\n'


@pytest.fixture
def ups(tmp_path: Path) -> Iterator[list[Gate]]:
    (tmp_path / "seeds.txt").write_text("Allies meet in Brussels.\n", encoding="utf-8")
    servers = [Gate() for _ in range(3)]
    try:
        yield servers
    finally:
        for s in servers:
            s.close()


def write(cfg: Path, text: str) -> None:
    time.sleep(0.02)
    cfg.write_text(text, encoding="utf-8")


def test_a_reload_that_lowers_max_connections_is_obeyed(tmp_path: Path, ups: list[Gate]) -> None:
    cfg = tmp_path / "agg.toml"
    body = "".join(SRC.format(name=f"h{i}", port=u.port, path="hold", enabled="true") for i, u in enumerate(ups))
    write(cfg, HEAD.format(maxc=4, extra="") + body)
    svc = make_service(cfg)
    try:
        write(cfg, HEAD.format(maxc=1, extra="") + body)  # "concurrent fetches overall": 1
        svc.watch_once()
        assert svc.config.settings.max_connections == 1
        for i in range(3):
            svc.scheduler.modify_job(jobs.job_id(f"h{i}"), next_run_time=utcnow())
        svc.scheduler.resume()
        time.sleep(4)
        peak = sum(u.now for u in ups)
        assert peak <= 1, f"{peak} fetches at once after max_connections was reloaded to 1"
    finally:
        shut(svc)


def test_an_opml_file_created_after_a_reload_named_it_is_followed(tmp_path: Path, ups: list[Gate]) -> None:
    cfg = tmp_path / "agg.toml"
    write(cfg, HEAD.format(maxc=4, extra=""))
    svc = make_service(cfg)
    try:
        write(cfg, HEAD.format(maxc=4, extra='opml = ["subs.opml"]'))  # listed before it exists
        svc.watch_once()  # "aggregator.opml[0]: cannot read ..." logged, config kept
        write(tmp_path / "subs.opml", '<?xml version="1.0"?><opml version="2.0"><head/><body>'
              f'<outline text="one" xmlUrl="http://127.0.0.1:{ups[0].port}/one.xml"/></body></opml>')
        for _ in range(3):
            svc.watch_once()  # the 2-second looks
        assert "one" in svc.sources, sorted(svc.sources)
    finally:
        shut(svc)


def write_up(cfg: Path, gate: Gate, path: str) -> None:
    """A config of one source, "up", fetching ``path`` from ``gate``."""
    write(cfg, HEAD.format(maxc=4, extra="") + SRC.format(name="up", port=gate.port, path=path, enabled="true"))


def test_fixing_a_failing_sources_url_leaves_its_backoff(tmp_path: Path, ups: list[Gate]) -> None:
    cfg = tmp_path / "agg.toml"
    write_up(cfg, ups[0], "bad")
    svc = make_service(cfg)
    try:
        svc.refresh_job("up")  # 500: backoff, 2 h with a 1 h interval
        assert svc.health()["failing"] == ["up"]
        write_up(cfg, ups[0], "feed.xml")
        svc.watch_once()  # the URL is fixed; the store "starts afresh" (failures = 0)
        job = svc.scheduler.get_job(jobs.job_id("up"))
        assert job.next_run_time < utcnow() + timedelta(minutes=5), \
            f"fixed URL first tried at {job.next_run_time} ({svc.health()['failing']} failing until then)"
    finally:
        shut(svc)


def held_refresh(svc: Service, name: str, gate: Gate) -> threading.Thread:
    """A refresh of ``name`` in a thread, returned once ``gate`` holds its fetch open."""
    worker = threading.Thread(target=svc.refresh_job, args=(name,))
    worker.start()
    while gate.now == 0:
        time.sleep(0.05)
    return worker


def test_a_source_disabled_during_its_failing_refresh_is_not_another_process(tmp_path: Path, ups: list[Gate], caplog) -> None:
    cfg = tmp_path / "agg.toml"
    on = HEAD.format(maxc=4, extra="") + SRC.format(name="up", port=ups[0].port, path="hold-bad", enabled="true")
    write(cfg, on)
    svc = make_service(cfg)
    try:
        worker = held_refresh(svc, "up", ups[0])
        write(cfg, on.replace("enabled = true", "enabled = false"))
        svc.watch_once()
        ups[0].release.set()
        worker.join(20)
        with caplog.at_level(logging.INFO, logger="aggregator"):
            svc.watch_once()
        assert "refreshed by another process" not in caplog.text
    finally:
        shut(svc)


def a_holds_its_host(tmp_path: Path, ups: list[Gate], maxc: int) -> tuple[Service, threading.Thread]:
    """Sources "a" and "b" on one host with max_per_host = 1, "a" refreshing (held)."""
    cfg = tmp_path / "agg.toml"
    body = "".join(SRC.format(name=n, port=ups[0].port, path=f"hold-{n}", enabled="true") for n in ("a", "b"))
    write(cfg, HEAD.format(maxc=maxc, extra="max_per_host = 1") + body)
    svc = make_service(cfg)
    worker = held_refresh(svc, "a", ups[0])
    return svc, worker


def test_a_job_waiting_on_its_host_runs_as_soon_as_a_slot_is_free(tmp_path: Path, ups: list[Gate]) -> None:
    # max_per_host = 1: b waits in line while a holds the host, writing nothing meanwhile
    # (retries every few seconds wrote the job table and the store dozens of times a
    # second while a host hung), and runs the moment a's slot is free.
    svc, worker = a_holds_its_host(tmp_path, ups, maxc=4)
    try:
        planned = svc.scheduler.get_job(jobs.job_id("b")).next_run_time
        stored = svc.store.statuses(count_items=False)["b"].next_run
        writes: list[str] = []
        real_set = svc.store.set_next_run
        svc.store.set_next_run = lambda name, when: writes.append(name) or real_set(name, when)  # type: ignore[method-assign]
        svc.refresh_job("b")  # the host is full: b waits, at once
        assert svc.scheduler.get_job(jobs.job_id("b")).next_run_time == planned
        assert svc.store.statuses(count_items=False)["b"].next_run == stored and writes == []
        ups[0].release.set()
        worker.join(20)
        assert svc.scheduler.get_job(jobs.job_id("b")).next_run_time <= utcnow()  # its turn: now
        assert ups[0].peak == 1
    finally:
        ups[0].release.set()
        shut(svc)


def old_url_refreshing(tmp_path: Path, ups: list[Gate], code: int) -> tuple[Service, Gate, threading.Thread]:
    """Source "up" fetching an old URL that will answer ``code`` once released, and the
    config already edited to a new URL (on ``ups[0]``), not yet reloaded."""
    old = Gate()
    cfg = tmp_path / "agg.toml"
    head = HEAD.format(maxc=4, extra="")
    write(cfg, head + f'\n[[sources]]\nname = "up"\nurl = "http://127.0.0.1:{old.port}/hold-{code}"\ninterval = "1h"\n')
    svc = make_service(cfg)
    worker = threading.Thread(target=svc.refresh_job, args=("up",))
    worker.start()
    while old.now == 0:
        time.sleep(0.05)
    # The user fixes the URL while the old one is still being fetched.
    write(cfg, head + SRC.format(name="up", port=ups[0].port, path="feed.xml", enabled="true"))
    return svc, old, worker


def _edit_url_mid_refresh(tmp_path: Path, ups, code: int) -> Service:
    svc, old, worker = old_url_refreshing(tmp_path, ups, code)
    svc.watch_once()
    assert svc.sources["up"].url.endswith("/feed.xml")
    old.release.set()
    worker.join(20)
    old.close()
    return svc


def test_a_url_fixed_during_a_failing_refresh_runs_soon_not_after_the_old_urls_backoff(tmp_path: Path, ups) -> None:
    svc = _edit_url_mid_refresh(tmp_path, ups, 500)
    try:
        job = svc.scheduler.get_job(jobs.job_id("up"))
        st = svc.store.source_state("up")
        assert job.next_run_time < utcnow() + timedelta(minutes=5), \
            f"new URL first tried at {job.next_run_time}; failures={st.failures}, failing={svc.health()['failing']}"
    finally:
        shut(svc)


def test_a_url_fixed_during_a_410_refresh_is_not_retired(tmp_path: Path, ups) -> None:
    svc = _edit_url_mid_refresh(tmp_path, ups, 410)
    try:
        st = svc.store.source_state("up")
        job = svc.scheduler.get_job(jobs.job_id("up"))
        assert not st.retired and job is not None, f"new URL {st.url} retired={st.retired}, job={job}"
    finally:
        shut(svc)


def test_a_config_edit_made_while_run_starts_up_is_applied(tmp_path: Path, ups) -> None:
    cfg = tmp_path / "agg.toml"
    write(cfg, HEAD.format(maxc=4, extra=""))
    config = load_config(cfg)  # cli: the config is read first ...
    store = open_store(config)  # ... then lock, migrate, publish (seconds on a big database)
    publish(config, store)
    write(cfg, HEAD.format(maxc=4, extra="") + SRC.format(name="new", port=ups[0].port, path="f.xml", enabled="true"))
    svc = Service(config, store)
    jobs.register(svc)
    svc.start_scheduler()
    svc.scheduler.pause()
    try:
        for _ in range(3):
            svc.watch_once()
        assert "new" in svc.sources, sorted(svc.sources)
    finally:
        shut(svc)


class Mover:
    """Every request: 301 to ``target`` + the same path."""

    def __init__(self, target: str) -> None:
        class H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(301)
                self.send_header("Location", target + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a: Any) -> None:
                pass

        self.server, self.port = serve_local(H)

    def close(self) -> None:
        close_local(self.server)


def test_the_host_gate_counts_the_host_a_source_moved_to(tmp_path: Path, ups) -> None:
    gate = ups[0]
    movers = [Mover(f"http://127.0.0.1:{gate.port}") for _ in range(2)]
    cfg = tmp_path / "agg.toml"
    body = "".join(f'\n[[sources]]\nname = "{n}"\nurl = "http://127.0.0.1:{m.port}/hold-{n}"\ninterval = "1h"\n'
                   for n, m in zip("ab", movers))
    write(cfg, HEAD.format(maxc=8, extra="max_per_host = 1") + body)
    svc = make_service(cfg)
    try:
        gate.release.set()
        for _ in range(2):  # a 301 on two refreshes in a row moves each source to the gate's host
            svc.refresh_job("a")
            svc.refresh_job("b")
        states = svc.store.source_states()
        assert all(str(gate.port) in states[n].url for n in "ab"), [states[n].url for n in "ab"]
        gate.release.clear()
        gate.peak = 0
        workers = [threading.Thread(target=svc.refresh_job, args=(n,)) for n in "ab"]
        for w in workers:
            w.start()
        time.sleep(2)
        peak = gate.peak
        gate.release.set()
        for w in workers:
            w.join(20)
        assert peak <= 1, f"{peak} fetches at once on 127.0.0.1:{gate.port} with max_per_host = 1"
    finally:
        gate.release.set()
        for m in movers:
            m.close()
        shut(svc)


def test_fixing_a_failing_seed_sources_path_runs_it_soon(tmp_path: Path, ups) -> None:
    # The seeds' path is their URL: a wrong one fixed is tried soon, as a fixed URL is.
    cfg = tmp_path / "agg.toml"
    write(cfg, HEAD.format(maxc=4, extra="").replace('path = "seeds.txt"', 'path = "seedz.txt"'))
    svc = make_service(cfg)
    try:
        svc.refresh_job("seeds")  # no such file: failing until its next run, an hour on
        assert svc.health()["failing"] == ["seeds"]
        write(cfg, HEAD.format(maxc=4, extra=""))
        svc.watch_once()
        job = svc.scheduler.get_job(jobs.job_id("seeds"))
        assert job.next_run_time < utcnow() + timedelta(minutes=5), \
            f"fixed path first read at {job.next_run_time} ({svc.health()['failing']} failing until then)"
    finally:
        shut(svc)


def test_a_refresh_failing_during_the_stop_keeps_its_backoff(tmp_path: Path, ups: list[Gate]) -> None:
    # A refresh that fails (a 500: back off two intervals) after SIGTERM, within the stop's
    # grace: the restart must not try the source again before that backoff ends.
    cfg = tmp_path / "agg.toml"
    write_up(cfg, ups[0], "hold-bad")
    svc = make_service(cfg)
    try:
        worker = held_refresh(svc, "up", ups[0])
        svc.stopping.set()  # what the stop sets before it waits for running refreshes
        ups[0].release.set()
        worker.join(20)
        backoff = utcnow() + timedelta(hours=1, minutes=50)
        st = svc.store.source_state("up")
        job = svc.scheduler.get_job(jobs.job_id("up"))
        assert st.failures == 1
        assert st.next_run is not None and st.next_run > backoff, f"next run {st.next_run}: the backoff was lost"
        assert job.next_run_time > backoff, f"the job runs at {job.next_run_time}, before the backoff ends"
    finally:
        shut(svc)


def update_while_stopped(cfg: Path, name: str) -> tuple[bool, datetime | None]:
    """What `aggregator update --source NAME` does while the service is stopped: whether
    it failed, and the next run it stored."""
    config = load_config(cfg)
    store = open_store(config)
    try:
        failed = bool(refresh(config, store, [name]).failed)
        return failed, store.source_state(name).next_run
    finally:
        store.close()


def test_a_backoff_stored_while_the_service_was_stopped_holds_at_the_restart(tmp_path: Path, ups: list[Gate]) -> None:
    # `aggregator update` while the service is stopped (or a refresh that ended after the
    # stop's scheduler shut down) stores a failure's backoff the persisted job never saw:
    # the restart must not try the source at the job's plain interval, before it ends.
    cfg = tmp_path / "agg.toml"
    write_up(cfg, ups[0], "bad")
    svc = make_service(cfg)
    job = svc.scheduler.get_job(jobs.job_id("up"))
    svc.scheduler.modify_job(job.id, next_run_time=utcnow() + timedelta(minutes=30))  # due in half an hour
    shut(svc)
    failed, backoff = update_while_stopped(cfg, "up")  # a 500
    assert failed and backoff is not None and backoff > utcnow() + timedelta(hours=1, minutes=50)
    svc = make_service(cfg)
    try:
        job = svc.scheduler.get_job(jobs.job_id("up"))
        assert job.next_run_time >= backoff, f"the restart tries it at {job.next_run_time}, before {backoff}"
        assert svc.store.source_state("up").next_run >= backoff
    finally:
        shut(svc)


def test_a_source_fixed_by_update_while_the_service_was_stopped_leaves_its_backoff(tmp_path: Path, ups: list[Gate]) -> None:
    # A failing source (its job backed off two hours), its URL fixed and `aggregator update`
    # run while the service was stopped: the restart runs it when that update said (an
    # interval on), as a running service follows such an update, not at the old backoff.
    cfg = tmp_path / "agg.toml"
    write_up(cfg, ups[0], "bad")
    svc = make_service(cfg)
    svc.refresh_job("up")  # 500: the job backs off two hours
    backoff = svc.scheduler.get_job(jobs.job_id("up")).next_run_time
    assert backoff > utcnow() + timedelta(hours=1, minutes=50)
    shut(svc)
    write_up(cfg, ups[0], "feed.xml")
    failed, said = update_while_stopped(cfg, "up")  # fixed
    assert not failed and said is not None and said < backoff
    svc = make_service(cfg)
    try:
        job = svc.scheduler.get_job(jobs.job_id("up"))
        assert job.next_run_time <= said + timedelta(seconds=1), f"the restart keeps the old backoff: {job.next_run_time}"
    finally:
        shut(svc)


def test_a_source_renamed_during_its_refresh_crashes_nothing(tmp_path: Path, ups: list[Gate], caplog) -> None:
    # A reload that renames a source (same URL) while its fetch is in flight: storing the
    # outcome under the old name failed with a KeyError, and recording that crash failed
    # again (no row of that name). The outcome is left to the next refresh, which stores it.
    cfg = tmp_path / "agg.toml"
    head = HEAD.format(maxc=4, extra="")
    write(cfg, head + SRC.format(name="old-name", port=ups[0].port, path="hold-feed.xml", enabled="true"))
    svc = make_service(cfg)
    try:
        worker = held_refresh(svc, "old-name", ups[0])
        write(cfg, head + SRC.format(name="new-name", port=ups[0].port, path="hold-feed.xml", enabled="true"))
        with caplog.at_level(logging.INFO, logger="aggregator"):
            svc.watch_once()
            ups[0].release.set()
            worker.join(20)
        assert not worker.is_alive()
        assert "Traceback" not in caplog.text and "crash" not in caplog.text and "cannot" not in caplog.text
        assert "renamed during its refresh" in caplog.text
        assert "old-name" not in svc.store.statuses()
        svc.refresh_job("new-name")
        assert svc.store.statuses()["new-name"].items > 0
    finally:
        shut(svc)


def test_a_listen_change_is_named_by_its_config_key(tmp_path: Path, ups: list[Gate], caplog) -> None:
    # README: `database`, `listen` and `output_dir` change only with a restart (the log says
    # so). The warning named the settings' inner fields ("listen_host, listen_port changed"),
    # which no config has: it names the key the user edited.
    cfg = tmp_path / "agg.toml"
    head = HEAD.format(maxc=4, extra="")
    write(cfg, head)
    svc = make_service(cfg)
    try:
        write(cfg, head.replace('listen = "127.0.0.1:18699"', 'listen = "localhost:18700"')
              .replace('output_dir = "feeds"', 'output_dir = "out"'))
        with caplog.at_level(logging.INFO, logger="aggregator"):
            svc.watch_once()
        restart = [r.getMessage() for r in caplog.records if "restart the service" in r.getMessage()]
        assert restart == ["config: listen, output_dir changed: restart the service to apply that; "
                           "the rest of the change is applied"]
        assert (svc.config.settings.listen_host, svc.config.settings.listen_port) == ("127.0.0.1", 18699)
    finally:
        shut(svc)


@pytest.mark.parametrize("bad", [
    'max_entries = "50"',
    "opml = 5",
    'opml = ["a\\u0000b.opml"]',  # opml_named: ValueError (embedded null byte) from os.stat
    'opml = ["~no-such-user-rev104/x.opml"]',  # opml_named: RuntimeError from expanduser
    "x = " + "[" * 1200 + "]" * 1200,  # opml_named: RecursionError from tomllib
], ids=["wrong-type", "opml-not-an-array", "opml-nul", "opml-no-user", "nested-too-deep"])
def test_a_bad_edit_is_logged_and_the_service_goes_on(tmp_path: Path, bad: str, caplog) -> None:
    from aggregator.service.watch import ConfigWatch

    (tmp_path / "seeds.txt").write_text("Allies meet in Brussels.\n", encoding="utf-8")
    cfg = tmp_path / "aggregator.toml"
    good = HEAD.format(maxc=4, extra="")
    write(cfg, good)
    watch = ConfigWatch(load_config(cfg))
    assert watch.look() is not None  # the first look reads the files
    write(cfg, HEAD.format(maxc=4, extra=bad))
    with caplog.at_level(logging.ERROR, logger="aggregator.service"):
        assert watch.look() is None
    assert caplog.messages[-1] == "config not reloaded: the service goes on with the config it had"
    assert all(m.startswith(f"{cfg}: ") for m in caplog.messages[:-1]) and len(caplog.messages) >= 2
    write(cfg, good.replace("max_connections = 4", "max_connections = 3"))
    fixed = watch.look()
    assert fixed is not None and fixed.settings.max_connections == 3
