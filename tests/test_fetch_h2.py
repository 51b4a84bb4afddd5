"""The fetcher over HTTP/2: libcurl negotiates it (ALPN) with every https host that offers
it, so most large sites answer this way. Its answers have no reason phrase and lower-case
header names, and one connection carries many requests at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from h2server import ETAG, FEED, LAST_MODIFIED, TLS_DIR, H2Server

from aggregator.fetch import Fetcher, FetchRequest, HTTPStatusError
from aggregator.types import FetchResult


@pytest.fixture(scope="module")
def h2() -> Iterator[H2Server]:
    srv = H2Server()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def trust_the_test_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS_DIR / "cert.pem"))


def fetch(url: str, **kw: Any) -> FetchResult:
    async def go() -> FetchResult:
        async with Fetcher() as f:
            return await f.fetch(FetchRequest("k", url, **kw))

    return asyncio.run(asyncio.wait_for(go(), 20))


def test_a_feed_over_http2(h2: H2Server) -> None:
    res = fetch(f"{h2.url}/feed")
    assert (res.status, res.body, res.etag, res.last_modified) == (200, FEED, ETAG, LAST_MODIFIED)
    assert res.headers["content-type"] == "application/rss+xml"
    method, path, headers = h2.requests[-1]
    assert (method, path) == ("GET", "/feed")
    assert h2.protocols and set(h2.protocols) == {"h2"}  # every connection was HTTP/2


def test_a_conditional_get_over_http2_is_not_modified(h2: H2Server) -> None:
    res = fetch(f"{h2.url}/feed", etag=ETAG, last_modified=LAST_MODIFIED)
    assert res.status == 304 and res.not_modified and res.body is None
    assert res.etag == ETAG and res.last_modified == LAST_MODIFIED
    assert h2.requests[-1][2]["if-none-match"] == ETAG


def test_a_permanent_redirect_over_http2(h2: H2Server) -> None:
    res = fetch(f"{h2.url}/moved")
    assert res.status == 200 and res.body == FEED
    assert res.url == f"{h2.url}/feed" and res.permanent_redirect == f"{h2.url}/feed"


def test_an_error_status_over_http2_gets_its_standard_phrase(h2: H2Server) -> None:
    # HTTP/2 has no reason phrase: the message names the status the standard way.
    with pytest.raises(HTTPStatusError, match=r"^HTTP 404 Not Found$") as caught:
        fetch(f"{h2.url}/nowhere")
    assert caught.value.status == 404


def test_one_host_gets_no_more_requests_at_once_than_allowed_over_http2(h2: H2Server) -> None:
    # Over HTTP/2 one connection can carry every request at once (and libcurl opens more
    # when requests start together); the fetcher's per-host limit counts requests, not
    # connections or streams: with a limit of 8 the same requests run 6 at once.
    async def go(per_host: int) -> list[FetchResult]:
        async with Fetcher(max_connections=8, max_per_host=per_host) as f:
            return list(await asyncio.gather(*(f.fetch(FetchRequest(str(i), f"{h2.url}/slow/{i}"))
                                               for i in range(6))))

    for per_host, at_once in ((2, 2), (8, 6)):
        h2.most_running = 0
        results = asyncio.run(asyncio.wait_for(go(per_host), 20))
        assert [r.body for r in results] == [str(i).encode() for i in range(6)]
        assert h2.most_running == at_once, per_host
