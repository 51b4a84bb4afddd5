"""PostgreSQL as a tested backend: the store, the migrations and the pipeline on a real server.

The server is the session's throwaway ``pgserver.PostgresServer``; each test gets a new empty
database. Without the server binaries or psycopg these tests skip.

Most of the store's behaviour is already specified by tests written against the ``store``
fixture: the ones that hold for any database are imported here and run again with ``store``
overridden to a PostgreSQL store (pytest collects imported test functions as this module's).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import socket
import string
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from aggregator import jobs, pipeline
from aggregator.config import Config, SourceConfig, load_config
from aggregator.db import SCHEMA_REVISION, alembic_config, current_revision, make_engine, migrate
from aggregator.errors import LockedError, StoreError
from aggregator.identity import dedup_text, entry_uid
from aggregator.lock import RUN_LOCK_KEY, PostgresLock, database_lock
from aggregator.models import fetches, item_topics, items, metadata
from aggregator.rules import Classifier, TopicRule
from aggregator.store import IngestResult, RefreshRecord, SourceSpec, Store
from aggregator.types import EntryData

from atomcheck import validate_atom
from feedserver import Entry, FeedServer, atom10, feed_server, rss20  # noqa: F401 - feed_server: a fixture
from pgserver import PostgresServer, pg_server, pg_url  # noqa: F401 - fixtures
from test_db import schema
from test_publish_views import (  # noqa: F401 - collected again, on PostgreSQL
    test_feed_items_across_chunks_matches_one_by_one,
    test_feed_items_order_topics_and_sources,
)
from test_service import _source, _state, _write_config
from test_store import (  # noqa: F401 - collected again, on PostgreSQL
    test_a_freed_time_below_a_stored_nudge_is_not_handed_out_twice,
    test_many_entries_changed_at_once_update_their_items,
    test_one_item_changed_twice_in_a_batch_takes_the_second_change,
    test_an_untitled_entry_is_titled_by_its_first_sentence,
    test_a_failed_commit_behind_stores_nothing_and_the_next_write_goes_on,
    test_an_updated_item_moves_to_the_top_of_its_topic,
    concurrent_writers_case,
    test_aware_utc_round_trip,
    test_data_version_counts_changing_ingests_past_32_bits,
    test_distinct_updated_times,
    test_enclosures_are_stored_replaced_and_removed_with_their_entry,
    test_refresh_history_is_pruned_to_a_month_once_a_day,
    test_entries_stored_by_the_previous_release_keep_their_time_when_read_with_authors_and_files,
    test_entries_of_one_source_sharing_a_link_or_text_stay_separate,
    test_ingest_batch_stores_refresh_records_in_its_own_transaction,
    test_ingest_batch_behind_commits_on_the_commit_thread,
    test_inserted_item_ids_are_those_of_the_rows_in_order,
    test_waiting_for_the_commit_behind_holds_every_waiter,
    test_reingest_adds_nothing_and_change_updates_in_place,
    test_rekey_moves_stored_keys_and_never_over_a_stored_one,
    test_same_story_from_two_sources_is_one_item,
    test_a_further_sources_copy_is_found_by_its_own_link_and_text,
    test_a_further_sources_copy_is_found_by_its_link_in_the_same_batch,
    test_a_story_is_found_by_its_text_and_link_from_before_its_origin_edited_them,
    test_a_further_sources_copy_is_found_by_its_link_and_text_after_its_outlet_edited_it,
    test_a_copy_linked_before_its_outlet_carried_the_story_is_the_same_story,
    test_a_copy_linked_before_its_outlet_carried_the_story_is_one_story_whatever_the_batches,
    test_a_merge_takes_the_newer_storys_topics_away_and_reclassifies_the_older,
    test_a_copy_a_reread_links_to_another_storys_page_joins_that_story,
    test_a_copy_a_reread_gives_another_storys_text_joins_that_story_as_a_via_link,
    test_an_edit_that_links_another_storys_page_joins_that_story,
    test_an_edit_to_a_link_a_new_entry_of_its_source_sends_too_merges_nothing,
    test_a_reread_that_gives_two_entries_of_one_source_one_link_merges_nothing,
    test_a_reread_to_a_front_page_or_to_a_story_a_source_carries_beside_merges_nothing,
    test_a_copy_edited_into_another_storys_text_joins_that_story,
    test_a_story_its_origin_edits_into_another_storys_text_joins_that_story,
    test_an_edit_into_another_storys_text_joins_no_story_one_source_carries_both_of,
    test_a_live_page_its_outlet_links_several_entries_to_names_no_story_to_merge,
    test_a_text_several_stored_stories_share_merges_no_story_into_them,
    test_a_text_several_stories_share_merges_no_new_story_into_them,
    test_an_edit_into_a_text_several_stories_share_merges_no_story_into_them,
    test_a_copy_repointed_to_another_story_whole_makes_no_two_stories_one,
    test_a_copy_repointed_to_another_storys_link_alone_makes_no_two_stories_one,
    test_a_feed_keyed_anew_keeps_each_item_and_its_id,
    test_a_recurring_post_under_a_new_key_is_a_new_item_not_the_last_one_re_keyed,
)

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)


@pytest.fixture
def store(pg_url: str) -> Iterator[Store]:
    """The conftest ``store`` on PostgreSQL: sources "one", "two" (feeds) and "seeds"."""
    s = Store.open(pg_url)
    s.sync_sources([SourceSpec("one", "feed", "http://one.test/feed"),
                    SourceSpec("two", "feed", "http://two.test/feed"),
                    SourceSpec("seeds", "seeds")])
    yield s
    s.close()


def test_the_server_is_postgresql(store: Store) -> None:
    # Guards the overrides above: the imported tests must really run on PostgreSQL.
    assert store.engine.dialect.name == "postgresql"
    with store.reading() as conn:
        assert conn.exec_driver_sql("SHOW server_version_num").scalar() >= "150000"
        assert conn.exec_driver_sql("SHOW TimeZone").scalar() == "Asia/Kathmandu"  # see pgserver


# -- schema and migrations ---------------------------------------------------------------


def test_a_fresh_database_gets_exactly_the_schema_the_migrations_make(pg_server) -> None:  # noqa: F811
    fresh = make_engine(pg_server.create_database())
    migrate(fresh)  # an empty database: create_all and a hand-written stamp
    migrated = make_engine(pg_server.create_database())
    with migrated.connect() as conn:  # every migration, from nothing
        command.upgrade(alembic_config(conn), "head")
        conn.commit()
    try:
        assert schema(fresh) == schema(migrated)
        assert current_revision(fresh) == current_revision(migrated) == SCHEMA_REVISION
        for engine in (fresh, migrated):
            with engine.connect() as conn:
                context = MigrationContext.configure(conn, opts={"compare_type": True})
                assert compare_metadata(context, metadata) == []
        migrate(fresh)  # stamped: nothing left to do
        assert current_revision(fresh) == SCHEMA_REVISION
    finally:
        fresh.dispose()
        migrated.dispose()


def _migrate_at_once(url: str, openers: int) -> list[BaseException]:
    """``migrate`` by ``openers`` engines released together (as processes starting at
    once would); returns what they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(openers)

    def open_it() -> None:
        engine = make_engine(url)
        try:
            start.wait()
            migrate(engine)
        except BaseException as e:  # noqa: BLE001 - reported by the caller's assertion
            errors.append(e)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=open_it) for _ in range(openers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_openers_of_one_empty_database_all_end_with_one_schema(pg_url: str) -> None:
    # Without a lock, both see no tables and the slower CREATE TABLE fails on the
    # catalog's unique index; create_fresh serialises them with an advisory lock.
    assert _migrate_at_once(pg_url, 4) == []
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        assert current_revision(engine) == SCHEMA_REVISION
    finally:
        engine.dispose()


def test_migrations_with_data_up_from_the_first_revision_down_to_0002_and_up_again(pg_url: str) -> None:
    # What test_store checks revision by revision on SQLite, through every migration at once.
    body = "A long enough paragraph about the Baltic Sea cables and NATO patrols."
    old_hash = hashlib.sha256(dedup_text("Cables", body, "text").encode()).hexdigest()
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(text("INSERT INTO sources (id, name, type, failures, retired) VALUES "
                          "(1, 'one', 'feed', 0, false), (2, 'two', 'feed', 0, false)"))
        conn.execute(text("INSERT INTO topics (id, slug, title) VALUES (1, 'baltic', 'Baltic'), (2, 'air', 'Air')"))
        conn.execute(text(
            "INSERT INTO items (id, uid, source_id, title, content, content_type, truncated, first_seen, published, "
            "updated, classified, text_hash) VALUES "
            "(1, 'urn:uuid:1', 1, 'Cables', :body, 'text', false, '2025-01-01', '2025-01-01', '2025-01-01', true, :h), "
            "(2, 'urn:uuid:2', 1, 'Air policing', 'Jets', 'text', false, '2025-01-02', '2025-01-02', '2025-01-02', "
            "true, NULL)"), {"body": body, "h": old_hash})
        conn.execute(text("INSERT INTO item_sources (item_id, source_id, key, fingerprint, first_seen) VALUES "
                          "(1, 1, 'k1', 'f', '2025-01-01'), (2, 1, 'k2', 'f', '2025-01-02')"))
        conn.execute(text("INSERT INTO item_topics (topic_id, item_id, updated) VALUES "
                          "(1, 1, '2025-01-01'), (1, 2, '2025-01-02'), (2, 2, '2025-01-02')"))
        # Sequences did not see the explicit ids: move them on, as real inserts would have.
        for table in ("sources", "topics", "items", "item_sources"):
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))
        conn.commit()
    try:
        migrate(engine)  # a database with our tables: Alembic, 0002 to 0004
        assert current_revision(engine) == SCHEMA_REVISION
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
        assert inspect(engine).get_pk_constraint("item_topics")["constrained_columns"] == ["item_id", "topic_id"]
        store = Store(engine)
        assert store.topic_counts() == {"baltic": 2, "air": 1}
        assert [i.id for i in store.newest_items("baltic", 5)] == ["urn:uuid:2", "urn:uuid:1"]
        # The converted text key equals today's: the same text from another source attaches.
        r = store.ingest("two", [EntryData(key="k9", title="Cables", content=body, content_type="text")], now=T0)
        assert (r.new, r.attached) == (0, 1)
        # Items stored before match_text existed still classify (from their stored text).
        ids = store.sync_topics([("baltic", "Baltic"), ("air", "Air")])
        decide = lambda t, names: ("baltic",) if "baltic" in t else ()  # noqa: E731
        assert store.classify(decide, "new rules", ids) == 2
        assert store.topic_counts() == {"baltic": 1, "air": 0}

        with engine.connect() as conn:
            command.downgrade(alembic_config(conn), "0002")
            conn.commit()
            hashes = dict(conn.execute(text("SELECT id, text_hash FROM items")).all())
        assert hashes[1] == old_hash
        assert "text_key" not in {c["name"] for c in inspect(engine).get_columns("items")}
        assert inspect(engine).get_pk_constraint("item_topics")["constrained_columns"] == ["topic_id", "item_id"]
        migrate(engine)
        assert current_revision(engine) == SCHEMA_REVISION
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


# -- the whole pipeline --------------------------------------------------------------------

WIRE_T = datetime(2025, 2, 1, 9, 0, tzinfo=timezone.utc)


def _wire(n: int, **kw: object) -> Entry:
    fields: dict[str, object] = dict(
        id=f"urn:wire:{n}", title=f"Wire story {n} on Baltic cables", link=f"https://wire.example/{n}",
        content=f"<p>Story {n}: allies deploy frigates to guard undersea cables in the Baltic.</p>",
        updated=WIRE_T)  # one time for all: the store must nudge them apart
    fields.update(kw)
    return Entry(**fields)  # type: ignore[arg-type]


def _project(root: Path, database: str, feeds: dict[str, str]) -> Config:
    """The shipped config and topics, two seed documents, ``feeds``, and a topic limited to one source."""
    (root / "seeds").mkdir(parents=True)
    for seed in sorted((ROOT / "seeds").glob("*.txt"))[:2]:
        shutil.copy(seed, root / "seeds" / seed.name)
    config = (ROOT / "aggregator.toml").read_text(encoding="utf-8").replace(
        'database = "sqlite:///aggregator.db"', f'database = "{database}"')
    assert database in config
    for name, url in feeds.items():
        config += f'\n[[sources]]\nname = "{name}"\nurl = "{url}"\ninterval = "10m"\n'
    config += '\n[[topics]]\nslug = "wire-only"\ntitle = "Wire only"\nany = ["Baltic"]\nsources = ["wire"]\n'
    (root / "aggregator.toml").write_text(config, encoding="utf-8")
    return load_config(root / "aggregator.toml")


def _published(config: Config) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(config.settings.output_dir.iterdir())}


def test_refresh_and_publish_write_the_same_bytes_as_on_sqlite(
    pg_url: str, feed_server: FeedServer, tmp_path: Path  # noqa: F811
) -> None:
    wire = feed_server.route("/wire", rss20("Wire", [_wire(n) for n in range(4)]))
    # The same stories from a second source (by link, and by text): attached, not stored twice.
    feed_server.route("/echo", atom10("Echo", [
        _wire(1, id="urn:echo:1", link="https://WIRE.example/1?utm_source=echo", title="Echoed"),
        _wire(2, id="urn:echo:2", link="https://echo.example/2"),
        _wire(9, id="urn:echo:9", link=None, title="Echo only", content="<p>Nothing about the sea.</p>"),
    ]))
    feeds = {"wire": feed_server.url("/wire"), "echo": feed_server.url("/echo")}
    configs = {"sqlite": _project(tmp_path / "sqlite", "sqlite:///agg.db", feeds),
               "postgresql": _project(tmp_path / "postgresql", pg_url, feeds)}
    stores = {name: pipeline.open_store(config) for name, config in configs.items()}
    assert stores["postgresql"].engine.dialect.name == "postgresql"
    first = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
    try:
        for step, now in enumerate((first, first + timedelta(hours=1))):
            if step == 1:  # upstream edits one story and adds one; the seeds are read again unchanged
                wire.body = rss20("Wire", [_wire(0, title="Wire story 0, corrected", updated=WIRE_T + timedelta(hours=2)),
                                           *(_wire(n) for n in range(1, 5))])
            for name, config in configs.items():
                report = pipeline.refresh(config, stores[name], now=now)
                assert all(o.ok for o in report.outcomes), (name, report.outcomes)
                pipeline.publish(config, stores[name])
            sqlite_files, pg_files = (_published(c) for c in configs.values())
            assert sorted(pg_files) == sorted(sqlite_files)
            for file, data in pg_files.items():
                assert data == sqlite_files[file], (step, file)
        pg = stores["postgresql"]
        # Not equal by being empty: seeds and feeds are in, merged, classified, updated in place.
        assert pg.item_count() == 10 + 20 + 5 + 1  # two seed documents (seeds_expected.json), wire, echo
        counts = pg.topic_counts()
        assert counts["wire-only"] == 5 and counts["baltic-security"] >= 6
        statuses = pg.statuses()
        assert (statuses["wire"].items, statuses["echo"].items, statuses["echo"].error) == (5, 3, None)
        titles = [i.title for i in pg.newest_items("wire-only", 10)]
        assert titles[0] == "Wire story 0, corrected"
        for xml in configs["postgresql"].settings.output_dir.glob("*.xml"):
            assert validate_atom(xml, self_url=f"{configs['postgresql'].settings.base_url}/{xml.name}") == []
    finally:
        for s in stores.values():
            s.close()


# -- sources, refresh history, topics ---------------------------------------------------------


def test_record_refreshes_and_source_edits(store: Store) -> None:
    ok = RefreshRecord("one", started=T0, finished=T0 + timedelta(seconds=2), ok=True, http_status=200,
                       etag='"v1"', last_modified="Thu, 02 Jan 2025 03:04:05 GMT", body_hash="b" * 64,
                       next_run=T0 + timedelta(minutes=10), result=IngestResult(new=3, updated=1, attached=2),
                       title="One's feed", site_link="https://one.test/", warning="recovered")
    failed = RefreshRecord("two", started=T0, finished=T0 + timedelta(seconds=1), ok=False, http_status=503,
                           error="HTTP 503", next_run=T0 + timedelta(minutes=20))
    store.record_refreshes([ok, failed])
    store.record_refreshes([replace(failed, started=T0 + timedelta(hours=1), finished=T0 + timedelta(hours=1))])
    one, two = store.source_state("one"), store.source_state("two")
    assert (one.etag, one.body_hash, one.failures, one.last_success) == ('"v1"', "b" * 64, 0, T0 + timedelta(seconds=2))
    assert one.next_run == T0 + timedelta(minutes=10) and one.next_run.tzinfo is not None
    assert (two.failures, two.last_success, two.etag) == (2, None, None)
    status = store.statuses()
    assert (status["one"].warning, status["one"].http_status, status["one"].error) == ("recovered", 200, None)
    assert (status["two"].error, status["two"].failures, status["two"].last_fetch) == (
        "HTTP 503", 2, T0 + timedelta(hours=1))
    with store.reading() as conn:
        history = conn.execute(select(fetches.c.new_items, fetches.c.updated_items, fetches.c.error)
                               .order_by(fetches.c.id)).all()
    assert [tuple(h) for h in history] == [(3, 3, None), (0, 0, "HTTP 503"), (0, 0, "HTTP 503")]
    # An edited URL starts the source afresh; a new source is added; a title is taken from the config.
    store.sync_sources([SourceSpec("one", "feed", "http://one.test/moved", title="Configured"),
                        SourceSpec("two", "feed", "http://two.test/feed"), SourceSpec("three", "feed", "http://3.test/")])
    one = store.source_state("one")
    assert (one.url, one.etag, one.last_modified, one.body_hash, one.failures) == ("http://one.test/moved", None, None,
                                                                                   None, 0)
    assert store.statuses()["three"].items == 0
    assert store.source_states()["two"].failures == 2  # not edited: kept


def test_classify_with_the_rules_then_reclassify_after_a_rule_change(store: Store) -> None:
    texts = ["Undersea cables cut in the Baltic", "Patriot batteries for Ukraine", "Baltic air policing jets"]
    store.ingest("one", [EntryData(key=f"k{n}", title=t, updated=T0 + timedelta(minutes=n))
                         for n, t in enumerate(texts)], now=T0)
    store.ingest("two", [EntryData(key="x", title="Ukraine asks for more Patriot systems",
                                   updated=T0 + timedelta(minutes=5))], now=T0)

    def classify(rules: list[TopicRule]) -> int:
        ids = store.sync_topics([(r.slug, r.slug.title()) for r in rules])
        return store.classify(Classifier(rules).topics_for, pipeline.rules_fingerprint(rules), ids,
                              by_source=any(r.sources for r in rules))

    rules = [TopicRule("baltic", any=("Baltic",)), TopicRule("air", any=("Patriot", "air policing"), sources=("one",))]
    assert classify(rules) == 4
    assert store.topic_counts() == {"baltic": 2, "air": 2}
    assert [i.title for i in store.newest_items("air", 5)] == [texts[2], texts[1]]
    assert classify(rules) == 0  # nothing new, rules unchanged: nothing reread
    # A rule change rereads every item; a dropped topic loses its memberships; "two" now counts.
    rules = [TopicRule("air", any=("Patriot",)), TopicRule("ukraine", any=("Ukrain*",), none=("asks",))]
    assert classify(rules) == 4
    assert store.topic_counts() == {"air": 2, "ukraine": 1}
    assert [i.topics for i in store.newest_items("air", 5)] == [("air",), ("air", "ukraine")]
    with store.reading() as conn:
        assert conn.execute(select(func.count()).select_from(item_topics)).scalar() == 3


def test_the_service_lock_on_postgresql_names_its_holder(pg_url: str) -> None:
    first = database_lock(pg_url)
    assert isinstance(first, PostgresLock)
    first.acquire()
    try:
        with pytest.raises(LockedError, match=rf"is in use by pid {os.getpid()} on {socket.gethostname()} "
                                              r"\(aggregator run\)"):
            database_lock(pg_url).acquire()
        # Creating the schema meanwhile is not held up: its lock is another one.
        Store.open(pg_url).close()
    finally:
        first.release()
    with database_lock(pg_url):  # released: free for the next service
        pass


def test_the_service_lock_holds_the_database_whatever_url_names_it(pg_server, pg_url: str) -> None:  # noqa: F811
    # The same database reached as localhost rather than 127.0.0.1 is one database: a second
    # service on it must be refused whichever spelling of its URL it uses.
    other = pg_url.replace("@127.0.0.1:", "@localhost:")
    assert other != pg_url
    first = database_lock(pg_url)
    first.acquire()
    try:
        with pytest.raises(LockedError, match=rf"is in use by pid {os.getpid()} on "):
            database_lock(other).acquire()
    finally:
        first.release()
    # A service on another database of the same server is not held up by it.
    neighbour = pg_server.create_database()
    with database_lock(pg_url), database_lock(neighbour):
        with pytest.raises(LockedError, match=rf"is in use by pid {os.getpid()} on "):
            database_lock(other).acquire()


def _end_session(pg_url: str, pid: int) -> None:
    """End one server session, as a restart, a failover or an idle timeout would."""
    engine = make_engine(pg_url)
    try:
        # AUTOCOMMIT: a transaction reads pg_stat_activity once and keeps that snapshot, so
        # polling in one transaction never saw a backend leave that was there at the first look.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
            for _ in range(1000):  # its locks go when the backend has exited (seconds on a loaded machine)
                if not conn.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :p"), {"p": pid}).first():
                    return
                threading.Event().wait(0.01)
            raise AssertionError(f"the server session {pid} did not end in 10 s")
    finally:
        engine.dispose()


def _lock_session(lock: PostgresLock) -> int:
    pid: int = lock._conn.execute(text("SELECT pg_backend_pid()")).scalar()
    return pid


def test_ending_a_session_waits_for_a_backend_slow_to_exit(pg_url: str) -> None:
    # On a loaded machine the backend is often still there at _end_session's first look.
    # Frozen (SIGSTOP) until that look has happened, it surely is; once let go, it exits.
    import signal

    engine = make_engine(pg_url)
    try:
        victim = engine.connect()
        with victim, engine.connect() as watcher:
            pid = victim.execute(text("SELECT pg_backend_pid()")).scalar()
            assert isinstance(pid, int)
            watcher.execution_options(isolation_level="AUTOCOMMIT")  # each look a fresh snapshot
            os.kill(pid, signal.SIGSTOP)
            errors: list[BaseException] = []

            def end() -> None:
                try:
                    _end_session(pg_url, pid)
                except BaseException as e:  # noqa: BLE001 - reported by the test's thread
                    errors.append(e)

            ender = threading.Thread(target=end)
            ender.start()
            try:
                for _ in range(1000):  # until _end_session has looked and seen it alive
                    if watcher.execute(text(
                            "SELECT 1 FROM pg_stat_activity WHERE pid NOT IN (:p, pg_backend_pid()) "
                            "AND query LIKE 'SELECT 1 FROM pg_stat_activity%'"), {"p": pid}).first():
                        break
                    threading.Event().wait(0.01)
                else:
                    raise AssertionError("_end_session did not look at the session in 10 s")
            finally:
                os.kill(pid, signal.SIGCONT)
            ender.join()
            assert errors == []
            assert not watcher.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :p"), {"p": pid}).first()
            victim.invalidate()  # its session is gone: closed without the rollback that would fail
    finally:
        engine.dispose()


def test_a_lock_whose_session_ended_is_taken_again_unless_another_service_has_it(pg_url: str) -> None:
    # An advisory lock belongs to its session: a server restart, a failover or an idle
    # timeout ends it, and a second service could then start beside the first.
    lock = database_lock(pg_url)
    assert isinstance(lock, PostgresLock)
    lock.acquire()
    try:
        lock.check()  # held: nothing to do
        _end_session(pg_url, _lock_session(lock))
        lock.check()  # taken again
        with pytest.raises(LockedError, match="is in use by"):
            database_lock(pg_url).acquire()
        _end_session(pg_url, _lock_session(lock))
        with database_lock(pg_url):  # another service starts meanwhile
            with pytest.raises(LockedError, match=rf"is in use by pid {os.getpid()} on "):
                lock.check()
    finally:
        lock.release()


def test_a_check_that_lands_after_the_release_takes_no_lock(pg_url: str) -> None:
    # The service's last check runs in a thread of its own, which the stop does not wait
    # for: landing after the release, it must not take the lock again (the next service,
    # started as this one exits, would be refused).
    lock = database_lock(pg_url)
    lock.acquire()
    lock.release()
    lock.check()
    try:
        with database_lock(pg_url):
            pass
    finally:
        lock.release()


def test_releasing_a_lock_whose_session_ended_says_so_in_one_line(
        pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    # A stop while the server restarts: the warning is the driver's line, not SQLAlchemy's
    # dump of the statement, its parameters and its web page.
    lock = database_lock(pg_url)
    lock.acquire()
    _end_session(pg_url, _lock_session(lock))
    caplog.clear()
    lock.release()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == ["releasing the database lock: terminating connection due to administrator command"]


class _CuttableProxy:
    """A loopback TCP proxy to the server whose client side can be cut (a NAT or firewall
    dropping a connection) while the server side stays open: the server keeps the session,
    and its locks, until it notices (TCP keepalive, by default after two hours)."""

    def __init__(self, port: int):
        self.port = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, pg_url: str) -> str:
        return pg_url.replace(f":{self.port}/", f":{self.listener.getsockname()[1]}/")

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.port))
            self.pairs.append((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def cut_clients(self) -> None:
        for client, _ in self.pairs:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            client.close()  # a reset; the server's side stays open

    def close(self) -> None:
        self.listener.close()
        for client, server in self.pairs:
            client.close()
            server.close()


def test_a_lock_still_held_by_its_own_cut_session_is_not_lost_to_another(pg_server, pg_url: str) -> None:  # noqa: F811
    # The lock's connection cut on the way (the server has not seen it end): its session
    # still holds the lock, so no other service can take it, and the service must not stop
    # saying another one took it (it is its own pid that holds it).
    proxy = _CuttableProxy(pg_server.port)
    lock = database_lock(proxy.url(pg_url))
    try:
        lock.acquire()
        session = _lock_session(lock)
        proxy.cut_clients()
        with pytest.raises(StoreError) as caught:
            lock.check()
        assert not isinstance(caught.value, LockedError)
        assert "held by this service's earlier session" in str(caught.value)
        with pytest.raises(LockedError):  # still this service's
            database_lock(pg_url).acquire()
        _end_session(pg_url, session)  # the server notices at last
        lock.check()  # taken again
        with pytest.raises(LockedError):
            database_lock(pg_url).acquire()
    finally:
        lock.release()
        proxy.close()


def test_a_service_that_lost_its_lock_to_another_stops_with_exit_1(
        pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    from click.testing import CliRunner

    from aggregator.cli import main
    from aggregator.service import core

    monkeypatch.setattr(core, "LOCK_CHECK_INTERVAL", 1.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "a.txt").write_text("A story about the Baltic Sea.\n", encoding="utf-8")
    (tmp_path / "aggregator.toml").write_text(
        f'[aggregator]\ndatabase = "{pg_url}"\nlisten = "127.0.0.1:{port}"\n'
        '[[sources]]\nname = "seeds"\ntype = "seeds"\npath = "seeds"\n', encoding="utf-8")
    other = database_lock(pg_url)
    took: list[bool] = []

    def take_it_away() -> None:
        engine = make_engine(pg_url)
        try:
            for _ in range(1000):
                # The service's lock session, once it has one (not the schema's lock, taken
                # while it migrates): ended, then the lock taken, unless the service's check
                # took it again first (then its new session is ended in turn).
                with engine.connect() as conn:
                    pid = conn.execute(text(
                        "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
                        "AND l.objid::bigint = :o"), {"o": RUN_LOCK_KEY & 0xFFFFFFFF}).scalar()
                if not pid:
                    threading.Event().wait(0.02)
                    continue
                _end_session(pg_url, pid)
                try:
                    other.acquire()
                except LockedError:
                    continue
                took.append(True)
                return
        finally:
            engine.dispose()

    helper = threading.Thread(target=take_it_away, daemon=True)
    helper.start()
    # Never a hang: SIGTERM stops the service (exit 0) should it go on regardless.
    guard = threading.Timer(60, os.kill, (os.getpid(), signal.SIGTERM))
    guard.start()
    try:
        result = CliRunner().invoke(main, ["--config", str(tmp_path / "aggregator.toml"), "run"])
    finally:
        guard.cancel()
        helper.join(10)
        other.release()
    assert took == [True]
    assert result.exit_code == 1, result.output
    assert "the database lock was lost, and another service took it; stopping" in result.output


@pytest.fixture
def service_whose_server_stopped(pg_server, tmp_path: Path) -> Iterator[Any]:  # noqa: F811
    """A Service (not running) on a server of its own, stopped once the service has
    looked at it: the database cannot be reached (a restart, a failover under way)."""
    from aggregator.service import Service

    server = PostgresServer(pg_server.bindir)
    server.start()
    try:
        url = server.create_database()
        config = load_config(_write_config(tmp_path, url, ["a"]))
        store = pipeline.open_store(config)
        try:
            service = Service(config, store)
            service.watch_once()
            server._run("pg_ctl", "-D", str(server.data), "-m", "fast", "-w", "stop")
            yield service
        finally:
            store.close()
    finally:
        server.stop()


def test_a_database_that_cannot_be_reached_is_said_once_by_the_watcher(
        service_whose_server_stopped: Any, caplog: pytest.LogCaptureFixture) -> None:
    # The watcher looks every 2 s: a traceback a look was some 3,000 lines a minute while
    # the server restarted.
    caplog.clear()
    for _ in range(3):
        service_whose_server_stopped.watch_once()
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert errors and all(r.exc_info is None and "\n" not in r.getMessage() for r in errors), caplog.text
    assert "cannot follow refreshes stored by another process: connection failed:" in caplog.text
    assert len(errors) == len({r.getMessage() for r in errors})  # once, not at every look


def test_a_publish_while_the_database_cannot_be_reached_says_so_in_one_line(
        service_whose_server_stopped: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.clear()
    service_whose_server_stopped._publish_now()
    failed = [r for r in caplog.records if r.getMessage().startswith("publish failed")]
    assert len(failed) == 1 and failed[0].exc_info is None, caplog.text
    assert failed[0].getMessage().startswith("publish failed: connection failed:")
    health = service_whose_server_stopped.health()
    assert health["status"] == "degraded"
    # /healthz says what the driver says, not SQLAlchemy's dump and its web page.
    assert health["publish_error"].startswith("connection failed:") and "\n" not in health["publish_error"]


def test_the_job_store_shares_the_database_and_a_store_opened_after_it_is_fresh(pg_url: str) -> None:
    far = datetime.now(timezone.utc) + timedelta(days=3650)  # nothing fires during the test

    def scheduled(sources: list[SourceConfig]) -> dict[str, Any]:
        scheduler = jobs.make_scheduler(pg_url, workers=1)
        scheduler.start(paused=True)
        try:
            jobs.sync_jobs(scheduler, sources, {"b": _state("b", next_run=far)}, datetime.now(timezone.utc))
            return {j.id: j for j in scheduler.get_jobs()}
        finally:
            scheduler.shutdown(wait=False)

    assert set(scheduled([_source("a", 60), _source("b", 3600)])) == {"source:a", "source:b"}
    # APScheduler's table came first; it is not ours, so the store still gets the fresh path.
    store = Store.open(pg_url)
    try:
        assert set(inspect(store.engine).get_table_names()) == set(metadata.tables) | {
            "alembic_version", jobs.JOB_TABLE}
        assert current_revision(store.engine) == SCHEMA_REVISION
    finally:
        store.close()
    again = scheduled([_source("b", 3600)])  # persisted across schedulers, on PostgreSQL
    assert set(again) == {"source:b"} and again["source:b"].next_run_time == far


def test_sources_with_the_longest_names_the_config_allows_are_scheduled(pg_url: str) -> None:
    # APScheduler's job ids are VARCHAR(191), which PostgreSQL enforces: "source:" and a
    # name of 185 to 200 characters (the config allows 200) made `run` exit 1.
    far = datetime.now(timezone.utc) + timedelta(days=3650)
    long_a, long_b = "a" * 200, "a" * 199 + "b"  # alike for their first 191 characters
    sources = [_source(long_a, 60), _source(long_b, 60), _source("short", 60)]
    scheduler = jobs.make_scheduler(pg_url, workers=1)
    scheduler.start(paused=True)
    try:
        states = {s.name: _state(s.name, next_run=far) for s in sources}
        planned = jobs.sync_jobs(scheduler, sources, states, datetime.now(timezone.utc))
        assert set(planned) == {long_a, long_b, "short"}
        assert len(scheduler.get_jobs()) == 3
        assert {tuple(j.args) for j in scheduler.get_jobs()} == {(long_a,), (long_b,), ("short",)}
        # Synced again, nothing is dropped or added; a removed one goes.
        jobs.sync_jobs(scheduler, sources, states, datetime.now(timezone.utc))
        assert {j.args[0] for j in scheduler.get_jobs()} == {long_a, long_b, "short"}
        jobs.sync_jobs(scheduler, sources[1:], states, datetime.now(timezone.utc))
        assert {j.args[0] for j in scheduler.get_jobs()} == {long_b, "short"}
    finally:
        scheduler.shutdown(wait=False)


def test_an_entry_with_a_guid_and_link_past_the_index_limit_is_stored(store: Store) -> None:
    # PostgreSQL refuses B-tree entries over 2,704 bytes: stored whole, this guid and link
    # failed every refresh of their source. Random text: a repetitive one would compress.
    rand = random.Random(5)
    long_key = "tag:one.test," + "".join(rand.choices(string.ascii_letters, k=6000))
    long_link = "https://one.test/story?ref=" + "".join(rand.choices(string.ascii_letters + "é", k=3000))
    entry = EntryData(key=long_key, title="A long one", link=long_link, updated=T0)
    assert store.ingest("one", [entry], now=T0).new == 1
    assert not store.ingest("one", [entry], now=T0 + timedelta(hours=1)).changed
    r = store.ingest("one", [replace(entry, title="A long one, corrected", updated=T0 + timedelta(hours=1))],
                     now=T0 + timedelta(hours=2))
    assert (r.new, r.updated) == (0, 1)
    # The same story from another source, by its canonical link (utm_* dropped).
    r = store.ingest("two", [EntryData(key="short", title="Echo", link=long_link + "&utm_source=x")], now=T0)
    assert (r.new, r.attached) == (0, 1)
    [item] = store.newest_items(None, 5)
    assert item.id == entry_uid("one", long_key) and item.title == "A long one, corrected"
    assert item.link == long_link  # stored whole where it is not indexed
    assert store.statuses()["two"].items == 1


def test_0009_gives_items_dated_before_1990_the_time_they_were_first_seen(pg_url: str) -> None:
    from test_store import check_0009_gives_items_dated_before_1990_the_time_they_were_first_seen

    check_0009_gives_items_dated_before_1990_the_time_they_were_first_seen(pg_url)


def test_0009_titles_blank_titles_and_detaches_stories_joined_by_a_front_page(pg_url: str) -> None:
    from test_store import check_0009_titles_blank_titles_and_detaches_stories_joined_by_a_front_page

    check_0009_titles_blank_titles_and_detaches_stories_joined_by_a_front_page(pg_url)


def test_0011_gives_stored_items_the_keys_of_plain_text_titles_and_idna_hosts(pg_url: str) -> None:
    from test_store import check_0011_gives_stored_items_the_keys_of_plain_text_titles_and_idna_hosts

    check_0011_gives_stored_items_the_keys_of_plain_text_titles_and_idna_hosts(pg_url)


def test_concurrent_openers_of_one_old_database_upgrade_it_once(pg_url: str) -> None:
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.commit()
    engine.dispose()
    assert _migrate_at_once(pg_url, 3) == []
    engine = make_engine(pg_url)
    try:
        assert current_revision(engine) == SCHEMA_REVISION
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata) == []
    finally:
        engine.dispose()


def test_a_service_of_a_release_before_the_fixed_lock_key_is_not_upgraded_under(pg_url: str) -> None:
    # Releases until 88c64e2 (schema 0008 and before) took run's advisory lock on a key made
    # of the URL's host, port and database name. This release looked for a service on its own
    # key alone: `aggregator status` after `git pull` upgraded the schema under such a service,
    # which then failed every refresh until restarted (README: the command exits 1 instead).
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    parsed = make_url(pg_url)
    name = f"aggregator:{parsed.host or ''}:{parsed.port or ''}:{parsed.database or ''}"
    old_key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0007")
        conn.commit()
    old_service = create_engine(pg_url, connect_args={"application_name": "aggregator run pid 4242 on oldhost"})
    try:
        with old_service.connect() as held:
            assert held.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": old_key}).scalar()
            held.commit()
            with pytest.raises(StoreError, match=r"is in use by pid 4242 on oldhost \(aggregator run\), at schema "
                                                 r"revision 0007, which this release upgrades"):
                pipeline.open_database(pg_url)
            with pytest.raises(LockedError, match=r"pid 4242 on oldhost \(aggregator run\)"):
                database_lock(pg_url).acquire()  # nor does a service of this release start beside it
            assert current_revision(engine) == "0007"
        old_service.dispose()  # that service stopped: its session, and its lock, ended
        pipeline.open_database(pg_url).close()
        assert current_revision(engine) == SCHEMA_REVISION
    finally:
        old_service.dispose()
        engine.dispose()


def test_64_bit_text_keys_and_unicode_links_match_exactly(store: Store) -> None:
    from aggregator.store.sql import _one_of

    keys = [-(2**63), 2**63 - 1, 2**53 + 1, -(2**53) - 1, 0]
    links = ["https://ex.test/ü?q=\"x\"", "https://ex.test/a\\b", "https://ex.test/🙂", None, None]
    with store.writing() as conn:
        conn.execute(items.insert(), [
            dict(uid=f"u{n}", source_id=store.source_state("one").id, title="t", content_type="html", truncated=False,
                 first_seen=T0, published=T0, updated=T0 + timedelta(days=n), classified=False, text_key=key,
                 canonical_link=link)
            for n, (key, link) in enumerate(zip(keys, links))])
        found = conn.execute(select(items.c.text_key).where(_one_of(conn, items.c.text_key, keys + [2**53]))).scalars()
        assert sorted(found) == sorted(keys)
        wanted = [link for link in links if link]
        found = conn.execute(select(items.c.canonical_link).where(_one_of(conn, items.c.canonical_link, wanted)))
        assert sorted(found.scalars()) == sorted(wanted)
        day2 = (T0 + timedelta(days=2)).astimezone(timezone(timedelta(hours=3)))
        found = conn.execute(select(items.c.updated).where(_one_of(conn, items.c.updated, [day2])))
        assert list(found.scalars()) == [T0 + timedelta(days=2)]


def test_concurrent_writers_store_each_story_once_on_postgresql(store: Store, pg_url: str) -> None:
    concurrent_writers_case(store, pg_url)


def _config_on_port(folder: Path, port: int) -> str:
    """A config of the seeds on the PostgreSQL database at 127.0.0.1:``port``; its path."""
    (folder / "seeds").mkdir()
    (folder / "aggregator.toml").write_text(
        f'[aggregator]\ndatabase = "postgresql+psycopg://postgres@127.0.0.1:{port}/x"\n'
        '[[sources]]\nname = "seeds"\ntype = "seeds"\npath = "seeds"\n', encoding="utf-8")
    return str(folder / "aggregator.toml")


def test_run_on_a_server_that_cannot_be_reached_says_so_in_one_line(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    from click.testing import CliRunner

    from aggregator.cli import main

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = _config_on_port(tmp_path, port)
    for command in ("status", "run"):
        result = CliRunner().invoke(main, ["--config", config, command])
        assert result.exit_code == 1, (command, result.output)
        lines = result.stderr.splitlines()
        # As every other command says it: the driver's own message, not SQLAlchemy's dump.
        assert len(lines) == 1 and lines[0].startswith("aggregator: "), (command, result.stderr)
        assert "Connection refused" in lines[0] and "sqlalche.me" not in lines[0], (command, lines[0])


def test_a_server_that_accepts_and_never_answers_fails_a_command_in_seconds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A hung server, or a network gone silent after a failover: libpq waited for ever for
    # its answer, and so did every command (and the service's lock check). Now the
    # connection gives up (connect_timeout, 10 s by default; 2 s here), with one line.
    pytest.importorskip("psycopg")
    import time

    from click.testing import CliRunner

    import aggregator.db
    from aggregator.cli import main
    from aggregator.db import connection_defaults

    monkeypatch.setitem(aggregator.db.PG_CONNECTION_DEFAULTS, "connect_timeout", 2)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel accepts; nobody ever reads or answers
        port = silent.getsockname()[1]
        config = _config_on_port(tmp_path, port)
        for command in ("status", "run"):
            started = time.monotonic()
            result = CliRunner().invoke(main, ["--config", config, command])
            assert result.exit_code == 1, (command, result.output)
            assert time.monotonic() - started < 20, command
            lines = result.stderr.splitlines()
            assert len(lines) == 1 and lines[0].startswith("aggregator: "), (command, result.stderr)
    # A URL's own settings win over the defaults; other databases get none.
    assert connection_defaults("postgresql+psycopg://h/x?connect_timeout=3&keepalives=0") == {
        "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 4, "tcp_user_timeout": 60_000}
    assert connection_defaults("sqlite:///x.db") == {}
    # ... and so does libpq's environment (review 42: PGCONNECT_TIMEOUT=30 was cut to 10 s).
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "30")
    assert "connect_timeout" not in connection_defaults("postgresql+psycopg://h/x")


def test_connections_carry_the_keepalive_defaults(pg_url: str) -> None:
    # The store's connections and the service's lock both: a silent peer is noticed.
    store = Store.open(pg_url)
    lock = PostgresLock(pg_url)
    try:
        with store.engine.connect() as conn:
            dsn = conn.connection.dbapi_connection.info.dsn  # type: ignore[union-attr]
        lock.acquire()
        lock_dsn = lock._conn.connection.dbapi_connection.info.dsn
        for text_ in (dsn, lock_dsn):
            assert "tcp_user_timeout=60000" in text_ and "keepalives_idle=10" in text_, text_
    finally:
        lock.release()
        store.close()


def test_an_update_whose_server_stops_mid_way_says_so_in_one_line_and_stores_nothing(
    pg_server, feed_server: FeedServer, tmp_path: Path  # noqa: F811
) -> None:
    # The server restarted (or failed over) while an update fetched: the update tried each
    # source again on its own, and logged a traceback of some 150 lines for each (the
    # statement and its parameters in it), a batch of 50 sources at a time, each waiting
    # up to connect_timeout, before the one line that says what happened.
    from click.testing import CliRunner

    from aggregator.cli import main

    server = PostgresServer(pg_server.bindir)
    server.start()
    try:
        url = server.create_database()
        config = f'[aggregator]\ndatabase = "{url}"\noutput_dir = "feeds"\n'
        for n in range(4):
            # The last feed stops the server before it answers: the update is under way.
            last = feed_server.route(f"/f{n}", rss20(f"F{n}", [_wire(10 * n + k, id=f"urn:f{n}:{k}") for k in range(3)]),
                                     etag=f'"f{n}"', before=server.shut_down if n == 3 else None)
            config += f'[[sources]]\nname = "f{n}"\nurl = "{feed_server.url(f"/f{n}")}"\n'
        (tmp_path / "aggregator.toml").write_text(config, encoding="utf-8")
        args = ["--config", str(tmp_path / "aggregator.toml"), "update"]
        assert CliRunner().invoke(main, [*args[:2], "migrate"]).exit_code == 0
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output
        said = result.stderr.splitlines()
        assert len(said) == 1 and said[0].startswith(f"aggregator: database {url}: "), result.stderr

        last.before = None
        server.start_again()
        store = Store.open(url)
        try:  # nothing of it stored: not the entries, nor the validators that would skip them
            assert store.item_count() == 0
            assert all(s.etag is None for s in (store.source_state(f"f{n}") for n in range(4)))
        finally:
            store.close()
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert "4 sources, 12 new items" in result.output
    finally:
        server.stop()


def test_a_service_refresh_whose_server_stops_mid_way_logs_one_line_each(
    pg_server, feed_server: FeedServer, tmp_path: Path, caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    # Each refresh running when the server went away logged three tracebacks (the crash,
    # the failure it could not record, the schedule it could not update): some 370 lines
    # a source, many sources at once. The database's own failure is expected: one line each.
    from aggregator.service import Service

    server = PostgresServer(pg_server.bindir)
    server.start()
    try:
        url = server.create_database()
        feed = feed_server.route("/f", rss20("F", [_wire(k) for k in range(3)]), before=server.shut_down)
        (tmp_path / "agg.toml").write_text(
            f'[aggregator]\ndatabase = "{url}"\noutput_dir = "feeds"\nlisten = "127.0.0.1:9"\n'
            f'[[sources]]\nname = "f"\nurl = "{feed_server.url("/f")}"\n', encoding="utf-8")
        config = load_config(tmp_path / "agg.toml")
        store = pipeline.open_store(config)
        try:
            service = Service(config, store)
            caplog.clear()
            service.refresh_job("f")  # the server stops before the feed answers
            errors = [r for r in caplog.records if r.levelname == "ERROR"]
            assert errors and all(r.exc_info is None and "\n" not in r.getMessage() for r in errors), caplog.text
            assert errors[0].getMessage().startswith("source f: refresh failed: "), caplog.text
            feed.before = None
            server.start_again()
            service.refresh_job("f")  # the server back: the next run stores it all
            assert store.statuses()["f"].items == 3
        finally:
            store.close()
    finally:
        server.stop()


def test_a_role_that_may_not_read_the_tables_is_told_so_not_sent_to_a_newer_release(
    pg_url: str, tmp_path: Path
) -> None:
    # The schema made by one role (`migrate` run as the database's owner), the commands run
    # as another that was granted nothing on its tables: every command said the database
    # was "at schema revision None, which this version of aggregator does not know: a newer
    # release made it", and told the user to restore a backup.
    from click.testing import CliRunner
    from sqlalchemy.engine import make_url

    from aggregator.cli import main

    Store.open(pg_url).close()
    engine = make_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP ROLE IF EXISTS aggregator_no_grants"))
            conn.execute(text("CREATE ROLE aggregator_no_grants LOGIN"))
    finally:
        engine.dispose()
    url = make_url(pg_url).set(username="aggregator_no_grants").render_as_string(hide_password=False)
    config = _write_config(tmp_path, url, ["a"])
    for command in ("status", "migrate"):
        result = CliRunner().invoke(main, ["--config", str(config), command])
        assert result.exit_code == 1, (command, result.output)
        lines = result.stderr.splitlines()
        assert len(lines) == 1, (command, result.stderr)
        assert "permission denied for table alembic_version" in lines[0], (command, lines[0])


def test_0014_keeps_pictures_and_has_every_feed_read_anew(pg_url: str) -> None:
    from test_store import check_0014_keeps_pictures_and_has_every_feed_read_anew

    check_0014_keeps_pictures_and_has_every_feed_read_anew(pg_url)


def test_0015_keeps_the_url_each_feed_was_read_from(pg_url: str) -> None:
    from test_store import check_0015_keeps_the_url_each_feed_was_read_from

    check_0015_keeps_the_url_each_feed_was_read_from(pg_url)


def test_0017_keeps_no_password_in_the_url_a_feed_was_read_from(pg_url: str) -> None:
    from test_store import check_0017_keeps_no_password_in_the_url_a_feed_was_read_from

    check_0017_keeps_no_password_in_the_url_a_feed_was_read_from(pg_url)


def test_0018_has_every_feed_read_anew(pg_url: str) -> None:
    from test_store import check_0018_has_every_feed_read_anew

    check_0018_has_every_feed_read_anew(pg_url)


def test_0018_makes_the_copies_of_a_story_stored_under_click_trackers_one_item(pg_url: str) -> None:
    from test_store import check_0018_makes_the_copies_of_a_story_stored_under_click_trackers_one_item

    check_0018_makes_the_copies_of_a_story_stored_under_click_trackers_one_item(pg_url)


def test_0014_s_downgrade_has_every_feed_read_anew_by_the_release_before(pg_url: str) -> None:
    from test_store import check_0014_s_downgrade_has_every_feed_read_anew_by_the_release_before

    check_0014_s_downgrade_has_every_feed_read_anew_by_the_release_before(pg_url)


def test_an_entry_sent_under_the_link_a_moved_entry_had_is_published_under_an_id_of_its_own(pg_url: str) -> None:
    from test_store import check_an_entry_sent_under_the_link_a_moved_entry_had_is_published_under_an_id_of_its_own

    check_an_entry_sent_under_the_link_a_moved_entry_had_is_published_under_an_id_of_its_own(pg_url)


def test_a_feed_behind_a_temporary_redirect_keeps_its_entries_and_finds_its_new_ones_when_it_ends(pg_url: str) -> None:
    from test_store import check_a_feed_behind_a_temporary_redirect_keeps_its_entries_and_finds_its_new_ones_when_it_ends

    check_a_feed_behind_a_temporary_redirect_keeps_its_entries_and_finds_its_new_ones_when_it_ends(pg_url)


def test_a_story_new_behind_a_302_is_that_story_at_the_next_mirror(pg_url: str) -> None:
    from test_store import check_a_story_new_behind_a_302_is_that_story_at_the_next_mirror

    check_a_story_new_behind_a_302_is_that_story_at_the_next_mirror(pg_url)
