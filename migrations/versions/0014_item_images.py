"""item images

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 23:00:00

An entry's picture (Media RSS media:thumbnail, an image media:content or enclosure, a podcast
episode's itunes:image, JSON Feed's image) was dropped; each item keeps one now, in a column of
its own (NULL for none), published as media:thumbnail. It is not part of an entry's fingerprint:
a stored item whose picture appears or changes takes it without being dated anew. Each feed
forgets its validators and is marked to be read anew (``REREAD``, as by 0013): a feed that
answers 304 would otherwise give its stored items their pictures only when it next changes.
The same re-read gives a news aggregator's stored items (RSS <source>: Google News) their
outlet as author and their titles without its name.

Downgrade drops the column and marks every feed for the release before's own re-read
(``REREAD``, validators dropped): it reads feeds otherwise (an outlet's item keeps the
outlet in its title and no author), and without the mark its first parse of a changed feed
took each entry this release read otherwise for one changed upstream, dating it anew.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('items', sa.Column('image', sa.Text(), nullable=True))
    op.execute("UPDATE sources SET etag = NULL, last_modified = NULL, body_hash = 'reread' WHERE type = 'feed'")


def downgrade() -> None:
    op.execute("UPDATE sources SET etag = NULL, last_modified = NULL, body_hash = 'reread' WHERE type = 'feed'")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.dialect.dbapi.sqlite_version_info < (3, 35):  # type: ignore[union-attr]
        with op.batch_alter_table('items', schema=None) as batch_op:
            batch_op.drop_column('image')
    else:
        # SQLite's own DROP COLUMN (3.35): a batch copy of items, whose old table is dropped,
        # would cascade to every row referring to an item where foreign keys are on.
        op.drop_column('items', 'image')
