"""the keys that find one story from two sources: a title's "<" and "&" are its words, and
an international host name has one spelling

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 21:00:00

Releases before this one stripped an entry's title as HTML for its duplicate text, though a
title is plain text (the parsers read an HTML one as text, and it is published escaped):
"Why x<y matters for the Baltic Sea" lost its words after "x" and, under 40 characters,
had no text key, so the same story from another source was stored twice; two titles
differing only inside "<...>" ("<Update 1>", "<Update 2>") were one story. And a canonical
link kept its host as written: ``bücher.example``, its composed and decomposed spellings and
``xn--bcher-kva.example`` were three links. Ingest now keeps the title whole and writes an
international host in IDNA, as the fetch sends it (``identity``).

The items stored so take the keys ingest gives them now, so that the same story fetched
again, from another source, still meets them: ``canonical_link`` of those whose link holds
a character outside ASCII, ``text_key`` of the titled ones whose title holds "<" or "&".
Items an earlier release merged by such a title stay one item (their ids are published),
and two items an earlier release kept apart by their host's spelling stay two; each now
meets the other's later copies. Nothing a feed shows changes: no publish is due.

Downgrade keeps the new keys: the release before reads them, and meets such a story sent
in its other spelling only by its source's own key, as it did before this one.
"""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_CHUNK = 20_000  # rows of ids and links read a statement
# Rows of whole texts read a statement: an item's content can be tens of KB.
_TEXT_CHUNK = 500

_items = sa.table('items', sa.column('id', sa.Integer), sa.column('title', sa.Text), sa.column('link', sa.Text),
                  sa.column('canonical_link', sa.Text), sa.column('text_key', sa.BigInteger),
                  sa.column('summary', sa.Text), sa.column('content', sa.Text), sa.column('content_type', sa.String))


def upgrade() -> None:
    conn = op.get_bind()
    _international_links(conn)
    _titles_as_text(conn)


def _international_links(conn: sa.Connection) -> None:
    """``canonical_link`` again of the items whose link is not all ASCII (its host may be
    an international name); only those whose host it was change."""
    from aggregator.store.ingest import _indexed_link

    after = 0
    while found := conn.execute(
        sa.select(_items.c.id, _items.c.link, _items.c.canonical_link)
        .where(_items.c.id > after, _items.c.canonical_link.is_not(None)).order_by(_items.c.id).limit(_CHUNK)
    ).all():
        after = found[-1].id
        moved = [{'b_id': row.id, 'b_v': canon} for row in found
                 if not row.link.isascii() and (canon := _indexed_link(row.link)) != row.canonical_link]
        if moved:
            conn.execute(sa.update(_items).where(_items.c.id == sa.bindparam('b_id'))
                         .values(canonical_link=sa.bindparam('b_v')), moved)


def _titles_as_text(conn: sa.Connection) -> None:
    """``text_key`` again of the items whose title holds "<" or "&" (the others strip to
    themselves); an untitled entry's stored title is its first sentence, which its text
    key never held."""
    from aggregator.identity import text_key
    from aggregator.store.ingest import _derived_texts, fallback_title
    from aggregator.text import strip_html
    from aggregator.types import EntryData

    after = 0
    while found := conn.execute(
        sa.select(_items.c.id, _items.c.title, _items.c.link, _items.c.summary, _items.c.content,
                  _items.c.content_type, _items.c.text_key)
        .where(_items.c.id > after, sa.or_(_items.c.title.contains('<', autoescape=True),
                                           _items.c.title.contains('&', autoescape=True)))
        .order_by(_items.c.id).limit(_TEXT_CHUNK)
    ).all():
        after = found[-1].id
        keyed = []
        for row in found:
            entry = EntryData(key="", title=row.title, link=row.link, summary=row.summary, content=row.content,
                              content_type=row.content_type)
            untitled = replace(entry, title=None)
            alone = _derived_texts(untitled)[2]
            # Untitled: its key is that of its text alone. Its title alone cannot tell: a
            # titled entry's may be its text's first sentence, and an untitled one's is the
            # earlier release's first sentence ("# cat" where this one reads "#cat"). A
            # title the earlier release stripped to nothing ("<Update 1>") keyed its text
            # alone too.
            if row.text_key == (text_key(alone) if alone else None) and (
                    row.title == fallback_title(untitled) or (row.text_key is not None and strip_html(row.title).strip())):
                continue
            dedup = _derived_texts(entry)[2]
            key = text_key(dedup) if dedup else None
            if key != row.text_key:
                keyed.append({'b_id': row.id, 'b_v': key})
        if keyed:
            conn.execute(sa.update(_items).where(_items.c.id == sa.bindparam('b_id'))
                         .values(text_key=sa.bindparam('b_v')), keyed)


def downgrade() -> None:
    pass
