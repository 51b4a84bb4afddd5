"""The ``aggregator`` command: a thin layer over the pipeline, the store and the service."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from . import __version__
from .config import Config, find_config, load_config
from .db import sqlite_file
from .errors import AggregatorError, ConfigError, driver_message
from .identity import without_credentials
from .store import Store

log = logging.getLogger("aggregator")


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CLEAR_LINE = "\r\x1b[K"  # to the line's start, and erase it


class LogFormatter(logging.Formatter):
    """One line per event, after ``prefix``: a message that quotes a feed or a server (a
    reason phrase) writes the characters a terminal would act on as escapes (see _shown),
    and a line break in it cannot start a line that reads as another event."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__(LOG_FORMAT)
        self.prefix = prefix

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        return self.prefix + _shown(super().formatMessage(record))


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Quiet libraries that log every request at INFO.
    for noisy in ("apscheduler.executors.default", "aiohttp.access", "alembic"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


class Context:
    def __init__(self, config_path: str | None):
        self.config_path = config_path
        self._config: Config | None = None

    @property
    def loaded(self) -> Config | None:
        """The config, if a command has loaded it (error messages name its database)."""
        return self._config

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(find_config(self.config_path))
        return self._config


@contextmanager
def opened(ctx: Context) -> Iterator[tuple[Config, Store]]:
    from .pipeline import open_store

    config = ctx.config  # a bad config fails here, before any file is created
    store = open_store(config)
    try:
        yield config, store
    finally:
        store.close()


@contextmanager
def logs_above_progress(shown: bool) -> Iterator[None]:
    """While a progress bar is drawn on stderr, each log line first erases the bar's line:
    the lines scroll above the bar instead of being glued after its percentage."""
    handlers = [h for h in logging.getLogger().handlers if h.formatter is not None] if shown else []
    saved = [h.formatter for h in handlers]
    for handler in handlers:
        handler.setFormatter(LogFormatter(CLEAR_LINE))
    try:
        yield
    finally:
        for handler, formatter in zip(handlers, saved):
            handler.setFormatter(formatter)


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _human_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


# Format characters scripts and emoji need, shown as they are: the soft hyphen, the zero-width
# space, the joiners, the direction marks (which cannot reverse a line) and the word joiner.
_KEPT_FORMAT = frozenset("\u00ad\u061c\u200b\u200c\u200d\u200e\u200f\u2060")
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e\n]+")


def _acts_on_terminal(c: str) -> bool:
    """A control character (an ESC begins a terminal command, a CR rewrites the line), a
    line or paragraph separator, or a format character such as a bidirectional override,
    which shows the rest of a line reversed (Trojan Source): text a feed sent that the
    terminal would act on rather than show."""
    category = unicodedata.category(c)
    return category in ("Cc", "Zl", "Zp") or (category == "Cf" and c not in _KEPT_FORMAT)


def _shown(text: str) -> str:
    """``text`` for the terminal: each character that would act on it written as its
    escape (``\\u202e``, ``\\x1b``). What is stored and published keeps it."""
    if text.isprintable():
        return text
    return "".join(c.encode("unicode_escape").decode("ascii") if _acts_on_terminal(c) else c for c in text)


def _json(value: Any) -> str:
    """``value`` as indented JSON whose strings write such characters as JSON escapes: the
    same values, nothing for a terminal to act on."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    return _NOT_PRINTABLE_ASCII.sub(lambda m: m[0] if m[0].isprintable() else "".join(
        json.dumps(c).strip('"') if _acts_on_terminal(c) else c for c in m[0]), text)


def _cells(text: str) -> int:
    """Terminal cells ``text`` takes: two for a wide (CJK) character, none for a combining
    one or an invisible format character (a direction mark, a joiner; not the soft hyphen,
    which terminals show), as wcwidth counts them."""
    return sum(0 if unicodedata.combining(c) or (c != "\xad" and unicodedata.category(c) == "Cf")
               else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    rows = [[_shown(c) for c in r] for r in rows]
    widths = [max(_cells(h), *(_cells(r[i]) for r in rows)) if rows else _cells(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c + " " * (w - _cells(c)) for c, w in zip(cells, widths)).rstrip()

    return "\n".join([line(headers), *map(line, rows)])


def _config_here(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    obj = ctx.find_object(Context)
    if value is not None and obj is not None:
        obj.config_path = value


def config_option(command: Any) -> Any:
    """``--config`` after the command name too (``aggregator status --config X``)."""
    return click.option("--config", metavar="PATH", expose_value=False, callback=_config_here,
                        is_eager=True, help="Config file (same as the global --config).")(command)


class Main(click.Group):
    """Turns our errors into messages and exit codes (2 for config, 1 for failures)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as e:
            for line in e.problems:
                click.echo(line, err=True)
            sys.exit(2)
        except AggregatorError as e:
            click.echo(f"aggregator: {e}", err=True)
            sys.exit(1)
        except SQLAlchemyError as e:
            # A database that cannot be used (a full disk, a read-only file, not a database
            # at all): one line naming it and the problem, not a traceback; nothing of the
            # transaction it stopped was stored.
            click.echo(f"aggregator: database {_database_name(ctx)}: {driver_message(e)}", err=True)
            sys.exit(1)


def _database_name(ctx: click.Context) -> str:
    obj = ctx.find_object(Context)
    config = obj.loaded if obj is not None else None
    url = config.settings.database if config is not None else None
    if url is None:
        return "(unknown)"
    file = sqlite_file(url)
    return str(file) if file is not None else make_url(url).render_as_string(hide_password=True)


@click.group(cls=Main)
@click.option("--config", "config_path", metavar="PATH",
              help="Config file (default: $AGGREGATOR_CONFIG, else ./aggregator.toml).")
@click.option("-v", "--verbose", count=True, help="Debug log output on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
@click.version_option(__version__, prog_name="aggregator")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: int, quiet: bool) -> None:
    """Read many feeds, keep every item, and republish one clean Atom feed per topic."""
    setup_logging(verbose, quiet)
    ctx.obj = Context(config_path)


@main.command()
@click.option("--source", "sources", multiple=True, metavar="NAME",
              help="Refresh only this source (repeatable). Default: every enabled source.")
@click.pass_obj
@config_option
def update(obj: Context, sources: tuple[str, ...]) -> None:
    """Fetch and ingest sources now, then publish the feeds.

    Exits 1 if any source failed (everything else is still stored and published).
    """
    from .pipeline import publish, refresh

    config = obj.config
    known = {s.name for s in config.sources}
    unknown = [s for s in sources if s not in known]
    if unknown:
        raise click.UsageError(f"no source named {', '.join(unknown)} in {config.path.name}")
    with opened(obj) as (config, store):
        started = time.monotonic()
        chosen = list(dict.fromkeys(sources)) or [s.name for s in config.sources if s.enabled]
        show = sys.stderr.isatty()
        with click.progressbar(length=len(chosen), label="Refreshing", file=sys.stderr,
                               hidden=not show) as bar, logs_above_progress(show):
            report = refresh(config, store, list(sources) or None, progress=lambda _name: bar.update(1))
        lines: list[str] = []
        for o in report.outcomes:
            state = "retired" if o.retired else "ok" if o.ok else "FAILED"
            detail = _shown(o.error or o.warning or "")
            lines.append(f"{o.name}: {state}, {o.new} new, {o.updated} updated, {o.merged} merged"
                         + (f" ({detail})" if detail else ""))
        try:
            result = publish(config, store)
        except Exception:
            # What was stored is said even when publishing fails; printed only now, so
            # that output closed early (`| head -1`) never stops the publishing.
            if lines:
                click.echo("\n".join(lines))
            raise
        elapsed = time.monotonic() - started
    new = sum(o.new for o in report.outcomes)
    changed = sum(o.updated for o in report.outcomes)
    merged = sum(o.merged for o in report.outcomes)
    for line in lines:
        click.echo(line)
    click.echo(f"{len(report.outcomes)} sources, {new} new items, {changed} updated, {merged} merged, "
               f"{len(report.failed)} failed; published {len(result.written)} files "
               f"({len(result.unchanged)} unchanged) to {config.settings.output_dir} in {elapsed:.2f}s")
    for name in result.removed:  # the feed of a topic taken out of the config
        click.echo(f"  removed {name}")
    if report.failed:
        sys.exit(1)


@main.command("publish")
@click.option("--force", is_flag=True,
              help="Render every feed even when the database says nothing changed "
                   "(files whose bytes are the same are still left alone).")
@click.pass_obj
@config_option
def publish_cmd(obj: Context, force: bool) -> None:
    """Reclassify stored items and write the feeds (only files whose bytes changed)."""
    from .pipeline import publish

    with opened(obj) as (config, store):
        result = publish(config, store, force=force)
    click.echo(f"published {len(result.written)} files ({len(result.unchanged)} unchanged) "
               f"to {config.settings.output_dir}")
    for name in result.written:
        click.echo(f"  wrote {name}")
    for name in result.removed:  # the feed of a topic taken out of the config
        click.echo(f"  removed {name}")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object per source.")
@click.pass_obj
@config_option
def status(obj: Context, as_json: bool) -> None:
    """Show each source's last fetch, HTTP status, error, item count and next run."""
    with opened(obj) as (config, store):
        states = store.statuses()
    records: list[dict[str, Any]] = []
    for src in config.sources:
        st = states.get(src.name)
        records.append({
            "name": src.name,
            "type": src.type,
            # A private feed's user and password stay in the config, as in the published feeds.
            "url": without_credentials(st.url if st and st.url else src.url or "") if src.type == "feed" else None,
            "enabled": src.enabled,
            "last_fetch": iso(st.last_fetch) if st else None,
            "http_status": st.http_status if st else None,
            "error": st.error if st else None,
            "warning": st.warning if st else None,
            "items": st.items if st else 0,
            "failures": st.failures if st else 0,
            "next_run": iso(st.next_run) if st and src.enabled and not st.retired else None,
            "retired": st.retired if st else False,
        })
    if as_json:
        click.echo(_json(records))
        return
    rows = []
    for r in records:
        st = states.get(r["name"])
        problem = r["error"] or (f"warning: {r['warning']}" if r["warning"] else "")
        rows.append([
            r["name"], r["type"], str(r["items"]),
            _human_time(st.last_fetch if st else None),
            str(r["http_status"] or "-"), str(r["failures"]),
            "retired" if r["retired"] else (_human_time(st.next_run if st else None) if r["enabled"] else "disabled"),
            problem,
        ])
    click.echo(_table(["SOURCE", "TYPE", "ITEMS", "LAST FETCH", "HTTP", "FAILURES", "NEXT RUN", "PROBLEM"], rows))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@config_option
def topics(obj: Context, as_json: bool) -> None:
    """List the topics, their item counts and feed URLs."""
    from .pipeline import classify

    with opened(obj) as (config, store):
        classify(config, store)
        counts = store.topic_counts()
        total = store.item_count()
    base = config.settings.base_url
    records: list[dict[str, Any]] = [
        {"slug": "all", "title": "All items", "items": total, "url": f"{base}/all.xml"}]
    records += [{"slug": t.slug, "title": t.title, "items": counts.get(t.slug, 0), "url": f"{base}/{t.slug}.xml"}
                for t in config.topics]
    if as_json:
        click.echo(_json(records))
        return
    click.echo(_table(["TOPIC", "ITEMS", "TITLE", "FEED"],
                      [[r["slug"], str(r["items"]), r["title"], r["url"]] for r in records]))


@main.command()
@click.option("--topic", metavar="SLUG", help="Only items of this topic.")
# At most what a SQL LIMIT holds (64 bits): a larger one is a usage error, not a traceback.
@click.option("--limit", type=click.IntRange(min=1, max=2**63 - 1), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@config_option
def items(obj: Context, topic: str | None, limit: int, as_json: bool) -> None:
    """List stored items, newest first."""
    from .pipeline import classify

    config = obj.config
    if topic is not None and topic != "all" and topic not in {t.slug for t in config.topics}:
        raise click.UsageError(f"no topic {topic!r} in {config.path.name}")
    with opened(obj) as (config, store):
        classify(config, store)
        rows = store.newest_items(None if topic in (None, "all") else topic, limit)
    if as_json:
        click.echo(_json([{
            "id": i.id, "title": i.title, "link": i.link, "updated": iso(i.updated),
            "published": iso(i.published), "source": i.source.title, "source_name": i.source.name, "topics": list(i.topics),
            "via": list(i.via),
        } for i in rows]))
        return
    for i in rows:
        click.echo(f"{_human_time(i.updated)}  {_shown(i.title)}")
        click.echo(f"    {_shown(i.source.title)}" + (f"  {_shown(i.link)}" if i.link else "")
                   + (f"  [{', '.join(i.topics)}]" if i.topics else ""))


@main.group()
@config_option
def sources() -> None:
    """Manage sources."""


@sources.command("import")
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
@config_option
def sources_import(obj: Context, opml_file: Path) -> None:
    """Add every feed of an OPML subscription list to the config as a [[sources]] table.

    Feeds already configured (same URL) are skipped; comments in the config are kept.
    """
    from .opml import import_opml

    config_path = find_config(obj.config_path)
    done = import_opml(config_path, opml_file)
    for name in done.added:
        click.echo(f"added source {name}")
    left = [f"{n} {what}" for n, what in ((done.configured, "already configured"),
                                          (done.repeated, "listed again in the file")) if n]
    click.echo(f"{len(done.added)} sources added to {config_path}" + (f" ({', '.join(left)})" if left else ""))


@main.command()
@click.option("--listen", metavar="HOST:PORT", help="Address to serve on (default: the config's listen).")
@click.pass_obj
@config_option
def serve(obj: Context, listen: str | None) -> None:
    """Serve the published feeds over HTTP only (no refreshing) until Ctrl-C or SIGTERM."""
    from .config import _split_listen
    from .pipeline import publish
    from .serve import serve_forever

    config = obj.config
    host, port = config.settings.listen_host, config.settings.listen_port
    if listen is not None:
        try:
            host, port = _split_listen(listen)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--listen") from None
    out = config.settings.output_dir
    if not (out / "all.xml").exists():  # first start: publish so there is something to serve
        with opened(obj) as (config, store):
            publish(config, store)
    try:
        serve_forever(out, host, port)  # logs "serving FOLDER on http://HOST:PORT/"
    except OSError as e:
        raise AggregatorError(f"cannot listen on {host}:{port}: {e}") from e


@main.command()
@click.pass_obj
@config_option
def run(obj: Context) -> None:
    """Run the service: publish, serve output_dir on `listen`, refresh on schedule.

    Stops cleanly on SIGTERM or Ctrl-C. Exits 1 if another `run` holds the database.
    """
    from .service import run as run_service

    sys.exit(run_service(obj.config))


@main.command()
@click.pass_obj
@config_option
def migrate(obj: Context) -> None:
    """Create or upgrade the database schema (also done automatically on start)."""
    from .db import current_revision
    from .pipeline import open_database

    config = obj.config
    store = open_database(config.settings.database)
    try:
        click.echo(f"database at revision {current_revision(store.engine)}")
    finally:
        store.close()


def _main_entry() -> None:  # pragma: no cover - console script shim
    main()


if __name__ == "__main__":  # pragma: no cover
    main()
