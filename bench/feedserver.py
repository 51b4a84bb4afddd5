"""Loopback feed server for the benchmark, run in its own process.

Serves ``/feed/<i>.xml`` for i in 0…N-1 after a per-request ``asyncio.sleep(latency)``,
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
import signal
import sys
from datetime import timedelta
from email.utils import format_datetime

from aiohttp import web

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


async def handle_feed(request: web.Request) -> web.StreamResponse:
    state: FeedState = request.app["state"]
    state.requests += 1
    try:
        i = int(request.match_info["i"])
    except ValueError:
        raise web.HTTPNotFound() from None
    if not 0 <= i < state.feeds:
        raise web.HTTPNotFound()
    if state.latency:
        await asyncio.sleep(state.latency)
    etag, modified = state.etag(i), state.last_modified()
    headers = {"ETag": etag, "Last-Modified": modified}
    if not state.ignore_validators:
        inm = request.headers.get("If-None-Match")
        ims = request.headers.get("If-Modified-Since")
        if (inm is not None and etag in inm) or (inm is None and ims == modified):
            return web.Response(status=304, headers=headers)
    return web.Response(body=state.body(i), headers=headers,
                        content_type="application/rss+xml", charset="utf-8")


async def handle_control(request: web.Request) -> web.Response:
    state: FeedState = request.app["state"]
    q = request.query
    if "ignore_validators" in q:
        state.ignore_validators = q["ignore_validators"] == "1"
    if "generation" in q:
        state.set_generation(int(q["generation"]))
    if "latency" in q:
        state.latency = float(q["latency"])
    return web.json_response({"ignore_validators": state.ignore_validators,
                              "generation": state.generation, "latency": state.latency,
                              "requests": state.requests})


def make_app(state: FeedState) -> web.Application:
    app = web.Application()
    app["state"] = state
    app.router.add_get("/feed/{i}.xml", handle_feed)
    app.router.add_post("/_control", handle_control)
    return app


async def serve(feeds: int, latency: float, port: int) -> None:
    state = FeedState(feeds, latency)
    runner = web.AppRunner(make_app(state), access_log=None)
    await runner.setup()
    # A deep backlog: reader's 64 threads and our 64 connections open at once.
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    bound = runner.addresses[0][1]
    state.base_url = f"http://127.0.0.1:{bound}"
    state.render()
    print(f"PORT {bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


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
