"""OPML subscription lists: read them, name their feeds, import them into the config.

An OPML file is often downloaded from somewhere else, so it is parsed with a parser
that loads no DTD and touches no network, and a file that declares entities is
refused outright (libxml2 still expands internal entities inside attributes even
with ``resolve_entities=False``).
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import html.entities
import logging
import os
import re
import stat
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence, Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit, urlunsplit

from lxml import etree

from aggregator.errors import AggregatorError, ConfigError
from aggregator.identity import without_credentials

if TYPE_CHECKING:  # tomlkit only where the config is edited (a refresh reads OPML, never writes)
    import tomlkit
    import tomlkit.items

    from aggregator.config import SourceConfig

log = logging.getLogger(__name__)

_MAX_NAME = 60  # long titles make unwieldy source keys; cut at a word boundary
_DEFAULT_PORTS = {"http": 80, "https": 443}
# hex digits of a colliding name's URL suffix; longer ones only break a clash of the short ones
_SUFFIX_LENGTHS = (0, 6, 8, 12, 16, 64)
# An "&" and what follows it: a character reference, a named one, or neither (a bare "&");
# or a comment, CDATA section or processing instruction, where an "&" is only text (group 3)
_AMPERSAND = re.compile(rb"&(?:(#[0-9]+;|#[xX][0-9A-Fa-f]+;)|([A-Za-z][A-Za-z0-9]*);)?"
                        rb"|(<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>)", re.DOTALL)
_XML_NAMED = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})


@dataclass(frozen=True)
class OpmlFeed:
    url: str
    title: str | None
    html_url: str | None
    line: int | None = field(default=None, compare=False)  # of its outline, for messages
    type: str | None = field(default=None, compare=False)  # its outline's type ("rss", "HTML+XPath")


# The schemes podcast directories and Apple's apps link feeds with (iTunes' "itpc://host/path",
# "pcast://host/path"): the http URL of the same host and path, as podcast apps read them.
_PODCAST_SCHEMES = ("itpc://", "pcast://")


def feed_url(url: str) -> str:
    """The http(s) URL a ``feed:`` URL stands for, as browsers and readers read it
    (``feed://host/path`` is ``http://host/path``, ``feed:https://host/path`` is
    ``https://host/path``; ``itpc://`` and ``pcast://`` are ``http://``); any other URL
    as it is."""
    if url[:8].lower().startswith(_PODCAST_SCHEMES):
        return "http:" + url[url.index("//"):]
    if url[:5].lower() != "feed:":
        return url
    rest = url[5:]
    if rest.startswith("//"):
        return "http:" + rest
    if rest[:7].lower() == "http://" or rest[:8].lower() == "https://":
        return rest
    return url


def _spaces_quoted(url: str) -> str:
    """``url`` with each space of its path or query as ``%20``, as browsers and other readers
    send it (an old podcast's ".../My Show.xml"); a space in its host stays, to be named."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return url
    return url if " " in netloc else url.replace(" ", "%20")


def skipped_outline(shown: str, feed: OpmlFeed, problem: str) -> str:
    """The warning for an outline left out: its file and line, its title, the problem."""
    where = f"{shown}:{feed.line}" if feed.line else shown
    what = f"the outline {feed.title!r}" if feed.title else "an untitled outline"
    return f"{where}: skipping {what}: {problem}"


def url_problem(url: str) -> str | None:
    """Why ``url`` is not an http(s) URL with a host, or None when it is one."""
    if not url.strip():
        return "must not be empty"
    # Printed and logged (on every load of the config): a private feed's user and password stay out.
    shown = without_credentials(url)
    hidden = _userinfo_misread(url)
    if hidden is not None:
        return (f"{hidden!r} is not a valid URL: a '/', '?' or '#' in its user or password "
                "must be written %2F, %3F or %23")
    if any(ch.isspace() for ch in url):
        where = "" if any(ch.isspace() for ch in shown) else " in its user or password"
        return f"{shown!r} contains whitespace{where}"
    # (not whitespace) a NUL or DEL in a feed id or a request: RFC 3986 has no place for them
    control = next((ch for ch in url if ch < " " or ch == "\x7f"), None)
    if control is not None:
        where = "" if control in shown else " in its user or password"
        return f"{shown!r} contains the control character U+{ord(control):04X}{where}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return f"{shown!r} is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return f"{shown!r} is not an http:// or https:// URL"
    if not parts.hostname:
        return f"{shown!r} has no host"
    return None


def _userinfo_misread(url: str) -> str | None:
    """``url`` less its user and password, when a "/", "?" or "#" in them (not written
    %2F, %3F, %23) ends its host where no host can end, for every URL parser (and for
    ``without_credentials``, which would show the password): read to the last "@", as
    the user meant it. None when ``url`` reads as a URL with a host, or has no such part."""
    start = url.find("://") + 3
    at = url.rfind("@")
    if start < 3 or at < start:
        return None
    userinfo = url[start:at]
    first = min((i for i in map(userinfo.find, "/?#") if i >= 0), default=-1)
    if first < 0 or ":" not in userinfo[:first]:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port ("me:s3c" of "me:s3c#ret@...")
        if parts.hostname:
            return None
    except ValueError:
        pass
    return url[:start] + url[at + 1:]


def outline_problem(feed: OpmlFeed) -> str | None:
    """Why ``feed``'s outline is no feed to subscribe to, or None when it is one."""
    # FreshRSS exports the web pages it scrapes (its types HTML+XPath, XML+XPath,
    # JSON+DotNotation) with their page as xmlUrl: fetched as a feed, it fails every time
    kind = (feed.type or "").lower()
    if "xpath" in kind or "dotnotation" in kind:
        return f"its type {feed.type!r} is a page another reader scrapes, not a feed"
    return url_problem(feed.url)


def canonical_url(url: str) -> str:
    """The form two feed URLs are compared in: scheme and host lower-cased, no fragment,
    no default port, an empty path as "/". Other parts are kept as they are."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        host = f"{userinfo}@{host}"
    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


def _escape_ampersands(data: bytes) -> tuple[bytes, int]:
    """``data`` with each bare "&" escaped and each HTML named entity (``&nbsp;``) given as
    the character references it stands for; also how many it changed."""
    changed = 0

    def fix(ref: re.Match[bytes]) -> bytes:
        nonlocal changed
        if ref[1] or ref[3] or (ref[2] is not None and ref[2] in _XML_NAMED):
            return ref[0]
        changed += 1
        chars = html.entities.html5.get(ref[2].decode("ascii") + ";") if ref[2] else None
        if chars:
            return "".join(f"&#{ord(c)};" for c in chars).encode("ascii")
        return b"&amp;" + ref[0][1:]

    return _AMPERSAND.sub(fix, data), changed


def read_opml(
    path: Path, *, display: str | None = None, warn: Callable[[str], None] | None = None
) -> list[OpmlFeed]:
    """Every outline with an ``xmlUrl``, nested categories flattened, in document order;
    ``feed:`` URLs are given as the http(s) URLs they stand for, a space in a path as ``%20``.

    Raises ConfigError naming the file (as ``display``, else the path) when it cannot
    be read or is not OPML. A file whose only fault is a bare "&" (a query string pasted
    by hand) or an HTML entity (``&nbsp;``) is read, as other readers read it, and
    ``warn`` is given a line saying so.
    """
    shown = display if display is not None else str(path)

    def fail(reason: str) -> ConfigError:
        return ConfigError([f"cannot read {shown}: {reason}"])

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise fail(exc.strerror or str(exc)) from exc
    if b"<!ENTITY" in data:
        raise fail("it declares XML entities, which are refused")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    # Escaped before parsing, not after a failure: under a DOCTYPE naming an external DTD
    # (never loaded) libxml2 drops an undefined &copy; silently, from a URL too. Byte
    # patterns only hold in an ASCII-compatible encoding: a UTF-16 file with its byte order
    # mark (Notepad's "Unicode") is escaped as UTF-8, then given back its own encoding.
    repaired, changed = data, 0
    utf16 = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}.get(data[:2])
    if b"\x00" not in data:
        repaired, changed = _escape_ampersands(data)
    elif utf16:
        try:
            escaped, changed = _escape_ampersands(data[2:].decode(utf16).encode("utf-8"))
        except UnicodeDecodeError:
            pass  # lxml names the fault
        else:
            repaired = data[:2] + escaped.decode("utf-8").encode(utf16)
    try:
        root = etree.fromstring(repaired, parser)
    except etree.XMLSyntaxError as exc:
        # exc.msg: "..., line 3, column 9", without the " (<string>, line 3)" str() adds
        raise fail(f"not well-formed XML: {exc.msg}") from exc
    if changed and warn is not None:
        warn(f"{shown}: not well-formed XML (a bare '&' or an HTML entity); "
             "read with a bare '&' as text and an entity as its character")
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        # the byte check above misses UTF-16 files
        raise fail("it declares XML entities, which are refused")
    if not isinstance(root.tag, str) or etree.QName(root).localname != "opml":
        raise fail(f"not an OPML file (the root element is <{root.tag}>, not <opml>)")

    feeds: list[OpmlFeed] = []
    for outline in root.iter("{*}outline"):
        # readers disagree on attribute case (xmlUrl, xmlURL, xmlurl)
        attrs = {str(k).lower(): str(v).strip() for k, v in outline.attrib.items()}
        url = attrs.get("xmlurl")
        if not url:
            continue
        # One line: a line break written &#10; stays one in XML (a no-break space is kept).
        title = _LINE_SPACE.sub(" ", attrs.get("title") or attrs.get("text") or "").strip() or None
        feeds.append(
            OpmlFeed(
                url=_spaces_quoted(feed_url(url)),
                title=title,
                html_url=attrs.get("htmlurl") or None,
                line=outline.sourceline,
                type=attrs.get("type") or None,
            )
        )
    return feeds


_LINE_SPACE = re.compile(r"[^\S\u00a0]+")  # runs of whitespace but the no-break space


# Latin letters with no decomposition to ASCII (NFKD leaves them whole, and they were
# dropped: "Straße" read "strae"), as German, Nordic, Polish and Icelandic spell them out.
_LATIN = str.maketrans({"ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
                        "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "ł": "l", "Ł": "L",
                        "ı": "i", "ħ": "h", "Ħ": "H", "ŧ": "t", "Ŧ": "T", "ŋ": "ng", "Ŋ": "NG"})


def _slugify(text: str, *, spelled: bool = True) -> str:
    """``spelled``: the letters of _LATIN spelled out (else dropped, as before 4f3a2e1)."""
    ascii_text = unicodedata.normalize("NFKD", text.translate(_LATIN) if spelled else text
                                       ).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > _MAX_NAME:
        cut = slug[:_MAX_NAME]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else cut
    return slug


def base_name(feed: OpmlFeed, *, spelled: bool = True) -> str:
    """A slug from the feed's title, else its host ("bbc-world", "example-org").
    ``spelled``: see ``_slugify``."""
    base = _slugify(feed.title or "", spelled=spelled)
    if not base:
        host = (urlsplit(feed.url).hostname or "").lower()
        base = _slugify(host.removeprefix("www."), spelled=spelled) or "feed"
    return base


def earlier_name(name: str, feed: OpmlFeed) -> str:
    """``name``, the source name ``source_names`` gave ``feed``, as releases before 4f3a2e1
    spelled it: they dropped the letters NFKD leaves whole ("die-strae" for "die-strasse"),
    and a topic may name the source so."""
    base, was = base_name(feed), base_name(feed, spelled=False)
    if was == base:
        return name
    if name == base:
        return was
    return was + name[len(base):] if name.startswith(base + "-") else name


def source_names(feeds: Sequence[OpmlFeed], taken: AbstractSet[str]) -> list[str]:
    """A source name for each feed (their URLs distinct), unique and none of them in ``taken``.

    A feed keeps its bare base name when no other feed here and no name in ``taken`` has it.
    Otherwise every feed sharing that base gets a suffix from the SHA-256 of its canonical
    URL ("news-3f2a9c"), never a number by position: a name is a source's key for ever, and
    a positional "-2" would pass to another URL when an earlier outline goes away.
    """
    bases = [base_name(feed) for feed in feeds]
    digests = [hashlib.sha256(canonical_url(f.url).encode("utf-8")).hexdigest() for f in feeds]
    per_base = Counter(bases)
    levels = [0 if per_base[b] == 1 and b not in taken else 1 for b in bases]

    def name(i: int) -> str:
        length = _SUFFIX_LENGTHS[levels[i]]
        return f"{bases[i]}-{digests[i][:length]}" if length else bases[i]

    while True:
        # A suffixed name can still meet another ("news-3f2a9c" titled so): every feed in the
        # clash takes a longer suffix, so the outcome does not depend on the order either.
        names = [name(i) for i in range(len(feeds))]
        per_name = Counter(names)
        clashing = [
            i for i, n in enumerate(names)
            if (per_name[n] > 1 or n in taken) and levels[i] < len(_SUFFIX_LENGTHS) - 1
        ]
        if not clashing:
            return names
        for i in clashing:
            levels[i] += 1


def new_feeds(
    feeds: Iterable[OpmlFeed], known: set[str]
) -> Iterator[tuple[OpmlFeed, str | None]]:
    """The feeds whose URL is no source yet, as (feed, None), and those with an unusable URL
    or no feed at all (``outline_problem``) as (feed, problem). ``known`` (canonical URLs) is updated as feeds are accepted, so a URL
    listed twice counts once (its first outline)."""
    for feed in feeds:
        problem = outline_problem(feed)
        if problem:
            yield feed, problem
            continue
        canonical = canonical_url(feed.url)
        if canonical in known:
            continue
        known.add(canonical)
        yield feed, None


@dataclass(frozen=True)
class OpmlImport:
    added: list[str]  # the names of the sources added, in OPML order
    configured: int = 0  # feeds left out as some source's already
    repeated: int = 0  # outlines left out as an earlier outline's feed


def import_opml(config_path: Path, opml_path: Path) -> OpmlImport:
    """Append a ``[[sources]]`` table to the config for every new feed of an OPML file.

    A feed is new when its canonical URL is no configured source's. Comments and
    formatting of the file are kept; the result is validated before it replaces the
    file (temp file + ``os.replace``), so a failed import leaves the config as it was.
    """
    # imported here: config imports this module for read_opml
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    from aggregator.config import NO_SOURCES, load_config, load_config_as

    config_path = Path(config_path)
    if not config_path.is_file():  # /dev/null reads as a config with no source yet
        raise ConfigError([f"{config_path}: not a regular file; sources import edits a config file in place"])
    try:
        current = load_config(config_path)  # refuse to edit a config that is already broken
    except ConfigError as exc:
        # but not one whose only fault is having no source yet: that is what an import adds
        if exc.problems != [f"{config_path}: sources: {NO_SOURCES}"]:
            raise
        current_sources: tuple[SourceConfig, ...] = ()
    else:
        current_sources = current.sources
    feeds = read_opml(Path(opml_path), display=str(opml_path), warn=lambda line: log.warning("%s", line))
    taken = {s.name for s in current_sources}
    # and the name OPML-listed feeds share ("news" for news-3f2a9c and news-8b01d2), which a
    # topic may give to mean them all: a source of that name would take the topic over
    taken |= {base_name(OpmlFeed(url=s.url or "", title=s.title, html_url=None))
              for s in current_sources if s.origin != "config"}
    known = {canonical_url(s.url) for s in current_sources if s.url}

    raw = config_path.read_bytes()
    bom = "\ufeff" if raw.startswith(codecs.BOM_UTF8) else ""  # written back as it was
    text = raw.decode("utf-8-sig")
    # A file whose every line ends in CRLF (saved on Windows) is edited as LF text and
    # written back with CRLF, so the tables added end their lines as the file's own do.
    crlf = "\r\n" in text and "\n" not in text.replace("\r\n", "")
    if crlf:
        text = text.replace("\r\n", "\n")
    if text and not text.endswith("\n"):
        text += "\n"
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError([f"{config_path}: {exc}"]) from exc

    fresh: list[OpmlFeed] = []
    configured = set(known)
    for feed, problem in new_feeds(feeds, known):
        if problem:
            log.warning("%s", skipped_outline(str(opml_path), feed, problem))
            continue
        fresh.append(feed)
    # The usable outlines left out: a feed configured already (counted once), and a
    # further outline of a feed (configured or not).
    usable = [canonical_url(f.url) for f in feeds if not outline_problem(f)]
    already = len(configured.intersection(usable))
    repeated = len(usable) - len(fresh) - already
    # the existing names are taken, so no [[sources]] entry is ever renamed
    names = source_names(fresh, taken)

    added: list[str] = []
    new_tables: list[tomlkit.items.Table] = []
    for feed, name in zip(fresh, names):
        table = tomlkit.table()
        table.add("name", name)
        table.add("url", feed.url)
        if feed.title:
            table.add("title", feed.title)
        new_tables.append(table)
        added.append(name)
    if not added:
        return OpmlImport([], already, repeated)

    if isinstance(doc.get("sources"), tomlkit.items.AoT) and doc.as_string() != text:
        # tomlkit regroups a [[sources]] array that [[topics]] interrupt, moving tables away
        # from their comments: append the new ones as text, which TOML reads as the same array
        extra = tomlkit.document()
        _append_sources(extra, new_tables, config_path)
        result = text + ("" if text.endswith("\n\n") else "\n") + extra.as_string()
    else:
        _append_sources(doc, new_tables, config_path)
        result = doc.as_string()
    if crlf:
        result = result.replace("\n", "\r\n")
    # the copy is written beside the file a symlink names: its relative paths resolve
    # against the config's own folder, as the config's do
    base_dir = Path(os.path.abspath(config_path)).parent
    try:
        _replace_validated(config_path, bom + result, lambda copy, shown: load_config_as(copy, shown, base_dir))
    except OSError as exc:  # a full disk, a folder the user may not write: the config is as it was
        raise AggregatorError(f"cannot write {config_path}: {exc.strerror or exc}") from exc
    return OpmlImport(added, already, repeated)


def _append_sources(
    doc: tomlkit.TOMLDocument, tables: list[tomlkit.items.Table], config_path: Path
) -> None:
    import tomlkit

    empty = doc.get("sources")
    if isinstance(empty, tomlkit.items.Array) and not len(empty):
        # "sources = []": TOML cannot add [[sources]] tables to an inline array, and an
        # empty one holds nothing to keep but its comment, which heads the new tables
        del doc["sources"]
        if empty.trivia.comment:
            doc.add(tomlkit.nl())
            doc.add(tomlkit.comment(empty.trivia.comment.lstrip("#").strip()))
    if "sources" not in doc:
        aot = tomlkit.aot()
        for table in tables:
            aot.append(table)
        doc.add("sources", aot)
        return
    aot = doc["sources"]
    if not isinstance(aot, tomlkit.items.AoT):
        raise ConfigError(
            [f"{config_path}: sources: is an inline array (sources = [...]), which TOML lets no "
             "[[sources]] table extend; write its entries as [[sources]] tables to import into it"]
        )
    # The comment lines right above the header after the last [[sources]] table (a
    # "# --- topics ---") are, to TOML, that table's end: they go after the new tables,
    # still above the header they head. A comment a blank line ends stays where it is.
    heading: list[tomlkit.items.Item] = []
    body = aot[-1].value.body if len(aot) else []
    while body and body[-1][0] is None and isinstance(body[-1][1], tomlkit.items.Comment):
        heading.insert(0, body.pop()[1])
    if len(aot) and not aot[-1].as_string().endswith("\n\n"):
        aot[-1].add(tomlkit.nl())
    for table in tables:
        # a blank line between tables, like a person writes them (a new array of tables,
        # above, puts its own between them)
        table.add(tomlkit.nl())
        aot.append(table)
    aot[-1].value.body.extend((None, item) for item in heading)


def _replace_validated(
    config_path: Path, text: str, validate: Callable[[Path, str], object]
) -> None:
    """Write beside the config, validate the copy, then rename it over the original."""
    target = Path(os.path.realpath(config_path))  # replace a symlink's target, not the link
    fd, tmp_name = tempfile.mkstemp(prefix=".aggregator-import-", suffix=".toml", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        validate(tmp, str(config_path))
        st = target.stat()
        # The copy is the writer's (root's, as README runs it): a config kept root:aggregator
        # 0640 must stay readable by the service, as sed -i and editors keep it.
        try:
            os.chown(tmp, st.st_uid, st.st_gid)
        except OSError:
            with contextlib.suppress(OSError):  # not root: at least the group, if we are in it
                os.chown(tmp, -1, st.st_gid)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
