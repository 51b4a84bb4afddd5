"""Sources as the store keeps them: their state for the next refresh, the record of
each refresh, and what ``status`` shows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from ..models import fetches, sources
from ..text import drop_not_xml, has_not_xml
from .ingest import IngestResult, _visible
from .sql import _chunks, _driver_sql, _in_list, _insert_rows, _listed, _statement, _stored_form

log = logging.getLogger(__name__)


# What an upgrade writes for a feed's body hash (sources.body_hash) when its release reads
# feeds anew in ways no stored fingerprint can tell from a change upstream (a Media RSS
# picture's alt text read as the post: schema 0013), with its validators dropped: the feed's
# next answer is parsed whole (no hash is this one), and its entries take the new readings
# without being dated anew (IngestJob.keep_times), so a reader does not get its window again
# on top. An entry edited upstream in the meantime takes its edit in place, undated, too.
# The mark stays until a parse stores the body's hash: a 304 (a cache that answers one to a
# request without validators) or a failure leaves it for the next refresh, and an edited
# URL (Store.sync_sources) keeps it.
REREAD = "reread"


@dataclass(frozen=True)
class SourceSpec:
    """What the store needs to know of a configured source."""

    name: str
    type: str
    url: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class SourceState:
    id: int
    name: str
    type: str
    url: str | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    pending_redirect: str | None
    failures: int
    retired: bool
    next_run: datetime | None
    last_success: datetime | None
    # The URL its stored entries' relative links were resolved against (schema 0015): the
    # final URL of its last parse, without credentials; None before its first.
    link_base: str | None = None


# SourceState's fields, in order, as sources columns.
_STATE_COLUMNS = ("id", "name", "type", "url", "etag", "last_modified", "body_hash", "pending_redirect",
                  "failures", "retired", "next_run", "last_success", "link_base")


def _states_of(sqlite: bool) -> Any:  # for _statement or _driver_sql: every source's state
    return select(*(sources.c[name] for name in _STATE_COLUMNS))


@dataclass(frozen=True)
class RefreshRecord:
    """The outcome of one refresh attempt of one source."""

    name: str
    started: datetime
    finished: datetime
    ok: bool
    http_status: int | None = None
    error: str | None = None
    warning: str | None = None
    next_run: datetime | None = None
    result: IngestResult | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    pending_redirect: str | None = None
    new_url: str | None = None
    retired: bool | None = None
    title: str | None = None
    site_link: str | None = None
    keep_validators: bool = False  # seeds: no HTTP validators to store
    keep_warning: bool = False  # body not parsed (304, same bytes): the last parse's warning stands
    # The URL its parsed document's relative links were resolved against (SourceState.link_base):
    # None when nothing was parsed (304, same bytes, a failure), which leaves the stored one.
    link_base: str | None = None
    # link_base is where a temporary redirect (302/303/307) sent the fetch: the feed is
    # there for now, and the stored one (when there is one) stays: IngestJob.for_now.
    base_for_now: bool = False
    # When the document came from elsewhere than link_base (a move): the links of its
    # entries it writes whole (IngestJob.written_whole). Not stored.
    written_whole: frozenset[str] = frozenset()


_REFRESH_COLUMNS = ("id", "last_fetch", "http_status", "next_run", "error", "warning", "failures",
                    "last_success", "etag", "last_modified", "body_hash", "pending_redirect", "url",
                    "title", "site_link", "retired", "link_base")


_FETCH_COLUMNS = ("source_id", "started", "finished", "http_status", "error", "warning", "new_items", "updated_items")


def _refresh_rows_of(sqlite: bool) -> Any:  # for _statement: sources :names, name then _REFRESH_COLUMNS
    return select(sources.c.name, *(sources.c[c] for c in _REFRESH_COLUMNS)).where(
        _in_list(sources.c.name, "names", sqlite))


def _update_refreshed(sqlite: bool) -> Any:  # for _statement: a source's row after a refresh (b_<column>)
    return (update(sources).where(sources.c.id == bindparam("b_id"))
            .values({c: bindparam(f"b_{c}") for c in _REFRESH_COLUMNS if c != "id"}))


def _apply_refresh(row: dict[str, Any], rec: RefreshRecord) -> None:
    """How one refresh outcome changes its source's row (a dict of _REFRESH_COLUMNS)."""
    row["last_fetch"] = rec.finished
    row["http_status"] = rec.http_status
    row["next_run"] = rec.next_run
    if rec.ok:
        row["error"] = None
        if not rec.keep_warning:
            row["warning"] = rec.warning
        row["failures"] = 0
        row["last_success"] = rec.finished
        if not rec.keep_validators:
            row["etag"], row["last_modified"] = rec.etag, rec.last_modified
            if rec.body_hash is not None:
                row["body_hash"] = rec.body_hash
        row["pending_redirect"] = rec.pending_redirect
        if rec.new_url:
            row["url"] = rec.new_url
        # the feed's own, as it is now (a configured title is shown before it); one that
        # shows nothing (zero-width spaces, U+FFFD) is none, as an entry's title is
        if _visible(rec.title):
            row["title"] = rec.title
        if rec.site_link:
            row["site_link"] = rec.site_link
        if rec.link_base and not (rec.base_for_now and row["link_base"]):
            row["link_base"] = rec.link_base
    else:
        row["error"] = rec.error
        row["failures"] = (row["failures"] or 0) + 1
    if rec.retired is not None:
        row["retired"] = rec.retired


@dataclass(frozen=True)
class SourceStatus:
    name: str
    type: str
    url: str | None
    last_fetch: datetime | None
    last_success: datetime | None
    http_status: int | None
    error: str | None
    warning: str | None
    items: int
    failures: int
    next_run: datetime | None
    retired: bool


def state_of(src: Any) -> SourceState:
    return SourceState(
        id=src.id, name=src.name, type=src.type, url=src.url, etag=src.etag,
        last_modified=src.last_modified, body_hash=src.body_hash,
        pending_redirect=src.pending_redirect, failures=src.failures or 0,
        retired=bool(src.retired), next_run=src.next_run, last_success=src.last_success,
        link_base=src.link_base,
    )


def record_refreshes_in(conn: Connection, records: Sequence[RefreshRecord]) -> None:
    """``record_refreshes`` inside the transaction of ``conn``: each statement runs once
    for all records (executemany), and is built once per process (``_statement``)."""
    if not records:
        return
    sqlite = conn.dialect.name == "sqlite"
    rows: dict[str, dict[str, Any]] = {}
    for part in _chunks(sorted({r.name for r in records})):
        names = _listed(conn, sources.c.name, part)
        if sqlite:  # the stored values as they are: only those a refresh sets are converted
            found_rows: Any = conn.exec_driver_sql(_driver_sql(conn, _refresh_rows_of)[0], (names,))
        else:
            found_rows = conn.execute(_statement(conn, _refresh_rows_of), {"names": names})
        for found in found_rows:
            rows[found[0]] = dict(zip(_REFRESH_COLUMNS, found[1:]))
    history = []
    for rec in records:
        row = rows.get(rec.name)
        if row is None:
            # Renamed while it was being refreshed (sync_sources): the row has its new name,
            # and its next refresh under it does this one's work again.
            log.info("source %s was renamed during its refresh: its outcome is left to the next one", rec.name)
            continue
        # Feed titles and links reach published XML; messages may quote a server.
        texts = (rec.title, rec.site_link, rec.warning, rec.error)
        if any(value and has_not_xml(value) for value in texts):
            rec = replace(rec, title=drop_not_xml(rec.title), site_link=drop_not_xml(rec.site_link),
                          warning=drop_not_xml(rec.warning), error=drop_not_xml(rec.error))
        _apply_refresh(row, rec)
        r = rec.result or IngestResult()
        history.append((row["id"], rec.started, rec.finished, rec.http_status, None if rec.ok else rec.error,
                        rec.warning, r.new, r.updated + r.attached))  # _FETCH_COLUMNS
    if not rows:
        return
    if sqlite:
        sql, params = _driver_sql(conn, _update_refreshed)
        columns = [p[2:] for p in params]  # b_<column>
        conn.exec_driver_sql(sql, [tuple(map(_stored_form, map(row.__getitem__, columns))) for row in rows.values()])
    else:
        conn.execute(_statement(conn, _update_refreshed),
                     [{f"b_{c}": row[c] for c in _REFRESH_COLUMNS} for row in rows.values()])
    _insert_rows(conn, fetches, _FETCH_COLUMNS, history)
