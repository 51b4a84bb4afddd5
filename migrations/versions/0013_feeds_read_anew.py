"""every feed is read anew once, its entries keeping their times

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24 21:00:00

This release reads some feeds differently, in ways a stored fingerprint cannot tell from a
change upstream: a Media RSS file's own media:description (a Mastodon post's picture's alt
text) was read as the post, and an item's media:description (a news photo's caption) as its
description; a podcast episode's itunes:summary after its show notes as its content; an
embedded video or frame is a link now, where it was dropped; a JSON Feed summary that
repeats the item's text is no longer kept beside it; an untitled entry's title joins inline
tags ("#cat", where "# cat" was stored).
Each feed forgets its validators, and its body hash reads ``reread``
(``pipeline.REREAD``): its next answer is parsed whole, and its entries take the new
readings without being dated anew (``IngestJob.keep_times``), so a reader does not get the
feed's window again on top. The mark goes when a parse stores the body's hash.

Downgrade drops the marks; the validators come back at each feed's next refresh.
"""

from __future__ import annotations

from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE sources SET etag = NULL, last_modified = NULL, body_hash = 'reread' WHERE type = 'feed'")


def downgrade() -> None:
    op.execute("UPDATE sources SET body_hash = NULL WHERE body_hash = 'reread'")
