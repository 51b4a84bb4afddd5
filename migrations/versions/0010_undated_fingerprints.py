"""each source's fingerprint of an entry less its dates

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 17:00:00

A feed made on request that stamps every entry with the time of the request (a generated
RSS bridge, a CMS without stored dates) sent each entry "changed" at every refresh: ingest
dated it anew, every such entry went to the top of every feed each time, and no published
feed stayed the same long enough to answer 304. ``item_sources.undated_fingerprint`` is
the hash of what the source sent less the values of its dates (which of them it sent
still counts): when only the dates moved, the item keeps its times (``ingest``).

Link rows stored before have none (NULL): such a row takes one at its source's next change,
so a date that moves at the first refresh after this upgrade still dates its entry anew,
once. Downgrade drops the column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('item_sources', sa.Column('undated_fingerprint', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('item_sources', schema=None) as batch_op:
        batch_op.drop_column('undated_fingerprint')
