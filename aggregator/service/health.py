"""What ``/healthz`` and the feeds' ``Cache-Control`` say: built from each source's stored
status and its next scheduled run. Pure functions: the service keeps the state."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from ..store import SourceStatus

MAX_AGE_MIN, MAX_AGE_MAX = 60, 3600


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if value else None


def clamp_max_age(next_runs: Iterator[datetime] | list[datetime], now: datetime) -> int:
    """Seconds until the next scheduled refresh, clamped to [60, 3600]."""
    upcoming = [(t - now).total_seconds() for t in next_runs]
    if not upcoming:
        return MAX_AGE_MAX
    return int(min(MAX_AGE_MAX, max(MAX_AGE_MIN, min(upcoming))))


def health_entry(status: SourceStatus | None, next_run: datetime | None) -> dict[str, Any]:
    """One source's part of /healthz, from its stored status and its scheduled next run."""
    return {
        "last_refresh": iso(status.last_fetch) if status else None,
        "error": status.error if status else None,
        "next_run": iso(next_run),
        "retired": bool(status and status.retired),
    }


def health_document(entries: Mapping[str, Mapping[str, Any]], enabled: Iterable[str],
                    publish_error: str | None = None) -> dict[str, Any]:
    """The /healthz document from the per-source entries and the last publish's error.

    A source retired by 410 Gone keeps its error (``status`` shows why it stopped) but is not
    failing: it is done, nothing will ever fix it, so it is listed apart and never makes the
    service "degraded". A failed publish does (``publish_error`` says why until one works):
    the feeds stop changing, whatever the sources bring.
    """
    live = set(enabled)
    sources = {name: dict(entry) for name, entry in entries.items()}
    retired = sorted(n for n, e in sources.items() if e.get("retired"))
    failing = sorted(n for n, e in sources.items()
                     if e["error"] and n in live and not e.get("retired"))
    return {"status": "degraded" if failing or publish_error else "ok", "sources": sources,
            "failing": failing, "retired": retired, "publish_error": publish_error}
