"""Storage: every item, its sources, topics and refresh history, through SQLAlchemy.

Parsed data comes in as frozen dataclasses (``EntryData``) and goes out as
``PublishedItem`` views; database rows never leave this package. Writes are batched
(one transaction per ingest, Core ``executemany`` inserts).

``Store`` (``core``) is the door. Behind it: ``ingest`` (a batch of entries into
items: new, changed upstream, or the same story from another source; ``merges``, its
part that makes two sources' copies one story; ``moves``, its part for a feed that
moved; and ``keys``, how all three know a stored entry and its texts), ``classify``
(items into topics), ``views`` (what publishing reads), ``records`` (sources' state
and refresh history) and ``sql`` (statements built once and the SQLite fast paths).
"""

from .core import Store
from .ingest import IngestJob, IngestResult, PendingCommit
from .keys import fallback_title, fingerprint
from .records import REREAD, RefreshRecord, SourceSpec, SourceState, SourceStatus
from .sql import utcnow
from .views import source_iri

__all__ = [
    "REREAD", "IngestJob", "IngestResult", "PendingCommit", "RefreshRecord", "SourceSpec", "SourceState",
    "SourceStatus", "Store", "fallback_title", "fingerprint", "source_iri", "utcnow",
]
