"""``aggregator run``: the long-running service (scheduler + HTTP server in one process).

Threads and loops: the asyncio loop of the main thread serves HTTP and runs the publisher task;
APScheduler's background thread decides when jobs are due; a pool of worker threads runs the
blocking refreshes; one more thread publishes; the store's own thread commits each refresh
batch while the next is fetched (``Store.ingest_batch_behind``). A refresh that changed items
asks for a publish; requests that arrive within ``PUBLISH_DEBOUNCE`` seconds of each other
become one publish. Every ``WATCH_INTERVAL`` seconds (and on SIGHUP) a watcher reloads the
config file if it changed, and follows refreshes that another process (``aggregator update``)
stored: their schedule and health.

The package: ``core`` (``Service`` and ``run``), ``gate`` (``max_per_host`` and
``max_connections``, kept by the service), ``watch`` (the config file and its OPML files as
the watcher looks at them) and ``health`` (what ``/healthz`` and ``Cache-Control`` say).
"""

from .core import Service, run
from .health import clamp_max_age, utcnow

__all__ = ["Service", "clamp_max_age", "run", "utcnow"]
