"""PostgreSQL as a tested backend: the store, the migrations and the pipeline on a real server.

The server is the session's throwaway ``pgserver.PostgresServer``; each test gets a new empty
database. Without the server binaries or psycopg these tests skip.

Most of the store's behaviour is already specified by tests written against the ``store``
fixture: the ones that hold for any database are imported here and run again with ``store``
overridden to a PostgreSQL store (pytest collects imported test functions as this module's).
"""

from __future__ import annotations

from collections.abc import Iterator
import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from aggregator.db import SCHEMA_REVISION, alembic_config, current_revision, make_engine, migrate
from aggregator.models import metadata
from aggregator.store import SourceSpec, Store

from pgserver import pg_server, pg_url  # noqa: F401 - fixtures
from test_db import schema
from test_publish_views import (  # noqa: F401 - collected again, on PostgreSQL
    test_feed_items_order_topics_and_sources,
)
from test_store import (  # noqa: F401 - collected again, on PostgreSQL
    test_a_freed_time_below_a_stored_nudge_is_not_handed_out_twice,
    test_an_untitled_entry_is_titled_by_its_first_sentence,
    test_an_updated_item_moves_to_the_top_of_its_topic,
    test_aware_utc_round_trip,
    test_distinct_updated_times,
    test_entries_of_one_source_sharing_a_link_or_text_stay_separate,
    test_inserted_item_ids_are_those_of_the_rows_in_order,
    test_reingest_adds_nothing_and_change_updates_in_place,
    test_same_story_from_two_sources_is_one_item,
)


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


def test_concurrent_openers_of_one_empty_database_all_end_with_one_schema(pg_url: str) -> None:
    # Without a lock, both see no tables and the slower CREATE TABLE fails on the
    # catalog's unique index; create_fresh serialises them with an advisory lock.
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_it() -> None:
        engine = make_engine(pg_url)
        try:
            start.wait()
            migrate(engine)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        assert current_revision(engine) == SCHEMA_REVISION
    finally:
        engine.dispose()
