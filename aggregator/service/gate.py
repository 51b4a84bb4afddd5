"""The service's own bound on concurrent refreshes: ``max_per_host`` on each host and
``max_connections`` overall, against the config as it is at each job (a reload may change
them). A job that finds no slot waits in line, first in, first out, and a slot set free
runs every job in line that fits then: no job retries on a timer while a host hangs.

Thread-safe: worker threads enter and leave, the scheduler thread wakes."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from ..config import Settings, SourceConfig
from ..fetch import host_key

Host = tuple[str, str, int]  # (scheme, host, port): max_per_host's unit, as the fetcher counts it


def source_host(src: SourceConfig, stored_url: str | None) -> Host | None:
    """The host a feed source is fetched from (its stored URL, which a permanent redirect
    moved, else the configured one); None for seeds (or a URL whose port is not a number)."""
    url = stored_url or src.url
    if src.type != "feed" or not url:
        return None
    try:
        return host_key(url)
    except ValueError:
        return None


class HostGate:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy: dict[Host, int] = {}  # host -> refreshes running on it
        self._fetching = 0  # feed refreshes running, all hosts
        # Jobs that found their host (or every slot) taken, in the order they came.
        self.waiting: list[tuple[str, Host]] = []

    def _fits(self, busy: int, fetching: int, settings: Settings) -> bool:
        return busy < settings.max_per_host and fetching < settings.max_connections

    def enter(self, name: str, host: Host, settings: Settings) -> bool:
        """Take one of ``host``'s slots for ``name`` if one is free there and overall; else
        ``name`` waits in line (once) and False."""
        with self._lock:
            if not self._fits(self._busy.get(host, 0), self._fetching, settings):
                if all(waiting != name for waiting, _ in self.waiting):
                    self.waiting.append((name, host))
                return False
            self.waiting = [w for w in self.waiting if w[0] != name]
            self._busy[host] = self._busy.get(host, 0) + 1
            self._fetching += 1
            return True

    def leave(self, host: Host) -> None:
        with self._lock:
            self._fetching -= 1
            busy = self._busy.get(host, 1) - 1
            if busy > 0:
                self._busy[host] = busy
            else:
                self._busy.pop(host, None)

    def take_fitting(self, settings: Settings) -> list[tuple[str, Host]]:
        """Every job in line that fits now, out of the line, counting the slots each will
        take: a woken job that finds its slot gone meanwhile comes back in line."""
        with self._lock:
            busy, fetching = dict(self._busy), self._fetching
            woken: list[tuple[str, Host]] = []
            for entry in self.waiting:
                host = entry[1]
                if self._fits(busy.get(host, 0), fetching, settings):
                    busy[host] = busy.get(host, 0) + 1
                    fetching += 1
                    woken.append(entry)
            self.waiting = [w for w in self.waiting if w not in woken]
            return woken

    def put_back(self, entries: Iterable[tuple[str, Host]]) -> None:
        """Jobs taken from the line that could not be woken: first in line again."""
        with self._lock:
            self.waiting[:0] = [w for w in entries if w not in self.waiting]
