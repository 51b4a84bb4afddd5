"""The fetcher against real aiohttp.web servers on 127.0.0.1 (two ports, one background thread)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import socket
import ssl
import threading
import time
import tracemalloc
import zlib
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import pycurl
import pytest
from aiohttp import web
from h2server import TLS_DIR
from multidict import CIMultiDict

from aggregator import PROJECT_URL
from aggregator.errors import FetchError
from aggregator.fetch import (
    FetchRequest,
    Fetcher,
    GoneError,
    HTTPStatusError,
    NetworkError,
    RedirectError,
    TimeoutFetchError,
    TooLargeError,
    fetch_many,
    fetch_many_sync,
    parse_retry_after,
)
from aggregator.types import FetchResult

FEED = b"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'><title>t</title></feed>"
TEXT = (b"<rss version='2.0'><channel><title>compressed</title>" + b"<item/>" * 500 + b"</channel></rss>")
ETAG = '"v1"'
LAST_MOD = "Wed, 01 May 2024 10:00:00 GMT"


def _bomb() -> bytes:
    # 64 MiB of zeros in about 64 kB of gzip.
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * (1 << 20)
    return b"".join(c.compress(zeros) for _ in range(64)) + c.flush()


class Recorder:
    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.inflight: dict[str, int] = defaultdict(int)
        self.max_inflight: dict[str, int] = defaultdict(int)
        self.bomb = _bomb()


def make_app(rec: Recorder) -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/feed")
    async def feed(request: web.Request) -> web.StreamResponse:
        rec.seen.append(dict(request.headers))
        if request.headers.get("If-None-Match") == ETAG:
            return web.Response(status=304, headers={"ETag": ETAG, "Last-Modified": LAST_MOD})
        return web.Response(
            body=FEED,
            headers={"ETag": ETAG, "Last-Modified": LAST_MOD, "Content-Type": "application/atom+xml",
                     "Content-Location": "/feed.atom", "X-Many": "a"},
        )

    @routes.get("/bare-304")
    async def bare_304(request: web.Request) -> web.StreamResponse:
        rec.seen.append(dict(request.headers))
        if "If-Modified-Since" in request.headers:
            return web.Response(status=304)  # validators omitted on purpose
        return web.Response(body=FEED)

    @routes.get("/enc/{kind}")
    async def encoded(request: web.Request) -> web.StreamResponse:
        kind = request.match_info["kind"]
        if kind == "gzip":
            body, enc = gzip.compress(TEXT), "gzip"
        elif kind == "gzip-members":
            half = len(TEXT) // 2
            body, enc = gzip.compress(TEXT[:half]) + gzip.compress(TEXT[half:]), "gzip"
        elif kind == "deflate":
            body, enc = zlib.compress(TEXT), "deflate"
        elif kind == "raw-deflate":
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            body, enc = c.compress(TEXT) + c.flush(), "deflate"
        elif kind == "truncated":
            body, enc = gzip.compress(TEXT)[:-40], "gzip"
        elif kind == "garbage":
            body, enc = b"this is not gzip at all", "gzip"
        else:
            body, enc = TEXT, "br"
        return web.Response(body=body, headers={"Content-Encoding": enc, "Content-Type": "application/rss+xml"})

    @routes.get("/chain/{codes:.*}")
    async def chain(request: web.Request) -> web.StreamResponse:
        codes = [c for c in request.match_info["codes"].split("-") if c]
        if not codes:
            return web.Response(body=b"end of chain")
        rest = "-".join(codes[1:])
        return web.Response(status=int(codes[0]), headers={"Location": f"/chain/{rest}"})

    @routes.get("/a/b/relative")
    async def relative(request: web.Request) -> web.StreamResponse:
        return web.Response(status=301, headers={"Location": "../target?x=1"})

    @routes.get("/a/target")
    async def target(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"found " + request.query_string.encode())

    @routes.get("/loop/{n}")
    async def loop(request: web.Request) -> web.StreamResponse:
        other = "2" if request.match_info["n"] == "1" else "1"
        return web.Response(status=302, headers={"Location": f"/loop/{other}"})

    @routes.get("/no-location")
    async def no_location(request: web.Request) -> web.StreamResponse:
        return web.Response(status=301)

    @routes.get("/to-ftp")
    async def to_ftp(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": "ftp://127.0.0.1/feed"})

    @routes.get("/bad-location/{kind}")
    async def bad_location(request: web.Request) -> web.StreamResponse:
        target = {"ipv6": "http://[::1", "port": "http://127.0.0.1:99999/feed"}[request.match_info["kind"]]
        return web.Response(status=302, headers={"Location": target})

    @routes.get("/status/{code}")
    async def status(request: web.Request) -> web.StreamResponse:
        headers = {"Retry-After": request.query["ra"]} if "ra" in request.query else {}
        return web.Response(status=int(request.match_info["code"]), headers=headers, text="nope")

    @routes.get("/slow-head")
    async def slow_head(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.Response(body=FEED)

    @routes.get("/slow-body")
    async def slow_body(request: web.Request) -> web.StreamResponse:
        # ?status=404&stall=3: an error page that stalls
        resp = web.StreamResponse(status=int(request.query.get("status", 200)),
                                  headers={"Content-Type": "application/rss+xml"})
        await resp.prepare(request)
        await resp.write(b"<rss>")
        await asyncio.sleep(float(request.query.get("stall", 5)))
        return resp

    @routes.get("/trickle")
    async def trickle(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        for _ in range(100):
            await resp.write(b"x")
            await asyncio.sleep(0.05)
        return resp

    @routes.get("/endless")
    async def endless(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        chunk = b"<item>spam</item>" * 4000
        while True:  # ends when the client hangs up
            await resp.write(chunk)

    @routes.get("/declared-big")
    async def declared_big(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"x" * (2 << 20))

    @routes.get("/bomb")
    async def bomb(request: web.Request) -> web.StreamResponse:
        return web.Response(body=rec.bomb, headers={"Content-Encoding": "gzip"})

    @routes.get("/count/{name}/{n}")
    async def count(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        rec.inflight[name] += 1
        rec.max_inflight[name] = max(rec.max_inflight[name], rec.inflight[name])
        try:
            await asyncio.sleep(0.05)
        finally:
            rec.inflight[name] -= 1
        return web.Response(body=FEED)

    @routes.get("/ok/{n}")
    async def ok(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"feed " + request.match_info["n"].encode())

    @routes.get("/iri/{name}")
    async def iri(request: web.Request) -> web.StreamResponse:
        return web.Response(body=f"{request.raw_path} {request.match_info['name']}".encode())

    @routes.get("/slow-redirect")
    async def slow_redirect(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.3)
        return web.Response(status=302, headers={"Location": "/ok/1"})

    @routes.get("/sleep/{seconds}/{n}")
    async def sleep(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(float(request.match_info["seconds"]))
        return web.Response(body=FEED)

    @routes.get("/big404")
    async def big404(request: web.Request) -> web.StreamResponse:
        return web.Response(status=404, body=b"x" * (2 << 20))

    @routes.get("/endless503")
    async def endless503(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=503, headers={"Retry-After": "120"})
        await resp.prepare(request)
        while True:
            await resp.write(b"<p>busy</p>" * 4000)

    @routes.get("/utf8-location")
    async def utf8_location(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers={"Location": "/iri/café"})  # sent as UTF-8

    @routes.get("/goto")
    async def goto(request: web.Request) -> web.StreamResponse:
        rec.seen.append(dict(request.headers))
        return web.Response(status=int(request.query.get("status", 302)), headers={"Location": request.query["to"]})

    @routes.get("/two-locations")
    async def two_locations(request: web.Request) -> web.StreamResponse:
        return web.Response(status=302, headers=CIMultiDict([("Location", "/ok/1"), ("Location", "/ok/1")]))

    app = web.Application()
    app.add_routes(routes)
    return app


class ServerThread:
    """An aiohttp.web app served from its own event loop on two 127.0.0.1 ports (https
    with the test certificate when ``tls`` is given)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.rec = Recorder()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner, self.ports = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.ports[0]}"
        self.url2 = f"{scheme}://127.0.0.1:{self.ports[1]}"

    async def _start(self) -> tuple[web.AppRunner, list[int]]:
        runner = web.AppRunner(make_app(self.rec), handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        ports = []
        for _ in range(2):
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self.tls)
            await site.start()
            ports.append(runner.addresses[-1][1])
        return runner, ports

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    srv = ServerThread()
    yield srv
    srv.stop()


def fetch(url: str, **kw: Any) -> FetchResult:
    etag = kw.pop("etag", None)
    last_modified = kw.pop("last_modified", None)

    async def go() -> FetchResult:
        async with Fetcher(**kw) as f:
            return await f.fetch(FetchRequest("src", url, etag=etag, last_modified=last_modified))

    return asyncio.run(go())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- conditional GET and headers ---------------------------------------------------------------


def test_200_then_conditional_304(server: ServerThread) -> None:
    server.rec.seen.clear()
    first = fetch(f"{server.url}/feed")
    assert first.status == 200 and first.body == FEED and not first.not_modified
    assert first.etag == ETAG and first.last_modified == LAST_MOD
    assert first.url == f"{server.url}/feed" and first.permanent_redirect is None
    assert first.headers["content-type"] == "application/atom+xml"
    assert first.headers["content-location"] == "/feed.atom"
    assert all(name == name.lower() for name in first.headers)

    second = fetch(f"{server.url}/feed", etag=first.etag, last_modified=first.last_modified)
    assert second.status == 304 and second.not_modified and second.body is None
    assert second.etag == ETAG and second.last_modified == LAST_MOD

    plain, conditional = server.rec.seen
    assert "If-None-Match" not in plain and "If-Modified-Since" not in plain
    assert conditional["If-None-Match"] == ETAG
    assert conditional["If-Modified-Since"] == LAST_MOD
    for sent in (plain, conditional):
        assert sent["User-Agent"].startswith("aggregator/") and PROJECT_URL in sent["User-Agent"]
        assert sent["Accept"].startswith("application/atom+xml, application/rss+xml, application/feed+json")
        assert sent["Accept-Encoding"] == "gzip, deflate"


def test_304_without_validators_echoes_the_request_ones(server: ServerThread) -> None:
    res = fetch(f"{server.url}/bare-304", etag='W/"old"', last_modified=LAST_MOD)
    assert res.status == 304 and res.body is None
    assert res.etag == 'W/"old"' and res.last_modified == LAST_MOD


def test_200_without_validators_returns_none(server: ServerThread) -> None:
    res = fetch(f"{server.url}/ok/1", etag='"stale"')
    assert res.status == 200 and res.etag is None and res.last_modified is None


# --- content encodings ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gzip", "gzip-members", "deflate", "raw-deflate"])
def test_compressed_bodies_are_decoded(server: ServerThread, kind: str) -> None:
    res = fetch(f"{server.url}/enc/{kind}")
    assert res.body == TEXT
    assert "content-encoding" not in res.headers and "content-length" not in res.headers
    assert res.headers["content-type"] == "application/rss+xml"


@pytest.mark.parametrize(("kind", "message"), [
    ("truncated", "broken gzip body"),
    ("garbage", "broken gzip body"),
    ("br", "unsupported Content-Encoding 'br'"),
])
def test_broken_or_unknown_encodings_are_errors(server: ServerThread, kind: str, message: str) -> None:
    with pytest.raises(NetworkError, match=message) as failed:
        fetch(f"{server.url}/enc/{kind}")
    assert failed.value.status == 200  # the server answered: `status` shows it


# --- redirects -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("codes", "moved_to"), [
    ("301", ""),
    ("308", ""),
    ("301-308-301", ""),
    ("302", None),
    ("307", None),
    ("303", None),
    ("302-301", None),  # the URL asked for was only moved for now
    # A permanent hop moves the URL asked for, whatever its target then does (https, then
    # a CDN's temporary address): to the last permanent hop's target.
    ("301-302", "302"),
    ("308-307-301", "307-301"),
    ("301-308-302-301", "302-301"),
])
def test_redirect_chains(server: ServerThread, codes: str, moved_to: str | None) -> None:
    res = fetch(f"{server.url}/chain/{codes}")
    final = f"{server.url}/chain/"
    assert res.status == 200 and res.body == b"end of chain" and res.url == final
    assert res.permanent_redirect == (None if moved_to is None else f"{server.url}/chain/{moved_to}")
    # Its url is where the feed is for now when any hop was temporary (302, 303, 307).
    assert res.temporary == any(code in ("302", "303", "307") for code in codes.split("-"))


def test_relative_location_is_resolved(server: ServerThread) -> None:
    res = fetch(f"{server.url}/a/b/relative")
    assert res.url == f"{server.url}/a/target?x=1"
    assert res.body == b"found x=1"
    assert res.permanent_redirect == res.url and not res.temporary


def test_redirect_loop_is_an_error(server: ServerThread) -> None:
    with pytest.raises(RedirectError, match="redirect loop"):
        fetch(f"{server.url}/loop/1")


def test_too_many_redirects(server: ServerThread) -> None:
    assert fetch(f"{server.url}/chain/301-301-301", max_redirects=3).status == 200
    with pytest.raises(RedirectError, match=r"too many redirects \(more than 2\)"):
        fetch(f"{server.url}/chain/301-301-301", max_redirects=2)


def test_redirect_without_location_or_to_ftp(server: ServerThread) -> None:
    with pytest.raises(HTTPStatusError, match="without a Location"):
        fetch(f"{server.url}/no-location")
    with pytest.raises(RedirectError, match="not an http") as info:
        fetch(f"{server.url}/to-ftp")
    assert info.value.status == 302  # the server did answer: status shows it, as for a loop


@pytest.mark.parametrize(("kind", "problem"), [("ipv6", "Invalid IPv6 URL"), ("port", "Port out of range")])
def test_a_redirect_to_an_invalid_url_names_the_location(server: ServerThread, kind: str, problem: str) -> None:
    # The server's Location is at fault, not the URL fetched: the message says so.
    with pytest.raises(RedirectError, match=rf"^HTTP 302 redirect to an invalid URL '.+': {problem}") as info:
        fetch(f"{server.url}/bad-location/{kind}")
    assert "invalid URL http" not in str(info.value)


def _goto(base: str, to: str, status: int = 302) -> str:
    return f"{base}/goto?status={status}&to={quote(to, safe='')}"


@pytest.mark.parametrize("status", [301, 302])
def test_credentials_stay_with_their_origin_across_a_redirect(server: ServerThread, status: int) -> None:
    # A private feed's user and password are for its origin (scheme, host and port), as
    # browsers, curl and requests read them: another port of the same host is another
    # server (another user's, on a shared host), and gets no Authorization.
    origin = server.url.replace("http://", "http://reader:s3cret@")
    server.rec.seen.clear()
    res = fetch(_goto(origin, f"{server.url2}/feed", status))
    assert res.status == 200 and res.body == FEED
    first, second = server.rec.seen
    assert first["Authorization"] == "Basic " + base64.b64encode(b"reader:s3cret").decode()
    assert second["Host"] == f"127.0.0.1:{server.ports[1]}" and "Authorization" not in second
    assert res.url == f"{server.url2}/feed"
    assert res.permanent_redirect == (res.url if status == 301 else None)
    # The same origin keeps them: a new path must not lock the feed out.
    server.rec.seen.clear()
    fetch(_goto(origin, "/feed", status))
    assert [seen["Authorization"] for seen in server.rec.seen] == [first["Authorization"]] * 2


@pytest.mark.parametrize(("target", "carried"), [
    ("http://example.org/new", True),
    ("http://example.org:80/new", True),  # the default port, written out
    ("https://example.org/feed", True),  # a move to https on the default ports
    ("http://EXAMPLE.org/new", True),
    ("http://example.org:8001/feed", False),  # another port: another server
    ("https://example.org:8443/feed", False),
    ("http://other.example/feed", False),
])
def test_which_redirects_carry_the_credentials(target: str, carried: bool) -> None:
    from aggregator.fetch import _credentials_carried

    with_them = target.replace("://", "://me:pw@", 1)
    assert _credentials_carried("http://me:pw@example.org/feed", target) == (with_them if carried else target)
    # Never from https down to http, nor from one port to another.
    assert _credentials_carried("https://me:pw@example.org/feed", "http://example.org/feed") == "http://example.org/feed"
    assert (_credentials_carried("http://me:pw@example.org:8001/feed", "https://example.org/feed")
            == "https://example.org/feed")


def test_a_redirect_to_an_international_host_as_it_goes_on_the_wire_carries_the_credentials() -> None:
    # The config names the host as people write it, the server's Location as it is sent
    # (IDNA): the same host, whose move to https or a new path must not lock the feed out.
    from aggregator.fetch import _credentials_carried

    assert (_credentials_carried("http://me:pw@bücher.example/feed", "https://xn--bcher-kva.example/new")
            == "https://me:pw@xn--bcher-kva.example/new")
    assert (_credentials_carried("http://me:pw@xn--bcher-kva.example/feed", "http://BÜCHER.example/new")
            == "http://me:pw@BÜCHER.example/new")
    assert _credentials_carried("http://me:pw@bücher.example/feed", "http://bucher.example/") == "http://bucher.example/"


# --- error statuses ------------------------------------------------------------------------------


def test_404(server: ServerThread) -> None:
    with pytest.raises(HTTPStatusError) as info:
        fetch(f"{server.url}/status/404")
    assert str(info.value) == "HTTP 404 Not Found"
    assert info.value.status == 404 and info.value.retry_after is None
    assert not isinstance(info.value, GoneError)


def test_410_is_gone(server: ServerThread) -> None:
    with pytest.raises(GoneError, match="HTTP 410 Gone") as info:
        fetch(f"{server.url}/status/410")
    assert info.value.status == 410


def test_500(server: ServerThread) -> None:
    with pytest.raises(HTTPStatusError, match="HTTP 500 Internal Server Error") as info:
        fetch(f"{server.url}/status/500")
    assert info.value.retry_after is None


def test_429_retry_after_seconds(server: ServerThread) -> None:
    with pytest.raises(HTTPStatusError, match="HTTP 429 Too Many Requests") as info:
        fetch(f"{server.url}/status/429?ra=120")
    assert info.value.retry_after == 120.0


def test_503_retry_after_http_date(server: ServerThread) -> None:
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=300), usegmt=True)
    with pytest.raises(HTTPStatusError, match="HTTP 503 Service Unavailable") as info:
        fetch(f"{server.url}/status/503?ra={when}")
    assert info.value.retry_after is not None and 290 <= info.value.retry_after <= 300


def test_parse_retry_after() -> None:
    now = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
    assert parse_retry_after("30", now) == 30.0
    assert parse_retry_after("Wed, 01 May 2024 10:02:00 GMT", now) == 120.0
    assert parse_retry_after("Wed, 01 May 2024 09:00:00 GMT", now) == 0.0  # in the past: retry now
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) is None
    assert parse_retry_after("\xb2", now) is None  # a superscript two: a digit to str.isdigit(), not to float()
    assert parse_retry_after("\u0663\u0660", now) is None  # Arabic-Indic digits
    assert parse_retry_after("9" * 400, now) == float("inf")  # policy.next_delay bounds it
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now) > 2.5e11  # likewise
    assert parse_retry_after(None, now) is None
    # Sent twice (a proxy adding its own, merged as one list, RFC 9110 §5.3): it was no
    # value at all, and only the usual backoff applied; the longer wait is taken.
    assert parse_retry_after("120, 120", now) == 120.0
    assert parse_retry_after("30,3600", now) == 3600.0
    assert parse_retry_after("Wed, 01 May 2024 10:02:00 GMT, Wed, 01 May 2024 10:05:00 GMT", now) == 300.0
    assert parse_retry_after("30, soon", now) is None


# --- timeouts and caps ---------------------------------------------------------------------------


def test_read_timeout_while_reading_the_body(server: ServerThread) -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutFetchError, match=r"^timed out after 0.3 s reading the body$") as failed:
        fetch(f"{server.url}/slow-body", read_timeout=0.3)
    assert time.monotonic() - start < 2
    assert failed.value.status == 200  # the server did answer: status shows it


def test_read_timeout_waiting_for_the_response(server: ServerThread) -> None:
    with pytest.raises(TimeoutFetchError, match=r"^timed out after 0.3 s waiting for the response$") as failed:
        fetch(f"{server.url}/slow-head", read_timeout=0.3)
    assert failed.value.status is None  # no answer yet


def test_total_timeout_on_a_trickling_body(server: ServerThread) -> None:
    start = time.monotonic()
    with pytest.raises(TimeoutFetchError, match=r"^timed out after 0.5 s in total$") as failed:
        fetch(f"{server.url}/trickle", read_timeout=1, total_timeout=0.5)
    assert time.monotonic() - start < 2
    assert failed.value.status == 200


def test_endless_body_stops_at_the_cap(server: ServerThread) -> None:
    start = time.monotonic()
    with pytest.raises(TooLargeError, match=r"^body larger than 256 KiB$"):
        fetch(f"{server.url}/endless", max_bytes=256 * 1024)
    assert time.monotonic() - start < 2


def test_declared_length_over_the_cap(server: ServerThread) -> None:
    with pytest.raises(TooLargeError, match=r"^body larger than 1 MiB$"):
        fetch(f"{server.url}/declared-big", max_bytes=1 << 20)
    assert len(fetch(f"{server.url}/declared-big", max_bytes=2 << 20).body or b"") == 2 << 20


def test_gzip_bomb_is_not_inflated_past_the_cap(server: ServerThread) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(TooLargeError, match="body larger than 512 KiB"):
            fetch(f"{server.url}/bomb", max_bytes=512 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The bomb inflates to 64 MiB; we must never have held more than a few cap-sized buffers.
    assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_connection_refused() -> None:
    port = free_port()
    with pytest.raises(NetworkError) as info:
        fetch(f"http://127.0.0.1:{port}/feed")
    assert str(info.value) == f"connection refused (127.0.0.1:{port})"


@pytest.mark.parametrize(("url", "message"), [
    ("ftp://127.0.0.1/feed", "not an http(s) URL"),
    ("not a url", "not an http(s) URL"),
    ("http://127.0.0.1:99999/feed", "invalid URL http://127.0.0.1:99999/feed: Port out of range"),
    ("http:///nohost", "invalid URL http:///nohost"),
])
def test_unfetchable_urls_raise_fetch_errors(url: str, message: str) -> None:
    with pytest.raises(FetchError) as info:
        fetch(url)
    assert message in str(info.value)


# --- many at once --------------------------------------------------------------------------------


def test_fetch_many_isolates_failures(server: ServerThread) -> None:
    reqs = [FetchRequest(f"s{i}", f"{server.url}/ok/{i}") for i in range(17)]
    reqs += [
        FetchRequest("missing", f"{server.url}/status/404"),
        FetchRequest("broken", f"{server.url}/status/500"),
        FetchRequest("down", f"http://127.0.0.1:{free_port()}/feed"),
    ]
    results = fetch_many_sync(reqs, max_per_host=4)
    assert list(results) == [r.key for r in reqs]
    for i in range(17):
        res = results[f"s{i}"]
        assert isinstance(res, FetchResult) and res.body == f"feed {i}".encode()
    assert isinstance(results["missing"], HTTPStatusError) and results["missing"].status == 404
    assert isinstance(results["broken"], HTTPStatusError) and results["broken"].status == 500
    assert isinstance(results["down"], NetworkError)


def test_fetch_many_rejects_duplicate_keys() -> None:
    with pytest.raises(ValueError):
        fetch_many_sync([FetchRequest("a", "http://127.0.0.1:1/"), FetchRequest("a", "http://127.0.0.1:2/")])


def test_concurrency_is_bounded_per_host(server: ServerThread) -> None:
    reqs = [FetchRequest(f"k{i}", f"{server.url}/count/per-host/{i}") for i in range(30)]
    results = asyncio.run(fetch_many(reqs, max_per_host=3))
    assert all(isinstance(r, FetchResult) for r in results.values())
    assert server.rec.max_inflight["per-host"] == 3


def test_concurrency_is_bounded_overall(server: ServerThread) -> None:
    # Two ports are two hosts: 3 per host would allow 6, the global limit keeps it to 4.
    reqs = [FetchRequest(f"a{i}", f"{server.url}/count/overall/{i}") for i in range(20)]
    reqs += [FetchRequest(f"b{i}", f"{server.url2}/count/overall/{i}") for i in range(20)]
    results = fetch_many_sync(reqs, max_per_host=3, max_connections=4)
    assert all(isinstance(r, FetchResult) for r in results.values())
    assert server.rec.max_inflight["overall"] == 4


def test_fetch_outside_the_context_manager_is_a_programming_error() -> None:
    async def go() -> None:
        await Fetcher().fetch(FetchRequest("x", "http://127.0.0.1:1/"))

    with pytest.raises(RuntimeError):
        asyncio.run(go())


def test_response_headers_are_lower_cased_and_repeated_fields_combined() -> None:
    from aggregator.fetch import _lower_headers

    single = [b"Content-Type: application/rss+xml\r\n", b"ETag:   \"x\"  \r\n", b"\r\n"]
    assert _lower_headers(single) == {"content-type": "application/rss+xml", "etag": '"x"'}
    repeated = [b"Vary: Accept\r\n", b'ETag: "x"\r\n', b"vary: Accept-Encoding\r\n", b"\r\n"]
    assert _lower_headers(repeated) == {"vary": "Accept, Accept-Encoding", "etag": '"x"'}
    folded = [b"X-Long: one\r\n", b"  two\r\n", b"Caf\xe9: ol\xe9\r\n", b"no colon here\r\n"]
    assert _lower_headers(folded) == {"x-long": "one two", "caf\xe9": "ol\xe9"}


# --- what the transfer thread adds ---------------------------------------------------------------


def test_time_waiting_for_a_slot_is_not_counted_against_the_total_timeout(server: ServerThread) -> None:
    # One connection, eight answers of 0.1 s each: the last one waits 0.7 s for the slot.
    reqs = [FetchRequest(f"q{i}", f"{server.url}/sleep/0.1/{i}") for i in range(8)]
    results = fetch_many_sync(reqs, max_connections=1, total_timeout=0.5)
    assert all(isinstance(r, FetchResult) and r.body == FEED for r in results.values()), results


def test_a_cancelled_fetch_aborts_its_transfer_and_the_others_go_on(server: ServerThread) -> None:
    async def go() -> tuple[float, FetchResult]:
        async with Fetcher(max_connections=1) as f:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(f.fetch(FetchRequest("slow", f"{server.url}/slow-head")), 0.2)
            # The only slot is free again at once: the slow transfer was aborted.
            start = time.monotonic()
            res = await f.fetch(FetchRequest("next", f"{server.url}/ok/7"))
            return time.monotonic() - start, res

    took, res = asyncio.run(go())
    assert res.body == b"feed 7" and took < 1


def test_international_urls_are_sent_percent_encoded(server: ServerThread) -> None:
    res = fetch(f"{server.url}/iri/café feed#part")
    assert res.body == "/iri/caf%C3%A9%20feed café feed".encode()


def test_a_request_libcurl_cannot_send_is_an_error_of_its_own(server: ServerThread) -> None:
    with pytest.raises(FetchError, match="^cannot send the request: embedded null byte"):
        fetch(f"{server.url}/feed", etag='"a\x00b"')
    assert fetch(f"{server.url}/ok/3").body == b"feed 3"


def test_a_broken_transfer_thread_fails_its_fetches_instead_of_hanging(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from aggregator import fetch as fetch_module

    def broken(self: Any) -> Any:
        raise RuntimeError("no handle today")

    monkeypatch.setattr(fetch_module._CurlThread, "_new_handle", broken)

    async def go() -> list[FetchResult | FetchError]:
        async with Fetcher() as f:
            first = await asyncio.gather(*(f.fetch(FetchRequest(f"k{i}", f"{server.url}/ok/{i}"))
                                           for i in range(3)), return_exceptions=True)
            later = await asyncio.gather(f.fetch(FetchRequest("later", f"{server.url}/ok/9")),
                                         return_exceptions=True)
            return [*first, *later]

    results = asyncio.run(asyncio.wait_for(go(), 10))
    assert all(isinstance(r, NetworkError) and "the fetch thread stopped: RuntimeError('no handle today')" in str(r)
               for r in results), results
    assert "the fetch thread stopped" in caplog.text


@pytest.fixture(scope="module")
def tls_server() -> Iterator[ServerThread]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS_DIR / "cert.pem", TLS_DIR / "key.pem")
    srv = ServerThread(tls=context)
    yield srv
    srv.stop()


def test_https_with_an_untrusted_certificate_is_a_tls_error(tls_server: ServerThread) -> None:
    with pytest.raises(NetworkError, match=r"^TLS error: .*certificate"):
        fetch(f"{tls_server.url}/feed")


def test_https_trusts_what_pythons_ssl_module_trusts(tls_server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    # SSL_CERT_FILE is the ssl module's own way to name trusted certificates; libcurl follows it.
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS_DIR / "cert.pem"))
    res = fetch(f"{tls_server.url}/feed")
    assert res.status == 200 and res.body == FEED and res.etag == ETAG


def test_read_timeout_on_a_reused_connection(server: ServerThread) -> None:
    async def go() -> None:
        async with Fetcher(read_timeout=0.3, max_connections=1) as f:
            assert (await f.fetch(FetchRequest("warm", f"{server.url}/ok/1"))).body == b"feed 1"
            start = time.monotonic()
            with pytest.raises(TimeoutFetchError, match=r"^timed out after 0.3 s waiting for the response$"):
                await f.fetch(FetchRequest("slow", f"{server.url}/slow-head"))
            assert time.monotonic() - start < 2

    asyncio.run(go())


def test_a_body_comes_with_its_sha256_when_it_is_the_body_as_sent(server: ServerThread) -> None:
    import hashlib

    plain = fetch(f"{server.url}/feed")
    assert plain.body_sha256 == hashlib.sha256(FEED).hexdigest()
    # Decoded here, not as sent: the hash of the decoded body is for the caller to take,
    # and the transfer thread does not hash the encoded one for nothing.
    assert fetch(f"{server.url}/enc/gzip").body_sha256 is None
    from aggregator.fetch import _Answer

    assert _Answer(200, [b"HTTP/1.1 200 OK\r\n", b"content-Encoding: gzip\r\n"], b"x", 0.0).sha256 is None
    assert _Answer(200, [b"HTTP/1.1 200 OK\r\n"], b"x", 0.0).sha256 == hashlib.sha256(b"x").hexdigest()
    assert fetch(f"{server.url}/feed", etag=ETAG).body_sha256 is None  # a 304 has no body


# --- review ----------------------------------------------------------------------------------------


def test_leaving_the_context_fails_the_fetches_still_running(server: ServerThread) -> None:
    async def go() -> list[BaseException | None]:
        async with Fetcher(max_connections=1) as f:
            running = asyncio.create_task(f.fetch(FetchRequest("a", f"{server.url}/slow-head")))
            queued = asyncio.create_task(f.fetch(FetchRequest("b", f"{server.url}/ok/1")))
            await asyncio.sleep(0.2)
        done, pending = await asyncio.wait([running, queued], timeout=2)
        for t in pending:
            t.cancel()
        assert not pending, "a fetch still running when the Fetcher closed never ends"
        return [t.exception() for t in (running, queued)]

    assert all(isinstance(e, FetchError) for e in asyncio.run(go()))


@pytest.mark.parametrize(("path", "kw"), [
    ("/big404", {"max_bytes": 1 << 20}),  # not TooLargeError
    ("/endless503", {"max_bytes": 256 * 1024}),  # not TooLargeError: Retry-After is kept
    ("/slow-body?status=404&stall=3", {"read_timeout": 0.5}),  # not TimeoutFetchError
])
def test_an_error_status_is_not_lost_to_its_body(server: ServerThread, path: str, kw: dict[str, Any]) -> None:
    start = time.monotonic()
    with pytest.raises(HTTPStatusError) as info:
        fetch(f"{server.url}{path}", **kw)
    assert info.value.status in (404, 503) and time.monotonic() - start < 0.5
    if info.value.status == 503:
        assert info.value.retry_after == 120


def test_a_utf8_location_is_followed_as_sent(server: ServerThread) -> None:
    res = fetch(f"{server.url}/utf8-location")
    assert res.body == "/iri/caf%C3%A9 café".encode()


def test_a_repeated_location_takes_the_first(server: ServerThread) -> None:
    assert fetch(f"{server.url}/two-locations").body == b"feed 1"


def test_international_host_names_are_idna_2008() -> None:
    from aggregator.fetch import _wire_url

    assert _wire_url("http://faß.de/") == b"http://xn--fa-hia.de/"  # IDNA 2003: fass.de, another host
    assert _wire_url("http://βόλος.com/") == b"http://xn--nxasmm1c.com/"


def _raw_server(answer: bytes, *, tls: ssl.SSLContext | None = None, handshake_delay: float = 0.0,
                answer_delay: float = 0.0) -> int:
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)

    def one(s: socket.socket) -> None:
        time.sleep(handshake_delay)
        conn = tls.wrap_socket(s, server_side=True) if tls else s
        with conn:
            conn.recv(65536)
            time.sleep(answer_delay)
            try:
                conn.sendall(answer)
            except OSError:
                pass  # the client gave up

    def serve() -> None:
        while True:
            s, _ = ls.accept()
            threading.Thread(target=one, args=(s,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return ls.getsockname()[1]


def test_read_timeout_counts_from_the_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    # The TLS handshake starts 0.6 s late (connecting, within connect_timeout); the answer
    # comes 0.1 s after the request: never 0.3 s without bytes once connected.
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS_DIR / "cert.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS_DIR / "cert.pem", TLS_DIR / "key.pem")
    port = _raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                       tls=context, handshake_delay=0.6, answer_delay=0.1)
    assert fetch(f"https://127.0.0.1:{port}/", read_timeout=0.3, connect_timeout=5).body == b"ok"


def test_a_connect_timeout_names_the_host_without_the_user_and_password() -> None:
    # A private feed's https server that takes the connection and never starts TLS: the
    # error (shown by status, /healthz, the log) names where it connected, not its password.
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(4)
        port = ls.getsockname()[1]
        with pytest.raises(TimeoutFetchError) as failed:
            fetch(f"https://reader:s3cret@127.0.0.1:{port}/feed", connect_timeout=0.3)
    assert str(failed.value) == f"timed out after 0.3 s connecting to 127.0.0.1:{port}"


def test_trailers_are_not_response_headers() -> None:
    port = _raw_server(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: \"a\"\r\n\r\n"
                       b"2\r\nok\r\n0\r\nETag: \"b\"\r\nX-T: t\r\n\r\n")
    res = fetch(f"http://127.0.0.1:{port}/")
    assert res.body == b"ok" and res.etag == '"a"' and "x-t" not in res.headers


def test_a_dying_thread_still_delivers_what_it_had_finished(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aggregator import fetch as fetch_module

    made = fetch_module._CurlThread._new_handle
    calls: list[int] = []

    def second_fails(self: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("no second handle")
        return made(self)

    monkeypatch.setattr(fetch_module._CurlThread, "_new_handle", second_fails)

    async def go() -> Any:
        async with Fetcher() as f:
            # One batch: a's request is refused (its outcome waits in the thread's list),
            # b reuses that handle, c needs a second one and the thread dies.
            return await asyncio.wait_for(asyncio.gather(
                f.fetch(FetchRequest("a", f"{server.url}/ok/1", etag='"a\x00b"')),
                f.fetch(FetchRequest("b", f"{server.url}/ok/2")),
                f.fetch(FetchRequest("c", f"{server.url}/ok/3")), return_exceptions=True), 2)

    a, b, c = asyncio.run(go())
    assert "cannot send the request" in str(a)


def test_an_answer_reaped_before_the_thread_dies_is_still_delivered(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finished transfer leaves the running set as it is reaped, before its answer is
    made (the next requests leave first): a fault in between must not lose its answer."""
    from aggregator import fetch as fetch_module

    real = pycurl.CurlMulti

    class FaultAfterReporting:
        """libcurl's multi handle, whose info_read fails on the call after one reporting a
        finished transfer (that one claims more messages are queued, so the loop asks again)."""

        def __init__(self) -> None:
            self._multi = real()
            self._armed = False

        def __getattr__(self, name: str) -> Any:
            return getattr(self._multi, name)

        def info_read(self, *args: Any) -> Any:
            if self._armed:
                raise pycurl.error(-1, "injected fault")
            left, ok, failed = self._multi.info_read(*args)
            if ok:
                self._armed = True
                return 1, ok, failed
            return left, ok, failed

    monkeypatch.setattr(fetch_module.pycurl, "CurlMulti", FaultAfterReporting)

    async def go() -> FetchResult:
        async with Fetcher() as f:
            return await asyncio.wait_for(f.fetch(FetchRequest("a", f"{server.url}/ok/1")), 5)

    assert asyncio.run(go()).body == b"feed 1"


def test_a_later_hop_out_of_time_while_waiting_for_a_slot_fails_at_its_deadline(server: ServerThread) -> None:
    # One slot. The redirect's first hop takes 0.3 s of a 0.8 s budget; its second hop
    # then waits behind a 3 s answer, and fails when the budget ends, not when the slot frees.
    async def go() -> tuple[BaseException | FetchResult, float]:
        async with Fetcher(max_connections=1, total_timeout=0.8) as f:
            start = time.monotonic()
            redirected = asyncio.create_task(f.fetch(FetchRequest("r", f"{server.url}/slow-redirect")))
            await asyncio.sleep(0.05)
            blocker = asyncio.create_task(f.fetch(FetchRequest("b", f"{server.url}/sleep/3/1")))
            try:
                res: BaseException | FetchResult = await redirected
            except FetchError as e:
                res = e
            took = time.monotonic() - start
            blocker.cancel()
            return res, took

    res, took = asyncio.run(go())
    assert isinstance(res, TimeoutFetchError) and str(res) == "timed out after 0.8 s in total"
    assert took < 1.05, took


def test_tabs_and_line_breaks_in_a_url_are_dropped(server: ServerThread) -> None:
    assert fetch(f"{server.url}/ok/\t5\n").body == b"feed 5"


def test_the_cap_holds_where_libcurl_checks_only_a_declared_length(server: ServerThread) -> None:
    # libcurl before 8.4 applies MAXFILESIZE to Content-Length alone: the body callback caps too.
    import pycurl

    async def go() -> None:
        async with Fetcher(max_bytes=256 * 1024) as f:
            assert f._curl is not None
            f._curl._options = [(o, v) for o, v in f._curl._options if o != pycurl.MAXFILESIZE_LARGE]
            await f.fetch(FetchRequest("endless", f"{server.url}/endless"))

    start = time.monotonic()
    with pytest.raises(TooLargeError, match=r"^body larger than 256 KiB$"):
        asyncio.run(go())
    assert time.monotonic() - start < 2


@pytest.mark.parametrize("holes", [0, 4])
def test_answers_on_sockets_numbered_past_1024_are_not_left_to_the_tick(server: ServerThread, holes: int) -> None:
    """select()'s fd sets stop at 1,023 (libcurl's fdset leaves the rest out); a process
    with many files open (a service with many readers connected) still gets its answers
    at once. ``holes``: numbers freed below 1,024, so the fetcher's own pipe and libcurl's
    eventfd are named by fdset while the socket is not."""
    import os
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1200
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"the open-file limit ({hard}) is too low")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    held = []
    try:
        while True:  # every free number up to 1,100 taken: the fetcher's socket comes after
            fd = os.open(os.devnull, os.O_RDONLY)
            held.append(fd)
            if fd >= 1100:
                break

        async def go() -> tuple[list[FetchResult], float]:
            for fd in held[500:500 + holes]:  # now, after the event loop took its own files
                os.close(fd)
            held[500:500 + holes] = []
            async with Fetcher(max_connections=1) as f:
                start = time.monotonic()
                got = [await f.fetch(FetchRequest(str(i), f"{server.url}/ok/{i}")) for i in range(20)]
                return got, time.monotonic() - start

        results, took = asyncio.run(asyncio.wait_for(go(), 30))
        assert [r.body for r in results] == [f"feed {i}".encode() for i in range(20)]
        # 20 answers one after another on one connection: milliseconds each, not the 50 ms
        # the transfer thread sleeps when it cannot see a socket (its one connect may).
        assert took < 0.6, took
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_reason_phrase_in_utf_8_is_read_so_and_a_long_one_cut() -> None:
    # RFC 9110 leaves the reason phrase's bytes to the server: many send UTF-8 ("Überlastet").
    # It was read as Latin-1 ("Ãberlastet"), and a phrase of any length was stored and shown
    # whole; bytes that are no UTF-8 are still read as Latin-1.
    def error(phrase: bytes) -> str:
        port = _raw_server(b"HTTP/1.1 503 " + phrase + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        with pytest.raises(HTTPStatusError) as info:
            fetch(f"http://127.0.0.1:{port}/feed")
        return str(info.value)

    assert error("Dienst überlastet".encode()) == "HTTP 503 Dienst überlastet"
    assert error(b"Busy \xe9t\xe9") == "HTTP 503 Busy \xe9t\xe9"
    long = error(b"x" * 5000)
    assert long == "HTTP 503 " + "x" * 199 + "\u2026"
