"""An HTTP/2 server over TLS on 127.0.0.1 for fetch tests (the h2 library on asyncio).

libcurl speaks HTTP/2 to any https host that offers it (ALPN "h2"), as most large
sites do, so the fetcher must read HTTP/2 answers as well as HTTP/1.1 ones: a status
line with no reason phrase, lower-case header names, one connection for many streams.

Routes (GET):
- ``/feed``: 200 with ``FEED``, an ETag and Last-Modified; 304 when If-None-Match matches;
- ``/moved``: 301 to ``/feed``;
- ``/slow/<n>``: 200 after 0.2 s (the server records how many streams run at once);
- anything else: 404.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events

FEED = (b"<?xml version='1.0'?><rss version='2.0'><channel><title>h2</title>"
        b"<item><title>one</title></item></channel></rss>")
ETAG = '"h2-feed"'
LAST_MODIFIED = "Mon, 02 Mar 2026 10:00:00 GMT"
TLS_DIR = Path(__file__).parent / "data" / "tls"  # a self-signed certificate for 127.0.0.1, valid to 2126


class _Protocol(asyncio.Protocol):
    def __init__(self, server: H2Server):
        self.server = server
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.open.add(self)
        self.server.connections += 1
        self.server.protocols.append(transport.get_extra_info("ssl_object").selected_alpn_protocol())
        self.conn.initiate_connection()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.open.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                self._request(event.stream_id, dict(event.headers))
        self._flush()

    def _flush(self) -> None:
        if self.transport is not None:
            self.transport.write(self.conn.data_to_send())

    def _request(self, stream: int, headers: dict[str, str]) -> None:
        path = headers.get(":path", "")
        self.server.requests.append((headers.get(":method", ""), path, headers))
        if path == "/feed":
            if headers.get("if-none-match") == ETAG:
                self._answer(stream, 304, [("etag", ETAG)])
            else:
                self._answer(stream, 200, [("content-type", "application/rss+xml"), ("etag", ETAG),
                                           ("last-modified", LAST_MODIFIED)], FEED)
        elif path == "/moved":
            self._answer(stream, 301, [("location", "/feed")])
        elif path.startswith("/slow/"):
            self.server.running += 1
            self.server.most_running = max(self.server.most_running, self.server.running)
            asyncio.get_running_loop().call_later(0.2, self._slow_done, stream, path[6:].encode())
        else:
            self._answer(stream, 404, [("content-type", "text/plain")], b"not here")

    def _slow_done(self, stream: int, body: bytes) -> None:
        self.server.running -= 1
        self._answer(stream, 200, [("content-type", "text/plain")], body)
        self._flush()

    def _answer(self, stream: int, status: int, headers: list[tuple[str, str]], body: bytes = b"") -> None:
        self.conn.send_headers(stream, [(":status", str(status)), ("content-length", str(len(body))), *headers],
                               end_stream=not body)
        if body:
            self.conn.send_data(stream, body, end_stream=True)


class H2Server:
    """Serves in a thread of its own until ``stop()``; ``url`` is its https base URL."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.connections = 0
        self.open: set[_Protocol] = set()  # connections not yet closed
        self.protocols: list[str | None] = []  # what each connection negotiated (ALPN)
        self.running = 0
        self.most_running = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: Any = None
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the HTTP/2 test server did not start in 10 s")
        if self._failed is not None:
            raise RuntimeError("the HTTP/2 test server could not start") from self._failed
        self.url = f"https://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def _run(self) -> None:
        try:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(TLS_DIR / "cert.pem", TLS_DIR / "key.pem")
            context.set_alpn_protocols(["h2"])
            asyncio.set_event_loop(self._loop)
            self._server = self._loop.run_until_complete(
                self._loop.create_server(lambda: _Protocol(self), "127.0.0.1", 0, ssl=context))
        except BaseException as e:  # the constructor raises it
            self._failed = e
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        def close() -> None:
            self._server.close()
            for protocol in list(self.open):
                if protocol.transport is not None:
                    protocol.transport.abort()  # its socket closes on the next turn
            self._loop.call_soon(self._loop.stop)

        self._loop.call_soon_threadsafe(close)
        self._thread.join(10)
        self._loop.close()
