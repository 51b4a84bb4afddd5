"""rule texts in a table of their own

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 03:00:00

Classify reads an item's rule text and nothing else. As the last column of items it
shared each page with the item's summary and content: a reclassify read a page or
more an item (and the content's overflow pages in front of it), where a narrow table
holds many texts a page. Every item gets a row; items stored before rule texts were
kept (NULL) still get their text derived by classify.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

log = logging.getLogger("aggregator.db")

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite and bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        # Dropping the old items table would cascade to every row that references an item.
        raise RuntimeError("migration 0005 rebuilds the items table and must run with SQLite's "
                           "foreign_keys off, as `aggregator migrate` runs it")
    op.create_table(
        'rule_texts',
        sa.Column('item_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('text', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_rule_texts_item_id_items'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('item_id', name=op.f('pk_rule_texts')),
    )
    op.execute("INSERT INTO rule_texts (item_id, text) SELECT id, match_text FROM items")
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_column('match_text')
    if sqlite:
        log.warning("the items table was rebuilt without its rule texts; the database file keeps "
                    "the old pages as free space until VACUUM (sqlite3 FILE 'VACUUM')")


def downgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('match_text', sa.Text(), nullable=True))
    op.execute("UPDATE items SET match_text = (SELECT text FROM rule_texts WHERE rule_texts.item_id = items.id)")
    op.drop_table('rule_texts')
