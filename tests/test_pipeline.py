from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aggregator.errors import FetchError
from aggregator.fetch import FetchRequest
from aggregator.pipeline import _fetch_bounded, interleave_by_host
from aggregator.types import FetchResult


def req(key: str, url: str) -> FetchRequest:
    return FetchRequest(key=key, url=url)


def test_interleave_takes_one_request_per_host_in_turn() -> None:
    reqs = [req("a1", "http://a.test/1"), req("a2", "http://A.test:80/2"), req("a3", "http://a.test/3"),
            req("b1", "https://b.test/1"), req("c1", "http://c.test/1"), req("b2", "https://b.test:443/2"),
            req("a4", "http://a.test:8080/4")]
    # a.test:80 is one host (port 80 spelt out or not); a.test:8080 is another.
    assert [r.key for r in interleave_by_host(reqs)] == ["a1", "b1", "c1", "a4", "a2", "b2", "a3"]


def test_interleave_groups_every_url_by_its_own_host_key() -> None:
    """Host keys are looked up by origin; each URL must still land with its host_key."""
    from aggregator.fetch import host_key

    urls = ["http://a.test", "http://a.test?x=1", "http://a.test#top", "HTTP://A.TEST/p", "http://a.test:80/q",
            "http://u:p@a.test/r", "http://a.test:8080", "https://a.test/s", "http://b.test/t?u=http://a.test/",
            "http://[::1]:8080/v", "http://[::1]/w", "relative/path", "http:/a.test/x"]
    reqs = [req(str(i), u) for i, u in enumerate(urls * 2)]
    lanes: dict[tuple[str, str, int], list[str]] = {}
    for r in interleave_by_host(reqs):
        lanes.setdefault(host_key(r.url), []).append(r.key)
    expected: dict[tuple[str, str, int], list[str]] = {}
    for r in reqs:
        expected.setdefault(host_key(r.url), []).append(r.key)
    assert lanes == expected  # same hosts, each host's requests in their order
    firsts = [keys[0] for keys in expected.values()]
    assert [r.key for r in interleave_by_host(reqs)][:len(firsts)] == firsts  # one per host in turn


def test_interleave_of_one_host_keeps_the_order() -> None:
    reqs = [req(str(i), f"http://one.test/{i}") for i in range(5)]
    assert interleave_by_host(reqs) == reqs
    assert interleave_by_host([]) == []


class FakeFetcher:
    """Answers after a few loop turns; counts requests started and not yet handed out."""

    def __init__(self, fail: dict[str, BaseException] | None = None):
        self.fail = fail or {}
        self.started = 0
        self.handed = 0
        self.most_outstanding = 0

    async def fetch(self, r: FetchRequest) -> FetchResult:
        self.started += 1
        self.most_outstanding = max(self.most_outstanding, self.started - self.handed)
        for _ in range(3):
            await asyncio.sleep(0)
        if r.key in self.fail:
            raise self.fail[r.key]
        return FetchResult(url=r.url, status=200, body=r.key.encode())


async def drain(fetcher: FakeFetcher, reqs: list[FetchRequest], limit: int) -> list[tuple[str, Any]]:
    got = []
    async for r, res in _fetch_bounded(fetcher, reqs, limit):  # type: ignore[arg-type]
        fetcher.handed += 1
        await asyncio.sleep(0)  # the consumer parses while fetches go on
        got.append((r.key, res))
    return got


def test_fetch_bounded_hands_out_every_answer_with_a_bounded_window() -> None:
    reqs = [req(f"s{i}", f"http://h{i % 7}.test/{i}") for i in range(200)]
    fetcher = FakeFetcher(fail={"s13": FetchError("HTTP 500", status=500)})
    got = asyncio.run(drain(fetcher, reqs, limit=16))
    assert sorted(k for k, _ in got) == sorted(r.key for r in reqs)
    assert fetcher.most_outstanding == 16  # the window filled, and never overflowed
    answers = dict(got)
    assert isinstance(answers["s13"], FetchError)  # a failed source is an answer, not an abort
    assert answers["s5"].body == b"s5"


def test_fetch_bounded_with_fewer_requests_than_the_window() -> None:
    fetcher = FakeFetcher()
    got = asyncio.run(drain(fetcher, [req("only", "http://x.test/")], limit=128))
    assert [k for k, _ in got] == ["only"]


def test_fetch_bounded_raises_a_bug_and_cancels_the_rest() -> None:
    reqs = [req(f"s{i}", f"http://h.test/{i}") for i in range(50)]
    fetcher = FakeFetcher(fail={"s3": ValueError("a bug")})

    async def main() -> None:
        with pytest.raises(ValueError, match="a bug"):
            await drain(fetcher, reqs, limit=8)
        await asyncio.sleep(0)
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for _ in range(5):  # cancelled tasks need a turn or two to finish
            await asyncio.sleep(0)
        assert all(t.done() for t in leftover)

    asyncio.run(main())
    assert fetcher.started < len(reqs)  # nothing new was started after the failure


def test_overlapping_refreshes_share_the_collector_settings_and_the_last_restores_them() -> None:
    # The service runs refreshes in several threads: the first to start raises the
    # youngest generation's threshold and freezes, the last to end restores both.
    import gc
    import threading

    from aggregator import pipeline

    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, tuple[int, ...]] = {}

    def a() -> None:
        with pipeline._old_objects_frozen():
            a_in.set()
            assert b_in.wait(10)
        a_out.set()

    def b() -> None:
        assert a_in.wait(10)
        with pipeline._old_objects_frozen():
            b_in.set()
            assert a_out.wait(10)
            seen["after a"] = gc.get_threshold()
            seen["frozen after a"] = (gc.get_freeze_count(),)

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen["after a"] == (pipeline.REFRESH_GC_THRESHOLD, *threshold[1:])
    assert seen["frozen after a"][0] > frozen  # a's end did not unfreeze b's objects
    assert gc.get_threshold() == threshold and gc.get_freeze_count() == frozen
