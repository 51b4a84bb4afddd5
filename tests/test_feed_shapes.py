"""Feeds as real services write them, refreshed through the CLI and read back from the
published all.xml as a reader reads it (feedparser): each sample follows the shape its
service sends (elements, their order and nesting, escaping), shortened to one or two items.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

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


# A YouTube channel's feed (youtube.com/feeds/videos.xml?channel_id=...): Atom entries with no
# content or summary; the video's text is media:description inside media:group, plain text
# (Media RSS: type "plain" unless it says "html") whose line breaks part its paragraphs.
YOUTUBE = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">
 <link rel="self" href="http://www.youtube.com/feeds/videos.xml?channel_id=UCsXVk37bltHxD1rDPwtNM8Q"/>
 <id>yt:channel:UCsXVk37bltHxD1rDPwtNM8Q</id>
 <yt:channelId>UCsXVk37bltHxD1rDPwtNM8Q</yt:channelId>
 <title>Kurzgesagt – In a Nutshell</title>
 <link rel="alternate" href="https://www.youtube.com/channel/UCsXVk37bltHxD1rDPwtNM8Q"/>
 <author>
  <name>Kurzgesagt – In a Nutshell</name>
  <uri>https://www.youtube.com/channel/UCsXVk37bltHxD1rDPwtNM8Q</uri>
 </author>
 <published>2013-07-09T16:07:49+00:00</published>
 <entry>
  <id>yt:video:dQw4w9WgXcQ</id>
  <yt:videoId>dQw4w9WgXcQ</yt:videoId>
  <yt:channelId>UCsXVk37bltHxD1rDPwtNM8Q</yt:channelId>
  <title>Undersea Cables &amp; How They Break</title>
  <link rel="alternate" href="https://www.youtube.com/watch?v=dQw4w9WgXcQ"/>
  <author>
   <name>Kurzgesagt – In a Nutshell</name>
   <uri>https://www.youtube.com/channel/UCsXVk37bltHxD1rDPwtNM8Q</uri>
  </author>
  <published>2024-04-30T14:00:07+00:00</published>
  <updated>2024-05-01T02:11:45+00:00</updated>
  <media:group>
   <media:title>Undersea Cables &amp; How They Break</media:title>
   <media:content url="https://www.youtube.com/v/dQw4w9WgXcQ?version=3" type="application/x-shockwave-flash" width="640" height="390"/>
   <media:thumbnail url="https://i4.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg" width="480" height="360"/>
   <media:description>Cables under the sea carry 99% of the world's data.
Sources &amp; further reading: https://sites.example/cables

Support us on Patreon &lt;3</media:description>
   <media:community>
    <media:starRating count="43210" average="5.00" min="1" max="5"/>
    <media:statistics views="1234567"/>
   </media:community>
  </media:group>
 </entry>
</feed>
"""


def test_a_youtube_videos_description_keeps_its_lines(feed_server: FeedServer, make_project) -> None:
    # media:description is plain text unless its type says html (as Miniflux reads it, a line
    # break a <br>): it was read as HTML, so a reader ran its lines and paragraphs together.
    feed_server.route("/videos.xml", YOUTUBE.encode(), content_type="application/atom+xml; charset=UTF-8")
    p = make_project({"kurzgesagt": feed_server.url("/videos.xml")})
    assert "1 new item" in p.update()
    [video] = p.entries()
    assert video.title == "Undersea Cables & How They Break"
    assert video.link == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    assert video.author == "Kurzgesagt – In a Nutshell"
    shown = video.content[0]
    assert shown.type == "text/html"
    assert shown.value == ("Cables under the sea carry 99% of the world's data.<br />\n"
                           "Sources &amp; further reading: https://sites.example/cables<br />\n<br />\n"
                           "Support us on Patreon &lt;3")


# The New York Times' section feeds (rss.nytimes.com/services/xml/rss/nyt/World.xml): the item's
# teaser is its description; its picture a media:content with, beside it in the item, the
# photo's media:credit and its caption as media:description.
NYT = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/" xmlns:nyt="http://www.nytimes.com/namespaces/rss/2.0" version="2.0">
  <channel>
    <title>NYT &gt; World News</title>
    <link>https://www.nytimes.com/section/world</link>
    <atom:link href="https://rss.nytimes.com/services/xml/rss/nyt/World.xml" rel="self" type="application/rss+xml"></atom:link>
    <description></description>
    <language>en-us</language>
    <copyright>Copyright 2024 The New York Times Company</copyright>
    <lastBuildDate>Wed, 01 May 2024 10:00:00 +0000</lastBuildDate>
    <pubDate>Wed, 01 May 2024 09:40:00 +0000</pubDate>
    <item>
      <title>NATO Steps Up Patrols After Damage to Baltic Sea Cables</title>
      <link>https://www.nytimes.com/2024/05/01/world/europe/nato-baltic-cables.html</link>
      <guid isPermaLink="true">https://www.nytimes.com/2024/05/01/world/europe/nato-baltic-cables.html</guid>
      <atom:link href="https://www.nytimes.com/2024/05/01/world/europe/nato-baltic-cables.html" rel="standout"></atom:link>
      <description>The alliance is sending ships and planes after two cables were cut in a week.</description>
      <dc:creator>Jane Reporter</dc:creator>
      <pubDate>Wed, 01 May 2024 09:00:00 +0000</pubDate>
      <category domain="http://www.nytimes.com/namespaces/keywords/nyt_geo">Baltic Sea</category>
      <media:content height="1800" medium="image" url="https://static01.nyt.com/images/2024/05/01/multimedia/01nato-cables/01nato-cables-mediumSquareAt3X.jpg" width="1800"></media:content>
      <media:credit>Ints Kalnins/Reuters</media:credit>
      <media:description>A Latvian navy vessel off the coast near Liepaja on Tuesday.</media:description>
    </item>
    <item>
      <title>Caption Before Teaser</title>
      <link>https://www.nytimes.com/2024/05/01/world/europe/second.html</link>
      <guid isPermaLink="true">https://www.nytimes.com/2024/05/01/world/europe/second.html</guid>
      <media:content height="1800" medium="image" url="https://static01.nyt.com/images/2024/05/01/multimedia/second.jpg" width="1800"></media:content>
      <media:description>A photo caption written before the teaser.</media:description>
      <description>The second story's own teaser.</description>
      <pubDate>Wed, 01 May 2024 08:00:00 +0000</pubDate>
    </item>
  </channel>
</rss>
"""


def test_a_news_items_photo_caption_is_not_its_text(feed_server: FeedServer, make_project) -> None:
    # An item's own media:description describes its media (a photo's caption), as a
    # YouTube video's is the video's only text. It was read as a second description: the
    # caption became the entry's content, which a reader shows in place of the teaser (or,
    # written first, the teaser became the content and the caption its summary). A
    # media:description is now the entry's text only when the entry has none of its own.
    feed_server.route("/World.xml", NYT, content_type="application/rss+xml")
    p = make_project({"nyt-world": feed_server.url("/World.xml")})
    assert "2 new items" in p.update()
    entries = {e.title: e for e in p.entries()}
    first, second = entries["NATO Steps Up Patrols After Damage to Baltic Sea Cables"], entries["Caption Before Teaser"]
    for entry, teaser, caption in ((first, "two cables were cut", "Latvian navy"), (second, "own teaser", "caption")):
        [shown] = entry.content
        assert teaser in shown.value
        assert caption not in shown.value and caption not in entry.summary
    assert first.author == "Jane Reporter"
    assert [x.href for x in first.enclosures] == [
        "https://static01.nyt.com/images/2024/05/01/multimedia/01nato-cables/01nato-cables-mediumSquareAt3X.jpg"]


# A podcast episode as hosts without content:encoded write it: the show notes as HTML in
# <description>, the same notes as plain text in <itunes:summary> after it.
PODCAST = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>The Security Pod</title>
    <link>https://pod.example.com/</link>
    <language>en-us</language>
    <itunes:author>Pod Host</itunes:author>
    <description>A show.</description>
    <itunes:image href="https://pod.example.com/cover.jpg"/>
    <itunes:category text="News"/>
    <itunes:explicit>false</itunes:explicit>
    <item>
      <title>Episode 12: Undersea cables</title>
      <itunes:title>Undersea cables</itunes:title>
      <itunes:episode>12</itunes:episode>
      <description><![CDATA[<p>We talk about the <b>Baltic</b> with <a href="https://guest.example/">our guest</a>.</p>]]></description>
      <itunes:summary>We talk about the Baltic with our guest.</itunes:summary>
      <itunes:image href="https://pod.example.com/ep12.jpg"/>
      <enclosure url="https://cdn.pod.example.com/ep12.mp3" length="34216300" type="audio/mpeg"/>
      <guid isPermaLink="false">pod-ep-12</guid>
      <pubDate>Tue, 30 Apr 2024 05:00:00 -0400</pubDate>
      <itunes:duration>00:35:38</itunes:duration>
    </item>
  </channel>
</rss>
"""


def test_a_podcast_episodes_html_show_notes_are_its_content(feed_server: FeedServer, make_project) -> None:
    # The notes' plain-text copy was published as the content, the HTML notes with their
    # links only as the summary, which readers showing the content never show.
    feed_server.route("/pod.xml", PODCAST, content_type="application/rss+xml")
    p = make_project({"pod": feed_server.url("/pod.xml")})
    p.update()
    [episode] = p.entries()
    [shown] = episode.content
    assert '<a href="https://guest.example/"' in shown.value
    assert [(x.href, x.type) for x in episode.enclosures] == [("https://cdn.pod.example.com/ep12.mp3", "audio/mpeg")]


def test_a_podcast_episode_with_only_an_itunes_summary_is_read_by_it(feed_server: FeedServer, make_project) -> None:
    notes = b'<description><![CDATA[<p>We talk about the <b>Baltic</b> with <a href="https://guest.example/">our guest</a>.</p>]]></description>'
    feed_server.route("/pod.xml", PODCAST.replace(notes, b""), content_type="application/rss+xml")
    p = make_project({"pod": feed_server.url("/pod.xml")})
    p.update()
    [episode] = p.entries()
    assert episode.content[0].value == "We talk about the Baltic with our guest."



def test_an_enclosure_of_unknown_length_is_published_without_one(feed_server: FeedServer, make_project) -> None:
    # length="0" is how most podcast feeds write "length unknown" (the RSS Advisory Board's
    # profile allows it): published as Atom's length="0" it told readers the file was empty
    # (RFC 4287 §4.2.7.6: the length is the file's size in octets). It is left out, as a
    # length that is no count is.
    files = (b'<enclosure url="https://cdn.pod.example.com/ep12.mp3" length="0" type="audio/mpeg"/>'
             b'<enclosure url="https://cdn.pod.example.com/ep12.ogg" length="000" type="audio/ogg"/>'
             b'<enclosure url="https://cdn.pod.example.com/ep12.m4a" length="-1" type="audio/mp4"/>'
             b'<enclosure url="https://cdn.pod.example.com/ep12.opus" length="12" type="audio/opus"/>')
    body = PODCAST.replace(b'<enclosure url="https://cdn.pod.example.com/ep12.mp3" length="34216300" type="audio/mpeg"/>',
                           files)
    feed_server.route("/pod.xml", body, content_type="application/rss+xml")
    p = make_project({"pod": feed_server.url("/pod.xml")})
    p.update()
    [episode] = p.entries()
    assert [(x.href, x.get("length")) for x in episode.enclosures] == [
        ("https://cdn.pod.example.com/ep12.mp3", None), ("https://cdn.pod.example.com/ep12.ogg", None),
        ("https://cdn.pod.example.com/ep12.m4a", None), ("https://cdn.pod.example.com/ep12.opus", "12")]
    assert b'length="0"' not in (p.root / "feeds" / "all.xml").read_bytes()


# A Google News search feed (news.google.com/rss/search?q=...): each item's title is the
# headline with " - " and its outlet after it, its link and GUID Google's own, its
# description the headline linked and the outlet's name, and <source> the outlet (RSS 2.0:
# "the RSS channel that the item came from").
GOOGLE_NEWS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?><rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><generator>NFE/5.0</generator><title>"baltic cable" - Google News</title><link>https://news.google.com/search?q=%22baltic+cable%22&amp;hl=en-US&amp;gl=US&amp;ceid=US:en</link><language>en-US</language><webMaster>news-webmaster@google.com</webMaster><copyright>© 2024 Google LLC</copyright><lastBuildDate>Wed, 01 May 2024 10:00:00 GMT</lastBuildDate><description>Google News</description><item><title>NATO steps up Baltic patrols after cable damage - Reuters</title><link>https://news.google.com/rss/articles/CBMiZGh0dHBzOi8vd3d3LnJldXRlcnMuY29t?oc=5</link><guid isPermaLink="false">CBMiZGh0dHBzOi8vd3d3LnJldXRlcnMuY29t</guid><pubDate>Wed, 01 May 2024 09:00:00 GMT</pubDate><description>&lt;a href="https://news.google.com/rss/articles/CBMiZGh0dHBzOi8vd3d3LnJldXRlcnMuY29t?oc=5" target="_blank"&gt;NATO steps up Baltic patrols after cable damage&lt;/a&gt;&amp;nbsp;&amp;nbsp;&lt;font color="#6f6f6f"&gt;Reuters&lt;/font&gt;</description><source url="https://www.reuters.com">Reuters</source></item><item><title>Finland seizes tanker over Estlink 2 cable - Yle News</title><link>https://news.google.com/rss/articles/CBMiTmh0dHBzOi8veWxlLmZpL2EvNzQtMjAwMTIzNDU2?oc=5</link><guid isPermaLink="false">CBMiTmh0dHBzOi8veWxlLmZpL2EvNzQtMjAwMTIzNDU2</guid><pubDate>Wed, 01 May 2024 08:00:00 GMT</pubDate><description>&lt;a href="https://news.google.com/rss/articles/CBMiTmh0dHBzOi8veWxlLmZpL2EvNzQtMjAwMTIzNDU2?oc=5" target="_blank"&gt;Finland seizes tanker over Estlink 2 cable&lt;/a&gt;&amp;nbsp;&amp;nbsp;&lt;font color="#6f6f6f"&gt;Yle&lt;/font&gt;</description><source url="https://yle.fi">Yle</source></item></channel></rss>
""".encode()


def test_a_news_aggregators_item_is_credited_to_its_outlet(feed_server: FeedServer, make_project) -> None:
    # Its <source> was read by neither parser: the entry was credited to no one (a reader
    # shows the feed's name, "Google News") and kept " - Reuters" in its title. The outlet is
    # its author now, and its name leaves the title when the title ends in exactly that name;
    # "- Yle News" is no "Yle", and stays.
    feed_server.route("/search", GOOGLE_NEWS, content_type="application/xml; charset=utf-8")
    p = make_project({"gnews": feed_server.url("/search")})
    assert "2 new items" in p.update()
    entries = {e.link: e for e in p.entries()}
    reuters = entries["https://news.google.com/rss/articles/CBMiZGh0dHBzOi8vd3d3LnJldXRlcnMuY29t?oc=5"]
    yle = entries["https://news.google.com/rss/articles/CBMiTmh0dHBzOi8veWxlLmZpL2EvNzQtMjAwMTIzNDU2?oc=5"]
    assert (reuters.title, reuters.author) == ("NATO steps up Baltic patrols after cable damage", "Reuters")
    assert (yle.title, yle.author) == ("Finland seizes tanker over Estlink 2 cable - Yle News", "Yle")
    # atom:source stays the feed the entry came from here (DESIGN.md), not the outlet.
    assert reuters.source.title == '"baltic cable" - Google News'
    # Its text is what the feed gives: the headline, linked, and the outlet's name.
    assert "Reuters" in reuters.summary and "NATO steps up" in reuters.summary


def test_an_outlets_item_stored_before_is_read_anew_at_the_upgrade_keeping_its_times(
        feed_server: FeedServer, make_project, monkeypatch: pytest.MonkeyPatch) -> None:
    # Stored by the release before (no author, the outlet in its title), the item takes this
    # release's reading at the re-read schema 0014 marks every feed for (REREAD), and keeps
    # its times: read anew otherwise, it would go to the top of every feed as news.
    import sqlite3

    import aggregator.parse

    feed_server.route("/search", GOOGLE_NEWS, content_type="application/xml; charset=utf-8")
    p = make_project({"gnews": feed_server.url("/search")})
    monkeypatch.setattr(aggregator.parse, "_outlet", lambda source: None)  # the release before
    assert "2 new items" in p.update()
    feed = '"baltic cable" - Google News'  # credited, as an entry of no author, to the feed
    assert {(e.title, e.author) for e in p.entries()} == {
        ("NATO steps up Baltic patrols after cable damage - Reuters", feed),
        ("Finland seizes tanker over Estlink 2 cable - Yle News", feed)}
    before = p.entry_times()
    monkeypatch.undo()
    with sqlite3.connect(p.root / "agg.db") as db:  # what the upgrade to 0014 does
        db.execute("UPDATE sources SET etag = NULL, last_modified = NULL, body_hash = 'reread' WHERE type = 'feed'")
    assert "0 new items, 2 updated" in p.update()
    assert {(e.title, e.author) for e in p.entries()} == {
        ("NATO steps up Baltic patrols after cable damage", "Reuters"),
        ("Finland seizes tanker over Estlink 2 cable - Yle News", "Yle")}
    assert p.entry_times() == before
    assert "0 new items, 0 updated" in p.update()


# A Bing News search feed (bing.com/news/search?q=...&format=rss), as Bing sends it: the
# namespace of its News: elements is the search's own URL; each item's title is the headline,
# its link Bing's click tracker with the outlet's URL in it, <News:Source> the outlet, and
# <News:Image> Bing's thumbnail of the story, with its size.
BING_NEWS = """<?xml version="1.0" encoding="utf-8" ?><rss version="2.0" xmlns:News="https://www.bing.com:443/news/search?q=baltic+cable&amp;format=rss"><channel><title>baltic cable - BingNews</title><link>https://www.bing.com:443/news/search?q=baltic+cable&amp;format=rss</link><description>Search results</description><image><url>http://www.bing.com/s/a/bing_p.ico</url><title>baltic cable</title><link>https://www.bing.com:443/news/search?q=baltic+cable&amp;format=rss</link></image><copyright>Copyright © 2024 Microsoft. All rights reserved. This XML feed is made available solely for the purpose of rendering Bing results within an RSS aggregator for your personal, non-commercial use. Any other use of this feed is prohibited.</copyright><item><title>NATO steps up Baltic patrols after cable damage</title><link>http://www.bing.com/news/apiclick.aspx?ref=FexRss&amp;aid=&amp;tid=6631A2B0C1D24E&amp;url=https%3a%2f%2fwww.reuters.com%2fworld%2feurope%2fnato-baltic-patrols-2024-05-01%2f&amp;c=4172918390284918&amp;mkt=en-us</link><description>NATO will step up patrols in the Baltic Sea after damage to an undersea cable, the alliance said on Wednesday, as Finland and Estonia investigate.</description><pubDate>Wed, 01 May 2024 09:00:00 GMT</pubDate><News:Source>Reuters</News:Source><News:Image>http://www.bing.com/th?id=OVFT.Zq8bX3kQ&amp;pid=News</News:Image><News:ImageSize>Small</News:ImageSize><News:ImageMaxWidth>700</News:ImageMaxWidth><News:ImageMaxHeight>466</News:ImageMaxHeight></item><item><title>Finland seizes tanker over Estlink 2 cable - Yle</title><link>http://www.bing.com/news/apiclick.aspx?ref=FexRss&amp;aid=&amp;tid=6631A2B0C1D24F&amp;url=https%3a%2f%2fyle.fi%2fa%2f74-20012345&amp;c=9918273645546372&amp;mkt=en-us</link><description>Finnish police seized a tanker suspected of damaging the Estlink 2 power cable between Finland and Estonia.</description><pubDate>Wed, 01 May 2024 08:00:00 GMT</pubDate><News:Source>Yle</News:Source></item></channel></rss>
""".encode()
BING_REUTERS = ("http://www.bing.com/news/apiclick.aspx?ref=FexRss&aid=&tid=6631A2B0C1D24E&url=https%3a%2f%2fwww.reuters.com"
                "%2fworld%2feurope%2fnato-baltic-patrols-2024-05-01%2f&c=4172918390284918&mkt=en-us")


def test_a_bing_news_item_is_credited_to_its_outlet_with_its_picture(feed_server: FeedServer, make_project) -> None:
    # Neither parser read <News:Source> nor <News:Image>: each entry was published as the
    # feed's ("baltic cable - BingNews"), Yle's with " - Yle" in its title, and none with a
    # picture. The outlet is the author now, by <source>'s rule, and News:Image the picture.
    import aggregator.fastparse

    feed_server.route("/bing", BING_NEWS, content_type="application/rss+xml; charset=utf-8")
    p = make_project({"bing": feed_server.url("/bing")})
    before = aggregator.fastparse.fast_path_count
    assert "2 new items" in p.update()
    assert aggregator.fastparse.fast_path_count > before  # well formed: the fast path reads it
    entries = {e.title: e for e in p.entries()}
    assert {(title, e.author) for title, e in entries.items()} == {
        ("NATO steps up Baltic patrols after cable damage", "Reuters"), ("Finland seizes tanker over Estlink 2 cable", "Yle")}
    reuters = entries["NATO steps up Baltic patrols after cable damage"]
    assert reuters.link == "https://www.reuters.com/world/europe/nato-baltic-patrols-2024-05-01/"  # not Bing's tracker
    assert reuters.media_thumbnail == [{"url": "http://www.bing.com/th?id=OVFT.Zq8bX3kQ&pid=News"}]
    assert "media_thumbnail" not in entries["Finland seizes tanker over Estlink 2 cable"]
    assert reuters.source.title == "baltic cable - BingNews"


def test_a_bing_news_item_stored_before_is_read_anew_at_the_upgrade_keeping_its_times(
        feed_server: FeedServer, make_project, monkeypatch: pytest.MonkeyPatch) -> None:
    # Stored by the release before (credited to the feed, " - Yle" in its title), the item
    # takes this release's reading at the re-read schema 0018 marks every feed for (REREAD),
    # keeping its times: read anew otherwise, the window would go to the top as news.
    import aggregator.parse

    feed_server.route("/bing", BING_NEWS, content_type="application/rss+xml; charset=utf-8")
    p = make_project({"bing": feed_server.url("/bing")})
    monkeypatch.setattr(aggregator.parse, "_credited", lambda name: None)  # the release before
    monkeypatch.setattr(aggregator.parse, "REDIRECTORS", ())  # ... which published Bing's click tracker
    assert "2 new items" in p.update()
    feed = "baltic cable - BingNews"
    assert {(e.title, e.author) for e in p.entries()} == {
        ("NATO steps up Baltic patrols after cable damage", feed), ("Finland seizes tanker over Estlink 2 cable - Yle", feed)}
    assert {e.link for e in p.entries()} >= {BING_REUTERS}
    before = p.entry_times()
    monkeypatch.undo()
    _upgraded_to_0018(p.root / "agg.db")
    assert "0 new items, 2 updated" in p.update()
    assert {(e.title, e.author) for e in p.entries()} == {
        ("NATO steps up Baltic patrols after cable damage", "Reuters"), ("Finland seizes tanker over Estlink 2 cable", "Yle")}
    # Its link is the outlet's now; its id (made of its key then: the tracker's link, as these
    # items have no guid) is the same, found by the key it takes now (the outlet's link, which
    # 0018 left as a former key), and its times too: no duplicate, nothing dated anew.
    assert {e.link for e in p.entries()} == {
        "https://www.reuters.com/world/europe/nato-baltic-patrols-2024-05-01/", "https://yle.fi/a/74-20012345"}
    assert p.entry_times() == before
    assert "0 new items, 0 updated" in p.update()


# A Bing News feed in a shape that fails a strict parse (its News: prefix declared nowhere, as
# some proxies and caches serve it): feedparser's loose parser reads it. AT&T's item names its
# outlet with an "&" and has a picture whose URL has one; the others are keyed by a GUID with one
# (the last written bare, as its author).
LOOSE_BING = (b'<?xml version="1.0" encoding="utf-8" ?><rss version="2.0"><channel><title>cables - BingNews</title>'
              b"<link>https://www.bing.com/news/search?q=cables&amp;format=rss</link><description>Search results</description>"
              b"<item><title>Cables cut - AT&amp;T</title><link>https://att.example/cables</link>"
              b"<pubDate>Wed, 01 May 2024 09:00:00 GMT</pubDate><News:Source>AT&amp;T</News:Source>"
              b"<News:Image>http://www.bing.com/th?id=OVFT.a1&amp;pid=News</News:Image></item>"
              b"<item><title>Cable laid</title><guid isPermaLink='false'>cable?id=2&amp;lang=en</guid>"
              b"<author>Q&amp;A desk</author><pubDate>Wed, 01 May 2024 08:00:00 GMT</pubDate></item>"
              b"<item><title>Cable repaired</title><guid isPermaLink='false'>cable?id=3&l=en</guid>"
              b"<author>R&D desk</author><pubDate>Wed, 01 May 2024 07:00:00 GMT</pubDate></item></channel></rss>")


def _upgraded_to_0018(db: Path) -> None:
    """The database of the release before (taken down to 0017) upgraded to 0018, as a new
    release's first command does it: every feed marked to be read anew, former keys given."""
    from alembic import command

    from aggregator.db import alembic_config, make_engine

    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            command.downgrade(alembic_config(conn), "0017")
            command.upgrade(alembic_config(conn), "0018")
            conn.commit()
    finally:
        engine.dispose()


def _loose_parser_of_the_release_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """feedparser's loose parser as the release before 0018 had it: escapes left in, a bare
    "&" before letters read as an entity (reviews 100, 106)."""
    import re

    import feedparser.api
    import feedparser.parsers.loose
    import feedparser.sgml

    import aggregator.parse

    loose = feedparser.api.LooseFeedParser
    for name, before_fix in (("decode_entities", aggregator.parse._feedparsers_loose_decode),
                             ("pop", aggregator.parse._feedparsers_loose_pop),
                             *((n, vars(feedparser.parsers.loose._LooseFeedParser)[n]) for n in ("_normalize_attributes", "strattrs"))):
        monkeypatch.setattr(loose, name, before_fix)
    monkeypatch.setattr(feedparser.sgml.sgmllib, "entityref", re.compile("&([a-zA-Z][-.a-zA-Z0-9]*)[^a-zA-Z0-9]"))


def test_a_malformed_feeds_entries_stored_with_escaped_entities_are_read_anew_keeping_their_times(
        feed_server: FeedServer, make_project, monkeypatch: pytest.MonkeyPatch) -> None:
    # feedparser's loose parser left "&amp;" in the text of an element it has no content type for:
    # the outlet was "AT&amp;T" (" - AT&T" kept in the title), the picture's URL kept "&amp;",
    # the author was "Q&amp;A desk". Stored so by the release before, the entries take this
    # release's reading at 0018's re-read (REREAD, keeping times), and a GUID read with "&amp;"
    # before keeps its item (0018 gives it its key as read now as a former key: not a new item).
    import sqlite3

    import aggregator.fastparse

    feed_server.route("/bing", LOOSE_BING, content_type="application/rss+xml; charset=utf-8")
    p = make_project({"bing": feed_server.url("/bing")})
    _loose_parser_of_the_release_before(monkeypatch)
    fast_before = aggregator.fastparse.fast_path_count
    assert "3 new items" in p.update()
    assert aggregator.fastparse.fast_path_count == fast_before  # malformed: the feedparser path reads it

    def stored() -> set[tuple[str, str, str, str | None]]:
        with sqlite3.connect(p.root / "agg.db") as db:
            return set(db.execute("SELECT s.key, i.title, i.author, i.image FROM items i JOIN item_sources s ON s.item_id = i.id"))

    assert stored() == {("https://att.example/cables", "Cables cut - AT&T", "AT&amp;T", "http://www.bing.com/th?id=OVFT.a1&amp;pid=News"),
                        ("cable?id=2&amp;lang=en", "Cable laid", "Q&amp;A desk", None),
                        ("cable?id=3&l;=en", "Cable repaired", "R&D; desk", None)}
    before = p.entry_times()
    monkeypatch.undo()
    # The upgrade to 0018 (taken down to 0017 and up again): every feed read anew, and an item
    # whose key the loose parser read with an escape takes its key as read now as a former key.
    _upgraded_to_0018(p.root / "agg.db")
    assert "0 new items, 3 updated" in p.update()
    assert stored() == {("https://att.example/cables", "Cables cut", "AT&T", "http://www.bing.com/th?id=OVFT.a1&pid=News"),
                        ("cable?id=2&lang=en", "Cable laid", "Q&A desk", None),
                        ("cable?id=3&l=en", "Cable repaired", "R&D desk", None)}
    entries = {e.title: e for e in p.entries()}
    assert {(title, e.author) for title, e in entries.items()} == {
        ("Cables cut", "AT&T"), ("Cable laid", "Q&A desk"), ("Cable repaired", "R&D desk")}
    assert entries["Cables cut"].media_thumbnail == [{"url": "http://www.bing.com/th?id=OVFT.a1&pid=News"}]
    assert p.entry_times() == before
    assert "0 new items, 0 updated" in p.update()


LOOSE_QUERY_LINKS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Cables</title><link>https://m2.example/</link><description>d</description>
<item><title>Cable laid</title><link>https://m2.example/story?id=1&lang=en</link><description>First text.</description><pubDate>Tue, 24 Nov 2026 07:00:00 GMT</pubDate></item>
<item><title>Cable cut</title><link>https://m2.example/story?id=2&copy=1</link><description>Second text.</description><pubDate>Tue, 24 Nov 2026 06:00:00 GMT</pubDate></item>
</channel></rss>
"""


def test_a_malformed_feeds_guidless_entries_keyed_by_a_link_with_a_bare_entity_name_keep_their_items(
        feed_server: FeedServer, make_project, monkeypatch: pytest.MonkeyPatch) -> None:
    # The release before (f0dc733) read a bare "&lang" or "&copy" before "=" in a malformed
    # feed's link as the entity (〈, ©): the entry, with no guid, was keyed by that link. This
    # release reads the link as written; at 0018's re-read the entry keeps its item (0018 gives
    # it its key as read now as a former key).

    feed_server.route("/m2", LOOSE_QUERY_LINKS, content_type="application/rss+xml; charset=utf-8")
    p = make_project({"m2": feed_server.url("/m2")})
    _loose_parser_of_the_release_before(monkeypatch)
    assert "2 new items" in p.update()
    assert {e.link for e in p.entries()} == {"https://m2.example/story?id=1%E2%8C%A9=en", "https://m2.example/story?id=2%C2%A9=1"}
    before = p.entry_times()
    monkeypatch.undo()
    _upgraded_to_0018(p.root / "agg.db")
    p.update()
    assert {e.link for e in p.entries()} == {"https://m2.example/story?id=1&lang=en", "https://m2.example/story?id=2&copy=1"}
    assert p.entry_times() == before


# A Google Alert (Atom, as Google sends it: an empty author in every entry, the link Google's
# click tracker around the story's URL), an outlet's own RSS of the same story, the outlet's
# feed through FeedBurner (the link feedproxy's, <feedburner:origLink> the story's) and a Bing
# News item of it.
STORY = "https://www.theconcordinsider.com/2021/06/04/this-week-in-concord-history-502/"
GOOGLE_ALERT = f"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xmlns:idx="urn:atom-extension:indexing"><id>tag:google.com,2005:reader/user/17849810695950872924/state/com.google/alerts/15842463258895766468</id><title>Google Alert - concord history</title><link href="https://www.google.com/alerts/feeds/17849810695950872924/15842463258895766468" rel="self"></link><updated>2021-06-04T16:18:45Z</updated><entry><id>tag:google.com,2013:googlealerts/feed:12501224780620368192</id><title type="html">This week in &lt;b&gt;Concord history&lt;/b&gt;</title><link href="https://www.google.com/url?rct=j&amp;sa=t&amp;url={STORY}&amp;ct=ga&amp;cd=CAIyGjUwMjhiYWRmMWQ5M2MzMGE6Y29tOmVuOlVT&amp;usg=AFQjCNGc3F9NBj810v400CL5oepfu5PTwQ"></link><published>2021-06-04T14:26:15Z</published><updated>2021-06-04T14:26:15Z</updated><content type="html">Fifty years ago: the &lt;b&gt;Concord&lt;/b&gt; city council voted on the new library.</content><author><name></name></author></entry></feed>
""".encode()
OUTLET = f"""<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Concord Monitor</title><link>https://www.theconcordinsider.com/</link><description>News</description><item><title>This week in Concord history</title><link>{STORY}</link><guid isPermaLink="false">https://www.theconcordinsider.com/?p=40502</guid><pubDate>Fri, 04 Jun 2021 14:00:00 GMT</pubDate><description>Each week, the Insider looks back at what happened in the city 25, 50 and 100 years ago.</description></item></channel></rss>
""".encode()
FEEDBURNER = f"""<?xml version="1.0" encoding="UTF-8"?><rss xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0" version="2.0"><channel><title>Concord Insider</title><link>https://www.theconcordinsider.com</link><description>News</description><item><title>This week in Concord history (FeedBurner)</title><link>http://feedproxy.google.com/~r/ConcordInsider/~3/XwpDn-ogUnc/</link><guid isPermaLink="false">concord-40502</guid><pubDate>Fri, 04 Jun 2021 14:05:00 GMT</pubDate><description>The weekly look back, as syndicated.</description><feedburner:origLink>{STORY}</feedburner:origLink></item></channel></rss>
""".encode()
BING_STORY = f"""<?xml version="1.0" encoding="utf-8" ?><rss version="2.0" xmlns:News="https://www.bing.com:443/news/search?q=concord&amp;format=rss"><channel><title>concord - BingNews</title><link>https://www.bing.com:443/news/search?q=concord&amp;format=rss</link><description>Search results</description><item><title>Concord, then and now</title><link>http://www.bing.com/news/apiclick.aspx?ref=FexRss&amp;aid=&amp;tid=6631A2B0C1D250&amp;url={quote(STORY, safe="").lower()}&amp;c=1234&amp;mkt=en-us</link><description>A weekly column.</description><pubDate>Fri, 04 Jun 2021 15:00:00 GMT</pubDate><News:Source>Concord Monitor</News:Source></item></channel></rss>
""".encode()


@pytest.mark.parametrize("wrapped", ["google", "feedburner", "bing"])
def test_a_story_behind_a_click_tracker_is_the_outlets_own_entry(feed_server: FeedServer, make_project,
                                                                 wrapped: str) -> None:
    # The story came twice, from the outlet's own feed and through a click tracker (a Google
    # Alert, FeedBurner's feedproxy, Bing News), whose link never equalled the outlet's: two
    # entries in every feed, the tracker's link in one. The wrapped URL is the entry's link
    # now, so the story is one entry, linked to the outlet's page.
    body, media_type = {"google": (GOOGLE_ALERT, "application/atom+xml"), "feedburner": (FEEDBURNER, "application/rss+xml"),
                        "bing": (BING_STORY, "application/rss+xml")}[wrapped]
    feed_server.route("/outlet", OUTLET, content_type="application/rss+xml")
    feed_server.route("/wrapped", body, content_type=media_type)
    p = make_project({"outlet": feed_server.url("/outlet"), "wrapped": feed_server.url("/wrapped")})
    p.update()
    assert [e.link for e in p.entries()] == [STORY]
    assert "0 new items, 0 updated" in p.update()


def test_a_story_stored_twice_before_the_upgrade_is_one_entry_after_it(
        feed_server: FeedServer, make_project, monkeypatch: pytest.MonkeyPatch) -> None:
    import aggregator.parse

    feed_server.route("/outlet", OUTLET, content_type="application/rss+xml")
    feed_server.route("/wrapped", BING_STORY, content_type="application/rss+xml")
    p = make_project({"outlet": feed_server.url("/outlet"), "wrapped": feed_server.url("/wrapped")})
    monkeypatch.setattr(aggregator.parse, "REDIRECTORS", ())  # the release before
    p.update()
    assert len(p.entries()) == 2
    times = next((e.id, e.updated) for e in p.entries() if e.link == STORY)
    monkeypatch.undo()
    _upgraded_to_0018(p.root / "agg.db")
    # The tracker's copy takes the outlet's link at the re-read, keeping its times, and is
    # then the outlet's story (stored first): one entry, its id and time, the copy counted as merged.
    assert "0 new items, 0 updated, 1 merged" in p.update()
    assert [(e.id, e.link, e.updated) for e in p.entries()] == [(times[0], STORY, times[1])]
    assert "0 new items, 0 updated, 0 merged" in p.update()


def test_an_entry_edited_upstream_to_another_storys_link_is_that_story(feed_server: FeedServer, make_project) -> None:
    # b's item first linked its own page, then (edited upstream, its text the same) the
    # outlet's story a carries: it is a's story, one entry (b a further source of it), as it
    # would have been had it come so. (The merge took a link that names the entry's own item
    # too, as it does once the item is written with its new link, for a link several stories
    # share, and merged nothing.)
    a = ("<?xml version='1.0'?><rss version='2.0'><channel><title>A</title><link>https://a.example/</link><description>d</description>"
         "<item><title>Cable cut</title><link>https://a.example/cable</link><guid isPermaLink='false'>a1</guid>"
         "<pubDate>Wed, 01 May 2024 09:00:00 GMT</pubDate><description>The outlet's report.</description></item></channel></rss>")
    def b(link: str) -> bytes:
        return ("<?xml version='1.0'?><rss version='2.0'><channel><title>B</title><link>https://b.example/</link><description>d</description>"
                f"<item><title>On the cable</title><link>{link}</link><guid isPermaLink='false'>b1</guid>"
                "<pubDate>Wed, 01 May 2024 10:00:00 GMT</pubDate><description>A note on it.</description></item></channel></rss>").encode()
    feed_server.route("/a", a.encode(), content_type="application/rss+xml")
    feed_server.route("/b", b("https://b.example/note"), content_type="application/rss+xml")
    p = make_project({"a": feed_server.url("/a"), "b": feed_server.url("/b")})
    p.update()
    assert len(p.entries()) == 2
    feed_server.route("/b", b("https://a.example/cable"), content_type="application/rss+xml")
    p.update()
    [entry] = p.entries()
    assert (entry.link, entry.title) == ("https://a.example/cable", "Cable cut")
    assert [link.href for link in entry.links if link.rel == "via"] == []  # b's link is a's


# The same Bing News search fetched twice: Bing writes one ``tid`` into every item's click
# tracker of a response (a real capture's ten items all carry tid=D254857CE7774D7EB6868C764486E532,
# each its own ``c``), an id of that response, so the tracker of a story changes at every fetch.
BING_AGAIN = BING_STORY.replace(b"tid=6631A2B0C1D250", b"tid=9E07C4D1A2B3F6")


def test_a_guidless_bing_news_item_is_one_entry_when_its_click_tracker_changes_between_fetches(
        feed_server: FeedServer, make_project) -> None:
    # A Bing item has no guid: its key was its link as sent, the click tracker, whose tid is
    # the response's. Each fetch stored the story anew (two entries of a source are two items,
    # even with one link). The key of a guid-less entry behind a click tracker is the page it
    # leads to now: the same at every fetch.
    route = feed_server.route("/bing", BING_STORY, content_type="application/rss+xml")
    p = make_project({"bing": feed_server.url("/bing")})
    assert "1 new item" in p.update()
    route.body = BING_AGAIN
    assert "0 new items, 0 updated" in p.update()
    assert [e.link for e in p.entries()] == [STORY]


def test_a_bing_news_item_keyed_by_its_click_tracker_before_keeps_its_item_after_the_upgrade(
        feed_server: FeedServer, make_project, monkeypatch: pytest.MonkeyPatch) -> None:
    # Stored by the release before under its tracker's link (its key then), the item is found
    # at 0018's re-read by the key this release gives it (0018 leaves it as a former key), not
    # stored anew though the tracker's tid is another: same id, same times.
    import sqlite3

    import aggregator.parse

    route = feed_server.route("/bing", BING_STORY, content_type="application/rss+xml")
    p = make_project({"bing": feed_server.url("/bing")})
    monkeypatch.setattr(aggregator.parse, "REDIRECTORS", ())  # the release before
    assert "1 new item" in p.update()
    [(key,)] = sqlite3.connect(p.root / "agg.db").execute("SELECT key FROM item_sources").fetchall()
    assert key.startswith("http://www.bing.com/news/apiclick.aspx?")
    before, ids = p.entry_times(), [e.id for e in p.entries()]
    monkeypatch.undo()
    _upgraded_to_0018(p.root / "agg.db")
    route.body = BING_AGAIN
    assert "0 new items, 1 updated" in p.update()
    assert [(e.id, e.link) for e in p.entries()] == [(ids[0], STORY)]
    assert p.entry_times() == before
    [(key,)] = sqlite3.connect(p.root / "agg.db").execute("SELECT key FROM item_sources").fetchall()
    assert key == STORY
    route.body = BING_STORY
    assert "0 new items, 0 updated" in p.update()


EMPTY_RSS = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Nothing yet</title>'
             b"<link>https://www.theconcordinsider.com/</link><description>News</description></channel></rss>")


@pytest.mark.parametrize("wrapped", ["google", "feedburner", "bing"])
@pytest.mark.parametrize("arrival", ["one batch", "the outlet's first", "the tracker's first"])
def test_a_story_behind_a_click_tracker_is_one_entry_in_whatever_order_its_copies_arrive(
        feed_server: FeedServer, make_project, wrapped: str, arrival: str) -> None:
    # The tracker's copy and the outlet's, in one refresh or in two, either first: one entry,
    # linked to the outlet's page, with the id of the copy that came first (the outlet's when
    # both come at once: listed first; an id published is never changed), and the next
    # refreshes (Bing's tid another) store nothing.
    from aggregator.identity import entry_uid

    body, media_type = {"google": (GOOGLE_ALERT, "application/atom+xml"), "feedburner": (FEEDBURNER, "application/rss+xml"),
                        "bing": (BING_STORY, "application/rss+xml")}[wrapped]
    outlet = feed_server.route("/outlet", OUTLET, content_type="application/rss+xml")
    tracker = feed_server.route("/wrapped", body, content_type=media_type)
    p = make_project({"outlet": feed_server.url("/outlet"), "wrapped": feed_server.url("/wrapped")})
    first = {"one batch": "outlet", "the outlet's first": "outlet", "the tracker's first": "wrapped"}[arrival]
    if arrival != "one batch":
        (tracker if first == "outlet" else outlet).body = EMPTY_RSS
        assert "1 new items" in p.update()
        tracker.body, outlet.body = body, OUTLET
        assert "0 new items, 0 updated, 1 merged" in p.update()
    else:
        assert "1 new items, 0 updated, 1 merged" in p.update()
    key = {"outlet": "https://www.theconcordinsider.com/?p=40502", "google": "tag:google.com,2013:googlealerts/feed:12501224780620368192",
           "feedburner": "concord-40502", "bing": STORY}[first if first == "outlet" else wrapped]
    assert [(e.id, e.link) for e in p.entries()] == [(entry_uid(first, key), STORY)]
    tracker.body = BING_AGAIN if wrapped == "bing" else body
    assert "0 new items, 0 updated" in p.update()
    assert len(p.entries()) == 1


def test_the_copies_of_a_bing_story_stored_at_each_fetch_before_the_upgrade_are_one_entry_after_it(
        feed_server: FeedServer, make_project, monkeypatch: pytest.MonkeyPatch) -> None:
    # The release before stored a Bing story anew at each fetch (keyed by its tracker, whose
    # tid changes): the upgrade keeps the oldest copy (its id and times), which the re-read
    # finds by the page it leads to, and removes the others.
    import sqlite3

    import aggregator.parse

    route = feed_server.route("/bing", BING_STORY, content_type="application/rss+xml")
    p = make_project({"bing": feed_server.url("/bing")})
    monkeypatch.setattr(aggregator.parse, "REDIRECTORS", ())  # the release before
    assert "1 new item" in p.update()
    first, before = p.entries()[0].id, p.entry_times()
    route.body = BING_AGAIN
    assert "1 new item" in p.update()
    assert len(p.entries()) == 2
    monkeypatch.undo()
    _upgraded_to_0018(p.root / "agg.db")
    route.body = BING_STORY.replace(b"tid=6631A2B0C1D250", b"tid=0D5F93C8E1B2A7")
    assert "0 new items, 1 updated" in p.update()
    assert [(e.id, e.link) for e in p.entries()] == [(first, STORY)]
    assert p.entry_times() == before
    with sqlite3.connect(p.root / "agg.db") as db:
        assert db.execute("SELECT count(*) FROM items").fetchone() == (1,)
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert "0 new items, 0 updated" in p.update()
