"""Deterministic generated data for the benchmark: feeds, stored items, topics, configs.

Nothing is downloaded. Every generator takes a seed so both measured sides, and every
repeated run, see exactly the same bytes.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from aggregator.types import EntryData

# Topic words: 50 real ones plus made-up ones, 1,000 in all, so that each of the 50
# topics owns a slice of its own (as real topics mostly do) and an item, which carries
# a few topic words, lands in one or two topics rather than in most of them.
_REAL_TOPIC_WORDS = (
    "baltic nato sanctions missile drone cable submarine pipeline election cyber ukraine "
    "russia finland sweden norway estonia latvia lithuania poland germany arctic navy army "
    "airspace radar frigate satellite grid energy gas oil shipping port border refugee "
    "summit treaty budget defence exercise brigade artillery tank sabotage espionage "
    "hybrid disinformation hacker ransomware blackout icebreaker corvette fighter patrol"
).split()
_SYLLABLES = "ka to ri men sa vol der ni po lin ar kes tu bra ve gon li mar os zen".split()
TOPIC_SLICE = 20


def _topic_words(total: int = 1000) -> list[str]:
    rng = random.Random(3)
    words = list(_REAL_TOPIC_WORDS)
    seen = set(words)
    while len(words) < total:
        w = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(3, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    rng.shuffle(words)
    return words


_TOPIC_WORDS = _topic_words()
_FILLER = (
    "the a of and to in on for with by from at as is was were said will would could "
    "officials report week year new government minister spokesperson according statement "
    "people city region country plan talks meeting agency press public local national "
    "security policy support increase decision question answer morning evening analysis"
).split()
EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _sentence(rng: random.Random, words: int) -> str:
    out = []
    for _ in range(words):
        pool = _TOPIC_WORDS if rng.random() < 0.03 else _FILLER
        out.append(rng.choice(pool))
    text = " ".join(out)
    return text[0].upper() + text[1:] + "."


def _paragraphs(rng: random.Random, target_chars: int) -> str:
    parts: list[str] = []
    size = 0
    while size < target_chars:
        p = " ".join(_sentence(rng, rng.randint(8, 18)) for _ in range(3))
        parts.append(f"<p>{escape(p)}</p>")
        size += len(parts[-1])
    return "".join(parts)


# -- feeds served by the loopback server ----------------------------------------
def entry_time(feed: int, n: int) -> datetime:
    """Entry n of a feed is one hour newer than entry n-1; feeds are offset by seconds."""
    return EPOCH + timedelta(hours=n, seconds=feed)


def feed_document(base_url: str, feed: int, generation: int = 0, entries: int = 10,
                  entry_chars: int = 850) -> bytes:
    """RSS 2.0 of feed ``feed``: entries generation … generation+entries-1, newest first.

    About 1 KB per entry, so 10 entries make the ~10 KB of the issue. Bumping the
    generation adds one new entry and drops the oldest, as a live feed does.
    """
    items = []
    for n in range(generation + entries - 1, generation - 1, -1):
        rng = random.Random(feed * 1_000_003 + n)
        title = escape(_sentence(rng, rng.randint(5, 10))[:-1])
        body = escape(_paragraphs(rng, entry_chars))
        link = f"{base_url}/post/{feed}/{n}"
        items.append(
            f"<item><title>{title}</title><link>{link}</link>"
            f'<guid isPermaLink="false">bench-{feed}-{n}</guid>'
            f"<pubDate>{format_datetime(entry_time(feed, n), usegmt=True)}</pubDate>"
            f"<description>{body}</description></item>"
        )
    head = (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>Bench feed {feed}</title><link>{base_url}/site/{feed}</link>"
        f"<description>Generated feed {feed} for the benchmark</description>"
    )
    return (head + "".join(items) + "</channel></rss>\n").encode("utf-8")


# -- stored items for the local figures ------------------------------------------
def entry_batches(sources: int, per_source: int, seed: int = 7, *,
                  key_prefix: str = "bench", random_links: bool = False,
                  first_second: int = 0) -> list[tuple[str, list[EntryData]]]:
    """``sources`` batches of ``per_source`` distinct entries (title + ~500 chars of HTML).

    Links are in order within a source (``/post/{source}/{n}``), or with
    ``random_links`` a random path on one of 500 hosts, as real feeds send them: their
    index then takes inserts all over, not at one end. Entry n of source s is dated
    ``first_second + s * per_source + n`` seconds after EPOCH."""
    batches = []
    for s in range(sources):
        rng = random.Random(seed * 7919 + s)
        entries = []
        for n in range(per_source):
            when = EPOCH + timedelta(seconds=first_second + s * per_source + n)
            link = (f"http://site{rng.randrange(500)}.example/{rng.getrandbits(64):016x}" if random_links
                    else f"http://127.0.0.1/post/{s}/{n}")
            entries.append(EntryData(
                key=f"{key_prefix}-{s}-{n}",
                title=_sentence(rng, rng.randint(5, 10))[:-1],
                link=link,
                summary=_paragraphs(rng, 480),
                published=when,
                updated=when,
            ))
        batches.append((source_name(s), entries))
    return batches


def source_name(i: int) -> str:
    return f"f{i:05d}"


# -- topics and configs -------------------------------------------------------------
def topic_phrases(topics: int = 50, seed: int = 11, variant: int = 0) -> list[list[str]]:
    """``topics`` lists of 5–20 phrases: single words, wildcards and two-word phrases.

    ``variant`` adds one more phrase per topic, so its rules differ (a reclassify).
    """
    rng = random.Random(seed)
    out = []
    for t in range(topics):
        own = _TOPIC_WORDS[t * TOPIC_SLICE % len(_TOPIC_WORDS):][:TOPIC_SLICE]
        phrases: list[str] = []
        wanted = rng.randint(5, 20)
        while len(phrases) < wanted:
            kind = rng.random()
            word = rng.choice(own)
            if kind < 0.6:
                p = word
            elif kind < 0.8:
                p = word[: max(4, len(word) - 2)] + "*"
            else:
                p = f"{word} {rng.choice(_FILLER)}"
            if p not in phrases:
                phrases.append(p)
        if variant:
            phrases.append(f"{rng.choice(_TOPIC_WORDS)} {rng.choice(_FILLER)}")
        out.append(phrases)
    return out


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def write_config(path: Path, *, urls: list[str] | None = None, sources: int = 0,
                 topics: int = 0, variant: int = 0, max_entries: int = 50,
                 max_connections: int = 64, max_per_host: int = 64) -> Path:
    """An ``aggregator.toml`` in ``path``'s folder with a fresh SQLite database beside it.

    ``urls`` become feed sources f00000…; without them, ``sources`` placeholder feed
    sources are declared (for the local figures, which never fetch).
    """
    if urls is None:
        urls = [f"http://127.0.0.1:9/unused/{i}.xml" for i in range(sources)]
    lines = [
        "[aggregator]",
        'database = "sqlite:///bench.db"',
        'output_dir = "feeds"',
        'base_url = "http://127.0.0.1:8080"',
        'title = "Bench"',
        f"max_entries = {max_entries}",
        f"max_connections = {max_connections}",
        f"max_per_host = {max_per_host}",
        "",
    ]
    for i, url in enumerate(urls):
        lines += ["[[sources]]", f'name = "{source_name(i)}"', f'url = "{url}"', 'interval = "30m"', ""]
    for t, phrases in enumerate(topic_phrases(topics, variant=variant) if topics else []):
        lines += ["[[topics]]", f'slug = "topic-{t:02d}"', f'title = "Topic {t}"',
                  f"any = {_toml_list(phrases)}", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
