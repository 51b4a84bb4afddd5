"""The database schema: SQLAlchemy 2.x typed models.

Alembic migrations in ``migrations/`` create exactly this schema (a test checks it).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


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

        def process(value: datetime | None) -> str | None:
            # The same text SQLAlchemy's SQLite DATETIME writes ("2025-01-02 03:04:05.000006")
            # from one C call instead of two Python layers: a fifth of the cost of storing a row.
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError(f"naive datetime {value!r} cannot be stored; use aware UTC")
            if value.tzinfo is not timezone.utc:
                value = value.astimezone(timezone.utc)
            return value.isoformat(" ", "microseconds")[:-6]  # without its "+00:00"

        return process

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[str] = mapped_column(String(20))
    url: Mapped[str | None] = mapped_column(Text)  # current URL (updated by permanent redirects)
    config_url: Mapped[str | None] = mapped_column(Text)  # the URL as configured, to notice edits
    title: Mapped[str | None] = mapped_column(Text)
    site_link: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    body_hash: Mapped[str | None] = mapped_column(String(64))
    pending_redirect: Mapped[str | None] = mapped_column(Text)
    last_fetch: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success: Mapped[datetime | None] = mapped_column(UTCDateTime)
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    warning: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_run: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retired: Mapped[bool] = mapped_column(Boolean, default=False)


class Item(Base):
    __tablename__ = "items"
    # (source, updated) serves lookups by source and each source's newest item time
    # (atom:source/updated) without reading the source's rows.
    __table_args__ = (Index("ix_items_source_updated", "source_id", "updated"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The published entry id, fixed for ever. Unique without an index: it derives from
    # (source name, key), which item_sources keeps unique, and nothing looks items up by
    # it (a unique index on random uuids cost a quarter of every insert).
    uid: Mapped[str] = mapped_column(String(100))
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    canonical_link: Mapped[str | None] = mapped_column(Text, index=True)
    # identity.text_key of the dedup text: a 64-bit key indexes at a fraction of the
    # cost of a 64-character hash.
    text_key: Mapped[int | None] = mapped_column(BigInteger, index=True)
    summary: Mapped[str | None] = mapped_column(Text)
    content: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(10), default="html")
    author: Mapped[str | None] = mapped_column(Text)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    published: Mapped[datetime] = mapped_column(UTCDateTime)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, unique=True)  # distinct: Atom readers key on it
    classified: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    # What topic rules match against (text.rule_text), kept so a reclassify after a rule
    # change reads it instead of stripping every item's HTML again.
    match_text: Mapped[str | None] = mapped_column(Text)


class ItemSource(Base):
    """Every source that carried an item, the first one included."""

    __tablename__ = "item_sources"
    __table_args__ = (UniqueConstraint("source_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), index=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(Text)  # the entry's identity within that source
    link: Mapped[str | None] = mapped_column(Text)  # that source's own link to the story
    fingerprint: Mapped[str] = mapped_column(String(64))  # hash of what the source last sent
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)


class Topic(Base):
    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(Text)


class ItemTopic(Base):
    """Membership; ``updated`` is copied from the item so a topic's newest entries
    come from one index range scan instead of a join and sort."""

    __tablename__ = "item_topics"
    # Keyed item first: classify reads and writes memberships item by item, in id order,
    # and the key also serves lookups by item without an index of their own.
    __table_args__ = (
        PrimaryKeyConstraint("item_id", "topic_id"),
        Index("ix_item_topics_topic_updated", "topic_id", "updated"),
    )

    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    updated: Mapped[datetime] = mapped_column(UTCDateTime)


class Fetch(Base):
    """Refresh history, one row per attempt."""

    __tablename__ = "fetches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    started: Mapped[datetime] = mapped_column(UTCDateTime)
    finished: Mapped[datetime] = mapped_column(UTCDateTime)
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    warning: Mapped[str | None] = mapped_column(Text)
    new_items: Mapped[int] = mapped_column(Integer, default=0)
    updated_items: Mapped[int] = mapped_column(Integer, default=0)


class Meta(Base):
    """Small key/value state: the rules hash, data and publish versions."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
