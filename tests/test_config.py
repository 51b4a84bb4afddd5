from __future__ import annotations

import os
from pathlib import Path

import pytest

from click.testing import CliRunner
from sqlalchemy import create_engine
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

from aggregator.cli import main
from aggregator.config import find_config, load_config, parse_interval
from aggregator.errors import ConfigError

# The example from DESIGN.md, verbatim.
EXAMPLE = """\
[aggregator]
database = "sqlite:///aggregator.db"   # any SQLAlchemy URL; SQLite is the embedded default
output_dir = "feeds"
base_url = "http://127.0.0.1:8080"     # where output_dir is served; used for self links
listen = "127.0.0.1:8080"
title = "NATO Watch"                   # prefix of every published feed's title
max_entries = 50                       # newest entries per published feed
default_interval = "30m"               # s/m/h/d units
max_connections = 64                   # concurrent fetches overall
max_per_host = 8                       # concurrent fetches per host:port
opml = ["subscriptions.opml"]          # optional: more feed sources from OPML files

[[sources]]
name = "seeds"                         # unique slug; the key of a source forever
type = "seeds"                         # local text documents
path = "seeds"                         # a folder (every *.txt) or one file
interval = "10m"

[[sources]]
name = "nato-news"
url = "https://example.org/feed.xml"   # type = "feed" when url is given
interval = "1h"
enabled = true

[[topics]]
slug = "baltic-security"               # file name: feeds/baltic-security.xml
title = "Baltic Sea security"
any = ["Baltic", "undersea cable*", "submarine cable*"]
all = []
none = []
sources = []                           # empty: every source
"""

SUBSCRIPTIONS = """\
<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Subscriptions</title></head>
  <body>
    <outline text="News">
      <outline text="BBC World" type="rss" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
      <outline text="Same as nato-news" xmlUrl="HTTPS://EXAMPLE.org/feed.xml#top"/>
    </outline>
  </body>
</opml>
"""

MINIMAL = """\
[[sources]]
name = "seeds"
type = "seeds"
path = "seeds"
"""


def write(folder: Path, text: str, name: str = "aggregator.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # so problems name "aggregator.toml", as a user would see it


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(Path(os.path.relpath(path)))
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_design_example_loads_with_its_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf_dir = tmp_path / "conf"
    path = write(conf_dir, EXAMPLE)
    write(conf_dir, SUBSCRIPTIONS, "subscriptions.opml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative paths must not depend on the cwd

    config = load_config(path)

    s = config.settings
    assert config.path == path
    assert s.database == f"sqlite:///{conf_dir}/aggregator.db"
    assert s.output_dir == conf_dir / "feeds"
    assert s.base_url == "http://127.0.0.1:8080"
    assert (s.listen_host, s.listen_port) == ("127.0.0.1", 8080)
    assert s.title == "NATO Watch"
    assert (s.max_entries, s.default_interval) == (50, 1800)
    assert (s.max_connections, s.max_per_host) == (64, 8)
    assert s.opml == (conf_dir / "subscriptions.opml",)

    seeds, news, bbc = config.sources  # the OPML copy of nato-news is dropped
    assert (seeds.name, seeds.type, seeds.path, seeds.url) == ("seeds", "seeds", conf_dir / "seeds", None)
    assert (seeds.interval, seeds.enabled, seeds.origin) == (600, True, "config")
    assert (news.name, news.type, news.url, news.path) == (
        "nato-news", "feed", "https://example.org/feed.xml", None)
    assert news.interval == 3600
    assert (bbc.name, bbc.type, bbc.title) == ("bbc-world", "feed", "BBC World")
    assert bbc.url == "https://feeds.bbci.co.uk/news/world/rss.xml"
    assert bbc.interval == 1800  # the default interval
    assert bbc.origin == str(conf_dir / "subscriptions.opml")

    (topic,) = config.topics
    assert topic.slug == "baltic-security"
    assert topic.title == "Baltic Sea security"
    assert topic.any == ("Baltic", "undersea cable*", "submarine cable*")
    assert (topic.all, topic.none, topic.sources) == ((), (), ())


def test_relative_config_path_resolves_against_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "conf", MINIMAL)
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("conf/aggregator.toml"))
    assert config.path == tmp_path / "conf" / "aggregator.toml"
    assert config.sources[0].path == tmp_path / "conf" / "seeds"
    assert config.settings.output_dir == tmp_path / "conf" / "feeds"
    assert config.settings.database == f"sqlite:///{tmp_path}/conf/aggregator.db"


def test_defaults_of_a_minimal_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    s = config.settings
    assert s.title == "Aggregator"
    assert (s.max_entries, s.default_interval, s.max_connections, s.max_per_host) == (50, 1800, 64, 8)
    assert (s.listen_host, s.listen_port, s.base_url) == ("127.0.0.1", 8080, "http://127.0.0.1:8080")
    assert s.opml == ()
    assert config.topics == ()
    assert config.sources[0].interval == 1800


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("sqlite:////var/lib/agg.db", "sqlite:////var/lib/agg.db"),
        ("postgresql://u:secret@db.example/agg", "postgresql://u:secret@db.example/agg"),
        ("sqlite:///data/agg.db", "sqlite:///{dir}/data/agg.db"),
        ("sqlite:///~/agg.db", "sqlite:///{home}/agg.db"),  # as path, output_dir and opml expand it
        # SQLite URI filenames: a relative one beside the config too; absolute or in memory, as is.
        ("sqlite:///file:data/agg.db?uri=true&mode=rwc", "sqlite:///file%3A{dir}/data/agg.db?mode=rwc&uri=true"),
        ("sqlite:///file:/var/lib/agg.db?uri=true", "sqlite:///file:/var/lib/agg.db?uri=true"),
        ("sqlite:///file:mem1?mode=memory&cache=shared&uri=true",
         "sqlite:///file:mem1?mode=memory&cache=shared&uri=true"),
        ("sqlite:///file:agg.db", "sqlite:///{dir}/file%3Aagg.db"),  # no uri=true: a file named so
        # SQLite's own name for an in-memory database as a URI, not a file named ":memory:"
        ("sqlite:///file::memory:?uri=true", "sqlite:///file::memory:?uri=true"),
    ],
)
def test_database_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str, expected: str
) -> None:
    # validation imports the driver; psycopg is an optional extra, so stand one in
    monkeypatch.setattr(PGDialect_psycopg, "import_dbapi", classmethod(lambda cls: object()))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write(tmp_path, f'[aggregator]\ndatabase = "{database}"\n' + MINIMAL)
    assert load_config(path).settings.database == expected.format(dir=tmp_path, home=tmp_path / "home")


def test_a_relative_sqlite_uri_filename_opens_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "my conf"  # a space: the URI's path is percent-encoded
    conf.mkdir()
    path = write(conf, '[aggregator]\ndatabase = "sqlite:///file:agg.db?uri=true"\n' + MINIMAL)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    engine = create_engine(load_config(path).settings.database)
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
    engine.dispose()
    assert (conf / "agg.db").is_file() and not list(elsewhere.iterdir())


@pytest.mark.parametrize("database", ["sqlite:///file:agg.db?uri=true", "sqlite:///~/agg.db"])
def test_status_opens_a_uri_or_home_database_where_the_config_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str
) -> None:
    conf, home, elsewhere = tmp_path / "conf", tmp_path / "home", tmp_path / "elsewhere"
    for folder in (conf, home, elsewhere):
        folder.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(elsewhere)
    path = write(conf, f'[aggregator]\ndatabase = "{database}"\n' + MINIMAL)
    result = CliRunner().invoke(main, ["--config", str(path), "status"])
    assert result.exit_code == 0, result.output
    assert (home if "~" in database else conf).joinpath("agg.db").is_file() and not list(elsewhere.iterdir())


def test_an_in_memory_uri_database_writes_no_file(tmp_path: Path) -> None:
    # "file::memory:" is SQLite's URI name for an in-memory database: no file named
    # ":memory:" beside the config, and one database for the whole command
    seeds = Path(__file__).resolve().parent.parent / "seeds"
    path = write(tmp_path, '[aggregator]\ndatabase = "sqlite:///file::memory:?uri=true"\n'
                 f'[[sources]]\nname = "seeds"\npath = "{seeds}"\n')
    result = CliRunner().invoke(main, ["--config", str(path), "update"])
    assert result.exit_code == 0, result.output
    assert "76 new items" in result.output
    assert {p.name for p in tmp_path.iterdir()} == {"aggregator.toml", "feeds"}


@pytest.mark.parametrize(
    ("database", "problem"),
    [
        ("foo://x/y", "unknown database type 'foo'"),
        ("sqlite+nodriver:///x.db", "unknown driver 'nodriver' for database type 'sqlite'"),
        # pymssql is surely not installed in the test environment
        ("mssql+pymssql://u@127.0.0.1:1/db",
         "the mssql driver 'pymssql' is not installed (no module named 'pymssql'): "
         "install the package that provides it"),
    ],
)
def test_unusable_database_urls_are_config_problems(
    tmp_path: Path, database: str, problem: str
) -> None:
    before = tree(tmp_path)
    path = write(tmp_path, f'[aggregator]\ndatabase = "{database}"\n' + MINIMAL)
    assert problems_of(path) == [f"aggregator.toml: aggregator.database: {problem}"]
    assert tree(tmp_path) == before | {"aggregator.toml"}


def test_a_missing_postgres_driver_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_psycopg(cls: type) -> object:
        raise ModuleNotFoundError("No module named 'psycopg'", name="psycopg")

    # whether or not psycopg happens to be installed here, the message is what we test
    monkeypatch.setattr(PGDialect_psycopg, "import_dbapi", classmethod(no_psycopg))
    path = write(tmp_path, '[aggregator]\ndatabase = "postgresql://u@127.0.0.1:1/db"\n' + MINIMAL)
    assert problems_of(path) == [
        "aggregator.toml: aggregator.database: the PostgreSQL driver is not installed "
        "(no module named 'psycopg'): pip install 'aggregator[postgres]'"
    ]


def test_status_with_an_unknown_database_type_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, '[aggregator]\ndatabase = "foo://x/y"\n' + MINIMAL)
    result = CliRunner().invoke(main, ["--config", "aggregator.toml", "status"])
    assert result.exit_code == 2, result.output
    assert result.stderr == "aggregator.toml: aggregator.database: unknown database type 'foo'\n"
    assert tree(tmp_path) == {path.name}


def test_base_url_loses_trailing_slash_and_ipv6_listen(tmp_path: Path) -> None:
    text = '[aggregator]\nbase_url = "https://feeds.example.net/news/"\nlisten = "[::1]:9000"\n'
    config = load_config(write(tmp_path, text + MINIMAL))
    assert config.settings.base_url == "https://feeds.example.net/news"
    assert (config.settings.listen_host, config.settings.listen_port) == ("::1", 9000)


SOURCE_OK = '[[sources]]\nname = "a"\nurl = "https://a.example/feed"\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[aggregator]\ntitel = "x"\n' + MINIMAL,
         "aggregator.toml: aggregator.titel: unknown key (did you mean 'title'?)"),
        (MINIMAL + 'colour = "red"\n', "aggregator.toml: sources[0].colour: unknown key"),
        ('[source]\nname = "x"\n' + MINIMAL,
         "aggregator.toml: source: unknown key (did you mean 'sources'?)"),
        ('[aggregator]\nmax_entries = "50"\n' + MINIMAL,
         "aggregator.toml: aggregator.max_entries: must be an integer, not a string"),
        ('[aggregator]\nmax_per_host = 0\n' + MINIMAL,
         "aggregator.toml: aggregator.max_per_host: must be at least 1, not 0"),
        ('[aggregator]\nmax_entries = 9223372036854775808\n' + MINIMAL,
         "aggregator.toml: aggregator.max_entries: must be at most 9223372036854775807, "
         "not 9223372036854775808"),
        (MINIMAL + 'enabled = "yes"\n',
         "aggregator.toml: sources[0].enabled: must be true or false, not a string"),
        (MINIMAL + "interval = 600\n",
         "aggregator.toml: sources[0].interval: must be a string like '30m' "
         "(a number with unit s, m, h or d), not an integer"),
        (MINIMAL + 'interval = "5s"\n',
         "aggregator.toml: sources[0].interval: '5s' is shorter than the minimum of 10s"),
        (MINIMAL + 'interval = "3000000d"\n',
         "aggregator.toml: sources[0].interval: '3000000d' is longer than the maximum of 365d"),
        ('[aggregator]\ndefault_interval = "99999999999d"\n' + MINIMAL,
         "aggregator.toml: aggregator.default_interval: '99999999999d' is longer than the "
         "maximum of 365d"),
        ('[aggregator]\ndefault_interval = "90"\n' + MINIMAL,
         "aggregator.toml: aggregator.default_interval: '90' needs a unit: s, m, h or d (e.g. '90s')"),
        ('[[sources]]\nurl = "https://a.example/feed"\n',
         "aggregator.toml: sources[0].name: required key is missing"),
        ('[[sources]]\nname = "a"\n',
         'aggregator.toml: sources[0].url: required key is missing (a feed needs a url; '
         'local documents need type = "seeds" and a path)'),
        ('[[sources]]\nname = "a"\ntype = "seeds"\n',
         "aggregator.toml: sources[0].path: required key is missing (a seeds source needs a path)"),
        ('[[sources]]\nname = "a"\ntype = "rss"\nurl = "https://a.example/"\n',
         "aggregator.toml: sources[0].type: must be 'seeds' or 'feed', not 'rss'"),
        ('[[sources]]\nname = "a"\nurl = "ftp://a.example/feed"\n',
         "aggregator.toml: sources[0].url: 'ftp://a.example/feed' is not an http:// or https:// URL"),
        ('[[sources]]\nname = "a"\nurl = "https:///feed"\n',
         "aggregator.toml: sources[0].url: 'https:///feed' has no host"),
        # a private feed's password never reaches the terminal or the service's log
        ('[[sources]]\nname = "a"\nurl = "ftp://me:s3cret@a.example/feed"\n',
         "aggregator.toml: sources[0].url: 'ftp://a.example/feed' is not an http:// or https:// URL"),
        ('[[sources]]\nname = "a"\nurl = "https://me:s3cret@a.example:99999/feed"\n',
         "aggregator.toml: sources[0].url: 'https://a.example:99999/feed' is not a valid URL"),
        ('[[sources]]\nname = "a"\nurl = "https://me:s3 cret@a.example/feed"\n',
         "aggregator.toml: sources[0].url: 'https://a.example/feed' contains whitespace in its user or password"),
        # a "/", "?" or "#" left unescaped in a password ends the host for every URL parser
        ('[[sources]]\nname = "a"\nurl = "https://me:s3c#ret@a.example/feed"\n',
         "aggregator.toml: sources[0].url: 'https://a.example/feed' is not a valid URL: a '/', '?' or '#' "
         "in its user or password must be written %2F, %3F or %23"),
        ('[[sources]]\nname = "a"\nurl = "https://me:s3c/ret@a.example/feed"\n',
         "aggregator.toml: sources[0].url: 'https://a.example/feed' is not a valid URL: a '/', '?' or '#' "
         "in its user or password must be written %2F, %3F or %23"),
        ('[[sources]]\nname = "a"\nurl = "https://me:s3c?r et@a.example/feed"\n',
         "aggregator.toml: sources[0].url: 'https://a.example/feed' is not a valid URL: a '/', '?' or '#' "
         "in its user or password must be written %2F, %3F or %23"),
        ('[aggregator]\nbase_url = "example.org"\n' + MINIMAL,
         "aggregator.toml: aggregator.base_url: 'example.org' is not an http:// or https:// URL"),
        ('[[sources]]\nname = "Big News"\nurl = "https://a.example/feed"\n',
         "aggregator.toml: sources[0].name: 'Big News' is not a valid name: use lower-case "
         "letters, digits, '-' and '_', starting with a letter or digit"),
        ('[[sources]]\nname = "' + "n" * 201 + '"\nurl = "https://a.example/feed"\n',
         "aggregator.toml: sources[0].name: is 201 characters long; at most 200 are allowed"),
        (MINIMAL + '[[topics]]\nslug = "' + "t" * 300 + '"\nany = ["x"]\n',
         "aggregator.toml: topics[0].slug: is 300 characters long; at most 200 are allowed"),
        ('[aggregator]\ntitle = "News\\u0000"\n' + MINIMAL,
         "aggregator.toml: aggregator.title: contains the control character U+0000, which XML cannot hold"),
        ('[[sources]]\nname = "a"\nurl = "https://a.example/feed"\ntitle = "A\\u001b"\n',
         "aggregator.toml: sources[0].title: contains the control character U+001B, which XML cannot hold"),
        (MINIMAL + SOURCE_OK + SOURCE_OK,
         "aggregator.toml: sources[2].name: duplicate name 'a' (already used by sources[1])"),
        ('[aggregator]\nlisten = "8080"\n' + MINIMAL,
         "aggregator.toml: aggregator.listen: '8080' is not host:port (e.g. '127.0.0.1:8080')"),
        # the default base_url is http://{listen}: these would publish feed ids that are no
        # URL ("http://my host:8080/all.xml"), or another URL ("http://a/b:8080/all.xml")
        ('[aggregator]\nlisten = "my host:8080"\n' + MINIMAL,
         "aggregator.toml: aggregator.listen: 'my host:8080' is not host:port (e.g. '127.0.0.1:8080')"),
        ('[aggregator]\nlisten = "a/b:8080"\n' + MINIMAL,
         "aggregator.toml: aggregator.listen: 'a/b:8080' is not host:port (e.g. '127.0.0.1:8080')"),
        ('[aggregator]\nlisten = "[127.0.0.1]:8080"\n' + MINIMAL,
         "aggregator.toml: aggregator.listen: '[127.0.0.1]:8080' is not host:port (e.g. '127.0.0.1:8080')"),
        ('[aggregator]\nlisten = "127.0.0.1:0"\n' + MINIMAL,
         "aggregator.toml: aggregator.listen: '127.0.0.1:0': the port must be from 1 to 65535"),
        ('[aggregator]\nlisten = "127.0.0.1:80800"\n' + MINIMAL,
         "aggregator.toml: aggregator.listen: '127.0.0.1:80800': the port must be from 1 to 65535"),
        ('[aggregator]\ntitle = "x"\n',
         "aggregator.toml: sources: no [[sources]] defined; add at least one source"),
        (MINIMAL + '[[topics]]\nslug = "t"\ntitle = "T"\n',
         "aggregator.toml: topics[0]: needs at least one phrase in 'any' or 'all'"),
        (MINIMAL + '[[topics]]\ntitle = "T"\nany = ["x"]\n',
         "aggregator.toml: topics[0].slug: required key is missing"),
        (MINIMAL + '[[topics]]\nslug = "all"\nany = ["x"]\n',
         "aggregator.toml: topics[0].slug: 'all' is reserved (it names an output file); "
         "choose another slug"),
        (MINIMAL + '[[topics]]\nslug = "index"\nany = ["x"]\n',
         "aggregator.toml: topics[0].slug: 'index' is reserved (it names an output file); "
         "choose another slug"),
        (MINIMAL + '[[topics]]\nslug = "t"\nany = ["x"]\n[[topics]]\nslug = "t"\nall = ["y"]\n',
         "aggregator.toml: topics[1].slug: duplicate slug 't' (already used by topics[0])"),
        (MINIMAL + '[[topics]]\nslug = "t"\nany = ["x", " "]\n',
         "aggregator.toml: topics[0].any[1]: must not be empty"),
        (MINIMAL + 'title = "   "\n',  # a blank source title would be published as one
         "aggregator.toml: sources[0].title: must not be empty"),
        (MINIMAL + '[[topics]]\nslug = "t"\nall = ["*"]\n',
         "aggregator.toml: topics[0].all[0]: '*' has no letters or digits to match"),
        (MINIMAL + '[[topics]]\nslug = "t"\nany = ["x"]\nnone = ["--"]\n',
         "aggregator.toml: topics[0].none[0]: '--' has no letters or digits to match"),
        (MINIMAL + '[[topics]]\nslug = "t"\nany = ["x"]\nsources = ["seeds", "nope"]\n',
         "aggregator.toml: topics[0].sources[1]: no source named 'nope'"),
        ('[aggregator]\nopml = ["subscriptions.opml"]\n' + MINIMAL,
         "aggregator.toml: aggregator.opml[0]: cannot read subscriptions.opml: No such file or directory"),
        ("sources = 3\n", "aggregator.toml: sources: must be an array of tables ([[sources]]), not an integer"),
        # a topic's sources is an array of source names, not the [[sources]] tables
        (MINIMAL + '[[topics]]\nslug = "t"\nany = ["x"]\nsources = "seeds"\n',
         "aggregator.toml: topics[0].sources: must be an array, not a string"),
        # a quoted key is named as it is written: one line, and "a.b" is not the key b of a
        ('[aggregator]\n"data\\nbase" = 1\n' + MINIMAL,
         'aggregator.toml: aggregator."data\\nbase": unknown key (did you mean \'database\'?)'),
        ('[aggregator]\n"max.entries" = 5\n' + MINIMAL,
         'aggregator.toml: aggregator."max.entries": unknown key (did you mean \'max_entries\'?)'),
    ],
)
def test_each_problem_has_its_exact_line(tmp_path: Path, text: str, expected: str) -> None:
    assert problems_of(write(tmp_path, text)) == [expected]


def test_a_broken_opml_file_is_a_config_problem(tmp_path: Path) -> None:
    write(tmp_path, "<opml><body><outline xmlUrl='x'></body>", "subs.opml")
    (problem,) = problems_of(write(tmp_path, '[aggregator]\nopml = ["subs.opml"]\n' + MINIMAL))
    assert problem.startswith("aggregator.toml: aggregator.opml[0]: cannot read subs.opml: not well-formed XML")


@pytest.mark.parametrize("opml", ["<opml><body><outline xmlUrl='x'></body>", None])
def test_a_config_whose_feeds_are_all_in_an_unreadable_opml_file_names_that_file_alone(
        tmp_path: Path, opml: str | None) -> None:
    """Its sources are the OPML file's: "no [[sources]] defined; add at least one source"
    beside the file's own problem would send the user to add a source the file holds."""
    if opml is not None:
        write(tmp_path, opml, "subs.opml")
    (problem,) = problems_of(write(tmp_path, '[aggregator]\nopml = ["subs.opml"]\n'))
    assert problem.startswith("aggregator.toml: aggregator.opml[0]: cannot read subs.opml: ")


def test_many_problems_reported_at_once(tmp_path: Path) -> None:
    text = """\
[aggregator]
max_entries = 0
listen = "nowhere"

[[sources]]
name = "a"
url = "https://a.example/"
interval = "1x"

[[sources]]
name = "a"
type = "seeds"

[[topics]]
slug = "t"
any = ["x"]
[[topics]]
slug = "u"
[[topics]]
slug = "v"
any = ["ok", "a", "", "b"]
"""
    assert problems_of(write(tmp_path, text)) == [
        "aggregator.toml: aggregator.listen: 'nowhere' is not host:port (e.g. '127.0.0.1:8080')",
        "aggregator.toml: aggregator.max_entries: must be at least 1, not 0",
        "aggregator.toml: sources[0].interval: '1x' is not an interval: use whole numbers with "
        "a unit s, m, h or d, e.g. '10m' or '1h30m'",
        "aggregator.toml: sources[1].path: required key is missing (a seeds source needs a path)",
        "aggregator.toml: sources[1].name: duplicate name 'a' (already used by sources[0])",
        "aggregator.toml: topics[1]: needs at least one phrase in 'any' or 'all'",
        "aggregator.toml: topics[2].any[2]: must not be empty",
    ]


def test_every_bad_value_of_a_table_and_of_an_array_is_reported(tmp_path: Path) -> None:
    # the validator stops at a value's first problem: each value and each element is checked alone
    text = """\
[[sources]]
name = "seeds"
type = 2
path = "seeds"
enabled = "yes"
[[topics]]
slug = "t"
any = ["", 1, "*", "ok"]
sources = [1, "seeds", 2.5]
"""
    assert problems_of(write(tmp_path, text)) == [
        "aggregator.toml: sources[0].type: must be 'seeds' or 'feed', not 2",
        "aggregator.toml: sources[0].enabled: must be true or false, not a string",
        "aggregator.toml: topics[0].any[0]: must not be empty",
        "aggregator.toml: topics[0].any[1]: must be a string, not an integer",
        "aggregator.toml: topics[0].any[2]: '*' has no letters or digits to match",
        "aggregator.toml: topics[0].sources[0]: must be a string, not an integer",
        "aggregator.toml: topics[0].sources[2]: must be a string, not a float",
    ]


def test_problems_name_the_file_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "etc", "[aggregator]\nnope = 1\n" + MINIMAL, "site.toml")
    monkeypatch.chdir(tmp_path)
    assert problems_of(Path("etc/site.toml")) == ["etc/site.toml: aggregator.nope: unknown key"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[aggregator]\ntitle = \n", "aggregator.toml:2:9: Invalid value"),
        ('[[sources]]\nname = "seeds" extra\n',
         "aggregator.toml:2:16: Expected newline or end of document after a statement"),
        ("x = [1, 2\n", "aggregator.toml:2:1: Unclosed array"),
        ('[aggregator\ntitle = "x"\n', "aggregator.toml:1:12: Expected ']' at the end of a table declaration"),
    ],
)
def test_toml_syntax_error_gives_line_and_column(tmp_path: Path, text: str, expected: str) -> None:
    assert problems_of(write(tmp_path, text)) == [expected]


def test_a_bad_config_creates_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = EXAMPLE.replace('interval = "1h"', 'interval = "1s"')
    write(tmp_path / "conf", text)
    write(tmp_path / "conf", SUBSCRIPTIONS, "subscriptions.opml")
    monkeypatch.chdir(tmp_path)
    before = tree(tmp_path)
    problems_of(tmp_path / "conf" / "aggregator.toml")
    assert tree(tmp_path) == before
    # a good config reads without writing anything either
    write(tmp_path / "conf", EXAMPLE)
    load_config(tmp_path / "conf" / "aggregator.toml")
    assert tree(tmp_path) == before


def test_find_config_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = write(tmp_path / "a", MINIMAL)
    from_env = write(tmp_path / "b", MINIMAL)
    in_cwd = write(tmp_path / "c", MINIMAL)
    monkeypatch.chdir(tmp_path / "c")
    monkeypatch.setenv("AGGREGATOR_CONFIG", str(from_env))
    assert find_config(explicit) == explicit
    assert find_config(str(explicit)) == explicit
    assert find_config(None) == from_env
    monkeypatch.delenv("AGGREGATOR_CONFIG")
    assert find_config(None) == Path("aggregator.toml")
    assert find_config(None).resolve() == in_cwd

    in_cwd.unlink()
    with pytest.raises(ConfigError) as info:
        find_config(None)
    assert info.value.problems[0].startswith("aggregator.toml: no such file in ")
    monkeypatch.setenv("AGGREGATOR_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError) as info:
        find_config(None)
    assert info.value.problems == [
        f"{tmp_path / 'missing.toml'}: no such config file (from $AGGREGATOR_CONFIG)"
    ]
    with pytest.raises(ConfigError):
        find_config(tmp_path / "nope.toml")
    assert not os.path.exists(tmp_path / "c" / "aggregator.toml")


def test_an_empty_config_option_is_refused_not_the_current_directorys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `aggregator --config "$CONF" update` with CONF unset must not act on ./aggregator.toml
    write(tmp_path, MINIMAL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGGREGATOR_CONFIG", raising=False)
    before = tree(tmp_path)
    for args in (["--config", "", "update"], ["update", "--config", ""]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert result.output == "--config: the path is empty; give the config file's path\n"
    assert tree(tmp_path) == before


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("10m", 600), ("1h30m", 5400), ("2d", 172800), ("1d2h3m4s", 93784), ("90s", 90),
     ("365d", 31536000), ("364d23h59m60s", 31536000), ("0000000000000000365d", 31536000)],
)
def test_good_intervals(text: str, seconds: int) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("9s", "shorter than the minimum of 10s"),
        ("0m", "shorter than the minimum of 10s"),
        ("1x", "is not an interval"),
        ("90", "needs a unit"),
        ("", "must not be empty"),
        ("1.5h", "is not an interval"),
        ("-10m", "is not an interval"),
        ("h", "is not an interval"),
        ("365d1s", "longer than the maximum of 365d"),
        ("8761h", "longer than the maximum of 365d"),
        ("3000000d", "longer than the maximum of 365d"),
        ("99999999999d", "longer than the maximum of 365d"),
        ("1" + "0" * 5000 + "s", "longer than the maximum of 365d"),
        ("\u0661\u0660m", "is not an interval"),  # Arabic-Indic digits: \d took them for 10m
        ("1\uff10m", "is not an interval"),  # a fullwidth 0
    ],
)
def test_bad_intervals(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_interval(text)


def test_opml_feeds_are_sources_that_topics_can_name(tmp_path: Path) -> None:
    write(tmp_path, SUBSCRIPTIONS, "subscriptions.opml")
    text = '[aggregator]\nopml = ["subscriptions.opml"]\n' + MINIMAL
    text += '[[topics]]\nslug = "w"\nany = ["world"]\nsources = ["bbc-world", "same-as-nato-news"]\n'
    config = load_config(write(tmp_path, text))
    assert [s.name for s in config.sources] == ["seeds", "bbc-world", "same-as-nato-news"]
    assert config.topics[0].sources == ("bbc-world", "same-as-nato-news")


def test_a_topic_naming_an_opml_outline_that_went_is_warned_of_not_refused(tmp_path: Path) -> None:
    # An OPML file is rewritten by other programs: an outline removed (or retitled, which
    # names it anew) must not refuse the whole config, stopping every refresh, and keep a
    # running service on the old one, fetching the feed that was removed. Without OPML
    # files a name no source has is still a problem (a typo).
    write(tmp_path, SUBSCRIPTIONS, "subscriptions.opml")
    topic = '[[topics]]\nslug = "w"\nany = ["world"]\nsources = ["bbc-world", "gone"]\n'
    write(tmp_path, '[aggregator]\nopml = ["subscriptions.opml"]\n' + MINIMAL + topic)
    config = load_config(Path("aggregator.toml"))
    assert config.topics[0].sources == ("bbc-world", "gone")
    assert config.warnings == ("aggregator.toml: topics[0].sources[1]: no source named 'gone' now (an OPML "
                               "outline removed or retitled?): the topic takes no new items from it",)
    assert problems_of(write(tmp_path, MINIMAL + topic)) == [
        "aggregator.toml: topics[0].sources[0]: no source named 'bbc-world'",
        "aggregator.toml: topics[0].sources[1]: no source named 'gone'"]


def opml_with(*outlines: str) -> str:
    return '<?xml version="1.0"?><opml version="2.0"><body>' + "".join(outlines) + "</body></opml>"


def test_opml_names_do_not_depend_on_the_other_outlines(tmp_path: Path) -> None:
    """Removing or adding an outline never hands an existing name to another URL."""
    three = '<outline xmlUrl="http://127.0.0.1:9/three"/>'
    four = '<outline xmlUrl="http://127.0.0.1:9/four"/>'
    news_a = '<outline text="News" xmlUrl="https://a.example/rss"/>'
    news_b = '<outline text="News" xmlUrl="https://b.example/rss"/>'
    seeds_like = '<outline text="Seeds" xmlUrl="https://seeds.example/rss"/>'
    path = write(tmp_path, '[aggregator]\nopml = ["subs.opml", "more.opml"]\n' + MINIMAL)

    def names(subs: tuple[str, ...], more: tuple[str, ...] = ()) -> dict[str, str | None]:
        write(tmp_path, opml_with(*subs), "subs.opml")
        write(tmp_path, opml_with(*more), "more.opml")
        return {s.name: s.url for s in load_config(path).sources}

    both = names((three, four, news_a), (news_b, seeds_like))
    assert len(both) == 6 and both["seeds"] is None
    assert {n for n in both if n.startswith("127-0-0-1-")} and "127-0-0-1" not in both
    assert {n for n in both if n.startswith("news-")} and "news" not in both
    # never the name of a [[sources]] entry, even one that is no feed
    assert [n for n, url in both.items() if url == "https://seeds.example/rss"][0].startswith("seeds-")
    # the order of the outlines, or of the files, changes no name
    assert names((news_b, seeds_like, four), (news_a, three)) == both
    # unsubscribed: the others keep a name of their own, none another URL's
    for subs, more in [((four,), (news_b,)), ((three, four), ()), ((four, news_a), (news_b,))]:
        after = names(subs, more)
        for name, url in after.items():
            assert both.get(name, url) == url, name
    assert names((four,), (news_b,)) == {"seeds": None, "127-0-0-1": "http://127.0.0.1:9/four",
                                         "news": "https://b.example/rss"}


def test_a_topic_naming_an_opml_feed_by_its_old_positional_name_is_told_the_names_now(tmp_path: Path) -> None:
    # Earlier releases named the second "News" outline "news-2"; a topic limited to it
    # was a good config, which the upgrade turned into one every command refused (status
    # too, where the new names would show), and the service stayed down (exit 2). Now a
    # warning (the config lists OPML files) that says what became of such names.
    write(tmp_path, opml_with('<outline text="News" xmlUrl="https://a.example/rss"/>',
                              '<outline text="News" xmlUrl="https://b.example/rss"/>'), "subs.opml")
    text = ('[aggregator]\nopml = ["subs.opml"]\n' + MINIMAL
            + '[[topics]]\nslug = "b"\nany = ["x"]\nsources = ["news-2", "news-20x"]\n')
    write(tmp_path, text)
    config = load_config(Path("aggregator.toml"))
    names = sorted(s.name for s in config.sources if s.name.startswith("news-"))
    assert len(names) == 2
    assert config.warnings == (
        "aggregator.toml: topics[0].sources[0]: no source named 'news-2' (older versions numbered feeds of one "
        f"name by position: 'news' names every one of them, and each has its own name: {', '.join(names)}): "
        "the topic takes no new items from it",
        "aggregator.toml: topics[0].sources[1]: no source named 'news-20x' now (an OPML outline removed or "
        "retitled?): the topic takes no new items from it",
    )


def test_a_topic_naming_an_opml_feed_as_releases_before_spelled_it_still_means_it(tmp_path: Path) -> None:
    # Since 4f3a2e1 an OPML feed's name spells out ß, ø, æ, ł, þ ("aussenpolitik", not
    # "auenpolitik"): a topic limited to such a feed of a listed OPML file, by the name
    # `status` showed, took none of its items after the upgrade, with a warning that
    # blamed the OPML file ("an outline removed or retitled?"). It still means the feed,
    # and a warning gives the name now.
    write(tmp_path, opml_with('<outline text="Tagesschau – Außenpolitik" xmlUrl="https://a.example/rss"/>',
                              '<outline text="Ærø" xmlUrl="https://b.example/rss"/>',
                              '<outline text="Ærø" xmlUrl="https://c.example/rss"/>'), "subs.opml")
    config = load_config(write(tmp_path, '[aggregator]\nopml = ["subs.opml"]\n' + MINIMAL))
    b, c = (s.name for s in config.sources if s.name.startswith("aero-"))
    text = ('[aggregator]\nopml = ["subs.opml"]\n' + MINIMAL + '[[topics]]\nslug = "w"\nany = ["x"]\n'
            f'sources = ["tagesschau-auenpolitik", "r{b[4:]}", "seeds"]\n')
    write(tmp_path, text)
    config = load_config(Path("aggregator.toml"))
    assert config.topics[0].sources == ("tagesschau-aussenpolitik", b, "seeds")
    assert config.warnings == (
        "aggregator.toml: topics[0].sources[0]: 'tagesschau-auenpolitik' is the source now named "
        "'tagesschau-aussenpolitik' (its title's ß, æ, ø, ł or þ is spelled out since this release): write that",
        f"aggregator.toml: topics[0].sources[1]: 'r{b[4:]}' is the source now named '{b}' (its title's ß, æ, ø, "
        "ł or þ is spelled out since this release): write that",
    )


def test_a_url_listed_twice_is_one_source(tmp_path: Path) -> None:
    write(tmp_path, opml_with('<outline text="News" xmlUrl="https://a.example/rss"/>',
                              '<outline text="Again" xmlUrl="HTTPS://A.example/rss#x"/>'), "subs.opml")
    write(tmp_path, opml_with('<outline text="More" xmlUrl="https://a.example/rss"/>',
                              '<outline text="Mine" xmlUrl="https://mine.example/rss"/>'), "more.opml")
    text = ('[aggregator]\nopml = ["subs.opml", "more.opml"]\n' + MINIMAL
            + '[[sources]]\nname = "mine"\nurl = "https://mine.example/rss"\n')
    config = load_config(write(tmp_path, text))
    assert [(s.name, s.url) for s in config.sources] == [
        ("seeds", None), ("mine", "https://mine.example/rss"), ("news", "https://a.example/rss")]


def test_an_unusable_opml_outline_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, SUBSCRIPTIONS.replace("https://feeds", "gopher://feeds"), "subs.opml")
    write(tmp_path, '[aggregator]\nopml = ["subs.opml"]\n' + MINIMAL)
    config = load_config(Path("aggregator.toml"))  # as a user names it
    warning = ("aggregator.toml: aggregator.opml[0]: subs.opml:6: skipping the outline 'BBC World': "
               "'gopher://feeds.bbci.co.uk/news/world/rss.xml' is not an http:// or https:// URL")
    assert config.warnings == (warning,)
    assert [s.name for s in config.sources] == ["seeds", "same-as-nato-news"]
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [warning]


def test_feed_scheme_urls_in_opml_are_http_urls(tmp_path: Path) -> None:
    write(tmp_path, opml_with(
        '<outline text="Podcast" xmlUrl="feed://example.com/rss"/>',
        '<outline text="Secure" xmlUrl="feed:https://secure.example/atom?x=1"/>',
        '<outline text="Plain" xmlUrl="FEED:http://plain.example/rss"/>',
        '<outline text="Mine" xmlUrl="feed://mine.example/rss"/>',  # configured already
        '<outline xmlUrl="feed:ftp://old.example/rss"/>',
    ), "subs.opml")
    text = ('[aggregator]\nopml = ["subs.opml"]\n'
            '[[sources]]\nname = "mine"\nurl = "http://MINE.example/rss"\n')
    write(tmp_path, text)
    config = load_config(Path("aggregator.toml"))  # as a user names it
    assert [(s.name, s.url) for s in config.sources] == [
        ("mine", "http://MINE.example/rss"),
        ("podcast", "http://example.com/rss"),
        ("secure", "https://secure.example/atom?x=1"),
        ("plain", "http://plain.example/rss"),
    ]
    assert config.warnings == ("aggregator.toml: aggregator.opml[0]: subs.opml:1: skipping an untitled "
                               "outline: 'feed:ftp://old.example/rss' is not an http:// or https:// URL",)


def test_only_unusable_outlines_and_no_sources_is_still_a_config_problem(tmp_path: Path) -> None:
    write(tmp_path, opml_with('<outline text="Old" xmlUrl="ftp://old.example/rss"/>'), "subs.opml")
    assert problems_of(write(tmp_path, '[aggregator]\nopml = ["subs.opml"]\n')) == [
        "aggregator.toml: sources: no [[sources]] defined; add at least one source"]


@pytest.mark.parametrize("listen, base_url, warned", [
    ("0.0.0.0:8080", None, True),
    ("[::]:8080", None, True),
    ("0.0.0.0:8080", "https://feeds.example.org", False),
    ("127.0.0.1:8080", None, False),
    ("localhost:8080", None, False),
])
def test_a_base_url_from_a_listen_on_every_address_is_warned_of(
    tmp_path: Path, listen: str, base_url: str | None, warned: bool
) -> None:
    # "0.0.0.0" binds every address but is none a reader can fetch: feed ids, self links
    # and the index page's subscribe links would all point nowhere.
    base = f'base_url = "{base_url}"\n' if base_url else ""
    write(tmp_path, f'[aggregator]\nlisten = "{listen}"\n{base}' + MINIMAL)
    config = load_config(Path("aggregator.toml"))
    expected = (f"aggregator.toml: aggregator.base_url: not set, so feeds are published as "
                f"{config.settings.base_url}/<slug>.xml, an address no reader can reach; "
                "set base_url to the address readers use",)
    assert config.warnings == (expected if warned else ())


def test_titles_are_one_line(tmp_path: Path) -> None:
    # A TOML multi-line string (or a tab) in a title split the row of the status and topics
    # tables, and reached the published feeds' titles; whitespace runs are one space, as in
    # the titles feeds send.
    write(tmp_path, '[aggregator]\ntitle = """Desk\n  of  the\tday"""\n' + MINIMAL
          + '[[sources]]\nname = "f"\nurl = "https://a.example/rss"\ntitle = " Baltic\\nwire "\n'
          + '[[topics]]\nslug = "t"\ntitle = """Two\nlines"""\nany = ["x"]\n')
    config = load_config(Path("aggregator.toml"))
    assert config.settings.title == "Desk of the day"
    assert [s.title for s in config.sources] == [None, "Baltic wire"]
    assert config.topics[0].title == "Two lines"
    write(tmp_path, '[aggregator]\ntitle = """\n\t"""\n' + MINIMAL)
    assert problems_of(Path("aggregator.toml")) == ["aggregator.toml: aggregator.title: must not be empty"]


def test_two_sources_of_one_feed_are_warned_of(tmp_path: Path) -> None:
    # Host and scheme case, a default port and an empty path name the same feed: listed
    # twice, it is fetched twice at every interval. A disabled one, a seed and another
    # path are no second subscription.
    write(tmp_path, "\n".join(f'[[sources]]\nname = "s{i}"\nurl = "{url}"\n' for i, url in enumerate([
        "https://News.Example.org/feed.xml", "HTTPS://news.example.org:443/feed.xml", "https://news.example.org/other",
        "https://news.example.org",
    ])) + '[[sources]]\nname = "off"\nurl = "https://news.example.org/feed.xml"\nenabled = false\n'
        '[[sources]]\nname = "root"\nurl = "https://NEWS.example.org/"\n')
    config = load_config(Path("aggregator.toml"))
    assert config.warnings == (
        "aggregator.toml: sources[1].url: the same feed as sources[0] ('s0'): it is fetched twice; remove one",
        "aggregator.toml: sources[5].url: the same feed as sources[3] ('s3'): it is fetched twice; remove one",
    )
    assert [s.name for s in config.sources] == ["s0", "s1", "s2", "s3", "off", "root"]


def test_a_star_inside_a_phrase_is_warned_of(tmp_path: Path) -> None:
    # A '*' matches any ending only at a phrase's end (DESIGN); inside one it is punctuation
    # that matches literally, so "sanction* regime" silently never matched anything.
    write(tmp_path, MINIMAL + '[[topics]]\nslug = "s"\nany = ["sanction* regime", "sanction*", "nato *"]\n'
          'none = ["a*b*"]\n')
    config = load_config(Path("aggregator.toml"))
    assert config.warnings == tuple(
        f"aggregator.toml: topics[0].{key}: {phrase!r}: only a '*' that ends a phrase matches any ending; "
        "one inside it matches a '*' in the text" for key, phrase in (("any[0]", "sanction* regime"),
                                                                    ("none[0]", "a*b*")))


def test_a_quoted_phrase_is_warned_of(tmp_path: Path) -> None:
    # A search engine's habit: '"Baltic Sea"' for the exact phrase. The quotes are
    # punctuation that matches literally, so the topic silently missed every item that
    # does not quote the words; the user is told (the phrase still means what DESIGN says).
    write(tmp_path, MINIMAL + '[[topics]]\nslug = "s"\nany = [\'"Baltic Sea"\', "IRIS-T", "12\\""]\n'
          'all = ["«Nord Stream»", "’ Baltic ’"]\nnone = ["\'x"]\n')
    config = load_config(Path("aggregator.toml"))
    assert config.warnings == tuple(
        f"aggregator.toml: topics[0].{key}: {phrase!r}: the quotes match quote marks in the text; a phrase "
        "already matches its words in order, so write it without them"
        for key, phrase in (("any[0]", '"Baltic Sea"'), ("all[0]", "«Nord Stream»"), ("all[1]", "’ Baltic ’")))


NO_USER = "~no-such-user-rev104"  # a "~user" path whose user does not exist: expanduser raises


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # tomllib recurses per nesting level: a RecursionError, not a TOMLDecodeError
        (MINIMAL + "x = " + "[" * 1200 + "]" * 1200 + "\n",
         "aggregator.toml: arrays or inline tables are nested too deeply to read (more than a few hundred levels)"),
        (MINIMAL + "x = " + "{a = " * 1200 + "1" + "}" * 1200 + "\n",
         "aggregator.toml: arrays or inline tables are nested too deeply to read (more than a few hundred levels)"),
        # the [aggregator] table refused, its opml files were still read (ValueError: embedded null byte)
        ('[aggregator]\nopml = ["a\\u0000b.opml"]\n' + MINIMAL,
         "aggregator.toml: aggregator.opml[0]: contains the control character U+0000, which XML cannot hold"),
        # ~user of no user: RuntimeError("Could not determine home directory.") at load
        (f'[aggregator]\nopml = ["{NO_USER}/x.opml"]\n' + MINIMAL,
         f"aggregator.toml: aggregator.opml[0]: '{NO_USER}/x.opml': no user '{NO_USER[1:]}' has a home folder for '{NO_USER}' to name"),
        (f'[aggregator]\noutput_dir = "{NO_USER}/feeds"\n' + MINIMAL,
         f"aggregator.toml: aggregator.output_dir: '{NO_USER}/feeds': no user '{NO_USER[1:]}' has a home folder for '{NO_USER}' to name"),
        (f'[[sources]]\nname = "s"\npath = "{NO_USER}"\n',
         f"aggregator.toml: sources[0].path: '{NO_USER}': no user '{NO_USER[1:]}' has a home folder for '{NO_USER}' to name"),
        (f'[aggregator]\ndatabase = "sqlite:///{NO_USER}/a.db"\n' + MINIMAL,
         f"aggregator.toml: aggregator.database: '{NO_USER}/a.db': no user '{NO_USER[1:]}' has a home folder for '{NO_USER}' to name"),
        # accepted, then ValueError: embedded null byte at the first command that opened the store
        ('[aggregator]\ndatabase = "sqlite:///a\\u0000b.db"\n' + MINIMAL,
         "aggregator.toml: aggregator.database: the file name contains the control character U+0000"),
        # accepted: a URL holds no control character (RFC 3986); a feed id or a request with one
        ('[aggregator]\nbase_url = "https://example.org/a\\u0000b"\n' + MINIMAL,
         "aggregator.toml: aggregator.base_url: 'https://example.org/a\\x00b' contains the control character U+0000"),
        ('[[sources]]\nname = "s"\nurl = "https://example.org/a\\u007fb"\n',
         "aggregator.toml: sources[0].url: 'https://example.org/a\\x7fb' contains the control character U+007F"),
        # make_url's int() of the port: "invalid literal for int() with base 10: 'abc'", no word of the key's kind
        ('[aggregator]\ndatabase = "postgresql://host:abc/db"\n' + MINIMAL,
         "aggregator.toml: aggregator.database: 'postgresql://host:abc/db' is not a SQLAlchemy database URL "
         "(e.g. 'sqlite:///aggregator.db'): its port 'abc' is not a number"),
    ],
    ids=["nested-arrays", "nested-tables", "opml-nul", "opml-no-user", "output-dir-no-user", "path-no-user",
         "database-no-user", "database-nul", "base-url-nul", "url-del", "database-port"],
)
def test_a_value_no_file_or_url_can_hold_is_one_problem_line_not_a_traceback(
    tmp_path: Path, text: str, expected: str,
) -> None:
    assert problems_of(write(tmp_path, text)) == [expected]
