"""The service under connection pressure: its descriptor limit, and readers it cannot all serve.

The real ``aggregator run`` as a subprocess started under a small RLIMIT_NOFILE (systemd
gives 1024 by default; 256 here keeps the test small), and a client on 127.0.0.1 that opens
more connections than that.
"""

from __future__ import annotations

import resource
import select
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from test_service import AGGREGATOR, Site, _died, site, stop, wait_for  # noqa: F401 - site: a fixture


def start_limited(site: Site, soft: int, hard: int, *options: str) -> subprocess.Popen[bytes]:
    """Start ``aggregator run`` with RLIMIT_NOFILE set to (soft, hard), as systemd's LimitNOFILE= would."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    n = len(site.procs)
    err = site.root / f"err{n}.txt"
    proc = subprocess.Popen(
        [str(AGGREGATOR), *options, "--config", str(site.config), "run"],
        stdout=open(site.root / f"out{n}.txt", "wb"), stderr=open(err, "wb"),
        cwd=site.root, preexec_fn=limit,
    )
    site.procs.append(proc)
    wait_for("/healthz", lambda: proc.poll() is None and site.health() is not None or _died(proc, err), 20)
    return proc


def open_files_limit(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no 'Max open files' in /proc/PID/limits")


def test_run_raises_its_soft_descriptor_limit_to_the_hard_limit(site: Site) -> None:
    # systemd's default is a soft 1024 under a hard 524288: the service used only the 1024.
    proc = start_limited(site, 256, 512, "-v")
    assert open_files_limit(proc.pid) == (512, 512)
    assert stop(proc)[0] == 0
    assert "open files limit raised from 256 to 512" in (site.root / "err0.txt").read_text()


class Flood:
    """A client holding ``count`` connections open to the service: each one the service
    closes (idle, or refused) is opened again, at most once a second."""

    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self.conns: list[socket.socket] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.done.is_set():
            closed, _, _ = select.select(self.conns, [], [], 0) if self.conns else ([], [], [])
            for conn in closed:  # readable: an answer (a 503) or the end: the service let go of it
                conn.close()
                self.conns.remove(conn)
            while len(self.conns) < self.count and not self.done.is_set():
                try:
                    self.conns.append(socket.create_connection(("127.0.0.1", self.port), timeout=5))
                except OSError:
                    break  # the backlog is full: try again in a second
            self.done.wait(1.0)

    def close(self) -> None:
        self.done.set()
        self.thread.join(10)
        for conn in self.conns:
            conn.close()


def test_a_flood_of_connections_leaves_the_service_descriptors_for_its_own_work(site: Site) -> None:
    # Every connection accepted took a descriptor: 300 clients used up a limit of 256, and the
    # service's fetches, database and publish failed with "Too many open files" until they left.
    proc = start_limited(site, 256, 256)
    baltic = site.root / "feeds" / "baltic.xml"
    wait_for("the first refreshes", lambda: (h := site.health()) and h["sources"]["upstream"]["last_refresh"], 15)
    flood = Flood(site.port, 300)
    try:
        wait_for("the flood to be under way", lambda: len(flood.conns) >= 200, 10)
        site.upstream.add("upstream-3", "Baltic undersea cable damaged near Gotland")
        # Fetched, stored and published while the flood goes on (read from disk: the
        # service's HTTP port is the flood's).
        reached: Callable[[], bool] = lambda: b"Gotland" in baltic.read_bytes()
        wait_for("the new entry in baltic.xml during the flood", reached, 30)
    finally:
        flood.close()
    assert "Too many open files" not in (site.root / "err0.txt").read_text()
    health = wait_for("/healthz after the flood", site.health, 10)
    assert health["sources"]["upstream"]["error"] is None
    assert stop(proc)[0] == 0
