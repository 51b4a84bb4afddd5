"""the configured source title in a column of its own

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 02:00:00

``sources.title`` held either the title the config gave a source or, when it gave none, the
feed's own title, filled once: a config title that was removed stayed for good, and a feed
that renamed itself was never followed. The config's title now has its own column
(``sync_sources`` sets it from the config at every start) and ``title`` is always the feed's
own, refreshed by every parse. A feed's stored title may be either, so each feed source
with one forgets its validators: its next refresh parses it again and stores the feed's own
title (until then the stored one stands). Any other source's title was the config's.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('sources', sa.Column('config_title', sa.Text(), nullable=True))
    op.execute("UPDATE sources SET etag = NULL, last_modified = NULL, body_hash = NULL "
               "WHERE type = 'feed' AND title IS NOT NULL")
    op.execute("UPDATE sources SET title = NULL WHERE type <> 'feed'")  # only ever the config's


def downgrade() -> None:
    # The shown title, as the earlier release kept it: the config's, else the feed's.
    op.execute("UPDATE sources SET title = config_title WHERE config_title IS NOT NULL")
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_column('config_title')
