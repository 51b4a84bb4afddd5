"""HTTP fetching of external feeds: conditional GET, redirects, caps, timeouts, bounded concurrency.

The fetcher returns bytes, headers and caching information; it never parses. Every failure
leaves ``Fetcher.fetch`` as a ``FetchError`` subclass, so one broken source can be recorded and
skipped without disturbing the others.
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import http
import ssl
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import aiohttp
from multidict import CIMultiDictProxy

import aggregator
from aggregator.errors import FetchError
from aggregator.types import FetchResult

ACCEPT = (
    "application/atom+xml, application/rss+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
_CHUNK = 64 * 1024


class HTTPStatusError(FetchError):
    """The server answered with a 4xx/5xx (or an unusable 3xx) status."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None):
        super().__init__(message, status=status)
        self.retry_after = retry_after  # seconds the server asked us to wait, if it said


class GoneError(HTTPStatusError):
    """410 Gone: the source is retired."""


class RedirectError(FetchError):
    """A redirect loop, too many redirects, or a redirect to something we cannot fetch."""


class TooLargeError(FetchError):
    """The (decompressed) body is larger than the cap."""


class TimeoutFetchError(FetchError):
    """Connecting, waiting for the answer, reading the body, or the whole exchange took too long."""


class NetworkError(FetchError):
    """DNS, refused or reset connections, TLS failures, broken transfers."""


@dataclass(frozen=True)
class FetchRequest:
    key: str  # the source name
    url: str
    etag: str | None = None
    last_modified: str | None = None


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor:
            return f"{n / factor:g} {unit}"
    return f"{n} bytes"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date); None if unusable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT by definition
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _lower_headers(raw: CIMultiDictProxy[str]) -> dict[str, str]:
    headers = {name.lower(): value for name, value in raw.items()}
    if len(headers) == len(raw):
        return headers  # no field repeated: the usual answer, in one pass
    headers = {}
    for name, value in raw.items():
        name = name.lower()
        # Repeated fields combine into one comma-separated value (RFC 9110 §5.3).
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def host_key(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    return _host_key(parts.scheme.lower(), parts)


def _host_key(scheme: str, parts: SplitResult) -> tuple[str, str, int]:
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


class _Decoder:
    """Undo a gzip/deflate Content-Encoding incrementally, never producing more than asked.

    We decode ourselves (``auto_decompress=False``) because a 100 kB gzip bomb can inflate to
    100 MB inside a single network chunk; zlib's ``max_length`` lets us stop at the cap.
    """

    def __init__(self, encoding: str):
        self.encoding = encoding
        self._gzip = encoding in ("gzip", "x-gzip")
        self._obj: Any = None
        self._pending = b""
        self._done = False

    def _new(self, first: bytes) -> Any:
        if self._gzip:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # "deflate" is meant to be zlib-wrapped, but some servers send raw deflate.
        wrapped = first[0] & 0x0F == 8 and ((first[0] << 8) | first[1]) % 31 == 0
        return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)

    def feed(self, data: bytes, limit: int) -> bytes:
        """Decode ``data``; return at most ``limit`` bytes (more would exceed the cap)."""
        out = bytearray()
        data = self._pending + data
        self._pending = b""
        while data and not self._done and len(out) < limit:
            if self._obj is None:
                if len(data) < 2:  # not enough to tell zlib from raw deflate yet
                    self._pending = data
                    break
                self._obj = self._new(data)
            out += self._obj.decompress(data, limit - len(out))
            if self._obj.unconsumed_tail:
                break  # output reached the limit: the caller sees the cap exceeded
            data = self._obj.unused_data
            if self._obj.eof:
                if self._gzip and data.strip(b"\0"):
                    self._obj = None  # concatenated gzip members form one valid body
                else:
                    self._done = True  # trailing padding after the stream is ignored
        return bytes(out)

    def finish(self) -> bytes:
        if self._pending or (self._obj is not None and not self._done):
            raise zlib.error("compressed stream ended early")
        return b""


class Fetcher:
    """Fetch feeds over one aiohttp session; use as ``async with Fetcher(...) as f``."""

    def __init__(
        self,
        *,
        max_connections: int = 64,
        max_per_host: int = 8,
        connect_timeout: float = 10,
        read_timeout: float = 30,
        total_timeout: float = 60,
        max_bytes: int = 10 * 1024 * 1024,
        user_agent: str = aggregator.USER_AGENT,
        max_redirects: int = 10,
    ):
        if max_connections < 1 or max_per_host < 1:
            raise ValueError("max_connections and max_per_host must be at least 1")
        self.max_connections = max_connections
        self.max_per_host = max_per_host
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        self.user_agent = user_agent
        self.max_redirects = max_redirects
        self._session: aiohttp.ClientSession | None = None
        # Our own gates mirror the connector's limits so that time spent queueing for a slot is
        # not counted against a request's total timeout (aiohttp's `total` includes pool waits,
        # which would time out the tail of a 1,000-feed refresh).
        self._all = asyncio.Semaphore(max_connections)
        self._hosts: dict[tuple[str, str, int], asyncio.Semaphore] = {}

    async def __aenter__(self) -> Fetcher:
        connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=self.max_per_host)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self.connect_timeout, sock_read=self.read_timeout
            ),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # one feed's cookies must not leak to another
            headers={"User-Agent": self.user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"},
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _host_gate(self, key: tuple[str, str, int]) -> asyncio.Semaphore:
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = asyncio.Semaphore(self.max_per_host)
        return host

    async def fetch(self, req: FetchRequest) -> FetchResult:
        """GET ``req.url``; return the final 2xx/304 answer or raise a ``FetchError`` subclass."""
        if self._session is None:
            raise RuntimeError("Fetcher must be used as an async context manager")
        headers: dict[str, str] | None = None  # None: aiohttp then merges no per-request headers
        if req.etag or req.last_modified:
            headers = {}
            if req.etag:
                headers["If-None-Match"] = req.etag
            if req.last_modified:
                headers["If-Modified-Since"] = req.last_modified
        state = {"phase": "response"}  # "body" once headers are in: says which wait timed out
        deadline = asyncio.timeout(None)
        try:
            async with deadline:
                return await self._follow(req, headers, state, deadline)
        except FetchError:
            raise
        except TimeoutError as e:
            if deadline.expired():
                raise TimeoutFetchError(f"timed out after {_seconds(self.total_timeout)} in total") from e
            if isinstance(e, aiohttp.ConnectionTimeoutError):
                where = urlsplit(state.get("url", req.url)).netloc
                raise TimeoutFetchError(f"timed out after {_seconds(self.connect_timeout)} connecting to {where}") from e
            what = "reading the body" if state["phase"] == "body" else "waiting for the response"
            raise TimeoutFetchError(f"timed out after {_seconds(self.read_timeout)} {what}") from e
        except aiohttp.ClientError as e:
            raise _network_error(e) from e
        except ValueError as e:  # yarl/urllib reject some URLs only when they are used
            raise FetchError(f"invalid URL {state.get('url', req.url)}: {e}") from e
        except OSError as e:
            raise NetworkError(f"{type(e).__name__}: {e}") from e

    async def _follow(
        self, req: FetchRequest, headers: dict[str, str] | None, state: dict[str, str], deadline: asyncio.Timeout
    ) -> FetchResult:
        url = req.url
        seen = {url}
        permanent = True
        hops = 0
        loop = asyncio.get_running_loop()
        session = self._session
        assert session is not None
        while True:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if scheme not in ("http", "https"):
                cls = RedirectError if hops else FetchError
                raise cls(f"cannot fetch {url!r}: not an http(s) URL")
            state["url"] = url
            # Per-host gate first, then the global one: a consistent order cannot deadlock,
            # and a request waiting for a busy host does not hold one of the global slots.
            # Plain acquire/release, not a context manager: this runs for every request.
            host = self._host_gate(_host_key(scheme, parts))
            await host.acquire()
            try:
                await self._all.acquire()
                try:
                    if deadline.when() is None:  # the total budget starts once we hold a connection slot
                        deadline.reschedule(loop.time() + self.total_timeout)
                    state["phase"] = "response"
                    async with session.get(url, headers=headers, allow_redirects=False) as resp:
                        status = resp.status
                        if status in _REDIRECTS:
                            location = resp.headers.get("Location")
                            if not location:
                                raise HTTPStatusError(f"HTTP {status} redirect without a Location", status=status)
                        elif status == 304:
                            hdrs = _lower_headers(resp.headers)
                            return FetchResult(
                                url=url,
                                status=304,
                                headers=hdrs,
                                body=None,
                                etag=hdrs.get("etag") or req.etag,
                                last_modified=hdrs.get("last-modified") or req.last_modified,
                                permanent_redirect=url if hops and permanent else None,
                            )
                        elif 200 <= status < 300:
                            state["phase"] = "body"
                            body = await self._read_body(resp)
                            hdrs = _lower_headers(resp.headers)
                            if "content-encoding" in hdrs:  # the body we return is decoded
                                hdrs.pop("content-encoding")
                                hdrs.pop("content-length", None)
                            return FetchResult(
                                url=url,
                                status=status,
                                headers=hdrs,
                                body=body,
                                etag=hdrs.get("etag"),
                                last_modified=hdrs.get("last-modified"),
                                permanent_redirect=url if hops and permanent else None,
                            )
                        else:
                            raise _status_error(status, resp.reason, resp.headers.get("Retry-After"))
                finally:
                    self._all.release()
            finally:
                host.release()
            # A redirect: resolve it outside the slots so the next hop queues like any request.
            hops += 1
            permanent = permanent and status in _PERMANENT
            target = urljoin(url, location.strip())
            if target in seen:
                raise RedirectError(f"redirect loop: {url} -> {target}", status=status)
            if hops > self.max_redirects:
                raise RedirectError(f"too many redirects (more than {self.max_redirects})", status=status)
            seen.add(target)
            url = target

    async def _read_body(self, resp: aiohttp.ClientResponse) -> bytes:
        cap = self.max_bytes
        too_large = f"body larger than {_size(cap)}"
        encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding in ("identity", ""):
            decoder = None
            length = resp.content_length
            if length is not None:
                if length > cap:
                    raise TooLargeError(too_large)  # no need to read what we would refuse
                # aiohttp's parser stops at the declared length: within the cap, one read
                # is cheaper than a loop of chunks (most feeds say how long they are).
                return await resp.content.read()
        elif encoding in ("gzip", "x-gzip", "deflate"):
            decoder = _Decoder(encoding)
        else:
            raise NetworkError(f"unsupported Content-Encoding {encoding!r}")
        body = bytearray()
        try:
            async for chunk in resp.content.iter_chunked(_CHUNK):
                # Ask for one byte beyond the cap: getting it proves the body is too large.
                body += decoder.feed(chunk, cap + 1 - len(body)) if decoder else chunk
                if len(body) > cap:
                    raise TooLargeError(too_large)
            if decoder:
                body += decoder.finish()
        except zlib.error as e:
            raise NetworkError(f"broken {encoding} body: {e}") from e
        if len(body) > cap:
            raise TooLargeError(too_large)
        return bytes(body)


def _status_error(status: int, reason: str | None, retry_after: str | None) -> HTTPStatusError:
    try:
        phrase = reason or http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    cls = GoneError if status == 410 else HTTPStatusError
    return cls(f"HTTP {status} {phrase}".rstrip(), status=status, retry_after=parse_retry_after(retry_after))


def _network_error(e: aiohttp.ClientError) -> FetchError:
    if isinstance(e, aiohttp.ClientConnectorDNSError):
        return NetworkError(f"could not resolve host {e.host}")
    if isinstance(e, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError)) or isinstance(
        getattr(e, "os_error", None), ssl.SSLError
    ):
        return NetworkError(f"TLS error: {e}")
    if isinstance(e, aiohttp.ClientConnectorError):
        where = f"{e.host}:{e.port}"
        code = e.os_error.errno
        if isinstance(e.os_error, ConnectionRefusedError) or code == errno.ECONNREFUSED:
            return NetworkError(f"connection refused ({where})")
        return NetworkError(f"cannot connect to {where}: {e.os_error.strerror or e.os_error}")
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return NetworkError("server closed the connection without answering")
    if isinstance(e, aiohttp.ClientPayloadError):
        return NetworkError(f"body transfer broken: {e}")
    if isinstance(e, aiohttp.ClientOSError) and isinstance(e.__cause__ or e, ConnectionResetError):
        return NetworkError("connection reset")
    if isinstance(e, aiohttp.InvalidURL):
        return FetchError(f"invalid URL {e.url}")
    return NetworkError(f"{type(e).__name__}: {e}")


async def fetch_many(reqs: Sequence[FetchRequest], **fetcher_kwargs: Any) -> dict[str, FetchResult | FetchError]:
    """Fetch every request at once (bounded by the connection limits); key -> result or error.

    Results come back in request order. One failure never affects the others.
    """
    keys = [r.key for r in reqs]
    if len(set(keys)) != len(keys):
        raise ValueError("fetch_many needs distinct request keys")

    async with Fetcher(**fetcher_kwargs) as fetcher:

        async def one(req: FetchRequest) -> FetchResult | FetchError:
            try:
                return await fetcher.fetch(req)
            except FetchError as e:
                return e

        results = await asyncio.gather(*(one(r) for r in reqs))
    return dict(zip(keys, results))


def fetch_many_sync(reqs: Sequence[FetchRequest], **kw: Any) -> dict[str, FetchResult | FetchError]:
    """``fetch_many`` for callers without an event loop."""
    return asyncio.run(fetch_many(reqs, **kw))

