"""Feeds as real services write them, refreshed through the CLI and read back from the
published all.xml as a reader reads it (feedparser): each sample follows the shape its
service sends (elements, their order and nesting, escaping), shortened to one or two items.
"""

from __future__ import annotations

import json

from feedserver import FeedServer, feed_server  # noqa: F401 - a fixture
from test_sources_http import make_project  # noqa: F401 - a fixture

# A Mastodon account's RSS (app/views/accounts/show.rss.ruby): items have no title, the
# post is the HTML description, and each attachment is a media:content whose own
# media:description is the file's alt text.
MASTODON = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:webfeeds="http://webfeeds.org/rss/1.0" xmlns:media="http://search.yahoo.com/mrss/">
  <channel>
    <title>Jane Doe</title>
    <description>Public posts from @jane@mastodon.example</description>
    <link>https://mastodon.example/@jane</link>
    <image>
      <url>https://files.mastodon.example/accounts/avatars/1/original/a.png</url>
      <title>Jane Doe</title>
      <link>https://mastodon.example/@jane</link>
    </image>
    <lastBuildDate>Wed, 01 May 2024 10:00:00 +0000</lastBuildDate>
    <webfeeds:icon>https://files.mastodon.example/accounts/avatars/1/original/a.png</webfeeds:icon>
    <generator>Mastodon v4.2.8</generator>
    <item>
      <guid isPermaLink="true">https://mastodon.example/@jane/112345678901234567</guid>
      <link>https://mastodon.example/@jane/112345678901234567</link>
      <pubDate>Wed, 01 May 2024 09:59:00 +0000</pubDate>
      <description>&lt;p&gt;Look at this &lt;a href="https://mastodon.example/tags/cat" class="mention hashtag" rel="tag"&gt;#&lt;span&gt;cat&lt;/span&gt;&lt;/a&gt; asleep on the &lt;em&gt;keyboard&lt;/em&gt;.&lt;/p&gt;</description>
      <media:content url="https://files.mastodon.example/media_attachments/files/112/original/cat.jpg" type="image/jpeg" fileSize="234567" medium="image">
        <media:rating scheme="urn:simple">nonadult</media:rating>
        <media:description type="plain">A grey cat asleep on a laptop</media:description>
      </media:content>
      <category>cat</category>
    </item>
    <item>
      <guid isPermaLink="true">https://mastodon.example/@jane/112345678901234568</guid>
      <link>https://mastodon.example/@jane/112345678901234568</link>
      <pubDate>Wed, 01 May 2024 09:00:00 +0000</pubDate>
      <media:content url="https://files.mastodon.example/media_attachments/files/113/original/dog.jpg" type="image/jpeg" fileSize="1234" medium="image">
        <media:rating scheme="urn:simple">nonadult</media:rating>
        <media:description type="plain">A dog in the snow</media:description>
      </media:content>
      <description>&lt;p&gt;And the dog, for balance.&lt;/p&gt;</description>
    </item>
  </channel>
</rss>
"""


def test_a_mastodon_posts_attachment_alt_text_is_not_the_post(feed_server: FeedServer, make_project) -> None:
    # The alt text of a post's picture (media:description inside its media:content) was read
    # as the post's own description: it became the entry's content, which readers show in
    # place of the post, and its title, or the post itself was shown as the alt text's summary.
    feed_server.route("/@jane.rss", MASTODON, content_type="application/rss+xml; charset=utf-8")
    p = make_project({"jane": feed_server.url("/@jane.rss")})
    assert "2 new items" in p.update()
    entries = {e.link: e for e in p.entries()}
    cat = entries["https://mastodon.example/@jane/112345678901234567"]
    dog = entries["https://mastodon.example/@jane/112345678901234568"]
    assert cat.title.startswith("Look at this") and "grey cat" not in cat.title
    assert dog.title == "And the dog, for balance."
    for entry, post, alt in ((cat, "<em>keyboard</em>", "grey cat"), (dog, "for balance", "snow")):
        shown = entry.content[0].value
        assert post in shown
        assert alt not in shown and alt not in entry.get("summary", "")
    assert [x.href for x in cat.enclosures] == [
        "https://files.mastodon.example/media_attachments/files/112/original/cat.jpg"]


def test_an_untitled_posts_title_reads_its_inline_markup_as_text(feed_server: FeedServer, make_project) -> None:
    # An untitled entry is titled by its first sentence. Each tag became a space there (the
    # topic rules' reading), so a hashtag or a mention, which Mastodon writes as
    # <a>#<span>cat</span></a>, read "# cat", and a word emphasised before a full stop
    # "keyboard .". Inline tags join their text, as the reader shows it; a line break or
    # a block still parts words.
    feed_server.route("/@jane.rss", MASTODON, content_type="application/rss+xml; charset=utf-8")
    feed_server.route("/feed.json", json.dumps({
        "version": "https://jsonfeed.org/version/1.1", "title": "Notes", "home_page_url": "https://notes.example/",
        "items": [{"id": "1", "url": "https://notes.example/1", "date_published": "2024-05-01T08:00:00Z",
                   "content_html": '<p>Thanks <a href="https://notes.example/@bob">@<span>bob</span></a>'
                                   "!<br>See you</p><p>Next</p>"},
                  {"id": "2", "url": "https://notes.example/2", "date_published": "2024-05-01T07:00:00Z",
                   "summary": "A plain summary without a stop\n\nIts second paragraph."}]}).encode(),
        content_type="application/feed+json")
    p = make_project({"jane": feed_server.url("/@jane.rss"), "notes": feed_server.url("/feed.json")})
    p.update()
    titles = {e.link: e.title for e in p.entries()}
    assert titles["https://mastodon.example/@jane/112345678901234567"] == "Look at this #cat asleep on the keyboard."
    assert titles["https://notes.example/1"] == "Thanks @bob!"
    assert titles["https://notes.example/2"] == "A plain summary without a stop"
