"""Entries changed upstream, written in one executemany per table (store.ingest._update_items),
against the same entries written one item at a time by the code before 5bd3d61
(``_update_item_as_before``, kept here as the reference): random
small batches with adversarial times (many equal, 1 µs apart, `now` among them).

Every stored column must be the same except ``updated``, where the two may differ by a
nudge: the batch reads all times first, so a time an item of the batch leaves is still
taken for the others (one at a time, a later entry could have it), and a time wanted
twice goes to the next free microsecond (one at a time, the second resumed above the
highest time stored within a second). There, both must be valid: unique, never behind
the item's time before the batch, and the same items moved.
"""
from __future__ import annotations

import random
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from aggregator.identity import text_key
from aggregator.models import item_sources, item_topics, items, rule_texts, sources
from aggregator.store import IngestJob, SourceSpec, Store, fingerprint
from aggregator.store import ingest as ingest_module
from aggregator.store.ingest import ONE_US, _derived_texts, _indexed_link
from aggregator.types import EntryData

T0 = datetime(2025, 1, 2, 3, 4, 5, 0, tzinfo=timezone.utc)
US = timedelta(microseconds=1)
SOURCES = ("one", "two", "three")


def _scenario(seed: int) -> list[tuple[datetime, list[tuple[str, list[EntryData]]], bool]]:
    """[(now, [(source, entries)], classify afterwards)]."""
    r = random.Random(seed)
    nkeys = r.choice((3, 5, 8))
    span = r.choice((3, 6, 12))  # entry times T0 + 0..span µs
    links = [None, "http://x.test/1", "http://x.test/2", "http://x.test/3"]
    t = lambda n: T0 + n * US  # noqa: E731
    batches = []
    now_us = r.randrange(0, span + 2)
    known: set[tuple[str, str]] = set()
    for _ in range(r.randrange(2, 7)):
        jobs = []
        in_batch: set[str] = set()
        for _ in range(r.choice((1, 1, 2, 3))):
            src = r.choice(SOURCES)
            # A source twice in one batch sends only keys it stored before: a new key
            # twice in one batch fails (item_sources unique), with or without batching.
            keys = [f"k{n}" for n in range(nkeys) if src not in in_batch or (src, f"k{n}") in known]
            if not keys:
                continue
            in_batch.add(src)
            entries = [EntryData(
                key=r.choice(keys),
                title=r.choice((None, "A", "B", "C", "D")),
                link=r.choice(links),
                summary=r.choice((None, "<p>s1</p>", "<p>s2</p>")),
                published=r.choice((None, None, t(0), t(1), t(r.randrange(span + 1)))),
                updated=r.choice((None, t(r.randrange(span + 1)), t(r.randrange(span + 1)),
                                  t(now_us + r.randrange(-2, 3)))),
                author=r.choice((None, "a")),
                truncated=r.random() < 0.2,
            ) for _ in range(r.randrange(1, 7))]
            jobs.append((src, entries))
        known |= {(src, e.key) for src, es in jobs for e in es}
        batches.append((t(now_us), jobs, r.random() < 0.3))
        now_us += r.choice((0, 0, 1, 2, 3, 1000))
    return batches


def _rows(s: Store) -> dict[str, list[tuple[Any, ...]]]:
    with s.reading() as conn:
        return {t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                for t in (items, item_sources, rule_texts, item_topics)}


def _play(s: Store, seed: int) -> tuple[list[Any], list[dict[tuple[int, str], datetime]]]:
    ids = s.sync_topics([("ta", "A"), ("tb", "B")])
    results, times = [], []
    for n, (now, jobs, classify) in enumerate(_scenario(seed)):
        res = s.ingest_batch([IngestJob(src, es) for src, es in jobs], now=now)
        results.append([(x.new, x.updated, x.attached) for x in res])
        _check_link_rows(s, jobs)
        with s.reading() as conn:
            # (by id and uid: an item merged into another leaves its id, which SQLite may give
            # a new item, not the one it was)
            times.append({(i, uid): u for i, uid, u in conn.execute(select(items.c.id, items.c.uid, items.c.updated))})
        if classify:
            s.classify(lambda text, names: tuple(t for t in ("ta", "tb") if t[1] in text), f"h{n % 2}", ids)
    return results, times


def _update_item_as_before(conn: Any, item_id: int, entry: EntryData, now: datetime, keep_times: bool) -> None:
    """Store._update_item as it was before 5bd3d61 (eee1cbb), one entry at a time; with
    ``keep_times`` (an entry that only reads fuller), the item keeps its updated."""
    old = conn.execute(select(items.c.updated).where(items.c.id == item_id)).scalar_one()
    new_updated = entry.updated if entry.updated and entry.updated > old else now
    if new_updated <= old:
        new_updated = old + ONE_US
    title, match_text, dedup = _derived_texts(entry)
    values: dict[str, Any] = dict(
        title=title, link=entry.link, canonical_link=_indexed_link(entry.link),
        text_key=text_key(dedup) if dedup else None, summary=entry.summary, content=entry.content,
        content_type=entry.content_type, author=entry.author, truncated=entry.truncated,
        updated=old if keep_times else ingest_module._free_times(conn, [new_updated])[0], classified=False,
    )
    if entry.published:
        values["published"] = entry.published
    conn.execute(update(items).where(items.c.id == item_id).values(values))
    conn.execute(update(rule_texts).where(rule_texts.c.item_id == item_id).values(text=match_text))


def _check_link_rows(s: Store, jobs: list[tuple[str, list[EntryData]]]) -> None:
    """Each (source, key) sent holds the fingerprint and link of what it sent last (the
    first entry of a key within one job; a later job's over an earlier one's)."""
    sent: dict[tuple[str, str], EntryData] = {}
    for src, es in jobs:
        firsts: dict[str, EntryData] = {}
        for e in es:
            firsts.setdefault(e.key, e)
        sent.update({(src, k): e for k, e in firsts.items()})
    with s.reading() as conn:
        stored = {(name, key): (fp, link) for name, key, fp, link in conn.execute(
            select(sources.c.name, item_sources.c.key, item_sources.c.fingerprint, item_sources.c.link)
            .join(sources, sources.c.id == item_sources.c.source_id))}
    assert {k: stored[k] for k in sent} == {k: (fingerprint(e), e.link) for k, e in sent.items()}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "store.db"
    s = Store.open(f"sqlite:///{path}")
    s.sync_sources([SourceSpec(n, "feed", f"http://{n}.test/feed") for n in SOURCES])
    s.wait_for_checkpoint()
    s.close()
    return path


@pytest.mark.parametrize("seed", range(60))
def test_batched_updates_store_what_one_at_a_time_stores(
    seed: int, template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    got, got_rows = _play_copy(template, tmp_path / "batched.db", seed)

    def singly(conn: Any, changed: list[Any], now: datetime, *, keep_times: bool = False) -> None:
        for item_id, entry in changed:
            _update_item_as_before(conn, item_id, entry, now, keep_times)

    monkeypatch.setattr(ingest_module, "_update_items", singly)
    want, want_rows = _play_copy(template, tmp_path / "single.db", seed)

    assert got[0] == want[0]  # (new, updated, attached) per job
    updated_at = items.c.keys().index("updated")
    drop = lambda rows, i: [r[:i] + r[i + 1:] for r in rows]  # noqa: E731
    assert drop(got_rows["items"], updated_at) == drop(want_rows["items"], updated_at)
    assert got_rows["item_sources"] == want_rows["item_sources"]
    assert got_rows["rule_texts"] == want_rows["rule_texts"]
    assert [r[:2] for r in got_rows["item_topics"]] == [r[:2] for r in want_rows["item_topics"]]
    got_before: dict[tuple[int, str], datetime] = {}
    want_before: dict[tuple[int, str], datetime] = {}
    for got_times, want_times in zip(got[1], want[1]):
        assert len(set(got_times.values())) == len(got_times)
        moved = {i for i, u in got_times.items() if got_before.get(i, u) != u}
        assert moved == {i for i, u in want_times.items() if want_before.get(i, u) != u}  # the same items
        assert all(got_times[i] > got_before[i] for i in moved)  # never back
        got_before, want_before = got_times, want_times


def _play_copy(template: Path, path: Path, seed: int) -> tuple[Any, dict[str, list[tuple[Any, ...]]]]:
    """``_play`` on a fresh copy of the template database; also its final rows."""
    shutil.copy(template, path)
    s = Store.open(f"sqlite:///{path}", run_migrations=False)
    try:
        return _play(s, seed), _rows(s)
    finally:
        s.close()
