from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, func, inspect, select, text

from aggregator.db import make_engine, migrate
from aggregator.models import item_sources, items, metadata
from aggregator.store import IngestJob, IngestResult, SourceSpec, Store
from aggregator.store.records import state_of
from aggregator.types import EntryData

UTC = timezone.utc
T0 = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def test_migrations_produce_exactly_the_models_schema(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []
    names = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= names
    migrate(engine)  # idempotent


def test_sqlite_pragmas_wal_and_foreign_keys(store: Store) -> None:
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA cache_size")).scalar() == -1024  # KiB: 1 MiB
        assert conn.execute(text("PRAGMA page_size")).scalar() == 4096
        # The store checkpoints behind its commits; a writer does it in place only past
        # 40 MiB of log.
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 10240


def test_a_database_made_with_16_kib_pages_keeps_them_and_the_limits_in_bytes(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("PRAGMA page_size=16384")
    old.execute("PRAGMA journal_mode=WAL")
    old.execute("CREATE TABLE kept (n INTEGER)")
    old.close()
    s = Store.open(f"sqlite:///{path}")
    try:
        s.sync_sources([SourceSpec("one", "feed", "http://one.test/feed")])
        s.ingest("one", [EntryData(key="a", title="A", updated=T0, published=T0)], now=T0)
        with s.engine.connect() as conn:
            assert conn.execute(text("PRAGMA page_size")).scalar() == 16384
            assert conn.execute(text("PRAGMA cache_size")).scalar() == -1024
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 2560  # 40 MiB
        assert s.item_count() == 1
    finally:
        s.close()


def test_aware_utc_round_trip(store: Store) -> None:
    local = T0.astimezone(timezone(timedelta(hours=5)))
    store.ingest("one", [EntryData(key="a", title="A", updated=local, published=local)], now=T0)
    [item] = store.newest_items(None, 10)
    assert item.updated == T0 and item.updated.tzinfo is not None
    assert item.updated.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", [
    T0, T0.replace(microsecond=0), T0.replace(microsecond=6), datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), T0.astimezone(timezone(timedelta(hours=-7))),
])
def test_sqlite_datetime_binding_writes_sqlalchemys_own_text(value: datetime) -> None:
    # Stored times are compared and indexed as text: the fast bind processor must write
    # exactly what SQLAlchemy's SQLite DATETIME would.
    from sqlalchemy import DateTime
    from sqlalchemy.dialects import sqlite

    from aggregator.models import UTCDateTime

    dialect = sqlite.dialect()
    ours = UTCDateTime().bind_processor(dialect)
    theirs = DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours(value) == theirs(value.astimezone(UTC).replace(tzinfo=None))
    assert ours(None) is None
    with pytest.raises(ValueError, match="naive"):
        ours(value.replace(tzinfo=None))


def test_rekey_moves_stored_keys_and_never_over_a_stored_one(store: Store) -> None:
    store.ingest("seeds", [EntryData(key=k, title=f"Story {k}") for k in ("old1", "old2", "new2")], now=T0)
    store.ingest("one", [EntryData(key="old1", title="Elsewhere")], now=T0)
    assert store.rekey("seeds", {"old1": "new1", "old2": "new2", "gone": "x", "same": "same"}) == 1
    # old1 took its new key (only in its own source); old2 stays, its new key being stored.
    again = store.ingest("seeds", [EntryData(key=k, title=f"Story {k}") for k in ("new1", "old2", "new2")],
                         now=T0 + timedelta(hours=1))
    assert (again.new, again.updated) == (0, 1), again  # new1 is "Story old1" retitled
    assert store.ingest("one", [EntryData(key="old1", title="Elsewhere")], now=T0).new == 0
    assert store.rekey("seeds", {"nothing": "stored"}) == 0 and store.rekey("absent", {"a": "b"}) == 0


def test_enclosures_are_stored_replaced_and_removed_with_their_entry(store: Store) -> None:
    from aggregator.types import Enclosure

    mp3, ogg = Enclosure("http://one.test/1.mp3", "audio/mpeg", 2**40), Enclosure("http://one.test/1.ogg")
    store.ingest("one", [EntryData(key="e", title="Ep", enclosures=(mp3, ogg)), EntryData(key="f", title="Plain")],
                 now=T0)
    by_title = {i.title: i for i in store.newest_items(None, 10)}
    assert by_title["Ep"].enclosures == (mp3, ogg) and by_title["Plain"].enclosures == ()
    r = store.ingest("one", [EntryData(key="e", title="Ep", enclosures=(ogg,))], now=T0 + timedelta(hours=1))
    assert r.updated == 1
    assert {i.title: i for i in store.newest_items(None, 10)}["Ep"].enclosures == (ogg,)
    assert store.ingest("one", [EntryData(key="e", title="Ep")], now=T0 + timedelta(hours=2)).updated == 1
    assert {i.title: i for i in store.newest_items(None, 10)}["Ep"].enclosures == ()


def mark_rows_stored_before_0008(store: Store) -> None:
    """What migration 0008 records of a database an earlier release filled."""
    from sqlalchemy import func, select

    from aggregator.models import item_sources

    with store.reading() as conn:
        last = conn.scalar(select(func.max(item_sources.c.id)))
    store.set_meta("fingerprints_whole_after", str(last))


def test_a_file_added_upstream_dates_its_entry_anew_an_author_named_once_does_not(store: Store) -> None:
    # Entries stored since schema 0008 were fingerprinted with their files: a podcast
    # episode that gains its audio changed upstream, and readers should see it. An author
    # that appears (an Atom feed naming one for all its entries) is no news.
    from aggregator.types import Enclosure

    episode = EntryData(key="ep", title="Episode 1", updated=T0)
    post = EntryData(key="post", title="Post", updated=T0 - timedelta(hours=1))
    store.ingest("one", [episode, post], now=T0)
    later = T0 + timedelta(days=1)
    r = store.ingest("one", [replace(episode, enclosures=(Enclosure("http://one.test/1.mp3", "audio/mpeg"),)),
                             replace(post, author="Jo")], now=later)
    assert r.updated == 2
    by_title = {i.title: i for i in store.newest_items(None, 10)}
    assert by_title["Episode 1"].updated == later and len(by_title["Episode 1"].enclosures) == 1
    assert by_title["Post"].updated == T0 - timedelta(hours=1) and by_title["Post"].author == "Jo"


def test_dates_that_alone_move_date_no_item_anew_once_the_link_row_has_an_undated_fingerprint(store: Store) -> None:
    # Schema 0010: a link row keeps what its source sent less the values of its dates. A
    # row stored before has none (NULL): its first such move still dates its item anew,
    # once; from then on, moved dates alone are no news. (A date that appears, goes, or
    # turns implausible is not a move: the earlier rules decide those.)
    entry = EntryData(key="a", title="A story", content="Text.", published=T0, updated=T0)
    store.ingest("one", [entry], now=T0)
    with store.engine.begin() as conn:
        conn.execute(item_sources.update().values(undated_fingerprint=None))  # as schema 0009 left it
    later = T0 + timedelta(days=1)
    moved = [replace(entry, published=T0 + timedelta(hours=h), updated=T0 + timedelta(hours=h)) for h in (1, 2, 3)]
    assert store.ingest("one", [moved[0]], now=later).updated == 1
    [item] = store.newest_items(None, 5)
    assert item.updated == moved[0].updated  # its own new time, as a changed entry takes
    assert store.ingest("one", [moved[1]], now=later + timedelta(days=1)).updated == 0
    assert store.ingest("one", [moved[2]], now=later + timedelta(days=2)).updated == 0
    assert store.newest_items(None, 5) == [item]
    with store.engine.connect() as conn:
        assert conn.execute(select(item_sources.c.undated_fingerprint)).scalar() is not None
    # A change of the text is news, dates moved or not.
    revised = replace(moved[2], content="Text, revised.", published=T0 + timedelta(hours=4), updated=None)
    assert store.ingest("one", [revised], now=later + timedelta(days=4)).updated == 1
    assert store.newest_items(None, 5)[0].updated == later + timedelta(days=4)


def test_a_second_date_that_appears_beside_the_first_dates_no_item_anew(store: Store) -> None:
    # RSS gives an entry its pubDate alone; the same feed as Atom (a CMS's new theme, the
    # same ids) gives <published> and <updated>. Nothing the reader sees changed: the
    # story kept its place, where it went to the top of every feed (an independent
    # review's week of the service: the whole window of a feed that switched).
    rss = EntryData(key="a", title="A story", content="Text.", published=T0)
    store.ingest("one", [rss], now=T0)
    [item] = store.newest_items(None, 5)
    atom = replace(rss, updated=T0 + timedelta(hours=2))  # a later edit time, the text as it was
    store.ingest("one", [atom], now=T0 + timedelta(days=1))
    assert [(i.id, i.updated) for i in store.newest_items(None, 5)] == [(item.id, item.updated)]
    # And the other way round: an updated date alone, a published date that appears.
    only_updated = EntryData(key="b", title="B story", content="Other text.", updated=T0)
    store.ingest("one", [only_updated], now=T0)
    before = {i.id: i.updated for i in store.newest_items(None, 5)}
    store.ingest("one", [replace(only_updated, published=T0 - timedelta(hours=1))], now=T0 + timedelta(days=2))
    assert {i.id: i.updated for i in store.newest_items(None, 5)} == before
    # A change of the text is news still: the entry takes its own new time.
    store.ingest("one", [replace(atom, content="Text, revised.")], now=T0 + timedelta(days=3))
    assert {i.id: i.updated for i in store.newest_items(None, 5)}[item.id] == atom.updated


def test_a_feed_switched_to_atom_whose_description_becomes_content_dates_no_item_anew(store: Store) -> None:
    # A blog's RSS item has its HTML in <description> alone (parsed as the summary); the same
    # feed as Atom (Blogger, a new theme) has it in <content> with <updated> beside
    # <published>. The published entry reads the same (its content), yet the item took
    # the Atom <updated> as its new time: a real run lifted 10:00 to 12:00, and a feed
    # whose <updated> is recent lifts its whole window.
    rss = EntryData(key="a", title="A story", summary="<p>Text of the story.</p>", published=T0)
    store.ingest("one", [rss], now=T0)
    [item] = store.newest_items(None, 5)
    atom = EntryData(key="a", title="A story", content="<p>Text of the story.</p>", published=T0,
                     updated=T0 + timedelta(hours=2))
    store.ingest("one", [atom], now=T0 + timedelta(days=1))
    assert [(i.id, i.updated, i.content) for i in store.newest_items(None, 5)] == [
        (item.id, item.updated, "<p>Text of the story.</p>")]
    # Then as Atom again, the next day: nothing new. A changed text is still news.
    assert store.ingest("one", [atom], now=T0 + timedelta(days=2)).updated == 0
    store.ingest("one", [replace(atom, content="<p>Text of the story, corrected.</p>")], now=T0 + timedelta(days=3))
    assert store.newest_items(None, 5)[0].updated > item.updated


def test_html_written_anew_the_same_dates_no_item_anew_and_a_changed_link_in_it_does(store: Store) -> None:
    # A CMS update writes every post anew: a newline between paragraphs, a link's
    # attributes in another order. The reader's story is as it was: it keeps its time (and
    # takes the new markup). A link in it that changed, or a no-break space, is news.
    from aggregator.pipeline import _resanitize
    from aggregator.store import IngestJob

    def ingest(content: str, day: int) -> None:
        entry = EntryData(key="a", title="A story", content=content, content_type="html", published=T0)
        store.ingest_batch([IngestJob("one", [entry], resanitize=_resanitize)], now=T0 + timedelta(days=day))

    ingest('<p>A story.</p><p>More <a href="http://x.org/" title="t">here</a>.</p>', 0)
    [item] = store.newest_items(None, 5)
    anew = '<p>A story.</p>\n<p>More <a title="t" href="http://x.org/">here</a>.</p>'
    ingest(anew, 1)
    [now] = store.newest_items(None, 5)
    assert (now.id, now.updated, now.content) == (item.id, item.updated, anew)
    ingest(anew.replace("x.org", "y.org"), 2)
    assert store.newest_items(None, 5)[0].updated == T0 + timedelta(days=2)
    ingest(anew.replace("x.org", "y.org").replace("A story", "A\xa0story"), 3)
    assert store.newest_items(None, 5)[0].updated == T0 + timedelta(days=3)


def test_a_paragraph_struck_through_dates_the_item_anew(store: Store) -> None:
    # Same text, same tags, one end tag moved: the claim is now struck through (beside an
    # empty <s> an editor left). Re-parsed by libxml2 both read the same; a reader shows it.
    from aggregator.pipeline import _resanitize
    from aggregator.store import IngestJob

    def ingest(content: str, day: int) -> None:
        entry = EntryData(key="a", title="A story", content=content, content_type="html", published=T0)
        store.ingest_batch([IngestJob("one", [entry], resanitize=_resanitize)], now=T0 + timedelta(days=day))

    ingest("<s></s><p>The minister resigned.</p><p>More.</p>", 0)
    ingest("<s><p>The minister resigned.</p></s><p>More.</p>", 1)
    [item] = store.newest_items(None, 5)
    assert item.updated == T0 + timedelta(days=1)
    assert "<s><p>The minister resigned.</p></s>" in (item.content or "")


def test_a_changed_entry_hashes_its_text_a_few_times_not_once_per_reread_zone(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # A changed entry is checked against the fingerprints it had when only how it is read
    # changed: one per author, date and zone offset a release may have misread (42 with
    # pipeline's shifts). Each hashed its whole content again: 0.6 ms for a 20 kB post,
    # every refresh of a feed whose entries change. They differ in their dates only.
    import hashlib
    from types import SimpleNamespace

    from aggregator.pipeline import _REREAD_SHIFTS
    from aggregator.store import IngestJob
    from aggregator.store import ingest as ingest_module
    from aggregator.store import keys as keys_module

    hashed: list[int] = []

    class Counting:
        def __init__(self, h: Any) -> None:
            self.h = h

        def update(self, data: bytes) -> None:
            hashed.append(len(data))
            self.h.update(data)

        def copy(self) -> Counting:
            return Counting(self.h.copy())

        def hexdigest(self) -> str:
            return str(self.h.hexdigest())

    def sha256(data: bytes = b"") -> Counting:
        hashed.append(len(data))
        return Counting(hashlib.sha256(data))

    body = "<p>" + "word " * 200_000 + "</p>"
    post = EntryData(key="post", title="Post", content=body, content_type="html", author="Jo", published=T0, updated=T0)
    store.ingest("one", [post], now=T0)
    monkeypatch.setattr(ingest_module, "hashlib", SimpleNamespace(sha256=sha256))
    monkeypatch.setattr(keys_module, "hashlib", SimpleNamespace(sha256=sha256))  # fingerprints
    edited = replace(post, content=body + "<p>Corrected.</p>")
    [r] = store.ingest_batch([IngestJob("one", [edited], reread_shifts=_REREAD_SHIFTS)], now=T0 + timedelta(hours=1))
    assert r.updated == 1
    assert {i.title: i for i in store.newest_items(None, 10)}["Post"].updated == T0 + timedelta(hours=1)
    # Once for its fingerprints, once per way it may have been read (with and without its
    # author, its text as summary or as content): not once per zone.
    assert sum(hashed) < 6 * len(body)


def test_entries_changed_at_once_keep_their_feeds_order(store: Store) -> None:
    # A CMS that edits every post at once (a new footer) without new dates: each changed
    # entry is dated now, nudged apart. New entries seen at once keep their feed's order
    # (its first, its newest, on top); changed ones were nudged the other way round, the
    # feed's oldest on top.
    posts = [EntryData(key=f"p{n}", title=f"Post {n}", content=f"<p>Body {n}.</p>", content_type="html",
                       updated=T0 - timedelta(days=n)) for n in range(3)]
    store.ingest("one", posts, now=T0)
    later = T0 + timedelta(days=1)
    r = store.ingest("one", [replace(p, content=p.content + "<p>Subscribe!</p>") for p in posts], now=later)
    assert r.updated == 3
    newest = store.newest_items(None, 10)
    assert [i.title for i in newest] == ["Post 0", "Post 1", "Post 2"]
    assert all(later <= i.updated < later + timedelta(seconds=1) for i in newest)


def test_a_changed_entry_is_cleaned_again_once_with_its_stored_content(store: Store) -> None:
    # A changed entry's stored content is cleaned again, and the content sent too, to tell
    # a change upstream from one in how HTML is cleaned: two runs of the cleaner, its most
    # costly step (a millisecond for 25 kB). The sent one was cleaned twice over.
    from aggregator.pipeline import _resanitize
    from aggregator.store import IngestJob

    cleaned: list[str] = []

    def counting(html: str) -> str:
        cleaned.append(html)
        return _resanitize(html)

    post = EntryData(key="post", title="Post", content="<p>First <b>take</b>.</p>", content_type="html", updated=T0)
    store.ingest("one", [post], now=T0)
    edited = replace(post, content="<p>Second <b>take</b>.</p>")
    [r] = store.ingest_batch([IngestJob("one", [edited], resanitize=counting)], now=T0 + timedelta(hours=1))
    assert r.updated == 1
    assert {i.title: i for i in store.newest_items(None, 10)}["Post"].updated == T0 + timedelta(hours=1)
    assert sorted(cleaned) == sorted([post.content, edited.content])


def test_fingerprints_of_other_dates_are_the_fingerprints_of_the_entry_so_dated() -> None:
    from aggregator.store.ingest import _fingerprints_dated, fingerprint
    from aggregator.types import Enclosure

    berlin = timezone(timedelta(hours=2))
    dates = [(T0, T0), (None, None), (T0, None), (None, T0 + timedelta(microseconds=7)),
             (T0.astimezone(berlin), T0 + timedelta(days=2)), (T0 + timedelta(days=3), T0 - timedelta(days=1))]
    for entry in (EntryData(key="a", title="A", link="http://one.test/a?utm_source=x&b=1", summary="s",
                            content="<p>c</p>", author="Jo", truncated=True,
                            enclosures=(Enclosure("http://one.test/1.mp3", "audio/mpeg", 3),)),
                  EntryData(key="b", title=None, content_type=None)):
        for clamped_at in (None, T0 + timedelta(days=1)):
            for tracked in (False, True):
                want = [fingerprint(replace(entry, published=p, updated=u), clamped_at, tracked=tracked) for p, u in dates]
                assert _fingerprints_dated(entry, dates, clamped_at, tracked) == want


def migrated_again(url: str, down: str, up: str) -> Store:
    """The store at ``url``, its schema taken down to revision ``down`` and up to ``up``
    again: a database of the earlier release, upgraded."""
    from alembic import command

    from aggregator.db import alembic_config

    engine = make_engine(url)
    with engine.connect() as conn:
        command.downgrade(alembic_config(conn), down)
        command.upgrade(alembic_config(conn), up)
        conn.commit()
    engine.dispose()
    return Store.open(url)


def test_0008_marks_where_the_wholly_fingerprinted_link_rows_begin(tmp_path: Path) -> None:
    from alembic import command

    from aggregator.db import alembic_config

    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store.open(url)
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/feed")])
    store.ingest("one", [EntryData(key=k, title=k) for k in ("a", "b", "c")], now=T0)
    assert store.get_meta("fingerprints_whole_after") is None  # created fresh: every row is whole
    store.close()
    engine = make_engine(url)
    with engine.connect() as conn:
        command.downgrade(alembic_config(conn), "0007")
        conn.commit()
        command.upgrade(alembic_config(conn), "0008")
        conn.commit()
        last = conn.scalar(text("SELECT MAX(id) FROM item_sources"))
        assert conn.scalar(text("SELECT value FROM meta WHERE key = 'fingerprints_whole_after'")) == str(last)
        command.downgrade(alembic_config(conn), "0007")
        conn.commit()
        assert conn.scalar(text("SELECT COUNT(*) FROM meta WHERE key = 'fingerprints_whole_after'")) == 0
    engine.dispose()


@pytest.mark.xfail(strict=True, reason="needs a migration: a database stamped 0008 by the release that shipped "
                   "0008 without its marker (f9341c1) cannot be told from one created fresh, which has none")
def test_a_database_that_took_0008_before_it_marked_the_rows_keeps_its_entries_times(tmp_path: Path) -> None:
    # 0008 shipped as an index alone (f9341c1); the marker of the link rows fingerprinted
    # before files were read came in a later commit, under the same revision. A database
    # upgraded in between is at 0008 with no marker, read as "every row is whole": the first
    # parse after the upgrade (0009 has every feed parsed again) took each file an earlier
    # release never read for news, and dated every episode of a podcast anew, on top of
    # every feed and in reverse of its order.
    from alembic import command

    from aggregator.db import alembic_config
    from aggregator.types import Enclosure

    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store.open(url)
    store.sync_sources([SourceSpec("pod", "feed", "http://pod.test/feed")])
    episode = EntryData(key="ep1", title="Episode 1", link="http://pod.test/1", content="Notes.",
                        published=T0, updated=T0)
    store.ingest("pod", [episode], now=T0)  # read as releases before 0007 read it: no files
    store.close()
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        command.downgrade(alembic_config(conn), "0007")
        conn.commit()
        command.upgrade(alembic_config(conn), "0008")
        conn.execute(text("DELETE FROM meta WHERE key = 'fingerprints_whole_after'"))  # 0008 as f9341c1 shipped it
        conn.commit()
    engine.dispose()
    store = Store.open(url)
    audio = replace(episode, enclosures=(Enclosure("http://pod.test/1.mp3", "audio/mpeg", 1000),))
    store.ingest("pod", [audio], now=T0 + timedelta(days=30))
    [item] = store.newest_items(None, 5)
    assert item.updated == T0
    store.close()


def test_0008_derives_again_the_rule_texts_of_titles_with_markup(tmp_path: Path) -> None:
    # Stored before a title was plain text to the rules, "Why <Baltic> matters" had lost
    # "Baltic" as a tag, and a reclassify reads the stored text: the item never joined.
    from sqlalchemy import update

    from aggregator.models import rule_texts
    from aggregator.rules import Classifier, TopicRule

    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store.open(url)
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/feed")])
    store.ingest("one", [EntryData(key="a", title="Why <Baltic> matters", content="<p>Cables.</p>"),
                         EntryData(key="b", title="Plain &amp; simple", content="<p>Baltic cables.</p>")], now=T0)
    with store.writing() as conn:  # as the earlier release stored it
        conn.execute(update(rule_texts).where(rule_texts.c.item_id == 1).values(text="why  matters\ncables."))
    store.close()
    store = migrated_again(url, "0007", "0008")
    try:
        rules = [TopicRule("baltic", any=("Baltic",))]
        store.classify(Classifier(rules).topics_for, "rules-1", store.sync_topics([("baltic", "Baltic")]))
        assert sorted(i.title for i in store.newest_items("baltic", 10)) == ["Plain &amp; simple",
                                                                              "Why <Baltic> matters"]
    finally:
        store.close()


def test_0009_gives_items_dated_before_1990_the_time_they_were_first_seen(tmp_path: Path) -> None:
    check_0009_gives_items_dated_before_1990_the_time_they_were_first_seen(f"sqlite:///{tmp_path / 'store.db'}")


def test_0009_titles_blank_titles_and_detaches_stories_joined_by_a_front_page(tmp_path: Path) -> None:
    check_0009_titles_blank_titles_and_detaches_stories_joined_by_a_front_page(f"sqlite:///{tmp_path / 'store.db'}")


TEXT_A = "<p>The alliance agreed on a new air policing rotation over the Baltic states today.</p>"
TEASER = "<p>Spanish jets take over the alliance's air policing over the Baltic states next week.</p>"


def _three_outlets(store: Store) -> None:
    store.sync_sources([SourceSpec(n, "feed", f"http://{n}.test/feed") for n in ("a", "b", "c", "d")])


def test_a_further_sources_copy_is_found_by_its_own_link_and_text(store: Store) -> None:
    # a and b carry one story (one text, each its own link); c then links b's copy, with
    # its campaign and a teaser of its own: the same story, by b's link.
    _three_outlets(store)
    store.ingest("a", [EntryData(key="1", title="Air policing", content=TEXT_A, link="https://a.example/air")], now=T0)
    assert store.ingest("b", [EntryData(key="1", title="Air policing", content=TEXT_A,
                                        link="https://b.example/air")], now=T0).attached == 1
    teaser = EntryData(key="1", title="Air policing: what it means",
                       content="<p>What the new rotation means for the three Baltic states.</p>",
                       link="https://b.example/air?utm_source=c")
    assert store.ingest("c", [teaser], now=T0).attached == 1
    # and d quotes c's teaser under a link of its own: by c's text
    assert store.ingest("d", [replace(teaser, link="https://d.example/x")], now=T0).attached == 1
    assert store.item_count() == 1


def test_a_further_sources_copy_is_found_by_its_link_in_the_same_batch(store: Store) -> None:
    from aggregator.store import IngestJob

    _three_outlets(store)
    results = store.ingest_batch([
        IngestJob("a", [EntryData(key="1", title="Air policing", content=TEXT_A, link="https://a.example/air")]),
        IngestJob("b", [EntryData(key="1", title="Air policing", content=TEXT_A, link="https://b.example/air")]),
        IngestJob("c", [EntryData(key="1", title="Teaser", content="<p>Teaser.</p>",
                                  link="https://b.example/air?utm_source=c")]),
    ], now=T0)
    assert [(r.new, r.attached) for r in results] == [(1, 0), (0, 1), (0, 1)]
    assert store.item_count() == 1


def test_a_story_is_found_by_its_text_and_link_from_before_its_origin_edited_them(store: Store) -> None:
    _three_outlets(store)
    first = EntryData(key="1", title="Air policing", content=TEXT_A, link="https://a.example/air-policing")
    store.ingest("a", [first], now=T0)
    edited = replace(first, content=TEXT_A.replace("today", "on Monday"), link="https://a.example/air-policing-2")
    assert store.ingest("a", [edited], now=T0 + timedelta(hours=1)).updated == 1
    # a wire copy of the first text, and an aggregator's link to the first address
    assert store.ingest("b", [replace(first, link="https://b.example/air")], now=T0).attached == 1
    assert store.ingest("c", [EntryData(key="1", title="Teaser", content="<p>Teaser.</p>",
                                        link="https://a.example/air-policing?utm_medium=rss")], now=T0).attached == 1
    assert store.item_count() == 1
    # A further source's copy that names no story by its link (a site's front page) lends
    # the story no link.
    store.ingest("d", [EntryData(key="1", title="Air policing", content=TEXT_A, link="https://d.example/")], now=T0)
    with store.reading() as conn:
        assert conn.scalar(text("SELECT COUNT(*) FROM item_alias_links WHERE link LIKE 'https://d.example%'")) == 0


def test_a_further_sources_copy_is_found_by_its_link_and_text_after_its_outlet_edited_it(store: Store) -> None:
    # b's copy of a's story moves to the address its edited headline makes, its text
    # edited too: c's link to b's new address, and d's wire copy of b's edited text, are
    # still the story (as they are of a copy stored as it reads now).
    _three_outlets(store)
    store.ingest("a", [EntryData(key="1", title="Air policing", content=TEXT_A, link="https://a.example/air")], now=T0)
    copy = EntryData(key="1", title="Air policing", content=TEXT_A, link="https://b.example/air-policing")
    assert store.ingest("b", [copy], now=T0).attached == 1
    edited = replace(copy, title="Air policing: Spain takes over", content=TEXT_A.replace("today", "this morning"),
                     link="https://b.example/spain-takes-over-air-policing")
    assert store.ingest("b", [edited], now=T0 + timedelta(hours=1)).updated == 1
    assert store.ingest("c", [EntryData(key="1", title="Teaser", content="<p>Teaser.</p>",
                                        link="https://b.example/spain-takes-over-air-policing?utm_source=c")],
                        now=T0 + timedelta(hours=2)).attached == 1
    assert store.ingest("d", [replace(edited, link="https://d.example/x")], now=T0 + timedelta(hours=2)).attached == 1
    assert store.item_count() == 1


def test_a_copy_linked_before_its_outlet_carried_the_story_is_the_same_story(store: Store) -> None:
    # c links b's page before b carries the story (a story of its own: nothing tells it
    # is a's); b's copy then has a's text and c's link: the two stored items are one
    # story, the older (a's) with c and b as further sources, known by all their links.
    _three_outlets(store)
    store.ingest("a", [EntryData(key="1", title="Air policing", content=TEXT_A, link="https://a.example/air")], now=T0)
    store.ingest("c", [EntryData(key="1", title="Teaser", content=TEASER,
                                 link="https://b.example/air?utm_source=c")], now=T0 + timedelta(minutes=1))
    assert store.item_count() == 2
    assert store.ingest("b", [EntryData(key="1", title="Air policing", content=TEXT_A, link="https://b.example/air")],
                        now=T0 + timedelta(minutes=2)).attached == 1
    assert store.item_count() == 1
    [item] = store.newest_items(None, 5)
    assert (item.title, item.link, item.updated) == ("Air policing", "https://a.example/air", T0)
    with store.reading() as conn:
        assert sorted(conn.execute(text(
            "SELECT s.name FROM item_sources l JOIN sources s ON s.id = l.source_id")).scalars()) == ["a", "b", "c"]
        assert conn.scalar(text("SELECT COUNT(DISTINCT item_id) FROM item_sources")) == 1
        for table in ("rule_texts", "item_alias_links", "item_alias_texts"):
            assert conn.scalar(text(f"SELECT COUNT(*) FROM {table} WHERE item_id NOT IN (SELECT id FROM items)")) == 0
    # Each source's entry is still found as its own: an edit of c's teaser updates the story.
    assert store.ingest("c", [EntryData(key="1", title="Teaser", content=TEASER.replace("jets", "fighter jets"),
                                        link="https://b.example/air?utm_source=c")],
                        now=T0 + timedelta(minutes=3)).new == 0
    # And a fourth outlet's wire copy of the teaser's text, or a link to c's own, is the story too.
    assert store.ingest("d", [EntryData(key="1", title="Teaser", content=TEASER,
                                        link="https://d.example/teaser")], now=T0 + timedelta(minutes=4)).attached == 1
    assert store.item_count() == 1


_A = EntryData(key="1", title="Air policing", content=TEXT_A, link="https://a.example/air")
_C = EntryData(key="1", title="Teaser", content=TEASER, link="https://b.example/air?utm_source=c")
_B = EntryData(key="1", title="Air policing", content=TEXT_A, link="https://b.example/air")


@pytest.mark.parametrize("rounds", [
    "acb", "a|cb", "ac|b", "c|ab", "ca|b", "cab", "c|a|b", "a|c|b", "bac", "b|ca", "ab|c", "cba",
], ids=lambda r: r.replace("|", "_then_"))
def test_a_copy_linked_before_its_outlet_carried_the_story_is_one_story_whatever_the_batches(
        store: Store, rounds: str) -> None:
    # a's story, c's teaser linking b's page, b's copy of a's text: one story however the
    # three arrive, in one batch, in two or in three (refreshes of their own), every
    # source's entry on it, none lost.
    _three_outlets(store)
    entries = {"a": _A, "b": _B, "c": _C}
    t = T0
    for batch in rounds.split("|"):
        t += timedelta(minutes=1)
        results = store.ingest_batch([IngestJob(name, [entries[name]]) for name in batch], now=t)
        assert sum(r.new + r.attached for r in results) == len(batch)
    assert store.item_count() == 1
    with store.reading() as conn:
        assert sorted(conn.execute(text(
            "SELECT s.name FROM item_sources l JOIN sources s ON s.id = l.source_id")).scalars()) == ["a", "b", "c"]
        assert conn.scalar(text("SELECT COUNT(*) FROM item_alias_links WHERE item_id NOT IN (SELECT id FROM items)")) == 0
        assert conn.scalar(text("SELECT COUNT(*) FROM item_alias_texts WHERE item_id NOT IN (SELECT id FROM items)")) == 0
    # Every copy is found again as its own: nothing new at the next refresh of all three.
    results = store.ingest_batch([IngestJob(name, [entries[name]]) for name in "abc"], now=t + timedelta(hours=1))
    assert [(r.new, r.updated) for r in results] == [(0, 0)] * 3
    # A fourth outlet's wire copy of the teaser, or of a's text, is the story.
    store.ingest("d", [replace(_C, link="https://d.example/teaser")], now=t + timedelta(hours=2))
    store.sync_sources([SourceSpec(n, "feed", f"http://{n}.test/feed") for n in "abcde"])
    store.ingest("e", [replace(_A, link="https://e.example/air")], now=t + timedelta(hours=2))
    assert store.item_count() == 1


def test_two_stories_one_source_carries_both_of_are_not_merged(store: Store) -> None:
    # c carries both stored stories (its own teaser linking b, and a copy of a's text): b's
    # entry with a's text and the teaser's link cannot make them one, since one source's
    # two entries are two items.
    _three_outlets(store)
    store.ingest("a", [EntryData(key="1", title="Air policing", content=TEXT_A, link="https://a.example/air")], now=T0)
    store.ingest("c", [EntryData(key="1", title="Teaser", content="<p>Teaser.</p>", link="https://b.example/air"),
                       EntryData(key="2", title="Air policing", content=TEXT_A, link="https://c.example/air")], now=T0)
    assert store.item_count() == 2
    store.ingest("b", [EntryData(key="1", title="Air policing", content=TEXT_A, link="https://b.example/air")], now=T0)
    assert store.item_count() == 2


def test_a_merge_takes_the_newer_storys_topics_away_and_reclassifies_the_older(store: Store) -> None:
    _three_outlets(store)
    store.ingest("a", [EntryData(key="1", title="Air policing", content=TEXT_A, link="https://a.example/air")], now=T0)
    store.ingest("c", [EntryData(key="1", title="Teaser", content="<p>Baltic teaser.</p>",
                                 link="https://b.example/air")], now=T0 + timedelta(minutes=1))
    from aggregator.rules import Classifier, TopicRule

    decide = Classifier([TopicRule("baltic", any=("teaser",))]).topics_for
    topic_ids = store.sync_topics([("baltic", "Baltic")])
    store.classify(decide, "rules-1", topic_ids)
    assert [i.title for i in store.newest_items("baltic", 5)] == ["Teaser"]
    store.ingest("b", [EntryData(key="1", title="Air policing", content=TEXT_A, link="https://b.example/air")],
                 now=T0 + timedelta(minutes=2))
    store.classify(decide, "rules-1", topic_ids)
    assert [i.title for i in store.newest_items("baltic", 5)] == []  # the story reads as a's
    assert store.item_count() == 1



@pytest.mark.parametrize("wire_first", [False, True])
def test_a_live_page_its_outlet_links_several_entries_to_names_no_story_to_merge(
        store: Store, wire_first: bool) -> None:
    # c's own story links b's live page; b's feed then sends two updates of that page, one
    # a wire copy of a's story. The page names no one story (two entries of b link it):
    # the wire copy is a's story by its text, and c's story stays its own (it was merged
    # into a's and left c's feeds).
    _three_outlets(store)
    store.ingest("a", [_A], now=T0)
    election = EntryData(key="1", title="Election night", link="https://b.example/live",
                         content="<p>Our own coverage: polls close at eight, and results follow all night.</p>")
    store.ingest("c", [election], now=T0 + timedelta(minutes=1))
    live = [EntryData(key="live-2", title="Polls closed", link="https://b.example/live",
                      content="<p>Polls have closed in all districts; the first results are expected soon.</p>"),
            EntryData(key="live-1", title="Air policing", content=TEXT_A, link="https://b.example/live")]
    if wire_first:
        live.reverse()
    assert store.ingest("b", live, now=T0 + timedelta(minutes=2)) == IngestResult(new=1, attached=1)
    assert sorted(i.title for i in store.newest_items(None, 5)) == ["Air policing", "Election night", "Polls closed"]


_NEWSLETTER = "<p>Sign up to receive our daily newsletter with the top stories in your inbox every morning.</p>"
_HARBOUR = EntryData(key="1", title="Harbour reopens", link="https://x.example/harbour",
                     content="<p>The harbour reopens after the winter storms damaged its piers.</p>")


def test_a_text_several_stored_stories_share_merges_no_story_into_them(store: Store) -> None:
    # p sends its newsletter boilerplate each day (two stories of one text); q's entry links
    # x's story with that boilerplate as its only text. The text names no one story: q's
    # copy is x's story by its link, and x's story stays (it was merged into Monday's
    # newsletter and left every feed).
    store.sync_sources([SourceSpec(n, "feed", f"http://{n}.test/feed") for n in "pqx"])
    store.ingest("p", [EntryData(key=day, title="Newsletter", content=_NEWSLETTER,
                                 link=f"https://p.example/newsletter/{day}") for day in ("mon", "tue")], now=T0)
    store.ingest("x", [_HARBOUR], now=T0 + timedelta(minutes=1))
    copy = EntryData(key="1", title="Newsletter", content=_NEWSLETTER, link="https://x.example/harbour?utm_source=q")
    assert store.ingest("q", [copy], now=T0 + timedelta(minutes=2)).attached == 1
    assert sorted(i.title for i in store.newest_items(None, 5)) == ["Harbour reopens", "Newsletter", "Newsletter"]


@pytest.mark.parametrize("order", ["pxq", "p|xq"])
def test_a_text_several_stories_share_merges_no_new_story_into_them(store: Store, order: str) -> None:
    # The same, with x's story and q's copy new in one batch, or all three.
    store.sync_sources([SourceSpec(n, "feed", f"http://{n}.test/feed") for n in "pqx"])
    entries = {"p": [EntryData(key=day, title="Newsletter", content=_NEWSLETTER,
                               link=f"https://p.example/newsletter/{day}") for day in ("mon", "tue")],
               "x": [_HARBOUR],
               "q": [EntryData(key="1", title="Newsletter", content=_NEWSLETTER,
                               link="https://x.example/harbour?utm_source=q")]}
    t = T0
    for batch in order.split("|"):
        t += timedelta(minutes=1)
        store.ingest_batch([IngestJob(name, entries[name]) for name in batch], now=t)
    assert sorted(i.title for i in store.newest_items(None, 5)) == ["Harbour reopens", "Newsletter", "Newsletter"]


def test_an_edit_into_a_text_several_stories_share_merges_no_story_into_them(store: Store) -> None:
    # q's copy of x's story, edited into p's daily boilerplate, merges x's story into none.
    store.sync_sources([SourceSpec(n, "feed", f"http://{n}.test/feed") for n in "pqx"])
    store.ingest("p", [EntryData(key=day, title="Newsletter", content=_NEWSLETTER,
                                 link=f"https://p.example/newsletter/{day}") for day in ("mon", "tue")], now=T0)
    store.ingest("x", [_HARBOUR], now=T0 + timedelta(minutes=1))
    copy = replace(_HARBOUR, link="https://x.example/harbour?utm_source=q",
                   content="<p>Read about the harbour reopening after the storms on x's site.</p>")
    store.ingest("q", [copy], now=T0 + timedelta(minutes=2))
    store.ingest("q", [replace(copy, title="Newsletter", content=_NEWSLETTER)], now=T0 + timedelta(minutes=3))
    assert sorted(i.title for i in store.newest_items(None, 5)) == ["Harbour reopens", "Newsletter", "Newsletter"]

_BREAKING = "<p>Breaking: more to follow on the alliance's air policing decision shortly.</p>"


def test_a_copy_edited_into_another_storys_text_joins_that_story(store: Store) -> None:
    # c links b's page; b's entry on that page first carries a short note (the same story
    # as c's, by its link); a's story arrives; b then fills its entry with a's text. Its link
    # names one stored story and its text another: one story, as when b's copy arrives
    # with a's text at once (it stayed two for ever).
    _three_outlets(store)
    store.ingest("c", [_C], now=T0)
    note = replace(_B, content=_BREAKING)
    assert store.ingest("b", [note], now=T0 + timedelta(minutes=1)).attached == 1
    store.ingest("a", [_A], now=T0 + timedelta(minutes=2))
    assert store.item_count() == 2
    assert store.ingest("b", [_B], now=T0 + timedelta(minutes=3)).attached == 1  # a merge: the feeds change
    assert store.item_count() == 1
    with store.reading() as conn:
        assert sorted(conn.execute(text(
            "SELECT s.name FROM item_sources l JOIN sources s ON s.id = l.source_id")).scalars()) == ["a", "b", "c"]
        for table in ("rule_texts", "item_alias_links", "item_alias_texts"):
            assert conn.scalar(text(f"SELECT COUNT(*) FROM {table} WHERE item_id NOT IN (SELECT id FROM items)")) == 0
    results = store.ingest_batch([IngestJob(n, [e]) for n, e in (("a", _A), ("b", _B), ("c", _C))],
                                 now=T0 + timedelta(hours=1))
    assert [(r.new, r.updated, r.attached) for r in results] == [(0, 0, 0)] * 3
    # a wire copy of b's note, or of the teaser, is the story
    assert store.ingest("d", [replace(note, link="https://d.example/air")], now=T0 + timedelta(hours=2)).attached == 1
    assert store.item_count() == 1


def test_a_story_its_origin_edits_into_another_storys_text_joins_that_story(store: Store) -> None:
    # b's own short note, which c links; then a's story; then b replaces its note with
    # a's text: b's story is a's, whichever came first (b's, the older, keeps).
    _three_outlets(store)
    note = replace(_B, content=_BREAKING)
    store.ingest("b", [note], now=T0)
    store.ingest("c", [_C], now=T0 + timedelta(minutes=1))
    store.ingest("a", [_A], now=T0 + timedelta(minutes=2))
    assert store.item_count() == 2
    assert store.ingest("b", [_B], now=T0 + timedelta(minutes=3)).updated == 1
    assert store.item_count() == 1
    [item] = store.newest_items(None, 5)
    assert item.link == "https://b.example/air"
    results = store.ingest_batch([IngestJob(n, [e]) for n, e in (("a", _A), ("b", _B), ("c", _C))],
                                 now=T0 + timedelta(hours=1))
    assert [(r.new, r.updated, r.attached) for r in results] == [(0, 0, 0)] * 3


def test_an_edit_into_another_storys_text_joins_no_story_one_source_carries_both_of(store: Store) -> None:
    # c carries a's story too (a copy of its own): b's note filled with a's text cannot
    # make c's two entries one item.
    _three_outlets(store)
    store.ingest("c", [_C, replace(_A, key="2", link="https://c.example/air")], now=T0)
    store.ingest("b", [replace(_B, content=_BREAKING)], now=T0 + timedelta(minutes=1))
    assert store.item_count() == 2
    store.ingest("b", [_B], now=T0 + timedelta(minutes=2))
    assert store.item_count() == 2


# At a re-read (pipeline.REREAD: IngestJob.keep_times), an entry stored as the release before
# read it is read anew: its link or text may now name another source's stored story (the
# release before stored b's copy of a's story under a click tracker's link, never a's).
_TRACKER = "http://www.bing.com/news/apiclick.aspx?ref=FexRss&url=https%3a%2f%2fa.example%2fair&c=1"
_TRACKED = replace(_B, title="Air policing, b's column", content=_BREAKING, link=_TRACKER)


def _reread(store: Store, name: str, entries: list[EntryData], now: datetime) -> tuple[int, int, int]:
    [r] = store.ingest_batch([IngestJob(name, entries, keep_times=True)], now=now)
    return r.new, r.updated, r.attached


def _carriers(store: Store) -> list[tuple[str, str]]:
    with store.reading() as conn:
        for table in ("rule_texts", "item_alias_links", "item_alias_texts"):
            assert conn.scalar(text(f"SELECT COUNT(*) FROM {table} WHERE item_id NOT IN (SELECT id FROM items)")) == 0
        return sorted(conn.execute(text(  # type: ignore[arg-type]
            "SELECT s.name, i.title FROM item_sources l JOIN sources s ON s.id = l.source_id JOIN items i ON i.id = l.item_id")))


@pytest.mark.parametrize("outlet_first", [True, False], ids=["outlet_first", "copy_first"])
def test_a_copy_a_reread_links_to_another_storys_page_joins_that_story(store: Store, outlet_first: bool) -> None:
    # Two stories before the re-read; one after it, the older item's (its id, its time: it
    # keeps its place in every feed), each source's entry on it, the copy counted as merged.
    _three_outlets(store)
    first, second = (("a", _A), ("b", _TRACKED)) if outlet_first else (("b", _TRACKED), ("a", _A))
    store.ingest(first[0], [first[1]], now=T0)
    store.ingest(second[0], [second[1]], now=T0 + timedelta(minutes=1))
    assert store.item_count() == 2
    older = {i.title: i for i in store.newest_items(None, 5)}[first[1].title]
    reread = replace(_TRACKED, link="https://a.example/air")
    assert _reread(store, "b", [reread], T0 + timedelta(hours=1)) == (0, 0, 1)
    [item] = store.newest_items(None, 5)
    assert (item.id, item.updated, item.title, item.link) == (older.id, older.updated, older.title, "https://a.example/air")
    assert _carriers(store) == [("a", older.title), ("b", older.title)]
    # Each source's entry is found as its own again: nothing changes at the next refreshes.
    results = store.ingest_batch([IngestJob("a", [_A]), IngestJob("b", [reread])], now=T0 + timedelta(hours=2))
    assert [(r.new, r.updated, r.attached) for r in results] == [(0, 0, 0)] * 2
    assert store.item_count() == 1


def test_a_copy_a_reread_gives_another_storys_text_joins_that_story_as_a_via_link(store: Store) -> None:
    # b's copy was stored with a caption the release before read as its text: read anew, its
    # text is a's story's, and a's item carries it as a via link.
    _three_outlets(store)
    store.ingest("a", [_A], now=T0)
    store.ingest("b", [replace(_B, content=_BREAKING)], now=T0 + timedelta(minutes=1))
    assert store.item_count() == 2
    assert _reread(store, "b", [_B], T0 + timedelta(hours=1)) == (0, 0, 1)
    [item] = store.newest_items(None, 5)
    assert (item.title, item.link, item.updated, item.via) == ("Air policing", "https://a.example/air", T0, ("https://b.example/air",))
    assert _carriers(store) == [("a", "Air policing"), ("b", "Air policing")]


def test_an_edit_that_links_another_storys_page_joins_that_story(store: Store) -> None:
    # b's own entry, edited to link a's page (its first link a click tracker's, or a wrong
    # one), is a's story: its item carries the link now too, which is no second story.
    _three_outlets(store)
    store.ingest("a", [_A], now=T0)
    store.ingest("b", [_TRACKED], now=T0 + timedelta(minutes=1))
    assert store.ingest("b", [replace(_TRACKED, link="https://a.example/air")], now=T0 + timedelta(minutes=2)).updated == 1
    [item] = store.newest_items(None, 5)
    assert (item.title, item.link) == ("Air policing", "https://a.example/air")
    assert _carriers(store) == [("a", "Air policing"), ("b", "Air policing")]


def test_an_edit_to_a_link_a_new_entry_of_its_source_sends_too_merges_nothing(store: Store) -> None:
    # b's stored entry edited to link a live page, beside a new entry of b on that page (two
    # updates of it): the page names no one story, as when both entries are new.
    _three_outlets(store)
    store.ingest("a", [replace(_A, link="https://a.example/live")], now=T0)
    store.ingest("b", [_TRACKED], now=T0 + timedelta(minutes=1))
    update = EntryData(key="2", title="Polls closed", link="https://a.example/live",
                       content="<p>Polls have closed in all districts; the first results are expected soon.</p>")
    assert store.ingest("b", [replace(_TRACKED, link="https://a.example/live"), update],
                        now=T0 + timedelta(minutes=2)) == IngestResult(new=1, updated=1)
    assert store.item_count() == 3


def test_a_reread_that_gives_two_entries_of_one_source_one_link_merges_nothing(store: Store) -> None:
    _three_outlets(store)
    store.ingest("a", [_A, replace(_TRACKED, key="2")], now=T0)
    assert _reread(store, "a", [_A, replace(_TRACKED, key="2", link="https://a.example/air")], T0 + timedelta(hours=1)) == (0, 1, 0)
    assert store.item_count() == 2


def test_a_reread_to_a_front_page_or_to_a_story_a_source_carries_beside_merges_nothing(store: Store) -> None:
    _three_outlets(store)
    store.ingest("a", [replace(_A, link="https://a.example/")], now=T0)  # a front page names no story
    store.ingest("b", [_TRACKED], now=T0)
    assert _reread(store, "b", [replace(_TRACKED, link="https://a.example/")], T0 + timedelta(hours=1)) == (0, 1, 0)
    assert store.item_count() == 2
    # c carries both stories (a copy of each): b's copy read as a's story stays its own.
    store.ingest("a", [_A], now=T0 + timedelta(hours=2))
    store.ingest("c", [replace(_A, link="https://c.example/air"), replace(_TRACKED, key="2", link="https://c.example/b")],
                 now=T0 + timedelta(hours=2))
    assert store.item_count() == 2
    assert _reread(store, "b", [replace(_TRACKED, link="https://a.example/air")], T0 + timedelta(hours=3)) == (0, 1, 0)
    assert store.item_count() == 2


def test_0012_gives_stories_the_links_of_the_further_sources_copies_stored_before(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store.open(url)
    _three_outlets(store)
    store.ingest("a", [EntryData(key="1", title="Air policing", content=TEXT_A, link="https://a.example/air")], now=T0)
    for name in ("b", "d"):  # two copies of one link: stored once
        store.ingest(name, [EntryData(key="1", title="Air policing", content=TEXT_A,
                                      link="https://b.example/air")], now=T0)
    store.close()
    store = migrated_again(url, "0011", "0012")
    try:
        with store.reading() as conn:
            assert conn.execute(text("SELECT link FROM item_alias_links")).scalars().all() == ["https://b.example/air"]
        assert store.ingest("c", [EntryData(key="1", title="Teaser", content="<p>Teaser.</p>",
                                            link="https://b.example/air?utm_source=c")], now=T0).attached == 1
        assert store.item_count() == 1
    finally:
        store.close()


@contextlib.contextmanager
def _old_sqlite(tmp_path: Path, revision: str) -> Iterator[Connection]:
    """A connection to a SQLite database at schema ``revision``, its foreign keys off (as the
    migrations run them), for rows written by that release's schema."""
    from alembic import command

    from aggregator.db import alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()
        command.upgrade(alembic_config(conn), revision)
        yield conn


def _upgrade_peak(conn: Connection, revision: str) -> int:
    """Upgrade ``conn``'s database to ``revision``; the peak of the Python memory it took."""
    import tracemalloc

    from alembic import command

    from aggregator.db import alembic_config

    tracemalloc.start()
    try:
        command.upgrade(alembic_config(conn), revision)
        conn.commit()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_0009_over_many_joined_stories_holds_a_bounded_amount_of_memory(tmp_path: Path) -> None:
    # 0009 read every link row a further source joined to another's story at once, to find
    # those joined by a front page: memory in proportion to every story ever shared.
    n = 150_000
    with _old_sqlite(tmp_path, "0008") as conn:
        conn.execute(text("INSERT INTO sources (id, name, type, failures, retired) VALUES "
                          "(1, 'one', 'feed', 0, 0), (2, 'two', 'feed', 0, 0)"))
        conn.exec_driver_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO items (id, uid, source_id, title, content_type, truncated, first_seen, published, "
            "updated, classified) SELECT i, 'u' || i, 1, 't', 'text', 0, '2025-01-01 00:00:00', "
            "'2025-01-01 00:00:00', printf('2025-01-01 00:00:00.%06d', i), 1 FROM n", (n,))
        # every story joined by a second source, the last one by the site's front page
        conn.exec_driver_sql(
            "INSERT INTO item_sources (item_id, source_id, key, link, fingerprint, first_seen) SELECT id, 2, "
            "'k' || id, CASE WHEN id = ? THEN 'https://news.example/' ELSE "
            "'https://news.example/2025/01/01/a-story-about-things-' || id END, 'f', first_seen FROM items", (n,))
        conn.commit()
        peak = _upgrade_peak(conn, "0009")
        joined = conn.execute(text("SELECT count(*) FROM item_sources WHERE source_id = 2")).scalar()
    assert joined == n - 1  # the front page's row detached, every other kept
    assert peak < 25 * 2**20, peak / 2**20


def check_0009_titles_blank_titles_and_detaches_stories_joined_by_a_front_page(url: str) -> None:
    """An item an earlier release stored with a title of zero-width spaces takes its first
    sentence; an entry it attached to another source's story by a front-page link goes
    back to being an entry of its own at the next refresh. (test_postgres runs it too.)"""
    from sqlalchemy import update

    from aggregator.models import rule_texts
    from aggregator.rules import Classifier, TopicRule

    store = Store.open(url)
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/feed"), SourceSpec("two", "feed", "http://two.test/")])
    body = "<p>Baltic cable cut near Gotland. Divers found the damage.</p>"
    store.ingest("one", [EntryData(key="z", title="Visible", content=body),
                         EntryData(key="w", title="Wire story", content="<p>Drones over the port.</p>",
                                   link="https://site.example/story")], now=T0)
    blog = EntryData(key="b", title="Blog post", content="<p>A look at the front page.</p>",
                     link="https://site.example/story")
    assert store.ingest("two", [blog], now=T0).attached == 1
    with store.writing() as conn:  # as the earlier release stored them
        conn.execute(update(items).where(items.c.title == "Visible").values(title="\u200b\u200b"))
        conn.execute(update(item_sources).values(link="https://site.example/"))
    store.classify(Classifier([TopicRule("baltic", any=("Gotland",))]).topics_for, "rules-1",
                   store.sync_topics([("baltic", "Baltic")]))
    store.close()
    store = migrated_again(url, "0008", "0009")
    try:
        with store.engine.connect() as conn:
            titled = conn.execute(select(items.c.id, items.c.classified).where(
                items.c.title == "Baltic cable cut near Gotland.")).one()
            assert titled.classified is False
            assert conn.scalar(select(rule_texts.c.text).where(rule_texts.c.item_id == titled.id)) is None
            carriers = conn.execute(select(item_sources.c.source_id)).scalars().all()
        assert len(carriers) == 2  # the two entries of "one"; the blog's attachment gone
        got = store.ingest("two", [replace(blog, link="https://site.example/")], now=T0 + timedelta(days=1))
        assert (got.new, got.attached) == (1, 0)
        assert "Blog post" in {i.title for i in store.newest_items(None, 10)}
    finally:
        store.close()


def check_0009_gives_items_dated_before_1990_the_time_they_were_first_seen(url: str) -> None:
    """Stored by an earlier release with a feed's "1 Jan 1970", an item sat under every other
    one; it takes the times ingest gives such an entry now, in its topics too, and the
    next publish writes the feeds again. (test_postgres runs it too.)"""
    from sqlalchemy import update

    from aggregator.models import item_topics
    from aggregator.rules import Classifier, TopicRule

    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    store = Store.open(url)
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/feed")])
    store.ingest("one", [EntryData(key=k, title=f"Baltic {k}", updated=T0, published=T0) for k in "abcd"], now=T0)
    store.record_refresh("one", started=T0, finished=T0, ok=True, etag='"e"', last_modified="x", body_hash="h")
    seen = T0 + timedelta(days=1)
    with store.writing() as conn:  # as the earlier release stored them
        dates = {"a": (epoch, epoch), "b": (epoch, epoch), "c": (T0, epoch), "d": (epoch, T0 - timedelta(days=1))}
        for k, (updated, published) in dates.items():
            conn.execute(update(items).where(items.c.title == f"Baltic {k}").values(
                updated=updated + timedelta(microseconds=ord(k)), published=published, first_seen=seen))
        conn.execute(update(items).where(items.c.title == "Baltic d").values(first_seen=T0))
    store.classify(Classifier([TopicRule("baltic", any=("Baltic",))]).topics_for, "rules-1",
                   store.sync_topics([("baltic", "Baltic")]))
    version = store.data_version()
    store.close()
    store = migrated_again(url, "0008", "0009")
    try:
        assert store.data_version() > version
        with store.engine.connect() as conn:
            got = {title: (u, p) for title, u, p in conn.execute(
                select(items.c.title, items.c.updated, items.c.published))}
            copies = dict(conn.execute(select(items.c.title, item_topics.c.updated).join(
                item_topics, item_topics.c.item_id == items.c.id)).all())
        a, b = got["Baltic a"][0], got["Baltic b"][0]
        # first seen together: kept apart, the feed's first (stored first) on top, as ingest
        # now gives entries seen at once (test_a_date_before_1990_counts_as_none)
        assert (a, b) == (seen + timedelta(microseconds=1), seen)
        assert got["Baltic a"][1] == got["Baltic b"][1] == seen
        c = T0 + timedelta(microseconds=ord("c"))
        assert got["Baltic c"] == (c, c)  # its plausible date, for both
        assert got["Baltic d"] == (T0 - timedelta(days=1), T0 - timedelta(days=1))
        assert copies == {title: u for title, (u, _) in got.items()}
        # read again at its next refresh, to take this release's readings (0009 drops the
        # validators; 0013, which opening the store runs after it, marks the feed for that re-read)
        state = store.source_states()["one"]
        assert (state.etag, state.last_modified, state.body_hash) == (None, None, "reread")
    finally:
        store.close()


def test_0011_gives_stored_items_the_keys_of_plain_text_titles_and_idna_hosts(tmp_path: Path) -> None:
    check_0011_gives_stored_items_the_keys_of_plain_text_titles_and_idna_hosts(f"sqlite:///{tmp_path / 'store.db'}")


def test_0011_over_many_items_holds_a_bounded_amount_of_memory(tmp_path: Path) -> None:
    # 0011 reads every item's link, and the whole texts of those whose title holds "<":
    # read at once, memory in proportion to every item ever stored.
    n = 150_000
    with _old_sqlite(tmp_path, "0010") as conn:
        conn.execute(text("INSERT INTO sources (id, name, type, failures, retired) VALUES (1, 'one', 'feed', 0, 0)"))
        conn.exec_driver_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO items (id, uid, source_id, title, link, canonical_link, content, content_type, truncated, "
            "first_seen, published, updated, classified) SELECT i, 'u' || i, 1, "
            "CASE WHEN i % 10 = 0 THEN 'Why x<y matters, part ' || i ELSE 'Story ' || i END, "
            "'https://news.example/2025/01/01/a-story-about-things-' || i || CASE WHEN i % 10 = 1 THEN '-ü' ELSE '' END, "
            "'https://news.example/2025/01/01/a-story-about-things-' || i || CASE WHEN i % 10 = 1 THEN '-ü' ELSE '' END, "
            "'<p>' || printf('%.2000c', 'x') || '</p>', 'html', 0, '2025-01-01 00:00:00', '2025-01-01 00:00:00', "
            "printf('2025-01-01 00:00:00.%06d', i), 1 FROM n", (n,))
        conn.commit()
        peak = _upgrade_peak(conn, "0011")
        keyed = conn.execute(text("SELECT count(*) FROM items WHERE text_key IS NOT NULL")).scalar()
    assert keyed == n // 10  # every "x<y" title keyed, its words kept
    assert peak < 25 * 2**20, peak / 2**20


def check_0011_gives_stored_items_the_keys_of_plain_text_titles_and_idna_hosts(url: str) -> None:
    """Stored by the release before, a story whose title holds "x<y" had a text key of
    "why x" (none: too short), and one of an international host its canonical link as
    written: another source's copy, keyed as ingest keys it now, met neither, and was
    stored again. (test_postgres runs it too.)"""
    import hashlib

    from sqlalchemy import update

    from aggregator.identity import dedup_text, text_key

    store = Store.open(url)
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/feed"), SourceSpec("two", "feed", "http://two.test/")])
    angled = EntryData(key="x", title="Why x<y matters for the Baltic Sea and NATO allies", content="<p>Live.</p>",
                       link="https://one.example/x")
    idn = EntryData(key="b", title="Bücher", link="https://BÜCHER.example/story/1")
    long_path = "/story/" + "a" * 1200  # past the index limit: stored as its hash
    idn_long = EntryData(key="l", title="Long", link="https://bücher.example" + long_path)
    # Untitled: stored under its first sentence, which has an "&", but keyed by its content alone.
    untitled = EntryData(key="u", content="<p>R&amp;D budgets rise across the alliance this year, ministers said.</p>")
    seed = EntryData(key="s", title="A <b> & c: the seed's own words, kept", content="Text of <the> seed.",
                     content_type="text")
    store.ingest("one", [angled, idn, idn_long, untitled, seed], now=T0)
    with store.writing() as conn:  # the keys the release before stored
        conn.execute(update(items).where(items.c.title == angled.title).values(text_key=None))
        conn.execute(update(items).where(items.c.title == "Bücher").values(
            canonical_link="https://bücher.example/story/1"))
        conn.execute(update(items).where(items.c.title == "Long").values(canonical_link="sha256:" + hashlib.sha256(
            f"https://bücher.example{long_path}".encode()).hexdigest()))
        before = {row.title: row._asdict() for row in conn.execute(select(items))}
    assert "R&D budgets rise across the alliance this year, ministers said." in before
    version = store.data_version()
    store.close()
    store = migrated_again(url, "0010", "0011")
    try:
        with store.engine.connect() as conn:
            after = {row.title: row._asdict() for row in conn.execute(select(items))}
        assert store.data_version() == version  # no feed shows a key
        want = dict(before)
        want[angled.title] = before[angled.title] | {"text_key": text_key(dedup_text(angled.title, angled.content) or "")}
        want["Bücher"] = before["Bücher"] | {"canonical_link": "https://xn--bcher-kva.example/story/1"}
        want["Long"] = before["Long"] | {"canonical_link": "sha256:" + hashlib.sha256(
            f"https://xn--bcher-kva.example{long_path}".encode()).hexdigest()}
        assert after == want
        copies = [replace(angled, key="x2", link="https://two.example/x"),
                  replace(idn, key="b2", link="https://xn--bcher-kva.example/story/1"),
                  replace(idn_long, key="l2", link="https://bu\u0308cher.example" + long_path),
                  replace(untitled, key="u2")]
        got = store.ingest("two", copies, now=T0 + timedelta(days=1))
        assert (got.new, got.attached) == (0, 4)
        assert len(store.newest_items(None, 10)) == 5
    finally:
        store.close()


def test_0011_tells_a_titled_entry_from_an_untitled_one_by_its_stored_key(tmp_path: Path) -> None:
    # 0011 took an entry whose title is its text's first sentence for an untitled one and
    # kept its key of the title stripped as HTML ("Is x"): the same story from another
    # source, keyed with its whole title, was stored again (and no refresh heals it: the
    # entry does not change). And it took an untitled post stored by the release before,
    # under that release's first sentence ("# cat", where this one reads "#cat"), for a
    # titled one, and gave it a key of that title and its text, which no copy of the post
    # meets (its own key never held a title).
    from sqlalchemy import update

    from aggregator.identity import dedup_text, text_key
    from aggregator.text import strip_html

    url = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store.open(url)
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/feed"), SourceSpec("two", "feed", "http://two.test/")])
    question = EntryData(key="q", title="Is x<y always true?", link="https://one.example/q",
                         content="<p>Is x&lt;y always true? Not for every pair of numbers, the paper shows.</p>")
    post = EntryData(key="p", link="https://one.example/@a/1", content=(
        '<p>Tom &amp; Jerry <a href="https://one.example/tags/cat">#<span>cat</span></a> rule the internet today, '
        'fans say.</p>'))
    store.ingest("one", [question, post], now=T0)
    old_post_title = "Tom & Jerry # cat rule the internet today, fans say."  # the release before's first sentence
    with store.writing() as conn:  # as the release before stored them
        conn.execute(update(items).where(items.c.title == question.title).values(
            text_key=text_key(dedup_text(strip_html(question.title), question.content) or "")))
        conn.execute(update(items).where(items.c.link == post.link).values(title=old_post_title))
    store.close()
    store = migrated_again(url, "0010", "0011")
    try:
        copies = [replace(question, key="q2", link="https://two.example/q"),
                  replace(post, key="p2", link="https://two.example/@a/1")]
        got = store.ingest("two", copies, now=T0 + timedelta(days=1))
        assert (got.new, got.attached) == (0, 2)
    finally:
        store.close()


def test_entries_stored_by_the_previous_release_keep_their_time_when_read_with_authors_and_files(
        store: Store) -> None:
    # An Atom blog naming its author once, on the feed, and a podcast episode: the previous
    # release stored these entries without that author and without the file. Read again by
    # this one, nothing changed upstream, yet each was re-dated to the refresh time, and
    # the old posts moved above the blog's newest one in every feed.
    from aggregator.parse import parse_feed

    body = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title>'
            '<id>urn:f</id><updated>2024-01-02T00:00:00Z</updated><author><name>Jo</name></author>'
            '<entry><id>urn:2</id><title>Post 2</title><updated>2024-01-02T00:00:00Z</updated>'
            '<link rel="enclosure" href="http://one.test/2.mp3" type="audio/mpeg"/></entry>'
            '<entry><id>urn:1</id><title>Post 1</title><updated>2024-01-01T00:00:00Z</updated></entry></feed>').encode()
    entries = parse_feed("http://one.test/feed", body, {"content-type": "application/atom+xml"}, now=T0).entries
    assert [(e.author, len(e.enclosures)) for e in entries] == [("Jo", 1), ("Jo", 0)]
    store.ingest("one", [replace(e, author=None, enclosures=()) for e in entries], now=T0)
    mark_rows_stored_before_0008(store)
    assert store.ingest("one", entries, now=T0 + timedelta(days=1)).updated == 2  # feeds republish
    assert [(i.title, i.updated, i.author, len(i.enclosures)) for i in store.newest_items(None, 10)] == [
        ("Post 2", datetime(2024, 1, 2, tzinfo=UTC), "Jo", 1), ("Post 1", datetime(2024, 1, 1, tzinfo=UTC), "Jo", 0)]
    assert not store.ingest("one", entries, now=T0 + timedelta(days=2)).changed
    # A change upstream still dates the entry anew, files or not.
    edited = replace(entries[1], title="Post 1, corrected")
    store.ingest("one", [edited], now=T0 + timedelta(days=3))
    assert store.newest_items(None, 1)[0].updated == T0 + timedelta(days=3)


def test_entries_stored_before_media_rss_was_read_keep_their_time_when_read_with_its_files(store: Store) -> None:
    # A news feed naming each story's picture in media:content, stored by the release before
    # (since schema 0008) without it: read again, nothing changed upstream, yet each entry was
    # re-dated to the refresh time and went to the top of every feed. It takes the files and
    # keeps its time; a plain <enclosure> added upstream still dates its entry anew.
    from aggregator.parse import parse_feed
    from aggregator.types import Enclosure

    body = ('<?xml version="1.0"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
            '<title>News</title><link>http://one.test/</link><description>d</description>'
            '<item><title>Story 2</title><guid>urn:2</guid><pubDate>Tue, 02 Jan 2024 00:00:00 GMT</pubDate>'
            '<enclosure url="http://one.test/2.mp3" type="audio/mpeg"/>'
            '<media:content url="http://one.test/2.jpg" type="image/jpeg" medium="image"/></item>'
            '<item><title>Story 1</title><guid>urn:1</guid><pubDate>Mon, 01 Jan 2024 00:00:00 GMT</pubDate>'
            '<media:group><media:content url="http://one.test/1.mp4" type="video/mp4" fileSize="9"/></media:group>'
            '</item></channel></rss>').encode()
    entries = parse_feed("http://one.test/feed", body, {"content-type": "application/rss+xml"}, now=T0).entries
    assert [[f.href for f in e.enclosures] for e in entries] == [
        ["http://one.test/2.mp3", "http://one.test/2.jpg"], ["http://one.test/1.mp4"]]
    store.ingest("one", [replace(e, enclosures=tuple(f for f in e.enclosures if f.href.endswith(".mp3")))
                         for e in entries], now=T0)
    assert store.ingest("one", entries, now=T0 + timedelta(days=1)).updated == 2  # feeds republish
    assert [(i.title, i.updated, len(i.enclosures)) for i in store.newest_items(None, 10)] == [
        ("Story 2", datetime(2024, 1, 2, tzinfo=UTC), 2), ("Story 1", datetime(2024, 1, 1, tzinfo=UTC), 1)]
    assert not store.ingest("one", entries, now=T0 + timedelta(days=2)).changed
    # A file sent as an <enclosure> that appears upstream is news, as before.
    added = replace(entries[1], enclosures=(*entries[1].enclosures, Enclosure("http://one.test/1.mp3", "audio/mpeg")))
    store.ingest("one", [added], now=T0 + timedelta(days=3))
    assert store.newest_items(None, 1)[0].updated == T0 + timedelta(days=3)


def test_reingest_adds_nothing_and_change_updates_in_place(store: Store) -> None:
    e = EntryData(key="g1", title="Hello", link="http://one.test/a", content="<p>Body</p>", updated=T0)
    assert store.ingest("one", [e], now=T0 + timedelta(minutes=1)).new == 1
    again = store.ingest("one", [e], now=T0 + timedelta(hours=1))
    assert not again.changed
    [before] = store.newest_items(None, 10)
    changed = EntryData(key="g1", title="Hello again", link="http://one.test/a", content="<p>New</p>",
                        updated=T0 + timedelta(minutes=5))
    r = store.ingest("one", [changed], now=T0 + timedelta(hours=2))
    assert (r.new, r.updated) == (0, 1)
    [after] = store.newest_items(None, 10)
    assert after.id == before.id and after.title == "Hello again"
    assert after.updated == T0 + timedelta(minutes=5)
    assert store.item_count() == 1


def test_many_entries_changed_at_once_update_their_items(store: Store) -> None:
    from aggregator.store import IngestJob

    first = [EntryData(key=f"k{n}", title=f"Story {n}", link=f"http://one.test/{n}", summary=f"<p>Text {n}</p>",
                       published=T0, updated=T0 + timedelta(minutes=n)) for n in range(6)]
    store.ingest("one", first, now=T0)
    store.ingest("two", [replace(first[5], key="other", title="Story 5 elsewhere")], now=T0)  # attached to k5
    ids = store.sync_topics([("fresh", "Fresh")])
    store.classify(lambda text, names: (), "h", ids)
    later = T0 + timedelta(days=1)
    edits = [
        replace(first[0], title="Story 0 corrected", updated=T0 + timedelta(hours=1)),  # its own later time
        replace(first[1], title="Story 1 corrected", updated=T0 + timedelta(hours=1)),  # the same time: nudged
        replace(first[2], summary="<p>Fresh text 2</p>", updated=None, published=None),  # no time: now, keeps published
        replace(first[3], title="Story 3 corrected", updated=T0 - timedelta(days=9),  # older than stored: now
                published=T0 + timedelta(seconds=30)),
        first[4],  # unchanged
    ]
    jobs = [IngestJob("one", edits), IngestJob("two", [replace(first[5], key="other", title="Fresh 5 elsewhere")])]
    results = store.ingest_batch(jobs, now=later)
    assert [(r.new, r.updated, r.attached) for r in results] == [(0, 4, 0), (0, 0, 0)]
    with store.reading() as conn:
        rows = {r.uid: r for r in conn.execute(select(items).order_by(items.c.id))}
        texts = dict(conn.execute(text("SELECT item_id, text FROM rule_texts")).all())
        links = dict(conn.execute(select(item_sources.c.key, item_sources.c.fingerprint)).all())
    by_title = {r.title: r for r in rows.values()}
    # of two wanting one time, the feed's first takes the higher (as new entries do)
    assert by_title["Story 0 corrected"].updated == T0 + timedelta(hours=1, microseconds=1)
    assert by_title["Story 1 corrected"].updated == T0 + timedelta(hours=1)
    assert by_title["Story 2"].updated == later + timedelta(microseconds=1) and by_title["Story 2"].published == T0
    assert by_title["Story 2"].summary == "<p>Fresh text 2</p>" and texts[by_title["Story 2"].id] == "story 2\nfresh text 2"
    assert by_title["Story 3 corrected"].updated == later
    assert by_title["Story 3 corrected"].published == T0 + timedelta(seconds=30)
    assert by_title["Story 4"].updated == T0 + timedelta(minutes=4)
    assert by_title["Story 5"].updated == T0 + timedelta(minutes=5)  # the other source's change: its link row only
    assert {r.title for r in rows.values() if not r.classified} == {
        "Story 0 corrected", "Story 1 corrected", "Story 2", "Story 3 corrected"}
    assert texts[by_title["Story 0 corrected"].id] == "story 0 corrected\ntext 0"
    assert links["other"] != links["k5"]
    assert store.ingest_batch(jobs, now=later + timedelta(hours=1)) and not any(
        r.changed for r in store.ingest_batch(jobs, now=later + timedelta(hours=2)))


def test_one_item_changed_twice_in_a_batch_takes_the_second_change(store: Store) -> None:
    from aggregator.store import IngestJob

    e = EntryData(key="k", title="Story", updated=T0)
    store.ingest("one", [e], now=T0)
    later = T0 + timedelta(days=1)
    jobs = [IngestJob("one", [replace(e, title="Story, first fix")]), IngestJob("one", [replace(e, title="Story, second fix")])]
    assert [r.updated for r in store.ingest_batch(jobs, now=later)] == [1, 1]
    [item] = store.newest_items(None, 5)
    assert item.title == "Story, second fix"
    assert item.updated == later + timedelta(microseconds=1)  # each update moved it past the one before


def test_one_source_in_two_jobs_of_a_batch_is_stored_as_two_ingests_in_order(store: Store) -> None:
    # A key new to both jobs was inserted twice and the batch failed on item_sources'
    # unique key (from the thirteenth session's review).
    from aggregator.store import IngestJob

    jobs = [IngestJob("one", [EntryData(key="k", title="First", updated=T0)]),
            IngestJob("two", [EntryData(key="x", title="Other", updated=T0)]),
            IngestJob("one", [EntryData(key="k", title="Second", updated=T0 + timedelta(hours=1)),
                              EntryData(key="n", title="New", updated=T0)]),
            IngestJob("one", [EntryData(key="k", title="Second", updated=T0 + timedelta(hours=1))])]
    results = store.ingest_batch(jobs, now=T0 + timedelta(days=1))
    assert [(r.new, r.updated) for r in results] == [(1, 0), (1, 0), (1, 1), (0, 0)]
    assert sorted(i.title for i in store.newest_items(None, 10)) == ["New", "Other", "Second"]


def test_same_story_from_two_sources_is_one_item(store: Store) -> None:
    store.ingest("one", [EntryData(key="x", title="Story", link="https://News.test/a?utm_source=rss&id=3#top")],
                 now=T0)
    r = store.ingest("two", [EntryData(key="y", title="Story elsewhere", link="https://news.test/a?id=3")],
                     now=T0 + timedelta(seconds=1))
    assert (r.new, r.attached) == (0, 1)
    long_text = "A long enough paragraph about the Baltic Sea cables and NATO patrols."
    store.ingest("one", [EntryData(key="t1", title="T", content=long_text, content_type="text")], now=T0)
    r2 = store.ingest("two", [EntryData(key="t2", title="T", content=f"<p>{long_text.upper()}</p>")], now=T0)
    assert r2.attached == 1
    assert store.item_count() == 2
    statuses = store.statuses()
    assert statuses["two"].items == 2  # both attachments count for the second source


def test_a_duplicate_attaches_to_the_item_with_its_link_and_its_text(store: Store) -> None:
    # A feed whose entries all link to its home page: the other source's copy of the third
    # release attached to the oldest item with that link, the first release, and not to
    # the third, which has its link and its text.
    from aggregator.models import sources
    from aggregator.store import IngestJob

    home = "https://press.example.org/"
    texts = [f"Press release {n}: the ministry orders new air defence systems for the army." for n in range(3)]
    store.ingest("one", [EntryData(key=f"a{n}", title=f"Release {n}", content=texts[n], link=home,
                                   updated=T0 + timedelta(hours=n)) for n in range(3)], now=T0)
    twin = EntryData(key="b2", title="Release 2", content=texts[2], link=home)
    assert store.ingest("two", [twin], now=T0 + timedelta(days=1)).attached == 1
    by_title = {i.title: i for i in store.newest_items(None, 5)}
    with store.reading() as conn:
        carried = conn.execute(select(items.c.title).join(item_sources, item_sources.c.item_id == items.c.id)
                               .join(sources, sources.c.id == item_sources.c.source_id)
                               .where(sources.c.name == "two")).scalars().all()
    assert carried == ["Release 2"] and len(by_title) == 3
    # The same in one batch: both sources new.
    store.ingest_batch([IngestJob("one", [EntryData(key=f"c{n}", title=f"Note {n}", content=texts[n] + " Note.",
                                                    link=home + "notes") for n in range(2)]),
                        IngestJob("two", [EntryData(key="d1", title="Note 1", content=texts[1] + " Note.",
                                                    link=home + "notes")])], now=T0 + timedelta(days=2))
    with store.reading() as conn:
        carried = conn.execute(select(items.c.title).join(item_sources, item_sources.c.item_id == items.c.id)
                               .join(sources, sources.c.id == item_sources.c.source_id)
                               .where(sources.c.name == "two").order_by(items.c.title)).scalars().all()
    assert carried == ["Note 1", "Release 2"]


def test_a_link_that_names_no_one_story_takes_no_other_story_in(store: Store) -> None:
    # A feed that links each entry to its site's front page, or several entries to one live
    # page: another source's entry with that link but another text attached to the oldest
    # of them and was never published. Such a link is no story's: only the text matches.
    from aggregator.store import IngestJob

    def text(n: int) -> str:
        return f"Story {n}: the ministry orders new air defence systems for the army, report says."

    front, live = "https://press.example.org/", "https://live.example.org/ukraine-live"
    store.ingest("one", [EntryData(key="f0", title="F0", content=text(0), link=front),
                         EntryData(key="l1", title="L1", content=text(1), link=live),
                         EntryData(key="l2", title="L2", content=text(2), link=live),
                         EntryData(key="s3", title="S3", content=text(3), link="https://one.example/s3")], now=T0)
    later = T0 + timedelta(days=1)
    got = store.ingest("two", [EntryData(key="x", title="X", content=text(10), link=front),
                               EntryData(key="y", title="Y", content=text(11), link=live + "#latest"),
                               EntryData(key="l2", title="L2", content=text(2), link=live),
                               EntryData(key="s3", title="S3, rewritten", content=text(13), link="https://one.example/s3")],
                       now=later)
    assert (got.new, got.attached) == (2, 2)  # X and Y stored; L2 by its text, S3 by its link (DESIGN)
    assert {i.title for i in store.newest_items(None, 10)} == {"F0", "L1", "L2", "S3", "X", "Y"}
    # The same within one batch, both sources new.
    results = store.ingest_batch([
        IngestJob("one", [EntryData(key=f"n{n}", title=f"N{n}", content=text(20 + n), link=live + "/2") for n in range(2)]),
        IngestJob("two", [EntryData(key="z", title="Z", content=text(30), link=live + "/2")])], now=later)
    assert [(r.new, r.attached) for r in results] == [(2, 0), (1, 0)]


def test_a_freed_time_below_a_stored_nudge_is_not_handed_out_twice(store: Store) -> None:
    # Two entries dated T0 are stored at T0 and T0+1us. One is edited upstream and moves
    # to its update time, freeing T0 but not T0+1us; two new entries dated T0 must then
    # get T0 and a time above T0+1us, not T0+1us again (which the database refuses).
    store.ingest("one", [EntryData(key=f"k{n}", title=f"item {n}", updated=T0) for n in range(2)], now=T0)
    later = T0 + timedelta(days=1)
    assert store.ingest("one", [EntryData(key="k0", title="item 0 corrected", updated=T0)], now=later).updated == 1
    r = store.ingest("one", [EntryData(key=f"n{n}", title=f"new {n}", updated=T0) for n in range(2)],
                     now=later + timedelta(hours=1))
    assert r.new == 2
    with store.reading() as conn:
        times = sorted(conn.scalars(select(items.c.updated)))
    assert len(times) == len(set(times)) == 4
    assert times[:3] == [T0, T0 + timedelta(microseconds=1), T0 + timedelta(microseconds=2)]


def test_distinct_updated_times(store: Store) -> None:
    entries = [EntryData(key=f"k{i}", title=f"t{i}", updated=T0) for i in range(5)]
    store.ingest("one", entries, now=T0)
    with store.reading() as conn:
        times = list(conn.scalars(select(items.c.updated)))
    assert len(set(times)) == 5


def test_item_id_is_stable_across_databases(tmp_path: Path) -> None:
    ids = []
    for n in range(2):
        s = Store.open(f"sqlite:///{tmp_path / f'{n}.db'}")
        s.sync_sources([SourceSpec("one", "feed", "http://one.test/feed")])
        s.ingest("one", [EntryData(key="guid-1", title="x")], now=T0 + timedelta(days=n))
        ids.append(s.newest_items(None, 1)[0].id)
        s.close()
    assert ids[0] == ids[1] and ids[0].startswith("urn:uuid:")


def test_upgrade_from_the_first_revision_keeps_items_and_they_still_classify(tmp_path: Path) -> None:
    from alembic import command

    from aggregator.db import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(text("INSERT INTO sources (id, name, type, failures, retired) VALUES (1, 'one', 'feed', 0, 0)"))
        conn.execute(text(
            "INSERT INTO items (id, uid, source_id, title, content, content_type, truncated, first_seen, "
            "published, updated, classified) VALUES (1, 'urn:uuid:x', 1, 'Baltic cable cut', '<p>Body</p>', "
            "'html', 0, '2025-01-01 00:00:00', '2025-01-01 00:00:00', '2025-01-01 00:00:00', 0)"))
        conn.execute(text("INSERT INTO item_sources (item_id, source_id, key, fingerprint, first_seen) "
                          "VALUES (1, 1, 'k', 'f', '2025-01-01 00:00:00')"))
        conn.commit()
    store = Store(engine)
    migrate(engine)
    ids = store.sync_topics([("baltic", "Baltic")])
    assert store.classify(lambda t, names: ("baltic",) if "baltic" in t else (), "h", ids) == 1
    assert store.topic_counts() == {"baltic": 1}
    [item] = store.newest_items("baltic", 5)
    assert item.id == "urn:uuid:x" and item.updated.tzinfo is not None


def test_upgrade_to_0003_turns_stored_text_hashes_into_keys_that_still_dedup(tmp_path: Path) -> None:
    import hashlib

    from alembic import command

    from aggregator.db import alembic_config
    from aggregator.identity import dedup_text

    body = "A long enough paragraph about the Baltic Sea cables and NATO patrols."
    old_hash = hashlib.sha256(dedup_text("Cables", body, "text").encode()).hexdigest()
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0002")
        conn.execute(text("INSERT INTO sources (id, name, type, failures, retired) VALUES "
                          "(1, 'one', 'feed', 0, 0), (2, 'two', 'feed', 0, 0)"))
        conn.execute(text(
            "INSERT INTO items (id, uid, source_id, title, content, content_type, truncated, first_seen, "
            "published, updated, classified, text_hash) VALUES (1, 'urn:uuid:x', 1, 'Cables', :body, "
            "'text', 0, '2025-01-01 00:00:00', '2025-01-01 00:00:00', '2025-01-01 00:00:00', 1, :h)"),
            {"body": body, "h": old_hash})
        conn.execute(text("INSERT INTO item_sources (item_id, source_id, key, fingerprint, first_seen) "
                          "VALUES (1, 1, 'k', 'f', '2025-01-01 00:00:00')"))
        conn.commit()
    migrate(engine)
    store = Store(engine)
    # The same text from another source attaches to the migrated item: the converted
    # key equals the key computed today.
    r = store.ingest("two", [EntryData(key="k2", title="Cables", content=body, content_type="text")], now=T0)
    assert (r.new, r.attached) == (0, 1)
    assert "text_hash" not in {c["name"] for c in inspect(engine).get_columns("items")}
    store.close()


def test_upgrade_to_0003_of_many_items_holds_a_bounded_amount_of_memory(tmp_path: Path) -> None:
    # 0003 read every item's hash at once and sent every key in one statement: about 0.75 KB
    # of memory an item, so a database of a few million items (months of 1,000 feeds) could not
    # be upgraded on a small machine: killed, the upgrade rolled back, and every start tried again.
    n = 80_000
    with _old_sqlite(tmp_path, "0002") as conn:
        conn.execute(text("INSERT INTO sources (id, name, type, failures, retired) VALUES (1, 'one', 'feed', 0, 0)"))
        conn.exec_driver_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO items (id, uid, source_id, title, content_type, truncated, first_seen, published, "
            "updated, classified, text_hash) SELECT i, 'u' || i, 1, 't', 'text', 0, '2025-01-01 00:00:00', "
            "'2025-01-01 00:00:00', printf('2025-01-01 00:00:00.%06d', i), 1, printf('%016x%048d', i, 0) FROM n", (n,))
        conn.commit()
        peak = _upgrade_peak(conn, "0003")
        keys = dict(conn.execute(text("SELECT id, text_key FROM items WHERE id IN (1, 40000, :n)"), {"n": n}).all())
        assert conn.execute(text("SELECT count(*) FROM items WHERE text_key IS NULL")).scalar() == 0
    assert keys == {1: 1, 40000: 40000, n: n}  # the first 8 bytes of each hash
    assert peak < 35 * 2**20, peak / 2**20


def test_upgrade_to_0004_keeps_memberships(tmp_path: Path) -> None:
    from alembic import command

    from aggregator.db import alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0003")
        conn.execute(text("INSERT INTO sources (id, name, type, failures, retired) VALUES (1, 'one', 'feed', 0, 0)"))
        conn.execute(text("INSERT INTO topics (id, slug, title) VALUES (1, 'baltic', 'Baltic'), (2, 'air', 'Air')"))
        for n in (1, 2):
            conn.execute(text(
                "INSERT INTO items (id, uid, source_id, title, content_type, truncated, first_seen, published, "
                "updated, classified) VALUES (:n, :u, 1, 't', 'html', 0, '2025-01-01 00:00:00.000000', "
                "'2025-01-01 00:00:00.000000', :upd, 1)"), {"n": n, "u": f"urn:uuid:{n}",
                                                           "upd": f"2025-01-0{n} 00:00:00.000000"})
        conn.execute(text("INSERT INTO item_topics (topic_id, item_id, updated) VALUES "
                          "(1, 1, '2025-01-01 00:00:00.000000'), (1, 2, '2025-01-02 00:00:00.000000'), "
                          "(2, 2, '2025-01-02 00:00:00.000000')"))
        conn.commit()
    migrate(engine)
    assert inspect(engine).get_pk_constraint("item_topics")["constrained_columns"] == ["item_id", "topic_id"]
    store = Store(engine)
    assert store.topic_counts() == {"baltic": 2, "air": 1}
    assert [i.id for i in store.newest_items("baltic", 5)] == ["urn:uuid:2", "urn:uuid:1"]
    store.close()


def test_upgrade_to_0006_keeps_the_title_and_parses_titled_feeds_again(tmp_path: Path) -> None:
    from alembic import command

    from aggregator.db import alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        command.upgrade(alembic_config(conn), "0005")
        conn.execute(text(
            "INSERT INTO sources (id, name, type, title, etag, last_modified, body_hash, failures, retired) VALUES "
            "(1, 'titled', 'feed', 'My Name', '\"e\"', 'Mon, 01 Jan 2024 00:00:00 GMT', 'h', 0, 0), "
            "(2, 'untitled', 'feed', NULL, '\"e\"', NULL, 'h', 0, 0), (3, 'seeds', 'seeds', 'Seeds', NULL, NULL, NULL, 0, 0)"))
        conn.commit()
        command.upgrade(alembic_config(conn), "0006")
        conn.commit()
        rows = conn.execute(text("SELECT name, title, config_title, etag, body_hash FROM sources ORDER BY id")).all()
    # A stored title may be the config's or the feed's: that feed is parsed again at its next refresh.
    assert [tuple(r) for r in rows] == [("titled", "My Name", None, None, None), ("untitled", None, None, '"e"', "h"),
                                        ("seeds", None, None, None, None)]
    migrate(engine)
    store = Store(engine)
    store.sync_sources([SourceSpec("titled", "feed", None, title="My Name"), SourceSpec("untitled", "feed", None),
                        SourceSpec("seeds", "seeds", title="Seeds")])
    store.record_refresh("untitled", started=T0, finished=T0, ok=True, title="Its Own")
    store.close()
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()
        command.downgrade(alembic_config(conn), "0005")
        conn.commit()
        rows = conn.execute(text("SELECT name, title FROM sources ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("titled", "My Name"), ("untitled", "Its Own"), ("seeds", "Seeds")]


def test_upgrade_to_0005_moves_rule_texts_to_their_table_and_down_again(tmp_path: Path) -> None:
    from alembic import command

    from aggregator.db import alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0004")
        conn.execute(text("INSERT INTO sources (id, name, type, failures, retired) VALUES (1, 'one', 'feed', 0, 0)"))
        # Item 1's stored rule text says "baltic" where its title does not: classify must
        # read the stored text. Item 2 was stored before rule texts were kept (NULL).
        for n, title, match in ((1, "Cables", "cables under the baltic"), (2, "Baltic cables", None)):
            conn.execute(text(
                "INSERT INTO items (id, uid, source_id, title, content_type, truncated, first_seen, published, "
                "updated, classified, match_text) VALUES (:n, :u, 1, :t, 'html', 0, '2025-01-01 00:00:00.000000', "
                "'2025-01-01 00:00:00.000000', :upd, 0, :m)"),
                {"n": n, "u": f"urn:uuid:{n}", "t": title, "upd": f"2025-01-0{n} 00:00:00.000000", "m": match})
            conn.execute(text("INSERT INTO item_sources (item_id, source_id, key, fingerprint, first_seen) "
                              "VALUES (:n, 1, :k, 'f', '2025-01-01 00:00:00')"), {"n": n, "k": f"k{n}"})
        conn.commit()
    with engine.connect() as conn:  # make_engine's connections have foreign keys on
        with pytest.raises(RuntimeError, match="foreign_keys off"):
            command.upgrade(alembic_config(conn), "0005")
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT item_id, text FROM rule_texts ORDER BY item_id")).all() == [
            (1, "cables under the baltic"), (2, None)]
    assert "match_text" not in {c["name"] for c in inspect(engine).get_columns("items")}
    store = Store(engine)
    ids = store.sync_topics([("baltic", "Baltic")])
    assert store.classify(lambda t, names: ("baltic",) if "baltic" in t else (), "h", ids) == 2
    assert store.topic_counts() == {"baltic": 2}
    # A new item gets its row; deleting an item deletes it (foreign key, cascade).
    store.ingest("one", [EntryData(key="k3", title="Baltic patrols")], now=T0)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT text FROM rule_texts WHERE item_id = 3")).scalar() == "baltic patrols"
        conn.execute(text("DELETE FROM items WHERE id = 3"))
        assert conn.execute(text("SELECT count(*) FROM rule_texts")).scalar() == 2
    store.close()
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # as db.migrate runs them: batch mode recreates tables
        conn.commit()
        command.downgrade(alembic_config(conn), "0004")
        conn.commit()
        assert conn.execute(text("SELECT id, match_text FROM items ORDER BY id")).all() == [
            (1, "cables under the baltic"), (2, None)]
    assert "rule_texts" not in inspect(engine).get_table_names()
    engine.dispose()


def test_schema_revision_constant_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from aggregator.db import SCHEMA_REVISION, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == SCHEMA_REVISION


def test_a_missing_rule_text_row_comes_back_at_the_next_full_pass(store: Store) -> None:
    # Every item has its rule_texts row; should one ever lack it, a full reclassify (which
    # reads rule_texts) restores it empty and derives the item's text from the item.
    ids = store.sync_topics([("baltic", "Baltic"), ("news", "News")])
    store.ingest("one", [EntryData(key=f"k{n}", title=f"Baltic news {n}") for n in range(3)], now=T0)
    assert store.classify(lambda text, names: ("baltic",) if "baltic" in text else (), "h1", ids) == 3
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM rule_texts WHERE item_id = 2"))
    assert store.classify(lambda text, names: ("news",) if "news" in text else (), "h2", ids) == 3
    assert store.topic_counts() == {"baltic": 0, "news": 3}
    with store.engine.begin() as conn:
        assert conn.execute(text("SELECT item_id, text FROM rule_texts ORDER BY item_id")).all() == [
            (1, "baltic news 0"), (2, None), (3, "baltic news 2")]


def test_an_updated_item_without_its_rule_text_row_classifies_from_the_item(store: Store) -> None:
    ids = store.sync_topics([("baltic", "Baltic")])
    decide = lambda text, names: ("baltic",) if "baltic" in text else ()  # noqa: E731
    store.ingest("one", [EntryData(key="k", title="Cables")], now=T0)
    assert store.classify(decide, "h", ids) == 1 and store.topic_counts() == {"baltic": 0}
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM rule_texts"))
    store.ingest("one", [EntryData(key="k", title="Baltic cables")], now=T0 + timedelta(hours=1))
    assert store.classify(decide, "h", ids) == 1  # incremental: the text comes from the item
    assert store.topic_counts() == {"baltic": 1}


def test_an_item_whose_rule_text_is_empty_classifies(store: Store) -> None:
    ids = store.sync_topics([("baltic", "Baltic")])
    store.ingest("one", [EntryData(key="blank", title="<b></b>"), EntryData(key="k", title="Baltic news")], now=T0)
    decide = lambda text, names: ("baltic",) if "baltic" in text else ()  # noqa: E731
    assert store.classify(decide, "h", ids) == 2
    assert store.topic_counts() == {"baltic": 1}


def test_an_updated_item_moves_to_the_top_of_its_topic(store: Store) -> None:
    ids = store.sync_topics([("baltic", "Baltic")])
    decide = lambda text, names: ("baltic",) if "baltic" in text else ()  # noqa: E731
    for n in range(3):
        store.ingest("one", [EntryData(key=f"k{n}", title=f"Baltic news {n}", updated=T0 + timedelta(hours=n))],
                     now=T0 + timedelta(days=1))
    store.classify(decide, "h", ids)
    assert [i.title for i in store.newest_items("baltic", 5)] == ["Baltic news 2", "Baltic news 1", "Baltic news 0"]
    store.ingest("one", [EntryData(key="k0", title="Baltic news 0, corrected", updated=T0 + timedelta(hours=5))],
                 now=T0 + timedelta(days=1))
    store.classify(decide, "h", ids)
    assert [i.title for i in store.newest_items("baltic", 5)][0] == "Baltic news 0, corrected"
    with store.engine.connect() as conn:  # the stored rule text follows the update
        assert conn.execute(text("SELECT text FROM rule_texts WHERE item_id = 1")).scalar() == "baltic news 0, corrected"
    store.classify(decide, "h2", ids)  # a full reclassify keeps the order
    assert [i.title for i in store.newest_items("baltic", 5)][0] == "Baltic news 0, corrected"


def test_every_membership_carries_its_items_updated_as_stored(store: Store) -> None:
    # Each (topic, item) row copies its item's updated, the sort key of a topic's feed:
    # in a first classify, an incremental one after an update, and a full one after a
    # rule change; with items sharing a time and items in several topics.
    ids = store.sync_topics([("baltic", "Baltic"), ("news", "News"), ("cables", "Cables")])
    entries = [EntryData(key=f"k{n}", title=f"Baltic news {n}" + (" cables" if n % 2 else ""),
                         updated=T0 + timedelta(seconds=n // 3, microseconds=n % 3)) for n in range(40)]
    store.ingest("one", entries, now=T0)
    store.ingest("two", [EntryData(key="t", title="News without a time")], now=T0 + timedelta(days=2))

    def decide(text: str, names: Any) -> tuple[str, ...]:
        return tuple(slug for slug in ("baltic", "news", "cables") if slug in text)

    def memberships() -> list[tuple[int, int, str, str]]:
        with store.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT t.topic_id, t.item_id, t.updated, i.updated FROM item_topics t "
                "JOIN items i ON i.id = t.item_id ORDER BY t.item_id, t.topic_id"))]

    assert store.classify(decide, "h1", ids, batch=7) == 41
    rows = memberships()
    assert len(rows) == 40 * 2 + 20 + 1
    assert all(copied == own for _, _, copied, own in rows)
    store.ingest("one", [replace(entries[5], title="Baltic news 5 cables, corrected",
                                 updated=T0 + timedelta(hours=1))], now=T0 + timedelta(days=1))
    assert store.classify(decide, "h1", ids) == 1  # incremental
    store.ingest("one", [EntryData(key="new", title="Cables news", updated=T0 + timedelta(hours=2))],
                 now=T0 + timedelta(days=1))
    assert store.classify(lambda t, n: decide(t, n)[:1], "h2", ids, batch=7) == 42  # full, fewer topics
    rows = memberships()
    assert len(rows) == 42
    assert all(copied == own for _, _, copied, own in rows)
    assert [i.title for i in store.newest_items("baltic", 1)] == ["Baltic news 5 cables, corrected"]


def test_a_full_classify_skips_a_rule_text_whose_item_is_gone(store: Store, tmp_path: Path) -> None:
    # An item deleted by hand in the sqlite3 shell (foreign keys are off there by
    # default) leaves its rule_texts row behind. A full reclassify reads rule_texts, so
    # the orphan's id reaches the membership insert, which must skip it. (From the
    # thirteenth session's review.)
    import sqlite3

    ids = store.sync_topics([("baltic", "Baltic")])
    store.ingest("one", [EntryData(key=f"k{n}", title=f"Baltic {n}", updated=T0.replace(second=n))
                         for n in range(3)], now=T0)
    decide: Any = lambda text, names: ("baltic",)  # noqa: E731
    assert store.classify(decide, "h1", ids) == 3
    store.wait_for_checkpoint()
    shell = sqlite3.connect(tmp_path / "store.db")
    with shell:
        shell.execute("DELETE FROM item_topics WHERE item_id = (SELECT min(id) FROM items)")
        shell.execute("DELETE FROM items WHERE id = (SELECT min(id) FROM items)")
    shell.close()
    assert store.classify(decide, "h2", ids) == 3  # full: the rules changed
    assert [i.title for i in store.newest_items("baltic", 5)] == ["Baltic 2", "Baltic 1"]


def test_entries_of_one_source_sharing_a_link_or_text_stay_separate(store: Store) -> None:
    same_link = [EntryData(key=f"p{n}", title=f"Press release {n}", content=f"On the defence budget, part {n}.",
                           link="http://one.test/press") for n in range(3)]
    assert store.ingest("one", same_link, now=T0).new == 3
    text = "A statement long enough to count for duplicate detection by text."
    same_text = [EntryData(key=f"s{n}", title="Statement", content=text, content_type="text") for n in range(2)]
    assert store.ingest("one", same_text, now=T0).new == 2
    # Another source carrying that link tells which of them it is by its text; with another
    # text it is a story of its own (a link three stories share names none of them).
    r = store.ingest("two", [EntryData(key="x", title="Press release 1", content="On the defence budget, part 1.",
                                       link="http://one.test/press")], now=T0)
    assert (r.new, r.attached) == (0, 1)
    r = store.ingest("two", [EntryData(key="y", title="Press 2", link="http://one.test/press")], now=T0)
    assert (r.new, r.attached) == (1, 0)
    # ...and one with the text of both statements attaches to one, then to the other.
    for key in ("t1", "t2"):
        r = store.ingest("two", [EntryData(key=key, title="Statement", content=text, content_type="text")], now=T0)
        assert (r.new, r.attached) == (0, 1)
    assert store.item_count() == 6


def test_an_untitled_entry_is_titled_by_its_first_sentence(store: Store) -> None:
    body = "<p>NATO ministers met in Brussels on Tuesday. " + "More detail follows here. " * 10 + "</p>"
    store.ingest("one", [EntryData(key="u1", content=body), EntryData(key="u2", link="http://one.test/x")], now=T0)
    titles = sorted(i.title for i in store.newest_items(None, 5))
    assert titles == ["NATO ministers met in Brussels on Tuesday.", "http://one.test/x"]


def test_an_untitled_entrys_plain_text_summary_is_titled_by_its_first_paragraph(store: Store) -> None:
    # A plain-text summary's line breaks are <br>s (text_as_html): its blank line still ends
    # the paragraph a title is taken from, as it did before them.
    from aggregator.sanitize import text_as_html

    summary = text_as_html("Drills in Riga\n\nTroops arrived on Monday and stayed a week")
    store.ingest("one", [EntryData(key="u1", summary=summary, link="http://one.test/u1")], now=T0)
    assert [i.title for i in store.newest_items(None, 5)] == ["Drills in Riga"]


def test_one_of_matches_64_bit_keys_and_unicode_exactly(store: Store) -> None:
    # json_each must keep 64-bit integers exact (beyond a double's 53 bits) and text as is.
    from aggregator.store.sql import _one_of

    keys = [-(2**63), 2**63 - 1, 2**53 + 1, -(2**53) - 1, 0]
    links = ["https://ex.test/ü?q=\"x\"", "https://ex.test/a\\b", "https://ex.test/🙂"]
    with store.engine.begin() as conn:
        conn.execute(text("INSERT INTO sources (id, name, type, failures, retired) VALUES (9, 's', 'feed', 0, 0)"))
        for n, (key, link) in enumerate(zip(keys, links + [None, None])):
            conn.execute(text(
                "INSERT INTO items (uid, source_id, title, content_type, truncated, first_seen, published, "
                "updated, classified, text_key, canonical_link) VALUES (:u, 9, 't', 'html', 0, '2025-01-01', "
                "'2025-01-01', :upd, 0, :k, :l)"), {"u": f"u{n}", "upd": f"2025-01-0{n + 1} 00:00:00.000000", "k": key,
                                                   "l": link})
        found = conn.execute(select(items.c.text_key).where(_one_of(conn, items.c.text_key, keys + [2**53]))).scalars()
        assert sorted(found) == sorted(keys)
        found = conn.execute(select(items.c.canonical_link).where(_one_of(conn, items.c.canonical_link, links))).scalars()
        assert sorted(found) == sorted(links)
        # Times are compared as the text they are stored as, whatever their offset.
        day2 = datetime(2025, 1, 2, tzinfo=UTC).astimezone(timezone(timedelta(hours=3)))
        found = conn.execute(select(items.c.updated).where(_one_of(conn, items.c.updated, [day2, T0]))).scalars()
        assert list(found) == [datetime(2025, 1, 2, tzinfo=UTC)]


@pytest.mark.parametrize("how", ["sqlite", "returning"])
def test_inserted_item_ids_are_those_of_the_rows_in_order(store: Store, how: str) -> None:
    # SQLite derives ids from last_insert_rowid(); other databases use INSERT … RETURNING
    # (exercised here on SQLite, which supports it too). Both must pair each row with its id.
    from aggregator.store.ingest import _ITEM_COLUMNS, _insert_items, _insert_returning_ids

    store.ingest("one", [EntryData(key="before", title="an earlier item")], now=T0)
    rows = [dict(uid=f"urn:uuid:row-{n}", source_id=1, title=f"t{n}", link=None, canonical_link=None,
                 text_key=None, summary=None, content=None, content_type="html", author=None, truncated=False,
                 first_seen=T0, published=T0, updated=T0 + timedelta(seconds=n + 1), classified=False, image=None)
            for n in range(7)]
    with store.engine.begin() as conn:
        if how == "sqlite":  # _insert_items takes tuples of _ITEM_COLUMNS
            ids = _insert_items(conn, [tuple(r[c] for c in _ITEM_COLUMNS) for r in rows])
        else:
            ids = _insert_returning_ids(conn, rows)
        by_uid = dict(conn.execute(select(items.c.uid, items.c.id)).all())
    assert ids == [by_uid[r["uid"]] for r in rows] and len(set(ids)) == 7


def test_downgrade_to_0002_restores_the_old_text_hashes_and_schema(tmp_path: Path) -> None:
    import hashlib

    from alembic import command

    from aggregator.db import alembic_config
    from aggregator.identity import dedup_text

    body = "<p>A long enough paragraph about the Baltic Sea cables and NATO patrols.</p>"
    url = f"sqlite:///{tmp_path / 'down.db'}"
    store = Store.open(url)
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/feed")])
    store.ingest("one", [EntryData(key="titled", title="Cables", summary=body),
                         EntryData(key="untitled", summary=body.replace("Baltic", "North"))], now=T0)
    store.close()
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # as db.migrate runs them: batch mode recreates tables
        conn.commit()
        command.downgrade(alembic_config(conn), "0002")
        conn.commit()
        hashes = dict(conn.execute(text(
            "SELECT s.key, i.text_hash FROM items i JOIN item_sources s ON s.item_id = i.id")).all())
    # What the 0002 code stored: the dedup text of the entry as sent (no title when untitled).
    assert hashes == {
        "titled": hashlib.sha256(dedup_text("Cables", body).encode()).hexdigest(),
        "untitled": hashlib.sha256(dedup_text(None, body.replace("Baltic", "North")).encode()).hexdigest(),
    }
    assert "text_key" not in {c["name"] for c in inspect(engine).get_columns("items")}
    assert inspect(engine).get_pk_constraint("item_topics")["constrained_columns"] == ["topic_id", "item_id"]


def test_long_keys_and_links_stored_whole_before_they_were_hashed_still_match(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Indexed text past INDEXED_MAX bytes is stored as its hash (PostgreSQL's B-tree limit);
    # a SQLite database written before holds such values whole, and must still recognise them.
    import aggregator.store.keys as keys_module

    key, link = "tag:one.test," + "k" * 3000, "https://one.test/story?ref=" + "l" * 3000
    entry = EntryData(key=key, title="A long one", link=link, updated=T0)
    with monkeypatch.context() as m:
        m.setattr(keys_module, "INDEXED_MAX", 10**9)  # as the store was before
        assert store.ingest("one", [entry], now=T0).new == 1
    with store.reading() as conn:
        assert conn.execute(text("SELECT key FROM item_sources")).scalar() == key
    assert not store.ingest("one", [entry], now=T0 + timedelta(hours=1)).changed
    r = store.ingest("two", [EntryData(key=key, title="Echo", link=link + "#top")], now=T0)  # by the whole link
    assert (r.new, r.attached) == (0, 1)
    r = store.ingest("one", [EntryData(key=key, title="Corrected", link=link, updated=T0)], now=T0)
    assert (r.new, r.updated) == (0, 1)
    assert store.item_count() == 1
    with store.reading() as conn:  # the new row of source two: hashed
        assert conn.execute(text("SELECT key FROM item_sources WHERE source_id = 2")).scalar().startswith("sha256:")


def _ingest_at_once(url: str, jobs: list[tuple[str, list[EntryData]]]) -> list[BaseException | None]:
    """Each job ingested by its own Store (as two processes would), released together."""
    stores = [Store.open(url) for _ in jobs]
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException | None] = [None] * len(jobs)

    def run(n: int) -> None:
        barrier.wait()
        try:
            stores[n].ingest(jobs[n][0], jobs[n][1], now=T0)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors[n] = e

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    return errors


def concurrent_writers_case(store: Store, url: str) -> None:
    # `aggregator update` beside `aggregator run`: two processes storing the same entries
    # (one source) and the same stories (another source) at the same moment.
    entries = [EntryData(key=f"k{n}", title=f"Story {n}", link=f"http://x.test/{n}", updated=T0,
                         summary="<p>" + "words " * 200 + f"{n}</p>") for n in range(300)]
    for _ in range(3):
        errors = _ingest_at_once(url, [("one", entries), ("one", entries), ("two", entries)])
        assert errors == [None, None, None]
    with store.reading() as conn:
        assert conn.execute(select(func.count()).select_from(items)).scalar() == 300
        assert conn.execute(select(func.count()).select_from(item_sources)).scalar() == 600


def test_concurrent_writers_store_each_story_once(store: Store, tmp_path: Path) -> None:
    concurrent_writers_case(store, f"sqlite:///{tmp_path / 'store.db'}")


def _old_fingerprint(entry: EntryData, clamped_at: datetime | None = None) -> str:
    """store.fingerprint as first written: stored fingerprints compare against it."""
    import hashlib

    def date(value: datetime | None) -> str | None:
        if value is None:
            return None
        return "future" if clamped_at is not None and value >= clamped_at else value.isoformat()

    parts = (
        entry.title, entry.link, entry.summary, entry.content, entry.content_type, entry.author,
        date(entry.published), date(entry.updated), str(entry.truncated),
    )
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()


def _old_storable(entry: EntryData) -> EntryData:
    """store._storable before its one-scan fast path."""
    from dataclasses import replace

    from aggregator.text import NOT_XML

    names = ("key", "title", "link", "summary", "content", "author")
    bad = [name for name in names if (value := getattr(entry, name)) and NOT_XML.search(value)]
    return replace(entry, **{name: NOT_XML.sub("", getattr(entry, name)) for name in bad}) if bad else entry


def _random_entries(seed: int, n: int) -> list[EntryData]:
    import random

    rng = random.Random(seed)
    texts = [None, "", "Baltic cables", "<p>Straße &amp; NATO</p>", "a\x00b", "x\x1fy", "\ufffe", "\ud800z",
             "tab\there\nnew\rline", "é\u0301", "\U0001f600 emoji", "None", "http://example.com/a?b=1"]
    local = timezone(timedelta(hours=-4))
    times = [None, T0, T0 + timedelta(days=1), T0.astimezone(local), T0 - timedelta(microseconds=T0.microsecond)]
    out = []
    for k in range(n):
        published = rng.choice(times)
        out.append(EntryData(
            key=rng.choice(["k", f"key-{k}", "bad\x01key"]), title=rng.choice(texts), link=rng.choice(texts),
            summary=rng.choice(texts), content=rng.choice(texts), content_type=rng.choice(["html", "text"]),
            published=published, updated=rng.choice([published, *times]), author=rng.choice(texts),
            truncated=rng.random() < 0.3,
        ))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_fingerprint_and_storable_equal_their_first_versions(seed: int) -> None:
    from aggregator.store import fingerprint
    from aggregator.store.ingest import _storable

    for entry in _random_entries(seed, 200):
        cleaned = _storable(entry)
        assert cleaned == _old_storable(entry)
        assert (cleaned is entry) == (_old_storable(entry) is entry)
        for clamped in (None, T0, T0 + timedelta(hours=12)):  # the store fingerprints cleaned entries
            assert fingerprint(cleaned, clamped) == _old_fingerprint(cleaned, clamped)


def test_store_time_texts_equal_isoformat_and_the_sqlite_bind_processor() -> None:
    from sqlalchemy.dialects import sqlite

    from aggregator.models import UTCDateTime
    from aggregator.store.keys import _isoformat

    proc = UTCDateTime().bind_processor(sqlite.dialect())

    def reference(value: datetime) -> str:  # SQLAlchemy's SQLite DATETIME text of the UTC time
        return value.astimezone(UTC).isoformat(" ", "microseconds")[:-6]
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)), timezone.min]
    import random

    rng = random.Random(5)
    values = [T0, T0.replace(microsecond=0), datetime(1, 1, 1, tzinfo=UTC),
              datetime(999, 12, 31, 23, 59, 59, 5, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
              datetime(2024, 2, 29, 0, 0, 0, 1, tzinfo=UTC)]
    values += [datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(2**62) // 1000 * rng.choice([0, 1]))
               + timedelta(seconds=rng.randrange(10**10)) for _ in range(500)]
    for value in values:
        for zone in zones:
            try:
                local = value.astimezone(zone)
            except OverflowError:
                continue
            assert _isoformat(local) == local.isoformat()
            assert proc(local) == reference(local)
    assert proc(None) is None
    with pytest.raises(ValueError):
        proc(datetime(2025, 1, 1))


def test_ingest_batch_stores_refresh_records_in_its_own_transaction(store: Store) -> None:
    from aggregator.store import IngestJob, RefreshRecord

    entry = EntryData(key="a", title="A", updated=T0, published=T0)
    seen: list[list[int]] = []

    def records(results: list[Any]) -> list[RefreshRecord]:
        seen.append([r.new for r in results])
        return [RefreshRecord("one", T0, T0 + timedelta(seconds=1), ok=True, http_status=200, etag='"v1"',
                              result=results[0])]

    [result] = store.ingest_batch([IngestJob("one", [entry])], now=T0, then=records)
    assert result.new == 1 and seen == [[1]]
    status = store.statuses()["one"]
    assert status.http_status == 200 and status.items == 1 and status.last_fetch == T0 + timedelta(seconds=1)
    assert store.source_state("one").etag == '"v1"'

    def refuse(results: list[Any]) -> list[RefreshRecord]:
        raise RuntimeError("records could not be made")

    later = EntryData(key="b", title="B", updated=T0 + timedelta(hours=1), published=T0)
    with pytest.raises(RuntimeError):
        store.ingest_batch([IngestJob("two", [later])], now=T0, then=refuse)
    # One transaction: the entries went with the records that failed.
    assert store.statuses()["two"].items == 0 and store.item_count() == 1


def test_refresh_records_on_sqlite_store_what_core_would_store(store: Store) -> None:
    """On SQLite the records skip SQLAlchemy's type processing (values stay in their
    stored form): the rows must be byte for byte those of Core's own UPDATE."""
    from sqlalchemy import update

    from aggregator.models import sources
    from aggregator.store import IngestResult, RefreshRecord

    def at(s: int) -> datetime:
        return T0 + timedelta(seconds=s, microseconds=7)

    store.record_refreshes([
        RefreshRecord("one", at(0), at(1), ok=True, http_status=200, etag='"e"', last_modified="Mon", body_hash="h",
                      title="One", site_link="http://one.test/", next_run=at(3600), result=IngestResult(new=2)),
        RefreshRecord("two", at(0), at(1), ok=False, http_status=410, error="HTTP 410 Gone", retired=True),
        RefreshRecord("seeds", at(0), at(1), ok=True, warning="bad \x01 byte", keep_validators=True),
    ])
    # A failure keeps what the success stored (last_success, validators) as it was stored.
    store.record_refreshes([RefreshRecord("one", at(5), at(6), ok=False, http_status=None, error="timeout")])

    columns = [c for c in sources.c if c.name not in ("name", "type", "url", "config_url")]
    with store.reading() as conn:
        ours = conn.exec_driver_sql(f"SELECT {', '.join(c.name for c in columns)} FROM sources ORDER BY id").all()
        typed = conn.execute(select(*columns).order_by(sources.c.id)).all()
    with store.writing() as conn:  # the same values written back through Core's types
        for row in typed:
            conn.execute(update(sources).where(sources.c.id == row.id).values(dict(row._mapping)))
    with store.reading() as conn:
        core = conn.exec_driver_sql(f"SELECT {', '.join(c.name for c in columns)} FROM sources ORDER BY id").all()
    assert ours == core
    one = {c.name: v for c, v in zip(columns, ours[0])}
    assert one["last_fetch"] == "2025-01-02 03:04:11.123463" and one["last_success"] == "2025-01-02 03:04:06.123463"
    assert (one["etag"], one["failures"], one["error"], one["retired"]) == ('"e"', 1, "timeout", 0)
    assert ours[1][columns.index(sources.c.retired)] == 1 and ours[2][columns.index(sources.c.warning)] == "bad  byte"


def test_source_states_on_sqlite_read_what_core_reads(store: Store) -> None:
    """On SQLite source_states reads at the driver: every state must equal the one built
    from Core's typed row (times aware UTC, failures and retired as Core gives them)."""
    from aggregator.models import sources
    from aggregator.store import RefreshRecord

    later = T0 + timedelta(hours=1, microseconds=5)
    store.record_refreshes([
        RefreshRecord("one", T0, T0, ok=True, http_status=200, etag='"e"', last_modified="Mon", body_hash="h",
                      next_run=later),
        RefreshRecord("two", T0, T0, ok=False, http_status=410, error="HTTP 410 Gone", retired=True),
        RefreshRecord("seeds", T0, T0, ok=False, http_status=None, error="timeout", next_run=later),
    ])
    store.record_refreshes([RefreshRecord("seeds", later, later, ok=False, http_status=None, error="timeout")])
    with store.reading() as conn:
        core = {row.name: state_of(row) for row in conn.execute(select(sources))}
    states = store.source_states()
    assert states == core
    assert set(states) == {"one", "two", "seeds"}
    one, two, seeds = states["one"], states["two"], states["seeds"]
    assert one.next_run == later and one.next_run.tzinfo is timezone.utc and one.last_success == T0
    assert (one.etag, one.last_modified, one.body_hash, one.failures, one.retired) == ('"e"', "Mon", "h", 0, False)
    assert two.retired is True and two.last_success is None and seeds.failures == 2


def test_ingest_batch_behind_commits_on_the_commit_thread(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import aggregator.store.core as st
    from aggregator.store import IngestJob, RefreshRecord

    gate = threading.Event()
    committed_by: list[str] = []
    real = st._commit_and_close

    def gated(conn: Any) -> None:
        committed_by.append(threading.current_thread().name)
        assert gate.wait(10)
        real(conn)

    monkeypatch.setattr(st, "_commit_and_close", gated)

    def records(results: list[Any]) -> list[RefreshRecord]:
        return [RefreshRecord("one", T0, T0 + timedelta(seconds=1), ok=True, http_status=200, result=results[0])]

    entry = EntryData(key="a", title="A", updated=T0, published=T0)
    pending = store.ingest_batch_behind([IngestJob("one", [entry])], now=T0, then=records)
    assert [r.new for r in pending.results] == [1]
    # Written, not committed: no reader sees the item or the record yet.
    assert store.item_count() == 0 and store.statuses()["one"].last_fetch is None
    releaser = threading.Timer(0.3, gate.set)
    releaser.start()
    store.set_meta("after", "1")  # a write first waits for the commit running behind
    assert gate.is_set()
    assert [r.new for r in pending.wait()] == [1]
    assert committed_by and committed_by[0].startswith("aggregator-commit")
    assert committed_by[0] != threading.current_thread().name
    assert store.item_count() == 1 and store.statuses()["one"].last_fetch == T0 + timedelta(seconds=1)
    # The same entry again is no news: both paths store alike.
    assert [r.new for r in store.ingest_batch_behind([IngestJob("one", [entry])], now=T0).wait()] == [0]


def test_a_failed_commit_behind_stores_nothing_and_the_next_write_goes_on(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.engine import Connection

    from aggregator.store import IngestJob

    def refuse(self: Any) -> None:
        raise OSError("simulated disk I/O error")

    monkeypatch.setattr(Connection, "commit", refuse)
    entry = EntryData(key="a", title="A", updated=T0, published=T0)
    pending = store.ingest_batch_behind([IngestJob("one", [entry])], now=T0)
    with pytest.raises(OSError, match="simulated"):
        pending.wait()
    monkeypatch.undo()
    assert store.item_count() == 0
    # The failure belongs to the holder of the pending commit, not to the next write.
    failing = store.ingest_batch_behind([IngestJob("one", [entry])], now=T0)
    assert [r.new for r in store.ingest_batch([IngestJob("two", [replace_key(entry, "b")])], now=T0)] == [1]
    assert [r.new for r in failing.wait()] == [1]
    assert store.item_count() == 2


def commit_fails_once(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the next ingest's real COMMIT fail on SQLite: a deferred foreign key (an
    orphan rule text) is only checked at COMMIT, which then fails and, as SQLite does
    after such a failure, leaves the transaction open. Returns the calls seen."""
    real = Store._ingest_batch
    calls: list[int] = []

    def orphan(self: Store, conn: Any, *args: Any) -> Any:
        results = real(self, conn, *args)
        calls.append(len(calls))
        if len(calls) == 1:
            conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            conn.exec_driver_sql("INSERT INTO rule_texts (item_id, text) VALUES (999999999, 'orphan')")
        return results

    monkeypatch.setattr(Store, "_ingest_batch", orphan)
    return calls


def test_a_commit_that_fails_is_rolled_back_and_leaves_the_database_free(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from aggregator.store import IngestJob

    commit_fails_once(monkeypatch)
    entry = EntryData(key="a", title="A", updated=T0, published=T0)
    pending = store.ingest_batch_behind([IngestJob("one", [entry])], now=T0)
    with pytest.raises(Exception, match="FOREIGN KEY"):
        pending.wait()
    # Rolled back: another connection can write at once, and nothing was stored.
    with sqlite3.connect(tmp_path / "store.db", timeout=0.5) as db:
        db.execute("UPDATE meta SET value = value")
    assert store.item_count() == 0
    assert [r.new for r in store.ingest_batch_behind([IngestJob("one", [entry])], now=T0).wait()] == [1]
    assert store.item_count() == 1


def test_waiting_for_the_commit_behind_holds_every_waiter(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another thread's wait (a write of the service's) must not let this one through early.
    import aggregator.store.core as st
    from aggregator.store import IngestJob

    gate = threading.Event()
    real = st._commit_and_close

    def gated(conn: Any) -> None:
        assert gate.wait(10)
        real(conn)

    monkeypatch.setattr(st, "_commit_and_close", gated)
    store.ingest_batch_behind([IngestJob("one", [EntryData(key="a", title="A", updated=T0, published=T0)])], now=T0)
    waiters = [threading.Thread(target=store.wait_for_commit) for _ in range(2)]
    for w in waiters:
        w.start()
    for w in waiters:
        w.join(0.3)
    assert all(w.is_alive() for w in waiters)
    gate.set()
    for w in waiters:
        w.join(10)
    assert not any(w.is_alive() for w in waiters) and store.item_count() == 1


def test_a_stop_that_cannot_wait_closes_without_the_stuck_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import aggregator.store.core as st
    from aggregator.errors import StoreError
    from aggregator.store import IngestJob

    s = Store.open(f"sqlite:///{tmp_path / 'stuck.db'}")
    s.sync_sources([SourceSpec("one", "feed", "http://one.test/feed")])
    gate = threading.Event()
    real = st._commit_and_close

    def stuck(conn: Any) -> None:
        gate.wait(10)
        real(conn)

    monkeypatch.setattr(st, "_commit_and_close", stuck)
    entry = EntryData(key="a", title="A", updated=T0, published=T0)
    s.ingest_batch_behind([IngestJob("one", [entry])], now=T0)
    started = time.monotonic()
    s.close(wait=False)
    assert time.monotonic() - started < 2
    with pytest.raises(StoreError, match="closed"):
        s.ingest_batch_behind([IngestJob("one", [entry])], now=T0)
    gate.set()


def test_closing_the_store_waits_for_the_commit_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import aggregator.store.core as st
    from aggregator.store import IngestJob

    url = f"sqlite:///{tmp_path / 'close.db'}"
    s = Store.open(url)
    s.sync_sources([SourceSpec("one", "feed", "http://one.test/feed")])
    real = st._commit_and_close

    def slow(conn: Any) -> None:
        threading.Event().wait(0.3)
        real(conn)

    monkeypatch.setattr(st, "_commit_and_close", slow)
    s.ingest_batch_behind([IngestJob("one", [EntryData(key="a", title="A", updated=T0, published=T0)])], now=T0)
    s.close()
    again = Store.open(url)
    try:
        assert again.item_count() == 1
    finally:
        again.close()


def test_an_in_memory_database_commits_behind_in_place() -> None:
    from aggregator.store import IngestJob

    s = Store.open("sqlite://")
    try:
        s.sync_sources([SourceSpec("one", "feed", "http://one.test/feed")])
        pending = s.ingest_batch_behind([IngestJob("one", [EntryData(key="a", title="A", updated=T0,
                                                                          published=T0)])], now=T0)
        assert [r.new for r in pending.wait()] == [1] and s.item_count() == 1
    finally:
        s.close()


def _main_file_items(db: Path, tmp_path: Path) -> list[str]:
    """Item titles in the database file alone, as a copy without its write-ahead log
    reads it: what checkpoints have copied there."""
    import shutil
    import sqlite3

    copy = tmp_path / f"copy-of-{db.name}"
    shutil.copyfile(db, copy)
    with sqlite3.connect(copy) as c:
        return [t for (t,) in c.execute("SELECT title FROM items ORDER BY title")]


@pytest.mark.parametrize("behind", [False, True])
def test_each_commit_is_checkpointed_into_the_database_file_on_a_thread_of_its_own(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, behind: bool
) -> None:
    from aggregator.store import IngestJob

    ran_on: list[str] = []
    real = Store._checkpoint

    def recording(self: Store) -> None:
        ran_on.append(threading.current_thread().name)
        real(self)

    monkeypatch.setattr(Store, "_checkpoint", recording)
    # One small commit: far below the log size at which a writer checkpoints in place.
    job = IngestJob("one", [EntryData(key="a", title="Alpha", updated=T0, published=T0)])
    if behind:
        store.ingest_batch_behind([job], now=T0).wait()
    else:
        store.ingest_batch([job], now=T0)
    store.wait_for_checkpoint()
    assert ran_on and all(name.startswith("aggregator-checkpoint") for name in ran_on)
    assert _main_file_items(tmp_path / "store.db", tmp_path) == ["Alpha"]


def _gate_checkpoints(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event, list[int]]:
    """Make each checkpoint wait for the returned gate: (gate, a checkpoint started, its calls)."""
    gate = threading.Event()
    started = threading.Event()
    calls: list[int] = []
    real = Store._checkpoint

    def gated(self: Store) -> None:
        calls.append(len(calls))
        started.set()
        assert gate.wait(10)
        real(self)

    monkeypatch.setattr(Store, "_checkpoint", gated)
    return gate, started, calls


def test_commits_made_while_a_checkpoint_runs_get_one_more_not_one_each(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate, started, calls = _gate_checkpoints(monkeypatch)
    store.set_meta("k", "0")
    assert started.wait(10)  # the first checkpoint runs, and waits
    for n in range(1, 6):
        store.set_meta("k", str(n))  # each queues behind it; one queued covers them all
    gate.set()
    store.wait_for_checkpoint()
    assert calls == [0, 1]


def test_a_failing_checkpoint_is_logged_and_the_writes_go_on(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy.engine import Connection

    from aggregator.store import IngestJob

    real = Connection.exec_driver_sql

    def failing(self: Any, statement: str, *args: Any, **kw: Any) -> Any:
        if "wal_checkpoint" in statement:
            raise OSError("simulated disk I/O error")
        return real(self, statement, *args, **kw)

    monkeypatch.setattr(Connection, "exec_driver_sql", failing)
    entry = EntryData(key="a", title="Alpha", updated=T0, published=T0)
    assert [r.new for r in store.ingest_batch([IngestJob("one", [entry])], now=T0)] == [1]
    store.wait_for_checkpoint()
    assert "checkpoint of the database's write-ahead log failed: simulated disk I/O error" in caplog.text
    assert _main_file_items(tmp_path / "store.db", tmp_path) == []  # still only in the log
    monkeypatch.undo()
    assert [r.new for r in store.ingest_batch([IngestJob("two", [replace_key(entry, "b")])], now=T0)] == [1]
    store.wait_for_checkpoint()
    assert store.item_count() == 2
    assert _main_file_items(tmp_path / "store.db", tmp_path) == ["Alpha", "Alpha"]


def test_a_cache_that_cannot_be_narrowed_again_is_logged_and_the_connection_goes_back(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import aggregator.db as db
    from aggregator.store import IngestJob

    import aggregator.store.core as core

    real = core.ingest

    def then_break_the_narrowing(conn: Any, *args: Any) -> Any:
        results = real(conn, *args)
        monkeypatch.setattr(db, "CACHE_KIB", "1024; SELECT 1")  # sqlite3 refuses two statements
        return results

    monkeypatch.setattr(core, "ingest", then_break_the_narrowing)
    job = IngestJob("one", [EntryData(key=f"k{n}", title=f"Story {n}", updated=T0 + timedelta(seconds=n),
                                      published=T0) for n in range(300)])
    assert [r.new for r in store.ingest_batch([job], now=T0)] == [300]  # committed, and says so
    assert "could not narrow a database connection's page cache again" in caplog.text
    assert store.engine.pool.checkedout() == 0
    monkeypatch.undo()
    # The connection stays wide until its next return, which narrows it.
    for _ in range(2):
        conns = [store.engine.connect() for _ in range(5)]  # the whole pool
        sizes = [c.exec_driver_sql("PRAGMA cache_size").scalar() for c in conns]
        for c in conns:
            c.close()
    assert sorted(sizes) == [-1024] * 5


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("aggregator-checkpoint")]


def test_closing_the_store_ends_its_checkpoint_thread(tmp_path: Path) -> None:
    s = Store.open(f"sqlite:///{tmp_path / 'close.db'}")
    s.set_meta("k", "v")
    s.wait_for_checkpoint()
    assert _checkpoint_threads()
    s.close()
    assert not _checkpoint_threads()


def test_a_stop_that_cannot_wait_leaves_no_checkpoint_to_reopen_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Store.open(f"sqlite:///{tmp_path / 'stop.db'}")
    gate, started, calls = _gate_checkpoints(monkeypatch)
    s.set_meta("k", "1")
    assert started.wait(10)  # one checkpoint runs and waits ...
    s.set_meta("k", "2")  # ... and one is queued behind it
    threads = _checkpoint_threads()
    s.close(wait=False)
    gate.set()
    for t in threads:
        t.join(10)
    # The queued checkpoint never ran, and the running one did not open a connection
    # in the pool that close() had just emptied.
    assert calls == [0]
    assert s.engine.pool.checkedin() == 0 and s.engine.pool.checkedout() == 0


def test_a_write_while_the_interpreter_shuts_down_still_succeeds(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aggregator.store import IngestJob

    store.set_meta("k", "0")
    store.wait_for_checkpoint()
    assert store._checkpointer is not None

    def refuse(*args: Any, **kw: Any) -> Any:
        raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    # What concurrent.futures does once the main thread has returned.
    monkeypatch.setattr(store._checkpointer, "submit", refuse)
    store.set_meta("k", "1")
    entry = EntryData(key="a", title="A", updated=T0, published=T0)
    assert [r.new for r in store.ingest_batch([IngestJob("one", [entry])], now=T0)] == [1]
    pending = store.ingest_batch_behind([IngestJob("two", [replace_key(entry, "b")])], now=T0)
    assert [r.new for r in pending.wait()] == [1]
    assert store.get_meta("k") == "1" and store.item_count() == 2


@pytest.mark.parametrize(("entries", "wanted"), [(10, -1024), (300, -1200), (5000, -8192)])  # KiB
def test_a_large_ingest_gets_4_kib_of_cache_per_entry_until_its_connection_is_back(
    store: Store, monkeypatch: pytest.MonkeyPatch, entries: int, wanted: int
) -> None:
    from aggregator.store import IngestJob

    seen: list[int] = []
    import aggregator.store.core as core

    real = core.ingest

    def looking(conn: Any, *args: Any) -> Any:
        seen.append(conn.exec_driver_sql("PRAGMA cache_size").scalar())
        return real(conn, *args)

    monkeypatch.setattr(core, "ingest", looking)
    job = IngestJob("one", [EntryData(key=f"k{n}", title=f"Story {n}", updated=T0 + timedelta(seconds=n),
                                      published=T0) for n in range(entries)])
    assert [r.new for r in store.ingest_batch([job], now=T0)] == [entries]
    assert store.ingest_batch_behind([IngestJob("two", job.entries)], now=T0).wait()[0].new == entries
    assert seen == [wanted, wanted]
    # Every pooled connection is back at 1 MiB, whichever of them wrote.
    conns = [store.engine.connect() for _ in range(5)]  # the whole pool
    try:
        assert {c.exec_driver_sql("PRAGMA cache_size").scalar() for c in conns} == {-1024}
    finally:
        for c in conns:
            c.close()


def replace_key(entry: EntryData, key: str) -> EntryData:
    from dataclasses import replace

    return replace(entry, key=key, updated=entry.updated + timedelta(hours=1) if entry.updated else None)


def test_data_version_counts_changing_ingests_past_32_bits(store: Store) -> None:
    from aggregator.store import IngestJob

    v0 = store.data_version()
    store.ingest_batch([IngestJob("one", [EntryData(key="a", title="A", updated=T0, published=T0)])], now=T0)
    assert store.data_version() == v0 + 1
    store.ingest_batch([IngestJob("one", [EntryData(key="a", title="A", updated=T0, published=T0)])], now=T0)
    assert store.data_version() == v0 + 1  # nothing changed: no new version
    # The bump is done in SQL: on PostgreSQL an INTEGER cast would overflow here.
    store.set_meta("data_version", "2147483647")
    later = EntryData(key="b", title="B", updated=T0 + timedelta(hours=1), published=T0)
    store.ingest_batch([IngestJob("two", [later])], now=T0)
    assert store.data_version() == 2147483648


def test_refresh_history_is_pruned_to_a_month_once_a_day(store: Store) -> None:
    from sqlalchemy import func, select

    from aggregator.models import fetches
    from aggregator.pipeline import prune_history

    def attempts() -> list[datetime]:
        with store.reading() as conn:
            return sorted(conn.execute(select(fetches.c.finished)).scalars())

    for days in (40, 31, 5):
        at = T0 - timedelta(days=days)
        store.record_refresh("one", started=at, finished=at, ok=True)
    prune_history(store, T0)
    assert attempts() == [T0 - timedelta(days=5)]
    old = T0 - timedelta(days=90)
    store.record_refresh("one", started=old, finished=old, ok=False, error="x")
    prune_history(store, T0 + timedelta(hours=23))  # once a day at most
    assert len(attempts()) == 2
    prune_history(store, T0 + timedelta(hours=25))
    assert attempts() == [T0 - timedelta(days=5)]
    assert store.source_state("one").failures == 1  # the source's own state is kept
    with store.reading() as conn:
        assert conn.execute(select(func.count()).select_from(fetches)).scalar() == 1
    # A long history goes in chunks, a transaction each, all of it.
    for days in range(40, 45):
        at = T0 - timedelta(days=days)
        store.record_refresh("two", started=at, finished=at, ok=True)
    assert store.prune_fetches(T0 - timedelta(days=30), chunk=2) == 5
    assert attempts() == [T0 - timedelta(days=5)]


def test_the_history_prune_finds_old_attempts_by_an_index_not_a_scan(store: Store) -> None:
    # The last chunk of every daily prune (fewer rows than a chunk) would otherwise read
    # the whole history: ≈ 1.4 million rows for 1,000 half-hourly sources.
    from sqlalchemy import select

    from aggregator.models import fetches

    query = select(fetches.c.id).where(fetches.c.finished < T0).limit(20_000)
    with store.reading() as conn:
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        plan = " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    assert "ix_fetches_finished" in plan, plan


def test_statuses_of_some_sources_read_only_their_rows(store: Store) -> None:
    # The service notes a refresh's outcome with its source's row only: reading every row
    # at each refresh took ~13 ms at 2,000 sources, a good part of a core on short intervals.
    every = store.statuses(count_items=False)
    assert set(every) > {"one"}
    assert store.statuses(count_items=False, names=["one"]) == {"one": every["one"]}
    assert store.statuses(count_items=False, names=["nobody"]) == {}


def test_a_source_another_process_adds_during_a_classify_does_not_fail_it(store: Store, tmp_path: Path) -> None:
    # `publish` beside a running service: the service takes a new source from its reloaded
    # config and stores its first items between two batches of the classify (KeyError).
    from sqlalchemy import event

    other = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    ids = store.sync_topics([("baltic", "Baltic")])
    store.ingest("one", [EntryData(key="a", title="Baltic news")], now=T0)
    steps: list[str] = []

    def on_commit(conn: Connection) -> None:
        if not steps:
            steps.append("first batch")

    def on_begin(conn: Connection) -> None:
        if steps == ["first batch"] and threading.current_thread() is threading.main_thread():
            steps.append("source added")  # before the next batch locks the database
            other.sync_sources([SourceSpec("new", "feed", "http://new.test/feed")])
            other.ingest("new", [EntryData(key="b", title="Baltic cables")], now=T0)

    event.listen(store.engine, "commit", on_commit)
    event.listen(store.engine, "begin", on_begin)
    try:
        decide = lambda text, names: ("baltic",) if "baltic" in text and "new" in names else ()  # noqa: E731
        assert store.classify(decide, "h", ids, batch=1) == 2
    finally:
        event.remove(store.engine, "begin", on_begin)
        event.remove(store.engine, "commit", on_commit)
        other.close()
    assert steps == ["first batch", "source added"] and store.topic_counts() == {"baltic": 1}


@pytest.mark.parametrize("stored_as", ["since_schema_0010", "before_schema_0010", "author_unread"])
@pytest.mark.parametrize("zone, misread", [
    ("+0530", timedelta(minutes=30)),  # India, read as +05:00
    ("+0545", timedelta(minutes=40)),  # Nepal, read as +05:05
    ("-0330", timedelta(minutes=-30)),  # Newfoundland, read as -03:00
    ("+1030", timedelta(minutes=30)),  # South Australia's summer, read as +10:00
])
def test_an_entry_stored_with_a_zone_s_minutes_misread_keeps_its_times(
        store: Store, zone: str, misread: timedelta, stored_as: str) -> None:
    # "2024-01-01T10:00:00+0530": releases before read the zone's minutes from their last
    # digit, the instant `misread` late (west of UTC early). Read right now, the date the
    # feed sends is no news, nor with another reading of this release (an author), nor
    # for a link row stored before schema 0010 (no undated fingerprint): its stored entries
    # keep their times, where they went to the top of every feed.
    from aggregator.fastparse import parse_date
    from aggregator.pipeline import _REREAD_SHIFTS

    sent = parse_date(f"2024-01-01T10:00:00{zone}")
    assert isinstance(sent, datetime)
    post = EntryData(key="post", title="Post", content="<p>Body.</p>", content_type="html",
                     published=sent, updated=sent, author="Jo")
    old = replace(post, published=sent + misread, updated=sent + misread)
    store.ingest("one", [replace(old, author=None) if stored_as == "author_unread" else old], now=T0)
    if stored_as == "before_schema_0010":
        with store.engine.begin() as conn:
            conn.execute(item_sources.update().values(undated_fingerprint=None))
    [r] = store.ingest_batch([IngestJob("one", [post], reread_shifts=_REREAD_SHIFTS)], now=T0 + timedelta(hours=1))
    # Only dates that moved leave the item as it was; else it takes this release's reading.
    assert (r.new, r.updated) == (0, 0 if stored_as == "since_schema_0010" else 1)
    [item] = store.newest_items(None, 10)
    assert item.updated == old.updated  # its time kept
    assert item.author == "Jo"
    # A real change is still one.
    [r] = store.ingest_batch([IngestJob("one", [replace(post, content="<p>Edited.</p>")], reread_shifts=_REREAD_SHIFTS)],
                             now=T0 + timedelta(hours=2))
    assert r.updated == 1
    assert store.newest_items(None, 10)[0].updated > old.updated


def test_0014_s_downgrade_has_every_feed_read_anew_by_the_release_before(tmp_path: Path) -> None:
    check_0014_s_downgrade_has_every_feed_read_anew_by_the_release_before(f"sqlite:///{tmp_path / 'store.db'}")


def check_0014_s_downgrade_has_every_feed_read_anew_by_the_release_before(url: str) -> None:
    """The release before 0014 reads feeds otherwise: a news aggregator's item keeps its
    outlet in its title and has no author. Taken back to 0013 after this release's re-read
    (a real body hash and validators), its feeds' next change was parsed by that release
    without its re-read mark: the item's stored title, this release's, and the one read
    then differed, and every such entry of the feed's window went to the top of every feed
    as news. The downgrade marks every feed for that release's re-read (REREAD, whose
    entries take its readings keeping their times), dropping the validators; the items
    keep every row. (test_postgres runs it too.)"""
    from alembic import command

    from aggregator.db import alembic_config

    store = Store.open(url)
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/feed"), SourceSpec("seeds", "seeds")])
    store.ingest("one", [EntryData(key="p", title="Cables cut", author="Reuters", image="http://one.test/a.jpg",
                                   content="<p>Text</p>", updated=T0)], now=T0)
    store.record_refresh("one", started=T0, finished=T0, ok=True, etag='"e"', last_modified="x", body_hash="h")
    store.close()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            command.downgrade(alembic_config(conn), "0013")
            conn.commit()
        with engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT name, body_hash FROM sources")).all())
            assert rows == {"one": "reread", "seeds": None}
            assert conn.execute(text("SELECT etag, last_modified FROM sources WHERE name = 'one'")).one() == (None, None)
            assert conn.execute(text("SELECT title, author FROM items")).all() == [("Cables cut", "Reuters")]
    finally:
        engine.dispose()


def test_0014_keeps_pictures_and_has_every_feed_read_anew(tmp_path: Path) -> None:
    check_0014_keeps_pictures_and_has_every_feed_read_anew(f"sqlite:///{tmp_path / 'store.db'}")


def check_0014_keeps_pictures_and_has_every_feed_read_anew(url: str) -> None:
    """Schema 0014: items keep a picture. Items stored before have none; every feed is read
    anew once, and an item whose entry then carries a picture takes it, keeping its times.
    The downgrade keeps every row (a copied table would cascade to the rows referring to
    it). (test_postgres runs it too.)"""
    store = Store.open(url)
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/feed"), SourceSpec("seeds", "seeds")])
    post = EntryData(key="p", title="Post", content="<p>Text</p>", updated=T0)
    store.ingest("one", [post], now=T0)
    store.record_refresh("one", started=T0, finished=T0, ok=True, etag='"e"', last_modified="x", body_hash="h")
    [before] = store.newest_items(None, 10)
    store.close()
    store = migrated_again(url, "0013", "0014")
    try:
        state = store.source_states()["one"]
        assert (state.etag, state.last_modified, state.body_hash) == (None, None, "reread")
        assert store.source_states()["seeds"].body_hash != "reread"
        [item] = store.newest_items(None, 10)
        assert item == before and item.image is None
        r = store.ingest("one", [replace(post, image="http://one.test/a.jpg")], now=T0 + timedelta(days=1))
        assert (r.new, r.updated) == (0, 1)
        [item] = store.newest_items(None, 10)
        assert item == replace(before, image="http://one.test/a.jpg")
    finally:
        store.close()


def test_0015_keeps_the_url_each_feed_was_read_from(tmp_path: Path) -> None:
    check_0015_keeps_the_url_each_feed_was_read_from(f"sqlite:///{tmp_path / 'store.db'}")


def check_0015_keeps_the_url_each_feed_was_read_from(url: str) -> None:
    """Schema 0015: a source keeps the URL its stored entries' relative links were resolved
    against, filled in with its URL; a parse stores its own, a refresh that parses nothing
    leaves it. The downgrade keeps every row. (test_postgres runs it too.)"""
    store = Store.open(url)
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/old/feed"), SourceSpec("seeds", "seeds")])
    store.ingest("one", [EntryData(key="http://one.test/old/a", title="A", link="http://one.test/old/a")], now=T0)
    store.close()
    store = migrated_again(url, "0014", "0015")
    try:
        assert store.source_states()["one"].link_base == "http://one.test/old/feed"
        assert store.source_states()["seeds"].link_base is None
        store.record_refresh("one", started=T0, finished=T0, ok=True, link_base="http://one.test/new/feed")
        store.record_refresh("one", started=T0, finished=T0, ok=True, body_hash="h")  # nothing parsed
        assert store.source_state("one").link_base == "http://one.test/new/feed"
        assert store.source_states()["one"].link_base == "http://one.test/new/feed"
        assert len(store.newest_items(None, 10)) == 1
    finally:
        store.close()


def test_0017_keeps_no_password_in_the_url_a_feed_was_read_from(tmp_path: Path) -> None:
    check_0017_keeps_no_password_in_the_url_a_feed_was_read_from(f"sqlite:///{tmp_path / 'store.db'}")


def check_0017_keeps_no_password_in_the_url_a_feed_was_read_from(url: str) -> None:
    """Schema 0015 filled link_base in with each feed's URL, a private feed's user and
    password with it (a parse stores its URL without them): 0017 takes them out, and
    leaves every other URL as it is. (test_postgres runs it too.)"""
    store = Store.open(url)
    store.sync_sources([SourceSpec("private", "feed", "https://reader:s3cr%40t@one.test/feed?u=a@b"),
                        SourceSpec("at-in-path", "feed", "https://two.test/@me/feed"),
                        SourceSpec("plain", "feed", "https://three.test/feed"), SourceSpec("seeds", "seeds")])
    store.close()
    store = migrated_again(url, "0014", "0017")
    try:
        states = store.source_states()
        assert {name: states[name].link_base for name in states} == {
            "private": "https://one.test/feed?u=a@b", "at-in-path": "https://two.test/@me/feed",
            "plain": "https://three.test/feed", "seeds": None}
        assert states["private"].url == "https://reader:s3cr%40t@one.test/feed?u=a@b"  # the fetch still sends them
    finally:
        store.close()


def test_an_entry_found_where_its_feed_was_before_it_moved_is_news_only_if_it_changed(tmp_path: Path) -> None:
    # A feed of relative links moved from /old/ to /new/: its entries are found by the keys
    # their links had under /old/. One the feed also edited is dated anew, as any edit is;
    # one whose old key the document sends too is that entry's, not taken from it.
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/old/feed.xml")])

    def entry(folder: str, n: int, text: str = "As it was.") -> EntryData:
        link = f"http://one.test/{folder}/story-{n}.html"
        return EntryData(key=link, title=f"Story {n}", link=link, summary=f"<p>{text}</p>", published=T0)

    store.ingest("one", [entry("old", 1), entry("old", 2), entry("old", 3)], now=T0)
    before = {i.title: i for i in store.newest_items(None, 10)}
    moved = ("http://one.test/old/feed.xml", "http://one.test/new/feed.xml")
    later = T0 + timedelta(days=1)
    [r] = store.ingest_batch([IngestJob("one", [entry("new", 1), entry("new", 2, "Edited."), entry("new", 3),
                                                entry("old", 3)], moved=moved)], now=later)
    assert (r.new, r.updated) == (1, 2)  # story 3 at /new/ is new: the feed still sends its /old/ link
    after = {(i.title, i.link): i for i in store.newest_items(None, 10)}
    assert len(after) == 4
    one = after[("Story 1", "http://one.test/new/story-1.html")]
    assert (one.id, one.updated, one.published) == (before["Story 1"].id, before["Story 1"].updated, T0)
    two = after[("Story 2", "http://one.test/new/story-2.html")]
    assert two.id == before["Story 2"].id and two.updated == later
    assert after[("Story 3", "http://one.test/old/story-3.html")].id == before["Story 3"].id
    # Keyed anew: the next document, at the same URL, finds them by their keys.
    [r] = store.ingest_batch([IngestJob("one", [entry("new", 1), entry("new", 2, "Edited.")])], now=later)
    assert (r.new, r.updated) == (0, 0)
    store.close()


def _moving_entry(folder: str, n: int, text: str = "As it was.", host: str = "one.test") -> EntryData:
    link = f"http://{host}/{folder}/story-{n}.html"
    return EntryData(key=link, title=f"Story {n}", link=link, summary=f"<p>{text} Number {n}.</p>", published=T0)


def _ids_once(store: Store) -> list[str]:
    ids = [i.id for i in store.newest_items(None, 100)]
    assert len(ids) == len(set(ids)), f"two items publish one id: {sorted(ids)}"
    return ids


def test_an_entry_sent_under_the_link_a_moved_entry_had_is_published_under_an_id_of_its_own(tmp_path: Path) -> None:
    check_an_entry_sent_under_the_link_a_moved_entry_had_is_published_under_an_id_of_its_own(
        f"sqlite:///{tmp_path / 'store.db'}")


def check_an_entry_sent_under_the_link_a_moved_entry_had_is_published_under_an_id_of_its_own(url: str) -> None:
    # Story 1 of a feed of relative links moved from /old/ to /new/, its item keeping the
    # id made of its /old/ key. The feed then also sends the /old/ link whole, as an
    # entry of its own (a "moved here" note, a CMS listing both): that entry took the
    # same id, and both were published with one atom:id (DuplicateEntries). (test_postgres too.)
    store = Store.open(url)
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/old/feed.xml")])
    store.ingest("one", [_moving_entry("old", 1), _moving_entry("old", 2)], now=T0)
    moved = ("http://one.test/old/feed.xml", "http://one.test/new/feed.xml")
    later = T0 + timedelta(days=1)
    [r] = store.ingest_batch([IngestJob("one", [_moving_entry("new", 1), _moving_entry("new", 2)], moved=moved)],
                             now=later)
    assert (r.new, r.updated) == (0, 2)
    [r] = store.ingest_batch([IngestJob("one", [_moving_entry("new", 1), _moving_entry("new", 2),
                                                _moving_entry("old", 1, "A note that it moved.")])],
                             now=later + timedelta(hours=1))
    assert (r.new, r.updated) == (1, 0)
    assert len(_ids_once(store)) == 3
    store.close()


def check_a_feed_behind_a_temporary_redirect_keeps_its_entries_and_finds_its_new_ones_when_it_ends(url: str) -> None:
    # A 302 sends the feed to a mirror for now: its entries kept their keys only by being
    # re-keyed at each fetch, their links (and every feed's bytes) flipping between mirrors.
    # Now those found where it was are read as they were there (nothing to store), a new
    # one is stored at the mirror's link and found at the feed's own when the 302 ends.
    store = Store.open(url)
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/old/feed.xml")])
    store.ingest("one", [_moving_entry("old", 1), _moving_entry("old", 2)], now=T0)
    before = {i.title: (i.id, i.updated, i.link) for i in store.newest_items(None, 10)}
    for_now = ("http://one.test/old/feed.xml", "http://one.test/m2/feed.xml")
    t = T0 + timedelta(days=1)
    [r] = store.ingest_batch([IngestJob("one", [_moving_entry("m2", n) for n in (1, 2, 3)], moved=for_now,
                                        for_now=True)], now=t)
    assert (r.new, r.updated) == (1, 0)
    during = {i.title: (i.id, i.updated, i.link) for i in store.newest_items(None, 10)}
    assert {k: during[k] for k in before} == before and during["Story 3"][2] == "http://one.test/m2/story-3.html"
    [r] = store.ingest_batch([IngestJob("one", [_moving_entry("m2", n) for n in (1, 2, 3)], moved=for_now,
                                        for_now=True)], now=t + timedelta(hours=1))
    assert (r.new, r.updated) == (0, 0)
    [r] = store.ingest_batch([IngestJob("one", [_moving_entry("old", n) for n in (1, 2, 3, 4)])],
                             now=t + timedelta(hours=2))
    assert (r.new, r.updated) == (1, 1)  # story 3 takes its link here, keeping its id and times
    after = {i.title: (i.id, i.updated, i.link) for i in store.newest_items(None, 10)}
    assert len(_ids_once(store)) == 4 and {k: after[k] for k in before} == before
    assert after["Story 3"] == (*during["Story 3"][:2], "http://one.test/old/story-3.html")
    [r] = store.ingest_batch([IngestJob("one", [_moving_entry("old", n) for n in (1, 2, 3, 4)])],
                             now=t + timedelta(hours=3))
    assert (r.new, r.updated) == (0, 0)
    # A permanent move (no for_now) re-keys them, as before.
    [r] = store.ingest_batch([IngestJob("one", [_moving_entry("new", n) for n in (1, 2, 3, 4)],
                                        moved=("http://one.test/old/feed.xml", "http://one.test/new/feed.xml"))],
                             now=t + timedelta(hours=4))
    assert (r.new, r.updated) == (0, 4) and len(_ids_once(store)) == 4
    store.close()


def test_a_feed_behind_a_temporary_redirect_keeps_its_entries_and_finds_its_new_ones_when_it_ends(
    tmp_path: Path,
) -> None:
    check_a_feed_behind_a_temporary_redirect_keeps_its_entries_and_finds_its_new_ones_when_it_ends(
        f"sqlite:///{tmp_path / 'store.db'}")


def check_a_story_new_behind_a_302_is_that_story_at_the_next_mirror(url: str) -> None:
    # Story 3, first seen at mirror m1 (keyed there, its key at /old/ left as a former key),
    # was looked up at mirror m2 among stored keys only: stored a second time.
    store = Store.open(url)
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/old/feed.xml")])
    store.ingest("one", [_moving_entry("old", 1), _moving_entry("old", 2)], now=T0)
    old = "http://one.test/old/feed.xml"
    t = T0 + timedelta(days=1)
    [r] = store.ingest_batch([IngestJob("one", [_moving_entry("m1", n) for n in (1, 2, 3)],
                                        moved=(old, "http://one.test/m1/feed.xml"), for_now=True)], now=t)
    assert (r.new, r.updated) == (1, 0)
    [r] = store.ingest_batch([IngestJob("one", [_moving_entry("m2", n) for n in (1, 2, 3)],
                                        moved=(old, "http://one.test/m2/feed.xml"), for_now=True)], now=t)
    assert (r.new, r.updated) == (0, 0)
    assert len(_ids_once(store)) == 3
    [r] = store.ingest_batch([IngestJob("one", [_moving_entry("old", n) for n in (1, 2, 3)])], now=t)
    assert (r.new, r.updated) == (0, 1)  # story 3 takes its link at /old/
    assert {i.link for i in store.newest_items(None, 10)} == {f"http://one.test/old/story-{n}.html" for n in (1, 2, 3)}
    store.close()


def test_a_story_new_behind_a_302_is_that_story_at_the_next_mirror(tmp_path: Path) -> None:
    check_a_story_new_behind_a_302_is_that_story_at_the_next_mirror(f"sqlite:///{tmp_path / 'store.db'}")


def test_an_entry_that_was_away_when_its_feed_moved_back_is_found_when_it_returns(tmp_path: Path) -> None:
    # A 302 sent the feed to /new/ for a while (its entries re-keyed there), then ended: at
    # /old/ again, the entries in that document moved back. Story 1, out of that document
    # (a feed of the newest few), came back later under its /old/ link: not found by it
    # (its row was keyed /new/), it was stored anew with the id its item already had.
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/old/feed.xml")])
    store.ingest("one", [_moving_entry("old", 1), _moving_entry("old", 2)], now=T0)
    there = ("http://one.test/old/feed.xml", "http://one.test/new/feed.xml")
    back = there[::-1]
    t = T0 + timedelta(days=1)
    store.ingest_batch([IngestJob("one", [_moving_entry("new", 1), _moving_entry("new", 2)], moved=there)], now=t)
    [r] = store.ingest_batch([IngestJob("one", [_moving_entry("old", 2)], moved=back)], now=t + timedelta(hours=1))
    assert (r.new, r.updated) == (0, 1)
    before = {i.title: (i.id, i.updated) for i in store.newest_items(None, 10)}
    [r] = store.ingest_batch([IngestJob("one", [_moving_entry("old", 1), _moving_entry("old", 2)])],
                             now=t + timedelta(hours=2))
    assert (r.new, r.updated) == (0, 1)  # story 1 takes its /old/ link back: no news
    assert len(_ids_once(store)) == 2
    after = {i.title: (i.id, i.updated, i.link) for i in store.newest_items(None, 10)}
    assert {k: v[:2] for k, v in after.items()} == before
    assert after["Story 1"][2] == "http://one.test/old/story-1.html"
    [r] = store.ingest_batch([IngestJob("one", [_moving_entry("old", 1), _moving_entry("old", 2)])],
                             now=t + timedelta(hours=3))
    assert (r.new, r.updated) == (0, 0)
    store.close()


# Date forms this release reads otherwise than the release before (test_fastparse's
# MISREAD_DATES): the release before's reading, and this one's.
_REREAD_FORMS = [
    "20240101T100000Z",  # basic format: midnight, now 10:00
    "2024-060",  # ordinal: 1 June, now 29 February
    "2024-01-01T10:00:00+5:30",  # a one-digit zone hour: UTC, now 04:30
    "Mon Jan 1 10:00:00 2024 +0530",  # asctime zoned after the year: the year 530 (no date), now a date
    "Mon, 01 Jan 2024 10:00:00 GMT+2",  # none, now a date
    "2024/01/01 10:00:00",  # the first of the current month, now none
    "20240101T990000Z",  # midnight, now none (hour 99)
]


def _read_before(value: str) -> datetime | None:
    """``value`` as the release before 0018 read it: feedparser's own date handlers."""
    from aggregator import fastparse
    from aggregator.parse import _struct_date

    for handler in fastparse._FEEDPARSERS_HANDLERS:
        try:
            reading = handler(value)
        except (KeyError, OverflowError, ValueError, AttributeError):
            continue
        if reading and len(reading) == 9:
            return _struct_date(reading, T0)
    return None


@pytest.mark.parametrize("value", _REREAD_FORMS)
def test_an_entry_stored_with_a_date_form_the_release_before_misread_keeps_its_times(store: Store, value: str) -> None:
    # Stored as the release before read its dates, the entry this release reads from the same
    # document differs: at 0018's re-read (REREAD: keep_times) it takes this release's reading
    # and its item keeps its times (its place in every feed). Then it is unchanged, and a
    # real change is news again.
    from aggregator.parse import parse_feed

    body = (f"<rss version='2.0'><channel><title>f</title><link>http://x.example/</link><item><title>Post</title>"
            f"<guid isPermaLink='false'>post</guid><description>Body.</description><pubDate>{value}</pubDate>"
            f"</item></channel></rss>").encode()
    (entry,) = parse_feed("http://x.example/feed", body, {}, now=T0).entries
    was = _read_before(value)
    old = replace(entry, published=was, updated=was if entry.updated is not None else None)
    assert old.published != entry.published
    store.ingest("one", [old], now=T0)
    [before] = store.newest_items(None, 10)
    [r] = store.ingest_batch([IngestJob("one", [entry], keep_times=True)], now=T0 + timedelta(hours=1))
    assert r.new == 0
    [item] = store.newest_items(None, 10)
    assert item.updated == before.updated  # not dated anew: stays where it was in every feed
    if old.published is None or old.published.year < 1990:
        assert item.published == entry.published  # it had the first-seen time: the date now read
    else:
        assert item.published == before.published  # kept as stored
    [r] = store.ingest_batch([IngestJob("one", [entry])], now=T0 + timedelta(hours=2))
    assert (r.new, r.updated) == (0, 0)  # read as stored now
    [r] = store.ingest_batch([IngestJob("one", [replace(entry, summary="Edited.")])], now=T0 + timedelta(hours=3))
    assert r.updated == 1
    assert store.newest_items(None, 10)[0].updated > before.updated


def test_0018_has_every_feed_read_anew(tmp_path: Path) -> None:
    check_0018_has_every_feed_read_anew(f"sqlite:///{tmp_path / 'store.db'}")


def check_0018_has_every_feed_read_anew(url: str) -> None:
    """Schema 0018: every feed forgets its validators and is read anew once (REREAD), so
    that entries this release reads otherwise (date forms, Bing News' outlet) take its
    readings keeping their times; the downgrade marks them the same way. Items and seeds
    are left as they are; an item whose key this release reads otherwise (an escape, a
    click tracker) takes that key as a former key. (test_postgres runs it too.)"""
    store = Store.open(url)
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/feed"), SourceSpec("seeds", "seeds")])
    store.ingest("one", [EntryData(key="p", title="Post", content="<p>Text</p>", updated=T0)], now=T0)
    [before] = store.newest_items(None, 10)
    # Keys feedparser's loose parser read with an escape left in (0018 reads them otherwise):
    # each item takes its key as read now as a former key, unless the source has it already.
    loose = {"cable?id=2&amp;lang=en": "cable?id=2&lang=en", "cable?id=3&l;=en": "cable?id=3&l=en",
             "a&copy;b": None, "x&lt;y": "x<y",
             # a bare "&lang=" or "&copy=" the loose parser read as the entity, percent-encoded in a link
             "https://m.example/s?id=1%E2%8C%A9=en": "https://m.example/s?id=1&lang=en", "q?id=2\u00a9=1": "q?id=2&copy=1",
             "https://m.example/caf%C3%A9?x=1": None}  # é is an entity's too, but not before an "=" here
    # Keys of guid-less entries behind a click tracker (their link as sent): each item takes the
    # page it leads to (identity.unwrapped), this release's key of it, as a former key; of two
    # copies of one story a Bing feed's changing tid stored apart, the oldest item only (the
    # other is removed: check_0018_makes_the_copies_of_a_story_stored_under_click_trackers_one_item).
    bing = "http://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&tid={}&url=https%3a%2f%2fnews.example%2fa&c=7&mkt=en-us"
    tracked = {bing.format("A1"): "https://news.example/a",
               "https://www.google.com/url?rct=j&sa=t&url=https://news.example/b&ct=ga": "https://news.example/b",
               "https://www.google.com/url?rct=j&sa=t&url=javascript:alert(1)&ct=ga": None}
    loose.update(tracked)
    store.ingest("one", [EntryData(key=k, title=k, updated=T0 - timedelta(days=i + 1))
                         for i, k in enumerate([*loose, "x<y"])], now=T0)
    store.ingest("one", [EntryData(key=bing.format("B2"), title="again", updated=T0 - timedelta(days=20))], now=T0)
    ids = {key: item_id for key, item_id in _rows(url, "SELECT key, item_id FROM item_sources")}
    assert ids[bing.format("B2")] > ids[bing.format("A1")]
    before = next(i for i in store.newest_items(None, 10) if i.title == "Post")
    for revision in ("0018", "0017"):
        store.record_refresh("one", started=T0, finished=T0, ok=True, etag='"e"', last_modified="x", body_hash="h")
        store.close()
        store = migrated_again(url, "0017", "0018") if revision == "0018" else _downgraded(url, "0017")
        state = store.source_states()["one"]
        assert (state.etag, state.last_modified, state.body_hash) == (None, None, "reread"), revision
        assert store.source_states()["seeds"].body_hash != "reread"
        assert next(i for i in store.newest_items(None, 10) if i.title == "Post") == before
        assert len(store.newest_items(None, 20)) == 12  # B2's copy of A1's story is gone
    assert set(_rows(url, "SELECT key, item_id FROM item_former_keys")) == {
        (now, ids[was]) for was, now in loose.items() if now and now != "x<y"}  # "x<y" is an entry's already
    store.close()


def test_0018_makes_the_copies_of_a_story_stored_under_click_trackers_one_item(tmp_path: Path) -> None:
    check_0018_makes_the_copies_of_a_story_stored_under_click_trackers_one_item(f"sqlite:///{tmp_path / 'store.db'}")


def check_0018_makes_the_copies_of_a_story_stored_under_click_trackers_one_item(url: str) -> None:
    """Schema 0018: the release before keyed a guid-less Bing News item by its click tracker,
    whose tid changes at every fetch, so each fetch stored each story anew. Of one source's
    items whose trackers lead to one page, the oldest stays (its id, times, topics, files,
    and the page as a former key) and the others are removed with every row that refers to
    them; another source's copy merged into one of them, its former keys and further links
    go to the item kept. Another source's own copy stays its item. (test_postgres runs it too.)"""
    from aggregator.rules import Classifier, TopicRule
    from aggregator.types import Enclosure

    bing = "http://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&tid={}&url=https%3a%2f%2fnews.example%2f{}&c=7&mkt=en-us"
    store = Store.open(url)
    store.sync_sources([SourceSpec(name, "feed", f"http://{name}.test/feed") for name in ("bing", "mirror", "other")])

    def copy(tid: str, page: str = "a", **more: Any) -> EntryData:
        return EntryData(key=bing.format(tid, page), link=bing.format(tid, page), title=f"Baltic cable {page} cut",
                         updated=T0 - timedelta(days=1), **more)

    store.ingest("bing", [copy("A1"), copy("A1", "d"), EntryData(key="plain", title="Baltic plain", updated=T0)], now=T0)
    store.ingest("bing", [copy("B2", enclosures=(Enclosure("https://news.example/a.mp3"),))], now=T0 + timedelta(hours=1))
    store.ingest("bing", [copy("C3")], now=T0 + timedelta(hours=2))
    # Another source sent C3's tracker too (a republished search): merged into C3's item.
    store.ingest("mirror", [EntryData(key="m-1", link=bing.format("C3", "a"), title="Mirror", updated=T0)],
                 now=T0 + timedelta(hours=3))
    # Another source's own copy of the story behind a tracker: an item of its own, kept.
    store.ingest("other", [EntryData(key=bing.format("Z9", "a"), link=bing.format("Z9", "a"), title="Other Baltic",
                                     updated=T0)], now=T0 + timedelta(hours=4))
    store.classify(Classifier([TopicRule("baltic", any=("Baltic",))]).topics_for, "rules-1",
                   store.sync_topics([("baltic", "Baltic")]))
    item_of = {(name, key): item_id for name, key, item_id in _rows(
        url, "SELECT s.name, l.key, l.item_id FROM item_sources l JOIN sources s ON s.id = l.source_id")}
    a, b, c = (item_of["bing", bing.format(tid, "a")] for tid in ("A1", "B2", "C3"))
    d, plain, other = item_of["bing", bing.format("A1", "d")], item_of["bing", "plain"], item_of["other", bing.format("Z9", "a")]
    assert item_of["mirror", "m-1"] == c and a < b < c
    with store.writing() as conn:  # what B2's item was known by too (an earlier move, an edit)
        source = conn.execute(text("SELECT id FROM sources WHERE name = 'bing'")).scalar_one()
        conn.execute(text("INSERT INTO item_former_keys (source_id, key, item_id) VALUES (:s, 'moved', :i)"),
                     {"s": source, "i": b})
        conn.execute(text("INSERT INTO item_alias_links (link, item_id) VALUES ('https://news.example/earlier', :i)"),
                     {"i": b})
    before = {i.id: i for i in store.newest_items(None, 10)}
    uid = dict(_rows(url, "SELECT id, uid FROM items"))
    assert len(before) == 6 and before[uid[a]].topics == ("baltic",)
    store.close()
    _downgraded(url, "0017").close()
    store = Store.open(url)  # upgraded as a command upgrades: SQLite's foreign keys OFF, then checked
    try:
        after = {i.id: i for i in store.newest_items(None, 10)}
        assert set(after) == {uid[i] for i in (a, d, plain, other)}
        assert after[uid[a]] == replace(before[uid[a]], via=(bing.format("C3", "a"),))  # the mirror's copy's link
        assert [after[uid[i]] for i in (d, plain, other)] == [before[uid[i]] for i in (d, plain, other)]
        assert sorted(_rows(url, "SELECT id FROM items")) == [(i,) for i in sorted((a, d, plain, other))]
        for table in ("item_sources", "item_former_keys", "item_alias_links", "item_alias_texts", "item_topics",
                      "rule_texts", "item_enclosures"):
            assert not {i for (i,) in _rows(url, f"SELECT item_id FROM {table}")} & {b, c}, table
        assert set(_rows(url, "SELECT s.name, l.key, l.item_id FROM item_sources l JOIN sources s ON s.id = l.source_id")) == {
            ("bing", bing.format("A1", "a"), a), ("bing", bing.format("A1", "d"), d), ("bing", "plain", plain),
            ("mirror", "m-1", a), ("other", bing.format("Z9", "a"), other)}
        assert set(_rows(url, "SELECT s.name, f.key, f.item_id FROM item_former_keys f JOIN sources s ON s.id = f.source_id")) == {
            ("bing", "moved", a), ("bing", "https://news.example/a", a), ("bing", "https://news.example/d", d),
            ("other", "https://news.example/a", other)}
        assert set(_rows(url, "SELECT link, item_id FROM item_alias_links")) == {
            ("https://news.example/earlier", a), (bing.format("C3", "a"), a)}  # C3's link, which the mirror's copy had
        assert {i for i, done in _rows(url, "SELECT id, classified FROM items") if not done} == {a}  # its sources grew
        assert sorted(_rows(url, "SELECT item_id FROM item_topics")) == [(i,) for i in sorted((a, d, plain, other))]
        if url.startswith("sqlite"):
            assert _rows(url, "PRAGMA foreign_key_check") == []
    finally:
        store.close()


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def _downgraded(url: str, revision: str) -> Store:
    from alembic import command

    from aggregator.db import alembic_config

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            command.downgrade(alembic_config(conn), revision)
            conn.commit()
    finally:
        engine.dispose()
    return Store.open(url, run_migrations=False)


# Review 113: wrong merges by edits. Two different stories made one entry lose one from
# every feed (worse than a duplicate).
_OTHER = EntryData(key="1", title="Grain corridor", link="https://b.example/grain",
                   content="<p>Ships left the grain corridor ports after the insurers lifted their war surcharge.</p>")


def test_a_copy_repointed_to_another_story_whole_makes_no_two_stories_one(store: Store) -> None:
    # d (an aggregator: Google News, or a feed that gives its slots' GUIDs to new stories)
    # carries a copy of a's story; its entry then becomes b's story, link and text: it no
    # longer names a's story at all, and a's story is no part of b's.
    _three_outlets(store)
    store.ingest("a", [_A], now=T0)
    store.ingest("b", [_OTHER], now=T0 + timedelta(minutes=1))
    assert store.ingest("d", [replace(_A, link="https://a.example/air?utm_source=d")],
                        now=T0 + timedelta(minutes=2)).attached == 1
    assert store.item_count() == 2
    store.ingest("d", [replace(_OTHER, link="https://b.example/grain?utm_source=d")], now=T0 + timedelta(minutes=3))
    assert sorted(i.title for i in store.newest_items(None, 5)) == ["Air policing", "Grain corridor"]


def test_a_copy_repointed_to_another_storys_link_alone_makes_no_two_stories_one(store: Store) -> None:
    # the same with a copy that has no text to compare (a headline only): its link was a's,
    # then b's.
    _three_outlets(store)
    store.ingest("a", [_A], now=T0)
    store.ingest("b", [_OTHER], now=T0 + timedelta(minutes=1))
    headline = EntryData(key="g1", title="Air policing", link="https://a.example/air")
    assert store.ingest("d", [headline], now=T0 + timedelta(minutes=2)).attached == 1
    store.ingest("d", [replace(headline, title="Grain corridor", link="https://b.example/grain")],
                 now=T0 + timedelta(minutes=3))
    assert sorted(i.title for i in store.newest_items(None, 5)) == ["Air policing", "Grain corridor"]


@pytest.mark.xfail(strict=True, reason="a merge is never undone: b's story, merged into a's by a link set "
                   "by mistake, stays in a's item once b corrects it (needs a detach of the gone item's source)")
def test_an_edit_to_another_storys_link_and_back_leaves_two_stories(store: Store) -> None:
    # b's own story, its link set by mistake to a's page for one refresh, then corrected.
    _three_outlets(store)
    store.ingest("a", [_A], now=T0)
    store.ingest("b", [_OTHER], now=T0 + timedelta(minutes=1))
    store.ingest("b", [replace(_OTHER, link="https://a.example/air")], now=T0 + timedelta(minutes=2))
    store.ingest("b", [_OTHER], now=T0 + timedelta(minutes=3))
    assert sorted(i.title for i in store.newest_items(None, 5)) == ["Air policing", "Grain corridor"]



def test_a_feed_keyed_anew_keeps_each_item_and_its_id(store: Store) -> None:
    """A document none of whose keys are stored (a CMS migration: GUIDs where the feed sent
    none): each entry is the one item of its source with its link and text, re-keyed, its id
    and times kept; an entry of the new scheme that is new is new, and another source's copy
    of a story still attaches as a further source, never re-keyed into it."""
    old = [EntryData(key=f"https://one.example/{n}", title=f"Story {n}", link=f"https://one.example/{n}",
                     content=f"<p>The text of story {n}, long enough to compare.</p>", published=T0 + timedelta(hours=n))
           for n in range(10)]
    assert store.ingest("one", old, now=T0).new == 10
    before = {(i.id, i.updated) for i in store.newest_items(None, 20)}
    keyed = [replace(e, key=f"tag:one.example,2025:{n}") for n, e in enumerate(old)]
    fresh = EntryData(key="tag:one.example,2025:99", title="Story 99", link="https://one.example/99",
                      content="<p>A new one.</p>", published=T0 + timedelta(hours=99))
    result = store.ingest("one", [fresh, *keyed], now=T0 + timedelta(days=1))
    assert (result.new, result.attached) == (1, 0)
    assert before < {(i.id, i.updated) for i in store.newest_items(None, 20)}
    assert len(store.newest_items(None, 20)) == 11
    # Another source (one with items of its own) sending story 0 under a key of its own: its
    # copy, not the item re-keyed.
    store.ingest("two", [EntryData(key="urn:two:9", title="Elsewhere", link="https://two.example/9")], now=T0)
    result = store.ingest("two", [replace(old[0], key="urn:two:0")], now=T0 + timedelta(days=2))
    assert (result.new, result.attached) == (0, 1)


def test_a_feed_keyed_anew_and_read_seldom_keeps_its_items_under_its_new_stories(store: Store) -> None:
    # Read again only after nine new stories came on top of the twelve re-keyed ones: more
    # new ones than links are looked up first, which must not hide the feed's stored stories.
    old = [EntryData(key=f"?p={n}", title=f"Story {n}", link=f"https://one.example/{n}",
                     content=f"<p>The text of story {n}, long enough to compare.</p>") for n in range(12)]
    store.ingest("one", old, now=T0)
    new = [EntryData(key=f"tag:{n}", title=f"Story {n}", link=f"https://one.example/{n}",
                     content=f"<p>The text of story {n}, long enough to compare.</p>") for n in range(20, 29)]
    result = store.ingest("one", [*new, *(replace(e, key=f"tag:{n}") for n, e in enumerate(old))], now=T0 + timedelta(days=9))
    assert (result.new, len(store.newest_items(None, 50))) == (9, 21)


def test_a_recurring_post_under_a_new_key_is_a_new_item_not_the_last_one_re_keyed(store: Store) -> None:
    """A feed that sends its newest entry alone (a daily reminder, a podcast's re-run): the
    same link, title and text each time, under a new GUID and a later date. None of its keys
    is stored, so it looked keyed anew: the new post was taken for yesterday's re-keyed, and,
    its dates alone differing, was no news at all (0 new, 0 updated: the post was lost). A
    CMS migration keeps its entries' dates; an entry dated a day or more after the stored
    item is a later post. One whose date stayed (or was stored undated) is still re-keyed."""
    def post(day: int) -> EntryData:
        return EntryData(key=f"urn:daily:{day}", title="Daily reminder", link="https://one.example/daily",
                         content="<p>Stand-up at ten in the usual room; bring your notes, please.</p>",
                         published=T0 + timedelta(days=day))
    assert store.ingest("one", [post(0)], now=T0 + timedelta(hours=1)).new == 1
    result = store.ingest("one", [post(1)], now=T0 + timedelta(days=1, hours=1))
    assert (result.new, len(store.newest_items(None, 10))) == (1, 2)
    # Keyed anew, its date kept (or given where it had none): the stored item, re-keyed (of
    # two of its link and text, the one of its date).
    before = {(i.id, i.updated) for i in store.newest_items(None, 10)}
    assert store.ingest("one", [replace(post(1), key="tag:daily:1")], now=T0 + timedelta(days=2)).new == 0
    assert {(i.id, i.updated) for i in store.newest_items(None, 10)} == before
    elsewhere = replace(post(0), title="Another reminder", link="https://two.example/x")
    assert store.ingest("two", [replace(elsewhere, published=None)], now=T0).new == 1
    result = store.ingest("two", [replace(elsewhere, key="tag:x", published=T0 + timedelta(days=3))],
                          now=T0 + timedelta(days=3))
    assert (result.new, len(store.newest_items(None, 10))) == (0, 3)


@pytest.mark.xfail(strict=True, reason="a further source's copy is found by its key alone: keyed anew, it is a second item")
def test_a_further_source_keyed_anew_keeps_its_copy_of_another_sources_story(store: Store) -> None:
    # Source two's copy of one's story is a link row of two on one's item; two keys its feed
    # anew: its own story is re-keyed, but the copy is not (the item is not two's), and
    # "two entries of one source are never merged" makes it a second item of the story.
    def story(n: int, key: str, site: str) -> EntryData:
        return EntryData(key=key, title=f"Story {n}", link=f"https://{site}.example/{n}",
                         content=f"<p>The text of story {n}, long enough to compare.</p>",
                         published=T0 + timedelta(hours=n))
    store.ingest("one", [story(0, "a:0", "one")], now=T0)
    store.ingest("two", [story(0, "b:0", "one"), story(5, "b:5", "two")], now=T0)
    result = store.ingest("two", [story(0, "c:0", "one"), story(5, "c:5", "two")], now=T0 + timedelta(days=1))
    assert (result.new, len(store.newest_items(None, 10))) == (0, 2)


def _stored_rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables an ingest writes, in a fixed order."""
    with store.reading() as conn:
        return {table: conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
                for table in ("items", "item_sources", "rule_texts", "item_enclosures", "item_alias_links",
                              "item_alias_texts", "item_former_keys")}


def test_a_batch_committed_behind_stores_what_one_committed_in_place_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A refresh's batches stage their inserts in temporary tables, moved into their tables
    # by the commit on the commit thread (stage_inserts). Whatever refers to the staged
    # rows in the transaction (enclosures, a further source's aliases, a source's second
    # round in one batch) must find them: the two paths store the same rows, ids included.
    import aggregator.store.sql as sql
    from aggregator.types import Enclosure

    staged: list[int] = []
    real_ids = sql.staged_ids

    def counted(conn: Any, table: Any, count: int) -> list[int] | None:
        ids = real_ids(conn, table, count)
        staged.append(0 if ids is None else len(ids))
        return ids

    monkeypatch.setattr("aggregator.store.ingest.staged_ids", counted)
    story = "<p>A long enough story about the Baltic fleet and its winter exercises near Gotland.</p>"

    def entry(key: str, n: int, **more: Any) -> EntryData:
        return EntryData(key=key, title=f"Title {key}", link=f"http://site.test/news/2025/{key}-story",
                         summary=f"<p>{key} {n}</p>",
                         updated=T0 + timedelta(minutes=n), published=T0 + timedelta(minutes=n), **more)

    batches = [
        # "one" twice in a batch: its second round, which finds "a" among the rows the first staged.
        [IngestJob("one", [entry("a", 1), entry("b", 2), replace(entry("c", 3), summary=story)]),
         IngestJob("one", [entry("d", 6), entry("a", 1)])],
        # The same story by its link (an alias of its text) and by its text (an alias of its link).
        [IngestJob("two", [replace(entry("a", 4), key="two-a", summary="<p>other words</p>"),
                           replace(entry("c", 5), key="two-c", link="http://other.test/news/2025/c-story",
                                   summary=story)])],
        [IngestJob("one", [replace(entry("a", 1), title="Title a, edited"),
                           entry("e", 7, enclosures=(Enclosure("http://site.test/e.mp3", "audio/mpeg", 9),))]),
         IngestJob("two", [entry("f", 8, enclosures=(Enclosure("http://site.test/f.ogg", None, None),))])],
        # A story new in the batch and its copy by text: an alias of a staged item.
        [IngestJob("one", [replace(entry("g", 9), summary=story.replace("Baltic", "Arctic"))]),
         IngestJob("two", [replace(entry("g", 10), key="two-g", link="http://other.test/news/2025/g-story",
                                   summary=story.replace("Baltic", "Arctic"))])],
    ]
    dumps = []
    for behind in (True, False):
        staged.clear()
        store = Store.open(f"sqlite:///{tmp_path / f'{behind}.db'}")
        store.sync_sources([SourceSpec("one", "feed", "http://one.test/feed"), SourceSpec("two", "feed", "http://two.test/feed")])
        results = [[(r.new, r.updated, r.attached) for r in
                    (store.ingest_batch_behind(jobs, now=T0).wait() if behind else store.ingest_batch(jobs, now=T0))]
                   for jobs in batches]
        dumps.append((results, _stored_rows(store), list(staged)))
        store.close()
    assert dumps[0][2] and all(dumps[0][2]), "the batches committed behind staged their items"
    assert not any(dumps[1][2]), "those committed in place did not"
    assert dumps[0][:2] == dumps[1][:2]
    results, rows, _ = dumps[0]
    assert results == [[(3, 0, 0), (1, 0, 0)], [(0, 0, 2)], [(1, 1, 0), (1, 0, 0)], [(1, 0, 0), (0, 0, 1)]]
    assert len(rows["items"]) == 7 and len(rows["item_enclosures"]) == 2 and len(rows["item_alias_links"]) == 2


def test_staged_rows_that_cannot_be_moved_fail_the_commit_and_leave_nothing_behind(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The move into the tables runs at the commit: a row it cannot insert fails the commit,
    # which stores nothing of the batch, and the connection's next batch starts clean.
    real = Store._ingest_batch
    calls: list[int] = []

    def taken(self: Store, conn: Any, *args: Any) -> Any:
        results = real(self, conn, *args)
        calls.append(len(calls))
        if len(calls) == 1:  # the id the staged item took, taken meanwhile
            conn.exec_driver_sql("INSERT INTO items SELECT * FROM temp.staged_items")
        return results

    monkeypatch.setattr(Store, "_ingest_batch", taken)
    first = EntryData(key="a", title="A", updated=T0, published=T0)
    with pytest.raises(Exception, match="UNIQUE"):
        store.ingest_batch_behind([IngestJob("one", [first])], now=T0).wait()
    assert store.item_count() == 0
    second = EntryData(key="b", title="B", updated=T0 + timedelta(seconds=1), published=T0)
    assert [r.new for r in store.ingest_batch_behind([IngestJob("one", [second, first])], now=T0).wait()] == [2]
    with store.reading() as conn:
        assert conn.exec_driver_sql("SELECT id, title FROM items ORDER BY id").fetchall() == [(1, "B"), (2, "A")]


def _cache_used(dbapi_connection: Any) -> int:
    """The bytes of page cache a sqlite3 connection holds, over all its databases (temp
    included): sqlite3_db_status(SQLITE_DBSTATUS_CACHE_USED), through ctypes."""
    import ctypes
    import sqlite3

    import _sqlite3

    assert isinstance(dbapi_connection, sqlite3.Connection)
    # CPython's pysqlite_Connection begins with PyObject_HEAD, then its sqlite3 *db.
    db = ctypes.c_void_p.from_address(id(dbapi_connection) + object.__basicsize__).value
    status = ctypes.CDLL(_sqlite3.__file__).sqlite3_db_status
    status.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int),
                       ctypes.c_int]
    current, high = ctypes.c_int(), ctypes.c_int()
    assert status(db, 1, ctypes.byref(current), ctypes.byref(high), 0) == 0  # 1: CACHE_USED
    return current.value


def test_a_connection_that_staged_a_batch_goes_back_to_the_pool_without_its_staged_pages(tmp_path: Path) -> None:
    # The staged rows go through the connection's temporary database, whose page cache
    # (SQLite's default, 2 MB, not the 1 MiB the store gives a connection) kept their pages
    # after the move emptied its tables (review 116): each pooled connection a refresh's batches went
    # through held up to 2 MB more for the life of the process (a service's RSS rose by
    # 8-9 MiB after batches of large entries, against those stored in place).
    s = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        s.sync_sources([SourceSpec("one", "feed", "http://one.test/feed")])
        text = "<p>" + " ".join(f"word{n}" for n in range(1000)) + "</p>"  # ≈ 9 KB a summary
        job = IngestJob("one", [EntryData(key=f"k{n}", title=f"Story {n}", summary=text + str(n),
                                          updated=T0 + timedelta(seconds=n), published=T0) for n in range(250)])
        assert [r.new for r in s.ingest_batch_behind([job], now=T0).wait()] == [250]
        s.wait_for_checkpoint()
        assert s.engine.pool.checkedout() == 0
        conns = [s.engine.raw_connection() for _ in range(s.engine.pool.size())]  # type: ignore[attr-defined]
        try:
            used = max(_cache_used(c.dbapi_connection) for c in conns)
        finally:
            for c in conns:
                c.close()
        # What one stored in place keeps: its database's narrowed cache, 1 MiB of pages
        # (1.07 MB with their headers); staged with the temporary database's default
        # cache it kept 3.2 MB, with STAGED_CACHE_KIB at most 256 KiB more.
        assert used <= 1.5 * 1024 * 1024, used
    finally:
        s.close()
