"""an index on fetches.finished, for the daily prune of the refresh history

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 04:20:00

The daily prune (``Store.prune_fetches``) deletes the attempts finished more than a month
ago, a chunk at a time. Without an index each chunk is found by a scan of the table, and
the last one (fewer rows than a chunk) reads the whole history: about 1.4 million rows for
1,000 half-hourly sources, inside a write transaction. With it, each chunk reads only the
rows it deletes.
"""

from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_fetches_finished', 'fetches', ['finished'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_fetches_finished', table_name='fetches')
