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
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timezone
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 300
SHUTDOWN_TIMEOUT = 2.0  # seconds an open keep-alive connection may delay a stop
# Seconds a connection may stay open without a whole request: idle between requests, or
# still sending its first one. aiohttp's default is an hour, so each slow or silent client
# (a slow-loris one by the thousand) held a descriptor that long, and a service under
# systemd's 1024 ran out of them for its fetches, database and publish.
IDLE_TIMEOUT = 15.0

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
    A failure of the server itself (a 500) stays an ERROR with its traceback."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError) and exc_info.code < 500:
            reason = (exc_info.message or type(exc_info).__name__).splitlines()[0]
            self.debug("%s: %d %s", str(msg) % args if args else msg, exc_info.code or 400, reason)
            return
        self.error(msg, *args, exc_info=exc_info, **kwargs)


async def start_server(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start listening on host:port (0 picks a free port); ``await runner.cleanup()`` stops it."""
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT, keepalive_timeout=IDLE_TIMEOUT,
                           logger=_ServerLog(logging.getLogger("aiohttp.server"), {}))
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
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
    asyncio.run(_serve_until_signal(Path(output_dir), host, port, health, max_age))
