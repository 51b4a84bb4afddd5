"""compact item keys: text_hash becomes a 64-bit text_key, uid loses its unique index,
items are indexed by (source, updated)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 19:45:00

Inserting items was bound by index maintenance on random strings: a 64-character
text hash and the uuid entry id. The text key is the first 8 bytes of the same
SHA-256 (so it is computed here from the stored hash, without re-reading any text);
the uid stays unique by construction (it derives from item_sources' unique
(source_id, key)) and is never looked up, so it needs no index. The (source_id, updated) index replaces the source_id one: it
answers each source's newest item time from the index alone.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_items = sa.table('items', sa.column('id', sa.Integer), sa.column('text_hash', sa.String),
                  sa.column('text_key', sa.BigInteger), sa.column('title', sa.Text),
                  sa.column('summary', sa.Text), sa.column('content', sa.Text),
                  sa.column('content_type', sa.String))


def _copy(rows: list[tuple[int, object]], column: str) -> None:
    if rows:
        op.get_bind().execute(
            sa.update(_items).where(_items.c.id == sa.bindparam('b_id')).values({column: sa.bindparam('b_v')}),
            [{'b_id': i, 'b_v': v} for i, v in rows],
        )


# Items converted per statement. All at once held about 0.75 KB of memory an item (a million
# items: most of a small machine's memory), and an upgrade killed for it rolls back and fails
# again at every start.
_CHUNK = 20_000


def upgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('text_key', sa.BigInteger(), nullable=True))
    after = 0
    while found := op.get_bind().execute(
            sa.select(_items.c.id, _items.c.text_hash)
            .where(_items.c.id > after, _items.c.text_hash.is_not(None)).order_by(_items.c.id).limit(_CHUNK)).all():
        _copy([(i, int.from_bytes(bytes.fromhex(h[:16]), 'big', signed=True)) for i, h in found], 'text_key')
        after = found[-1][0]
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_items_text_hash'))
        batch_op.drop_column('text_hash')
        batch_op.drop_constraint(batch_op.f('uq_items_uid'), type_='unique')
        batch_op.create_index(batch_op.f('ix_items_text_key'), ['text_key'], unique=False)
        batch_op.drop_index(batch_op.f('ix_items_source_id'))
        batch_op.create_index('ix_items_source_updated', ['source_id', 'updated'], unique=False)


def downgrade() -> None:
    from aggregator.identity import dedup_text
    from aggregator.store import fallback_title
    from aggregator.types import EntryData

    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('text_hash', sa.String(length=64), nullable=True))
    rows = op.get_bind().execute(sa.select(_items.c.id, _items.c.title, _items.c.summary, _items.c.content,
                                           _items.c.content_type)).all()
    hashes = []
    for item_id, title, summary, content, ctype in rows:
        # An untitled entry was stored under its fallback title, but hashed without one.
        untitled = title == fallback_title(EntryData(key="", summary=summary, content=content, content_type=ctype))
        text = dedup_text(None if untitled else title, content or summary, ctype)
        if text:
            hashes.append((item_id, hashlib.sha256(text.encode('utf-8')).hexdigest()))
    _copy(hashes, 'text_hash')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index('ix_items_source_updated')
        batch_op.create_index(batch_op.f('ix_items_source_id'), ['source_id'], unique=False)
        batch_op.drop_index(batch_op.f('ix_items_text_key'))
        batch_op.drop_column('text_key')
        batch_op.create_unique_constraint(batch_op.f('uq_items_uid'), ['uid'])
        batch_op.create_index(batch_op.f('ix_items_text_hash'), ['text_hash'], unique=False)
