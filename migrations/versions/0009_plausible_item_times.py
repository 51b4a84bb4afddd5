"""items dated before 1990 take the time they were first seen

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 07:00:00

A feed whose CMS has no date for an entry often writes the zero of its clock
("Thu, 01 Jan 1970 00:00:00 +0000"). Releases before this one stored that date: the item
sat at the bottom of every feed, under years of others, and was never published in a busy
one; where it was, the W3C feed validator called its date implausible (ImplausibleDate,
before 1990). Ingest now takes such a date as none (``ingest.PLAUSIBLE_SINCE``). The items
stored so take the times ingest gives them now: ``updated`` the entry's other date when
that one is plausible, else the time the item was first seen (nudged free of every other
item's, as ``updated`` is unique), its copy in ``item_topics`` with it; ``published`` the
same the other way round.

Items stored with a title of only invisible characters (zero-width spaces) take their
first sentence as their title, as ingest gives such an entry now. A further source's entry
attached to another source's story only by a link to a site's front page, which names no
story, is detached: the next refresh stores it as a story of its own (or attaches it again
by its text). Every feed is parsed again at its next refresh, to take this release's
readings (a time zone by name, a date without a zone, an author's whole address). The next
publish writes the feeds again (``data_version``).

Downgrade keeps all of it: it is as valid to the release before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aggregator.models

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_CHUNK = 20_000  # rows read a statement where a pass reads many


def upgrade() -> None:
    from aggregator.store.sql import _bump_data_version

    conn = op.get_bind()
    # This release reads feeds anew (a time zone by name, a date without a zone, an
    # author's whole e-mail address, a feed's link from its channel): each feed forgets its
    # validators, and its next refresh parses it again, an unchanged one too, or its entries
    # would keep the earlier readings until it next changes. Entries keep their times.
    op.execute("UPDATE sources SET etag = NULL, last_modified = NULL, body_hash = NULL WHERE type = 'feed'")
    changed = _plausible_times(conn)
    changed |= _visible_titles(conn)
    changed |= _front_pages_detached(conn)
    if changed:
        _bump_data_version(conn)


def _plausible_times(conn: sa.Connection) -> bool:
    """Items dated before 1990 take the times ingest gives such entries now."""
    from aggregator.store.ingest import PLAUSIBLE_SINCE, _free_times, _plausible

    when = aggregator.models.UTCDateTime
    items = sa.table("items", sa.column("id", sa.Integer), sa.column("first_seen", when()),
                     sa.column("published", when()), sa.column("updated", when()))
    item_topics = sa.table("item_topics", sa.column("item_id", sa.Integer), sa.column("updated", when()))
    rows = conn.execute(
        sa.select(items.c.id, items.c.first_seen, items.c.published, items.c.updated)
        .where(sa.or_(items.c.published < PLAUSIBLE_SINCE, items.c.updated < PLAUSIBLE_SINCE))
        # newest id first, as ingest nudges a batch's times from its last entry: of items first
        # seen together, the one stored first (its feed's first, its newest) stays on top
        .order_by(items.c.id.desc())
    ).all()
    moved = [row for row in rows if _plausible(row.updated) is None]
    wanted = [_plausible(row.published) or row.first_seen for row in moved]
    times = dict(zip((row.id for row in moved), _free_times(conn, wanted)))
    for row in rows:
        updated = times.get(row.id, row.updated)
        published = _plausible(row.published) or _plausible(row.updated) or row.first_seen
        conn.execute(items.update().where(items.c.id == row.id).values(published=published, updated=updated))
        if row.id in times:
            conn.execute(item_topics.update().where(item_topics.c.item_id == row.id).values(updated=updated))
    return bool(rows)


def _visible_titles(conn: sa.Connection) -> bool:
    """Items stored with a title of only invisible characters (zero-width spaces, a byte
    order mark) take the title ingest gives such an entry now, its first sentence, with
    their duplicate text; their rule texts are derived again by the next classify."""
    from aggregator.identity import text_key
    from aggregator.store.ingest import _derived_texts, _visible
    from aggregator.types import EntryData

    items = sa.table("items", sa.column("id", sa.Integer), sa.column("title", sa.Text), sa.column("link", sa.Text),
                     sa.column("summary", sa.Text), sa.column("content", sa.Text),
                     sa.column("content_type", sa.String), sa.column("text_key", sa.BigInteger),
                     sa.column("classified", sa.Boolean))
    rule_texts = sa.table("rule_texts", sa.column("item_id", sa.Integer), sa.column("text", sa.Text))
    blank = [row for row in conn.execute(sa.select(items.c.id, items.c.title).where(items.c.title != ""))
             if not row.title.isascii() and not _visible(row.title)]
    for item_id, _ in blank:
        row = conn.execute(sa.select(items.c.link, items.c.summary, items.c.content, items.c.content_type)
                           .where(items.c.id == item_id)).one()
        entry = EntryData(key="", title=None, link=row.link, summary=row.summary, content=row.content,
                          content_type=row.content_type)
        title, _, dedup = _derived_texts(entry)
        conn.execute(items.update().where(items.c.id == item_id).values(
            title=title, text_key=text_key(dedup) if dedup else None, classified=False))
        conn.execute(rule_texts.update().where(rule_texts.c.item_id == item_id).values(text=None))
    return bool(blank)


def _front_pages_detached(conn: sa.Connection) -> bool:
    """A further source's entry that an earlier release attached to another source's story
    by a link to a site's front page, which names no story (``ingest._names_a_story``):
    its link row goes, and the next refresh (which parses every feed again) stores the
    entry as a story of its own, or attaches it again when it has the story's text."""
    from aggregator.identity import canonical_link
    from aggregator.store.ingest import _names_a_story

    items = sa.table("items", sa.column("id", sa.Integer), sa.column("source_id", sa.Integer),
                     sa.column("classified", sa.Boolean))
    item_sources = sa.table("item_sources", sa.column("id", sa.Integer), sa.column("item_id", sa.Integer),
                            sa.column("source_id", sa.Integer), sa.column("link", sa.Text))
    detached, after = False, 0
    # A chunk of link rows at a time: all at once held about 0.4 KB of memory a row, and
    # every story a further source joined has one.
    while further := conn.execute(
        sa.select(item_sources.c.id, item_sources.c.item_id, item_sources.c.link)
        .join(items, items.c.id == item_sources.c.item_id)
        .where(item_sources.c.id > after, item_sources.c.source_id != items.c.source_id,
               item_sources.c.link.is_not(None))
        .order_by(item_sources.c.id).limit(_CHUNK)
    ).all():
        after = further[-1].id
        front = [row for row in further if (canon := canonical_link(row.link)) and not _names_a_story(canon)]
        for row in front:
            conn.execute(item_sources.delete().where(item_sources.c.id == row.id))
            # a topic limited to that source held the story for it
            conn.execute(items.update().where(items.c.id == row.item_id).values(classified=False))
        detached |= bool(front)
    return detached


def downgrade() -> None:
    pass
