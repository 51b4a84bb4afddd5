"""source link base

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 10:00:00

A feed without GUIDs whose <link>s are relative (story-1.html) keys its entries by their
links resolved against the URL the feed was fetched from: once it moved to another folder
or host (a 301, or a 302 that stays), every entry took another key and was published
twice. Each source now keeps the URL its stored entries' links were resolved against (the
final URL of its last parse, without credentials), so that an entry not found by its key
after a move is found by the key it had there (``IngestJob.moved``). Filled in with the
source's URL: the best guess at where its last document came from.

Downgrade drops the column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('sources', sa.Column('link_base', sa.Text(), nullable=True))
    op.execute("UPDATE sources SET link_base = url WHERE type = 'feed'")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.dialect.dbapi.sqlite_version_info < (3, 35):  # type: ignore[union-attr]
        with op.batch_alter_table('sources', schema=None) as batch_op:
            batch_op.drop_column('link_base')
    else:
        # SQLite's own DROP COLUMN (3.35): a batch copy of sources, whose old table is
        # dropped, would cascade to every item and fetch of each source where foreign keys are on.
        op.drop_column('sources', 'link_base')
