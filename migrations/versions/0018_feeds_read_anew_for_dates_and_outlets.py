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
as the loose parser read it ("cable?id=2&amp;lang=en", "cable?id=3&l;=en"), or by its link
with a bare "&lang=" read as the entity ("?id=1%E2%8C%A9=en", _BARE_ENTITY), would be a new one
under this release's key: its item takes that key as a former key (``item_former_keys``, 0016),
by which the re-read finds it and re-keys it (unless the source already has an entry so keyed);
so does an item keyed by a click tracker, with the page it leads to. A Bing feed's changing
tids stored each story anew at each fetch: of one source's items whose trackers lead to one
page, the oldest keeps the story (its id, times and topics) and the others are removed, what
another source had merged into them going to it (``_one_item_a_story``).

Downgrade marks every feed the same way, for the release before's own readings (the former
keys stay: the release before finds those entries by their keys as it reads them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

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


# A bare "&" before the name of an HTML entity and an "=" (a query parameter, "?id=1&lang=en"
# in a malformed feed) was read by the loose parser as that entity ("?id=1\u2329=en", stored
# percent-encoded in a link: "?id=1%E2%8C%A9=en"); this release reads it as written. Each
# entity's character before an "=" is read back so (an ASCII one, "&amp=", is left: "&=" is
# no rarity; every HTML 4 entity is one UTF-8 character of two or three bytes).
_BARE_ENTITY = re.compile(r"([^\x00-\x7f]|%[CDcd][0-9A-Fa-f]%[89ABab][0-9A-Fa-f]|%[Ee][0-9A-Fa-f](?:%[89ABab][0-9A-Fa-f]){2})=")


def _as_read_now(key: str) -> str:
    import html.entities

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        return _XML_CHARS.get(name) or (match.group() if name in html.entities.name2codepoint else f"&{name}")

    def bare(match: re.Match[str]) -> str:
        from urllib.parse import unquote

        char = match.group(1) if len(match.group(1)) == 1 else unquote(match.group(1), errors="replace")
        name = html.entities.codepoint2name.get(ord(char)) if len(char) == 1 else None
        return f"&{name}=" if name else match.group()

    key = _ESCAPED.sub(one, key)
    return _BARE_ENTITY.sub(bare, key) if "=" in key else key


def upgrade() -> None:
    op.execute(_REREAD)
    from aggregator.identity import REDIRECTORS

    bind = op.get_bind()
    _one_item_a_story(bind, _keyed_otherwise(bind, REDIRECTORS))
    for source_id, key, item_id, now_key in _keyed_otherwise(bind, REDIRECTORS):
        taken = sa.union_all(
            sa.select(_links.c.key).where(_links.c.source_id == source_id, _links.c.key == now_key),
            sa.select(_former.c.key).where(_former.c.source_id == source_id, _former.c.key == now_key))
        if bind.execute(taken).first() is None:
            bind.execute(sa.insert(_former).values(source_id=source_id, key=now_key, item_id=item_id))


_items = sa.table('items', sa.column('id', sa.Integer()), sa.column('canonical_link', sa.Text()),
                  sa.column('text_key', sa.BigInteger()), sa.column('classified', sa.Boolean()))
_links = sa.table('item_sources', sa.column('source_id', sa.Integer()), sa.column('key', sa.Text()),
                  sa.column('item_id', sa.Integer()))
_former = sa.table('item_former_keys', sa.column('source_id', sa.Integer()), sa.column('key', sa.Text()),
                   sa.column('item_id', sa.Integer()))
_alias_links = sa.table('item_alias_links', sa.column('link', sa.Text()), sa.column('item_id', sa.Integer()))
_alias_texts = sa.table('item_alias_texts', sa.column('text_key', sa.BigInteger()), sa.column('item_id', sa.Integer()))
# Every table with a foreign key to items, its children first: migrations run with SQLite's
# foreign keys OFF, so no cascade removes them.
_OF_ITEMS = ('item_topics', 'rule_texts', 'item_enclosures', 'item_alias_links', 'item_alias_texts',
             'item_former_keys', 'item_sources')


def _keyed_otherwise(bind: sa.Connection, redirectors: tuple[str, ...]) -> list[tuple[int, str, int, str]]:
    """Each (source, key, item, key as read now) of a stored entry this release keys
    otherwise, oldest item first: an escape left in (``_as_read_now``), a click tracker
    (the page it leads to)."""
    from aggregator.identity import untracked, unwrapped
    from aggregator.store.ingest import _indexed

    rows = bind.execute(sa.select(_links.c.source_id, _links.c.key, _links.c.item_id)
                        .where(sa.or_(_links.c.key.like('%&%;%'), _links.c.key.like('%=%'),
                                      *(_links.c.key.like(f'{prefix}%') for prefix in redirectors)))
                        .order_by(_links.c.item_id, _links.c.key)).all()
    found = []
    for source_id, key, item_id in rows:
        now_key = _indexed(untracked(unwrapped(_as_read_now(key))) if key.startswith(redirectors) else _as_read_now(key))
        if now_key != key:
            found.append((source_id, key, item_id, now_key))
    return found


def _one_item_a_story(bind: sa.Connection, keyed: list[tuple[int, str, int, str]]) -> None:
    """Make the copies of a story one source stored under click trackers one item: a Bing
    News item (no guid) was keyed by its tracker, whose tid is an id of Bing's response, so
    every fetch stored each story anew. Of a source's entries whose trackers lead to one
    page, the oldest item stays (its id, times and topics) and the others' link rows of that
    source are removed; an item left with nothing else is removed with every row that
    refers to it, and what else it has (another source's copy merged into it, its former
    keys, further links and texts) goes to the item kept, as ingest's ``_merge_items``
    does. Another source's copy of the story is not one of them (a via link, as merged)."""
    from aggregator.identity import REDIRECTORS
    from aggregator.store.ingest import _names_a_story

    copies: dict[tuple[int, str], list[tuple[str, int]]] = {}
    for source_id, key, item_id, now_key in keyed:  # oldest item first
        if key.startswith(REDIRECTORS):
            copies.setdefault((source_id, now_key), []).append((key, item_id))
    kept: set[int] = set()
    into: dict[int, int] = {}  # a younger copy's item -> the item its story keeps
    dropped: list[tuple[int, str]] = []
    for (source_id, _), stored in copies.items():
        oldest = stored[0][1]
        kept.add(oldest)
        for key, item_id in stored:
            if item_id != oldest:
                dropped.append((source_id, key))
                into[item_id] = min(into.get(item_id, oldest), oldest)
    if not dropped:
        return
    for source_id, key in dropped:
        bind.execute(sa.delete(_links).where(_links.c.source_id == source_id, _links.c.key == key))
    # An item kept for another source's copies stays (its younger copy's row is gone); one
    # whose story's oldest item goes too goes to where that one goes (always an older item).
    gone = {item_id: target for item_id, target in into.items() if item_id not in kept}
    for item_id in sorted(gone):
        while gone[item_id] in gone:
            gone[item_id] = gone[gone[item_id]]
    if not gone:
        return
    own = {item_id: (canon, text_key) for item_id, canon, text_key in _in_parts(
        bind, sa.select(_items.c.id, _items.c.canonical_link, _items.c.text_key), _items.c.id, {*gone, *gone.values()})}
    grown: set[int] = set()
    for item_id, target in sorted(gone.items()):
        moved = bind.execute(sa.update(_links).where(_links.c.item_id == item_id).values(item_id=target)).rowcount
        bind.execute(sa.update(_former).where(_former.c.item_id == item_id).values(item_id=target))
        further: list[tuple[sa.TableClause, sa.ColumnClause[Any], object]] = []
        if moved:  # another source's copy was merged into it: the story is known by its link and text too
            grown.add(target)
            canon, text_key = own[item_id]
            if canon and canon != own[target][0] and (canon.startswith('sha256:') or _names_a_story(canon)):
                further.append((_alias_links, _alias_links.c.link, canon))
            if text_key is not None and text_key != own[target][1]:
                further.append((_alias_texts, _alias_texts.c.text_key, text_key))
        for table, column in ((_alias_links, _alias_links.c.link), (_alias_texts, _alias_texts.c.text_key)):
            for (value,) in bind.execute(sa.select(column).where(table.c.item_id == item_id)).all():
                further.append((table, column, value))
        for table, column, value in further:
            if bind.execute(sa.select(table.c.item_id).where(column == value, table.c.item_id == target)).first() is None:
                bind.execute(sa.insert(table).values({column.name: value, 'item_id': target}))
    for name in _OF_ITEMS:
        table = sa.table(name, sa.column('item_id', sa.Integer()))
        for part in _parts(gone):
            bind.execute(sa.delete(table).where(table.c.item_id.in_(part)))
    for part in _parts(gone):
        bind.execute(sa.delete(_items).where(_items.c.id.in_(part)))
    for part in _parts(grown):  # its sources grew: classified again (a topic's sources)
        bind.execute(sa.update(_items).where(_items.c.id.in_(part)).values(classified=False))


def _parts(ids: Iterable[int]) -> Iterator[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), 500):
        yield ordered[start:start + 500]


def _in_parts(bind: sa.Connection, query: sa.Select[Any], column: sa.ColumnClause[Any], ids: Iterable[int]) -> Iterator[Any]:
    for part in _parts(ids):
        yield from bind.execute(query.where(column.in_(part)))


def downgrade() -> None:
    op.execute(_REREAD)
