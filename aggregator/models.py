"""The database schema: SQLAlchemy Core tables.

Alembic migrations in ``migrations/`` create exactly this schema (a test checks it).
Core, not ORM classes: the store reads and writes rows in bulk and hands frozen
dataclasses out, so mapped objects would buy nothing, and not importing
``sqlalchemy.orm`` saves a long-running service about 6 MiB of resident memory.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def sqlite_utc_text(value: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DATETIME writes ("2025-01-02 03:04:05.000006") for an
    aware time, in UTC. One %-format instead of two Python layers (a fifth of the cost of
    storing a row), and not ``isoformat``, which formats through vfprintf twice."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} cannot be stored; use aware UTC")
    if value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (
        value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes. SQLite's DateTime(timezone=True) silently drops the offset,
    so values are normalised to UTC on the way in and marked UTC on the way out."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; use aware UTC")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def bind_processor(self, dialect: Any) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return sqlite_utc_text

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


metadata = MetaData(naming_convention=NAMING_CONVENTION)

sources = Table(
    "sources", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("type", String(20), nullable=False),
    Column("url", Text),  # current URL (updated by permanent redirects)
    Column("config_url", Text),  # the URL as configured, to notice edits
    Column("title", Text),  # the feed's own title, as its last parse gave it
    Column("config_title", Text),  # the title the config gives it, if any: shown before the feed's
    Column("site_link", Text),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", String(64)),
    Column("pending_redirect", Text),
    # The URL its stored entries' relative links were resolved against: the final URL of
    # its last parse, without credentials (schema 0015; see IngestJob.moved).
    Column("link_base", Text),
    Column("last_fetch", UTCDateTime),
    Column("last_success", UTCDateTime),
    Column("http_status", Integer),
    Column("error", Text),
    Column("warning", Text),
    Column("failures", Integer, nullable=False, default=0),
    Column("next_run", UTCDateTime),
    Column("retired", Boolean, nullable=False, default=False),
)

items = Table(
    "items", metadata,
    Column("id", Integer, primary_key=True),
    # The published entry id, fixed for ever. Unique without an index: it derives from
    # (source name, key), which item_sources keeps unique, and nothing looks items up by
    # it (a unique index on random uuids cost a quarter of every insert).
    Column("uid", String(100), nullable=False),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("title", Text, nullable=False),
    Column("link", Text),
    Column("canonical_link", Text, index=True),
    # identity.text_key of the dedup text: a 64-bit key indexes at a fraction of the
    # cost of a 64-character hash.
    Column("text_key", BigInteger, index=True),
    Column("summary", Text),
    Column("content", Text),
    Column("content_type", String(10), nullable=False, default="html"),
    Column("author", Text),
    Column("truncated", Boolean, nullable=False, default=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("published", UTCDateTime, nullable=False),
    Column("updated", UTCDateTime, nullable=False, unique=True),  # distinct: Atom readers key on it
    Column("classified", Boolean, nullable=False, default=False, index=True),
    # Its picture (EntryData.image), published as media:thumbnail; NULL for none (schema 0014).
    Column("image", Text),
    # (source, updated) serves lookups by source and each source's newest item time
    # (atom:source/updated) without reading the source's rows.
    Index("ix_items_source_updated", "source_id", "updated"),
)

# What topic rules match against (text.rule_text), one row per item, kept so a
# reclassify after a rule change reads it instead of stripping every item's HTML again.
# A table of its own, not a column of items: classify reads nothing else, so it reads
# many texts a page instead of a page or more an item; and behind an item's summary and
# content, SQLite read the content's overflow pages to reach it.
rule_texts = Table(
    "rule_texts", metadata,
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("text", Text),  # NULL for items stored before rule texts were kept
)

# The files an item carries (Enclosure), in the order its source gave them. Only items
# with any have rows: a refresh of items without writes nothing here.
item_enclosures = Table(
    "item_enclosures", metadata,
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("href", Text, nullable=False),
    Column("type", Text),
    Column("length", BigInteger),
)

# The further links and texts a story is known by, beside its own (items.canonical_link,
# items.text_key): a further source's copy (its own canonical link and dedup text) and
# the ones its origin sent before an edit. Ingest looks stories up by these too, so a
# third outlet linking the second's copy, or a wire copy of the text before the origin
# edited it, is the same story. Only such items have rows: a refresh of stories from one
# source each writes nothing here.
item_alias_links = Table(
    "item_alias_links", metadata,
    Column("link", Text, primary_key=True),  # as items.canonical_link stores it
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False, index=True),
)
item_alias_texts = Table(
    "item_alias_texts", metadata,
    Column("text_key", BigInteger, primary_key=True, autoincrement=False),  # as items.text_key
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False, index=True),
)

# The keys a source's item was once stored under and no longer is (an entry of relative
# links re-keyed when its feed moved, schema 0016): the item's published id derives from
# its first key, so an entry stored anew under that key takes an id of its own
# (``ingest``), and one that comes back there, its item not otherwise in the document, is
# found by it. Only moved items have rows.
item_former_keys = Table(
    "item_former_keys", metadata,
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True,
           autoincrement=False),
    Column("key", Text, primary_key=True),  # as item_sources.key stores it
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False, index=True),
)

# Every source that carried an item, the first one included.
item_sources = Table(
    "item_sources", metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False),  # the entry's identity within that source
    Column("link", Text),  # that source's own link to the story
    Column("fingerprint", String(64), nullable=False),  # hash of what the source last sent
    # ... less the values of its dates (NULL: stored before schema 0010); see ingest
    Column("undated_fingerprint", String(64)),
    Column("first_seen", UTCDateTime, nullable=False),
    UniqueConstraint("source_id", "key"),
)

topics = Table(
    "topics", metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(200), nullable=False, unique=True),
    Column("title", Text, nullable=False),
)

# Membership; ``updated`` is copied from the item so a topic's newest entries come from
# one index range scan instead of a join and sort. Keyed item first: classify reads and
# writes memberships item by item, in id order, and the key also serves lookups by item
# without an index of their own.
item_topics = Table(
    "item_topics", metadata,
    Column("topic_id", Integer, ForeignKey("topics.id", ondelete="CASCADE"), nullable=False),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("updated", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("item_id", "topic_id"),
    Index("ix_item_topics_topic_updated", "topic_id", "updated"),
)

# Refresh history, one row per attempt.
fetches = Table(
    "fetches", metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("started", UTCDateTime, nullable=False),
    Column("finished", UTCDateTime, nullable=False, index=True),  # the daily prune's
    Column("http_status", Integer),
    Column("error", Text),
    Column("warning", Text),
    Column("new_items", Integer, nullable=False, default=0),
    Column("updated_items", Integer, nullable=False, default=0),
)

# Small key/value state: the rules hash, data and publish versions.
meta = Table(
    "meta", metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)
