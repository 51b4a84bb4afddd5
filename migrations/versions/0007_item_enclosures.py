"""item enclosures

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 02:10:00

The files entries carry (a podcast's audio, a picture) were dropped; they are kept in a table
of their own, rows only for items that have any. Items stored before take theirs when their
feed is next parsed, and keep their times (ingest's _earlier_fingerprints).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'item_enclosures',
        sa.Column('item_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('position', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('href', sa.Text(), nullable=False),
        sa.Column('type', sa.Text(), nullable=True),
        sa.Column('length', sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_item_enclosures_item_id_items'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('item_id', 'position', name=op.f('pk_item_enclosures')),
    )


def downgrade() -> None:
    op.drop_table('item_enclosures')
