"""Loopback feed server for the benchmark, run in its own process.

Serves ``/feed/<i>.xml`` for i in 0…N-1, each answer ``latency`` after its request arrived,
with ETag/Last-Modified and 304 answers. Two knobs, set over HTTP by the measuring
process between its phases (``POST /_control?ignore_validators=1&generation=3``):

- ``ignore_validators``: always answer 200 with the same bytes (a server that never
  sends 304, as many real ones do);
- ``generation``: shift every feed by that many entries (one new, one dropped each),
  so consecutive refreshes see a live feed.

``python -m bench.feedserver --feeds 1000 --latency 0.05`` prints ``PORT <n>`` once it
listens on 127.0.0.1 and serves until terminated. It stays lean (bodies rendered once
per generation, no access log) because it shares the machine's two cores with the
process being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections import deque
from datetime import timedelta
from email.utils import format_datetime
from urllib.parse import parse_qsl

from bench.gen import EPOCH, feed_document


class FeedState:
    def __init__(self, feeds: int, latency: float, base_url: str = "http://127.0.0.1"):
        self.feeds = feeds
        self.latency = latency
        self.base_url = base_url
        self.ignore_validators = False
        self.generation = 0
        self.requests = 0
        self._bodies: list[bytes] = []

    def body(self, i: int) -> bytes:
        return self._bodies[i]

    def render(self) -> None:
        # Rendered up front (about 1 ms a feed) so no measured request waits for it.
        self._bodies = [feed_document(self.base_url, i, self.generation) for i in range(self.feeds)]

    def set_generation(self, g: int) -> None:
        if g != self.generation:
            self.generation = g
            self.render()

    def etag(self, i: int) -> str:
        return f'"f{i}-g{self.generation}"'

    def last_modified(self) -> str:
        return format_datetime(EPOCH + timedelta(hours=self.generation), usegmt=True)

    def control(self, q: dict[str, str]) -> dict[str, object]:
        """Apply ``POST /_control``'s query; answers the state after it."""
        if "ignore_validators" in q:
            self.ignore_validators = q["ignore_validators"] == "1"
        if "generation" in q:
            self.set_generation(int(q["generation"]))
        if "latency" in q:
            self.latency = float(q["latency"])
        return {"ignore_validators": self.ignore_validators, "generation": self.generation,
                "latency": self.latency, "requests": self.requests}


_REASONS = {200: "OK", 304: "Not Modified", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


def _response(status: int, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS[status]}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if status != 304:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class FeedProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, just what the bench's clients send (GET or HEAD with
    optional If-None-Match / If-Modified-Since; POST /_control with a query and no body).

    Each answer is written ``latency`` after its request ARRIVED, however many requests
    arrived with it. The clients' 64 connections ask in lockstep, and a server that did
    each request's work in turn before sleeping (as an aiohttp app did, ≈ 150 µs of
    Python a request) added that queue to the latency of every round: 1,000 requests
    at 64 took ≈ 0.93 s instead of 0.78. A connection's answers leave in the order of
    its requests (a pipelining client gets them in order)."""

    def __init__(self, state: FeedState):
        self.state = state
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.outbox: deque[tuple[float, bytes, bool]] = deque()  # (when, answer, then close)
        self.timer: asyncio.TimerHandle | None = None
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.outbox.clear()
        if self.timer is not None:
            self.timer.cancel()

    def eof_received(self) -> bool:
        self.eof = True  # the client is done asking: answer what it asked, then close
        if not self.outbox and self.transport is not None:
            self.transport.close()
        return True

    def data_received(self, data: bytes) -> None:
        arrived = self.loop.time()
        self.buffer += data
        while True:
            head, sep, rest = self.buffer.lstrip(b"\r\n").partition(b"\r\n\r\n")
            if not sep:
                if len(self.buffer) > 65536:
                    self._queue(arrived, _response(400, {"Connection": "close"}), close=True)
                return
            lines = head.decode("latin-1").split("\r\n")
            request = lines[0].split(" ")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = headers.get("content-length") or "0"
            if len(request) != 3 or not length.isdigit():
                self.buffer = b""
                self._queue(arrived, _response(400, {"Connection": "close"}), close=True)
                return
            if len(rest) < int(length):
                return  # the body is still on its way
            self.buffer = rest[int(length):]
            method, target, version = request
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            self._answer(method, target, headers, arrived, close)

    def _answer(self, method: str, target: str, headers: dict[str, str], arrived: float, close: bool) -> None:
        state = self.state
        path, _, query = target.partition("?")
        extra = {"Connection": "close"} if close else {}
        if path == "/_control":
            if method != "POST":
                self._queue(arrived, _response(405, extra), close)
                return
            body = json.dumps(state.control(dict(parse_qsl(query)))).encode()
            self._queue(arrived, _response(200, {"Content-Type": "application/json", **extra}, body), close)
            return
        i = _feed_number(path)
        if i is None or not 0 <= i < state.feeds or method not in ("GET", "HEAD"):
            answer = _response(404, {"Content-Type": "text/plain", **extra}, b"not found")
            self._queue(arrived, _headers_only(answer) if method == "HEAD" else answer, close)
            return
        state.requests += 1
        etag, modified = state.etag(i), state.last_modified()
        out = {"ETag": etag, "Last-Modified": modified, **extra}
        inm, ims = headers.get("if-none-match"), headers.get("if-modified-since")
        if not state.ignore_validators and ((inm is not None and etag in inm) or (inm is None and ims == modified)):
            answer = _response(304, out)
        else:
            answer = _response(200, {"Content-Type": "application/rss+xml; charset=utf-8", **out}, state.body(i))
        self._queue(arrived + state.latency, _headers_only(answer) if method == "HEAD" else answer, close)

    def _queue(self, when: float, answer: bytes, close: bool) -> None:
        if self.outbox:
            when = max(when, self.outbox[-1][0])  # never before an earlier request's answer
        self.outbox.append((when, answer, close))
        if self.timer is None:
            self._arm()

    def _arm(self) -> None:
        self.timer = self.loop.call_at(self.outbox[0][0], self._write_due) if self.outbox else None

    def _write_due(self) -> None:
        now = self.loop.time()
        while self.outbox and self.outbox[0][0] <= now and self.transport is not None:
            _, answer, close = self.outbox.popleft()
            self.transport.write(answer)
            if close:
                self.transport.close()
                self.outbox.clear()
        if self.eof and not self.outbox and self.transport is not None:
            self.transport.close()
        self._arm()


def _headers_only(answer: bytes) -> bytes:
    """A HEAD request's answer: the GET answer's head, Content-Length included."""
    return answer.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"


def _feed_number(path: str) -> int | None:
    if not (path.startswith("/feed/") and path.endswith(".xml")):
        return None
    try:
        return int(path[6:-4])
    except ValueError:
        return None


async def serve(feeds: int, latency: float, port: int) -> None:
    state = FeedState(feeds, latency)
    loop = asyncio.get_running_loop()
    # A deep backlog: reader's 64 threads and our 64 connections open at once.
    server = await loop.create_server(lambda: FeedProtocol(state), "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    state.base_url = f"http://127.0.0.1:{bound}"
    state.render()
    print(f"PORT {bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds slept per request")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = ap.parse_args(argv)
    asyncio.run(serve(args.feeds, args.latency, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
