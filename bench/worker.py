"""One measured run, in a fresh process: ``python -m bench.worker SCENARIO [options]``.

Each run gets its own process (so peak RSS is its own and no cache is warm) and its
own temporary database. It prints one JSON object on its last stdout line.

Scenarios:
- ``refresh --side ours|reader``: cold refresh of every feed (timed, then peak RSS),
  an all-304 refresh, and an all-200-unchanged refresh (server told to ignore
  validators, same bytes); ours then times every feed's GET alone, answered 200 and
  then 304 (``fetch_only``).
- ``memory``: ours only; 10 consecutive refreshes of a live feed set (one new entry
  per feed each time), RSS after each.
- ``local``: ours only; bulk ingest, classify, publish, unchanged publish and a
  reclassify after a rule change, over generated items.

Only the product's stable entry points are used: ``pipeline.refresh/classify/publish``,
``pipeline.open_store``, ``config.load_config`` and ``Store.ingest``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Protocol

from bench.gen import entry_batches, source_name, write_config


def current_rss_mb() -> float:
    """Resident set size now, in MiB (Linux /proc; psutil elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20


def bytes_written() -> int | None:
    """Bytes this process has handed to write calls so far (Linux /proc/self/io); None
    where the kernel does not account them (another system, no I/O accounting)."""
    try:
        with open("/proc/self/io") as f:
            return int(next(line for line in f if line.startswith("wchar:")).split()[1])
    except (OSError, StopIteration, ValueError):
        return None


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux (bytes on macOS; the bench targets Linux).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def control(server: str, **params: Any) -> None:
    query = "&".join(f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in params.items())
    req = urllib.request.Request(f"{server}/_control?{query}", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


def feed_urls(server: str, feeds: int) -> list[str]:
    return [f"{server}/feed/{i}.xml" for i in range(feeds)]


# -- our side ------------------------------------------------------------------------
class Ours:
    def __init__(self, workdir: Path, urls: list[str], workers: int):
        from aggregator.config import load_config
        from aggregator.pipeline import open_store

        path = write_config(workdir / "aggregator.toml", urls=urls, max_connections=workers,
                            max_per_host=workers)
        self.config = load_config(path)
        self.store = open_store(self.config)

    def refresh(self) -> int:
        """Refresh every source; returns how many failed."""
        from aggregator.pipeline import refresh

        return len(refresh(self.config, self.store).failed)

    def close(self) -> None:
        self.store.close()


class Reader:
    def __init__(self, workdir: Path, urls: list[str], workers: int):
        from reader import make_reader

        self.workers = workers
        self.reader = make_reader(str(workdir / "reader.sqlite"))
        for url in urls:
            self.reader.add_feed(url)

    def refresh(self) -> int:
        # update_feeds_iter does what update_feeds does, and tells us which feeds failed.
        # scheduled=False: since 3.21 reader skips feeds updated within the hour, while
        # our refresh() fetches every source it is given; both must do the same work.
        failed = 0
        for result in self.reader.update_feeds_iter(workers=self.workers, scheduled=False):
            if isinstance(result.value, Exception):
                failed += 1
        return failed

    def close(self) -> None:
        self.reader.close()


class Side(Protocol):
    def __init__(self, workdir: Path, urls: list[str], workers: int) -> None: ...
    def refresh(self) -> int: ...
    def close(self) -> None: ...


SIDES: dict[str, type[Side]] = {"ours": Ours, "reader": Reader}


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def run_refresh(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    control(args.server, ignore_validators=False, generation=0)
    side = SIDES[args.side](workdir, feed_urls(args.server, args.feeds), args.workers)
    out: dict[str, Any] = {"rss_before_mb": current_rss_mb()}
    out["cold_s"], out["cold_failed"] = timed(side.refresh)
    out["peak_rss_mb"] = peak_rss_mb()
    out["r304_s"], out["r304_failed"] = timed(side.refresh)
    control(args.server, ignore_validators=True)
    try:
        out["r200_s"], out["r200_failed"] = timed(side.refresh)
    finally:
        control(args.server, ignore_validators=False)
    side.close()
    if args.side == "ours" and not args.no_floors:
        out.update(fetch_only(args))
    return out


def fetch_only(args: argparse.Namespace) -> dict[str, Any]:
    """The floors of a refresh on this server, at these connections: every feed's GET with
    the product's fetcher (the same libcurl thread and slots), nothing parsed or stored;
    first unconditional (200s with bodies, as a cold or an all-200 refresh gets), then with
    each answer's ETag (304s, as an all-304 refresh gets). A ratio to reader whose target
    asks for less than its floor is out of our fetcher's reach in that run (and of curl's
    command line, which took as long on this server)."""
    from aggregator.fetch import FetchRequest, fetch_many_sync

    def round_of(requests: list[FetchRequest]) -> tuple[float, dict[str, Any]]:
        return timed(lambda: fetch_many_sync(requests, max_connections=args.workers, max_per_host=args.workers))

    urls = feed_urls(args.server, args.feeds)
    t200, first = round_of([FetchRequest(key=url, url=url) for url in urls])
    ok = {url: res for url, res in first.items() if not isinstance(res, Exception)}
    t304, second = round_of([FetchRequest(key=url, url=url, etag=res.etag) for url, res in ok.items()])
    failed = len(first) - len(ok) + sum(1 for res in second.values()
                                        if isinstance(res, Exception) or not res.not_modified)
    return {"fetch_s": t200, "fetch304_s": t304, "fetch_failed": failed}


def run_memory(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    control(args.server, ignore_validators=False, generation=0)
    side = SIDES[args.side](workdir, feed_urls(args.server, args.feeds), args.workers)
    rss: list[float] = []
    failed = 0
    try:
        for n in range(args.refreshes):
            control(args.server, generation=n)
            failed += side.refresh()
            rss.append(current_rss_mb())
    finally:
        control(args.server, generation=0)
    side.close()
    return {"rss_mb": rss, "failed": failed, "rss_after_2_mb": rss[1], "rss_after_last_mb": rss[-1],
            "rss_growth": rss[-1] / rss[1]}


def grown_entries(count: int, per_source: int, *, first_second: int, first: int = 0) -> Iterator[tuple[int, list]]:
    """``count`` batches (numbered from ``first``) of ``per_source`` new entries with
    links in random order, dated from ``first_second``; made one at a time."""
    for k in range(first, first + count):
        [(_, entries)] = entry_batches(1, per_source, seed=100 + k, key_prefix=f"grown{k}", random_links=True,
                                       first_second=first_second + (k - first) * per_source)
        yield k, entries


def run_local(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from aggregator.config import load_config
    from aggregator.pipeline import classify, open_store, publish

    per_source = min(1000, args.items)
    sources = max(1, args.items // per_source)
    items = sources * per_source
    path = write_config(workdir / "aggregator.toml", sources=sources, topics=args.topics,
                        max_entries=100)
    changed = write_config(workdir / "aggregator-changed.toml", sources=sources, topics=args.topics,
                           max_entries=100, variant=1)
    config = load_config(path)
    store = open_store(config)
    batches = entry_batches(sources, per_source)
    now = datetime.now(timezone.utc)
    out: dict[str, Any] = {"items": items, "topics": args.topics}

    def ingest() -> int:
        return sum(store.ingest(name, entries, now=now).new for name, entries in batches)

    t, new = timed(ingest)
    out["ingest_items_per_s"], out["ingest_new"] = items / t, new
    t, n = timed(lambda: classify(config, store))
    out["classify_items_per_s"], out["classified"] = n / t, n
    out["publish_s"], report = timed(lambda: publish(config, store))
    out["publish_written"] = len(report.written)
    feeds = config.settings.output_dir
    before = {p.name: p.stat().st_mtime_ns for p in feeds.iterdir()}
    out["publish_unchanged_s"], report = timed(lambda: publish(config, store))
    after = {p.name: p.stat().st_mtime_ns for p in feeds.iterdir()}
    out["publish_unchanged_rewrites"] = len(report.written) + sum(
        1 for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    config2 = load_config(changed)
    t, n = timed(lambda: classify(config2, store))
    out["reclassify_items_per_s"], out["reclassified"] = n / t, n
    # A grown database: three times as many items again (links in random order, as real
    # feeds send them), then a fifth of the first ingest more, timed, with the bytes the
    # process wrote for it, checkpoint thread included. Once the indexes are much larger
    # than a batch, each random insert dirties a page of its own (what a page size trades).
    for k, entries in grown_entries(3 * sources, per_source, first_second=items):
        store.ingest(source_name(k % sources), entries, now=now)
    timed_part = [(source_name(k % sources), entries) for k, entries in
                  grown_entries(max(1, sources // 5), per_source, first_second=4 * items, first=3 * sources)]
    store.wait_for_checkpoint()
    written = bytes_written()
    t, new = timed(lambda: sum(store.ingest(name, entries, now=now).new for name, entries in timed_part))
    if new != len(timed_part) * per_source:  # each one new, or the figure is not what it says
        raise RuntimeError(f"grown database: {new} of {len(timed_part) * per_source} entries stored as new")
    out["grown_items_per_s"], out["grown_new"] = new / t, new
    store.wait_for_checkpoint()  # its copy into the database file counts in the bytes
    written_after = bytes_written()
    if written is not None and written_after is not None:  # else the figure is left out
        out["grown_kib_per_item"] = (written_after - written) / new / 1024
    store.close()
    return out


SCENARIOS = {"refresh": run_refresh, "memory": run_memory, "local": run_local}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="one measured benchmark run")
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--side", choices=sorted(SIDES), default="ours")
    ap.add_argument("--server", help="base URL of bench.feedserver")
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=64,
                    help="reader's update_feeds workers; ours: max_connections = max_per_host")
    ap.add_argument("--no-floors", action="store_true", help="refresh: skip ours' fetch-only floors")
    ap.add_argument("--refreshes", type=int, default=10)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--topics", type=int, default=50)
    ap.add_argument("--profile", metavar="FILE", help="write a cProfile of the run here")
    args = ap.parse_args(argv)
    # Both sides log every feed; neither should pay for printing it during a timing.
    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="aggbench-") as tmp:
        run = SCENARIOS[args.scenario]
        if args.profile:
            import cProfile

            prof = cProfile.Profile()
            result = prof.runcall(run, args, Path(tmp))
            prof.dump_stats(args.profile)
        else:
            result = run(args, Path(tmp))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
