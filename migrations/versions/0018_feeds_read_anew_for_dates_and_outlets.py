"""feeds read anew for dates and outlets

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-25 01:30:00

This release reads some entries otherwise than the one before: date forms feedparser
misread on both parser paths ("20240101T100000Z" read as midnight, "2024-060" as 1 June,
"+5:30" as UTC, "Mon Jan 1 10:00:00 2024 +0530" as the year 530, "2024/01/01 10:00" as the
first of the current month, ...) are read as meant or as none, and a Bing News item
(<News:Source>, <News:Image>) takes its outlet as author, its title without the outlet's
name and its picture. Read by the first parse after the upgrade, such an entry would differ
from the one stored and be dated anew, to the top of every feed. Each feed forgets its
validators and is marked to be read anew (``REREAD``, as by 0013 and 0014): its entries
take this release's readings keeping their times.

Downgrade marks every feed the same way, for the release before's own readings.
"""

from __future__ import annotations

from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

_REREAD = "UPDATE sources SET etag = NULL, last_modified = NULL, body_hash = 'reread' WHERE type = 'feed'"


def upgrade() -> None:
    op.execute(_REREAD)


def downgrade() -> None:
    op.execute(_REREAD)
