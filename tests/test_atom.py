"""Atom rendering pinned byte for byte: entries are written with lxml directly, the feed's
head by feedgen, and the result must stay the bytes feedgen alone wrote (golden files made
by the feedgen-only renderer), so a faster path never changes a published feed."""

from __future__ import annotations

import html
import os
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from aggregator.atom import _EMAIL_IN_NAME, _iri, _reads_as_markup, render_atom
from aggregator.publish import EPOCH
from aggregator.sanitize import html_to_text
from aggregator.types import FeedView, PublishedItem, SourceInfo
from atomcheck import ATOM_NS, validate_atom

DATA = Path(__file__).parent / "data"
BASE = "http://127.0.0.1:8080/"
SITE = "Watch & <Co>"
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
CET = timezone(timedelta(hours=1))

FEED_SRC = SourceInfo(id="https://a.example/feed.xml", title="A & B <news>",
                      self_link="https://a.example/feed.xml", link="https://a.example/")
SITE_SRC = SourceInfo(id="tag:aggregator,2026:source/site", title="site only", link="https://b.example/")
SEED_SRC = SourceInfo(id="tag:aggregator,2026:source/seeds", title="seeds")


def _item(n: int, **kw: object) -> PublishedItem:
    fields: dict[str, object] = dict(
        id=f"urn:uuid:00000000-0000-0000-0000-{n:012d}", title=f"Item {n}",
        updated=T0 - timedelta(minutes=n), published=T0 - timedelta(minutes=n, seconds=30), source=FEED_SRC,
    )
    fields.update(kw)
    return PublishedItem(**fields)  # type: ignore[arg-type]


# One item per branch of the entry renderer.
ITEMS = (
    _item(1, title="Ships & <subs> “watched”", link="https://a.example/x?a=1&b=2",
          content='<p>Body <a href="https://a.example/y">link</a></p>', summary="<p>Short &amp; sweet</p>",
          author="Jane Døe", topics=("baltic", "cables", "unknown-topic"),
          via=("https://c.example/1", "https://d.example/2?q=<x>")),
    _item(2, title="Plain text", content="1 < 2 && 3 > 2", content_type="text", source=SEED_SRC,
          topics=("baltic",)),
    _item(3, title="Link only", link="https://a.example/3", source=SITE_SRC),
    _item(4, title="Title only: Ünïcödé ✓", source=SEED_SRC),
    _item(5, title="Summary only", summary="<p>just a summary</p>", link="https://a.example/5"),
    _item(6, title="Same summary and content", content="<p>same</p>", summary="<p>same</p>",
          updated=datetime(2024, 5, 1, 12, 54, 0, 123456, tzinfo=CET),
          published=datetime(2024, 4, 30, 23, 0, 0, 1, tzinfo=CET), source=SITE_SRC, via=("https://e.example/6",)),
    _item(7, title="Text content with a link", content="  spaced\n\ttext  ", content_type="text",
          link="https://a.example/7", author="", summary=""),
)
TOPIC_TITLES = {"baltic": "Baltic & <Sea>", "cables": "Cables"}


def _render(view: FeedView, cache: dict[str, bytes] | None = None) -> bytes:
    return render_atom(view, base_url=BASE, site_title=SITE, fallback_updated=EPOCH + timedelta(days=9),
                       topic_titles=TOPIC_TITLES, entry_cache=cache)


def _views() -> list[FeedView]:
    return [
        FeedView("all", "All items", ITEMS, len(ITEMS)),
        FeedView("baltic", "Baltic", tuple(i for i in ITEMS if "baltic" in i.topics), 2),
        FeedView("empty", "Nothing here", (), 0),
    ]


@pytest.mark.parametrize("view", _views(), ids=lambda v: v.slug)
def test_rendering_matches_the_golden_feedgen_bytes(view: FeedView) -> None:
    golden = DATA / f"publish_golden_{view.slug}.xml"
    if os.environ.get("AGGREGATOR_WRITE_GOLDEN"):  # regenerate on purpose only
        golden.write_bytes(_render(view))
    assert _render(view) == golden.read_bytes()


def test_golden_feeds_are_valid_atom(tmp_path: Path) -> None:
    for view in _views():
        path = tmp_path / f"{view.slug}.xml"
        path.write_bytes(_render(view))
        assert validate_atom(path, self_url=f"{BASE}{view.slug}.xml") == []


def test_shared_entries_render_once_and_identically() -> None:
    cache: dict[str, bytes] = {}
    together = [_render(v, cache) for v in _views()]
    assert set(cache) == {i.id for i in ITEMS}
    assert together == [_render(v) for v in _views()]


def test_entry_fields_and_order() -> None:
    ns = {"a": "http://www.w3.org/2005/Atom"}
    root = etree.fromstring(_render(_views()[0]))
    first, second, third = root.findall("a:entry", ns)[:3]
    assert [etree.QName(e).localname for e in first] == [
        "id", "title", "updated", "author", "content", "summary", "category", "category", "category",
        "published", "link", "link", "link", "source"]
    assert [(lk.get("rel"), lk.get("href")) for lk in first.findall("a:link", ns)] == [
        ("alternate", "https://a.example/x?a=1&b=2"), ("via", "https://c.example/1"),
        ("via", "https://d.example/2?q=%3Cx%3E")]
    # A topic the caller gave no title for is labelled with its slug.
    assert [c.get("label") for c in first.findall("a:category", ns)] == ["Baltic & <Sea>", "Cables", "unknown-topic"]
    assert second.find("a:content", ns).get("type") == "text"  # type: ignore[union-attr]
    assert second.find("a:source/a:link", ns) is None  # a local source has no feed to point at
    # a link stands in for content in RFC 4287, but the W3C validator warns of an entry with
    # neither content nor summary (MissingTextualContent): the title is its body
    assert (third.find("a:content", ns).get("type"), third.find("a:content", ns).text) == ("text", "Link only")  # type: ignore[union-attr]
    # atom:source's updated is the entry's own, normalized to UTC like it.
    assert third.findtext("a:source/a:updated", namespaces=ns) == third.findtext("a:updated", namespaces=ns)


def test_links_are_published_as_valid_iris() -> None:
    # Feeds send links with spaces, quotes, pipes or brackets; RFC 4287 wants an IRI in every
    # href, and the W3C validator reports each such character (InvalidUriChar).
    src = replace(FEED_SRC, link="https://a.example/my site/", self_link="https://a.example/feed.xml?x={1}")
    item = _item(8, link='https://a.example/a b?q=<x>&r="y"|^`[0]#top one', via=("https://c.example/x\ty",),
                 source=src)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    entry = etree.fromstring(_render(FeedView("all", "all", (item,), 1))).find("a:entry", ns)
    assert entry is not None
    hrefs = [(lk.get("rel"), lk.get("href")) for lk in entry.iter("{http://www.w3.org/2005/Atom}link")]
    assert hrefs == [
        ("alternate", "https://a.example/a%20b?q=%3Cx%3E&r=%22y%22%7C%5E%60%5B0%5D#top%20one"),
        ("via", "https://c.example/x%09y"),
        ("self", "https://a.example/feed.xml?x=%7B1%7D"), ("alternate", "https://a.example/my%20site/")]
    # The validator's own test: every ASCII character of an href is one a URI may hold.
    for _, href in hrefs:
        assert re.fullmatch(r"[0-9a-zA-Z;/?:@&=+$.\-_!~*'()%,#]+", href or ""), href
    # An IPv6 host keeps its brackets. Non-ASCII letters become UTF-8 escapes and a
    # non-ASCII host IDNA: the validator refuses many IRIs that keep them (InvalidIRI).
    ipv6 = _item(9, link="http://[::1]:8080/Ünï côdé")
    entry = etree.fromstring(_render(FeedView("all", "all", (ipv6,), 1))).find("a:entry", ns)
    assert entry is not None and entry.find("a:link", ns).get("href") == "http://[::1]:8080/%C3%9Cn%C3%AF%20c%C3%B4d%C3%A9"  # type: ignore[union-attr]
    idn = _item(10, link="http://user@bücher.example:8080/straße?q=ü")
    entry = etree.fromstring(_render(FeedView("all", "all", (idn,), 1))).find("a:entry", ns)
    assert entry is not None and entry.find("a:link", ns).get("href") == "http://user@xn--bcher-kva.example:8080/stra%C3%9Fe?q=%C3%BC"  # type: ignore[union-attr]



def test_an_international_host_is_the_host_a_browser_reaches() -> None:
    # IDNA 2003 maps ß to ss: straße.de would become strasse.de, someone else's host.
    # Browsers, yarl and our fetcher spell it in IDNA 2008 (UTS #46).
    ns = {"a": "http://www.w3.org/2005/Atom"}
    long_label = "ж" * 70  # longer than a DNS label: no IDNA spelling
    items = (_item(11, link="https://straße.de/ü"), _item(12, link="https://ευρώπης.example/"),
             _item(13, link=f"https://{long_label}.example/ü"),
             _item(14, link="https://user:пароль@example.com/"),
             _item(15, link="https://xn--strae-oqa.de/a%20b/%E2%82%AC?q=%26"))
    xml = _render(FeedView("all", "all", items, len(items)))
    hrefs = [e.find("a:link", ns).get("href") for e in etree.fromstring(xml).findall("a:entry", ns)]  # type: ignore[union-attr]
    assert hrefs == [
        "https://xn--strae-oqa.de/%C3%BC", "https://xn--qxae0adho8d.example/",
        # Neither IDNA spells it: UTF-8 escapes (RFC 3987 §3.1), a URI all the same.
        "https://" + "%D0%B6" * 70 + ".example/%C3%BC",
        "https://user:%D0%BF%D0%B0%D1%80%D0%BE%D0%BB%D1%8C@example.com/",
        "https://xn--strae-oqa.de/a%20b/%E2%82%AC?q=%26"]  # already a URI: left as it is
    assert validate_atom(xml) == []

def test_entry_without_content_or_link_gets_its_title_as_text_content() -> None:
    # RFC 4287 wants content or an alternate link; empty content draws NotBlank.
    root = etree.fromstring(_render(_views()[0]))
    fourth = root.findall("{http://www.w3.org/2005/Atom}entry")[3]
    content = fourth.find("{http://www.w3.org/2005/Atom}content")
    assert content is not None and content.get("type") == "text" and content.text == "Title only: Ünïcödé ✓"


def test_naive_dates_and_empty_titles_are_refused() -> None:
    for bad in (_item(8, updated=datetime(2024, 1, 1)), _item(8, published=datetime(2024, 1, 1))):
        with pytest.raises(ValueError, match="timezone-aware"):
            _render(FeedView("all", "all", (bad,), 1))
    with pytest.raises(ValueError):
        _render(FeedView("all", "all", (_item(8, title=""),), 1))


def test_xml_incompatible_text_is_dropped_not_fatal(tmp_path: Path) -> None:
    # The store drops such characters on the way in; a database written before it did may
    # still hold some, and one item must not fail every publish after it.
    src = replace(FEED_SRC, title="A\x00 source")
    bad = _item(8, title="Bell\x07 title", content="bell \x07", summary="<p>s\x1b</p>", author="A\x0bB",
                link="https://a.example/\x00x", via=("https://c.example/\x01v",), source=src)
    xml = _render(FeedView("all", "all", (bad, _item(9)), 2))
    path = tmp_path / "all.xml"
    path.write_bytes(xml)
    assert validate_atom(path, self_url=f"{BASE}all.xml") == []
    text = xml.decode()
    for expected in ("Bell title", "bell </content>", "AB</name>", "https://a.example/x", "A source"):
        assert expected in text


def _text_elem(parent: etree._Element, tag: str, text: str, **attrs: str) -> None:
    if _reads_as_markup(text):  # declared as the escaped HTML it reads as
        etree.SubElement(parent, tag, type="html").text = html.escape(text, quote=False).replace("\n", "<br>\n")
    else:
        etree.SubElement(parent, tag, attrs).text = text


def _whole_entry_xml(item: PublishedItem, titles: dict[str, str]) -> bytes:
    """The entry as one lxml tree, the way it was built before sources and categories
    were serialized once and spliced in: the reference for the spliced bytes."""
    e = etree.Element("entry")
    etree.SubElement(e, "id").text = item.id
    _text_elem(e, "title", item.title)
    etree.SubElement(e, "updated").text = item.updated.astimezone(timezone.utc).isoformat()
    def person(name: str) -> str:
        name = html_to_text(name) or name if _reads_as_markup(name) else name
        return " ".join(_EMAIL_IN_NAME.sub(" ", name).split()) if _EMAIL_IN_NAME.search(name) else name

    name = person(item.author or item.source.title) or person(item.source.title) or item.source.title
    etree.SubElement(etree.SubElement(e, "author"), "name").text = name
    content, ctype, summary = item.content, item.content_type, item.summary
    if not content and summary:
        content, ctype, summary = summary, "html", None
    if content and ctype == "html":
        etree.SubElement(e, "content", type="html").text = content
    elif content:
        _text_elem(e, "content", content, type="text")
    else:
        _text_elem(e, "content", item.title, type="text")
    if summary and summary != content:
        etree.SubElement(e, "summary", type="html").text = summary
    for slug in item.topics:
        label = titles.get(slug, slug)
        etree.SubElement(e, "category", {"term": slug, **({"label": label} if label else {})})
    etree.SubElement(e, "published").text = item.published.astimezone(timezone.utc).isoformat()
    if item.link:
        etree.SubElement(e, "link", href=_iri(item.link), rel="alternate", type="text/html")
    for via in item.via:
        etree.SubElement(e, "link", href=_iri(via), rel="via")
    src = etree.SubElement(e, "source")
    etree.SubElement(src, "id").text = item.source.id
    _text_elem(src, "title", item.source.title)
    etree.SubElement(src, "updated").text = item.updated.astimezone(timezone.utc).isoformat()
    if item.source.self_link:
        etree.SubElement(src, "link", href=_iri(item.source.self_link), rel="self")
    if item.source.link:
        etree.SubElement(src, "link", href=_iri(item.source.link), rel="alternate")
    return etree.tostring(e, pretty_print=True, encoding="UTF-8")


# Text that escaping, the categories placeholder or the splice points could trip on.
TRICKY = ('a "quoted" & <tagged> \'x\'', "line\nbreak\ttab\rreturn", "  <categories/>\n", "</entry>\n",
          "Ünïcödé ✓ 𝄞", "]]> &amp; &#13;", "")


def test_spliced_entries_equal_one_lxml_tree_per_entry() -> None:
    titles = {"t0": TRICKY[0], "t1": TRICKY[1], "t2": TRICKY[2], "empty": ""}
    items = []
    for n, text in enumerate(TRICKY):
        src = SourceInfo(id=f"x:{text or 'src'}", title=text or "t",
                         self_link=f"https://s.example/?q={text}" if n % 2 else None,
                         link=f"https://s.example/{text}" if n % 3 else None)
        items.append(_item(
            10 + n, title=text or "untitled", content=text or None, content_type=("html", "text")[n % 2],
            summary=TRICKY[(n + 3) % len(TRICKY)] or None, author=text or None, link=f"https://a.example/{text}" if n % 2 else None,
            topics=(("t0", "t1", "t2", "empty", "no-title")[n % 5:] + ("t2",))[: n + 1] if n else (),
            via=tuple(f"https://v.example/{m}{text}" for m in range(n % 3)), source=src))
    view = FeedView("all", "All", tuple(items), len(items))
    cache: dict[str, bytes] = {}
    render_atom(view, base_url=BASE, site_title=SITE, fallback_updated=EPOCH, topic_titles=titles, entry_cache=cache)
    for item in items:
        assert cache[item.id] == _whole_entry_xml(item, titles), item.id
    for item in ITEMS:  # and the golden items, whose entries the golden files pin in place
        assert _render(FeedView("x", "x", (item,), 1)).count(_whole_entry_xml(item, TOPIC_TITLES)) == 1


def test_category_labels_follow_the_titles_of_each_publish() -> None:
    # Serialized categories outlive a publish: a renamed topic must still show its new title.
    item = _item(1, topics=("baltic",))
    view = FeedView("all", "All", (item,), 1)
    kwargs = dict(base_url=BASE, site_title=SITE, fallback_updated=EPOCH)
    first = render_atom(view, topic_titles={"baltic": "Baltic"}, **kwargs)  # type: ignore[arg-type]
    renamed = render_atom(view, topic_titles={"baltic": "Baltic Sea"}, **kwargs)  # type: ignore[arg-type]
    assert b'label="Baltic"' in first and b'label="Baltic Sea"' in renamed
    # A renamed source likewise reaches every entry of the source.
    moved = FeedView("all", "All", (replace(item, source=replace(FEED_SRC, title="Renamed")),), 1)
    assert b"<title>Renamed</title>" in render_atom(moved, topic_titles={"baltic": "Baltic"}, **kwargs)  # type: ignore[arg-type]


def test_atom_source_updated_is_the_entrys_own() -> None:
    # Not the source's newest item time: another item of the source must not change this
    # entry's bytes (and every feed holding it, for readers' conditional GETs).
    import feedparser

    view = FeedView("all", "All", (_item(1), _item(2), _item(3, source=SITE_SRC)), 3)
    parsed = feedparser.parse(_render(view))
    assert parsed.bozo == 0
    for entry in parsed.entries:
        assert entry.source.updated_parsed == entry.updated_parsed, entry.id


def test_an_entry_without_an_author_is_credited_to_its_source_not_this_site() -> None:
    import feedparser

    outlet = replace(FEED_SRC, title="Baltic Times")
    view = FeedView("all", "All", (_item(1, author="Jo Reporter", source=outlet), _item(2, source=outlet)), 2)
    parsed = feedparser.parse(_render(view))
    assert parsed.bozo == 0 and parsed.feed.author == SITE
    assert [e.author for e in parsed.entries] == ["Jo Reporter", "Baltic Times"]


def test_an_entry_with_a_link_and_no_text_has_its_title_as_content() -> None:
    # A link-only item (a title and a link, as many RSS items are) was published with neither
    # content nor summary: the W3C validator's MissingTextualContent warning on every such entry.
    link_only = _item(9, title="Only a title & a link", link="https://a.example/9", source=SITE_SRC)
    xml = _render(FeedView("all", "All items", (link_only,), 1))
    assert validate_atom(xml, self_url=f"{BASE}all.xml") == []
    entry = etree.fromstring(xml).find(f"{{{ATOM_NS}}}entry")
    assert entry is not None
    content = entry.find(f"{{{ATOM_NS}}}content")
    assert content is not None and (content.get("type"), content.text) == ("text", "Only a title & a link")


def test_a_pictures_url_is_published_as_an_ascii_uri() -> None:
    # The validator checks media:thumbnail's url as a URI (rfc2396_full), not as an IRI:
    # unlike a link's href it is not IDNA-encoded first, so any non-ASCII character is an error.
    item = _item(9, title="Picture", link="https://a.example/9", source=SITE_SRC,
                 image="http://пример.example/фото 1.jpg?q=ü")
    xml = _render(FeedView("all", "All items", (item,), 1))
    assert validate_atom(xml, self_url=f"{BASE}all.xml") == []
    thumbnail = etree.fromstring(xml).find(".//{http://search.yahoo.com/mrss/}thumbnail")
    assert thumbnail is not None and thumbnail.get("url", "").isascii()
    bare = xml.replace(thumbnail.get("url", "").encode(), "http://пример.example/фото.jpg".encode())
    assert validate_atom(bare, self_url=f"{BASE}all.xml") == [
        "media:thumbnail url 'http://пример.example/фото.jpg' (InvalidUriChar)"]
