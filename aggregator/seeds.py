"""Read the bundled seed documents (scraped news pages as plain text) into items.

One parser serves every layout; it finds item boundaries from the text alone, as
DESIGN.md "Seed documents" prescribes:

* marker layout: ``Read More`` lines and paragraphs ending in ``Continue reading``
  close an item made of every paragraph since the previous marker;
* line layout: each non-empty line is an item, except that a question line followed
  by a non-question line forms one item (question = title, answer = content);
* cut-off texts (``...``, ``..``, `` .`` endings, or no final punctuation at the
  scraper's length cap) end in ``…`` and are flagged truncated.

Parsing is pure; ``read_seed_path`` is the only function that touches the disk.
"""

from __future__ import annotations

import codecs
import fnmatch
import hashlib
import re
import os
import stat
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aggregator.errors import SeedError
from aggregator.types import EntryData

TITLE_MAX = 100
ELLIPSIS = "…"

_READ_MORE = "Read More"
_CONTINUE = "Continue reading"
_LINE_BREAK_RE = re.compile(r"\r\n|\r|\n")
_CLOSERS = "\"'”’»)]}"
# The stops of CJK text and their full-width forms end a sentence as ".!?" do.
_FINAL_PUNCTUATION = ".!?…。．！？｡‼⁇⁈⁉‽" + _CLOSERS
# Any closing bracket or quote: 」 』 》 】 ） › as well as ) ] ”, and the quotes that
# open in English and close in German or Danish („so“, »so«).
_CLOSING_CATEGORIES = ("Pe", "Pf", "Pi")
# The scraper's own "the rest was cut" signs; " ." is a cut right after a word.
_CUT_DOTS = ("...", "..", " .")
_CAP_PERCENT = 95
# Trailing characters that read badly right before an appended "…".
_DANGLING = " \t,;:"
# Dots stay: a cut after "U.S." reads better as "U.S.…" than as "U.S…".
_TITLE_DANGLING = _DANGLING + "-–—…"
# A sentence ends at terminal punctuation (plus closing quotes) followed by whitespace.
_SENTENCE_END_RE = re.compile(r"[.!?…]+[" + re.escape(_CLOSERS) + r"]*(?=\s|$)")
# Words whose trailing "." is an abbreviation, not a sentence end, before a capital.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof gen lt col maj capt sgt adm cmdr sen rep gov pres st jr sr vs "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
# Words whose trailing "." is an abbreviation before a number ("No. 10", "Art. 5"); those
# that are words in lower case too ("she said no. 52 MPs…") only when capitalized.
_NUMBER_ABBREVIATIONS = frozenset("no nos art arts vol p pp fig ch".split())
_NUMBER_WORDS = frozenset("no nos art arts".split())
_INITIAL_RE = re.compile(r"[A-Z]\.")
_INITIALISM_RE = re.compile(r"(?:[A-Z]\.)+")
_FOLLOWING_RE = re.compile(r"\s*(\S?)")  # the first character after a run of spaces


@dataclass(frozen=True)
class SeedItem:
    """One item of a seed document."""

    title: str  # the question, or the first sentence (at most TITLE_MAX chars)
    content: str  # the item's text, paragraphs joined by a blank line; Q/A: the answer
    truncated: bool  # the scraper cut the text; content then ends in "…"
    file: str  # the document's file name, e.g. "001_9c457d061644d54f.txt"
    # What its identity hashes: the text as the document has it (a question, then its
    # answer), less the scraper's cut marks. Never the content: whether a text counts as
    # cut at the cap depends on the file's longest text, which a story added elsewhere in
    # the file can change.
    key_text: str


@dataclass(frozen=True)
class _RawItem:
    """An item's boundaries found, before cut-off handling and titling."""

    text: str
    question: str | None = None


# --- splitting a document into raw items ---------------------------------------------


def _lines(text: str) -> list[str]:
    """Trimmed lines; a BOM and any mix of CRLF/CR/LF line endings are tolerated. A BOM
    opening any line goes too: files joined with ``cat`` keep the second one's."""
    return [line.strip().lstrip("\ufeff").lstrip() for line in _LINE_BREAK_RE.split(text)]


def _is_marker_line(line: str) -> bool:
    return line == _READ_MORE


def _ends_with_continue(line: str) -> bool:
    return line.endswith(_CONTINUE)


def _without_continue(line: str) -> str:
    """The paragraph less its "Continue reading" and the ellipsis before it ("… Continue
    reading" loses its ellipsis too; three ASCII dots are the same thing typed). String
    methods, not a regular expression: one with two ``\\s*`` around an optional ellipsis
    took cubic time over a long run of spaces before the marker (4,000 tabs: two minutes)."""
    rest = line.removesuffix(_CONTINUE).rstrip()
    return rest.removesuffix(ELLIPSIS) if rest.endswith(ELLIPSIS) else rest.removesuffix("...")


def _split_marked(lines: list[str]) -> list[_RawItem]:
    """Marker layout: every paragraph since the previous marker forms one item."""
    items: list[_RawItem] = []
    paragraphs: list[str] = []

    def close() -> None:
        if paragraphs:
            items.append(_RawItem("\n\n".join(paragraphs)))
        paragraphs.clear()

    for line in lines:
        if _is_marker_line(line):
            close()
        elif _ends_with_continue(line):
            rest = _without_continue(line).strip()
            if rest:
                paragraphs.append(rest)
            close()
        elif line:
            paragraphs.append(line)
    # Paragraphs after the last marker are an item whose marker the scraper lost.
    close()
    return items


def _split_lines(lines: list[str]) -> list[_RawItem]:
    """Line layout: one item per line, a question and its answer being one item."""
    present = [line for line in lines if line]
    items: list[_RawItem] = []
    i = 0
    while i < len(present):
        line = present[i]
        answer = present[i + 1] if i + 1 < len(present) else None
        if line.endswith("?") and answer is not None and not answer.endswith("?"):
            items.append(_RawItem(answer, question=line))
            i += 2
        else:
            items.append(_RawItem(line))
            i += 1
    return items


def _split(text: str) -> list[_RawItem]:
    lines = _lines(text)
    if any(_is_marker_line(line) or _ends_with_continue(line) for line in lines):
        return _split_marked(lines)
    return _split_lines(lines)


# --- cut-off texts ---------------------------------------------------------------------


def _length(text: str) -> int:
    """A text's length in characters as they read: NFC, so that one saved decomposed
    (an "é" as "e" and an accent) is no longer than the same text composed."""
    return len(unicodedata.normalize("NFC", text))


def _is_at_cap(text: str, longest: int) -> bool:
    """No final punctuation and within 5 % of the file's longest text: the scraper's cap."""
    last = text[-1:]
    final = last in _FINAL_PUNCTUATION or unicodedata.category(last) in _CLOSING_CATEGORIES if last else False
    return not final and 100 * _length(text) >= _CAP_PERCENT * longest


def _finish_cut(text: str, *, at_cap: bool) -> str:
    """Mark a cut-off text: remove the scraper's dots or its partial last word, add "…"."""
    body = text.rstrip(".").rstrip()
    # A spaced ellipsis, ". . .", is dots too. Indices, not slices: a long dot leader
    # (" . . . .") copied the text once per dot.
    end = len(body)
    while body.endswith(" .", 0, end):
        end -= 1
        while end and body[end - 1].isspace():
            end -= 1
    body = body[:end]
    if at_cap:
        head, _, _ = body.rpartition(" ")
        # One giant token has no word boundary to fall back to: keep it whole.
        body = head.rstrip() or body
    return body.rstrip(_DANGLING) + ELLIPSIS


def _cut_marks_dropped(text: str) -> str:
    """``text`` less the scraper's cut signs: the dots and what dangles before them. Its
    last, possibly partial, word stays (whether the text was cut there depends on the
    file's longest text)."""
    return text.rstrip(".").rstrip().rstrip(_DANGLING) if text.endswith(_CUT_DOTS) else text.rstrip(_DANGLING)


def _resolve_cut(text: str, longest: int) -> tuple[str, bool]:
    if text.endswith(_CUT_DOTS):
        return _finish_cut(text, at_cap=False), True
    if _is_at_cap(text, longest):
        return _finish_cut(text, at_cap=True), True
    # Complete, or a short teaser without final punctuation: kept whole.
    return text, False


# --- titles ----------------------------------------------------------------------------


def _is_abbreviation(paragraph: str, end: int, match_text: str) -> bool:
    """Whether the "." ending at ``end`` of a stripped paragraph belongs to an abbreviation
    rather than a sentence. It reads only the word before ``end`` and the spaces after it,
    never a copy of the paragraph's rest: it runs for every "." of a long paragraph."""
    if match_text != ".":
        return False
    after = _FOLLOWING_RE.match(paragraph, end)
    following = after.group(1) if after else ""
    if following.islower():
        return True  # "U.S. officials": a sentence never starts in lower case
    start = end
    while start > 0 and not paragraph[start - 1].isspace():
        start -= 1
    word = paragraph[start:end]
    if following.isdigit() and word[:-1].lower() in _NUMBER_ABBREVIATIONS and word[:-1] not in _NUMBER_WORDS:
        return True  # "No. 10 Downing Street", "NATO's Art. 5 guarantee"
    if _INITIALISM_RE.fullmatch(word) and start == 0:
        return True  # "U.N. Secretary-General Guterres said": no sentence is one initialism
    # A lone initial ("John F. Kennedy") or a title ("Gen. Smith") precedes a name.
    return bool(_INITIAL_RE.fullmatch(word)) or word[:-1].lower() in _ABBREVIATIONS


def first_sentence(text: str) -> str:
    """The first sentence of a text's first paragraph, whitespace collapsed.

    An initialism that really ends a sentence ("... in the U.S. The ...") is taken as its
    end; one followed by a lower-case word is not.
    """
    paragraph = text.strip().split("\n\n", 1)[0]
    first_alnum = next((i for i, ch in enumerate(paragraph) if ch.isalnum()), len(paragraph))
    for match in _SENTENCE_END_RE.finditer(paragraph):
        if match.end() <= first_alnum:
            continue  # a leading "…" is no sentence
        if _is_abbreviation(paragraph, match.end(), match.group()):
            continue
        return " ".join(paragraph[: match.end()].split())
    return " ".join(paragraph.split())


def make_title(text: str) -> str:
    """A title of at most TITLE_MAX characters, cut at a word boundary with a closing "…"."""
    text = " ".join(text.split())
    if len(text) <= TITLE_MAX:
        return text
    room = TITLE_MAX - len(ELLIPSIS)
    head = text[:room]
    if not text[room].isspace():
        boundary = head.rfind(" ")
        if boundary > 0:
            head = head[:boundary]
    # Never empty: a first "word" longer than the room is cut inside the word.
    head = head.rstrip(_TITLE_DANGLING) or text[:room]
    return head + ELLIPSIS


# --- public API ------------------------------------------------------------------------


def parse_seed_text(text: str, file: str = "") -> list[SeedItem]:
    """Split one seed document into items, in document order."""
    raw_items = _split(text)
    if not raw_items:
        return []
    longest = max(_length(raw.text) for raw in raw_items)
    items: list[SeedItem] = []
    for raw in raw_items:
        content, truncated = _resolve_cut(raw.text, longest)
        source = raw.question if raw.question is not None else first_sentence(content)
        key_text = _cut_marks_dropped(raw.text)
        if raw.question is not None:
            key_text = f"{raw.question}\n{key_text}"
        items.append(SeedItem(make_title(source), content, truncated, file, key_text))
    return items


def _is_document(file: Path) -> bool:
    """A file, or a link that cannot be followed: warned of when read, as its stories
    stopped loading (a link whose target is gone, or inside a folder we may not search)."""
    try:
        return file.is_file() or file.is_symlink() and not file.exists()
    except OSError:
        return True


def _seed_files(path: Path) -> list[Path]:
    if path.is_dir():
        # Hidden files are no documents, as the shell's *.txt has it: macOS's "._a.txt"
        # (a copied file's metadata, binary) and editors' hidden copies.
        # iterdir, not glob: glob reads a folder it may not list as an empty one.
        files = (p for p in path.iterdir()
                 if fnmatch.fnmatch(p.name, "*.txt") and not p.name.startswith(".") and _is_document(p))
        return sorted(files, key=lambda p: p.name)
    return [path]


def _cp1252_bytes(error: UnicodeError) -> tuple[str, int]:
    """Decoding error handler: the bytes UTF-8 refused, read as Windows-1252 (which
    raises UnicodeDecodeError for the five bytes it leaves undefined)."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start:error.end].decode("cp1252"), error.end


_CP1252_FALLBACK = "aggregator.seeds.cp1252"
codecs.register_error(_CP1252_FALLBACK, _cp1252_bytes)


class _Unreadable(SeedError):
    """A document that cannot be opened and read, as against one read and found no text."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _read_text(file: Path, max_bytes: int) -> tuple[str, str | None]:
    """The file's text and a warning when it had to be read as Windows-1252; SeedError
    with a message naming the file and its problem (_Unreadable when it cannot be read)."""
    try:
        status = file.stat()
        if not stat.S_ISREG(status.st_mode):  # opening a named pipe waits for a writer
            raise _Unreadable(f"{file}: skipped, not a regular file", "not a regular file")
        size = status.st_size
        if size > max_bytes:
            raise SeedError(f"{file}: skipped, {size} bytes is over the {max_bytes}-byte limit")
        with file.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as e:
        reason = e.strerror or str(e)
        raise _Unreadable(f"{file}: skipped, cannot be read ({reason})", reason) from e
    # The file may have grown between stat and read.
    if len(data) > max_bytes:
        raise SeedError(f"{file}: skipped, over the {max_bytes}-byte limit")
    # UTF-16 with a BOM (Windows Notepad's "Unicode") is text, though it holds NUL bytes;
    # so is UTF-32, whose BOM begins with UTF-16's (tried first).
    if data[:4] in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE):
        encoding = "utf-32"
    elif data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    if encoding == "utf-8-sig" and b"\x00" in data:
        raise SeedError(f"{file}: skipped, binary file (contains NUL bytes)")
    warning = None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        kind = {"utf-16": "UTF-16", "utf-32": "UTF-32"}.get(encoding, "UTF-8")
        problem = f"not {kind} text (bad byte at offset {e.start})"
        if encoding != "utf-8-sig":
            raise SeedError(f"{file}: skipped, {problem}") from e
        try:
            # A page saved by an older Windows tool: Windows-1252 (a superset of Latin-1
            # in its printable range) decodes it, and its identity is that of its text.
            # Only the bytes that are not UTF-8: a line pasted from such a page into a
            # UTF-8 document leaves the rest of it (and its items' keys) as they were.
            text = data.decode(encoding, _CP1252_FALLBACK)
        except UnicodeDecodeError:
            raise SeedError(f"{file}: skipped, {problem}") from e
        warning = f"{file}: {problem}; bytes that are not UTF-8 read as Windows-1252"
    if "\x00" in text:
        raise SeedError(f"{file}: skipped, binary file (contains NUL characters)")
    if not text.strip():
        raise SeedError(f"{file}: skipped, empty file")
    return text, warning


def read_seed_path(path: Path, *, max_bytes: int = 5_000_000) -> tuple[list[SeedItem], list[str]]:
    """Read a seed folder (every ``*.txt``, in name order) or one seed file.

    Returns the items (file-name order, then document order) and one warning per file
    that was skipped or held no items; the other files still load. A missing path, a
    folder that cannot be listed and a single file that cannot be read raise SeedError.
    """
    path = Path(path)
    try:
        try:
            path.stat()
        except (FileNotFoundError, NotADirectoryError):
            if path.is_symlink():  # a link whose target went (a loop of links is an OSError below)
                raise SeedError(f"{path}: seed path is a symbolic link to {os.readlink(path)!r}, "
                                "which does not exist") from None
            raise SeedError(f"{path}: seed path does not exist") from None
        files = _seed_files(path)
    except OSError as e:  # a folder on the way, or this one, that we may not search or list
        raise SeedError(f"{path}: seed path cannot be read ({e.strerror or e})") from e
    warnings: list[str] = []
    if not files:
        warnings.append(f"{path}: no *.txt seed documents in this folder")
    items: list[SeedItem] = []
    for file in files:
        try:
            text, warning = _read_text(file, max_bytes)
        except _Unreadable as e:
            if file is path:
                # The source's one document: nothing of it can load, as from a folder that
                # cannot be listed, so the source fails (a folder's other files still load).
                raise SeedError(f"{path}: seed path cannot be read ({e.reason})") from e
            warnings.append(str(e))
            continue
        except SeedError as e:
            # One bad document never keeps the others from loading.
            warnings.append(str(e))
            continue
        if warning:
            warnings.append(warning)
        found = parse_seed_text(text, file.name)
        if not found:
            warnings.append(f"{file}: no items found (only markers and blank lines)")
        items.extend(found)
    return items, warnings


def _normalized(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def seed_identity(source_name: str, item: SeedItem) -> str:
    """A hex sha256 of the source name and the item's text as the document has it
    (``key_text``: whether it was cut at the cap, and so its content, may change when
    another story of its file does; its identity does not).

    NFC-normalized and whitespace-collapsed, so re-encoding or re-wrapping a file keeps
    the key; position, file name and everything else are deliberately left out.
    """
    # A NUL separator keeps ("ab", "c") and ("a", "bc") apart; "text" keeps these keys
    # apart from the earlier ones (legacy_seed_identity).
    material = "\x00".join((source_name, "text", _normalized(item.key_text)))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def legacy_seed_identity(source_name: str, item: SeedItem) -> str:
    """The key ``item`` had until November 2026: a hash of its title and content as
    processed. A refresh re-keys the stored items that still carry it (``Store.rekey``),
    so an upgrade duplicates none of them."""
    material = "\x00".join((source_name, _normalized(item.title), _normalized(item.content)))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def seed_times(count: int, now: datetime, newest_stored: datetime | None) -> list[datetime]:
    """First-seen times for ``count`` new seed items, newest (the first item) first.

    T = max(now, newest_stored + count seconds); item n gets T - n seconds, so every
    time is distinct and all are newer than anything stored before.
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    for name, value in (("now", now), ("newest_stored", newest_stored)):
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    top = now.astimezone(timezone.utc)
    if newest_stored is not None:
        top = max(top, newest_stored.astimezone(timezone.utc) + timedelta(seconds=count))
    return [top - timedelta(seconds=n) for n in range(count)]


def seed_entries(source_name: str, items: list[SeedItem]) -> list[EntryData]:
    """EntryData for the store: keyed by seed_identity, plain text, no link, no dates.

    Items with identical text in one source share a key; only the first is kept so a
    batch never carries one key twice.
    """
    entries: list[EntryData] = []
    seen: set[str] = set()
    for item in items:
        key = seed_identity(source_name, item)
        if key in seen:
            continue
        seen.add(key)
        entries.append(
            EntryData(
                key=key,
                title=item.title,
                content=item.content,
                content_type="text",
                truncated=item.truncated,
            )
        )
    return entries
