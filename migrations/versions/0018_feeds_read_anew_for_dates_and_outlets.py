"""feeds read anew for dates and outlets

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-25 01:30:00

This release reads some entries otherwise than the one before: date forms feedparser
misread on both parser paths ("20240101T100000Z" read as midnight, "2024-060" as 1 June,
"+5:30" as UTC, "Mon Jan 1 10:00:00 2024 +0530" as the year 530, "2024/01/01 10:00" as the
first of the current month, ...) are read as meant or as none, and a Bing News item
(<News:Source>, <News:Image>) takes its outlet as author, its title without the outlet's
name and its picture; a malformed feed (read by feedparser's loose parser) is read as its
well-formed copy: the text of an author, a guid, an outlet no longer keeps "&amp;", a picture's
URL "&amp;" or "&#38;", and a bare "&" before letters ("R&D desk") no longer gains a ";" ("R&D;
desk"); and a link wrapped in a click tracker (Google Alerts' google.com/url, Bing News'
apiclick.aspx) or sent beside FeedBurner's <feedburner:origLink> is the page it leads to
(identity.unwrapped), and the key of such an entry with no guid (a Bing item) is that page:
the tracker's tid is an id of Bing's response, another at every fetch, so each fetch stored
the story anew under the tracker's link as key; and a prefix of a namespace feedparser does not know, bound again on one element, no longer
stays bound to the element's namespace to the end of the document (a later <x:link>,
<x:title> of the root's namespace was the entry's link, title: parse._end_prefix_mapping; a
guid-less entry keyed by such a link takes another key, no former key given: the release
before's key is not found without the document).
Read by the first parse after the upgrade, such an entry would differ
from the one stored and be dated anew, to the top of every feed. Each feed forgets its
validators and is marked to be read anew (``REREAD``, as by 0013 and 0014): its entries
take this release's readings keeping their times. A malformed feed's entry keyed by its guid
as the loose parser read it ("cable?id=2&amp;lang=en", "cable?id=3&l;=en") would be a new one
under this release's key: its item takes that key as a former key (``item_former_keys``, 0016),
by which the re-read finds it and re-keys it (unless the source already has an entry so keyed);
so does an item keyed by a click tracker, with the page it leads to (the oldest of a story's
copies a Bing feed's changing tids stored apart: the others stay as they are).

Downgrade marks every feed the same way, for the release before's own readings (the former
keys stay: the release before finds those entries by their keys as it reads them).
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

_REREAD = "UPDATE sources SET etag = NULL, last_modified = NULL, body_hash = 'reread' WHERE type = 'feed'"


# A reference the loose parser left in a key: one of the five XML escapes stands for its
# character, a name no HTML entity has was a bare "&" given a ";" (its ";" dropped), and an
# HTML entity's stays as it was (the loose parser reads it so still).
_ESCAPED = re.compile(r"&([A-Za-z][-.A-Za-z0-9]*);")
_XML_CHARS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def _as_read_now(key: str) -> str:
    import html.entities

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        return _XML_CHARS.get(name) or (match.group() if name in html.entities.name2codepoint else f"&{name}")

    return _ESCAPED.sub(one, key)


def upgrade() -> None:
    op.execute(_REREAD)
    from aggregator.identity import REDIRECTORS, untracked, unwrapped
    from aggregator.store.ingest import _indexed

    bind = op.get_bind()
    links = sa.table('item_sources', sa.column('source_id', sa.Integer()), sa.column('key', sa.Text()),
                     sa.column('item_id', sa.Integer()))
    former = sa.table('item_former_keys', sa.column('source_id', sa.Integer()), sa.column('key', sa.Text()),
                      sa.column('item_id', sa.Integer()))
    rows = bind.execute(sa.select(links.c.source_id, links.c.key, links.c.item_id)
                        .where(sa.or_(links.c.key.like('%&%;%'), *(links.c.key.like(f'{prefix}%') for prefix in REDIRECTORS)))
                        .order_by(links.c.item_id)).all()  # the oldest of copies stored apart keeps its item
    for source_id, key, item_id in rows:
        now_key = _indexed(untracked(unwrapped(_as_read_now(key))) if key.startswith(REDIRECTORS) else _as_read_now(key))
        if now_key == key:
            continue
        taken = sa.union_all(
            sa.select(links.c.key).where(links.c.source_id == source_id, links.c.key == now_key),
            sa.select(former.c.key).where(former.c.source_id == source_id, former.c.key == now_key))
        if bind.execute(taken).first() is None:
            bind.execute(sa.insert(former).values(source_id=source_id, key=now_key, item_id=item_id))


def downgrade() -> None:
    op.execute(_REREAD)
