"""What publishing reads: the newest items of each feed, as PublishedItem views."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from ..models import item_enclosures, item_sources, item_topics, items, sources, topics
from ..identity import without_credentials
from ..types import Enclosure, PublishedItem, SourceInfo
from .sql import _chunks, _one_of


def _newest_first(items: list[PublishedItem]) -> list[PublishedItem]:
    """Sort ``items`` in place: updated desc, ties by entry id. Two stable sorts (the
    second keeps the first's order among equal dates) compare datetimes directly
    instead of turning each into a key; rows arrive nearly sorted, so both are cheap."""
    items.sort(key=lambda item: item.id)
    items.sort(key=lambda item: item.updated, reverse=True)
    return items


def source_iri(name: str) -> str:
    # From the name, "the key of a source for ever": a URL would change with a 301 or an edit.
    return f"tag:aggregator,2026:source/{name}"


def feed_items(
    conn: Connection, feeds: Sequence[str | None], limit: int
) -> dict[str | None, list[PublishedItem]]:
    """The newest ``limit`` items of each topic (None: of all items), newest first.

    An item in several feeds is loaded once, and the sources once for all feeds,
    so publishing fifty topics costs a handful of queries, not fifty times as many.
    """
    ids_by_feed: dict[str | None, list[int]] = {}
    topic_ids: dict[str, int] = dict(conn.execute(select(topics.c.slug, topics.c.id)).all())
    # One range scan of the (topic, updated) index per topic; one statement for
    # all of them, so it is built and compiled once.
    newest_of_topic = (select(item_topics.c.item_id).where(item_topics.c.topic_id == bindparam("topic"))
                       .order_by(item_topics.c.updated.desc()).limit(limit))
    for topic in feeds:
        if topic is None:
            q = select(items.c.id).order_by(items.c.updated.desc(), items.c.uid).limit(limit)
            ids_by_feed[topic] = list(conn.execute(q).scalars().all())
        elif topic in topic_ids:
            ids_by_feed[topic] = list(
                conn.execute(newest_of_topic, {"topic": topic_ids[topic]}).scalars().all())
        else:
            ids_by_feed[topic] = []
    slugs = {topic_id: slug for slug, topic_id in topic_ids.items()}
    views = _views(conn, sorted({i for ids in ids_by_feed.values() for i in ids}), slugs)
    return {topic: _newest_first([views[i] for i in ids]) for topic, ids in ids_by_feed.items()}


def _views(conn: Connection, ids: list[int], topic_slugs: dict[int, str]) -> dict[int, PublishedItem]:
    """PublishedItems of ``ids``; ``topic_slugs`` maps every topic id to its slug.

    Four statements per chunk of ids, the ids passed as ``_one_of`` lists (on
    SQLite one JSON array: the statement compiles once, where an expanding IN
    rendered 500 placeholders per chunk); rows fetched whole and unpacked by position.
    """
    if not ids:
        return {}
    it = items.c
    rows: list[Any] = []
    slugs_of: dict[int, list[str]] = defaultdict(list)
    carried: list[Any] = []
    files: dict[int, list[Enclosure]] = defaultdict(list)
    ie = item_enclosures.c
    for part in _chunks(ids):
        rows += conn.execute(select(
            it.id, it.uid, it.source_id, it.title, it.link, it.summary, it.content, it.content_type,
            it.author, it.published, it.updated, it.image,
        ).where(_one_of(conn, it.id, part))).all()
        for item_id, topic_id in conn.execute(
            select(item_topics.c.item_id, item_topics.c.topic_id).where(_one_of(conn, item_topics.c.item_id, part))
        ).all():
            slugs_of[item_id].append(topic_slugs[topic_id])
        # Every row of one item is in its item's chunk, so item_sources.id order holds per item.
        carried += conn.execute(
            select(item_sources.c.item_id, item_sources.c.source_id, item_sources.c.link)
            .where(_one_of(conn, item_sources.c.item_id, part)).order_by(item_sources.c.id)
        ).all()
        for item_id, href, kind, length in conn.execute(
            select(ie.item_id, ie.href, ie.type, ie.length).where(_one_of(conn, ie.item_id, part))
            .order_by(ie.item_id, ie.position)
        ):
            files[item_id].append(Enclosure(href, kind, length))
    first = {row[0]: (row[2], row[4]) for row in rows}  # item id -> (its source, its link)
    via: dict[int, list[str]] = defaultdict(list)
    for item_id, source_id, link in carried:
        item_source, item_link = first[item_id]
        if source_id != item_source and link and link != item_link and link not in via[item_id]:
            via[item_id].append(link)
    infos = _source_infos(conn, {row[2] for row in rows})
    no_topics: list[str] = []
    return {
        item_id: PublishedItem(
            id=uid, title=title, updated=updated, published=published, source=infos[source_id],
            # A story its first source sent without a link has the original's link from
            # the next source that gave one ("a link to the original where one exists").
            link=link or next(iter(via.get(item_id, ())), None), content=content, content_type=content_type, summary=summary, author=author,
            # Slug order, as the category elements have always been written.
            topics=tuple(sorted(slugs_of.get(item_id, no_topics))), via=tuple(via.get(item_id, ())),
            enclosures=tuple(files.get(item_id, ())), image=image,
        )
        for (item_id, uid, source_id, title, link, summary, content, content_type, author, published,
             updated, image) in rows
    }


def _source_infos(conn: Connection, source_ids: set[int]) -> dict[int, SourceInfo]:
    rows = conn.execute(
        select(sources.c.id, sources.c.name, sources.c.type, sources.c.url,
               func.coalesce(sources.c.config_title, sources.c.title), sources.c.site_link)
        .where(sources.c.id.in_(sorted(source_ids)))
    ).all()
    return {
        sid: SourceInfo(id=source_iri(name), title=title or name,
                        self_link=without_credentials(url) if kind == "feed" and url else None, link=site_link,
                        name=name)
        for sid, name, kind, url, title, site_link in rows
    }

