"""Classify: which topics each stored item is in (item_topics), after its rule text."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, insert, null, select, text, update

from ..models import item_sources, item_topics, items, rule_texts, sources
from ..text import rule_text
from .sql import _bump_data_version, _collector_paused, _set_meta

if TYPE_CHECKING:
    from .core import Store

# Membership writes, as (topic id, item id) pairs. The sort key is copied inside the
# database: no datetime round trip per row.
_DELETE_MEMBERSHIP = "DELETE FROM item_topics WHERE topic_id = :t AND item_id = :i"
_INSERT_MEMBERSHIP = (
    "INSERT INTO item_topics (topic_id, item_id, updated) SELECT :t, id, updated FROM items WHERE id = :i"
)

# SQLite (driver level): the stored times of items (a JSON array of ids), and a membership with its time.
_ITEM_TIMES = "SELECT id, updated FROM items WHERE id IN (SELECT value FROM json_each(?))"
_INSERT_MEMBERSHIP_TIMED = "INSERT INTO item_topics (topic_id, item_id, updated) VALUES (?, ?, ?)"

# Sort key of a (topic id, item id) pair in item_topics' primary-key order (C-level).
_by_item = itemgetter(1, 0)


def _write_pairs(conn: Any, sql: str, pairs: Collection[tuple[int, int]]) -> None:
    """executemany of ``sql`` (parameters :t, :i) over pairs: the driver gets plain
    tuples on SQLite, named parameters through SQLAlchemy elsewhere."""
    if not pairs:
        return
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(sql.replace(":t", "?").replace(":i", "?"), list(pairs))
    else:
        conn.execute(text(sql), [{"t": t, "i": i} for t, i in pairs])


def _insert_memberships(conn: Any, pairs: Sequence[tuple[int, int]]) -> None:
    """Insert (topic id, item id) pairs, each with its item's ``updated``.

    On SQLite the items' times are read first, in one statement, and inserted as stored
    (text: no datetime round trip). An INSERT … SELECT per pair looked its item up in
    the middle of the write: at 4 KiB pages a little slower (classify 40–41k items/s
    against 42–43k), at 16 KiB pages (a database made so) 4–5 µs a pair against 1.
    Elsewhere the INSERT … SELECT stays."""
    if not pairs:
        return
    if conn.dialect.name != "sqlite":
        _write_pairs(conn, _INSERT_MEMBERSHIP, pairs)
        return
    ids = sorted({i for _, i in pairs})
    times = dict(conn.exec_driver_sql(_ITEM_TIMES, (json.dumps(ids),)).fetchall())
    # An id with no item (a rule_texts row that a delete with foreign keys off left
    # behind) gets no membership, as the INSERT … SELECT gave it none.
    rows = [(t, i, times[i]) for t, i in pairs if i in times]
    if rows:
        conn.exec_driver_sql(_INSERT_MEMBERSHIP_TIMED, rows)


def classify(
    store: Store,
    decide: Callable[[str, Sequence[str]], Sequence[str]],
    rules_hash: str,
    topic_ids: dict[str, int],
    *,
    by_source: bool = True,
    batch: int = 5000,
) -> int:
    """Recompute topic membership: every item when the rules changed, else only
    items added or changed since the last run. ``decide(match_text, source_names)``
    returns topic slugs; ``by_source=False`` (no topic is limited to sources) spares
    looking up each item's sources. Returns items classified."""
    full = store.get_meta("rules_hash") != rules_hash
    done = 0
    last_id = 0
    while True:
        # The collector paused as for an ingest: a batch holds a few tuples per item
        # until it commits (≈ 4 % of a reclassify's instructions).
        with store.writing() as conn, _collector_paused():
            if full and not last_id:
                # Every item has its rule_texts row (an ingest writes both). Should
                # one be missing, it comes back empty, so the scan below reaches its
                # item and derives the text (one pass over an index, ~0.07 s for
                # 100,000 items).
                conn.execute(insert(rule_texts).from_select(
                    ["item_id", "text"],
                    select(items.c.id, null()).where(~exists().where(rule_texts.c.item_id == items.c.id))))
            # (id, rule text) of the next items, from rule_texts and not from the wide
            # items table; only unclassified ones, found through the classified
            # index, unless the rules changed.
            if full:
                q = (select(rule_texts.c.item_id, rule_texts.c.text).where(rule_texts.c.item_id > last_id)
                     .order_by(rule_texts.c.item_id))
            else:
                q = (select(items.c.id, rule_texts.c.text)
                     .join_from(items, rule_texts, rule_texts.c.item_id == items.c.id, isouter=True)
                     .where(items.c.classified.is_(False), items.c.id > last_id).order_by(items.c.id))
            rows = conn.execute(q.limit(batch)).all()
            if not rows:
                if full:
                    _set_meta(conn, "rules_hash", rules_hash)
                    _bump_data_version(conn)
                break
            ids = [r[0] for r in rows]
            # The batch's id range selects its sources and memberships through the
            # item_id indexes, without a bind parameter per item.
            first, last = ids[0], ids[-1]
            carriers: dict[int, list[str]] = defaultdict(list)
            if by_source:
                # Names read with each batch: a process beside this one (a service that
                # reloaded its config) may add or rename a source between batches.
                for item_id, name in conn.execute(
                    select(item_sources.c.item_id, sources.c.name)
                    .join_from(item_sources, sources, sources.c.id == item_sources.c.source_id)
                    .where(item_sources.c.item_id.between(first, last))
                ).all():
                    carriers[item_id].append(name)
            missing = [r[0] for r in rows if r[1] is None]  # stored before rule texts were kept
            legacy = {
                item_id: rule_text(title, summary, content, ctype)
                for item_id, title, summary, content, ctype in conn.execute(
                    select(items.c.id, items.c.title, items.c.summary, items.c.content, items.c.content_type)
                    .where(items.c.id.in_(missing))
                )
            } if missing else {}
            wanted = {
                (topic_ids[slug], item_id)
                for item_id, match_text in rows
                for slug in decide(legacy[item_id] if match_text is None else match_text,
                                   carriers.get(item_id, ()))
            }
            # all(): one fetch, where iterating the result fetches row by row. Plain
            # tuples, not rows: a row compared with a tuple of ``wanted`` goes through
            # a Python __eq__, a fifth of a reclassify's time.
            current: set[tuple[int, int]] = set(map(tuple, conn.execute(
                select(item_topics.c.topic_id, item_topics.c.item_id)
                .where(item_topics.c.item_id.between(first, last))).all()))
            if not full:  # the range also holds classified items, which were not read
                batch_ids = set(ids)
                current = {pair for pair in current if pair[1] in batch_ids}
            # Write only the difference: after a rule change most memberships stand.
            # Sorted in primary-key order (item, topic), the B-tree is written page
            # after page.
            _write_pairs(conn, _DELETE_MEMBERSHIP, sorted(current - wanted, key=_by_item))
            _insert_memberships(conn, sorted(wanted - current, key=_by_item))
            # Which of them are unclassified: all, unless the rules changed (then
            # found through the classified index, not by reading the items' rows).
            changed = ids if not full else list(conn.execute(
                select(items.c.id).where(items.c.classified.is_(False), items.c.id.between(first, last))
                .order_by(items.c.id)).scalars())
            if changed:
                # Items added or updated since the last run: memberships that stand
                # still carry the old sort key (new ones were written with the new).
                changed_ids = set(changed)
                standing = sorted({i for _, i in current & wanted if i in changed_ids})
                if standing:
                    conn.execute(
                        update(item_topics).where(item_topics.c.item_id.in_(standing))
                        .values(updated=select(items.c.updated).where(items.c.id == item_topics.c.item_id)
                                .scalar_subquery())
                    )
                conn.execute(update(items).where(items.c.id.in_(changed)).values(classified=True))
            if not full:
                _bump_data_version(conn)
            last_id = last
            done += len(ids)
    return done

