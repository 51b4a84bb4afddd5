"""Differential harness: random feeds through parse_feed (fast path when it can) and
_parse_with_feedparser (the reference); prints every difference in the EntryData/FeedData.

    [BIAS=1] [MUTATE=1] .venv/bin/python tests/fastparse_diff.py [count] [seed]

BIAS: mostly documents the fast path can take (RSS 2.0 / Atom 1.0, UTF-8); without it
also RSS 0.9x/1.0, Atom 0.3 and other encodings, BOMs and media types. MUTATE: random
attributes (base, href, xml:lang...) on random elements, and stray elements, comments
and processing instructions inserted. test_fastparse runs a small share of it.
"""

from __future__ import annotations

import random
import re
import sys
from datetime import datetime, timezone

import aggregator.fastparse as fastparse
from aggregator.errors import ParseError
from aggregator.parse import _parse_with_feedparser, parse_feed

import os
BIAS = bool(os.environ.get("BIAS"))
NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)
URL = "http://fetched.example.org/path/feed"

NS = {
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
    "atom": "http://www.w3.org/2005/Atom",
    "media": "http://search.yahoo.com/mrss/",
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "itunesDTD": "http://www.itunes.com/DTDs/PodCast-1.0.dtd",
    "slash": "http://purl.org/rss/1.0/modules/slash/",
    "wfw": "http://wellformedweb.org/commentAPI/",
    "thr": "http://purl.org/syndication/thread/1.0",
    "georss": "http://www.georss.org/georss",
    "feedburner": "http://rssnamespace.org/feedburner/ext/1.0",
    "x": "http://unknown.example/ns",
    # Bing News' namespace is the search's own URL.
    "News": "https://www.bing.com:443/news/search?q=x&amp;format=rss",
}
# Unusual prefixes for known namespaces.
ODD_PREFIX = {"content": "c", "dc": "d", "atom": "a10", "media": "m", "itunes": "it", "dcterms": "terms", "News": "news"}

TEXTS = [
    "Plain title", "Tom &amp; Jerry", "Caf&#233; &#x2014; r&#xE9;sum&#233;", "<![CDATA[CDATA & <b>bold</b>]]>",
    "&lt;b&gt;Bold&lt;/b&gt; text", "  spaced\n\t title  ", "", "Ünïcödé — “quotes” 日本語", "a &amp;amp; b",
    "&#128512; emoji", "&#x80;&#x93;c1&#x94;", "Ã©tÃ© moji", "R&amp;D &lt; 5", "<![CDATA[]]>", "&#160;nbsp&#160;",
    "x &lt;br&gt; y", "<![CDATA[a]]>b<![CDATA[c]]>", "line1&#13;&#10;line2", "&#xD;cr", "AT&amp;T&#39;s &quot;q&quot;",
    "&amp;lt;p&amp;gt;double", "\u00a0lead nbsp", "tab\there", "5 &gt; 3", "&lt;3 love", "&lt;/p&gt;",
    "<![CDATA[&amp; literal]]>", "&amp;#233; escaped ref", "&amp;eacute;", "&amp;nbsp;word",
]
HTMLS = [
    "<![CDATA[<p>Hello <a href='/rel/x'>rel</a> <img src='img.png'></p>]]>",
    "&lt;p&gt;Escaped &lt;em&gt;html&lt;/em&gt; &amp;amp; more&lt;/p&gt;",
    "Plain teaser text.", "Text with &amp; ampersand", "<![CDATA[Line<br/>break]]>", "",
    "<![CDATA[<p>a</p>]]>", "&lt;script&gt;alert(1)&lt;/script&gt;safe", "<![CDATA[<div><p>x</p></div>]]>",
    "   ", "Café &#8212; &#233;", "<![CDATA[  <p>  padded  </p>  ]]>", "a &lt; b", "&lt;a href=\"x?a=1&amp;amp;b=2\"&gt;l&lt;/a&gt;",
    "<![CDATA[<p>x]]]]><![CDATA[>y</p>]]>", "&#60;p&#62;numeric refs&#60;/p&#62;", "\u0093smart\u0094",
    "<![CDATA[<p>Ã©tÃ©</p>]]>", "x&#x0D;y",
]
LINKS = [
    "http://a.example/1", "  http://a.example/ws  ", "/relative/page", "relative.html", "http://a.example/q?a=1&amp;b=2",
    "http://a.example/q?a=1&amp;amp;b=2", "", "https://a.example/é", "http:///triple", "\n http://a.example/nl\n",
    "http://a.example/x#frag", "//proto.example/rel", "http://a.example/a b", "mailto:x@example.org", "javascript:alert(1)",
    "http://a.example/?q=&amp;lt;", "http://a.example/&amp;copy;", "http://a.example/&#38;x",
    # Click trackers (identity.unwrapped): Google Alerts', Bing News', and a target that is no http(s) URL.
    "https://www.google.com/url?rct=j&amp;sa=t&amp;url=https://news.example/a%3Fb%3D1&amp;ct=ga&amp;usg=x",
    "http://www.bing.com/news/apiclick.aspx?ref=FexRss&amp;aid=&amp;url=https%3a%2f%2fout.example%2fs%2f&amp;c=1",
    "https://www.google.com/url?rct=j&amp;sa=t&amp;url=javascript:alert(1)&amp;ct=ga",
]
RFC822 = [
    "Mon, 01 Jan 2024 00:00:00 GMT", "Tue, 02 Jan 2024 10:00:00 +0100", "2 Jan 2024 10:00:00 -0500", "Sat, 6 Jul 2024 8:05:00 EST",
    "Sun, 07 Jul 2024 08:05 PDT", "Mon, 01 Jan 2024 00:00:00 UT", "Mon, 01 Jan 2024 00:00:00 Z", "Mon, 01 Jan 24 00:00:00 GMT",
    "Mon, 01 January 2024 00:00:00 GMT", "Wed, 31 Dec 2098 23:00:00 -0800", "01 Jan 2024 00:00:00 CEST", "Mon,01 Jan 2024 00:00:00 GMT",
    "Mon, 01 Jan 2024 00:00:00", "not a date", "", "  Mon, 01 Jan 2024 00:00:00 GMT  ", "Mon, 01 Jan 2024 00:00:00 +05:30",
    "Fri, 29 Feb 2023 12:00:00 GMT", "Mon, 1 Jan 2024 24:00:00 GMT", "Mon, 01 Jan 2024 00:00:00 gmt", "mon, 01 jan 2024 00:00:00 GMT",
    "Mon, 01 Jan 2024 00:00:00 +0000 (UTC)", "Mon, 01 Jan 2024 00:00:00 EDT", "Mon, 01 Jan 2024 00:00:00 MSK",
    "Fri, 30 Feb 2024 10:00:00 GMT", "Mon, 01 Jan 2024 10:00:00 +2500", "Mon, 01 Jan 2024 10:00:00 -0099",
    "Mon, 01 Jan 2024 10:00:00 +5:30", "Mon, 01 Jan 2024 10:00:00 GMT+2", "Mon, 01 Jan 2024 10:00:00 UTC-3",
    "Mon Jan 1 10:00:00 2024 +0530", "Mon Jan 01 10:00:00 CET 2024", "Mon Jan 1 10:00:00 2024 +2500",
    "Mon Jan 1 10:00:00 2024 0530", "Mon Jan 1 10:00:00 2024 A", "Mon, 01 Jan 2024 10:00:00 +01",
]
ISO = [
    "2024-03-04T05:06:07-05:00", "2024-03-04T05:06:07Z", "2024-03-04T05:06:07", "2024-03-04", "2024-03-04T05:06:07.123456Z",
    "2024-03-04T05:06:07+0530", "2024-03-04 05:06:07", "2024-03-04T05:06Z", "20240304T050607Z", "2024-03-04T05:06:07.1234567Z",
    "2024-W10", "2024-03-04T24:00:00Z", "2024-13-01T00:00:00Z", "  2024-03-04T05:06:07Z ", "2024-03-04t05:06:07z",
    "2024-03-04T05:06:07+00:00", "2099-01-01T00:00:00Z", "", "2024-02-30T10:00:00Z", "2024-03-04T99:06:07Z",
    "2024-03-04T05:06:07+25:00", "2024-03-04T05:06:07-0330", "2024-03-04T05:06:07.5+0545", "2024-03-04 05:06:07 +0530",
    "2024-03-04T24:00:00+0530", "2024-03-04T05:06:07+2500",
    "2024-064", "2024-064T05:06:07Z", "2023-366", "2024-03-04T05:06:07+5:30", "2024-03-04T05:06:07,5+01:00",
    "2024-03-04 05:06:07 UTC", "2024-03-04T05:06:07 CET", "2024/03/04 05:06:07", "20240304T0506+0530", "20240304T990000Z",
    "2024-03-04 05:06:07 +0000 UTC", "2024-03-04T05:06:07+0530 (IST)", "2024-03-04 05:06:07-05", "2024-03-04T05:06:07Z,",
    "2024-03-04 05:06:07 at", "20240304T05:06:07 +0100",
]
PEOPLE = ["Jo Writer", "jo@example.org (Jo Writer)", "jo@example.org", "Jo Writer <jo@example.org>", "", "  Spaced  Name ",
          "&lt;Jo&gt;", "Ã©mile", "Jo (jo@example.org)", "noreply@example.org (Jo &amp; Co)", "<![CDATA[Jo]]>"]


def r_text(rng: random.Random) -> str:
    return rng.choice(TEXTS)


def el(name: str, text: str | None, attrs: str = "") -> str:
    if text is None:
        return f"<{name}{attrs}/>"
    return f"<{name}{attrs}>{text}</{name}>"


def prefix_for(rng: random.Random, ns: str, used: dict[str, str]) -> str:
    """A prefix for namespace key ``ns``: its usual or an odd one, declared on the root."""
    if ns in used:
        return used[ns]
    p = ODD_PREFIX.get(ns, ns) if rng.random() < 0.3 else ns
    used[ns] = p
    return p


MEDIA_URLS = ["http://m.example/v.mp4", "/rel/t.jpg", "  http://m.example/ws.jpg ", "", "javascript:alert(1)",
              "http://m.example/q?a=1&amp;b=2", "data:image/png;base64,AA"]


def media_text(rng: random.Random, p: str, name: str) -> str:
    typ = rng.choice(["", "", " type='plain'", " type='html'", " type='text/html'", " type='xhtml'", " lang='en'"])
    if rng.random() < 0.05:
        return f"<{p}:{name}{typ}>a <b xmlns=''>b</b></{p}:{name}>"
    return el(f"{p}:{name}", rng.choice(TEXTS + HTMLS), typ)


def media_file(rng: random.Random, p: str, inner: bool = True) -> str:
    attrs = f" url='{rng.choice(MEDIA_URLS)}'" if rng.random() < 0.9 else ""
    attrs += rng.choice(["", " type='video/mp4'", " type='IMAGE/JPEG'", " type='image/png; x=y'", " type='audio/mpeg'"])
    attrs += rng.choice(["", " medium='image'", " medium='video'", " medium='Image'"])
    attrs += rng.choice(["", " fileSize='123'", " filesize=' 9 '", " width='640' height='390'", " isDefault='true'",
                         " duration='12'", " xml:lang='en'", " base='http://b.example/'", " foo='1'", " URL='http://u/'"])
    children = ""
    if inner and rng.random() < 0.5:
        children = "".join(rng.choice([
            f"<{p}:thumbnail url='{rng.choice(MEDIA_URLS)}'/>", media_text(rng, p, "title"), media_text(rng, p, "description"),
            f"<{p}:credit role='author'>Photog</{p}:credit>", f"<{p}:rating scheme='urn:simple'>nonadult</{p}:rating>",
            f"<{p}:hash algo='md5'>abc</{p}:hash>", f"<{p}:keywords>a, b</{p}:keywords>", "<x:thing xmlns:x='http://x/'>v</x:thing>",
        ]) for _ in range(rng.randint(1, 3)))
    if not children and rng.random() < 0.05:
        return f"<{p}:content{attrs}>text</{p}:content>"
    return f"<{p}:content{attrs}>{children}</{p}:content>" if children else f"<{p}:content{attrs}/>"


def media_parts(rng: random.Random, p: str) -> str:
    """Media RSS as news sites, YouTube and Mastodon write it, and some odd shapes."""
    thumb = f"<{p}:thumbnail url='{rng.choice(MEDIA_URLS)}'{rng.choice(['', ' width=' + repr('120'), ' time=' + repr('1')])}/>"
    return rng.choice([
        media_file(rng, p), media_file(rng, p), thumb, media_text(rng, p, "title"), media_text(rng, p, "description"),
        f"<{p}:group>" + "".join(rng.choice([media_file(rng, p), thumb, media_text(rng, p, "title"),
                                             media_text(rng, p, "description"),
                                             f"<{p}:community><{p}:starRating count='4' average='5.00'/>"
                                             f"<{p}:statistics views='9'/></{p}:community>",
                                             f"<{p}:credit>c</{p}:credit>", f"<{p}:group/>", f"<{p}:player url='http://p/'/>"])
                             for _ in range(rng.randint(1, 4))) + f"</{p}:group>",
        f"<{p}:credit scheme='urn:ebu' role='photographer'>Agency</{p}:credit>", f"<{p}:category>cat</{p}:category>",
        f"<{p}:keywords>a, b</{p}:keywords>", f"<{p}:keywords lang='en'>a</{p}:keywords>", f"<{p}:copyright>c</{p}:copyright>",
        f"<{p}:thumbnail>http://m.example/text.jpg</{p}:thumbnail>", f"<{p}:thumbnail url='http://m.example/b.jpg' base='http://b/'/>",
        f"<{p}:rating>adult</{p}:rating>", f"<{p}:license href='http://l/'>CC</{p}:license>", f"<{p}:text>t</{p}:text>",
    ])


def itunes_parts(rng: random.Random, p: str) -> str:
    return rng.choice([
        f"<{p}:duration>12:34</{p}:duration>", el(f"{p}:author", rng.choice(PEOPLE)),
        media_text(rng, p, "summary"), f"<{p}:subtitle>sub</{p}:subtitle>",
        f"<{p}:image href='{rng.choice(MEDIA_URLS)}'/>", f"<{p}:image url='http://i.example/u.jpg'/>",
        f"<{p}:image href='http://i.example/i.jpg'>x</{p}:image>", f"<{p}:explicit>no</{p}:explicit>",
        f"<{p}:episode>3</{p}:episode>", f"<{p}:episodeType>full</{p}:episodeType>", f"<{p}:keywords>a,b</{p}:keywords>",
        f"<{p}:block>yes</{p}:block>", f"<{p}:category text='Tech'/>", f"<{p}:title>it title</{p}:title>",
        f"<{p}:link href='http://i.example/l'/>", f"<{p}:name>n</{p}:name>", f"<{p}:season>2</{p}:season>",
    ])


def channel_extras(rng: random.Random, used: dict[str, str]) -> str:
    """A podcast's or a news site's channel elements."""
    m, i = prefix_for(rng, "media", used), prefix_for(rng, "itunes", used)
    return "".join(rng.choice([
        f"<{i}:author>{rng.choice(PEOPLE)}</{i}:author>", f"<{i}:owner><{i}:name>O</{i}:name><{i}:email>o@x.example</{i}:email></{i}:owner>",
        f"<{i}:image href='http://i.example/show.jpg'/>", f"<{i}:category text='A'><{i}:category text='B'/></{i}:category>",
        f"<{i}:explicit>false</{i}:explicit>", f"<{i}:summary>{r_text(rng)}</{i}:summary>", f"<{i}:type>episodic</{i}:type>",
        f"<{i}:new-feed-url>http://n.example/</{i}:new-feed-url>", f"<{i}:keywords>a,b</{i}:keywords>",
        f"<{m}:thumbnail url='http://m.example/c.jpg'/>", f"<{m}:title>Media channel title</{m}:title>",
        f"<{m}:copyright>c</{m}:copyright>", f"<{m}:rating scheme='urn:simple'>nonadult</{m}:rating>",
        f"<{i}:owner><{i}:name>O</{i}:name><{i}:link>http://x/</{i}:link></{i}:owner>", f"<{i}:subtitle>s</{i}:subtitle>",
        # As Anchor, Megaphone, The Guardian and TWiT write their channels.
        el("author", rng.choice(PEOPLE)), "<author><name>N</name><email>n@x.example</email></author>",
        el(f"{prefix_for(rng, 'content', used)}:encoded", rng.choice(HTMLS + TEXTS), rng.choice(["", " type='html'"])),
        el(f"{prefix_for(rng, 'dc', used)}:{rng.choice(['date', 'language', 'rights', 'publisher', 'creator'])}",
           rng.choice(ISO + PEOPLE)), el(rng.choice(["updated", "published"]), rng.choice(ISO + RFC822)),
        "<creativeCommons:license xmlns:creativeCommons='http://backend.userland.com/creativeCommonsRssModule'>"
        "http://creativecommons.org/licenses/by/4.0/</creativeCommons:license>",
    ]) for _ in range(rng.randint(1, 4)))


def rss_item(rng: random.Random, used: dict[str, str]) -> str:
    parts: list[str] = []
    choices = ["title", "link", "guid", "description", "content", "author", "creator", "pubDate", "dcdate",
               "enclosure", "media", "itunes", "category", "comments", "atomlink", "empty", "atomupdated", "dcterms", "updated",
               "localns_content", "source", "slash", "wfw", "unknown", "bing"]
    for c in rng.sample(choices, rng.randint(1, 4 if BIAS else 8)):
        if c == "title":
            parts.append(el("title", r_text(rng)) if rng.random() < 0.9 else "<title/>")
        elif c == "link":
            parts.append(el("link", rng.choice(LINKS)))
        elif c == "guid":
            attr = rng.choice(["", " isPermaLink='false'", " isPermaLink='true'", ' isPermaLink="False"'])
            parts.append(el("guid", rng.choice(LINKS + ["post-17", "  opaque  ", "urn:uuid:1", "tag:x,2024:1"]), attr))
        elif c == "description":
            parts.append(el("description", rng.choice(HTMLS)))
        elif c == "content":
            p = prefix_for(rng, "content", used)
            parts.append(el(f"{p}:encoded", rng.choice(HTMLS)))
        elif c == "localns_content":
            parts.append(el("encoded", rng.choice(HTMLS), f" xmlns='{NS['content']}'"))
        elif c == "author":  # Flickr's: <author flickr:profile="...">
            attrs = rng.choice(["", "", " f:profile='http://f.example/p/' xmlns:f='urn:flickr:user'", " lang='en'",
                                " title='t'", " base='http://b.example/'"])
            parts.append(el("author", rng.choice(PEOPLE), attrs))
        elif c == "creator":
            p = prefix_for(rng, "dc", used)
            parts.append(el(f"{p}:creator", rng.choice(PEOPLE)))
        elif c == "pubDate":
            parts.append(el("pubDate", rng.choice(RFC822 + ISO[:3])))
        elif c == "dcdate":
            p = prefix_for(rng, "dc", used)
            parts.append(el(f"{p}:date", rng.choice(ISO)))
        elif c == "dcterms":
            p = prefix_for(rng, "dcterms", used)
            parts.append(el(f"{p}:{rng.choice(['modified', 'created', 'issued'])}", rng.choice(ISO)))
        elif c == "atomupdated":
            p = prefix_for(rng, "atom", used)
            parts.append(el(f"{p}:{rng.choice(['updated', 'published'])}", rng.choice(ISO)))
        elif c == "updated":  # Le Monde's items: <updated> in no namespace, an RFC 822 date
            parts.append(el(rng.choice(["updated", "published"]), rng.choice(RFC822 + ISO)))
        elif c == "enclosure":
            attrs = f" url='{rng.choice(LINKS)}'"
            if rng.random() < 0.8:
                attrs += f" type='{rng.choice(['audio/mpeg', 'Audio/MPEG', '', 'video/mp4; codecs=x', 'text/html'])}'"
            if rng.random() < 0.8:
                attrs += f" length='{rng.choice(['123', '0', ' 9 ', 'x', ''])}'"
            parts.append(f"<enclosure{attrs}/>")
        elif c == "media":
            p = prefix_for(rng, "media", used)
            parts.extend(media_parts(rng, p) for _ in range(rng.randint(1, 3)))
        elif c == "itunes":
            p = prefix_for(rng, rng.choice(["itunes", "itunesDTD"]), used)
            parts.extend(itunes_parts(rng, p) for _ in range(rng.randint(1, 3)))
        elif c == "category":
            parts.append(el("category", rng.choice(["News", "", "a &amp; b"]), rng.choice(["", " domain='d'"])))
        elif c == "comments":
            parts.append(el("comments", rng.choice(LINKS)))
        elif c == "atomlink":
            p = prefix_for(rng, "atom", used)
            rel = rng.choice(["", " rel='alternate'", " rel='enclosure'", " rel='related'", " rel='self'", " rel='replies'"])
            typ = rng.choice(["", " type='text/html'", " type='audio/mpeg'"])
            parts.append(f"<{p}:link{rel}{typ} href='{rng.choice(LINKS)}'/>")
        elif c == "empty":
            parts.append(rng.choice(["<description/>", "<link/>", "<guid/>", "<pubDate/>", "<author/>", "<description></description>"]))
        elif c == "source":
            # The outlet of a news aggregator's item, named at the end of its title or not.
            name = rng.choice(["Src", "Src", "Le Monde", r_text(rng)])
            attrs = rng.choice([" url='http://s.example/rss'", " url='http://s.example/rss'", ""])
            parts.append(el("source", name if rng.random() < 0.9 else None, attrs))
            if rng.random() < 0.5:
                parts.append(el("title", f"Headline{rng.choice([' - ', ' | ', ' – ', '-', ' - - '])}{name}"))
        elif c == "bing":
            # Bing News: the outlet in News:Source (named at the end of the title or not), its picture
            # in News:Image, and the picture's size.
            p = prefix_for(rng, "News", used)
            name = rng.choice(["Src", "Src", "Le Monde", r_text(rng)])
            parts.append(el(f"{p}:Source", name if rng.random() < 0.9 else None))
            if rng.random() < 0.5:
                parts.append(el("title", f"Headline{rng.choice([' - ', ' | ', '-'])}{name}"))
            if rng.random() < 0.7:
                parts.append(el(f"{p}:Image", rng.choice(MEDIA_URLS + ["http://www.bing.com/th?id=OVFT.a&amp;pid=News"])))
            if rng.random() < 0.5:
                parts.append(el(f"{p}:ImageMaxWidth", "700"))
        elif c == "slash":
            p = prefix_for(rng, "slash", used)
            parts.append(f"<{p}:comments>4</{p}:comments>")
        elif c == "wfw":
            p = prefix_for(rng, "wfw", used)
            parts.append(f"<{p}:commentRss>http://c.example/rss</{p}:commentRss>")
        elif c == "unknown":
            p = prefix_for(rng, "x", used)
            parts.append(rng.choice([f"<{p}:thing>v</{p}:thing>", f"<{p}:title>xt</{p}:title>", f"<{p}:link>http://x/</{p}:link>"]))
    return "<item>" + "".join(parts) + "</item>"


def atom_entry(rng: random.Random, used: dict[str, str], a: str) -> str:
    """An Atom 1.0 entry; ``a`` is the Atom prefix ("" for the default namespace)."""
    q = (a + ":") if a else ""
    parts: list[str] = []
    choices = ["id", "title", "link", "link2", "summary", "content", "published", "updated", "author", "author2",
               "contributor", "category", "media", "dc", "enclosure", "empty", "itunes", "thr", "unknown"]
    for c in rng.sample(choices, rng.randint(1, 4 if BIAS else 9)):
        if c == "id":
            parts.append(el(f"{q}id", rng.choice(LINKS + ["urn:uuid:1", "tag:x,2024:1", "  tag:x,2024:ws  "])))
        elif c == "title":
            typ = rng.choice(["", " type='text'", " type='html'", " type='xhtml'", " type='TEXT'", " type='text/plain'", " type='text/html'"])
            if "xhtml" in typ:
                parts.append(f"<{q}title{typ}><div xmlns='http://www.w3.org/1999/xhtml'>X<b>b</b></div></{q}title>")
            else:
                parts.append(el(f"{q}title", r_text(rng), typ))
        elif c in ("link", "link2"):
            rel = rng.choice(["", " rel='alternate'", " rel='enclosure'", " rel='related'", " rel='self'", " rel='via'", " rel='ALTERNATE'",
                              " rel='http://www.iana.org/assignments/relation/alternate'", " rel='edit'"])
            typ = rng.choice(["", " type='text/html'", " type='audio/mpeg'", " type='application/xhtml+xml'", " type='application/pdf'"])
            extra = rng.choice(["", " length='99'", " hreflang='en'", " title='t'"])
            parts.append(f"<{q}link{rel}{typ}{extra} href='{rng.choice(LINKS)}'/>")
        elif c in ("summary", "content"):
            typ = rng.choice(["", " type='text'", " type='html'", " type='xhtml'", " type='text/html'", " type='text/plain'"])
            if "xhtml" in typ:
                parts.append(f"<{q}{c}{typ}><div xmlns='http://www.w3.org/1999/xhtml'><p>X <a href='/r'>r</a></p></div></{q}{c}>")
            elif c == "content" and rng.random() < 0.1:
                parts.append(f"<{q}content src='http://a.example/out' type='text/html'/>")
            else:
                parts.append(el(f"{q}{c}", rng.choice(HTMLS + TEXTS), typ))
        elif c in ("published", "updated"):
            parts.append(el(f"{q}{c}", rng.choice(ISO + RFC822[:3])))
        elif c in ("author", "author2", "contributor"):
            tag = "contributor" if c == "contributor" else "author"
            sub = rng.choice([
                f"<{q}name>{rng.choice(PEOPLE)}</{q}name>", f"<{q}name>Ann</{q}name><{q}email>ann@example.org</{q}email>",
                f"<{q}email>ann@example.org</{q}email>", f"<{q}name>Ann</{q}name><{q}uri>http://ann.example/</{q}uri>", "",
                f"<{q}name/>",
                # Flickr's: its own elements beside the name (and a duplicate, a handled one)
                f"<{q}name>Ann</{q}name><f:nsid xmlns:f='urn:flickr:user'>1@N04</f:nsid><f:buddyicon"
                f" xmlns:f='urn:flickr:user'>http://f.example/i.jpg</f:buddyicon>",
                f"<f:nsid xmlns:f='urn:flickr:user'>1@N04</f:nsid><{q}name>Ann</{q}name>",
                f"<{q}name>Ann</{q}name><{q}name>Bob</{q}name>", f"<{q}name>Ann</{q}name><{q}title>T</{q}title>",
                f"<{q}name>Ann</{q}name><f:x xmlns:f='urn:flickr:user'><{q}link href='http://l/'/></f:x>",
            ])
            parts.append(f"<{q}{tag}>{sub}</{q}{tag}>")
        elif c == "category":
            parts.append(f"<{q}category term='t' label='L'/>")
        elif c == "media":
            p = prefix_for(rng, "media", used)
            parts.extend(media_parts(rng, p) for _ in range(rng.randint(1, 3)))
        elif c == "dc":
            p = prefix_for(rng, "dc", used)
            parts.append(rng.choice([f"<{p}:creator>{rng.choice(PEOPLE)}</{p}:creator>", f"<{p}:date>{rng.choice(ISO)}</{p}:date>"]))
        elif c == "enclosure":
            parts.append(f"<enclosure url='{rng.choice(LINKS)}' type='audio/mpeg' length='3'/>" if not a else "")
        elif c == "empty":
            parts.append(rng.choice([f"<{q}summary/>", f"<{q}content/>", f"<{q}title/>", f"<{q}id/>", f"<{q}updated/>"]))
        elif c == "itunes":
            p = prefix_for(rng, "itunes", used)
            parts.extend(itunes_parts(rng, p) for _ in range(rng.randint(1, 2)))
        elif c == "thr":
            p = prefix_for(rng, "thr", used)
            parts.append(f"<{p}:total>3</{p}:total>")
        elif c == "unknown":
            p = prefix_for(rng, "x", used)
            parts.append(f"<{p}:thing>v</{p}:thing>")
    return f"<{q}entry>" + "".join(parts) + f"</{q}entry>"


MUTATE = bool(os.environ.get("MUTATE"))
_START = re.compile(r"<([A-Za-z][\w:.-]*)((?:\s+[^<>]*?)?)(/?)>")
ATTRS = ["base='http://b.example/x/'", "href='http://h.example/'", "lastmod='2024-01-01T00:00:00Z'", "xml:lang='en'",
         "type='html'", "type='text'", "rel='alternate'", "url='u'", "length='3'", "term='t'", "isPermaLink='false'",
         "rdf:about='http://r/'", "version='0.3'", "mode='escaped'", "src='http://s/'", "xmlns:zz='http://zz/' zz:base='http://zb/'",
         "domain='d'", "label='L'", "scheme='s'", "lang='de'", "ref='x'"]
INSERTS = ["<!-- c -->", "<?pi x?>", "<image><url>http://i/</url><title>Img</title><link>http://img.example/</link></image>",
           "<textInput><title>TI</title><link>http://ti/</link></textInput>", "<title>Late</title>", "<link>http://late.example/</link>",
           "<date>2024-01-01</date>", "<url>http://u/</url>", "<modified>2024-01-01T00:00:00Z</modified>", "<href>h</href>",
           "<summary>s</summary>", "<info>i</info>", "<body>b</body>", "<thing a='1'>t</thing>", "<links>l</links>", "<tags>t</tags>",
           "<zz:title xmlns:zz='http://zz/'>zt</zz:title>", "<dc:title xmlns:dc='http://purl.org/dc/elements/1.1/'>dt</dc:title>",
           "<expirationDate>2024-01-01</expirationDate>", "<subtitle>s</subtitle>", "<license>l</license>", "<rights>r</rights>",
           "<feedburner:origLink xmlns:feedburner='http://rssnamespace.org/feedburner/ext/1.0'>http://orig.example/</feedburner:origLink>",
           "<feedburner:origLink xmlns:feedburner='http://rssnamespace.org/feedburner/ext/1.0'>  /rel?a=1&amp;b=2 </feedburner:origLink>",
           "<fb:origLink xmlns:fb='http://rssnamespace.org/feedburner/ext/1.0'>https://orig.example/p?a=1&amp;b=2</fb:origLink>",
           "<cc:license xmlns:cc='http://web.resource.org/cc/'>l</cc:license>", "<psc:chapters xmlns:psc='http://podlove.org/simple-chapters'/>"]


def mutate(rng: random.Random, doc: str) -> str:
    def add(m: re.Match[str]) -> str:
        if rng.random() < 0.12:
            return f"<{m.group(1)}{m.group(2)} {rng.choice(ATTRS)}{m.group(3)}>"
        return m.group(0)
    doc = _START.sub(add, doc)
    # Insert an element right after a random start tag.
    for _ in range(rng.randint(0, 2)):
        starts = [m.end() for m in _START.finditer(doc) if not m.group(3)]
        if starts:
            at = rng.choice(starts)
            doc = doc[:at] + rng.choice(INSERTS) + doc[at:]
    return doc


def decls(used: dict[str, str]) -> str:
    return "".join(f" xmlns:{p}='{NS[k]}'" for k, p in used.items())


def gen(rng: random.Random, bias: bool | None = None, mutation: bool | None = None) -> tuple[str, bytes, str]:
    global BIAS
    saved, BIAS = BIAS, BIAS if bias is None else bias
    try:
        return _gen(rng, MUTATE if mutation is None else mutation)
    finally:
        BIAS = saved


def _gen(rng: random.Random, mutation: bool) -> tuple[str, bytes, str]:
    if BIAS:
        kind = rng.choice(["rss20", "atom10", "atom10p"])
    else:
      kind = rng.choice(["rss20", "rss20", "rss20", "atom10", "atom10", "atom10p", "rss091", "rss092", "rdf", "atom03"])
    used: dict[str, str] = {}
    if kind in ("rss20", "rss091", "rss092"):
        version = {"rss20": "2.0", "rss091": "0.91", "rss092": "0.92"}[kind]
        items = "".join(rss_item(rng, used) for _ in range(rng.randint(1, 2 if BIAS else 4)))
        head = el("title", r_text(rng)) + el("link", rng.choice(LINKS)) + "<description>d</description>"
        if rng.random() < 0.3:
            head += "<managingEditor>ed@example.org (Ed)</managingEditor>"
        if rng.random() < 0.3:
            head += channel_extras(rng, used)
        if rng.random() < 0.3:
            p = prefix_for(rng, "atom", used)
            head += f"<{p}:link rel='self' href='http://gen.example.org/feed'/>"
        default = rng.choice(["", "", "", " xmlns='http://backend.userland.com/rss2'"])
        doc = f"<rss version='{version}'{default}{decls(used)}><channel>{head}{items}</channel></rss>"
    elif kind == "rdf":
        items = "".join(
            f"<item rdf:about='http://r.example/{i}'>" + rss_item(rng, used)[6:-7] + "</item>" for i in range(rng.randint(1, 3))
        )
        used.setdefault("dc", "dc")
        doc = (f"<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' xmlns='http://purl.org/rss/1.0/'{decls(used)}>"
               f"<channel rdf:about='http://r.example/'><title>R</title><link>http://r.example/</link></channel>{items}</rdf:RDF>")
    elif kind == "atom03":
        doc = ("<feed version='0.3' xmlns='http://purl.org/atom/ns#'><title>A03</title><link rel='alternate' type='text/html' href='http://a3.example/'/>"
               "<entry><title>e</title><id>tag:a3,1</id><issued>2004-01-01T00:00:00Z</issued><modified>2004-01-02T00:00:00Z</modified>"
               "<content type='text/html' mode='escaped'>&lt;p&gt;x&lt;/p&gt;</content></entry></feed>")
    else:
        a = "a10" if kind == "atom10p" else ""
        if a:
            used["atom"] = a
        q = (a + ":") if a else ""
        entries = "".join(atom_entry(rng, used, a) for _ in range(rng.randint(1, 2 if BIAS else 4)))
        head = (el(f"{q}title", r_text(rng), rng.choice(["", " type='html'", " type='text'"])) + f"<{q}id>urn:feed</{q}id>"
                + f"<{q}link href='{rng.choice(LINKS)}'/>" + f"<{q}updated>2024-01-01T00:00:00Z</{q}updated>")
        if rng.random() < 0.5:
            head += f"<{q}author><{q}name>{rng.choice(['Feed Author', '  FA  ', 'Ã©'])}</{q}name></{q}author>"
        if rng.random() < 0.2:
            head += f"<{q}published>2024-01-01T00:00:00Z</{q}published>"
        if rng.random() < 0.1:
            head += channel_extras(rng, used)
        used_decl = "".join(f" xmlns:{p}='{NS[k]}'" for k, p in used.items() if k != "atom")
        rootns = f" xmlns:{a}='{NS['atom']}'" if a else f" xmlns='{NS['atom']}'"
        doc = f"<{q}feed{rootns}{used_decl}>{head}{entries}</{q}feed>"

    if mutation and rng.random() < 0.7:
        doc = mutate(rng, doc)
    # Encoding, prolog, header.
    if BIAS:
        enc = rng.choice(["utf-8", "none", "UTF-8"])
        ctype = rng.choice(["application/rss+xml", "application/xml", "", "application/atom+xml", "text/xml; charset=utf-8", "text/html", "text/plain", "text/xml", "application/octet-stream", "application/json", "text/html; charset=utf-8"])
        lead = ""
    else:
        enc = rng.choice(["utf-8", "utf-8", "utf-8", "none", "UTF-8", "iso-8859-1", "windows-1251", "utf-16", "bom-utf8", "ascii-decl"])
        ctype = rng.choice(["application/rss+xml", "application/xml", "text/xml", "", "application/atom+xml",
                            "text/xml; charset=utf-8", "application/xml; charset=iso-8859-1", "text/html", "application/octet-stream"])
        lead = rng.choice(["", "", "", "\n", "  "])
    if enc == "none":
        body = (lead + doc).encode("utf-8")
    elif enc == "bom-utf8":
        body = b"\xef\xbb\xbf" + f"<?xml version='1.0' encoding='utf-8'?>\n{doc}".encode("utf-8")
    elif enc == "ascii-decl":
        body = f"<?xml version='1.0' encoding='us-ascii'?>\n{doc}".encode("ascii", "xmlcharrefreplace")
    elif enc == "utf-16":
        body = f"<?xml version='1.0' encoding='utf-16'?>\n{doc}".encode("utf-16")
    elif enc in ("iso-8859-1", "windows-1251"):
        body = f'<?xml version="1.0" encoding="{enc}"?>\n{doc}'.encode(enc, "xmlcharrefreplace")
    else:
        body = (lead + f'<?xml version="1.0" encoding="{enc}"?>\n{doc}').encode("utf-8")
    return kind, body, ctype


def run(body: bytes, ctype: str) -> tuple[object, object, bool]:
    headers = {"content-type": ctype} if ctype else {}
    before = fastparse.fast_path_count
    try:
        ours: object = parse_feed(URL, body, headers, now=NOW)
    except ParseError as exc:
        ours = f"ParseError: {exc}"
    except Exception as exc:
        ours = f"CRASH {type(exc).__name__}: {exc}"
    took = fastparse.fast_path_count > before
    try:
        ref: object = _parse_with_feedparser(URL, body, ctype, NOW)
    except ParseError as exc:
        ref = f"ParseError: {exc}"
    except Exception as exc:
        ref = f"CRASH {type(exc).__name__}: {exc}"
    return ours, ref, took


def diff(ours: object, ref: object) -> list[str]:
    if isinstance(ours, str) or isinstance(ref, str):
        return [] if ours == ref else [f"whole: {ours!r} != {ref!r}"]
    out = []
    for f in ("title", "link", "warning"):
        if getattr(ours, f) != getattr(ref, f):
            out.append(f"feed.{f}: {getattr(ours, f)!r} != {getattr(ref, f)!r}")
    oe, re_ = ours.entries, ref.entries  # type: ignore[attr-defined]
    if len(oe) != len(re_):
        out.append(f"entries: {len(oe)} != {len(re_)}")
        return out
    for i, (a, b) in enumerate(zip(oe, re_)):
        for f in a.__slots__:
            if getattr(a, f) != getattr(b, f):
                out.append(f"entry[{i}].{f}: {getattr(a, f)!r} != {getattr(b, f)!r}")
    return out


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rng = random.Random(seed)
    fast = bad = 0
    kinds: dict[str, int] = {}
    for n in range(count):
        kind, body, ctype = gen(rng)
        ours, ref, took = run(body, ctype)
        fast += took
        if took:
            kinds[kind] = kinds.get(kind, 0) + 1
            for ns, label in ((b"search.yahoo.com/mrss", "media"), (b"itunes.com/", "itunes")):
                if ns in body:  # how many of those taken fast carry Media RSS / iTunes elements
                    kinds[label] = kinds.get(label, 0) + 1
        d = diff(ours, ref)
        if isinstance(ours, str) and ours.startswith("CRASH"):
            d.append(ours)
        if d:
            bad += 1
            print(f"=== #{n} {kind} fast={took} ctype={ctype!r}")
            print(body.decode("utf-8", "replace")[:3000])
            for line in d:
                print("   ", line)
    print(f"{count} feeds, {fast} fast ({kinds}), {bad} differ", file=sys.stderr)


if __name__ == "__main__":
    main()
