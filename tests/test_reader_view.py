"""What a subscriber's reader sees of stories that change, travel between outlets and move,
where the fix needs a schema migration or a design decision (review 49): each test is the
reproduction, marked xfail (strict) until it is decided and fixed, then kept as the test."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from feedserver import FeedServer, feed_server, rss20, rss092  # noqa: F401
from test_sources_http import ATOM, make_project, story  # noqa: F401

TEXT = "<p>The alliance agreed on a new air policing rotation over the Baltic states today.</p>"


def test_a_third_outlet_linking_a_further_sources_copy_brings_the_same_story(feed_server: FeedServer,
                                                                           make_project) -> None:
    # a and b carry one story (same text, own links); c then links b's copy (with its
    # campaign): the same story, by b's link.
    feed_server.route("/a", rss20("A", [story(1, "a", title="Air policing", content=TEXT, link="https://a.example/air")]))
    feed_server.route("/b", rss20("B", [story(1, "b", title="Air policing", content=TEXT, link="https://b.example/air")]))
    c = feed_server.route("/c", rss20("C", []))
    p = make_project({"a": feed_server.url("/a"), "b": feed_server.url("/b"), "c": feed_server.url("/c")})
    p.update()
    c.body = rss20("C", [story(1, "c", title="Air policing: what it means", content="<p>Teaser.</p>",
                               link="https://b.example/air?utm_source=c")])
    assert "0 new items" in p.update()
    assert len(p.entry_elements()) == 1


def _c_links_bs_page_first(feed_server: FeedServer, make_project):
    """a's story, and c's teaser linking b's page, refreshed once; b carries nothing yet:
    (b's route, the project)."""
    feed_server.route("/a", rss20("A", [story(1, "a", title="Air policing", content=TEXT, link="https://a.example/air")]))
    b = feed_server.route("/b", rss20("B", []))
    feed_server.route("/c", rss20("C", [story(1, "c", title="Air policing: what it means",
                                              content="<p>Spanish jets take over the Baltic air policing next week.</p>",
                                              link="https://b.example/air?utm_source=c")]))
    p = make_project({"a": feed_server.url("/a"), "b": feed_server.url("/b"), "c": feed_server.url("/c")})
    p.update()
    return b, p


def test_a_third_outlet_linking_a_page_before_its_outlet_carried_the_story_joins_it_when_it_does(
        feed_server: FeedServer, make_project) -> None:
    # c links b's page first: a story of its own, published. When b's copy (a's text,
    # the page c linked) arrives, the two stories are one: the feed keeps a's entry, with
    # b's and c's copies as via links, and c's entry leaves it.
    b, p = _c_links_bs_page_first(feed_server, make_project)
    assert len(p.entry_elements()) == 2
    a_entry = next(e for e in p.entry_elements()
                   if any(link.get("href") == "https://a.example/air" for link in e.findall("{*}link")))
    b.body = rss20("B", [story(1, "b", title="Air policing", content=TEXT, link="https://b.example/air")])
    assert "0 new items, 0 updated, 1 merged" in p.update()
    [entry] = p.entry_elements()
    assert entry.findtext("{*}id") == a_entry.findtext("{*}id")
    assert entry.findtext("{*}updated") == a_entry.findtext("{*}updated")
    vias = sorted(link.get("href") for link in entry.findall("{*}link") if link.get("rel") == "via")
    assert vias == ["https://b.example/air", "https://b.example/air?utm_source=c"]


def test_a_copy_on_a_linked_page_filled_with_another_storys_text_joins_that_story(
        feed_server: FeedServer, make_project) -> None:
    # c links b's page; b's entry there is first a short note (c's story, by its link),
    # then b fills it with a's text: the reader's two entries become one, with b's and c's
    # copies as via links, and the refresh reports the merge (it stayed two for ever).
    b, p = _c_links_bs_page_first(feed_server, make_project)
    note = story(1, "b", title="Air policing", content="<p>Breaking: more to follow on the air policing decision.</p>",
                 link="https://b.example/air")
    b.body = rss20("B", [note])
    assert "0 new items, 0 updated, 1 merged" in p.update()
    assert len(p.entry_elements()) == 2
    b.body = rss20("B", [replace(note, content=TEXT)])
    assert "1 merged" in p.update()
    [entry] = p.entry_elements()
    vias = sorted(link.get("href") for link in entry.findall("{*}link") if link.get("rel") == "via")
    assert len(vias) == 2 and "https://b.example/air" in vias


def test_a_wire_copy_of_a_story_its_origin_has_since_edited_is_the_same_story(feed_server: FeedServer,
                                                                             make_project) -> None:
    one = feed_server.route("/one", rss20("One", [story(1, "one", title="Air policing", content=TEXT)]))
    two = feed_server.route("/two", rss20("Two", []))
    p = make_project({"one": feed_server.url("/one"), "two": feed_server.url("/two")})
    p.update()
    one.body = rss20("One", [story(1, "one", title="Air policing", content=TEXT.replace("today", "on Monday"))])
    p.update()
    two.body = rss20("Two", [story(1, "two", title="Air policing", content=TEXT)])  # the original text
    p.update()
    assert len(p.entry_elements()) == 1


def test_an_rss_item_whose_pubdate_moves_on_every_fetch_keeps_its_updated(feed_server: FeedServer,
                                                                         make_project) -> None:
    # A feed generated on request, every pubDate the time of the request (a server a
    # second ahead of us is read as "future" and left alone; one behind is not): every
    # entry went to the top of every feed at every refresh, and no feed answered 304.
    stories = [story(n, "p") for n in range(1, 4)]
    route = feed_server.route("/p", rss20("p", stories))
    p = make_project({"p": feed_server.url("/p")})
    p.update()
    before = p.entry_times()
    for hours in (5, 6):  # each fetch later than the one before
        route.body = rss20("p", [replace(s, updated=s.updated + timedelta(hours=hours)) for s in stories])
        out = p.update()
        assert "0 new items, 0 updated" in out and "published 0 files" in out, out
        assert p.entry_times() == before
    # A change of its text still dates an entry anew.
    route.body = rss20("p", [replace(stories[0], title="Revised", updated=stories[0].updated + timedelta(hours=7)),
                             *stories[1:]])
    assert "0 new items, 1 updated" in p.update()
    assert p.entry_times() != before


def _moving_site(feed_server: FeedServer, make_project, build=rss20):
    """A site of three stories with http links, stored once: (stories, route, project,
    the entries' times)."""
    stories = [story(n, "l", link=f"http://l.example/{n}") for n in range(1, 4)]
    route = feed_server.route("/l", build("l", stories))
    p = make_project({"l": feed_server.url("/l")})
    p.update()
    return stories, route, p, p.entry_times()


def _https(stories: list, suffix: str = "") -> list:
    return [replace(s, link=s.link.replace("http:", "https:") + suffix) for s in stories]


def _published_links(p) -> list[str]:
    return sorted(el.find(f"{ATOM}link").get("href") for el in p.entry_elements())


def test_a_site_moving_to_https_does_not_lift_its_entries_to_the_top(feed_server: FeedServer, make_project) -> None:
    stories, route, p, before = _moving_site(feed_server, make_project)
    route.body = rss20("l", _https(stories))
    assert "0 new items, 3 updated" in p.update()
    assert p.entry_times() == before
    assert _published_links(p) == [f"https://l.example/{n}" for n in range(1, 4)]  # the new links, published
    # Any other change of the link is news still.
    route.body = rss20("l", _https(stories, "-moved"))
    p.update()
    after = p.entry_times()
    assert after.keys() == before.keys() and all(after[i] > before[i] for i in before)


def test_a_site_going_back_from_https_does_not_lift_its_entries_to_the_top(feed_server: FeedServer,
                                                                          make_project) -> None:
    # A site whose links went to https and back (a certificate that lapsed, or pages made
    # for the scheme of the request): the scheme alone moving is no news either way.
    stories, route, p, before = _moving_site(feed_server, make_project)
    route.body = rss20("l", _https(stories))
    p.update()
    route.body = rss20("l", stories)
    assert "0 new items, 3 updated" in p.update()
    assert p.entry_times() == before
    assert _published_links(p) == [f"http://l.example/{n}" for n in range(1, 4)]


def test_a_site_without_guids_moving_to_https_keeps_one_entry_a_story(feed_server: FeedServer, make_project) -> None:
    # An RSS feed without <guid>s: its items are known by their links, and a site moving
    # to https made each story of its window a second entry beside the first.
    stories, route, p, before = _moving_site(feed_server, make_project, rss092)
    route.body = rss092("l", _https(stories))
    assert "0 new items, 3 updated" in p.update()
    assert p.entry_times() == before
    assert _published_links(p) == [f"https://l.example/{n}" for n in range(1, 4)]
    # Listed under both schemes (a feed of both): an item each, each of its own id.
    route.body = rss092("l", [*stories, *_https(stories)])
    assert "3 new items" in p.update()
    assert len({el.findtext(f"{ATOM}id") for el in p.entry_elements()}) == 6
