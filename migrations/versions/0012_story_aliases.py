"""the further links and texts a story is known by

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 21:00:00

Ingest looked a story up by its origin's canonical link and dedup text only. A third
outlet linking a further source's copy of a story (an aggregator's link to the second
outlet), or a wire copy of a story's text from before its origin edited it, became a
second item of the same story. ``item_alias_links`` and ``item_alias_texts`` hold a
story's further links and texts: a further source's copy's, and its origin's before an
edit (``ingest``).

The links of the further sources' copies already stored are filled in from their link
rows (``item_sources.link``), as ingest gives them now; their texts, and the texts and
links stories had before an edit, were never stored and start empty. Downgrade drops
both tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_CHUNK = 20_000  # link rows read a statement


def upgrade() -> None:
    from aggregator.identity import canonical_link
    from aggregator.store.ingest import _indexed, _insert_aliases, _names_a_story

    op.create_table(
        'item_alias_links',
        sa.Column('link', sa.Text(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_item_alias_links_item_id_items'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('link', 'item_id', name=op.f('pk_item_alias_links')),
    )
    op.create_index(op.f('ix_item_alias_links_item_id'), 'item_alias_links', ['item_id'], unique=False)
    op.create_table(
        'item_alias_texts',
        sa.Column('text_key', sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_item_alias_texts_item_id_items'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('text_key', 'item_id', name=op.f('pk_item_alias_texts')),
    )
    op.create_index(op.f('ix_item_alias_texts_item_id'), 'item_alias_texts', ['item_id'], unique=False)

    conn = op.get_bind()
    items = sa.table("items", sa.column("id", sa.Integer), sa.column("source_id", sa.Integer),
                     sa.column("canonical_link", sa.Text))
    item_sources = sa.table("item_sources", sa.column("id", sa.Integer), sa.column("item_id", sa.Integer),
                            sa.column("source_id", sa.Integer), sa.column("link", sa.Text))
    after = 0
    while further := conn.execute(
        sa.select(item_sources.c.id, item_sources.c.item_id, item_sources.c.link, items.c.canonical_link)
        .join(items, items.c.id == item_sources.c.item_id)
        .where(item_sources.c.id > after, item_sources.c.source_id != items.c.source_id,
               item_sources.c.link.is_not(None))
        .order_by(item_sources.c.id).limit(_CHUNK)
    ).all():
        after = further[-1].id
        rows = {(link, row.item_id) for row in further
                if (canon := canonical_link(row.link)) and _names_a_story(canon)
                and (link := _indexed(canon)) != row.canonical_link}
        _insert_aliases(conn, rows, [])  # a pair two chunks both hold is stored once


def downgrade() -> None:
    op.drop_index(op.f('ix_item_alias_texts_item_id'), table_name='item_alias_texts')
    op.drop_table('item_alias_texts')
    op.drop_index(op.f('ix_item_alias_links_item_id'), table_name='item_alias_links')
    op.drop_table('item_alias_links')
