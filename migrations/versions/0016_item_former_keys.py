"""item former keys

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-24 23:40:00

Schema 0015 re-keys an entry of relative links when its feed moves, its item keeping the
published id made of its first key. A later entry under that key (the feed sending the
old link whole as well, or the entry back after the feed moved back while it was out of
the document) was stored anew under the same id: two entries with one atom:id.
``item_former_keys`` keeps each key an item left (ingest gives an entry stored anew
under one an id of its own, or finds the item by it). (0015 and 0016 ship in one release: no item was re-keyed before the table.) Downgrade drops the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'item_former_keys',
        sa.Column('source_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('key', sa.Text(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_item_former_keys_source_id_sources'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_item_former_keys_item_id_items'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('source_id', 'key', name=op.f('pk_item_former_keys')),
    )
    op.create_index(op.f('ix_item_former_keys_item_id'), 'item_former_keys', ['item_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_item_former_keys_item_id'), table_name='item_former_keys')
    op.drop_table('item_former_keys')
