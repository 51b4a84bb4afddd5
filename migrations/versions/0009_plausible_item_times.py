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
same the other way round. The next publish writes the feeds again (``data_version``).
Every feed is parsed again at its next refresh, to take this release's readings.

Downgrade keeps the new times: they are as valid to the release before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aggregator.models

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from aggregator.store.ingest import PLAUSIBLE_SINCE, _free_times, _plausible
    from aggregator.store.sql import _bump_data_version

    when = aggregator.models.UTCDateTime
    items = sa.table("items", sa.column("id", sa.Integer), sa.column("first_seen", when()),
                     sa.column("published", when()), sa.column("updated", when()))
    item_topics = sa.table("item_topics", sa.column("item_id", sa.Integer), sa.column("updated", when()))
    conn = op.get_bind()
    # This release reads feeds anew (a time zone by name, a date without a zone, an
    # author's whole e-mail address, a feed's link from its channel): each feed forgets its
    # validators, and its next refresh parses it again, an unchanged one too, or its entries
    # would keep the earlier readings until it next changes. Entries keep their times.
    op.execute("UPDATE sources SET etag = NULL, last_modified = NULL, body_hash = NULL WHERE type = 'feed'")
    rows = conn.execute(
        sa.select(items.c.id, items.c.first_seen, items.c.published, items.c.updated)
        .where(sa.or_(items.c.published < PLAUSIBLE_SINCE, items.c.updated < PLAUSIBLE_SINCE))
        .order_by(items.c.id)
    ).all()
    if not rows:
        return
    moved = [row for row in rows if _plausible(row.updated) is None]
    wanted = [_plausible(row.published) or row.first_seen for row in moved]
    times = dict(zip((row.id for row in moved), _free_times(conn, wanted)))
    for row in rows:
        updated = times.get(row.id, row.updated)
        published = _plausible(row.published) or _plausible(row.updated) or row.first_seen
        conn.execute(items.update().where(items.c.id == row.id).values(published=published, updated=updated))
        if row.id in times:
            conn.execute(item_topics.update().where(item_topics.c.item_id == row.id).values(updated=updated))
    _bump_data_version(conn)


def downgrade() -> None:
    pass
