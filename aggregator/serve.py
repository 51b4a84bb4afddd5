"""Serve the published folder over HTTP: feeds, OPML, the index page and ``/healthz``.

Only the files the publisher writes are served, each with a content type feed readers and
the W3C validator accept, a strong ETag of its bytes, Last-Modified, 304 answers and gzip.
A file is read whole once per version (the publisher replaces files by rename, so an open
file is always one complete version) and its hash and gzip body are cached with it.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import os
import re
import signal
import stat
import struct
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timezone
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

try:
    import resource
except ImportError:  # not on Unix: no descriptor limits to read or raise
    resource = None  # type: ignore[assignment]
if sys.platform.startswith("linux"):
    import fcntl
    import termios

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 300
SHUTDOWN_TIMEOUT = 2.0  # seconds an open keep-alive connection may delay a stop
# Seconds a connection may stay open without a whole request: idle between requests, or
# still sending its first one. aiohttp's default is an hour, so each slow or silent client
# (a slow-loris one by the thousand) held a descriptor that long, and a service under
# systemd's 1024 ran out of them for its fetches, database and publish.
IDLE_TIMEOUT = 15.0
# Seconds an answer may wait on a reader that takes none of it. aiohttp has no write
# timeout: a reader that stopped reading a feed larger than the socket buffers held its
# connection, and the unsent rest of the feed, for ever.
WRITE_TIMEOUT = 30.0
# Connections served at once, at most; past it (or past what the descriptor limit leaves
# once the service's own work has its share) a new one is answered 503 and closed. Each
# accepted connection holds a descriptor: a flood of them used up the limit, and the
# service's fetches, database and publish failed with "Too many open files".
MAX_CLIENTS = 1024
# Descriptors kept for the service's own work besides its fetches: the database and its
# journal files per pooled connection, publish temp files, the lock, logs, pipes, threads.
RESERVED_DESCRIPTORS = 128
# The listen queue, and how many connections asyncio accepts at one wake-up: refused ones
# hold their descriptor until the loop closes them, so two such batches are kept free too.
LISTEN_BACKLOG = 64
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: text/plain; charset=utf-8\r\n"
         b"Content-Length: 17\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n503 Server busy\r\n")

# Suffix -> Content-Type. Anything else in the folder (temp files, a database) is never served.
CONTENT_TYPES = {
    ".xml": "application/atom+xml; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}
ALLOWED_METHODS = ("GET", "HEAD")


@dataclass
class _Version:
    """One version of one file, as read from a single open file descriptor."""

    key: tuple[int, int, int, int]  # (device, inode, mtime_ns, size): changes when the file is replaced
    body: bytes
    etag: str  # without quotes
    last_modified: str  # HTTP-date
    mtime_seconds: int
    gzip_body: bytes | None = field(default=None, repr=False)

    def gzipped(self) -> bytes:
        if self.gzip_body is None:
            # mtime=0 keeps the gzip bytes a pure function of the file's bytes.
            self.gzip_body = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self.gzip_body


class _FileCache:
    """The newest version of each served file, keyed by name."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self._versions: dict[str, _Version] = {}

    def lookup(self, name: str) -> _Version | None:
        """The current version of ``name`` or None when it must be answered with 404."""
        path = self.root / name
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError, ValueError):  # missing, a symlink loop, a NUL byte
            self._versions.pop(name, None)
            return None
        if self.root not in real.parents:
            return None  # a symlink that leads out of the folder
        try:
            # O_NONBLOCK: opening a FIFO planted in the folder must not hang the server.
            fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None  # directories and devices are never listed or read
            key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
            cached = self._versions.get(name)
            if cached is not None and cached.key == key:
                return cached
            # Reading the descriptor we stat-ed gives exactly that version, even if the
            # publisher renames a newer file into place meanwhile.
            with os.fdopen(os.dup(fd), "rb") as f:
                body = f.read()
        finally:
            os.close(fd)
        version = _Version(
            key=key,
            body=body,
            etag=hashlib.sha256(body).hexdigest()[:32],
            last_modified=formatdate(st.st_mtime, usegmt=True),
            mtime_seconds=int(st.st_mtime),
        )
        self._versions[name] = version
        return version


def _origin_form(target: str) -> str:
    """The path of a request target: an absolute-form one (``http://host/all.xml``, which
    RFC 9112 §3.2.2 says a server must accept, as proxies send) loses its scheme and host."""
    scheme, sep, rest = target.partition("://")
    if sep and scheme.lower() in ("http", "https"):
        return "/" + rest.partition("/")[2]
    return target


def _safe_name(raw_path: str) -> str | None:
    """The file name a request path asks for, or None when it is not a plain served name.

    Works on the raw path, decoded once here, so neither ``..`` segments the URL parser may
    have collapsed nor encoded separators (``%2f``, ``%2e%2e``) can reach outside the folder.
    """
    path = unquote(raw_path.split("?", 1)[0], errors="strict") if raw_path else "/"
    if not path.startswith("/"):
        return None
    name = path[1:] or "index.html"
    if any(bad in name for bad in ("/", "\\", "\0", "..")) or name.startswith("."):
        return None
    if os.path.splitext(name)[1] not in CONTENT_TYPES:
        return None
    return name


def _accepts_gzip(header: str) -> bool:
    """Whether Accept-Encoding allows gzip (an explicit ``q=0`` refuses it, ``*`` allows it)."""
    star: bool | None = None
    for part in header.split(","):
        token, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            pname, _, value = param.partition("=")
            if pname.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        token = token.lower()
        if token in ("gzip", "x-gzip"):
            return quality > 0
        if token == "*":
            star = quality > 0
    return bool(star)


# An entity tag, weak or strong (RFC 9110 §8.8.3); its quotes hold no '"'.
_ENTITY_TAG = re.compile(r'(?:W/)?"([^"]*)"')


def _modified_since(header: str | None) -> float | None:
    """If-Modified-Since as a POSIX time, None when it is no date or more than one
    (RFC 9110 §13.1.3: ignored). aiohttp's reading drops a zone other than GMT, taking
    14:00 +0500 for 14:00 GMT, five hours late: a reader got 304 for a changed feed."""
    if not header or header.count(",") > 1:  # IMF-fixdate and RFC 850 hold one comma
        return None
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if since.tzinfo is None:  # asctime, and "-0000": GMT
        since = since.replace(tzinfo=timezone.utc)
    return since.timestamp()


def _not_modified(request: web.Request, version: _Version, dated: bool, now: float) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present; else If-Modified-Since, if
    the file's date can be trusted (``dated``) and the date sent is not later than ``now``.

    A date to come is no date the server sent (RFC 2616 §14.25: invalid; Apache ignores it
    too): it was a clock that ran ahead, the reader's or ours before it was set right. Taken,
    it answered 304 to every publish until that time came, years on for a clock off by years.
    """
    if hdrs.IF_NONE_MATCH in request.headers:
        # Every line of the field, as one list (RFC 9110 §5.3): aiohttp reads the first
        # only, and stops at an empty element (", tag"), which §5.6.1.2 says to skip.
        lines = request.headers.getall(hdrs.IF_NONE_MATCH)
        if any(line.strip() == "*" for line in lines):
            return True
        ours = {version.etag, version.etag + "-gz"}
        # Weak comparison, as If-None-Match requires; either encoding names the same bytes.
        return any(m[1] in ours for line in lines for m in _ENTITY_TAG.finditer(line))
    dates = request.headers.getall(hdrs.IF_MODIFIED_SINCE, [])
    since = _modified_since(dates[0]) if len(dates) == 1 else None  # two lines: two dates, ignored
    return dated and since is not None and version.mtime_seconds <= since <= now


def _json(status: int, data: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> web.Response:
    body = json.dumps(dict(data), ensure_ascii=False, default=str).encode("utf-8")
    return web.Response(status=status, body=body, content_type="application/json", charset="utf-8",
                        headers={hdrs.CACHE_CONTROL: "no-store", **(headers or {})})


def make_app(output_dir: Path, *, health: Callable[[], Mapping[str, Any]] | None = None,
             max_age: Callable[[str], int] | None = None) -> web.Application:
    """An aiohttp application serving ``output_dir`` (see the module docstring)."""
    cache = _FileCache(Path(output_dir))

    def cache_control(name: str) -> str:
        seconds = max_age(name) if max_age is not None else DEFAULT_MAX_AGE
        return f"public, max-age={max(0, int(seconds))}"

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.method not in ALLOWED_METHODS:
            return web.Response(status=405, text="405 Method Not Allowed\n",
                                headers={hdrs.ALLOW: ", ".join(ALLOWED_METHODS)})
        raw = _origin_form(request.raw_path.split("?", 1)[0])
        if raw == "/healthz":
            return _healthz()
        try:
            name = _safe_name(raw)
        except UnicodeDecodeError:
            name = None
        version = cache.lookup(name) if name else None
        if version is None:
            return web.Response(status=404, text="404 Not Found\n")
        if not version.body:
            # Never a 200 with an empty body: a reader would take it as a feed with no entries.
            return web.Response(status=503, text="503 Feed not published yet\n",
                                headers={hdrs.RETRY_AFTER: "5", hdrs.CACHE_CONTROL: "no-store"})
        use_gzip = _accepts_gzip(", ".join(request.headers.getall(hdrs.ACCEPT_ENCODING, [])))  # all its lines: one list
        headers = {
            hdrs.ETAG: f'"{version.etag}-gz"' if use_gzip else f'"{version.etag}"',
            hdrs.CACHE_CONTROL: cache_control(name or ""),
            hdrs.VARY: hdrs.ACCEPT_ENCODING,
            "X-Content-Type-Options": "nosniff",
        }
        # An HTTP date has whole seconds: a file written in the second still running may
        # be written again within it, under the same date. Its date is sent (and an
        # If-Modified-Since judged against it) once that second is over; the ETag holds.
        now = time.time()
        dated = now >= version.mtime_seconds + 1
        if dated:
            headers[hdrs.LAST_MODIFIED] = version.last_modified
        if _not_modified(request, version, dated, now):
            return web.Response(status=304, headers=headers)
        headers[hdrs.CONTENT_TYPE] = CONTENT_TYPES[os.path.splitext(name or "")[1]]
        if use_gzip:
            headers[hdrs.CONTENT_ENCODING] = "gzip"
            body = version.gzipped()
        else:
            body = version.body
        # aiohttp keeps Content-Length and drops the body itself for HEAD.
        return web.Response(status=200, body=body, headers=headers)

    def _healthz() -> web.Response:
        if health is None:
            return _json(200, {"status": "ok"})
        try:
            report = health()
        except Exception as e:  # a broken health probe must still answer, and say so
            log.exception("health check failed")
            return _json(503, {"status": "error", "error": str(e)})
        return _json(200, report)

    app = web.Application()
    # One catch-all route: names are checked by _safe_name, and every method reaches the
    # handler so any path answers 405 (not 404) to POST and friends.
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


class _ServerLog(logging.LoggerAdapter):
    """aiohttp.server's log, where a request the client got wrong (no Host, a bad request
    line, a header over 8 KiB: answered 400) is one debug line, not an ERROR with a
    traceback: any client could fill the service's log, and its alerts, with them.
    A failure of the server itself (a 500) stays an ERROR with its traceback. aiohttp logs
    a bad method (a TLS hello or a scanner's bytes on the port) at debug level itself, with
    its traceback: that is one line too."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if not self._client_error(msg, args, exc_info):
            self.error(msg, *args, exc_info=exc_info, **kwargs)

    def debug(self, msg: object, *args: object, exc_info: Any = None, **kwargs: Any) -> None:
        if not self._client_error(msg, args, exc_info):
            super().debug(msg, *args, exc_info=exc_info, **kwargs)

    def _client_error(self, msg: object, args: tuple[object, ...], exc_info: Any) -> bool:
        """Log a request the client got wrong as one debug line; False if ``exc_info`` is none."""
        if not (isinstance(exc_info, HttpProcessingError) and exc_info.code < 500):
            return False
        reason = (exc_info.message or type(exc_info).__name__).strip().splitlines()[0].rstrip(" :")
        super().debug("%s: %d %s", str(msg) % args if args else msg, exc_info.code or 400, reason)
        return True


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit, as Go's runtime and most servers do
    (systemd gives a soft 1024 under a hard 524288); return the soft limit now in force."""
    if resource is None:
        return MAX_CLIENTS + RESERVED_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if target == resource.RLIM_INFINITY:  # Linux refuses an infinite one: its ceiling is nr_open
        try:
            target = int(Path("/proc/sys/fs/nr_open").read_text())
        except (OSError, ValueError):
            target = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError) as e:
            log.debug("open files limit left at %d: raising it to %d failed: %s", soft, target, e)
            return int(soft)
        log.debug("open files limit raised from %d to %d", soft, target)
        return int(target)
    return int(soft)


def client_limit(fetches: int = 0) -> int:
    """How many connections the server takes at once: MAX_CLIENTS, or fewer when the
    descriptor limit would not leave ``fetches``, RESERVED_DESCRIPTORS and two accept
    batches (LISTEN_BACKLOG each) for the rest."""
    if resource is None:
        return MAX_CLIENTS
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return MAX_CLIENTS
    return max(16, min(MAX_CLIENTS, int(soft) - fetches - RESERVED_DESCRIPTORS - 2 * LISTEN_BACKLOG))


class _Connection(RequestHandler):
    """aiohttp's connection, refused with a 503 when the server is full, and cut off when
    an answer waits WRITE_TIMEOUT on a reader that takes none of it."""

    _sink: asyncio.WriteTransport | None = None
    _stall: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self._manager
        sink = cast(asyncio.WriteTransport, transport)
        if isinstance(server, _Server) and server.full():
            sink.write(_BUSY)
            sink.close()
            self._manager = None  # never registered: connection_lost has nothing to undo
            return
        self._sink = sink
        # Paused as soon as a byte waits, not at 64 KiB: a tail under that left in the
        # buffer of a reader gone still would hold the connection past its close too.
        sink.set_write_buffer_limits(high=0)
        super().connection_made(transport)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._sink is not None:
            self._watch(self._unsent())

    def _unsent(self) -> int:
        """Bytes of answers the reader has not taken: the transport's buffer, and on Linux
        the socket's send queue (SIOCOUTQ: not yet acknowledged). The buffer alone moves
        only once the kernel's queue (megabytes on a fast path) has drained by a third, so
        a reader steadily taking less than that per WRITE_TIMEOUT looked stalled."""
        assert self._sink is not None
        unsent = self._sink.get_write_buffer_size()
        if sys.platform.startswith("linux"):
            sock = self._sink.get_extra_info("socket")
            try:
                unsent += struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
            except (AttributeError, OSError, ValueError):  # no socket (closed): the buffer alone
                pass
        return unsent

    def _watch(self, unsent: int) -> None:
        self._stall = asyncio.get_running_loop().call_later(WRITE_TIMEOUT, self._check_progress, unsent)

    def _check_progress(self, unsent_before: int) -> None:
        self._stall = None
        if self._sink is None or self._sink.is_closing() and not self._sink.get_write_buffer_size():
            return
        unsent = self._unsent()
        if unsent == unsent_before:
            log.debug("a reader took nothing of its answer for %gs: closing its connection", WRITE_TIMEOUT)
            self._sink.abort()
            return
        self._watch(unsent)

    def resume_writing(self) -> None:
        self._stop_watch()
        super().resume_writing()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_watch()
        self._sink = None
        super().connection_lost(exc)

    def _stop_watch(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None


class _Server(web.Server):
    """aiohttp's server, making ``_Connection``s and taking at most ``limit`` at once."""

    limit = MAX_CLIENTS
    _refusing = False

    def __call__(self) -> RequestHandler:
        return _Connection(self, loop=self._loop, **self._kwargs)

    def full(self) -> bool:
        if len(self._connections) < self.limit:
            self._refusing = False
            return False
        if not self._refusing:  # once per spell, not once per connection of a flood
            log.warning("serving %d connections, the most it takes: new ones get 503 until some close",
                        len(self._connections))
            self._refusing = True
        return True


class _Runner(web.AppRunner):
    def __init__(self, app: web.Application, *, max_clients: int, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.max_clients = max_clients

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()
        server = _Server(made.request_handler, request_factory=made.request_factory,
                         handler_cancellation=made.handler_cancellation, loop=asyncio.get_running_loop(),
                         **made._kwargs)
        server.limit = self.max_clients
        return server


async def start_server(app: web.Application, host: str, port: int, *,
                       max_clients: int | None = None) -> web.AppRunner:
    """Start listening on host:port (0 picks a free port); ``await runner.cleanup()`` stops it.

    At most ``max_clients`` connections at once (default: ``client_limit()``)."""
    runner = _Runner(app, max_clients=client_limit() if max_clients is None else max_clients,
                     shutdown_timeout=SHUTDOWN_TIMEOUT, keepalive_timeout=IDLE_TIMEOUT,
                     logger=_ServerLog(logging.getLogger("aiohttp.server"), {}))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=LISTEN_BACKLOG).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def bound_port(runner: web.AppRunner) -> int:
    """The port the runner actually listens on (useful after binding port 0)."""
    return int(runner.addresses[0][1])


def url_for(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


async def _serve_until_signal(output_dir: Path, host: str, port: int,
                              health: Callable[[], Mapping[str, Any]] | None,
                              max_age: Callable[[str], int] | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        runner = await start_server(make_app(output_dir, health=health, max_age=max_age), host, port)
        try:
            log.info("serving %s on %s", output_dir, url_for(host, bound_port(runner)))
            await stop.wait()
            log.info("stopping the HTTP server")
        finally:
            await runner.cleanup()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def serve_forever(output_dir: Path, host: str, port: int, *,
                  health: Callable[[], Mapping[str, Any]] | None = None,
                  max_age: Callable[[str], int] | None = None) -> None:
    """Serve ``output_dir`` until SIGINT or SIGTERM, then stop cleanly and return.

    Raises OSError when the address cannot be bound (in use, not a local address).
    """
    raise_open_files_limit()
    asyncio.run(_serve_until_signal(Path(output_dir), host, port, health, max_age))
