"""Reloads of a running service, driven step by step (an independent review's reproductions):
max_connections lowered, an OPML file named before it exists, a failing source's URL fixed,
a source disabled mid-refresh, the stored next run of a job waiting on its host."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import pytest
from test_service_watch import Gate, make_service, shut

from aggregator import jobs
from aggregator.service import utcnow

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


def test_fixing_a_failing_sources_url_leaves_its_backoff(tmp_path: Path, ups: list[Gate]) -> None:
    cfg = tmp_path / "agg.toml"
    write(cfg, HEAD.format(maxc=4, extra="") + SRC.format(name="up", port=ups[0].port, path="bad", enabled="true"))
    svc = make_service(cfg)
    try:
        svc.refresh_job("up")  # 500: backoff, 2 h with a 1 h interval
        assert svc.health()["failing"] == ["up"]
        write(cfg, HEAD.format(maxc=4, extra="") + SRC.format(name="up", port=ups[0].port, path="feed.xml", enabled="true"))
        svc.watch_once()  # the URL is fixed; the store "starts afresh" (failures = 0)
        job = svc.scheduler.get_job(jobs.job_id("up"))
        assert job.next_run_time < utcnow() + timedelta(minutes=5), \
            f"fixed URL first tried at {job.next_run_time} ({svc.health()['failing']} failing until then)"
    finally:
        shut(svc)


def test_a_source_disabled_during_its_failing_refresh_is_not_another_process(tmp_path: Path, ups: list[Gate], caplog) -> None:
    cfg = tmp_path / "agg.toml"
    on = HEAD.format(maxc=4, extra="") + SRC.format(name="up", port=ups[0].port, path="hold-bad", enabled="true")
    write(cfg, on)
    svc = make_service(cfg)
    try:
        worker = threading.Thread(target=svc.refresh_job, args=("up",))
        worker.start()
        while ups[0].now == 0:
            time.sleep(0.05)
        write(cfg, on.replace("enabled = true", "enabled = false"))
        svc.watch_once()
        ups[0].release.set()
        worker.join(20)
        with caplog.at_level(logging.INFO, logger="aggregator"):
            svc.watch_once()
        assert "refreshed by another process" not in caplog.text
    finally:
        shut(svc)


def test_the_stored_next_run_follows_a_host_gate_retry(tmp_path: Path, ups: list[Gate]) -> None:
    cfg = tmp_path / "agg.toml"
    body = "".join(SRC.format(name=n, port=ups[0].port, path=f"hold-{n}", enabled="true") for n in ("a", "b"))
    write(cfg, HEAD.format(maxc=4, extra="max_per_host = 1") + body)
    svc = make_service(cfg)
    try:
        worker = threading.Thread(target=svc.refresh_job, args=("a",))
        worker.start()
        while ups[0].now == 0:
            time.sleep(0.05)
        # b fires an hour late in the store's eyes: as when its job fired at its stored time
        svc.store.set_next_run("b", utcnow() - timedelta(minutes=1))
        svc.refresh_job("b")  # host full: back in 2-4 s
        real = svc.scheduler.get_job(jobs.job_id("b")).next_run_time
        shown = svc.store.statuses(count_items=False)["b"].next_run  # what `aggregator status` prints
        ups[0].release.set()
        worker.join(20)
        assert shown == real, (shown, real)
    finally:
        ups[0].release.set()
        shut(svc)
