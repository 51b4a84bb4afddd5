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
"""

from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_fetches_finished', 'fetches', ['finished'], unique=False)
    op.execute("INSERT INTO meta (key, value) SELECT 'fingerprints_whole_after', "
               "CAST(COALESCE(MAX(id), 0) AS VARCHAR(20)) FROM item_sources")


def downgrade() -> None:
    op.execute("DELETE FROM meta WHERE key = 'fingerprints_whole_after'")
    op.drop_index('ix_fetches_finished', table_name='fetches')
