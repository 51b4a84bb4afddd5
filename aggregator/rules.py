"""Topic rules: which topics an item belongs to (DESIGN.md "Topic rules").

Matching is done on ``text.rule_text`` output (HTML stripped, NFC, case-folded).
A ``Classifier`` compiles all phrases of all topics once. Classifying an item then
costs a few C-level passes over its text, whatever the number of phrases:

1. separators become spaces (ASCII ones by ``bytes.translate``, non-ASCII ones such
   as ’ « — by a regex when the text has any), then one regex, a trie of every phrase
   word ("atom": ``cable`` or the prefix ``cable*``) and of the word sequence of each
   longer phrase with no such word, tried only after a space, returns the tokens
   that start with one;
2. a memo maps each such token to the atoms (and sequences) it satisfies.

A one-word phrase is decided by its atom alone; a longer phrase runs its own regex
only when its trigger (a word scanned anyway, else its word sequence) is present
and its other words occur in the text. Topics are
then set logic over the hit phrases: a topic with only ``any`` phrases is an index
lookup, the others are checked only when a hit can make them true.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import NamedTuple

from aggregator.text import WORD_CLASS, normalize

__all__ = ["Classifier", "TopicRule", "compile_phrase", "match_fold", "validate_phrase"]

_WORD_CHAR = f"[{WORD_CLASS}]"
_WORD_RE = re.compile(f"{_WORD_CHAR}+")
_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class TopicRule:
    slug: str
    any: tuple[str, ...] = ()
    all: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # source names; empty = every source


@dataclass(frozen=True)
class _Phrase:
    """A phrase normalized for matching.

    ``key`` identifies it among all phrases (whitespace runs folded to one space);
    ``body`` is the text to match literally (spaces aside), without the wildcard.
    """

    key: str
    body: str
    star: bool

    @property
    def words(self) -> list[str]:
        return _WORD_RE.findall(self.body)

    @property
    def is_single_word(self) -> bool:
        """True when the phrase is one word (optionally starred): decided by atoms alone."""
        return _WORD_RE.fullmatch(self.body) is not None

    @property
    def atoms(self) -> frozenset[str]:
        """Atoms the text must contain for the phrase to match.

        An atom is a whole word (``cable``) or a word prefix (``cable*``). Every word of
        the phrase must be a whole word of the text (boundaries come either from the
        phrase's own non-word characters, matched literally, or from the phrase edges),
        except a starred last word, which need only start a word.
        """
        words = self.words
        atoms = set(words)
        if self.star and words and self.body.endswith(words[-1]):
            atoms.discard(words[-1])
            atoms.add(words[-1] + "*")
            atoms.update(words[:-1])
        return frozenset(atoms)


# Scripts written without spaces between words (Chinese, Japanese, Thai, Lao, Khmer,
# Myanmar), and Korean, whose particles join the word before them ("나토는", NATO + "as
# for"): in them a run of letters is a sentence or a clause, not a word, and a phrase
# matched as whole words ("北约", NATO) would meet nothing. Each of their characters is
# taken as a word of its own, in phrases and texts alike: a phrase of them matches
# wherever its characters stand in a row, and a word in another script beside them
# ("在NATO峰会") is a whole word.
_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1100-\u11ff\u1780-\u17ff\u3005-\u3007\u3040-\u30ff"
    "\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af"
    "\ud7b0-\ud7ff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]"
)


def match_fold(text: str) -> str:
    """What phrases and texts are matched as, beyond ``normalize``: two spellings of one
    thing made one.

    Case folding turns ``İ`` into ``i`` + a combining dot above, which would glue a mark to
    the ``i`` of ``TÜRKİYE`` or ``İSTANBUL`` and keep them from ``Türkiye`` and ``Istanbul``:
    a lower-case ``i`` has its dot already, so the mark goes. The dotless ``ı`` is the
    other half: its capital is ``I``, which folds to ``i``, so ``KIRIM`` (a headline's
    ``Kırım``) would never meet ``Kırım``: it is an ``i`` too. A typographic apostrophe
    (``’``, in most published text) is the one typed (``'``, in most written phrases), so
    ``alliance's chief`` finds ``Alliance’s chief``. So is a typographic hyphen (``‐``, or the
    non-breaking ``‑`` a word processor puts in ``IRIS‑T``) the typed ``-``; dashes are not
    hyphens and stay apart. A full-width letter, digit or sign (``ＮＡＴＯ``, ``２０２４年``, as
    Japanese and Chinese text writes them beside its own) is the ASCII one, a half-width
    katakana (``ｳｸﾗｲﾅ``) the usual one; the letters of ``_ONE_LETTER`` (Ukrainian ``ʼ``,
    Russian ``ё``, Greek tonos and dialytika, Romanian cedillas) their plain spelling. Each character
    of a script written without spaces stands apart (``_UNSPACED``).
    """
    text = _folded(text)
    if _FULL_WIDTH_RE.search(text):
        text = text.translate(_FULL_WIDTH)
    if _HALF_WIDTH_RE.search(text):
        text = _full_kana(text)
    return _apart(text) if _UNSPACED.search(text) else text


def _folded(text: str) -> str:
    """``match_fold`` but for full-width forms and ``_UNSPACED``."""
    if text.isascii():
        return text
    if "\u0307" in text:
        text = text.replace("i\u0307", "i")
    if "\u0131" in text:
        text = text.replace("\u0131", "i")
    if "\u2019" in text:
        text = text.replace("\u2019", "'")
    if "\u2010" in text or "\u2011" in text:
        text = text.replace("\u2010", "-").replace("\u2011", "-")
    for marked, plain in _ONE_LETTER:
        if marked in text:  # a scan that finds nothing costs 0.1 µs a 1.5 KB text
            text = text.replace(marked, plain)
    return text


# Two spellings of one letter, the second the one a phrase is typed with or a headline prints
# (after case folding and NFC; ``match_fold``):
# - the Ukrainian apostrophe U+02BC (``обʼєднання``, a "letter" to Unicode) is the typed ``'``,
#   as ``’`` already is;
# - Russian ``ё`` is ``е``: its dots are optional in Russian spelling and most outlets leave
#   them out (``Петр``, ``еще``), some print them (``Пётр``, ``ещё``);
# - a Greek vowel's tonos and dialytika go: Greek capitals are written without the tonos
#   (``ΟΥΚΡΑΝΙΑ`` is ``Ουκρανία``: ICU's Greek upper-casing drops it too), with a dialytika
#   where the tonos kept two vowels apart (``ΤΣΑΪ``, ``τσάι``); Lucene's Greek lower-case
#   filter folds both alike;
# - Romanian ``ș``/``ț`` are written with a cedilla (``ş``/``ţ``) by fonts and outlets that
#   predate the comma-below letters: the same letters (Turkish ``ş`` folds alike on both sides).
_ONE_LETTER = (
    ("\u02bc", "'"), ("\u0451", "\u0435"), ("\u015f", "\u0219"), ("\u0163", "\u021b"),
    ("\u03ac", "\u03b1"), ("\u03ad", "\u03b5"), ("\u03ae", "\u03b7"), ("\u03af", "\u03b9"),
    ("\u03cc", "\u03bf"), ("\u03cd", "\u03c5"), ("\u03ce", "\u03c9"), ("\u03ca", "\u03b9"),
    ("\u03cb", "\u03c5"), ("\u0390", "\u03b9"), ("\u03b0", "\u03c5"),
)


# The full-width forms of ASCII's letters, digits and signs (U+FF01-U+FF5E), and the ASCII
# ones; in UTF-8 each begins with one of _FULL_WIDTH_LEADS.
_FULL_WIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_FULL_WIDTH_RE = re.compile("[\uff01-\uff5e]")
_FULL_WIDTH_LEADS = (b"\xef\xbc", b"\xef\xbd")
# Half-width katakana and their CJK signs (U+FF61-U+FF9F: ``ｳｸﾗｲﾅ``, ``ｶﾞｽ``), which old
# Japanese systems still emit: the usual (full-width) ones, by NFKC, a run at a time, so that
# a voiced mark joins its kana (``ｶﾞ`` is ``ガ``); NFKC over the whole text would change far
# more (``ﬁ``, ``²``, ``½``). In UTF-8 each begins with _FULL_WIDTH_LEADS[1] or _HALF_WIDTH_LEAD.
_HALF_WIDTH_RE = re.compile("[\uff61-\uff9f]+")
_HALF_WIDTH_LEAD = b"\xef\xbe"


def _full_kana(text: str) -> str:
    return _HALF_WIDTH_RE.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)


# A run of _UNSPACED characters: spaced out at once (a substitution a character cost
# 0.45 ms a 1 KB Chinese text, ten times the rest of its classifying).
_UNSPACED_RUN = re.compile(_UNSPACED.pattern + "+")


def _spaced_run(m: re.Match[str]) -> str:
    return " " + " ".join(m.group()) + " "


def _apart(text: str) -> str:
    return _UNSPACED_RUN.sub(_spaced_run, text)


# The first bytes of the UTF-8 of every _UNSPACED character (and of others: a test before
# _UNSPACED's own, 0.5 µs for a text of 1 KB against 4 µs): 0xE2, General Punctuation's
# (’ — …), is not one of them.
_NOT_UNSPACED_LEADS = bytes(b for b in range(256) if b not in (0xE0, 0xE1, *range(0xE3, 0xEE), 0xEF, 0xF0))


def _parse_phrase(phrase: str) -> _Phrase:
    if not isinstance(phrase, str):
        raise ValueError(f"phrase must be a string, not {type(phrase).__name__}")
    # Soft hyphens are invisible, and item texts have none (``rule_text`` drops them): one
    # copied with a word from a web page ("Bundes\xadwehr") must not keep the phrase from it.
    text = _SPACE_RE.sub(" ", match_fold(normalize(phrase.replace("\xad", ""))).strip())
    if not text:
        raise ValueError("phrase is empty")
    if not text.strip("*"):
        raise ValueError(f"phrase {phrase!r} has no text to match, only '*'")
    if text.endswith(" *") and len(text) > 2 and _UNSPACED.match(text[-3]):
        # "ウクライナ*": its last character is a word already, which any character may
        # follow (_UNSPACED); a star there is no further word.
        text = text[:-2]
    star = text.endswith("*")
    # A detached "*" ("nato *") is an empty last word with any ending: one more word.
    body = text[:-1] if star else text
    return _Phrase(key=text, body=body, star=star)


def _phrase_pattern(p: _Phrase, word_char: str = _WORD_CHAR, literal_first: bool = False) -> str:
    """The phrase as a regex; ``word_char`` is the class its word boundaries test.

    With ``literal_first`` the start-of-word test follows the first chunk as a
    lookbehind (``baltic(?<!\\wbaltic)``) instead of preceding it: the same matches,
    but a pattern that begins with a literal lets the engine jump between occurrences
    of it instead of trying a lookbehind at every position (10x faster searches).
    """
    chunks = [re.escape(chunk) for chunk in p.body.split(" ")]
    # Inner spaces match any whitespace run; everything else (IRIS-T, U.S.) literally.
    body = r"\s+".join(chunks)
    if _WORD_RE.match(p.body[0]):
        if literal_first:
            body = f"{chunks[0]}(?<!{word_char}{chunks[0]})" + body[len(chunks[0]):]
        else:
            body = f"(?<!{word_char}){body}"
    if p.star:
        return f"{body}{word_char}*"
    if _WORD_RE.match(p.body[-1]):
        return f"{body}(?!{word_char})"
    return body


def validate_phrase(phrase: str) -> str:
    """The phrase as it is matched (case-folded, spaces collapsed), or ValueError.

    Cheap: for configuration checks, which need no compiled regex.
    """
    return _parse_phrase(phrase).key


@functools.lru_cache(maxsize=4096)
def compile_phrase(phrase: str) -> re.Pattern[str]:
    """The regex for one phrase, to search in ``match_fold(rule_text(...))``, as
    ``Classifier`` does.

    Raises ValueError for an empty phrase or one made only of ``*``. Compiling costs a few milliseconds (the word class spans every
    combining mark), hence the cache; ``Classifier`` uses a cheaper equivalent.
    """
    return re.compile(_phrase_pattern(_parse_phrase(phrase)))


class _PhraseMatcher:
    """``compile_phrase(...).search`` semantics at a fraction of the compile cost.

    The regex tests boundaries with plain ``\\w`` (0.2 ms to compile instead of 6 ms);
    the rare combining mark next to a candidate match is then checked here.
    """

    __slots__ = ("_regex", "_check_before", "_check_after")

    def __init__(self, p: _Phrase):
        self._regex = re.compile(_phrase_pattern(p, r"\w", literal_first=True))
        self._check_before = _WORD_RE.match(p.body[0]) is not None
        self._check_after = not p.star and _WORD_RE.match(p.body[-1]) is not None

    def search(self, text: str) -> bool:
        pos = 0
        while (m := self._regex.search(text, pos)) is not None:
            start, end = m.span()
            if not (
                (self._check_before and start > 0 and _WORD_RE.match(text, start - 1))
                or (self._check_after and _WORD_RE.match(text, end))
            ):
                return True
            pos = start + 1  # a mark glued the match to a word: look further on
        return False


def _trie_pattern(words: Iterable[str]) -> str:
    """An alternation over ``words`` factored into a trie, so the regex engine tests
    one branch per character instead of one per word. A space in a word matches a
    run of spaces; a word that is a prefix of another makes the rest optional (greedy:
    the longest entry that the text continues with is matched)."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}  # the end of an entry

    def emit(node: dict[str, dict]) -> str:
        branches = [
            (" +" if ch == " " else re.escape(ch)) + emit(child)
            for ch, child in sorted(node.items()) if ch
        ]
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" not in node or not branches:
            return body if branches else ""
        return f"(?:{body})?"

    return emit(trie)


def _minimal_prefixes(prefixes: Iterable[str]) -> list[str]:
    """Drop every prefix that has a shorter prefix in the set: it can add no new words
    to the scan (each found word is then checked against every prefix)."""
    kept: list[str] = []
    for prefix in sorted(set(prefixes)):  # sorted: a prefix precedes its extensions
        if not kept or not prefix.startswith(kept[-1]):
            kept.append(prefix)
    return kept


class _Topic(NamedTuple):
    slug: str
    any: frozenset[str]
    all: frozenset[str]
    none: frozenset[str]
    sources: frozenset[str]


class _Complex(NamedTuple):
    """A phrase that is more than one word, and what must hold before its regex runs."""

    key: str
    needed: frozenset[str]  # scanned atoms of the phrase: all must be hits
    probes: tuple[str, ...]  # its other words: each must occur in the text
    matcher: _PhraseMatcher


# Endless "no topics" default for dict.get when mapped over the hit phrases.
_NO_TOPICS: repeat[frozenset[int]] = repeat(frozenset())


# ASCII bytes that are not word characters become spaces, so that after this
# (C-speed) translation every ASCII word starts right after a space. Bytes >= 0x80
# (UTF-8 sequences) are kept and dealt with on the slow path.
_ASCII_SEPARATORS = bytes(
    b if (chr(b).isalnum() or b == ord("_") or b >= 0x80) else ord(" ") for b in range(256)
)
_WORD_CACHE_LIMIT = 200_000
# Non-ASCII characters that are not word characters (’ « — NBSP, a lone surrogate).
_NON_ASCII_SEPARATORS = re.compile(f"[^\\x00-\\x7f{WORD_CLASS}]+")


class Classifier:
    """Compiled topic rules; ``topics_for`` returns the slugs an item belongs to."""

    def __init__(self, rules: Sequence[TopicRule]):
        phrases: dict[str, _Phrase] = {}
        topics: list[_Topic] = []
        for rule in rules:
            keys: list[frozenset[str]] = []
            for group in (rule.any, rule.all, rule.none):
                parsed = [_parse_phrase(p) for p in group]
                for p in parsed:
                    phrases.setdefault(p.key, p)
                keys.append(frozenset(p.key for p in parsed))
            topics.append(_Topic(rule.slug, keys[0], keys[1], keys[2], frozenset(rule.sources)))
        self._topics = tuple(topics)
        self._slugs = tuple(t.slug for t in topics)

        # A topic with only ``any`` phrases and no source restriction is decided by an
        # index lookup: any hit among them puts the item in. The others are candidates
        # when a hit can make them true, and are then checked one by one; a topic with
        # neither any nor all (a config error, but well defined) is always a candidate.
        self._always = frozenset(i for i, t in enumerate(topics) if not t.any and not t.all)
        direct: dict[str, set[int]] = {}
        checked: dict[str, set[int]] = {}
        for i, t in enumerate(topics):
            if not (t.all or t.none or t.sources):
                for key in t.any:
                    direct.setdefault(key, set()).add(i)
            else:
                for key in t.any | t.all:
                    checked.setdefault(key, set()).add(i)
        self._direct = {k: frozenset(v) for k, v in direct.items()}
        self._checked = {k: frozenset(v) for k, v in checked.items()}

        # Atoms the token scan looks for: those of one-word phrases, plus one trigger per
        # longer phrase: an atom scanned anyway if it has one, else the sequence of its
        # words. Scanning for a single word of it would find a common companion
        # ("according" in "kessagon according") in most items, only to run the regex.
        simple = [p for p in phrases.values() if p.is_single_word]
        multi = [p for p in phrases.values() if not p.is_single_word]
        atoms: set[str] = set().union(*(p.atoms for p in simple))
        triggers: dict[str, str] = {}
        # Sequence triggers, by first word: (key, words); the key starts with a space,
        # which no phrase key does, so a sequence is never taken for a verified phrase.
        self._sequences: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
        for p in multi:
            words = p.words
            if not p.atoms:
                continue
            if not p.atoms.isdisjoint(atoms) or len(words) == 1:
                triggers[p.key] = max(p.atoms, key=lambda a: (a in atoms, len(a), a))
            else:
                triggers[p.key] = " " + " ".join(words)
                sequence = (triggers[p.key], tuple(words))
                if sequence not in self._sequences.get(words[0], ()):
                    self._sequences.setdefault(words[0], []).append(sequence)
        atoms.update(t for t in triggers.values() if not t.startswith(" "))
        # Longer phrases: checked by regex when their trigger and scanned atoms all hit
        # and their other words occur in the text at all. That substring test (C speed)
        # keeps a common trigger ("decision" in "samarder decision") from running the
        # regex on most items.
        self._complex_by_trigger: dict[str, list[_Complex]] = {}
        self._complex_unconditional: list[tuple[str, _PhraseMatcher]] = []
        for p in multi:
            matcher = _PhraseMatcher(p)
            if p.key not in triggers:  # no word at all (e.g. "+++"): nothing to scan for
                self._complex_unconditional.append((p.key, matcher))
                continue
            needed = p.atoms & atoms
            # The words a sequence trigger found are only known to start words there.
            probes = sorted({w for w in p.words if w not in needed}, key=len, reverse=True)
            entry = _Complex(p.key, needed, tuple(probes), matcher)
            self._complex_by_trigger.setdefault(triggers[p.key], []).append(entry)

        self._exact = frozenset(a for a in atoms if not a.endswith("*"))
        self._prefix_atoms = {a[:-1]: a for a in atoms if a.endswith("*")}
        self._prefix_lengths = sorted({len(p) for p in self._prefix_atoms})
        self._word_atoms: dict[str, frozenset[str]] = {}
        self._scan: re.Pattern[str] | None = None
        if atoms or self._sequences:
            # Every token that starts with an atom's word (exact or prefix), or runs of
            # words that start like a sequence, found in one pass that only tries the
            # trie right after a space. A lookahead, so that the words inside a
            # sequence are tried too.
            starts = _minimal_prefixes(a.rstrip("*") for a in atoms)
            sequences = (k[1:] for entries in self._sequences.values() for k, _ in entries)
            self._scan = re.compile(f" (?=((?:{_trie_pattern([*starts, *sequences])})[^ ]*))")

    def _atoms_of(self, token: str) -> frozenset[str]:
        """Atoms satisfied by the first word of ``token``, and sequences its words start
        (memoized: vocabulary is finite)."""
        words = token.split()
        word = words[0]
        atoms = {word} if word in self._exact else set()
        for key, seq in self._sequences.get(word, ()):
            # Loosely: only a prefilter for the phrase's own regex.
            if len(seq) <= len(words) and all(map(str.startswith, words, seq)):
                atoms.add(key)
        for n in self._prefix_lengths:
            if n > len(word):
                break
            atom = self._prefix_atoms.get(word[:n])
            if atom is not None:
                atoms.add(atom)
        found = frozenset(atoms)
        if len(self._word_atoms) >= _WORD_CACHE_LIMIT:
            self._word_atoms.clear()
        self._word_atoms[token] = found
        return found

    def phrase_hits(self, text: str) -> set[str]:
        """Keys of the phrases (and bare atoms) found in ``text`` (``rule_text`` output)."""
        # Stored rule texts are folded here, as they are matched (match_fold).
        text = _folded(text)
        found: list[frozenset[str] | None] = []
        if self._scan is None:
            text = match_fold(text)
        else:
            # surrogatepass: a lone surrogate from a badly decoded feed must not raise.
            raw = text.encode("utf-8", "surrogatepass")
            # Full- and half-width forms all begin with 0xEF in UTF-8: one memchr scan
            # (0.1 µs a 1.5 KB text) before the two-byte ones (2 µs each).
            if not text.isascii() and b"\xef" in raw:
                if _FULL_WIDTH_LEADS[0] in raw or _FULL_WIDTH_LEADS[1] in raw:
                    text = text.translate(_FULL_WIDTH)
                    raw = text.encode("utf-8", "surrogatepass")
                if (_FULL_WIDTH_LEADS[1] in raw or _HALF_WIDTH_LEAD in raw) and _HALF_WIDTH_RE.search(text):
                    text = _full_kana(text)
                    raw = text.encode("utf-8", "surrogatepass")
            if not text.isascii() and raw.translate(None, _NOT_UNSPACED_LEADS) and _UNSPACED.search(text):
                text = _apart(text)
                raw = text.encode("utf-8", "surrogatepass")
            raw = raw.translate(_ASCII_SEPARATORS)
            spaced = " " + raw.decode("utf-8", "surrogatepass")
            if not text.isascii():
                # Non-ASCII separators ("l’europe", "«baltic»", "nordic—baltic") become
                # spaces too: then words are exactly the runs between spaces.
                spaced = _NON_ASCII_SEPARATORS.sub(" ", spaced)
            tokens = set(self._scan.findall(spaced))
            # The memo keeps this in C for words seen before.
            found = list(map(self._word_atoms.get, tokens))
            if None in found:
                found = [self._atoms_of(t) if f is None else f for t, f in zip(tokens, found)]
        hits: set[str] = set().union(*found)  # type: ignore[arg-type]  # no None left
        if hits and self._complex_by_trigger:
            by_trigger = self._complex_by_trigger
            for trigger in by_trigger.keys() & hits:
                for key, needed, probes, matcher in by_trigger[trigger]:
                    if (needed <= hits and all(map(text.__contains__, probes))
                            and matcher.search(text)):
                        hits.add(key)
        for key, matcher in self._complex_unconditional:
            if matcher.search(text):
                hits.add(key)
        return hits

    def topics_for(self, text: str, source_names: Collection[str]) -> tuple[str, ...]:
        """Slugs, in rule order, of the topics whose rules ``text`` satisfies.

        ``text`` is ``rule_text(...)`` of the item. ``source_names`` are all sources the
        item arrived from: a topic restricted to ``sources`` takes it if any is listed.
        """
        hits = self.phrase_hits(text)
        if not hits and not self._always:
            return ()  # most items of a large store match no phrase at all
        # map/union keep the per-hit loops in C: this runs for every stored item.
        accepted = set().union(*map(self._direct.get, hits, _NO_TOPICS))
        candidates = self._always.union(*map(self._checked.get, hits, _NO_TOPICS))
        topics = self._topics
        for i in candidates:
            _, any_, all_, none, sources = topics[i]
            if any_ and any_.isdisjoint(hits):
                continue
            if all_ and not all_.issubset(hits):
                continue
            if none and not none.isdisjoint(hits):
                continue
            if sources and sources.isdisjoint(source_names):
                continue
            accepted.add(i)
        if not accepted:
            return ()
        return tuple(map(self._slugs.__getitem__, sorted(accepted)))
