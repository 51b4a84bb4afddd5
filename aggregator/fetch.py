"""HTTP fetching of external feeds: conditional GET, redirects, caps, timeouts, bounded concurrency.

The fetcher returns bytes, headers and caching information; it never parses. Every failure
leaves ``Fetcher.fetch`` as a ``FetchError`` subclass, so one broken source can be recorded and
skipped without disturbing the others.

The transfers run on libcurl (pycurl) in a thread of their own, with the GIL released while
libcurl works: a refresh's network goes on while the event loop's thread parses and stores.
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import errno
import hashlib
import http
import logging
import os
import queue
import select
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import Any
from urllib.parse import SplitResult, quote, urljoin, urlsplit, urlunsplit

import pycurl

import aggregator
from aggregator.errors import FetchError
from aggregator.identity import without_credentials
from aggregator.types import FetchResult

log = logging.getLogger(__name__)

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
    if "," in value:
        # The field sent twice, merged as one list (RFC 9110 §5.3): the longer wait, of
        # values that are all usable. An HTTP-date holds one comma.
        parts = [p.strip() for p in value.split(",")]
        values = (parts if all(p.isdigit() for p in parts)
                  else [f"{a}, {b}" for a, b in zip(parts[::2], parts[1::2])] if len(parts) % 2 == 0 and len(parts) > 2
                  else None)
        if values is not None:
            waits = [parse_retry_after(v, now) for v in values]
            return None if None in waits else max(w for w in waits if w is not None)
    if value.isdigit():
        # str.isdigit() also takes other scripts' digits and superscripts ("²"), which
        # float() refuses: those are as unusable as any other junk.
        return float(value) if value.isascii() else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT by definition
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _lower_headers(lines: Sequence[bytes]) -> dict[str, str]:
    """Header lines (``Name: value\r\n``, as received) as a dict of lower-cased names.
    Repeated fields combine into one comma-separated value (RFC 9110 §5.3); a folded
    line continues the field before it."""
    headers: dict[str, str] = {}
    name = ""
    for raw in lines:
        line = raw.decode("latin-1").rstrip("\r\n")
        if line[:1] in (" ", "\t"):
            if name:
                headers[name] = f"{headers[name]} {line.strip()}".strip()
            continue
        field, sep, value = line.partition(":")
        if not sep:
            continue
        name = field.strip().lower()
        value = value.strip()
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


# -- the transfer thread ------------------------------------------------------------------
# libcurl's codes for failures of the TLS layer (handshake, certificates, ciphers).
_TLS_CODES = frozenset({35, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91, 98})
_CONSTANT_OPTIONS: list[tuple[int, Any]] = [
    (pycurl.NOSIGNAL, 1),  # a thread may not take signals for its DNS timeouts
    (pycurl.PROXY, ""),  # never a proxy from the environment: every source is fetched directly
    (pycurl.FOLLOWLOCATION, 0),  # Fetcher follows redirects itself (permanent ones move a source)
    (pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS),
    (pycurl.NOPROGRESS, 1),
]


def _tls_options() -> list[tuple[int, Any]]:
    """Where libcurl finds the trusted certificates: the same place as Python's ssl module
    (which honours SSL_CERT_FILE and SSL_CERT_DIR). The libcurl inside the pycurl wheel was
    built elsewhere, and its own default path may not exist on this system."""
    paths = ssl.get_default_verify_paths()
    options: list[tuple[int, Any]] = []
    if paths.cafile and os.path.isfile(paths.cafile):
        options.append((pycurl.CAINFO, paths.cafile))
    if paths.capath and os.path.isdir(paths.capath):
        options.append((pycurl.CAPATH, paths.capath))
    return options


class _Transfer:
    """One GET on the transfer thread: what it sends, what came back so far, its future."""

    __slots__ = ("url", "headers", "host", "future", "deadline", "head", "body", "handle", "last", "seen",
                 "started", "over_cap")

    def __init__(self, url: bytes, headers: list[bytes], host: tuple[str, str, int],
                 future: asyncio.Future[Any], deadline: float | None):
        self.url = url
        self.headers = headers
        self.host = host
        self.future = future
        self.deadline = deadline  # monotonic end of the total budget; set when the first hop starts
        self.head: list[bytes] = []  # header lines as libcurl hands them over
        self.body: list[bytes] = []  # body chunks, still content-encoded
        self.handle: Any = None  # the curl handle while the transfer runs
        self.last = 0.0  # monotonic time of the last bytes received
        self.seen = 0  # pieces received at `last`
        self.started = 0.0  # monotonic time the transfer was handed to libcurl
        self.over_cap = False  # the body grew past the cap (see _writer)


def _names_encoding(line: bytes) -> bool:
    """Whether a header line is a Content-Encoding field."""
    return line[:17].lower() == b"content-encoding:"


class _Answer:
    """A finished exchange: its status, every header line received (an interim 1xx
    answer's too), the body as sent (content-encoded) and its SHA-256 (of a 2xx body), and
    the end of the total budget (for the next hop). Made on the transfer thread, so it
    does little more than keep them."""

    __slots__ = ("status", "head", "body", "sha256", "deadline")

    def __init__(self, status: int, head: list[bytes], body: bytes, deadline: float):
        self.status = status
        self.head = head
        self.body = body
        # Hashed here, where its GIL-free work costs the event loop's thread nothing: a
        # refresh tells an unchanged body by this hash (pipeline.decide_fetch). Not a
        # content-encoded body: the hash is of the decoded one, taken once it is decoded.
        self.sha256 = (hashlib.sha256(body).hexdigest()
                       if body and 200 <= status < 300 and not any(map(_names_encoding, head)) else None)
        self.deadline = deadline


class _Failed:
    """A transfer that ended without an answer: libcurl's error code and message and the
    socket's errno, or our own timeout (``phase``: "total", "read:response", "read:body");
    ``status``: the answer's status when its headers were in (a body past the cap), else 0."""

    __slots__ = ("code", "message", "os_errno", "phase", "status")

    def __init__(self, code: int, message: str, os_errno: int, phase: str, status: int = 0):
        self.code = code
        self.message = message
        self.os_errno = os_errno
        self.phase = phase
        self.status = status


def _phase(t: _Transfer) -> str:
    """What a transfer waits for: its response's headers, or its body once they are in."""
    return "body" if t.body or (t.head and t.head[-1] == b"\r\n") else "response"


def _final_status(head: list[bytes]) -> int:
    for line in reversed(head):
        if line.startswith(b"HTTP/"):
            parts = line.split(None, 2)
            return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return 0


def _writer(t: _Transfer, cap: int) -> Callable[[bytes], int | None]:
    """The body callback. A non-2xx answer's body is not read (its status is the answer);
    a body that grows past ``cap`` stops the transfer (``t.over_cap``), also where libcurl
    checks MAXFILESIZE against a declared length only (before 8.4)."""
    body = t.body
    size = 0

    def write(data: bytes) -> int | None:
        nonlocal size
        if not body and not 200 <= _final_status(t.head) < 300:
            return 0  # CURLE_WRITE_ERROR; _status_only makes it the status answer
        size += len(data)
        if size > cap:
            t.over_cap = True
            return 0
        body.append(data)
        return None

    return write


def _status_only(c: Any, t: _Transfer) -> _Answer | None:
    """A transfer that failed once the headers of a final non-2xx answer were in: that answer."""
    if _phase(t) == "body":
        status = c.getinfo(pycurl.RESPONSE_CODE)
        if status >= 300:
            return _Answer(status, t.head, b"", t.deadline or 0.0)
    return None


MAX_REASON = 200  # characters of a reason phrase kept


def _header_text(line: bytes) -> str:
    """A status line's text: UTF-8, which servers send for a reason phrase in their
    language (RFC 9110 leaves its bytes to them), else Latin-1, which reads any bytes."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def _final_response(head: list[bytes]) -> tuple[str, list[bytes]]:
    """The reason phrase and the header lines of the last response among ``head`` (an
    interim 1xx answer comes before it)."""
    start = 0
    for n, line in enumerate(head):
        if line.startswith(b"HTTP/"):
            start = n
    status_line = _header_text(head[start]).split(None, 2) if head else []
    reason = status_line[2].strip() if len(status_line) > 2 else ""
    if len(reason) > MAX_REASON:  # stored with the source's error, and shown
        reason = reason[:MAX_REASON - 1].rstrip() + "\u2026"
    end = start + 1
    while end < len(head) and head[end].strip():  # trailers come after the blank line
        end += 1
    return reason, head[start + 1:end]


_FD_SETSIZE = 1024  # glibc's: curl_multi_fdset leaves out sockets numbered from here on


class _CurlThread:
    """One libcurl multi handle, driven by a thread of its own.

    libcurl does the sockets, the HTTP parsing and the waiting in C with the GIL released,
    so the network goes on while the event loop's thread parses and stores. Transfers come
    in through a queue (and a pipe that wakes the thread when it sleeps); each one's outcome
    goes back to the event loop as the result of its future. The thread also holds the
    connection slots (overall and per host): when a transfer ends, the next one waiting
    starts at once, even while the event loop's thread is busy. Only this thread touches
    the curl handles.
    """

    # The longest the thread sleeps while transfers run, and how often it checks their timeouts.
    TICK = 0.05
    CHECK = 0.01

    def __init__(self, loop: asyncio.AbstractEventLoop, *, max_connections: int, max_per_host: int,
                 connect_timeout: float, read_timeout: float, total_timeout: float, max_bytes: int):
        self._loop = loop
        self._max_connections = max_connections
        self._max_per_host = max_per_host
        self._read_timeout = read_timeout
        self._total_timeout = total_timeout
        self._options = [
            *_CONSTANT_OPTIONS,
            *_tls_options(),
            (pycurl.CONNECTTIMEOUT_MS, max(1, round(connect_timeout * 1000))),
            (pycurl.MAXFILESIZE_LARGE, max_bytes),  # a declared or received body past the cap
        ]
        self._max_bytes = max_bytes
        self._queue: queue.SimpleQueue[_Transfer | tuple[str, _Transfer] | None] = queue.SimpleQueue()
        self._asleep = False  # the thread waits in poll() ...
        self._hungry = True  # ... with a connection slot free: a new transfer must wake it
        # Should the thread die of a bug, every transfer fails at once instead of hanging.
        self._broken: _Failed | None = None
        self._broken_lock = threading.Lock()
        self._active: dict[Any, _Transfer] = {}  # curl handle -> its running transfer
        self._waiting: collections.deque[_Transfer] = collections.deque()  # for a slot, in arrival order
        self._done: list[tuple[asyncio.Future[Any], Any]] = []  # outcomes not yet posted
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.stopped: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(target=self._run, name="aggregator-fetch", daemon=True)
        self._thread.start()

    # -- the event loop's side --------------------------------------------------------
    def get(self, url: str, headers: list[bytes], host: tuple[str, str, int],
            deadline: float | None) -> asyncio.Future[_Answer | _Failed]:
        """GET ``url`` once a slot is free; the future ends with the answer or the failure.
        ``deadline``: the total budget's end, from an earlier hop. Cancelling the future
        aborts the transfer."""
        future: asyncio.Future[_Answer | _Failed] = self._loop.create_future()
        t = _Transfer(_wire_url(url), headers, host, future, deadline)

        def cancelled(f: asyncio.Future[Any]) -> None:
            if f.cancelled():
                self._send(("cancel", t))

        future.add_done_callback(cancelled)
        with self._broken_lock:
            if self._broken is not None:
                future.set_result(self._broken)
            else:
                self._send(t)
        return future

    def stop(self) -> None:
        """Abort what still runs and end the thread; ``stopped`` completes then."""
        with self._broken_lock:
            if self._broken is None:  # a fetch still on its way fails, not hangs
                self._broken = _Failed(-1, "the fetcher was closed", 0, "broken")
        self._send(None)

    def close(self) -> None:
        self._thread.join()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _send(self, item: _Transfer | tuple[str, _Transfer] | None) -> None:
        self._queue.put(item)
        # The thread sets _asleep (and _hungry) before it looks at the queue a last time,
        # so an item put here is either seen by that look or followed by a wake-up. A new
        # transfer wakes it only if a slot is free: otherwise it waits for a slot anyway,
        # and the thread, woken by the transfer that frees one, takes it from the queue
        # then. (A wake-up costs this thread a write and often the CPU for a while.)
        if self._asleep and (self._hungry or not isinstance(item, _Transfer)):
            try:
                os.write(self._wake_w, b"\0")
            except BlockingIOError:  # the pipe is full of wake-ups already
                pass

    # -- the transfer thread ----------------------------------------------------------
    def _post(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: nobody waits for these any more
            pass

    def _run(self) -> None:
        multi = pycurl.CurlMulti()
        try:
            self._drive(multi)
        except BaseException as e:  # a bug: say so, and fail every transfer, now and later
            log.exception("the fetch thread stopped")
            with self._broken_lock:
                self._broken = broken = _Failed(-1, f"the fetch thread stopped: {e!r}", 0, "broken")
                futures = [t.future for t in (*self._active.values(), *self._waiting)]
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if isinstance(item, _Transfer):
                        futures.append(item.future)
            self._post(_settle, [*self._done, *((f, broken) for f in futures)])
        finally:
            multi.close()
            self._post(_settle, [(self.stopped, None)])

    def _drive(self, multi: Any) -> None:
        active = self._active
        waiting = self._waiting
        per_host: dict[tuple[str, str, int], int] = {}  # running transfers by host
        idle: list[Any] = []  # handles to reuse
        get = self._queue.get_nowait
        monotonic = time.monotonic
        done = self._done
        next_check = 0.0

        def finish(c: Any, outcome: _Answer | _Failed | None) -> None:
            t = active.pop(c)
            multi.remove_handle(c)
            t.handle = None
            t.body.clear()  # (joined by now) the handle holds on to its append until its next transfer
            if per_host[t.host] == 1:
                del per_host[t.host]  # a long-lived fetcher sees many hosts
            else:
                per_host[t.host] -= 1
            idle.append(c)
            if outcome is not None:
                done.append((t.future, outcome))

        def start(t: _Transfer, now: float) -> None:
            try:
                c = idle.pop() if idle else self._new_handle()
            except BaseException:
                waiting.appendleft(t)  # failed with the others by _run
                raise
            try:
                c.setopt(pycurl.URL, t.url)
                c.setopt(pycurl.HTTPHEADER, t.headers)
            except (pycurl.error, ValueError, TypeError) as e:  # say a NUL in a stored ETag
                idle.append(c)
                done.append((t.future, _Failed(-1, str(e), 0, "request")))
                return
            c.setopt(pycurl.HEADERFUNCTION, t.head.append)
            c.setopt(pycurl.WRITEFUNCTION, _writer(t, self._max_bytes))
            t.handle = c
            t.last = t.started = now
            if t.deadline is None:  # the total budget starts with the first hop's slot
                t.deadline = now + self._total_timeout
            per_host[t.host] = per_host.get(t.host, 0) + 1
            active[c] = t
            multi.add_handle(c)

        def start_waiting() -> None:
            if not waiting or len(active) >= self._max_connections:
                return
            now = monotonic()
            held: list[_Transfer] = []  # their host is busy
            while waiting and len(active) < self._max_connections:
                t = waiting.popleft()
                if t.future.cancelled():
                    continue
                if t.deadline is not None and now >= t.deadline:  # a later hop, out of time while it waited
                    done.append((t.future, _Failed(pycurl.E_OPERATION_TIMEDOUT, "", 0, "total")))
                    continue
                if per_host.get(t.host, 0) >= self._max_per_host:
                    held.append(t)
                else:
                    start(t, now)
            waiting.extendleft(reversed(held))  # back in front, in their order

        while True:
            # New transfers, cancellations, the stop.
            while True:
                try:
                    item = get()
                except queue.Empty:
                    break
                if item is None:
                    closed = self._broken or _Failed(-1, "the fetcher was closed", 0, "broken")
                    for c in list(active):
                        finish(c, closed)
                    done.extend((t.future, closed) for t in waiting)
                    waiting.clear()
                    self._post(_settle, done)
                    for c in idle:
                        c.close()
                    return
                if isinstance(item, tuple):
                    if item[1].handle is not None:
                        finish(item[1].handle, None)
                else:
                    waiting.append(item)
            start_waiting()

            while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                pass
            reaped: list[tuple[_Transfer, int, bytes]] = []  # transfers that ended with an answer
            try:
                while True:
                    left, ok, failed = multi.info_read()
                    for c in ok:
                        t = active[c]
                        reaped.append((t, c.getinfo(pycurl.RESPONSE_CODE), b"".join(t.body)))
                        finish(c, None)
                    for c, code, message in failed:
                        t = active[c]
                        if t.over_cap:
                            code = pycurl.E_FILESIZE_EXCEEDED
                        finish(c, _status_only(c, t) or _Failed(code, message, c.getinfo(pycurl.OS_ERRNO), _phase(t),
                                                                c.getinfo(pycurl.RESPONSE_CODE)))
                    if not left:
                        break

                # Our timeouts: the total budget, and no bytes for read_timeout once connected
                # (looked at every CHECK, not after every socket event).
                if active and (now := monotonic()) >= next_check:
                    next_check = now + self.CHECK
                    for c, t in list(active.items()):
                        got = len(t.head) + len(t.body)
                        if t.deadline is not None and now >= t.deadline:
                            finish(c, _Failed(pycurl.E_OPERATION_TIMEDOUT, "", 0, "total",
                                              c.getinfo(pycurl.RESPONSE_CODE)))
                        elif got != t.seen:
                            t.seen, t.last = got, now
                        elif (now - t.last > self._read_timeout
                              and (pre := c.getinfo(pycurl.PRETRANSFER_TIME)) > 0
                              and now - max(t.last, t.started + pre) > self._read_timeout):
                            # (PRETRANSFER_TIME: connected, TLS included, on a new or a reused
                            # connection; until then CONNECTTIMEOUT_MS is what applies.)
                            finish(c, _status_only(c, t)
                                   or _Failed(pycurl.E_OPERATION_TIMEDOUT, "", 0, "read:" + _phase(t),
                                              c.getinfo(pycurl.RESPONSE_CODE)))
                    # A later hop that ran out of time while it waited for a slot fails now.
                    for t in [t for t in waiting if t.deadline is not None and now >= t.deadline]:
                        waiting.remove(t)
                        done.append((t.future, _Failed(pycurl.E_OPERATION_TIMEDOUT, "", 0, "total")))
                if reaped:
                    # The slots these freed go to the transfers waiting, and their requests
                    # leave (perform) before the answers are made and the event loop's thread
                    # is woken for them: hashing each body (≈ 8 µs for 13 KB) and that
                    # thread, taking the GIL and the CPU, must not hold back the next
                    # requests of the round (1,000 GETs at 64 connections: ≈ 3 % less wall
                    # time). Transfers this perform() ends are reaped on the next pass.
                    start_waiting()
                    while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                        pass
            finally:  # the reaped are neither active nor waiting: whatever happens, answer them
                done.extend((t.future, _Answer(status, t.head, body, t.deadline or 0.0))
                            for t, status, body in reaped)
            if done:
                self._post(_settle, done[:])
                done.clear()
                start_waiting()  # the slots just freed
                if active or done:
                    continue  # drive the new transfers (or report those that could not start)

            self._wait(multi, len(active))

    def _new_handle(self) -> Any:
        c = pycurl.Curl()
        for option, value in self._options:
            c.setopt(option, value)
        return c

    def _wait(self, multi: Any, running: int) -> None:
        """Sleep until a socket of libcurl's or the wake-up pipe is ready, or libcurl's
        own next timeout (at most TICK while transfers run)."""
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        wait = -1  # nothing runs: wait for work
        if running:
            readers, writers, _ = multi.fdset()
            for fd in readers:
                poller.register(fd, select.POLLIN | select.POLLOUT if fd in writers else select.POLLIN)
            for fd in writers:
                if fd not in readers:
                    poller.register(fd, select.POLLOUT)
            # fdset names no socket numbered from FD_SETSIZE (1,024) on, so a process with
            # that many files open would see such a transfer only on the TICK: once
            # connected, its socket (ACTIVESOCKET, -1 before) is waited on for reading,
            # its answer. Its connect still waits for the TICK. (libcurl's socket API
            # would name every socket in every phase, but pycurl retakes the GIL once per
            # socket there: a cold refresh took ≈ 9 % longer, see bench/README.)
            for c in self._active:
                if (fd := c.getinfo(pycurl.ACTIVESOCKET)) >= _FD_SETSIZE:
                    poller.register(fd, select.POLLIN)
            wait = multi.timeout()  # ms; -1: libcurl has none
            limit = round(self.TICK * 1000)
            wait = limit if wait < 0 else min(wait, limit)
        self._hungry = running < self._max_connections
        self._asleep = True
        ready = poller.poll(wait) if self._queue.empty() else ()
        self._asleep = False
        if any(fd == self._wake_r for fd, _ in ready):
            try:
                while os.read(self._wake_r, 512):
                    pass
            except BlockingIOError:
                pass


def _settle(done: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, outcome in done:
        if not future.done():
            future.set_result(outcome)


def _idna(host: str) -> str:
    """IDNA 2008 with UTS #46 mapping, as yarl (and browsers) do; IDNA 2003 maps ß and ς away."""
    import idna  # its tables take ≈ 1 MiB: only for the rare international host name

    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except UnicodeError:
        return host.encode("idna").decode("ascii")


def _wire_host(host: str | None) -> str | None:
    """``host`` as the request names it: an international one in IDNA."""
    return host if host is None or host.isascii() else _idna(host)


_URL_DROPPED = dict.fromkeys(map(ord, "\t\n\r"))
_USERINFO_SAFE = "%:!$&'()*+,;=~"  # RFC 3986 userinfo, escapes kept


def _wire_url(url: str) -> bytes:
    """``url`` as libcurl takes it: ASCII, an international host name in IDNA, other
    characters of the path and query percent-encoded, no fragment (never sent)."""
    url = url.partition("#")[0]
    if url.isascii() and url.isprintable() and " " not in url and url.count("@") < 2:
        return url.encode("ascii")
    if not url.isprintable():  # tabs and line breaks are dropped, as browsers (and yarl) do
        url = url.translate(_URL_DROPPED)
    parts = urlsplit(url)
    # The user and password end at the last "@", as the config (and browsers) read them;
    # libcurl ends them at the first, so an "@" in a password goes as %40 (and any other
    # character the userinfo may not hold, UTF-8 encoded).
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not hostport.isascii():
        hostport = _idna(parts.hostname or "")
        if parts.port is not None:
            hostport += f":{parts.port}"
    netloc = f"{quote(userinfo, safe=_USERINFO_SAFE)}{at}{hostport}"
    path = quote(parts.path, safe="/%:@!$&'()*+,;=~")
    query = quote(parts.query, safe="/%:@!$&'()*+,;=?~")
    return urlunsplit((parts.scheme, netloc, path, query, "")).encode("ascii")


def _credentials_carried(source: str, target: str) -> str:
    """A redirect's ``target`` with the user and password of the URL it was answered for
    (a private feed's, sent as Basic auth), when it names none itself and leads to the same
    origin (scheme, host and port), or from http up to https on the same host and the
    default ports: a move to https (or a new path) must not lock the feed out. Never to
    another host or another port of it (another server), nor from https down to http, where
    they would travel in clear text (as browsers, curl and requests do)."""
    try:
        src, dst = urlsplit(source), urlsplit(target)
        (src_scheme, _, src_port), (dst_scheme, _, dst_port) = host_key(source), host_key(target)
        # An international host as the config writes it and as a Location sends it (IDNA)
        same_host = _wire_host(src.hostname) == _wire_host(dst.hostname)
    except ValueError:
        return target
    userinfo, at, _ = src.netloc.rpartition("@")
    same_port = (src_scheme, src_port) == (dst_scheme, dst_port)
    upgrade = (src_scheme, src_port, dst_scheme, dst_port) == ("http", 80, "https", 443)
    if not at or "@" in dst.netloc or not same_host or not (same_port or upgrade):
        return target
    scheme, sep, rest = target.partition("://")
    return f"{scheme}{sep}{userinfo}@{rest}"


def _first_location(head: list[bytes]) -> str | None:
    """The first Location field, its bytes read as UTF-8 when they are (as aiohttp did)."""
    for raw in head:
        name, sep, value = raw.partition(b":")
        if sep and name.strip().lower() == b"location":
            value = value.strip()
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                return value.decode("latin-1")
    return None


def _header(name: str, value: str) -> bytes:
    try:
        return f"{name}: {value}".encode("latin-1")
    except UnicodeEncodeError:
        return f"{name}: {value}".encode()


class Fetcher:
    """Fetch feeds; use as ``async with Fetcher(...) as f`` inside an event loop.

    The transfers run on libcurl in a thread of their own (``_CurlThread``); ``fetch``
    awaits one exchange at a time and follows redirects itself."""

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
        self._headers = [_header("User-Agent", user_agent), _header("Accept", ACCEPT),
                         b"Accept-Encoding: gzip, deflate"]
        self._curl: _CurlThread | None = None

    async def __aenter__(self) -> Fetcher:
        # The transfer thread holds the connection slots. Time spent waiting for one is
        # not counted against a request's total timeout (the tail of a 1,000-feed refresh
        # waits for a slot).
        self._curl = _CurlThread(
            asyncio.get_running_loop(), max_connections=self.max_connections, max_per_host=self.max_per_host,
            connect_timeout=self.connect_timeout, read_timeout=self.read_timeout,
            total_timeout=self.total_timeout, max_bytes=self.max_bytes)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        curl, self._curl = self._curl, None
        if curl is not None:
            curl.stop()
            try:
                await asyncio.shield(curl.stopped)
            finally:
                curl.close()

    async def fetch(self, req: FetchRequest) -> FetchResult:
        """GET ``req.url``; return the final 2xx/304 answer or raise a ``FetchError`` subclass."""
        if self._curl is None:
            raise RuntimeError("Fetcher must be used as an async context manager")
        headers = self._headers
        if req.etag or req.last_modified:
            headers = list(headers)
            if req.etag:
                headers.append(_header("If-None-Match", req.etag))
            if req.last_modified:
                headers.append(_header("If-Modified-Since", req.last_modified))
        state = {"url": req.url}
        try:
            return await self._follow(req, headers, state)
        except FetchError:
            raise
        except ValueError as e:  # urllib rejects some URLs only when they are used
            raise FetchError(f"invalid URL {without_credentials(state['url'])}: {e}") from e

    async def _follow(self, req: FetchRequest, headers: list[bytes], state: dict[str, str]) -> FetchResult:
        url = req.url
        seen = {url}
        # The URL asked for moves to the target of the last of the permanent (301/308) hops
        # it starts with: a temporary hop after them (a CDN's address of the day) does not
        # undo them, and after a temporary hop none moves it.
        permanent = True
        moved_to: str | None = None
        hops = 0
        status = 0  # the last answer's (a redirect's), once there was one
        deadline: float | None = None  # the total budget's end, once the first hop started
        curl = self._curl
        assert curl is not None
        while True:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if scheme not in ("http", "https"):
                # After a redirect, the server did answer: status shows the redirect's code.
                cls = RedirectError if hops else FetchError
                raise cls(f"cannot fetch {without_credentials(url)!r}: not an http(s) URL", status=status or None)
            state["url"] = url
            if not parts.hostname:
                raise FetchError(f"invalid URL {without_credentials(url)}: no host", status=status or None)
            outcome = await curl.get(url, headers, _host_key(scheme, parts), deadline)
            if isinstance(outcome, _Failed):
                raise self._error(outcome, parts)
            deadline = outcome.deadline
            status = outcome.status
            reason, head = _final_response(outcome.head)
            if status in _REDIRECTS:
                location = _first_location(head)
                if not location:
                    raise HTTPStatusError(f"HTTP {status} redirect without a Location", status=status)
            elif status == 304:
                hdrs = _lower_headers(head)
                return FetchResult(
                    url=url,
                    status=304,
                    headers=hdrs,
                    body=None,
                    etag=hdrs.get("etag") or req.etag,
                    last_modified=hdrs.get("last-modified") or req.last_modified,
                    permanent_redirect=moved_to,
                )
            elif 200 <= status < 300:
                hdrs = _lower_headers(head)
                body = self._decoded(outcome.body, hdrs, status)
                return FetchResult(
                    url=url,
                    status=status,
                    headers=hdrs,
                    body=body,
                    etag=hdrs.get("etag"),
                    last_modified=hdrs.get("last-modified"),
                    permanent_redirect=moved_to,
                    temporary=not permanent,
                    body_sha256=outcome.sha256 if body is outcome.body else None,  # else decoded here
                )
            else:
                hdrs = _lower_headers(head)
                raise _status_error(status, reason, hdrs.get("retry-after"), temporary=not permanent)
            # A redirect: the next hop waits for its slots like any request.
            hops += 1
            permanent = permanent and status in _PERMANENT
            try:
                target = urljoin(url, location.strip())
                urlsplit(target).port  # noqa: B018 - raises on a bad port, as a fetch of it would
            except ValueError as e:  # the server's Location, not our URL, is at fault
                raise RedirectError(f"HTTP {status} redirect to an invalid URL {location.strip()!r}: {e}",
                                    status=status) from e
            target = _credentials_carried(url, target)
            if target in seen:
                raise RedirectError(f"redirect loop: {without_credentials(url)} -> {without_credentials(target)}",
                                    status=status)
            if hops > self.max_redirects:
                raise RedirectError(f"too many redirects (more than {self.max_redirects})", status=status)
            seen.add(target)
            if permanent:
                moved_to = target
            url = target

    def _decoded(self, body: bytes, hdrs: dict[str, str], status: int) -> bytes:
        """The body without its Content-Encoding (those headers are then dropped), decoded
        no further than one byte past the cap: a 100 kB gzip bomb can inflate to 100 MB.
        A failure keeps the server's ``status``: it did answer."""
        encoding = hdrs.get("content-encoding", "identity").strip().lower()
        if encoding in ("identity", ""):
            return body
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise NetworkError(f"unsupported Content-Encoding {encoding!r}", status=status)
        cap = self.max_bytes
        decoder = _Decoder(encoding)
        try:
            out = decoder.feed(body, cap + 1)
            if len(out) > cap:
                raise TooLargeError(f"body larger than {_size(cap)}", status=status)
            decoder.finish()
        except zlib.error as e:
            raise NetworkError(f"broken {encoding} body: {e}", status=status) from e
        del hdrs["content-encoding"]
        hdrs.pop("content-length", None)
        return out

    def _error(self, failed: _Failed, parts: SplitResult) -> FetchError:
        """The error for a transfer that failed; once the answer's headers were in (a body
        past the cap, too slow or broken off), it carries the status the server answered."""
        error = self._error_of(failed, parts)
        if error.status is None and failed.status:
            error.status = failed.status
        return error

    def _error_of(self, failed: _Failed, parts: SplitResult) -> FetchError:
        code, message = failed.code, failed.message
        where = f"{parts.hostname}:{_host_key(parts.scheme.lower(), parts)[2]}"
        if failed.phase == "request":
            return FetchError(f"cannot send the request: {message}")
        if code == pycurl.E_OPERATION_TIMEDOUT:
            if failed.phase == "total":
                return TimeoutFetchError(f"timed out after {_seconds(self.total_timeout)} in total")
            if failed.phase.startswith("read:"):
                what = "reading the body" if failed.phase == "read:body" else "waiting for the response"
                return TimeoutFetchError(f"timed out after {_seconds(self.read_timeout)} {what}")
            # The host and port as written, less a private feed's user and password.
            host = parts.netloc.rpartition("@")[2]
            return TimeoutFetchError(f"timed out after {_seconds(self.connect_timeout)} connecting to {host}")
        if code == pycurl.E_FILESIZE_EXCEEDED:  # the server did answer: status shows it
            return TooLargeError(f"body larger than {_size(self.max_bytes)}")
        if code == pycurl.E_COULDNT_RESOLVE_HOST:
            return NetworkError(f"could not resolve host {parts.hostname}")
        if code == pycurl.E_COULDNT_CONNECT:
            if failed.os_errno == errno.ECONNREFUSED:
                return NetworkError(f"connection refused ({where})")
            reason = os.strerror(failed.os_errno) if failed.os_errno else message
            return NetworkError(f"cannot connect to {where}: {reason}")
        if code in _TLS_CODES:
            return NetworkError(f"TLS error: {message}")
        if code == pycurl.E_GOT_NOTHING:
            return NetworkError("server closed the connection without answering")
        if code in (pycurl.E_RECV_ERROR, pycurl.E_SEND_ERROR) and failed.os_errno == errno.ECONNRESET:
            return NetworkError("connection reset")
        if code == pycurl.E_PARTIAL_FILE or (code == pycurl.E_RECV_ERROR and failed.phase == "body"):
            return NetworkError(f"body transfer broken: {message}")
        if code == pycurl.E_URL_MALFORMAT:
            return FetchError(f"invalid URL {without_credentials(urlunsplit(parts))}: {message}")
        return NetworkError(message or f"libcurl error {code}")


def _status_error(status: int, reason: str | None, retry_after: str | None, *,
                  temporary: bool = False) -> HTTPStatusError:
    """The error of a 4xx/5xx answer; ``temporary``: reached through a temporary redirect,
    where a 410 is the temporary target's, not the source's (it retires nothing)."""
    try:
        phrase = reason or http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    cls = GoneError if status == 410 and not temporary else HTTPStatusError
    return cls(f"HTTP {status} {phrase}".rstrip(), status=status, retry_after=parse_retry_after(retry_after))


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

