"""A stop while the watcher's reload waits on the database (another process writing)."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

AGGREGATOR = Path(sys.executable).with_name("aggregator")
CONFIG = """
[aggregator]
database = "sqlite:///agg.db"
output_dir = "feeds"
base_url = "http://127.0.0.1:{port}"
listen = "127.0.0.1:{port}"
title = "{title}"

[[sources]]
name = "seeds"
type = "seeds"
path = "seeds.txt"
interval = "1h"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthz(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return json.load(r)
    except OSError:
        return None


def test_sigterm_during_a_reload_blocked_on_the_database_stops_within_10s(tmp_path: Path) -> None:
    (tmp_path / "seeds.txt").write_text("Allies meet in Brussels.\n")
    cfg = tmp_path / "agg.toml"
    port = free_port()
    cfg.write_text(CONFIG.format(title="A", port=port))
    proc = subprocess.Popen([str(AGGREGATOR), "--config", str(cfg), "run"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "err.log", "w"))
    try:
        deadline = time.monotonic() + 30
        while not ((h := healthz(port)) and h["sources"].get("seeds", {}).get("last_refresh")):
            assert time.monotonic() < deadline, (tmp_path / "err.log").read_text()
            time.sleep(0.3)
        time.sleep(2)  # its publish is done
        # Another writer (say `aggregator update` committing a big batch) holds the database.
        db = sqlite3.connect(tmp_path / "agg.db", isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        cfg.write_text(CONFIG.format(title="B", port=port))  # the watcher's reload now waits on the lock
        time.sleep(4)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            pass
        took = time.monotonic() - t0
        db.execute("ROLLBACK")
        db.close()
        proc.wait(40)
        log = (tmp_path / "err.log").read_text()
        assert took < 10, f"stop took {took:.1f}s\n{log[-1500:]}"
    finally:
        if proc.poll() is None:
            proc.kill()
