from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
from lxml import etree

import aggregator.opml as opml_module
from aggregator.config import load_config
from aggregator.errors import ConfigError
from aggregator.opml import OpmlFeed, OpmlImport, canonical_url, import_opml, read_opml, source_names

NESTED = """\
<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>My feeds</title></head>
  <body>
    <outline text="World">
      <outline text="BBC World" title="BBC World" type="rss"
               xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml" htmlUrl="https://www.bbc.co.uk/news/world"/>
      <outline text="Europe">
        <outline text="Deep one" xmlURL="https://deep.example/atom"/>
      </outline>
    </outline>
    <outline text="A folder with no feed"/>
    <outline xmlUrl="https://www.untitled.example/feed.xml"/>
    <outline text="Last" xmlUrl="https://last.example/rss"/>
  </body>
</opml>
"""

CONFIG = """\
# The aggregator's configuration. Keep this comment!
[aggregator]
title = "Imported"   # inline comment too

[[sources]]
name = "seeds"  # local documents
type = "seeds"
path = "seeds"

[[sources]]
name = "bbc-world"
url = "https://feeds.bbci.co.uk/news/world/rss.xml"

[[topics]]
slug = "world"
any = ["world"]
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def opml_of(feeds: list[OpmlFeed]) -> bytes:
    root = etree.Element("opml", version="2.0")
    etree.SubElement(etree.SubElement(root, "head"), "title").text = "export"
    body = etree.SubElement(root, "body")
    for feed in feeds:
        attrs = {"type": "rss", "xmlUrl": feed.url}
        if feed.title:
            attrs["text"] = attrs["title"] = feed.title
        if feed.html_url:
            attrs["htmlUrl"] = feed.html_url
        etree.SubElement(body, "outline", attrs)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_nested_outlines_are_flattened_in_order(tmp_path: Path) -> None:
    feeds = read_opml(write(tmp_path / "subs.opml", NESTED))
    assert feeds == [
        OpmlFeed("https://feeds.bbci.co.uk/news/world/rss.xml", "BBC World", "https://www.bbc.co.uk/news/world"),
        OpmlFeed("https://deep.example/atom", "Deep one", None),
        OpmlFeed("https://www.untitled.example/feed.xml", None, None),
        OpmlFeed("https://last.example/rss", "Last", None),
    ]


def test_round_trip_through_an_opml_document(tmp_path: Path) -> None:
    feeds = [
        OpmlFeed("https://a.example/feed", "Alpha & Omega <news>", "https://a.example/"),
        OpmlFeed("http://b.example/rss?x=1&y=2", None, None),
        OpmlFeed("https://c.example/atom", "Ça va", None),
    ]
    path = tmp_path / "export.opml"
    path.write_bytes(opml_of(feeds))
    assert read_opml(path) == feeds


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("<opml><body><outline xmlUrl='x'></body>", "not well-formed XML"),
        ("<rss><channel/></rss>", "not an OPML file (the root element is <rss>, not <opml>)"),
        (
            '<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaa">]>'
            '<opml><body><outline text="&a;" xmlUrl="https://x.example/&a;"/></body></opml>',
            "it declares XML entities, which are refused",
        ),
        ("", "not well-formed XML"),
    ],
)
def test_unreadable_opml_names_the_file(tmp_path: Path, content: str, reason: str) -> None:
    path = write(tmp_path / "subs.opml", content)
    with pytest.raises(ConfigError) as info:
        read_opml(path, display="subs.opml")
    (problem,) = info.value.problems
    assert problem.startswith(f"cannot read subs.opml: {reason}")


def test_a_file_cut_off_is_refused_naming_where_once(tmp_path: Path) -> None:
    # lxml's str() of the error adds " (<string>, line 3)" after the "line 3, column N" it
    # already gives: a name of no file, in every message of a truncated download
    path = write(tmp_path / "subs.opml", '<opml version="2.0"><body>\n<outline text="A" xmlUrl="https://a.example/"/>\n'
                 '<outline text="B" xmlUrl="https://b.exa')
    with pytest.raises(ConfigError) as info:
        read_opml(path, display="subs.opml")
    (problem,) = info.value.problems
    assert problem.startswith("cannot read subs.opml: not well-formed XML: ")
    assert problem.endswith(", line 3, column 40")
    assert "<string>" not in problem


def test_bare_ampersands_and_html_entities_are_read_with_a_warning(tmp_path: Path) -> None:
    # A query string pasted by hand and readers' &nbsp; are not XML, but other readers take
    # them (Miniflux's OPML decoder is not strict and knows HTML's entities)
    path = write(tmp_path / "subs.opml", (
        '<opml version="2.0"><body>\n'
        '<outline text="Search: nato &amp; baltic" xmlUrl="https://news.example/rss?q=nato&hl=en&amp;gl=US"/>\n'
        '<outline text="Caf&eacute;&nbsp;News &#8212; &#x2603;" xmlUrl="https://cafe.example/feed?a=1&b;"/>\n'
        "</body></opml>"))
    warnings: list[str] = []
    feeds = read_opml(path, display="subs.opml", warn=warnings.append)
    assert [(f.title, f.url, f.line) for f in feeds] == [
        ("Search: nato & baltic", "https://news.example/rss?q=nato&hl=en&gl=US", 2),
        ("Caf\u00e9\u00a0News \u2014 \u2603", "https://cafe.example/feed?a=1&b;", 3)]
    assert warnings == ["subs.opml: not well-formed XML (a bare '&' or an HTML entity); "
                        "read with a bare '&' as text and an entity as its character"]
    # the config reads it too, with its warning, and nothing else changes
    config = write(tmp_path / "aggregator.toml", '[aggregator]\nopml = ["subs.opml"]\n')
    loaded = load_config(config)
    assert [s.url for s in loaded.sources] == [f.url for f in feeds]
    assert loaded.warnings == (f"{config}: aggregator.opml[0]: {warnings[0]}",)
    # a file that is broken otherwise is still refused, with the parser's own message
    write(tmp_path / "subs.opml", '<opml><body><outline text="a&b" xmlUrl="https://x.example/></body></opml>')
    with pytest.raises(ConfigError, match="cannot read subs.opml: not well-formed XML: "):
        read_opml(path, display="subs.opml", warn=warnings.append)


@pytest.mark.parametrize("codec, bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")])
def test_a_utf16_file_with_a_bare_ampersand_is_read_as_a_utf8_one(tmp_path: Path, codec: str, bom: bytes) -> None:
    # a list edited by hand and saved as Notepad's "Unicode" was refused where the same
    # list in UTF-8 was read with a warning
    text = ('<?xml version="1.0" encoding="UTF-16"?>\n<opml version="2.0"><body>\n'
            '<outline text="Caf&eacute; &amp; Co" xmlUrl="https://q.example/rss?a=1&b=\u00e9t\u00e9"/>\n'
            "</body></opml>\n")
    path = tmp_path / "subs.opml"
    path.write_bytes(bom + text.encode(codec))
    warnings: list[str] = []
    (feed,) = read_opml(path, display="subs.opml", warn=warnings.append)
    assert (feed.title, feed.url, feed.line) == ("Caf\u00e9 & Co", "https://q.example/rss?a=1&b=\u00e9t\u00e9", 3)
    assert warnings == ["subs.opml: not well-formed XML (a bare '&' or an HTML entity); "
                        "read with a bare '&' as text and an entity as its character"]


def test_a_well_formed_file_with_ampersands_in_comments_and_cdata_reads_without_a_warning(tmp_path: Path) -> None:
    # In a comment, a CDATA section or a processing instruction an "&" is no reference:
    # the file is fine XML and reads as it always did, with no warning that it is not
    cdata = "Mine & yours &nbsp; &amp;"
    path = write(tmp_path / "subs.opml", (
        '<?xml version="1.0"?>\n<?xml-stylesheet href="style.xsl?a=1&b=2"?>\n'
        "<!-- exported by Feeds & Co &copy; -->\n"
        f'<opml version="2.0"><head><title><![CDATA[{cdata}]]></title></head><body>\n'
        '<outline text="A &amp; B" xmlUrl="https://x.example/rss?a=1&amp;b=2"/></body></opml>'))
    warnings: list[str] = []
    assert [(f.title, f.url) for f in read_opml(path, warn=warnings.append)] == [
        ("A & B", "https://x.example/rss?a=1&b=2")]
    assert warnings == []
    assert opml_module._escape_ampersands(path.read_bytes()) == (path.read_bytes(), 0)


def test_undefined_entities_under_an_external_dtd_are_not_dropped(tmp_path: Path) -> None:
    # libxml2 does not load the DTD (no network), and under a DOCTYPE naming one it silently
    # drops a reference it cannot resolve: a title lost a character, a URL a part of its path
    path = write(tmp_path / "subs.opml", (
        '<?xml version="1.0"?>\n<!DOCTYPE opml SYSTEM "http://127.0.0.1:9/opml.dtd">\n'
        '<opml version="1.0"><body><outline text="A&nbsp;B" xmlUrl="https://x.example/&copy;.xml"/>'
        "</body></opml>"))
    warnings: list[str] = []
    assert [(f.title, f.url) for f in read_opml(path, warn=warnings.append)] == [
        ("A\u00a0B", "https://x.example/\u00a9.xml")]
    assert len(warnings) == 1


def test_missing_opml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read .*gone\.opml: No such file"):
        read_opml(tmp_path / "gone.opml")


def tag(url: str) -> str:
    """The suffix a colliding name takes: the start of its canonical URL's SHA-256."""
    return hashlib.sha256(canonical_url(url).encode()).hexdigest()[:6]


def test_source_names() -> None:
    def name(feed: OpmlFeed) -> str:
        (only,) = source_names([feed], set())
        return only

    assert name(OpmlFeed("https://feeds.bbci.co.uk/news/world/rss.xml", "BBC World", None)) == "bbc-world"
    assert name(OpmlFeed("https://www.Example.org/feed", None, None)) == "example-org"
    assert name(OpmlFeed("https://kyiv.example/", "Новини", None)) == "kyiv-example"
    assert name(OpmlFeed("https://x.example/", "Défense & Sécurité!", None)) == "defense-securite"
    # letters NFKD leaves whole were dropped ("Straße" read "strae", "Ørsted" "rsted")
    assert name(OpmlFeed("https://x.example/", "Die Straße", None)) == "die-strasse"
    assert name(OpmlFeed("https://x.example/", "Ørsted Æra Łódź Þing", None)) == "orsted-aera-lodz-thing"
    long_name = name(OpmlFeed("https://x.example/", "word " * 40, None))
    assert len(long_name) <= 60 and not long_name.endswith("-")


def test_colliding_names_all_take_a_suffix_from_their_url() -> None:
    three = OpmlFeed("http://127.0.0.1:8000/three", None, None)
    four = OpmlFeed("http://127.0.0.1:8000/four", None, None)
    news = OpmlFeed("https://a.example/rss", "News", None)
    other_news = OpmlFeed("https://b.example/rss", "News", None)
    expected = {
        three: f"127-0-0-1-{tag(three.url)}",
        four: f"127-0-0-1-{tag(four.url)}",
        news: f"news-{tag(news.url)}",
        other_news: f"news-{tag(other_news.url)}",
    }
    assert len(set(expected.values())) == 4
    feeds = [three, four, news, other_news]
    for order in (feeds, feeds[::-1], [news, three, other_news, four]):
        assert dict(zip(order, source_names(order, set()))) == expected
    # alone again, each has its bare name back: never another URL's name
    assert source_names([four], set()) == ["127-0-0-1"]
    assert source_names([other_news], set()) == ["news"]
    # the suffix is the canonical URL's, so spelling the URL otherwise keeps the name
    assert source_names([OpmlFeed("HTTP://127.0.0.1:8000/four#x", None, None), three], set())[0] == expected[four]


def test_a_name_never_takes_a_taken_one() -> None:
    news = OpmlFeed("https://a.example/rss", "News", None)
    assert source_names([news], {"news"}) == [f"news-{tag(news.url)}"]
    # a name taken by a suffixed one too: everyone in the clash takes a longer suffix
    clash = OpmlFeed("https://c.example/rss", f"News {tag(news.url)}", None)
    other = OpmlFeed("https://b.example/rss", "News", None)
    names = source_names([news, clash, other], set())
    assert len(set(names)) == 3
    long_tag = hashlib.sha256(canonical_url(news.url).encode()).hexdigest()[:8]
    assert names[0] == f"news-{long_tag}" and names[1].startswith(f"news-{tag(news.url)}-")
    assert names == source_names([other, clash, news], set())[::-1]
    assert source_names([news], {"news", f"news-{tag(news.url)}"}) == [f"news-{long_tag}"]


def test_canonical_urls() -> None:
    assert canonical_url("HTTPS://Example.ORG:443/Feed.xml#top") == "https://example.org/Feed.xml"
    assert canonical_url("http://example.org") == "http://example.org/"
    assert canonical_url("http://example.org:8080/a?b=1") == "http://example.org:8080/a?b=1"
    assert canonical_url("http://example.org/a?b=1") != canonical_url("http://example.org/a?b=2")


def test_import_appends_keeps_comments_and_skips_duplicates(tmp_path: Path) -> None:
    config_path = write(tmp_path / "aggregator.toml", CONFIG)
    subs = tmp_path / "subs.opml"
    subs.write_bytes(
        opml_of(
            [
                OpmlFeed("HTTPS://FEEDS.bbci.co.uk/news/world/rss.xml#x", "BBC World", None),  # configured
                OpmlFeed("https://nato.example/feed", "NATO News", None),
                OpmlFeed("https://www.other.example/rss", None, None),
                OpmlFeed("https://nato.example/feed#again", "NATO again", None),  # repeated in the file
                OpmlFeed("ftp://old.example/feed", "Not http", None),  # skipped, not fatal
                OpmlFeed("https://bbc2.example/rss", "BBC World", None),  # same title, new URL
            ]
        )
    )

    added = import_opml(config_path, subs).added

    # "bbc-world" is a configured source's: the new feed's name takes its URL's suffix
    bbc2 = f"bbc-world-{tag('https://bbc2.example/rss')}"
    assert added == ["nato-news", "other-example", bbc2]
    text = config_path.read_text(encoding="utf-8")
    assert text.startswith(CONFIG.split("[[topics]]")[0])  # the original text is kept as it was
    assert "# The aggregator's configuration. Keep this comment!" in text
    assert 'name = "seeds"  # local documents' in text
    config = load_config(config_path)
    assert [(s.name, s.url, s.title, s.origin) for s in config.sources[2:]] == [
        ("nato-news", "https://nato.example/feed", "NATO News", "config"),
        ("other-example", "https://www.other.example/rss", None, "config"),
        (bbc2, "https://bbc2.example/rss", "BBC World", "config"),
    ]
    assert [t.slug for t in config.topics] == ["world"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aggregator.toml", "subs.opml"]

    before = config_path.read_bytes()
    assert import_opml(config_path, subs).added == []
    assert config_path.read_bytes() == before


def test_import_keeps_a_config_whose_sources_and_topics_interleave_as_it_was(tmp_path: Path) -> None:
    # each source with its topic, each pair under its comment: TOML lets [[sources]] resume
    # after a [[topics]], and the person's grouping and comments must stay where they were
    text = (
        "[aggregator]\n"
        'title = "x"\n'
        "\n"
        "# --- seeds and its topic ---\n"
        "[[sources]]\n"
        'name = "seeds"\n'
        'path = "seeds"\n'
        "\n"
        "# about the seeds\n"
        "[[topics]]\n"
        'slug = "seeds-topic"\n'
        'any = ["NATO"]\n'
        "\n"
        "# --- BBC and its topic ---\n"
        "[[sources]]\n"
        'name = "bbc-world"\n'
        'url = "https://feeds.bbci.co.uk/news/world/rss.xml"\n'
        "\n"
        "# about the BBC\n"
        "[[topics]]\n"
        'slug = "world"\n'
        'any = ["world"]\n'
    )
    config_path = write(tmp_path / "aggregator.toml", text)
    subs = tmp_path / "subs.opml"
    subs.write_bytes(opml_of([OpmlFeed("https://nato.example/feed", "NATO News", None)]))

    assert import_opml(config_path, subs).added == ["nato-news"]
    assert config_path.read_text(encoding="utf-8").startswith(text)
    config = load_config(config_path)
    assert [s.name for s in config.sources] == ["seeds", "bbc-world", "nato-news"]
    assert [t.slug for t in config.topics] == ["seeds-topic", "world"]


def test_import_into_a_config_without_sources_or_final_newline(tmp_path: Path) -> None:
    config_path = write(tmp_path / "aggregator.toml", '[aggregator]\ntitle = "x"  # keep\nopml = ["subs.opml"]')
    subs = write(tmp_path / "subs.opml", NESTED)
    load_config(config_path)  # valid: the OPML file provides the sources
    other = write(tmp_path / "more.opml", NESTED.replace("last.example", "more.example"))

    # "last" is the name of the OPML-listed source already: the new one is suffixed, and the
    # listed one keeps its name
    last2 = f"last-{tag('https://more.example/rss')}"
    assert import_opml(config_path, other).added == [last2]
    text = config_path.read_text(encoding="utf-8")
    assert text.startswith('[aggregator]\ntitle = "x"  # keep\nopml = ["subs.opml"]\n')
    names = [s.name for s in load_config(config_path).sources]
    assert names == [last2, "bbc-world", "deep-one", "untitled-example", "last"]
    assert subs.exists()


def test_import_into_a_config_reached_through_a_symlink(tmp_path: Path) -> None:
    # /etc/aggregator/aggregator.toml -> /opt/...: the config's relative paths resolve against
    # the link's folder, and so must those of the copy that is validated before the rename
    (tmp_path / "opt").mkdir()
    (tmp_path / "etc").mkdir()
    target = write(tmp_path / "opt" / "aggregator.toml", '[aggregator]\nopml = ["subs.opml"]\n')
    write(tmp_path / "etc" / "subs.opml", NESTED)
    config_path = tmp_path / "etc" / "aggregator.toml"
    config_path.symlink_to(target)
    other = write(tmp_path / "more.opml", NESTED.replace("last.example", "more.example"))
    assert import_opml(config_path, other).added == [f"last-{tag('https://more.example/rss')}"]
    assert config_path.is_symlink() and "more.example" in target.read_text(encoding="utf-8")


def test_import_that_cannot_write_the_config_says_so_in_one_line(tmp_path: Path) -> None:
    # a full disk (here: a file size limit of one byte) or a folder the user may not write
    import resource
    import subprocess
    import sys

    config_path = write(tmp_path / "aggregator.toml", CONFIG)
    subs = write(tmp_path / "subs.opml", NESTED)
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    result = subprocess.run(
        [sys.executable, "-m", "aggregator.cli", "--config", str(config_path), "sources", "import", str(subs)],
        capture_output=True, text=True, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard)))
    assert result.returncode == 1
    assert result.stderr == f"aggregator: cannot write {config_path}: File too large\n"
    assert config_path.read_text(encoding="utf-8") == CONFIG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aggregator.toml", "subs.opml"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root gives a file away")
def test_import_as_root_keeps_the_config_owner_and_group(tmp_path: Path) -> None:
    # README: "sources import only edits the config file ...: run it as root". A config kept
    # root:aggregator 0640 (a database password in it) came back root:root, which the
    # service, running as aggregator, could then no longer read at its next reload or start.
    config_path = write(tmp_path / "aggregator.toml", CONFIG)
    subs = write(tmp_path / "subs.opml", NESTED)
    os.chown(config_path, 4321, 4322)
    config_path.chmod(0o640)
    assert import_opml(config_path, subs).added
    after = config_path.stat()
    assert (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == (4321, 4322, 0o640)


def test_import_refuses_a_broken_config_and_leaves_it_alone(tmp_path: Path) -> None:
    broken = CONFIG.replace('title = "Imported"', "title = 5")
    config_path = write(tmp_path / "aggregator.toml", broken)
    subs = write(tmp_path / "subs.opml", NESTED)
    with pytest.raises(ConfigError, match="aggregator.title: must be a string"):
        import_opml(config_path, subs).added
    assert config_path.read_text(encoding="utf-8") == broken


def test_import_never_writes_an_invalid_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_path = write(tmp_path / "aggregator.toml", CONFIG)
    subs = write(tmp_path / "subs.opml", NESTED)
    # force a name the validator rejects, to prove the result is checked before the rename
    monkeypatch.setattr(opml_module, "source_names", lambda feeds, taken: [f"Bad {len(taken)}"] * len(feeds))
    with pytest.raises(ConfigError) as info:
        import_opml(config_path, subs).added
    assert info.value.problems[0].startswith(f"{config_path}: sources[2].name: 'Bad 2' is not a valid name")
    assert config_path.read_text(encoding="utf-8") == CONFIG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aggregator.toml", "subs.opml"]


def test_reading_an_opml_list_from_the_config_does_not_import_tomlkit(tmp_path: Path) -> None:
    # tomlkit is for editing the config (sources import); a refresh only reads.
    import subprocess
    import sys

    (tmp_path / "subs.opml").write_text(
        '<opml version="2.0"><body><outline type="rss" text="A" xmlUrl="http://a.test/feed"/></body></opml>')
    (tmp_path / "aggregator.toml").write_text('[aggregator]\nopml = ["subs.opml"]\n')
    code = (
        "import sys\n"
        "import aggregator.cli, aggregator.pipeline\n"
        "from aggregator.config import load_config\n"
        f"assert len(load_config({str(tmp_path / 'aggregator.toml')!r}).sources) == 1\n"
        "print('tomlkit' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_feed_scheme_urls_are_read_as_http_urls(tmp_path: Path) -> None:
    path = write(tmp_path / "subs.opml", (
        '<opml version="2.0"><body>\n'
        '<outline text="Podcast" xmlUrl="feed://example.com/rss"/>\n'
        '<outline text="S" xmlUrl="feed:https://secure.example/a"/>\n'
        '<outline text="P" xmlUrl="Feed:HTTP://plain.example/a"/>\n'
        '<outline text="F" xmlUrl="feed:ftp://old.example/a"/>\n'
        '<outline text="I" xmlUrl="itpc://podcasts.example/show.xml"/>\n'  # iTunes' links
        '<outline text="C" xmlUrl="PCAST://podcasts.example/other.xml"/>\n'
        "</body></opml>"))
    feeds = read_opml(path)
    assert [(f.url, f.line) for f in feeds] == [
        ("http://example.com/rss", 2), ("https://secure.example/a", 3),
        ("HTTP://plain.example/a", 4), ("feed:ftp://old.example/a", 5),
        ("http://podcasts.example/show.xml", 6), ("http://podcasts.example/other.xml", 7)]


def test_import_takes_feed_urls_and_skips_unusable_outlines_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config_path = write(tmp_path / "aggregator.toml", CONFIG)
    subs = write(tmp_path / "subs.opml", (
        '<opml version="2.0"><body>\n'
        '<outline text="Podcast" xmlUrl="feed://example.com/rss"/>\n'
        '<outline text="Old" xmlUrl="gopher://old.example/rss"/>\n'
        '<outline xmlUrl="feed:https://feeds.bbci.co.uk/news/world/rss.xml"/>\n'  # configured
        "</body></opml>"))
    assert import_opml(config_path, subs).added == ["podcast"]
    assert [(s.name, s.url) for s in load_config(config_path).sources][-1] == ("podcast", "http://example.com/rss")
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"{subs}:3: skipping the outline 'Old': 'gopher://old.example/rss' is not an http:// or https:// URL"]


def test_import_counts_the_feeds_it_leaves_out_as_configured_or_listed_again(tmp_path: Path) -> None:
    config_path = write(tmp_path / "aggregator.toml", CONFIG)  # BBC World is configured
    subs = write(tmp_path / "subs.opml", (
        '<opml version="2.0"><body>\n'
        '<outline text="A" xmlUrl="https://a.example/rss"/>\n'
        '<outline text="A again" xmlUrl="https://A.example/rss#top"/>\n'
        '<outline text="BBC" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>\n'
        '<outline text="BBC again" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>\n'
        '<outline text="Old" xmlUrl="gopher://old.example/rss"/>\n'  # a warning, not counted
        "</body></opml>"))
    assert import_opml(config_path, subs) == OpmlImport(["a"], configured=1, repeated=2)
    assert import_opml(config_path, subs) == OpmlImport([], configured=2, repeated=2)


def test_import_into_a_crlf_config_writes_crlf_lines(tmp_path: Path) -> None:
    # a config saved on Windows: the lines added are written as the file writes its own,
    # not LF lines among CRLF ones
    crlf = CONFIG.replace("\n", "\r\n")
    config_path = tmp_path / "aggregator.toml"
    config_path.write_bytes(crlf.encode("utf-8"))
    subs = write(tmp_path / "subs.opml", NESTED)

    assert import_opml(config_path, subs).added == ["deep-one", "untitled-example", "last"]
    data = config_path.read_bytes()
    assert data.startswith(crlf.split("[[topics]]")[0].encode("utf-8"))
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r\n\r\n\r\n" not in data  # no blank line more than an LF file gets
    assert data.replace(b"\r\n", b"\n") == _imported_as_lf(tmp_path, CONFIG, subs)
    assert [s.name for s in load_config(config_path).sources][-1] == "last"


def _imported_as_lf(tmp_path: Path, text: str, subs: Path) -> bytes:
    lf = write(tmp_path / "lf.toml", text)
    import_opml(lf, subs).added
    return lf.read_bytes()


def test_import_into_a_config_with_an_empty_sources_array(tmp_path: Path) -> None:
    # "sources = []" (no sources of its own yet, the feeds from opml): the import writes the
    # new feeds as [[sources]] tables in place of the empty array, which TOML cannot extend
    text = ('# my feeds\nsources = []  # filled by sources import\n\n'
            '[aggregator]\ntitle = "x"  # keep\nopml = ["subs.opml"]\n\n[[topics]]\nslug = "world"\nany = ["world"]\n')
    config_path = write(tmp_path / "aggregator.toml", text)
    write(tmp_path / "subs.opml", NESTED)
    other = write(tmp_path / "more.opml", NESTED.replace("last.example", "more.example"))

    last2 = f"last-{tag('https://more.example/rss')}"
    assert import_opml(config_path, other).added == [last2]
    result = config_path.read_text(encoding="utf-8")
    assert "sources = []" not in result
    assert "# my feeds" in result and 'title = "x"  # keep' in result and "# filled by sources import" in result
    config = load_config(config_path)
    assert [(s.name, s.origin) for s in config.sources][0] == (last2, "config")
    assert [t.slug for t in config.topics] == ["world"]


@pytest.mark.parametrize("sources", ["", "sources = []\n\n"])
def test_import_into_a_config_with_no_source_yet(tmp_path: Path, sources: str) -> None:
    # a config without sources is refused by every other command ("add at least one
    # source"); adding them is what the import is for, so it takes such a config
    text = f'{sources}[aggregator]\ntitle = "x"  # keep\n\n[[topics]]\nslug = "world"\nany = ["world"]\n'
    config_path = write(tmp_path / "aggregator.toml", text)
    subs = write(tmp_path / "subs.opml", NESTED)
    with pytest.raises(ConfigError, match="no \\[\\[sources\\]\\] defined"):
        load_config(config_path)

    assert import_opml(config_path, subs).added == ["bbc-world", "deep-one", "untitled-example", "last"]
    assert 'title = "x"  # keep' in config_path.read_text(encoding="utf-8")
    config = load_config(config_path)
    assert [s.name for s in config.sources] == ["bbc-world", "deep-one", "untitled-example", "last"]
    assert [t.slug for t in config.topics] == ["world"]


def test_import_into_a_config_with_no_source_and_another_problem_is_refused(tmp_path: Path) -> None:
    text = '[aggregator]\ntitle = 5\n'
    config_path = write(tmp_path / "aggregator.toml", text)
    subs = write(tmp_path / "subs.opml", NESTED)
    with pytest.raises(ConfigError) as info:
        import_opml(config_path, subs).added
    assert info.value.problems == [f"{config_path}: aggregator.title: must be a string, not an integer",
                                   f"{config_path}: sources: no [[sources]] defined; add at least one source"]
    assert config_path.read_text(encoding="utf-8") == text


def test_import_edits_only_a_regular_file(tmp_path: Path) -> None:
    # --config /dev/null reads as a config with no source yet, which the import takes: it
    # must not go on to rename a file over the device (here a FIFO stands in for it)
    import os
    import stat
    import threading

    fifo = tmp_path / "aggregator.toml"
    os.mkfifo(fifo)
    done = threading.Event()

    def writer() -> None:  # feeds each read an empty file, as /dev/null does
        while not done.is_set():
            with open(fifo, "wb"):
                pass

    threading.Thread(target=writer, daemon=True).start()
    subs = write(tmp_path / "subs.opml", NESTED)
    try:
        with pytest.raises(ConfigError) as info:
            import_opml(fifo, subs).added
    finally:
        done.set()
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)) if stat.S_ISFIFO(os.stat(fifo).st_mode) else None
    assert info.value.problems == [f"{fifo}: not a regular file; sources import edits a config file in place"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_import_keeps_the_byte_order_mark_of_a_config_that_has_one(tmp_path: Path) -> None:
    # Windows editors write one; the import edits the text, not how the file is encoded
    config_path = tmp_path / "aggregator.toml"
    config_path.write_bytes(b"\xef\xbb\xbf" + CONFIG.encode("utf-8"))
    subs = write(tmp_path / "subs.opml", NESTED)
    assert import_opml(config_path, subs).added == ["deep-one", "untitled-example", "last"]
    assert config_path.read_bytes().startswith(b"\xef\xbb\xbf" + CONFIG.split("[[topics]]")[0].encode("utf-8"))
    assert [s.name for s in load_config(config_path).sources][-1] == "last"


def test_import_never_takes_the_name_that_opml_listed_feeds_share(tmp_path: Path) -> None:
    # two listed feeds titled "News" are news-<a> and news-<b>, and a topic limited to "news"
    # means both; an imported third "News" named plainly "news" made the topic mean it alone
    write(tmp_path / "subs.opml", (
        '<opml version="2.0"><body>\n'
        '<outline text="News" xmlUrl="https://one.example/feed"/>\n'
        '<outline text="News" xmlUrl="https://two.example/feed"/>\n'
        "</body></opml>"))
    config_path = write(tmp_path / "aggregator.toml", (
        '[aggregator]\nopml = ["subs.opml"]\n\n'
        '[[topics]]\nslug = "t"\nany = ["x"]\nsources = ["news"]\n'))
    listed = (f"news-{tag('https://one.example/feed')}", f"news-{tag('https://two.example/feed')}")
    assert load_config(config_path).topics[0].sources == listed
    new = write(tmp_path / "new.opml",
                '<opml version="2.0"><body><outline text="News" xmlUrl="https://three.example/feed"/></body></opml>')

    third = f"news-{tag('https://three.example/feed')}"
    assert import_opml(config_path, new).added == [third]
    assert load_config(config_path).topics[0].sources == listed


@pytest.mark.parametrize("sources", [
    "",  # no [[sources]] yet
    '[[sources]]\nname = "a"\nurl = "https://a.example/f"\n\n[[topics]]\nslug = "t"\nany = ["x"]\n\n'
    '[[sources]]\nname = "b"\nurl = "https://b.example/f"\n',  # resumed after a [[topics]]
    '[[sources]]\nname = "a"\nurl = "https://a.example/f"\n',
])
def test_imported_tables_are_one_blank_line_apart(tmp_path: Path, sources: str) -> None:
    config_path = write(tmp_path / "aggregator.toml", f'[aggregator]\nopml = ["subs.opml"]\n\n{sources}')
    write(tmp_path / "subs.opml", NESTED.replace("last.example", "listed.example"))
    more = write(tmp_path / "more.opml", NESTED.replace("example", "test"))
    assert len(import_opml(config_path, more).added) == 3
    text = config_path.read_text(encoding="utf-8")
    assert "\n\n\n" not in text and text.count("\n\n[[sources]]\n") == text.count("[[sources]]")


def test_import_into_an_inline_sources_array_says_what_to_do_and_leaves_it_alone(tmp_path: Path) -> None:
    # sources = [{...}] holds tables too, but TOML cannot add [[sources]] ones to it
    text = 'sources = [{name = "a", url = "https://a.example/f"}]\n\n[aggregator]\ntitle = "x"\n'
    config_path = write(tmp_path / "aggregator.toml", text)
    subs = write(tmp_path / "subs.opml", NESTED)
    with pytest.raises(ConfigError) as info:
        import_opml(config_path, subs).added
    assert info.value.problems == [
        f"{config_path}: sources: is an inline array (sources = [...]), which TOML lets no [[sources]] "
        "table extend; write its entries as [[sources]] tables to import into it"]
    assert config_path.read_text(encoding="utf-8") == text


def test_import_leaves_the_comment_above_the_next_table_above_it(tmp_path: Path) -> None:
    # TOML gives the comment over [[topics]] to the last [[sources]] table, after which the
    # new tables went: "# --- topics ---" came to head the imported sources
    head = ('[aggregator]\ntitle = "x"\n\n# --- sources ---\n[[sources]]\nname = "a"\n'
            'url = "https://a.example/f"\n# interval = "1h"\n\n')
    tail = '# --- topics ---\n# (one per reader)\n[[topics]]\nslug = "t"\nany = ["x"]\n'
    config_path = write(tmp_path / "aggregator.toml", head + tail)
    subs = write(tmp_path / "subs.opml", NESTED)
    assert len(import_opml(config_path, subs).added) == 4
    text = config_path.read_text(encoding="utf-8")
    assert text.startswith(head) and text.endswith(f'title = "Last"\n\n{tail}')
    assert [s.name for s in load_config(config_path).sources][-1] == "last"


FRESHRSS = """\
<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0" xmlns:frss="https://freshrss.org/opml">
\t<head><title>FreshRSS</title></head>
\t<body>
\t\t<outline text="Web">
\t\t\t<outline text="Releases" type="rss" xmlUrl="https://releases.example/feed.atom" htmlUrl="https://releases.example/"/>
\t\t\t<outline text="Scraped page" type="HTML+XPath" xmlUrl="https://scrape.example/news" frss:xPathItem="//article"/>
\t\t\t<outline text="Scraped API" type="JSON+DotNotation" xmlUrl="https://api.example/items.json" frss:jsonItem="items"/>
\t\t</outline>
\t</body>
</opml>
"""


def test_freshrss_scraped_pages_are_skipped_with_a_warning_by_both_routes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # FreshRSS exports the pages it scrapes by XPath or JSON dot notation as outlines whose
    # xmlUrl is the page: taken as feeds, they were sources failing at every refresh
    subs = write(tmp_path / "subs.opml", FRESHRSS)
    config_path = write(tmp_path / "aggregator.toml", CONFIG)
    assert import_opml(config_path, subs).added == ["releases"]
    expected = [
        f"{subs}:7: skipping the outline 'Scraped page': its type 'HTML+XPath' is a page another "
        "reader scrapes, not a feed",
        f"{subs}:8: skipping the outline 'Scraped API': its type 'JSON+DotNotation' is a page another "
        "reader scrapes, not a feed",
    ]
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == expected

    listed = write(tmp_path / "listed.toml", '[aggregator]\nopml = ["subs.opml"]\n')
    config = load_config(listed)
    assert [s.url for s in config.sources] == ["https://releases.example/feed.atom"]
    assert [w.split("aggregator.opml[0]: ")[1] for w in config.warnings] == [
        line.replace(str(subs), "subs.opml") for line in expected]


def test_a_space_in_a_feed_url_is_read_as_browsers_send_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # other readers subscribe to ".../My Show.xml" (sent as My%20Show.xml); it was skipped
    subs = write(tmp_path / "subs.opml", (
        '<opml version="2.0"><body>\n'
        '<outline text="Show" xmlUrl="https://pod.example/casts/My Show.xml?q=a b"/>\n'
        '<outline text="Bad host" xmlUrl="https://my host.example/rss"/>\n'
        "</body></opml>"))
    config_path = write(tmp_path / "aggregator.toml", CONFIG)
    assert import_opml(config_path, subs).added == ["show"]
    assert load_config(config_path).sources[-1].url == "https://pod.example/casts/My%20Show.xml?q=a%20b"
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"{subs}:3: skipping the outline 'Bad host': 'https://my host.example/rss' contains whitespace"]
    listed = write(tmp_path / "listed.toml", '[aggregator]\nopml = ["subs.opml"]\n')
    assert [s.url for s in load_config(listed).sources] == ["https://pod.example/casts/My%20Show.xml?q=a%20b"]


def test_an_outline_title_over_several_lines_is_one_line(tmp_path: Path) -> None:
    # An attribute's line break written as a character reference (&#10;) stays one: the
    # source's title split the items list and reached atom:source; titles are one line,
    # as a [[sources]] title is.
    write(tmp_path / "subs.opml", '<opml version="2.0"><body>'
          '<outline text="x" title="Baltic&#10;  News&#9;Daily " xmlUrl="https://baltic.example/rss"/>'
          '<outline text="The&#13;&#10;Wire" xmlUrl="https://wire.example/rss"/></body></opml>')
    assert [f.title for f in read_opml(tmp_path / "subs.opml")] == ["Baltic News Daily", "The Wire"]
    (tmp_path / "aggregator.toml").write_text('[aggregator]\nopml = ["subs.opml"]\n')
    config = load_config(tmp_path / "aggregator.toml")
    assert [(s.name, s.title) for s in config.sources] == [("baltic-news-daily", "Baltic News Daily"),
                                                           ("the-wire", "The Wire")]
