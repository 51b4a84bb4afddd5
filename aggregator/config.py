"""Read and validate ``aggregator.toml`` into frozen settings.

The file is parsed with ``tomllib`` and each value of each table is checked on its own
by msgspec (strict: TOML has real types), so that one bad value does not hide the problems of
the next: the user gets every problem at once, one ``FILE: KEY.PATH: problem`` line
each. Checks that span tables (duplicates, topic -> source references) run on the
raw data for the same reason. Loading never creates or changes a file.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import os
import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from collections.abc import Mapping
from typing import Annotated, Any, Callable, Literal, get_args, get_origin
from urllib.parse import quote, unquote

import msgspec
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from aggregator.errors import ConfigError
from aggregator.opml import (
    OpmlFeed,
    base_name,
    canonical_url,
    earlier_name,
    new_feeds,
    read_opml,
    skipped_outline,
    source_names,
    url_problem,
)
from aggregator.text import NOT_XML

log = logging.getLogger(__name__)

ENV_VAR = "AGGREGATOR_CONFIG"
DEFAULT_FILE = "aggregator.toml"
MIN_INTERVAL = 10  # seconds; anything faster is hammering someone's server
# a year: longer is surely a typo, and huge values overflow datetime arithmetic in the scheduler
MAX_INTERVAL_DAYS = 365
MAX_INTERVAL = MAX_INTERVAL_DAYS * 86400
NO_SOURCES = "no [[sources]] defined; add at least one source"  # sources import takes such a config
MAX_NAME = 200  # source names and topic slugs: the database columns hold this many
RESERVED_SLUGS = frozenset({"all", "index"})  # output file names: all.xml, index.html/.opml
_QUOTES = "\"'“”‘’«»„‚"  # what may enclose a phrase typed as a search engine's exact phrase

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_INTERVAL_RE = re.compile(r"(?:[0-9]+\s*[smhd]\s*)+")
_INTERVAL_PART_RE = re.compile(r"([0-9]+)\s*([smhd])")
_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
_HOST_RE = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}\.?")  # a host name or an IPv4 address
_TOML_POSITION_RE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END_RE = re.compile(r"\s*\(at end of document\)\s*$")
_BAD_PORT_RE = re.compile(r"invalid literal for int\(\) with base 10: ('.*')")
_ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


@dataclass(frozen=True)
class Settings:
    """The ``[aggregator]`` table, with paths made absolute."""

    database: str  # SQLAlchemy URL; relative SQLite files are made absolute
    output_dir: Path
    base_url: str  # no trailing slash
    listen_host: str
    listen_port: int
    title: str
    max_entries: int
    default_interval: int  # seconds
    max_connections: int
    max_per_host: int
    opml: tuple[Path, ...]


@dataclass(frozen=True)
class SourceConfig:
    name: str  # unique slug; the key of a source for ever
    type: str  # "seeds" or "feed"
    url: str | None  # feeds only
    path: Path | None  # seeds only, absolute
    interval: int  # seconds
    enabled: bool
    title: str | None
    origin: str  # "config", or the absolute path of the OPML file it came from


@dataclass(frozen=True)
class TopicConfig:
    slug: str
    title: str
    any: tuple[str, ...]
    all: tuple[str, ...]
    none: tuple[str, ...]
    sources: tuple[str, ...]  # empty: every source


@dataclass(frozen=True)
class Config:
    path: Path  # absolute path of the config file
    settings: Settings
    sources: tuple[SourceConfig, ...]  # config sources first, then OPML ones
    topics: tuple[TopicConfig, ...]
    # what was left out but stops nothing (an unusable outline of an OPML file), one line each
    warnings: tuple[str, ...] = ()


def parse_interval(text: str) -> int:
    """``"10m"``, ``"1h30m"``, ``"2d"`` -> seconds; a unit is required, 10 s to 365 d."""
    cleaned = text.strip()
    if not cleaned:
        raise ValueError("must not be empty")
    if cleaned.isdigit():
        raise ValueError(f"{text!r} needs a unit: s, m, h or d (e.g. '{cleaned}s')")
    if not _INTERVAL_RE.fullmatch(cleaned):
        raise ValueError(
            f"{text!r} is not an interval: use whole numbers with a unit s, m, h or d, "
            "e.g. '10m' or '1h30m'"
        )
    parts = _INTERVAL_PART_RE.findall(cleaned)
    # a number this long is over the maximum in any unit; int() would refuse past 4300 digits
    if any(len(n.lstrip("0")) > len(str(MAX_INTERVAL)) for n, _ in parts):
        seconds = MAX_INTERVAL + 1
    else:
        seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds > MAX_INTERVAL:
        raise ValueError(f"{text!r} is longer than the maximum of {MAX_INTERVAL_DAYS}d")
    if seconds < MIN_INTERVAL:
        raise ValueError(f"{text!r} is shorter than the minimum of {MIN_INTERVAL}s")
    return seconds


def find_config(explicit: str | Path | None) -> Path:
    """``--config``, else ``$AGGREGATOR_CONFIG``, else ``./aggregator.toml``.

    The path is returned as the user gave it, so problems name the file their way.
    """
    if explicit is not None:
        if str(explicit) == "":  # --config "$UNSET": not the current directory's config
            raise ConfigError(["--config: the path is empty; give the config file's path"])
        candidate, origin = Path(explicit), "--config"
    elif os.environ.get(ENV_VAR):
        candidate, origin = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        candidate = Path(DEFAULT_FILE)
        if not candidate.exists():
            raise ConfigError(
                [
                    f"{candidate}: no such file in {Path.cwd()}; "
                    f"pass --config PATH or set {ENV_VAR}"
                ]
            )
        origin = "the current directory"
    if not candidate.exists():
        raise ConfigError([f"{candidate}: no such config file (from {origin})"])
    if candidate.is_dir():
        raise ConfigError([f"{candidate}: is a directory, not a config file (from {origin})"])
    return candidate


# --- field checks, run after the type check --------------------------------


def _xml_text(value: str) -> str:
    # Titles end up in published XML, which cannot hold these (a TOML "\u0000" can).
    bad = NOT_XML.search(value)
    if bad:
        raise ValueError(f"contains the control character U+{ord(bad.group()):04X}, which XML cannot hold")
    return value


def _nonempty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return _xml_text(value)


def _no_home(text: str) -> str | None:
    """Why ``text``'s leading ``~`` or ``~user`` names no folder (``expanduser`` raises
    RuntimeError then, a traceback at the first use of the path), or None."""
    if not text.startswith("~"):
        return None
    try:
        Path(text).expanduser()
    except RuntimeError:
        tilde = text.split("/", 1)[0]
        if tilde == "~":
            return f"{text!r}: '~' names the home folder, and none is known (HOME is not set)"
        return f"{text!r}: no user {tilde[1:]!r} has a home folder for {tilde!r} to name"
    return None


def _path(value: str) -> str:
    """A file or folder of the config (output_dir, a seeds path, an OPML file)."""
    _nonempty(value)
    problem = _no_home(value)
    if problem:
        raise ValueError(problem)
    return value


def _title(value: str) -> str:
    """A title as it is shown, one line: runs of whitespace (a TOML multi-line string's line
    breaks) are one space, as in the feeds' own titles; in a status or topics table a line
    break split the row."""
    return " ".join(_nonempty(value).split())


def _slug(value: str) -> str:
    if len(value) > MAX_NAME:
        # PostgreSQL would refuse it at the first refresh; SQLite would quietly store it.
        raise ValueError(f"is {len(value)} characters long; at most {MAX_NAME} are allowed")
    if not _SLUG_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid name: use lower-case letters, digits, '-' and '_', "
            "starting with a letter or digit"
        )
    return value


def _topic_slug(value: str) -> str:
    _slug(value)
    if value in RESERVED_SLUGS:
        raise ValueError(f"{value!r} is reserved (it names an output file); choose another slug")
    return value


def _http_url(value: str) -> str:
    problem = url_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _base_url(value: str) -> str:
    _http_url(value)
    if "?" in value or "#" in value:
        raise ValueError(f"{value!r} must not have a query or fragment")
    return value


def _database(value: str) -> str:
    """A URL whose dialect SQLAlchemy knows and whose driver is installed.

    Caught here, a typo or a missing driver is a config error (exit 2) instead of a
    traceback from the first command that opens the store. Loading a dialect class and
    importing its DB-API module connects nowhere and creates no file.
    """
    try:
        url = make_url(value)
    except (ArgumentError, ValueError) as exc:  # ValueError: int() of a port ("host:abc")
        port = _BAD_PORT_RE.fullmatch(str(exc))
        raise ValueError(
            f"{value!r} is not a SQLAlchemy database URL (e.g. 'sqlite:///aggregator.db')"
            + (f": its port {port[1]} is not a number" if port else "")
        ) from None
    if url.get_backend_name() == "sqlite" and url.database:
        # Both were accepted, and the first command to open the store stopped with a traceback.
        if "\x00" in url.database:
            raise ValueError("the file name contains the control character U+0000")
        problem = _no_home(url.database.removeprefix("file:"))
        if problem:
            raise ValueError(problem)
    try:
        dialect_cls = url.get_dialect()
    except NoSuchModuleError:
        if "+" in url.drivername:
            backend, driver = url.get_backend_name(), url.get_driver_name()
            raise ValueError(f"unknown driver {driver!r} for database type {backend!r}") from None
        raise ValueError(f"unknown database type {url.drivername!r}") from None
    try:
        dialect_cls.import_dbapi()
    except ImportError as exc:
        missing = exc.name or str(exc)
        if url.get_backend_name() == "postgresql" and missing == "psycopg":
            raise ValueError(
                "the PostgreSQL driver is not installed (no module named 'psycopg'): "
                "pip install 'aggregator[postgres]'"
            ) from None
        raise ValueError(
            f"the {url.get_backend_name()} driver {dialect_cls.driver!r} is not installed "
            f"(no module named {missing!r}): install the package that provides it"
        ) from None
    return value


def _split_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # an IPv6 literal, "[::1]:8080"
        if not _ipv6(host):
            host = ""
    elif ":" in host:
        host = ""  # an unbracketed IPv6 address is ambiguous
    # the default base_url is http://{listen}: a host with a space or a "/" in it would
    # publish feed ids that are no URL, or another URL ("a/b:80" -> http://a/b:80/all.xml)
    elif not _HOST_RE.fullmatch(host):
        host = ""
    if not sep or not host or not port.isascii() or not port.isdigit():
        raise ValueError(f"{value!r} is not host:port (e.g. '127.0.0.1:8080')")
    if not 1 <= int(port) <= 65535:  # 0 too: a port the system picks is no address to subscribe to
        raise ValueError(f"{value!r}: the port must be from 1 to 65535")
    return host, int(port)


def _ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def _every_address(host: str) -> bool:
    """Whether ``host`` is 0.0.0.0 or ::, which binds every address but names none."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False  # a host name


def _listen(value: str) -> str:
    _split_listen(value)
    return value


def _interval(value: str) -> str:
    parse_interval(value)
    return value


def _phrase(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if not re.search(r"\w", value):
        raise ValueError(f"{value!r} has no letters or digits to match")
    return value


# --- the tables' shapes, as msgspec types -------------------------------------------
# msgspec rather than pydantic-core: the same strict checks for ≈ 0.5 MiB of RSS at import
# where pydantic-core took ≈ 4.4 (its 5 MB library's pages), in every process, a refresh's
# peak included. msgspec stops at a value's first error (by design) and its ValidationError
# is only a message: so each value of a table is converted on its own, each element of an
# array too (every problem is reported, and where it is needs no reading out of a message),
# and the table's keys (unknown, missing, defaults) are checked here.

_REQUIRED = object()  # a key with no default
# TOML integers are 64-bit (tomllib reads longer ones too); a larger max_entries overflowed
# the SQL LIMIT of the publish, with a traceback
_COUNT = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
_CHECKS: dict[type, Callable[[str], str]] = {}


class _Problem(Exception):
    """A check's ValueError, carried out of msgspec as it is (not made a ValidationError)."""


def _checked(check: Callable[[str], str]) -> type[str]:
    """A string type that must also pass ``check`` (which raises ValueError)."""
    kind = type(check.__name__, (str,), {})  # msgspec asks _decode for types it does not know
    _CHECKS[kind] = check
    return kind


def _decode(kind: type, value: object) -> str:
    if not isinstance(value, str):  # worded as msgspec words its own type errors
        raise TypeError(f"Expected `str`, got `{type(value).__name__}`")
    try:
        return kind(_CHECKS[kind](value))
    except ValueError as exc:
        raise _Problem(str(exc)) from None


_PATH = _checked(_path)
_TITLE = _checked(_title)
_INTERVAL = _checked(_interval)
_PHRASE = _checked(_phrase)
_ANY_TABLE = dict[str, Any]


class _Table:
    """One TOML table: its keys (in order), each with its type and default."""

    def __init__(self, fields: dict[str, tuple[Any, Any]]) -> None:
        self.keys = tuple(fields)
        self.fields = fields


def _optional(kind: Any) -> tuple[Any, None]:
    return kind, None  # TOML has no null: only an absent key is None


_DOCUMENT = _Table(
    {
        "aggregator": (_ANY_TABLE, {}),
        "sources": (list[_ANY_TABLE], []),
        "topics": (list[_ANY_TABLE], []),
    }
)
_AGGREGATOR = _Table(
    {
        "database": (_checked(_database), "sqlite:///aggregator.db"),
        "output_dir": (_PATH, "feeds"),
        "base_url": _optional(_checked(_base_url)),  # default: from listen
        "listen": (_checked(_listen), "127.0.0.1:8080"),
        "title": (_TITLE, "Aggregator"),
        "max_entries": (_COUNT, 50),
        "default_interval": (_INTERVAL, "30m"),
        "max_connections": (_COUNT, 64),
        "max_per_host": (_COUNT, 8),
        "opml": (list[_PATH], []),  # type: ignore[valid-type]
    }
)
_SOURCE = _Table(
    {
        "name": (_checked(_slug), _REQUIRED),
        "type": _optional(Literal["seeds", "feed"]),
        "url": _optional(_checked(_http_url)),
        "path": _optional(_PATH),
        "interval": _optional(_INTERVAL),
        "enabled": (bool, True),
        "title": _optional(_TITLE),
    }
)
_TOPIC = _Table(
    {
        "slug": (_checked(_topic_slug), _REQUIRED),
        "title": _optional(_TITLE),
        "any": (list[_PHRASE], []),  # type: ignore[valid-type]
        "all": (list[_PHRASE], []),  # type: ignore[valid-type]
        "none": (list[_PHRASE], []),  # type: ignore[valid-type]
        "sources": (list[str], []),
    }
)


# --- turning msgspec's errors into our lines ----------------------------------------

# msgspec's messages for a value checked alone (no " - at `$…`" path): its wording is
# pinned by the tests of every message below
_TYPE_ERROR_RE = re.compile(r"Expected `(\w+)`, got `[^`]*`")
_BOUND_ERROR_RE = re.compile(r"Expected `int` (>=|<=) (-?[0-9]+)")


def _kind(value: object) -> str:
    """The TOML name of a value's type, for "must be X, not Y" messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (datetime, date, time)):
        return "a date/time"
    names = {int: "an integer", float: "a float", str: "a string", list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _key_path(prefix: str, loc: tuple[int | str, ...]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
            continue
        # a quoted key as TOML writes it: one line per problem, and "a.b" is not a.b
        key = part if _BARE_KEY_RE.fullmatch(part) else json.dumps(part, ensure_ascii=False)
        path += f".{key}" if path else key
    return path


def _message(error: str, kind: Any, key: str, value: object, top_level: bool) -> str:
    """Our line for msgspec's message ``error`` about ``value`` (of the ``key`` of a table),
    which was checked as a ``kind``; ``top_level``: [[sources]] or [[topics]] itself."""
    if get_origin(kind) is Literal:  # of any type
        return f"must be {' or '.join(map(repr, get_args(kind)))}, not {value!r}"
    if match := _TYPE_ERROR_RE.fullmatch(error):
        if match[1] == "str" and key in ("interval", "default_interval"):
            return f"must be a string like '30m' (a number with unit s, m, h or d), not {_kind(value)}"
        if match[1] == "array" and top_level:
            # the top-level arrays only: a topic's sources is an array of names
            return f"must be an array of tables ([[{key}]]), not {_kind(value)}"
        expected = {"str": "a string", "int": "an integer", "bool": "true or false",
                    "array": "an array", "object": "a table"}
        if match[1] in expected:
            return f"must be {expected[match[1]]}, not {_kind(value)}"
    if match := _BOUND_ERROR_RE.fullmatch(error):
        return f"must be {'at least' if match[1] == '>=' else 'at most'} {match[2]}, not {value!r}"
    return error


Report = Callable[[str, str], None]
Checked = dict[str, Any]  # a table as _validate returns it, defaults filled in


def _convert(value: object, kind: Any, key: str, loc: tuple[int | str, ...], top_level: bool,
             prefix: str, report: Report) -> tuple[bool, Any]:
    """``value`` checked as a ``kind``, or (False, None) with its problem reported."""
    try:
        checked = msgspec.convert(value, kind, strict=True, dec_hook=_decode)
    except _Problem as exc:
        message = str(exc)
    except msgspec.ValidationError as exc:
        message = _message(str(exc), kind, key, value, top_level)
    else:
        return True, str(checked) if isinstance(checked, str) else checked  # not a _checked type
    report(_key_path(prefix, loc), message)
    return False, None


def _validate(table: _Table, data: dict[str, Any], prefix: str, report: Report) -> Checked | None:
    checked: Checked = {}
    ok = True
    for key, (kind, default) in table.fields.items():
        if key not in data:
            if default is _REQUIRED:
                report(_key_path(prefix, (key,)), "required key is missing")
                ok = False
            checked[key] = default
            continue
        value = data[key]
        top_level = table is _DOCUMENT and key in ("sources", "topics")
        if get_origin(kind) is not list:
            good, checked[key] = _convert(value, kind, key, (key,), top_level, prefix, report)
            ok &= good
            continue
        good, _ = _convert(value, list, key, (key,), top_level, prefix, report)
        if not good:
            ok = False
            continue
        (item_kind,) = get_args(kind)
        items = [_convert(item, item_kind, key, (key, i), False, prefix, report)
                 for i, item in enumerate(value)]
        ok &= all(good for good, _ in items)
        checked[key] = [item for _, item in items]
    for key in data:
        if key not in table.fields:
            import difflib  # only a config with an unknown key needs it

            close = difflib.get_close_matches(key, table.keys, n=1)
            report(_key_path(prefix, (key,)), "unknown key" + (f" (did you mean {close[0]!r}?)" if close else ""))
            ok = False
    return checked if ok else None


# --- loading ------------------------------------------------------------------------


def load_config(path: Path) -> Config:
    """Read, validate and resolve a config file.

    Raises ConfigError whose ``problems`` hold every problem found, one line each;
    logs the config's warnings.
    """
    config = load_config_as(Path(path), str(path))
    for warning in config.warnings:
        log.warning("%s", warning)
    return config


def load_config_as(path: Path, shown: str, base_dir: Path | None = None) -> Config:
    """``load_config``, naming the file ``shown`` in problems (import validates a temp copy),
    without logging the warnings; relative paths resolve against ``base_dir``, by default
    the file's folder."""
    problems: list[str] = []
    warnings: list[str] = []

    def report(key: str, message: str) -> None:
        problems.append(f"{shown}: {key}: {message}")

    def warn(key: str, message: str) -> None:
        warnings.append(f"{shown}: {key}: {message}")

    data = _read_toml(path, shown)
    base_dir = base_dir or Path(os.path.abspath(path)).parent
    _validate(_DOCUMENT, data, "", report)
    raw_agg = _section(data, "aggregator", dict, {})
    raw_sources = _section(data, "sources", list, [])
    raw_topics = _section(data, "topics", list, [])

    agg = _validate(_AGGREGATOR, raw_agg, "aggregator", report)
    checked_sources = _check_sources(raw_sources, report)
    names = {s["name"] for s in raw_sources if isinstance(s, dict) and isinstance(s.get("name"), str)}
    feed_urls = {
        canonical_url(s["url"])
        for s in raw_sources
        if isinstance(s, dict) and isinstance(s.get("url"), str)
    }
    default_interval = parse_interval(agg["default_interval"]) if agg else 1800
    opml_entries = agg["opml"] if agg else usable_paths(raw_agg.get("opml"))
    before_opml = len(problems)
    opml_sources = _opml_sources(
        opml_entries, base_dir, names, feed_urls, default_interval, report, warn
    )
    # A wrong type is reported already, and an OPML file that cannot be read is the problem
    # (the sources are its feeds): "add at least one source" would mislead.
    if not data.get("sources") and not opml_sources and len(problems) == before_opml:
        report("sources", NO_SOURCES)
    # A topic may name OPML feeds by the name they share (their titles alike, so each got
    # a suffix): it then means every one of them, and it goes on meaning the feed it meant
    # when a second outline of that title comes and suffixes the first.
    shared: dict[str, list[str]] = {}
    # An OPML feed's name as releases before spelled it (``earlier_name``): a topic that
    # names it so still means it (with a warning), rather than taking no more of its items.
    earlier: dict[str, list[str]] = {}
    for src in opml_sources:
        feed = OpmlFeed(url=src.url or "", title=src.title, html_url=None)
        base = base_name(feed)
        if src.name != base and base not in names:
            shared.setdefault(base, []).append(src.name)
        if (was := earlier_name(src.name, feed)) != src.name and was not in names:
            earlier.setdefault(was, []).append(src.name)
    # (not one two feeds would have had: those were suffixed then, as their names are not now)
    renamed = {was: now[0] for was, now in earlier.items() if len(now) == 1 and was not in shared}
    checked_topics = _check_topics(raw_topics, names | set(shared) | set(renamed), report, shared,
                                   warn if opml_entries else None)
    for i, raw in enumerate(raw_topics):
        refs = raw.get("sources") if isinstance(raw, dict) else None
        for k, ref in enumerate(refs if isinstance(refs, list) else ()):
            if isinstance(ref, str) and ref in renamed:
                warn(f"topics[{i}].sources[{k}]", f"{ref!r} is the source now named {renamed[ref]!r} (its "
                     "title's ß, æ, ø, ł or þ is spelled out since this release): write that")
    if problems or agg is None:
        raise ConfigError(problems)

    settings = _settings(agg, base_dir)
    if not agg["base_url"] and _every_address(settings.listen_host):
        warn("aggregator.base_url", f"not set, so feeds are published as {settings.base_url}/<slug>.xml, "
             "an address no reader can reach; set base_url to the address readers use")
    first_of: dict[str, int] = {}  # the canonical URL of an enabled feed -> its sources[] index
    for i, raw in enumerate(raw_sources):
        if (not isinstance(raw, dict) or _source_kind(raw) != "feed" or not isinstance(raw.get("url"), str)
                or raw.get("enabled") is False):
            continue
        same = first_of.setdefault(canonical_url(raw["url"]), i)
        if same != i:
            # Two names for one feed: both are fetched at each interval, and the feed's items
            # carry both names. (Miniflux and FreshRSS refuse a second subscription.)
            warn(f"sources[{i}].url", f"the same feed as sources[{same}] ({raw_sources[same]['name']!r}): "
                 "it is fetched twice; remove one")
    for i, t in enumerate(checked_topics):
        for field in ("any", "all", "none"):
            for k, phrase in enumerate(t[field] if t is not None else ()):
                if "*" in phrase.strip()[:-1]:
                    # DESIGN: punctuation inside a phrase matches literally; a star meant as
                    # "any ending" in the middle (sanction* regime) silently never matched.
                    warn(f"topics[{i}].{field}[{k}]", f"{phrase!r}: only a '*' that ends a phrase matches any "
                         "ending; one inside it matches a '*' in the text")
                bare = phrase.strip()
                if len(bare) > 2 and bare[0] in _QUOTES and bare[-1] in _QUOTES:
                    # A search engine's habit ("Baltic Sea" for the exact phrase): the quotes
                    # are punctuation that matches literally, so the phrase silently missed
                    # every item that does not quote it.
                    warn(f"topics[{i}].{field}[{k}]", f"{phrase!r}: the quotes match quote marks in the text; "
                         "a phrase already matches its words in order, so write it without them")
    sources = [
        _source(s, base_dir, default_interval) for s in checked_sources if s is not None
    ]
    topics = [
        TopicConfig(
            slug=t["slug"],
            title=t["title"] or t["slug"],
            any=tuple(t["any"]),
            all=tuple(t["all"]),
            none=tuple(t["none"]),
            sources=tuple(n for ref in t["sources"] for n in shared.get(ref, [renamed.get(ref, ref)])),
        )
        for t in checked_topics
        if t is not None
    ]
    return Config(
        path=Path(os.path.abspath(path)),
        settings=settings,
        sources=tuple(sources + opml_sources),
        topics=tuple(topics),
        warnings=tuple(warnings),
    )


def _read_toml(path: Path, shown: str) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{shown}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{shown}: not UTF-8 text (bad byte at offset {exc.start})"]) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(shown, text, str(exc))]) from exc
    except RecursionError:  # tomllib recurses once per level of an array or inline table
        raise ConfigError([f"{shown}: arrays or inline tables are nested too deeply to read "
                           "(more than a few hundred levels)"]) from None


def _syntax_problem(shown: str, text: str, message: str) -> str:
    """tomllib puts the position in its message; we put it in the ``FILE:LINE:COL`` prefix."""
    position = _TOML_POSITION_RE.search(message)
    if position:
        line, column = int(position[1]), int(position[2])
        message = message[: position.start()]
    else:
        message = _TOML_END_RE.sub("", message)
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    return f"{shown}:{line}:{column}: {message}"


def _section(data: dict[str, Any], key: str, kind: type, empty: Any) -> Any:
    # a section of the wrong type was already reported by _Document
    value = data.get(key, empty)
    return value if isinstance(value, kind) else empty


def usable_paths(value: object) -> list[str]:
    """The entries of an opml array that are usable paths: those of a refused [aggregator]
    table (each other one is reported already), so that the OPML files' problems are
    reported too; those of a config that failed to load, for the service to watch."""
    if not isinstance(value, list):
        return []
    usable = []
    for v in value:
        try:
            if isinstance(v, str):
                usable.append(_path(v))
        except ValueError:
            pass
    return usable


def _resolve(base_dir: Path, text: str) -> Path:
    """A path from the config file, relative to the config file's folder, never the cwd."""
    path = Path(text).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base_dir / path))


def _check_sources(raw_sources: list[Any], report: Report) -> list[Checked | None]:
    checked: list[Checked | None] = []
    first_use: dict[str, int] = {}
    for i, raw in enumerate(raw_sources):
        prefix = f"sources[{i}]"
        if not isinstance(raw, dict):
            checked.append(None)
            continue
        checked.append(_validate(_SOURCE, raw, prefix, report))
        _check_source_kind(raw, prefix, report)
        name = raw.get("name")
        if isinstance(name, str):
            if name in first_use:
                report(
                    f"{prefix}.name",
                    f"duplicate name {name!r} (already used by sources[{first_use[name]}])",
                )
            else:
                first_use[name] = i
    return checked


def _source_kind(raw: dict[str, Any]) -> str:
    kind = raw.get("type")
    if isinstance(kind, str):
        return kind
    return "seeds" if "path" in raw and "url" not in raw else "feed"


def _check_source_kind(raw: dict[str, Any], prefix: str, report: Report) -> None:
    kind = _source_kind(raw)
    if kind == "feed":
        if "url" not in raw:
            report(
                f"{prefix}.url",
                "required key is missing (a feed needs a url; "
                'local documents need type = "seeds" and a path)',
            )
        if "path" in raw:
            report(f"{prefix}.path", "not used by a feed source (did you mean url?)")
    elif kind == "seeds":
        if "path" not in raw:
            report(f"{prefix}.path", "required key is missing (a seeds source needs a path)")
        if "url" in raw:
            report(f"{prefix}.url", "not used by a seeds source")


def _opml_sources(
    entries: list[str],
    base_dir: Path,
    names: set[str],
    feed_urls: set[str],
    interval: int,
    report: Report,
    warn: Report,
) -> list[SourceConfig]:
    """Feeds listed in OPML files, minus those already configured (compared canonically).

    A file that cannot be read is a problem; an outline whose URL is unusable is only
    left out with a warning, as ``sources import`` does, so that it stops no other source.

    Named all at once (``source_names``), so that a name depends neither on the order of the
    outlines nor on which others are listed, and never takes a [[sources]] entry's name.
    """
    known = set(feed_urls)
    listed: list[tuple[OpmlFeed, Path]] = []
    for j, entry in enumerate(entries):
        key = f"aggregator.opml[{j}]"
        file = _resolve(base_dir, entry)
        try:
            feeds = read_opml(file, display=entry, warn=functools.partial(warn, key))
        except ConfigError as exc:
            for line in exc.problems:
                report(key, line)
            continue
        for feed, problem in new_feeds(feeds, known):
            if problem:
                warn(key, skipped_outline(entry, feed, problem))
                continue
            listed.append((feed, file))
    sources = [
        SourceConfig(
            name=name,
            type="feed",
            url=feed.url,
            path=None,
            interval=interval,
            enabled=True,
            title=feed.title,
            origin=str(file),
        )
        for (feed, file), name in zip(listed, source_names([f for f, _ in listed], names))
    ]
    names.update(s.name for s in sources)  # topics may name OPML sources too
    return sources


def _check_topics(
    raw_topics: list[Any], source_names: set[str], report: Report, shared: Mapping[str, list[str]],
    warn: Report | None = None,
) -> list[Checked | None]:
    """``warn``: where a name no source has is only warned of (the config lists OPML files,
    which other programs rewrite: an outline removed or retitled takes its name away)."""
    checked: list[Checked | None] = []
    first_use: dict[str, int] = {}
    for i, raw in enumerate(raw_topics):
        prefix = f"topics[{i}]"
        if not isinstance(raw, dict):
            checked.append(None)
            continue
        checked.append(_validate(_TOPIC, raw, prefix, report))
        if not raw.get("any") and not raw.get("all"):
            # with both empty every item would match, which is what all.xml is for
            report(prefix, "needs at least one phrase in 'any' or 'all'")
        slug = raw.get("slug")
        if isinstance(slug, str):
            if slug in first_use:
                report(
                    f"{prefix}.slug",
                    f"duplicate slug {slug!r} (already used by topics[{first_use[slug]}])",
                )
            else:
                first_use[slug] = i
        refs = raw.get("sources")
        if isinstance(refs, list):
            for k, ref in enumerate(refs):
                if isinstance(ref, str) and ref not in source_names:
                    hint = _positional_hint(ref, shared)
                    if warn is None:
                        report(f"{prefix}.sources[{k}]", f"no source named {ref!r}{hint}")
                    else:
                        # Refusing the whole config would stop every refresh (and keep a service
                        # fetching the outline removed).
                        warn(f"{prefix}.sources[{k}]", f"no source named {ref!r}"
                             f"{hint or ' now (an OPML outline removed or retitled?)'}: the topic takes no new items from it")
    return checked


_POSITIONAL_RE = re.compile(r"(.+)-[0-9]+")


def _positional_hint(ref: str, shared: Mapping[str, list[str]]) -> str:
    """What became of ``news-2``: earlier releases (until bdc52eb) numbered the OPML feeds of
    one name by position, and a topic limited to one of them named it so."""
    match = _POSITIONAL_RE.fullmatch(ref)
    if match is None or match[1] not in shared:
        return ""
    base = match[1]
    return (f" (older versions numbered feeds of one name by position: {base!r} names every one of them, "
            f"and each has its own name: {', '.join(sorted(shared[base]))})")


def _normal_escape(escape: re.Match[str]) -> str:
    """An escaped unreserved character (``%7E``) as itself, any other escape in capitals."""
    char = chr(int(escape[1], 16))
    return char if char in _UNRESERVED else escape[0].upper()


def _settings(agg: Checked, base_dir: Path) -> Settings:
    host, port = _split_listen(agg["listen"])
    base_url = agg["base_url"] or f"http://{agg['listen'].strip()}"
    return Settings(
        database=_resolve_database(agg["database"], base_dir),
        output_dir=_resolve(base_dir, agg["output_dir"]),
        # Every feed's id is {base_url}/{slug}.xml: in canonical form (scheme and host in
        # lower case, no default port, escapes as RFC 3986 §6.2.2.1-2 writes them), or
        # the W3C validator reports NonCanonicalURI.
        base_url=_ESCAPE_RE.sub(_normal_escape, canonical_url(base_url)).rstrip("/"),
        listen_host=host,
        listen_port=port,
        title=agg["title"],
        max_entries=agg["max_entries"],
        default_interval=parse_interval(agg["default_interval"]),
        max_connections=agg["max_connections"],
        max_per_host=agg["max_per_host"],
        opml=tuple(_resolve(base_dir, entry) for entry in agg["opml"]),
    )


def _resolve_database(text: str, base_dir: Path) -> str:
    """Make a relative (or ``~``) SQLite file absolute beside the config, a URI filename
    (``file:…?uri=true``) too; leave every other URL as is."""
    url = make_url(text)
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return text
    if database.startswith("file:"):
        rest = database[len("file:"):]
        # Not a URI filename: SQLite opens a file named "file:…" (relative, as any other).
        if url.query.get("uri") != "true":
            resolved = str(_resolve(base_dir, database))
        # An absolute path, or an in-memory database: nothing to resolve.
        elif rest.startswith("/") or url.query.get("mode") == "memory" or rest == ":memory:":
            return text
        else:  # SQLite decodes %XX in a URI's path: a folder named "a b" or "x?y" stays whole
            resolved = "file:" + quote(str(_resolve(base_dir, unquote(rest))), safe="/")
    elif Path(database).is_absolute():
        return text
    else:
        resolved = str(_resolve(base_dir, database))  # expands "~" as the other paths do
    return url.set(database=resolved).render_as_string(hide_password=False)


def _source(table: Checked, base_dir: Path, default_interval: int) -> SourceConfig:
    path, url = table["path"], table["url"]
    kind = table["type"] or ("seeds" if path is not None and url is None else "feed")
    return SourceConfig(
        name=table["name"],
        type=kind,
        url=url if kind == "feed" else None,
        path=_resolve(base_dir, path) if kind == "seeds" and path else None,
        interval=parse_interval(table["interval"]) if table["interval"] else default_interval,
        enabled=table["enabled"],
        title=table["title"],
        origin="config",
    )
