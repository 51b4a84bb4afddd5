"""A programmable upstream feed server on 127.0.0.1 for tests and the benchmark.

Each path answers what its ``Route`` says: a body (or an endless one), a status, headers, a delay
before answering, gzip, a redirect, and conditional-GET validators that turn a matching request
into a 304. Every request is counted and its headers recorded, so a test can assert what the
aggregator sent (``If-None-Match`` on a second fetch, the User-Agent) and how often it came.

It is a ``ThreadingHTTPServer`` in a background thread: one thread per request means a deliberately
slow or endless answer never holds up the others, and ``stop()`` wakes every waiting handler so a
test never waits for a sleep to finish. Use the ``feed_server`` fixture, or ``FeedServer`` as a
context manager. The ``rss20``/``atom10``/... builders write small documents in each format.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

import pytest

__all__ = ["Route", "FeedServer", "feed_server", "Entry", "FORMATS", "build_feed", "http_date"]

_CHUNK = b"<item><title>more</title></item>" * 2048  # 64 kB of an endless document


@dataclass
class Route:
    """What one path answers. Edit the fields between refreshes to change the upstream."""

    body: bytes = b""
    status: int = 200
    content_type: str | None = "application/xml"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before sending anything
    gzip: bool = False  # compress when the client accepts gzip
    etag: str | None = None  # sent, and a matching If-None-Match gets 304
    last_modified: str | None = None  # sent, and an equal If-Modified-Since gets 304
    redirect: str | None = None  # Location (absolute or relative); status should be 3xx
    endless: bool = False  # stream body chunks until the client hangs up
    before: Callable[[], None] | None = None  # run on each request before it is answered (stop a database, say)


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]  # lower-cased names
    status: int  # what we answered


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass  # keep pytest output clean

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        route = owner.routes.get(path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        if route is None:
            route = Route(body=b"no such path", status=404, content_type="text/plain")
        if route.before is not None:
            route.before()
        if route.delay and owner.stopping.wait(route.delay):
            return  # the server is stopping: give up without answering
        status = route.status
        if status == 200 and self._not_modified(route, headers):
            status = 304
        owner.record(Seen(path, headers, status))
        self.send_response(status)
        out_headers = dict(route.headers)
        if route.etag:
            out_headers["ETag"] = route.etag
        if route.last_modified:
            out_headers["Last-Modified"] = route.last_modified
        if route.redirect:
            out_headers["Location"] = route.redirect
        for name, value in out_headers.items():
            self.send_header(name, value)
        if status == 304:
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if route.content_type:
            self.send_header("Content-Type", route.content_type)
        if route.endless:
            self._endless(owner.stopping)
            return
        body = route.body
        if route.gzip and "gzip" in headers.get("accept-encoding", ""):
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    @staticmethod
    def _not_modified(route: Route, headers: dict[str, str]) -> bool:
        if route.etag and "if-none-match" in headers:
            return route.etag in [t.strip() for t in headers["if-none-match"].split(",")]
        return bool(route.last_modified) and headers.get("if-modified-since") == route.last_modified

    def _endless(self, stopping: threading.Event) -> None:
        # No Content-Length and a closed connection at the end: the client can only stop by
        # counting bytes, which is what the body cap is for.
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        self.wfile.write(b"<?xml version='1.0'?><rss version='2.0'><channel><title>endless</title>")
        try:
            while not stopping.is_set():
                self.wfile.write(_CHUNK)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up, as it should


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    owner: FeedServer


class FeedServer:
    """The server and its routing table; ``url(path)`` gives the absolute URL of a path."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="feedserver", daemon=True)

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # wakes delayed handlers and ends endless bodies
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, body: bytes = b"", **kw: object) -> Route:
        """Install (or replace) what ``path`` answers; returns the Route to edit later."""
        r = Route(body=body, **kw)  # type: ignore[arg-type]
        self.routes[path] = r
        return r

    def redirect(self, path: str, to: str, status: int = 301) -> Route:
        return self.route(path, status=status, redirect=to, content_type=None)

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def requests(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == path]

    def hits(self, path: str) -> int:
        return len(self.requests(path))


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


# --- documents in every format ---------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    link: str | None = None
    content: str = ""  # HTML
    updated: datetime = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(timezone.utc), usegmt=True)


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _rss_items(entries: Sequence[Entry], *, guid: bool, dates: bool) -> str:
    out = []
    for e in entries:
        parts = [f"<title>{escape(e.title)}</title>"]
        if e.link:
            parts.append(f"<link>{escape(e.link)}</link>")
        parts.append(f"<description>{escape(e.content)}</description>")
        if guid:
            parts.append(f'<guid isPermaLink="false">{escape(e.id)}</guid>')
        if dates:
            parts.append(f"<pubDate>{http_date(e.updated)}</pubDate>")
        out.append("<item>" + "".join(parts) + "</item>")
    return "".join(out)


def rss091(title: str, entries: Sequence[Entry], site: str = "http://example.org/") -> bytes:
    # 0.91 has no guid and no item dates: identity falls back to the link.
    return (f'<?xml version="1.0"?><rss version="0.91"><channel><title>{escape(title)}</title>'
            f"<link>{escape(site)}</link><description>d</description><language>en</language>"
            f"{_rss_items(entries, guid=False, dates=False)}</channel></rss>").encode()


def rss092(title: str, entries: Sequence[Entry], site: str = "http://example.org/") -> bytes:
    return (f'<?xml version="1.0"?><rss version="0.92"><channel><title>{escape(title)}</title>'
            f"<link>{escape(site)}</link><description>d</description>"
            f"{_rss_items(entries, guid=False, dates=False)}</channel></rss>").encode()


def rss20(title: str, entries: Sequence[Entry], site: str = "http://example.org/") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{escape(title)}</title><link>{escape(site)}</link><description>d</description>"
            f"{_rss_items(entries, guid=True, dates=True)}</channel></rss>").encode()


def rss10(title: str, entries: Sequence[Entry], site: str = "http://example.org/") -> bytes:
    items = "".join(
        f'<item rdf:about="{escape(e.id)}"><title>{escape(e.title)}</title>'
        f"<link>{escape(e.link or e.id)}</link><description>{escape(e.content)}</description>"
        f"<dc:date>{_iso(e.updated)}</dc:date></item>"
        for e in entries
    )
    seq = "".join(f'<rdf:li rdf:resource="{escape(e.id)}"/>' for e in entries)
    return ('<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<channel rdf:about="{escape(site)}"><title>{escape(title)}</title><link>{escape(site)}</link>'
            f"<description>d</description><items><rdf:Seq>{seq}</rdf:Seq></items></channel>"
            f"{items}</rdf:RDF>").encode()


def atom03(title: str, entries: Sequence[Entry], site: str = "http://example.org/") -> bytes:
    items = "".join(
        f"<entry><title>{escape(e.title)}</title>"
        + (f'<link rel="alternate" type="text/html" href="{escape(e.link)}"/>' if e.link else "")
        + f"<id>{escape(e.id)}</id><issued>{_iso(e.updated)}</issued><modified>{_iso(e.updated)}</modified>"
        f'<content type="text/html" mode="escaped">{escape(e.content)}</content></entry>'
        for e in entries
    )
    return ('<?xml version="1.0"?><feed version="0.3" xmlns="http://purl.org/atom/ns#">'
            f'<title>{escape(title)}</title><link rel="alternate" type="text/html" href="{escape(site)}"/>'
            f"<modified>2024-05-01T12:00:00Z</modified><author><name>a</name></author>{items}</feed>").encode()


def atom10(title: str, entries: Sequence[Entry], site: str = "http://example.org/") -> bytes:
    items = "".join(
        f"<entry><title>{escape(e.title)}</title>"
        + (f'<link href="{escape(e.link)}"/>' if e.link else "")
        + f"<id>{escape(e.id)}</id><updated>{_iso(e.updated)}</updated>"
        f'<content type="html">{escape(e.content)}</content></entry>'
        for e in entries
    )
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f'<title>{escape(title)}</title><link href="{escape(site)}"/><id>urn:x:{escape(title)}</id>'
            f"<updated>2024-05-01T12:00:00Z</updated><author><name>a</name></author>{items}</feed>").encode()


def _jsonfeed(version: str, title: str, entries: Sequence[Entry], site: str) -> bytes:
    author_key = "authors" if version.endswith("1.1") else "author"
    author: object = [{"name": "a"}] if author_key == "authors" else {"name": "a"}
    items = [
        {"id": e.id, "title": e.title, "content_html": e.content, "date_modified": _iso(e.updated),
         **({"url": e.link} if e.link else {})}
        for e in entries
    ]
    return json.dumps({"version": version, "title": title, "home_page_url": site,
                       author_key: author, "items": items}).encode()


def jsonfeed10(title: str, entries: Sequence[Entry], site: str = "http://example.org/") -> bytes:
    return _jsonfeed("https://jsonfeed.org/version/1", title, entries, site)


def jsonfeed11(title: str, entries: Sequence[Entry], site: str = "http://example.org/") -> bytes:
    return _jsonfeed("https://jsonfeed.org/version/1.1", title, entries, site)


# name -> (builder, the Content-Type a typical server sends)
FORMATS = {
    "rss091": (rss091, "application/rss+xml"),
    "rss092": (rss092, "text/xml"),
    "rss10": (rss10, "application/rdf+xml"),
    "rss20": (rss20, "application/rss+xml; charset=utf-8"),
    "atom03": (atom03, "application/atom+xml"),
    "atom10": (atom10, "application/atom+xml"),
    "jsonfeed10": (jsonfeed10, "application/json"),
    "jsonfeed11": (jsonfeed11, "application/feed+json"),
}


def build_feed(fmt: str, title: str, entries: Sequence[Entry], site: str = "http://example.org/") -> bytes:
    return FORMATS[fmt][0](title, entries, site)
