"""Write the published output folder: one Atom feed per view, index.opml, index.html.

The store has already chosen what each feed holds (``FeedView``); this module
decides only how it is written. Writing is atomic (temp file, fsync, rename) so a
reader never sees half a file, and a file whose bytes would not change is left
alone so its mtime, and the ETag the server derives from it, stay the same.
"""

from __future__ import annotations

import html
import logging
import os
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lxml import etree

from aggregator.atom import as_utc, render_atom
from aggregator.errors import AggregatorError
from aggregator.types import FeedView

log = logging.getLogger(__name__)

ALL_SLUG = "all"
OPML_NAME = "index.opml"
HTML_NAME = "index.html"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Slugs become file names: no path separators, no hidden files, no surprises in URLs.
_SLUG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_FILE_MODE = 0o644  # mkstemp creates 0600; the server (maybe another user) must read them
# Files written at once. Each file's fsync waits on the disk, not the CPU; run side by
# side the journal commits them together: 53 feeds took 0.3-0.4 s one after another
# and 0.03-0.08 s eight at a time on the bench machine.
_WRITERS = 8


@dataclass(frozen=True)
class PublishReport:
    written: tuple[str, ...]  # file names rewritten this time
    unchanged: tuple[str, ...]  # file names left alone because their bytes were identical
    removed: tuple[str, ...] = ()  # stale feeds of topics that no longer exist


def _root(base_url: str) -> str:
    return base_url.rstrip("/")


def feed_url(base_url: str, slug: str) -> str:
    """The URL a feed is served at: its Atom id and rel=self link."""
    return f"{_root(base_url)}/{slug}.xml"


def _feed_title(view: FeedView, site_title: str) -> str:
    return f"{site_title}: {view.title}"


def newest_updated(views: Sequence[FeedView]) -> datetime:
    """Newest ``updated`` of the "all" view (of every view when there is none), else the epoch.

    An empty topic feed carries this date so it does not claim to change on every publish.
    """
    pool = [v for v in views if v.slug == ALL_SLUG] or list(views)
    dates = [as_utc(item.updated, f"updated of {item.id}") for v in pool for item in v.items]
    return max(dates, default=EPOCH)


def render_opml(views: Sequence[FeedView], *, base_url: str, site_title: str) -> bytes:
    """OPML 2.0 subscription list with one ``type="rss"`` outline per topic feed, in the
    given order (DESIGN: "lists every topic feed"); ``all.xml`` only when there is no topic.
    With it beside the topics, a reader importing the list got every item twice.

    No ``dateCreated``: the document must depend on its inputs only.
    """
    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = site_title
    body = etree.SubElement(opml, "body")
    for view in [v for v in views if v.slug != ALL_SLUG] or views:
        title = _feed_title(view, site_title)
        etree.SubElement(
            body,
            "outline",
            type="rss",
            text=title,
            title=title,
            xmlUrl=feed_url(base_url, view.slug),
            htmlUrl=f"{_root(base_url)}/",
        )
    return etree.tostring(opml, encoding="UTF-8", xml_declaration=True, pretty_print=True)


def _count_text(n: int) -> str:
    return f"{n} item" if n == 1 else f"{n} items"


def render_index(views: Sequence[FeedView], *, base_url: str, site_title: str) -> bytes:
    """HTML5 page listing each feed with its item count, a subscribe link and autodiscovery."""
    esc = html.escape  # quote=True by default: safe in text and in attribute values
    root = _root(base_url)
    opml_url = f"{root}/{OPML_NAME}"
    head_links = [
        f'<link rel="alternate" type="application/atom+xml" title="{esc(_feed_title(v, site_title))}"'
        f' href="{esc(feed_url(base_url, v.slug))}">'
        for v in views
    ]
    rows = [
        "<tr>"
        f'<td><a href="{esc(feed_url(base_url, v.slug))}">{esc(v.title)}</a></td>'
        f'<td class="count" data-count="{v.total}">{esc(_count_text(v.total))}</td>'
        f'<td><a href="{esc(feed_url(base_url, v.slug))}" type="application/atom+xml">'
        "Subscribe (Atom)</a></td>"
        "</tr>"
        for v in views
    ]
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(site_title)}</title>",
        *head_links,
        f'<link rel="alternate" type="text/x-opml" title="{esc(site_title)} (OPML)" href="{esc(opml_url)}">',
        "</head>",
        "<body>",
        f"<h1>{esc(site_title)}</h1>",
        "<p>Paste a feed's address into your feed reader, or import "
        f'<a href="{esc(opml_url)}">all feeds as OPML</a>.</p>',
        "<table>",
        "<thead><tr><th>Feed</th><th>Items</th><th>Subscribe</th></tr></thead>",
        "<tbody>",
        *rows,
        "</tbody>",
        "</table>",
        "</body>",
        "</html>",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


TEMPORARY_MAX_AGE = 3600.0  # seconds: a temporary file older than this was abandoned


def _remove_abandoned_temporaries(output_dir: Path, names: set[str]) -> None:
    """Delete the temporary files a publish cut short left (``.<name>.XXXX.tmp`` of one of
    ``names``, a process killed mid-write): never served, they would pile up. A recent one
    may be another process's write in progress, and is left alone."""
    cutoff = time.time() - TEMPORARY_MAX_AGE
    with os.scandir(output_dir) as found:
        for entry in found:
            name = entry.name
            if not (name.startswith(".") and name.endswith(".tmp")):
                continue
            target = name[1:].rsplit(".", 2)[0]
            try:
                if target in names and entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)
            except OSError:
                pass  # gone meanwhile, or not ours to remove: the next publish looks again


def _check_views(views: Sequence[FeedView]) -> None:
    seen: set[str] = set()
    for view in views:
        if not _SLUG_RE.fullmatch(view.slug):
            raise ValueError(f"feed slug {view.slug!r} cannot be a file name")
        if view.slug in seen:
            raise ValueError(f"feed slug {view.slug!r} appears twice")
        seen.add(view.slug)


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Atomically replace ``path`` with ``data`` unless it already holds exactly those bytes.

    Returns True when the file was (re)written.
    """
    try:
        if path.is_file() and not path.is_symlink() and path.read_bytes() == data:
            return False
    except OSError:
        pass  # unreadable: replace it below
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, _FILE_MODE)
        # Dated now, as it appears, not when its bytes were written: an fsync that ran
        # into the next second would date it in the second an earlier version was
        # served from, and that version's Last-Modified would answer 304 for it.
        os.utime(tmp_name)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return True


def _fsync_dir(path: Path) -> None:
    """Make the renames durable; some platforms cannot open a directory, which is fine."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


MANIFEST_NAME = ".published"  # the files the last publish wrote (dot: never served)


def _previous_files(output_dir: Path) -> set[str]:
    try:
        return set((output_dir / MANIFEST_NAME).read_text(encoding="utf-8").split())
    except FileNotFoundError:
        return set()


def _stale_feeds(output_dir: Path, keep: set[str]) -> list[Path]:
    """Feeds we wrote earlier for topics that are gone. Only files the manifest says
    we published: output_dir may hold the user's own files (a sitemap.xml, say)."""
    previous = _previous_files(output_dir)
    return sorted(
        p
        for p in (output_dir / name for name in previous - keep)
        if p.name.endswith(".xml")
        and not p.name.startswith(".")
        and "/" not in p.name
        and p.is_file()
        and not p.is_symlink()
    )


def publish(
    output_dir: Path,
    views: Sequence[FeedView],
    *,
    base_url: str,
    site_title: str,
    topic_titles: Mapping[str, str] | None = None,
) -> PublishReport:
    """Write ``<slug>.xml`` for each view plus index.opml and index.html into ``output_dir``.

    ``views`` are the "all" view and one per topic. Unchanged files are not
    touched; feeds this function wrote before for slugs no longer in ``views`` are
    deleted (a manifest, ``.published``, remembers them; other files are never
    touched). Raises
    ValueError for unusable slugs or naive datetimes, AggregatorError when the
    folder cannot be written.
    """
    _check_views(views)
    fallback = newest_updated(views)
    documents: dict[str, bytes] = {}
    entry_cache: dict[str, Any] = {}  # entries shared by several feeds are built once
    for view in views:
        documents[f"{view.slug}.xml"] = render_atom(
            view,
            base_url=base_url,
            site_title=site_title,
            fallback_updated=fallback,
            topic_titles=topic_titles,
            entry_cache=entry_cache,
        )
    documents[OPML_NAME] = render_opml(views, base_url=base_url, site_title=site_title)
    documents[HTML_NAME] = render_index(views, base_url=base_url, site_title=site_title)

    written: list[str] = []
    unchanged: list[str] = []
    removed: list[str] = []
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        feeds = [doc for doc in documents.items() if doc[0] not in (OPML_NAME, HTML_NAME)]
        with ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="publish") as pool:
            # map() yields in document order and re-raises the first failure; every
            # other file is still replaced whole or not at all.
            changed = list(pool.map(lambda doc: _write_if_changed(output_dir / doc[0], doc[1]), feeds))
        # The index files last: they never link a feed that is not there yet.
        changed += [_write_if_changed(output_dir / name, documents[name]) for name in (OPML_NAME, HTML_NAME)]
        for name, was_written in zip([*(name for name, _ in feeds), OPML_NAME, HTML_NAME], changed):
            (written if was_written else unchanged).append(name)
        for stale in _stale_feeds(output_dir, set(documents)):
            stale.unlink(missing_ok=True)
            removed.append(stale.name)
        # Ours: what this publish writes, what an earlier one wrote (a removed topic's feed),
        # and the manifest.
        ours = set(documents) | _previous_files(output_dir) | {MANIFEST_NAME}
        _remove_abandoned_temporaries(output_dir, ours)
        manifest = "".join(f"{name}\n" for name in sorted(documents)).encode()
        _write_if_changed(output_dir / MANIFEST_NAME, manifest)
        if written or removed:
            _fsync_dir(output_dir)
    except OSError as e:
        raise AggregatorError(f"cannot publish to {output_dir}: {e}") from e
    # Debug: each caller says what it did in its own words (the CLI on stdout, the service
    # in its log), and a busy service publishes every few seconds.
    log.debug(
        "published to %s: %d written, %d unchanged, %d removed",
        output_dir,
        len(written),
        len(unchanged),
        len(removed),
    )
    return PublishReport(written=tuple(written), unchanged=tuple(unchanged), removed=tuple(removed))
