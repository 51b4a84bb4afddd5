"""link base without credentials

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-25 01:10:00

Schema 0015 filled ``sources.link_base`` in with each feed's URL, a private feed's user
name and password (``https://user:pw@host/feed``) with it, which the config holds and the
fetch sends, but nothing else should keep (a parse stores its URL without them). Each such
URL loses them. A feed whose link base held them also took its next parse for a move to
another host (the URL without them), and looked its relative entries up under the URL with
them, in vain; now the two are the same. Downgrade leaves the column as it is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from aggregator.identity import without_credentials

    bind = op.get_bind()
    sources = sa.table('sources', sa.column('id', sa.Integer()), sa.column('link_base', sa.Text()))
    rows = bind.execute(sa.select(sources.c.id, sources.c.link_base).where(sources.c.link_base.like('%@%'))).all()
    for id_, base in rows:
        if (plain := without_credentials(base)) != base:
            bind.execute(sa.update(sources).where(sources.c.id == id_).values(link_base=plain))


def downgrade() -> None:
    pass
