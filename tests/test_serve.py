"""The HTTP feed server, exercised as a real server on 127.0.0.1 (and the `serve` command)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import http.client
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aggregator.cli import main
from aggregator.serve import _accepts_gzip, _FileCache, _safe_name, bound_port, make_app, start_server

ALL = b'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"><title>all</title></feed>\n'
TOPIC = b'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"><title>baltic</title></feed>\n'
OPML = b'<?xml version="1.0" encoding="utf-8"?>\n<opml version="2.0"><head/><body/></opml>\n'
HTML = "<!doctype html><title>Feeds \u2013 NATO Watch</title>\n".encode()
SECRET = b"secret = 'outside the served folder'\n"


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


@dataclass
class Server:
    port: int
    root: Path
    runner: Any = None

    def get(self, path: str, headers: Mapping[str, str] | None = None, method: str = "GET") -> Reply:
        # http.client sends the path exactly as given: no client-side '..' collapsing.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, path, headers=dict(headers or {}))
            resp = conn.getresponse()
            return Reply(resp.status, resp.headers, resp.read())
        finally:
            conn.close()


def replace(path: Path, data: bytes, mtime: float) -> None:
    """Replace a file the way the publisher does: write a temp file, then rename over."""
    tmp = path.with_name(f".{path.name}.new.tmp")
    tmp.write_bytes(data)
    os.utime(tmp, (mtime, mtime))
    os.replace(tmp, path)


def run_server(root: Path, **kwargs: Any) -> Iterator[Server]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = asyncio.run_coroutine_threadsafe(
        start_server(make_app(root, **kwargs), "127.0.0.1", 0), loop).result(10)
    try:
        yield Server(bound_port(runner), root, runner)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "feeds"
    root.mkdir()
    (root / "all.xml").write_bytes(ALL)
    (root / "baltic-security.xml").write_bytes(TOPIC)
    (root / "index.opml").write_bytes(OPML)
    (root / "index.html").write_bytes(HTML)
    (tmp_path / "aggregator.toml").write_bytes(SECRET)
    (tmp_path / "secret.xml").write_bytes(SECRET)
    old = time.time() - 3600  # an hour ago, so If-Modified-Since "now" is clearly later
    for f in root.iterdir():
        os.utime(f, (old, old))
    return root


@pytest.fixture
def server(site: Path) -> Iterator[Server]:
    yield from run_server(site)


def strong_etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


@pytest.mark.parametrize("path, body, ctype", [
    ("/", HTML, "text/html; charset=utf-8"),
    ("/index.html", HTML, "text/html; charset=utf-8"),
    ("/all.xml", ALL, "application/atom+xml; charset=utf-8"),
    ("/baltic-security.xml", TOPIC, "application/atom+xml; charset=utf-8"),
    ("/all.xml?utm_source=reader", ALL, "application/atom+xml; charset=utf-8"),
    ("/index.opml", OPML, "text/x-opml; charset=utf-8"),
])
def test_content_types_bodies_and_caching_headers(server: Server, path: str, body: bytes, ctype: str) -> None:
    r = server.get(path)
    assert r.status == 200
    assert r.body == body
    assert r.headers["Content-Type"] == ctype
    assert r.headers["ETag"] == strong_etag(body)
    name = "index.html" if path == "/" else path[1:].split("?")[0]
    mtime = int((server.root / name).stat().st_mtime)
    assert parsedate_to_datetime(r.headers["Last-Modified"]).timestamp() == mtime
    assert r.headers["Cache-Control"] == "public, max-age=300"
    assert r.headers["Vary"] == "Accept-Encoding"
    assert "Content-Encoding" not in r.headers


def test_max_age_callable_is_asked_per_name(site: Path) -> None:
    for srv in run_server(site, max_age=lambda name: 60 if name == "all.xml" else 3600):
        assert srv.get("/all.xml").headers["Cache-Control"] == "public, max-age=60"
        assert srv.get("/index.opml").headers["Cache-Control"] == "public, max-age=3600"
        assert srv.get("/").headers["Cache-Control"] == "public, max-age=3600"


def test_head_has_headers_but_no_body(server: Server) -> None:
    r = server.get("/all.xml", method="HEAD")
    assert r.status == 200 and r.body == b""
    assert r.headers["Content-Length"] == str(len(ALL))
    assert r.headers["ETag"] == strong_etag(ALL)
    assert r.headers["Content-Type"] == "application/atom+xml; charset=utf-8"


@pytest.mark.parametrize("inm", [
    "{tag}",
    "W/{tag}",
    '"something-else", {tag}',
    '"a", W/{tag}, "b"',
    "*",
])
def test_if_none_match_answers_304(server: Server, inm: str) -> None:
    r = server.get("/all.xml", {"If-None-Match": inm.format(tag=strong_etag(ALL))})
    assert r.status == 304 and r.body == b""
    assert r.headers["ETag"] == strong_etag(ALL)
    assert r.headers["Cache-Control"] == "public, max-age=300"


def test_if_none_match_sent_as_several_lines_or_with_empty_elements(server: Server) -> None:
    # RFC 9110 §5.3: a list field sent as several lines is one list; §5.6.1.2: empty
    # elements (what a sender merging values leaves) are accepted and ignored. Only the
    # first line was read, and a leading empty element hid every tag after it: 200s
    # with the whole feed for a reader whose copy was current.
    tag = strong_etag(ALL)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.putrequest("GET", "/all.xml")
        conn.putheader("If-None-Match", '"old"')
        conn.putheader("If-None-Match", tag)
        conn.endheaders()
        assert conn.getresponse().status == 304
    finally:
        conn.close()
    for inm in (f", {tag}", f'"a", , {tag}', f" ,W/{tag} ,"):
        assert server.get("/all.xml", {"If-None-Match": inm}).status == 304, inm
    assert server.get("/all.xml", {"If-None-Match": ', "other"'}).status == 200


def test_if_none_match_decides_over_if_modified_since(server: Server) -> None:
    later = formatdate(time.time() + 60, usegmt=True)
    r = server.get("/all.xml", {"If-None-Match": '"stale"', "If-Modified-Since": later})
    assert r.status == 200 and r.body == ALL


def test_if_modified_since(server: Server) -> None:
    last_modified = server.get("/all.xml").headers["Last-Modified"]
    assert server.get("/all.xml", {"If-Modified-Since": last_modified}).status == 304
    assert server.get("/all.xml", {"If-Modified-Since": formatdate(time.time(), usegmt=True)}).status == 304
    earlier = formatdate(parsedate_to_datetime(last_modified).timestamp() - 1, usegmt=True)
    r = server.get("/all.xml", {"If-Modified-Since": earlier})
    assert r.status == 200 and r.body == ALL
    assert server.get("/all.xml", {"If-Modified-Since": "not a date"}).status == 200


def test_if_modified_since_later_than_the_server_clock_is_ignored(server: Server) -> None:
    # A date to come is none the server sent: a clock ran ahead (the reader's, or the
    # server's before NTP set it back, readers keeping its Last-Modified). Taken, it
    # answered 304 to every new version of the feed until that time came.
    path = server.root / "all.xml"
    new = ALL.replace(b"<title>all</title>", b"<title>all, later</title>")
    replace(path, new, time.time() - 60)
    for when in (time.time() + 3600, datetime(2050, 1, 1, tzinfo=timezone.utc).timestamp()):
        r = server.get("/all.xml", {"If-Modified-Since": formatdate(when, usegmt=True)})
        assert r.status == 200 and r.body == new
    # A date up to now still counts.
    assert server.get("/all.xml", {"If-Modified-Since": formatdate(time.time(), usegmt=True)}).status == 304


def test_if_modified_since_in_another_zone_is_read_in_that_zone(server: Server) -> None:
    # An HTTP date is GMT; a client that writes its local time with an offset means that
    # instant. Read as GMT, 14:00 +0500 (09:00 GMT, before the file changed) was taken as
    # later than the file and the reader got 304 for a feed it had never seen.
    mtime = int((server.root / "all.xml").stat().st_mtime)
    east = format_datetime(datetime.fromtimestamp(mtime, timezone(timedelta(hours=5))))
    before = format_datetime(datetime.fromtimestamp(mtime - 3600, timezone(timedelta(hours=5))))
    west = format_datetime(datetime.fromtimestamp(mtime, timezone(timedelta(hours=-5))))
    assert server.get("/all.xml", {"If-Modified-Since": east}).status == 304
    assert server.get("/all.xml", {"If-Modified-Since": west}).status == 304
    r = server.get("/all.xml", {"If-Modified-Since": before})
    assert r.status == 200 and r.body == ALL
    # RFC 850 and asctime dates (RFC 9110 §5.6.7) still count, as GMT.
    gmt = time.gmtime(mtime)
    assert server.get("/all.xml", {"If-Modified-Since": time.strftime("%A, %d-%b-%y %H:%M:%S GMT", gmt)}).status == 304
    assert server.get("/all.xml", {"If-Modified-Since": time.strftime("%a %b %e %H:%M:%S %Y", gmt)}).status == 304
    # More than one date is no HTTP-date: ignored (RFC 9110 §13.1.3).
    lm = formatdate(mtime, usegmt=True)
    assert server.get("/all.xml", {"If-Modified-Since": f"{lm}, {lm}"}).status == 200
    # ... and so is one sent as two lines, one list (RFC 9110 §5.3): its first line answered.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.putrequest("GET", "/all.xml")
        conn.putheader("If-Modified-Since", lm)
        conn.putheader("If-Modified-Since", formatdate(mtime - 3600, usegmt=True))
        conn.endheaders()
        assert conn.getresponse().status == 200
    finally:
        conn.close()


def test_replaced_file_is_served_fresh_with_new_validators(server: Server) -> None:
    first = server.get("/all.xml")
    new = ALL.replace(b"<title>all</title>", b"<title>all, updated</title>")
    replace(server.root / "all.xml", new, time.time())
    r = server.get("/all.xml", {"If-None-Match": first.headers["ETag"]})
    assert r.status == 200 and r.body == new
    assert r.headers["ETag"] == strong_etag(new) != first.headers["ETag"]
    assert server.get("/all.xml", {"If-Modified-Since": first.headers["Last-Modified"]}).status == 200
    assert server.get("/all.xml", {"If-None-Match": r.headers["ETag"]}).status == 304
    # Same bytes, same size, but a different mtime: the ETag, a hash of the bytes, stays.
    replace(server.root / "all.xml", new, time.time() - 5)
    again = server.get("/all.xml")
    assert again.headers["ETag"] == r.headers["ETag"]
    assert again.headers["Last-Modified"] != first.headers["Last-Modified"]


def test_a_file_written_this_second_has_no_date_yet(server: Server) -> None:
    # Two publishes within one second would carry one HTTP date: a reader sending only
    # If-Modified-Since after the first would get 304 for the second. While the second
    # of its mtime runs, a file is served without Last-Modified and If-Modified-Since is
    # not taken; its ETag answers as ever.
    now = time.time()
    replace(server.root / "all.xml", ALL, now + 0.5)  # within the current second, or the next
    r = server.get("/all.xml")
    assert r.status == 200 and "Last-Modified" not in r.headers
    assert server.get("/all.xml", {"If-Modified-Since": formatdate(now + 1, usegmt=True)}).status == 200
    assert server.get("/all.xml", {"If-None-Match": r.headers["ETag"]}).status == 304
    replace(server.root / "all.xml", ALL, now - 2)  # that second is over: dated again
    r = server.get("/all.xml")
    assert server.get("/all.xml", {"If-Modified-Since": r.headers["Last-Modified"]}).status == 304


def test_gzip_answer(server: Server) -> None:
    r = server.get("/all.xml", {"Accept-Encoding": "gzip, deflate"})
    assert r.status == 200
    assert r.headers["Content-Encoding"] == "gzip"
    assert r.headers["Vary"] == "Accept-Encoding"
    assert r.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert gzip.decompress(r.body) == ALL
    assert r.headers["ETag"] == strong_etag(ALL)[:-1] + '-gz"'
    # Either tag validates either encoding: both name the same file bytes.
    for tag in (r.headers["ETag"], strong_etag(ALL)):
        for enc in ("gzip", "identity"):
            assert server.get("/all.xml", {"If-None-Match": tag, "Accept-Encoding": enc}).status == 304
    assert server.get("/all.xml", {"Accept-Encoding": "gzip"}).body == r.body  # compressed once, same bytes
    head = server.get("/all.xml", {"Accept-Encoding": "gzip"}, method="HEAD")
    assert head.body == b"" and head.headers["Content-Length"] == str(len(r.body))
    refused = server.get("/all.xml", {"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers and refused.body == ALL


def test_accept_encoding_sent_as_several_lines(server: Server) -> None:
    # RFC 9110 §5.3: a list field sent as several lines is one list. Only the first line
    # was read: gzip named on a second line was not used, and a refusal there ignored.
    def encoding(*lines: str) -> str | None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            conn.putrequest("GET", "/all.xml", skip_accept_encoding=True)
            for line in lines:
                conn.putheader("Accept-Encoding", line)
            conn.endheaders()
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200
            assert (gzip.decompress(body) if resp.headers["Content-Encoding"] else body) == ALL
            return resp.headers["Content-Encoding"]
        finally:
            conn.close()

    assert encoding("deflate", "gzip") == "gzip"
    assert encoding("br", "x-gzip;q=0.5") == "gzip"
    assert encoding("*", "gzip;q=0") is None
    assert encoding("deflate", "br") is None


@pytest.mark.parametrize("header, expected", [
    ("gzip", True), ("GZIP", True), ("deflate, gzip;q=0.5", True), ("x-gzip", True), ("*", True),
    ("", False), ("identity", False), ("gzip;q=0", False), ("gzip; q=0.0, *", False),
    ("br, *;q=0", False), ("gzip;q=bogus", False), ("deflate, br", False),
])
def test_accept_encoding(header: str, expected: bool) -> None:
    assert _accepts_gzip(header) is expected


@pytest.mark.parametrize("raw", [
    "/../aggregator.toml",
    "/../secret.xml",
    "/%2e%2e/secret.xml",
    "/%2E%2E/aggregator.toml",
    "/..%2fsecret.xml",
    "/..%2Fsecret.xml",
    "/..%5csecret.xml",
    "/sub/../all.xml",
    "/sub/../../secret.xml",
    "/./all.xml",
    "//all.xml",
    "/all.xml%00.html",
    "/%ff.xml",
    "/.hidden.xml",
    "/.all.xml.1234.tmp",
    "/nope.xml",
    "/aggregator.toml",
    "/feeds",
    "/index.htm",
])
def test_only_plain_served_names_are_reachable(server: Server, raw: str) -> None:
    (server.root / ".hidden.xml").write_bytes(ALL)
    (server.root / ".all.xml.1234.tmp").write_bytes(ALL)
    (server.root / "aggregator.toml").write_bytes(SECRET)  # inside, but not a published kind of file
    r = server.get(raw)
    assert r.status == 404, raw
    assert SECRET not in r.body and ALL not in r.body


def test_an_absolute_form_request_target_is_served(server: Server) -> None:
    # RFC 9112 §3.2.2: a server must accept "GET http://host/all.xml" (as proxies send).
    for target in (f"http://127.0.0.1:{server.port}/all.xml", f"HTTP://127.0.0.1:{server.port}/all.xml?x=1"):
        r = server.get(target)
        assert r.status == 200 and r.body == ALL, target
    assert server.get(f"http://127.0.0.1:{server.port}/").body == HTML
    for bad in ("http://127.0.0.1/../secret.xml", "http://127.0.0.1/%2e%2e/secret.xml", "ftp://h/all.xml"):
        assert server.get(bad).status == 404, bad


def test_symlinks_and_directories(server: Server) -> None:
    (server.root / "leak.xml").symlink_to(server.root.parent / "secret.xml")
    (server.root / "alias.xml").symlink_to("all.xml")  # stays inside: fine to follow
    (server.root / "loop.xml").symlink_to("loop.xml")
    (server.root / "folder.xml").mkdir()
    (server.root / "folder.xml" / "all.xml").write_bytes(ALL)
    assert server.get("/leak.xml").status == 404
    assert server.get("/loop.xml").status == 404
    assert server.get("/folder.xml").status == 404
    assert server.get("/folder.xml/all.xml").status == 404
    alias = server.get("/alias.xml")
    assert alias.status == 200 and alias.body == ALL


def test_a_connection_without_a_whole_request_is_closed(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A client that sends part of a request and then nothing (slow loris), or that keeps
    # its connection idle after a response, held it open for aiohttp's default hour: a
    # few hundred of them used up the descriptors the service also fetches and stores with.
    import aggregator.serve

    monkeypatch.setattr(aggregator.serve, "IDLE_TIMEOUT", 0.5)
    for server in run_server(site):
        half = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        idle = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        try:
            half.sendall(b"GET /all.xml HTTP/1.1\r\nHost: x\r\n")  # no blank line: never ends
            idle.sendall(b"GET /index.opml HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while len(answer) < len(OPML) or not answer.endswith(OPML):
                answer += idle.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 ")
            # The server closes both: recv sees the end, not the 10 s timeout.
            assert half.recv(1024) == b""
            assert idle.recv(1024) == b""
        finally:
            half.close()
            idle.close()


def _stalled_reader(port: int, path: str) -> tuple[socket.socket, bytes]:
    """A connection that asks for ``path`` with a small receive buffer and reads the answer's
    head (returned with the start of its body), then nothing: what is left of a large body
    waits in the server's buffers."""
    conn = socket.socket()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window stays small
    conn.settimeout(10)
    conn.connect(("127.0.0.1", port))
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += conn.recv(1024)
    assert head.startswith(b"HTTP/1.1 200 ")
    return conn, head.partition(b"\r\n\r\n")[2]


def test_a_reader_that_stops_reading_a_large_answer_is_cut_off(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # aiohttp has no write timeout: a reader that stopped reading in the middle of a feed
    # larger than the socket buffers held its connection (and the unsent rest) for ever,
    # the idle timeout not being armed while an answer is written.
    import aggregator.serve

    monkeypatch.setattr(aggregator.serve, "WRITE_TIMEOUT", 0.5)
    big = os.urandom(6 * 1024 * 1024)  # incompressible, far past loopback's socket buffers
    (site / "big.xml").write_bytes(big)
    for server in run_server(site):
        conn, received = _stalled_reader(server.port, "/big.xml")
        try:
            assert wait_for(lambda: not server.runner.server.connections, 10), "the stalled connection is still open"
            try:
                while chunk := conn.recv(1 << 20):
                    received += chunk
            except ConnectionResetError:
                pass
            assert len(received) < len(big)  # cut off, not finished once the reader came back
        finally:
            conn.close()


def test_a_slow_reader_that_keeps_reading_gets_the_whole_answer(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import aggregator.serve

    monkeypatch.setattr(aggregator.serve, "WRITE_TIMEOUT", 0.5)
    big = os.urandom(1024 * 1024)
    (site / "big.xml").write_bytes(big)
    for server in run_server(site):
        conn, received = _stalled_reader(server.port, "/big.xml")
        try:
            while len(received) < len(big):
                chunk = conn.recv(256 * 1024)
                assert chunk, "the server closed a connection that was making progress"
                received += chunk
                time.sleep(0.01)  # slow, but each check of the server sees progress
            assert received == big
        finally:
            conn.close()


def test_a_reader_taking_an_answer_slower_than_the_kernel_buffers_drain_is_not_cut_off(
        site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The watchdog looked at the transport's buffer only, which moves when the kernel's send
    # buffer (megabytes on a fast path) has drained by a third: a reader steadily taking less
    # than that per WRITE_TIMEOUT (on loopback some 40 KB/s for 30 s) was cut off mid-feed.
    import aggregator.serve

    monkeypatch.setattr(aggregator.serve, "WRITE_TIMEOUT", 0.5)
    big = os.urandom(4 * 1024 * 1024)
    (site / "big.xml").write_bytes(big)
    for server in run_server(site):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(b"GET /big.xml HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while b"\r\n\r\n" not in received:
                received += conn.recv(1024)
            body = received.partition(b"\r\n\r\n")[2]
            while len(body) < len(big):
                chunk = conn.recv(64 * 1024)
                assert chunk, f"cut off after {len(body)} bytes of {len(big)} while reading steadily"
                body += chunk
                time.sleep(0.05)  # about 1 MB/s: some 600 KB every WRITE_TIMEOUT
            assert body == big


def test_a_malformed_request_is_answered_400_and_logged_as_one_debug_line(
        server: Server, caplog: pytest.LogCaptureFixture) -> None:
    # A request the client got wrong is no error of the service's: each was an ERROR with
    # a ten-line traceback, so any client could fill its log and set off its alerts.
    caplog.set_level(logging.DEBUG, logger="aiohttp.server")
    for request in (b"GET /all.xml HTTP/1.1\r\n\r\n",  # no Host
                    b"GET all.xml HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /\xff.xml HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET /all.xml HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 9000 + b"\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
            conn.sendall(request)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n")[0], request[:30]
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.levelname for r in records] == ["DEBUG"] * 4
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in records)
    assert "400" in records[0].getMessage() and "Host" in records[0].getMessage()


def test_a_request_in_no_http_method_is_one_debug_line_too(
        server: Server, caplog: pytest.LogCaptureFixture) -> None:
    # aiohttp logs a bad method itself (a TLS hello or a scanner's bytes on the HTTP port)
    # at debug level, with its traceback: ten lines under -v where README promises one.
    caplog.set_level(logging.DEBUG, logger="aiohttp.server")
    for request in (b"GARBAGE / HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
            conn.sendall(request)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert b" 400 " in answer.split(b"\r\n")[0], request[:30]
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.levelname for r in records] == ["DEBUG"] * 2
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in records), \
        [r.getMessage() for r in records]
    assert "400" in records[0].getMessage() and "method" in records[0].getMessage().lower()


def test_the_server_log_keeps_its_own_failures_errors_with_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    from aggregator.serve import _ServerLog

    try:
        raise RuntimeError("a bug in the handler")
    except RuntimeError as e:
        _ServerLog(logging.getLogger("aiohttp.server"), {}).exception("Unhandled exception", exc_info=e)
    (record,) = caplog.records
    assert record.levelname == "ERROR" and record.exc_info is not None


def test_missing_and_empty_files(server: Server) -> None:
    (server.root / "baltic-security.xml").unlink()
    assert server.get("/baltic-security.xml").status == 404
    (server.root / "all.xml").write_bytes(b"")
    r = server.get("/all.xml")
    assert r.status == 503 and r.headers["Retry-After"] == "5"
    assert "ETag" not in r.headers
    (server.root / "index.html").unlink()
    assert server.get("/").status == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_refused(server: Server, method: str) -> None:
    for path in ("/all.xml", "/", "/nope.xml", "/healthz"):
        r = server.get(path, method=method)
        assert r.status == 405, (method, path)
        assert r.headers["Allow"] == "GET, HEAD"


def test_healthz_default(server: Server) -> None:
    r = server.get("/healthz")
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-store"
    assert json.loads(r.body) == {"status": "ok"}


def test_healthz_reports_the_callable_each_time(site: Path) -> None:
    calls: list[int] = []

    def health() -> Mapping[str, Any]:
        calls.append(1)
        return {"status": "degraded", "failing": ["nato-news"], "count": len(calls)}

    for srv in run_server(site, health=health):
        assert json.loads(srv.get("/healthz").body)["count"] == 1
        r = srv.get("/healthz")
        assert r.status == 200 and "ETag" not in r.headers
        assert json.loads(r.body) == {"status": "degraded", "failing": ["nato-news"], "count": 2}


def test_healthz_survives_a_failing_probe(site: Path) -> None:
    def broken() -> Mapping[str, Any]:
        raise RuntimeError("database is gone")

    for srv in run_server(site, health=broken):
        r = srv.get("/healthz")
        assert r.status == 503
        assert json.loads(r.body) == {"status": "error", "error": "database is gone"}
        assert srv.get("/all.xml").status == 200


def test_file_cache_reads_each_version_once(site: Path) -> None:
    cache = _FileCache(site)
    first = cache.lookup("all.xml")
    assert first is not None and cache.lookup("all.xml") is first
    assert first.gzipped() is first.gzipped()
    replace(site / "all.xml", ALL + b"\n", time.time())
    second = cache.lookup("all.xml")
    assert second is not None and second is not first and second.body == ALL + b"\n"


def test_safe_name() -> None:
    assert _safe_name("/") == "index.html"
    assert _safe_name("/all.xml?x=1") == "all.xml"
    assert _safe_name("/baltic%2Dsecurity.xml") == "baltic-security.xml"
    for bad in ("/..", "/a/b.xml", "/%2e%2e%2fa.xml", "/a%5cb.xml", "/.x.xml", "/a%00.xml", "/x.db", "x.xml"):
        assert _safe_name(bad) is None, bad


# --- the `serve` command, as a real process -------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def set_listen(config: Path, listen: str) -> None:
    text = config.read_text(encoding="utf-8")
    assert 'listen = "127.0.0.1:8080"' in text
    config.write_text(text.replace('listen = "127.0.0.1:8080"', f'listen = "{listen}"', 1), encoding="utf-8")


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_serve_command_publishes_serves_and_stops_on_sigterm(project: Path) -> None:
    port = free_port()
    set_listen(project / "aggregator.toml", f"127.0.0.1:{port}")
    exe = Path(sys.executable).with_name("aggregator")
    proc = subprocess.Popen([str(exe), "--config", str(project / "aggregator.toml"), "serve"],
                            cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    srv = Server(port, project / "feeds")

    def answers() -> bool:
        try:
            return srv.get("/all.xml").status == 200
        except OSError:
            return False

    try:
        assert wait_for(answers, 10), "server never answered"
        r = srv.get("/all.xml")
        assert r.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
        assert r.body == (project / "feeds" / "all.xml").read_bytes()
        assert r.body.startswith(b"<?xml")
        assert srv.get("/").status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert f"serving {project / 'feeds'} on http://127.0.0.1:{port}/" in err


# An empty --listen (a script's unset variable) is no address: it served on the config's.
@pytest.mark.parametrize("listen", ["nowhere", ""])
def test_serve_command_rejects_a_bad_listen_without_writing(project: Path, listen: str) -> None:
    result = CliRunner().invoke(main, ["--config", str(project / "aggregator.toml"), "serve",
                                       "--listen", listen])
    assert result.exit_code == 2
    assert "--listen" in result.output
    assert not (project / "feeds").exists() and not (project / "aggregator.db").exists()
