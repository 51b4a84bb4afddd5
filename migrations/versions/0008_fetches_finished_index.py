"""an index on fetches.finished, for the daily prune of the refresh history; where the
wholly fingerprinted item_sources rows begin

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 04:20:00

The daily prune (``Store.prune_fetches``) deletes the attempts finished more than a month
ago, a chunk at a time. Without an index each chunk is found by a scan of the table, and
the last one (fewer rows than a chunk) reads the whole history: about 1.4 million rows for
1,000 half-hourly sources, inside a write transaction. With it, each chunk reads only the
rows it deletes.

It also records the last ``item_sources`` row stored so far (meta
``fingerprints_whole_after``). Rows after it were fingerprinted by a release that reads
every entry's files and takes links without their tracking parameters: for them, an
enclosure that appears is a change upstream (the entry is re-dated), where for the rows
before it the same difference may be only this release reading more of an unchanged
entry (its time is kept). A database created fresh has no such row: every row is after.

And the rule texts of HTML-titled items with a ``<`` or ``&`` in the title are cleared: they
were stored before a title was plain text to the rules (``Why <Baltic> matters`` lost the
word ``Baltic`` as a tag), and a reclassify reads the stored text. Cleared, it is derived
again from the item by every classify (``classify`` reads such items' own columns), and the
items are classified again at the next publish.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_fetches_finished', 'fetches', ['finished'], unique=False)
    op.execute("INSERT INTO meta (key, value) SELECT 'fingerprints_whole_after', "
               "CAST(COALESCE(MAX(id), 0) AS VARCHAR(20)) FROM item_sources")
    items = sa.table("items", sa.column("id", sa.Integer), sa.column("title", sa.Text),
                     sa.column("content_type", sa.Text), sa.column("classified", sa.Boolean))
    rule_texts = sa.table("rule_texts", sa.column("item_id", sa.Integer), sa.column("text", sa.Text))
    markup = (sa.select(items.c.id)
              .where(items.c.content_type == "html", sa.or_(items.c.title.contains("<"), items.c.title.contains("&"))))
    op.execute(rule_texts.update().where(rule_texts.c.item_id.in_(markup)).values(text=None))
    op.execute(items.update().where(items.c.id.in_(markup)).values(classified=False))


def downgrade() -> None:
    op.execute("DELETE FROM meta WHERE key = 'fingerprints_whole_after'")
    op.drop_index('ix_fetches_finished', table_name='fetches')
