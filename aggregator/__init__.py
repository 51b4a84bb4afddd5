"""aggregator: read many feeds, keep every item, republish clean per-topic Atom feeds."""

from __future__ import annotations

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/aggregator/aggregator"
USER_AGENT = f"aggregator/{__version__} (+{PROJECT_URL})"
