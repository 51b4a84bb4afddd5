"""every feed is read anew once, its entries keeping their times

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 21:00:00

This release reads some feeds differently, in ways a stored fingerprint cannot tell from a
change upstream: a Media RSS file's own media:description (a Mastodon post's picture's alt
text) was read as the post, and an item's media:description (a news photo's caption) as its
description; a JSON Feed summary that repeats the item's text is no longer kept beside it.
Each feed forgets its validators, so its next refresh parses it whole, and the meta key
``reread_before`` (``pipeline.REREAD_BEFORE``) holds the time of this upgrade: a feed's
first refresh after it stores its entries' new readings without dating them anew
(``IngestJob.keep_times``), so a reader does not get the feed's window again on top.

Downgrade drops the key; the validators come back at each feed's next refresh.
"""

from __future__ import annotations

from datetime import datetime, timezone

from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from aggregator.store.sql import _set_meta

    op.execute("UPDATE sources SET etag = NULL, last_modified = NULL, body_hash = NULL WHERE type = 'feed'")
    _set_meta(op.get_bind(), "reread_before", datetime.now(timezone.utc).isoformat())


def downgrade() -> None:
    op.execute("DELETE FROM meta WHERE key = 'reread_before'")
