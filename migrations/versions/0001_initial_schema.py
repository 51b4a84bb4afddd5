"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 16:57:35.711299
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import aggregator.models


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('meta',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_meta'))
    )
    op.create_table('sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('config_url', sa.Text(), nullable=True),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('site_link', sa.Text(), nullable=True),
    sa.Column('etag', sa.Text(), nullable=True),
    sa.Column('last_modified', sa.Text(), nullable=True),
    sa.Column('body_hash', sa.String(length=64), nullable=True),
    sa.Column('pending_redirect', sa.Text(), nullable=True),
    sa.Column('last_fetch', aggregator.models.UTCDateTime(), nullable=True),
    sa.Column('last_success', aggregator.models.UTCDateTime(), nullable=True),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('warning', sa.Text(), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('next_run', aggregator.models.UTCDateTime(), nullable=True),
    sa.Column('retired', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sources')),
    sa.UniqueConstraint('name', name=op.f('uq_sources_name'))
    )
    op.create_table('topics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=200), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_topics')),
    sa.UniqueConstraint('slug', name=op.f('uq_topics_slug'))
    )
    op.create_table('fetches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('started', aggregator.models.UTCDateTime(), nullable=False),
    sa.Column('finished', aggregator.models.UTCDateTime(), nullable=False),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('warning', sa.Text(), nullable=True),
    sa.Column('new_items', sa.Integer(), nullable=False),
    sa.Column('updated_items', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_fetches_source_id_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fetches'))
    )
    with op.batch_alter_table('fetches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fetches_source_id'), ['source_id'], unique=False)

    op.create_table('items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.String(length=100), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('link', sa.Text(), nullable=True),
    sa.Column('canonical_link', sa.Text(), nullable=True),
    sa.Column('text_hash', sa.String(length=64), nullable=True),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('content', sa.Text(), nullable=True),
    sa.Column('content_type', sa.String(length=10), nullable=False),
    sa.Column('author', sa.Text(), nullable=True),
    sa.Column('truncated', sa.Boolean(), nullable=False),
    sa.Column('first_seen', aggregator.models.UTCDateTime(), nullable=False),
    sa.Column('published', aggregator.models.UTCDateTime(), nullable=False),
    sa.Column('updated', aggregator.models.UTCDateTime(), nullable=False),
    sa.Column('classified', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_items_source_id_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_items')),
    sa.UniqueConstraint('uid', name=op.f('uq_items_uid')),
    sa.UniqueConstraint('updated', name=op.f('uq_items_updated'))
    )
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_items_canonical_link'), ['canonical_link'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_classified'), ['classified'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_source_id'), ['source_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_text_hash'), ['text_hash'], unique=False)

    op.create_table('item_sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('link', sa.Text(), nullable=True),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('first_seen', aggregator.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_item_sources_item_id_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_item_sources_source_id_sources'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_item_sources')),
    sa.UniqueConstraint('source_id', 'key', name=op.f('uq_item_sources_source_id'))
    )
    with op.batch_alter_table('item_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_sources_item_id'), ['item_id'], unique=False)

    op.create_table('item_topics',
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('updated', aggregator.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_item_topics_item_id_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['topic_id'], ['topics.id'], name=op.f('fk_item_topics_topic_id_topics'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('topic_id', 'item_id', name=op.f('pk_item_topics'))
    )
    with op.batch_alter_table('item_topics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_topics_item_id'), ['item_id'], unique=False)
        batch_op.create_index('ix_item_topics_topic_updated', ['topic_id', 'updated'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('item_topics', schema=None) as batch_op:
        batch_op.drop_index('ix_item_topics_topic_updated')
        batch_op.drop_index(batch_op.f('ix_item_topics_item_id'))

    op.drop_table('item_topics')
    with op.batch_alter_table('item_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_sources_item_id'))

    op.drop_table('item_sources')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_items_text_hash'))
        batch_op.drop_index(batch_op.f('ix_items_source_id'))
        batch_op.drop_index(batch_op.f('ix_items_classified'))
        batch_op.drop_index(batch_op.f('ix_items_canonical_link'))

    op.drop_table('items')
    with op.batch_alter_table('fetches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fetches_source_id'))

    op.drop_table('fetches')
    op.drop_table('topics')
    op.drop_table('sources')
    op.drop_table('meta')

