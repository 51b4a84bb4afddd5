"""End to end through the real command, on the shipped config and seeds."""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import socket
import subprocess
import sys
import threading
import unicodedata
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from aggregator.cli import main
from aggregator.db import SCHEMA_REVISION

from atomcheck import validate_atom
from feedserver import FeedServer


def run(project: Path, *args: str, code: int | None = 0) -> str:
    result = CliRunner().invoke(main, ["--config", str(project / "aggregator.toml"), *args],
                                catch_exceptions=False)
    if code is not None:
        assert result.exit_code == code, result.output
    return result.output


def topics_json(project: Path) -> dict[str, int]:
    return {t["slug"]: t["items"] for t in json.loads(run(project, "topics", "--json"))}


def test_update_from_empty_database_publishes_valid_feeds(project: Path) -> None:
    out = run(project, "update")
    assert "76 new items" in out
    feeds = project / "feeds"
    names = sorted(p.name for p in feeds.iterdir())
    assert {"all.xml", "index.opml", "index.html", "baltic-security.xml"} <= set(names)
    for xml in feeds.glob("*.xml"):
        problems = validate_atom(xml, self_url=f"http://127.0.0.1:8080/{xml.name}")
        assert problems == [], (xml.name, problems)
        parsed = feedparser.parse(xml.read_bytes())
        assert parsed.bozo == 0
    everything = feedparser.parse((feeds / "all.xml").read_bytes())
    assert len(everything.entries) == 50  # max_entries
    assert (project / "aggregator.db").exists()  # relative to the config file, not the cwd


@pytest.mark.parametrize(("written", "canonical"), [
    ("HTTPS://Feeds.Example.NET:443/News/", "https://feeds.example.net/News/"),  # capitals, default port
    ("https://example.net/%7Eann/b%c3%a9/", "https://example.net/~ann/b%C3%A9/"),  # escapes
])
def test_a_base_url_not_in_canonical_form_gives_canonical_feed_ids(project: Path, written: str, canonical: str) -> None:
    # A feed's id is its self URL; the W3C validator reports an id that is not in the
    # canonical URI form (upper-case scheme or host, a default port, an escaped unreserved
    # character such as %7E for ~, escape digits in lower case) as NonCanonicalURI.
    config = project / "aggregator.toml"
    text = config.read_text()
    config.write_text(text.replace('base_url = "http://127.0.0.1:8080"', f'base_url = "{written}"'))
    run(project, "update")
    for xml in (project / "feeds").glob("*.xml"):
        problems = validate_atom(xml, self_url=f"{canonical}{xml.name}")
        assert problems == [], (xml.name, problems)
    opml = (project / "feeds" / "index.opml").read_text()
    assert f'xmlUrl="{canonical}' in opml and f'xmlUrl="{written}' not in opml


def test_shipped_topics_cover_the_seeds(project: Path) -> None:
    run(project, "update")
    counts = topics_json(project)
    assert counts["all"] == 76
    topic_counts = {k: v for k, v in counts.items() if k != "all"}
    assert 8 <= len(topic_counts) <= 14
    assert min(topic_counts.values()) >= 3, topic_counts
    items = json.loads(run(project, "items", "--json", "--limit", "1000"))
    assert len(items) == 76
    assert sum(1 for i in items if i["topics"]) >= 72


def test_reingest_adds_nothing_and_publish_rewrites_nothing(project: Path) -> None:
    run(project, "update")
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in (project / "feeds").iterdir()}
    out = run(project, "update")
    assert "0 new items" in out and "published 0 files" in out
    after = {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in (project / "feeds").iterdir()}
    assert before == after


def test_a_new_rendering_republishes_every_feed_once(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An upgrade that writes the same data otherwise (atom.RENDERING bumped) must reach
    # readers at once, not when each feed's data next changes.
    import aggregator.atom as atom
    import aggregator.publish as publish

    run(project, "update")
    renders: list[int] = []
    real = publish.publish
    monkeypatch.setattr(publish, "publish", lambda *a, **k: renders.append(1) or real(*a, **k))
    run(project, "publish")
    assert renders == []  # nothing changed: nothing rendered
    monkeypatch.setattr(atom, "RENDERING", atom.RENDERING + 1)
    run(project, "publish")
    run(project, "publish")
    assert renders == [1]


def test_a_history_that_cannot_be_pruned_fails_no_refresh(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    from aggregator.store import Store

    def locked(self: Store, before: object, **kw: object) -> int:
        raise OperationalError("DELETE FROM fetches", {}, Exception("database is locked"))

    monkeypatch.setattr(Store, "prune_fetches", locked)
    out = run(project, "update")
    assert "76 new items" in out and "0 failed" in out, out
    assert "cannot prune the refresh history" in out


def test_editing_one_paragraph_adds_one_item(project: Path) -> None:
    run(project, "update")
    doc = project / "seeds" / "004_581f4ad9b4baf5b7.txt"
    text = doc.read_text(encoding="utf-8")
    doc.write_text(text.replace("naval drones.", "naval drones and minesweepers."), encoding="utf-8")
    assert "1 new items" in run(project, "update")
    items = json.loads(run(project, "items", "--json", "--limit", "1"))
    assert "NATO launches a new military mission" in items[0]["title"]  # the new item is the newest


def test_a_longer_story_added_to_a_seed_file_adds_one_item(project: Path) -> None:
    # The scraper's cap is read from the file's longest text: a longer story changes which
    # texts count as cut at it, and so their content, never their identity.
    run(project, "update")
    before = {i["id"]: i["updated"] for i in json.loads(run(project, "items", "--json", "--limit", "1000"))}
    doc = project / "seeds" / "001_9c457d061644d54f.txt"
    story = "Baltic allies agreed on a joint patrol plan. " + "The plan covers cables and pipelines. " * 30
    doc.write_text(story.strip() + "\n" + doc.read_text(encoding="utf-8"), encoding="utf-8")
    out = run(project, "update")
    assert "1 new items" in out, out
    items = json.loads(run(project, "items", "--json", "--limit", "1000"))
    assert len(items) == 77
    texts = [" ".join(i["title"].split()) for i in items]
    assert len(texts) == len(set(texts)), "a story is listed twice"
    # The texts read anew as complete (no longer at the cap) are the same stories: they
    # keep their times, and the new story is the newest, as DESIGN has new seed items.
    assert items[0]["title"].startswith("Baltic allies agreed")
    assert {i["id"]: i["updated"] for i in items[1:]} == before


def test_seed_items_stored_under_the_earlier_keys_are_re_keyed_not_duplicated(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import aggregator.seeds as seeds

    with monkeypatch.context() as patch:  # a database written by the earlier release
        patch.setattr(seeds, "seed_identity", seeds.legacy_seed_identity)
        assert "76 new items" in run(project, "update")
    before = {i["id"]: i["updated"] for i in json.loads(run(project, "items", "--json", "--limit", "1000"))}
    out = run(project, "update")
    assert "0 new items" in out and "published 0 files" in out, out
    after = {i["id"]: i["updated"] for i in json.loads(run(project, "items", "--json", "--limit", "1000"))}
    assert after == before
    assert "0 new items" in run(project, "update")  # and once re-keyed, stay so


def test_entry_ids_are_the_same_in_every_feed_and_a_new_database(project: Path, tmp_path: Path) -> None:
    run(project, "update")
    ids_by_title = {}
    for xml in (project / "feeds").glob("*.xml"):
        for e in feedparser.parse(xml.read_bytes()).entries:
            assert ids_by_title.setdefault(e.title, e.id) == e.id
    db = project / "aggregator.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    for f in (project / "feeds").iterdir():
        f.unlink()
    run(project, "update")
    again = {e.title: e.id for e in feedparser.parse((project / "feeds" / "all.xml").read_bytes()).entries}
    for title, entry_id in again.items():
        assert ids_by_title[title] == entry_id


def test_changing_rules_reclassifies(project: Path) -> None:
    run(project, "update")
    assert topics_json(project)["nuclear-threats"] >= 3
    cfg = project / "aggregator.toml"
    text = cfg.read_text()
    cfg.write_text(text.replace('any = ["nuclear*", "weapons in space", "satellite*"]', 'any = ["Mayotte"]'))
    run(project, "publish")
    assert topics_json(project)["nuclear-threats"] == 1
    feed = feedparser.parse((project / "feeds" / "nuclear-threats.xml").read_bytes())
    [entry] = feed.entries
    assert entry.title.startswith("The presidents of France and Ukraine will meet")


def test_status_json_has_one_object_per_source(project: Path) -> None:
    run(project, "update")
    [seeds] = json.loads(run(project, "status", "--json"))
    assert set(seeds) >= {"name", "type", "url", "last_fetch", "http_status", "error", "warning", "items",
                          "failures", "next_run"}
    assert seeds["name"] == "seeds" and seeds["url"] is None and seeds["items"] == 76
    assert seeds["error"] is None and seeds["failures"] == 0
    assert re.match(r"\d{4}-\d\d-\d\dT", seeds["next_run"])
    assert "seeds" in run(project, "status")


def test_bad_config_exits_2_and_creates_nothing(project: Path) -> None:
    cfg = project / "aggregator.toml"
    cfg.write_text(cfg.read_text().replace('interval = "10m"', 'interval = "5s"'))
    before = sorted(os.listdir(project))
    result = CliRunner().invoke(main, ["--config", str(cfg), "update"])
    assert result.exit_code == 2
    assert "aggregator.toml: sources[0].interval:" in result.output
    assert sorted(os.listdir(project)) == before


def test_bad_seed_file_warns_and_the_rest_ingest(project: Path) -> None:
    (project / "seeds" / "zzz_binary.txt").write_bytes(b"\x00\x01\x02garbage")
    out = run(project, "update")
    assert "76 new items" in out
    [seeds] = json.loads(run(project, "status", "--json"))
    assert "zzz_binary.txt" in seeds["warning"]


def test_unknown_source_is_a_usage_error(project: Path) -> None:
    run(project, "update", "--source", "nope", code=2)


def test_every_command_has_help() -> None:
    for command in ("update", "publish", "status", "topics", "items", "migrate"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output


def test_renaming_a_source_republishes_its_atom_source(project: Path) -> None:
    run(project, "update")
    cfg = project / "aggregator.toml"
    cfg.write_text(cfg.read_text().replace('title = "NATO news digest"', 'title = "Renamed digest"'))
    out = run(project, "publish")
    assert "published 0 files" not in out
    assert b"<title>Renamed digest</title>" in (project / "feeds" / "all.xml").read_bytes()


@pytest.mark.parametrize("command", ["publish", "update"])
def test_publish_and_update_name_the_feed_of_a_removed_topic_they_delete(project: Path, command: str) -> None:
    # update said nothing of it once the publisher's own summary became debug (review 40)
    run(project, "update")
    cfg = project / "aggregator.toml"
    text = cfg.read_text()
    start = text.index('[[topics]]\nslug = "nuclear-threats"')
    end = text.index("[[topics]]", start + 1)
    cfg.write_text(text[:start] + text[end:])
    out = run(project, command)
    assert not (project / "feeds" / "nuclear-threats.xml").exists()
    assert "  removed nuclear-threats.xml" in out.splitlines(), out


def test_config_option_after_the_command_name(project: Path) -> None:
    result = CliRunner().invoke(main, ["update", "--config", str(project / "aggregator.toml")])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["status", "--json", "--config", str(project / "aggregator.toml")])
    assert json.loads(result.output)[0]["items"] == 76


@pytest.mark.parametrize("where", [0, 1, 2])
def test_config_option_anywhere_in_sources_import(project: Path, tmp_path: Path, where: int) -> None:
    # `aggregator sources --config X import F` was refused ("No such option"), where the
    # option works before `sources` and after `import`.
    elsewhere = tmp_path / "elsewhere"  # not beside the project's own aggregator.toml
    elsewhere.mkdir()
    subs = elsewhere / "subs.opml"
    subs.write_text('<opml version="2.0"><body><outline text="Far" xmlUrl="https://far.example/feed"/>'
                    "</body></opml>", encoding="utf-8")
    args = ["sources", "import", str(subs)]
    args[where:where] = ["--config", str(project / "aggregator.toml")]
    with contextlib.chdir(elsewhere):
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert 'url = "https://far.example/feed"' in (project / "aggregator.toml").read_text(encoding="utf-8")


def test_a_file_that_is_no_database_gives_one_line_naming_it(project: Path) -> None:
    (project / "aggregator.db").write_text("these are my notes, not a database\n" * 200)
    for command in ("status", "update", "publish"):
        out = run(project, command, code=1)
        assert out.strip().splitlines()[-1] == (
            f"aggregator: database {project / 'aggregator.db'}: file is not a database"), out
        assert "Traceback" not in out


def test_a_database_from_a_newer_release_is_refused_with_one_line(project: Path) -> None:
    run(project, "update")
    import sqlite3

    with sqlite3.connect(project / "aggregator.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    out = run(project, "status", code=1)
    assert out.strip().splitlines()[-1] == (
        "aggregator: the database is at schema revision '0099', which this version of aggregator "
        f"(schema {SCHEMA_REVISION}) does not know: a newer release made it; run that release, or restore a backup "
        "made before it"), out


@pytest.mark.parametrize("loss", ["DELETE FROM alembic_version", "DROP TABLE alembic_version"])
def test_a_database_of_our_tables_without_a_revision_is_not_sent_to_a_newer_release(
    project: Path, loss: str
) -> None:
    # Releases before the first setup ran in one transaction committed each CREATE TABLE on
    # its own and wrote the revision last: one cut short left tables and no revision. That
    # database was called one "at schema revision None" that "a newer release made".
    run(project, "update")
    import sqlite3

    with sqlite3.connect(project / "aggregator.db") as conn:
        conn.execute(loss)
    out = run(project, "migrate", code=1)
    assert out.strip().splitlines()[-1] == (
        "aggregator: the database holds aggregator's tables but no schema revision (its alembic_version "
        "table is missing or empty), so it cannot be upgraded: its first setup was cut short, or another "
        "program made them; restore a backup, or move the database away to start afresh"), out
    assert "newer release" not in out


def test_a_database_a_running_service_uses_is_not_upgraded_under_it(project: Path) -> None:
    # `git pull`, `pip install -e`, then `aggregator status` (or the cron job's `update`)
    # before the restart: the command upgraded the schema under the service of the earlier
    # release, whose every refresh then failed ("table items has no column named
    # match_text") until it was restarted. The command refuses; the service upgrades it as it
    # starts (it holds the lock then).
    import socket

    from alembic import command

    from aggregator.db import alembic_config, current_revision, make_engine
    from aggregator.lock import database_lock

    run(project, "update")
    url = f"sqlite:///{project / 'aggregator.db'}"
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        command.downgrade(alembic_config(conn), "0004")
        conn.commit()
    service = database_lock(url)
    service.acquire()
    try:
        out = run(project, "status", code=1)
        assert out.strip().splitlines()[-1] == (
            f"aggregator: database {project / 'aggregator.db'} is in use by pid {os.getpid()} on "
            f"{socket.gethostname()} (aggregator run), at schema revision 0004, which this release upgrades: "
            "a service of this release upgrades it as it starts (and may be doing so now); stop one of an "
            "earlier release, then start this release's"), out
        assert run(project, "migrate", code=1).strip().splitlines()[-1] == out.strip().splitlines()[-1]
        assert current_revision(engine) == "0004"
        with engine.connect() as conn:  # a newer release's database is told as such, service or not
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
            conn.commit()
        assert "a newer release made it" in run(project, "status", code=1)
        with engine.connect() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0004'")
            conn.commit()
    finally:
        service.release()
    run(project, "status")
    assert current_revision(engine) == SCHEMA_REVISION
    engine.dispose()


def test_a_command_started_while_another_upgrades_the_database_waits_for_it(project: Path) -> None:
    # `aggregator migrate` by hand after `git pull`, and the cron job's `update` starts while it
    # runs: the cron job exited 1 saying the database was "in use by pid N (aggregator run)" and
    # to stop a service of an earlier release, where no service ran at all. It waits for the
    # upgrade, then does its work.
    import time

    from alembic import command
    from sqlalchemy import text

    from aggregator.db import alembic_config, current_revision, make_engine

    db = project / "aggregator.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:  # an earlier release's database, large enough to take a while
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        command.upgrade(alembic_config(conn), "0002")
        conn.execute(text("INSERT INTO sources (id, name, type, failures, retired) VALUES (1, 'seeds', 'seeds', 0, 0)"))
        conn.exec_driver_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150000) "
            "INSERT INTO items (id, uid, source_id, title, content_type, truncated, first_seen, published, "
            "updated, classified, match_text) SELECT i, 'u' || i, 1, 't', 'text', 0, '2025-01-01 00:00:00', "
            "'2025-01-01 00:00:00', printf('2025-01-01 00:00:00.%06d', i), 1, 't' FROM n")
        conn.commit()
    engine.dispose()
    upgrading = subprocess.Popen([sys.executable, "-m", "aggregator.cli", "--config", str(project / "aggregator.toml"),
                                  "migrate"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        owner = project / "aggregator.db.lock.owner"
        deadline = time.monotonic() + 30
        while not owner.exists() and upgrading.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert owner.exists(), upgrading.communicate()
        out = run(project, "status")
        assert "seeds" in out
    finally:
        stdout, stderr = upgrading.communicate(timeout=60)
    assert upgrading.returncode == 0, stderr
    assert current_revision(engine) == SCHEMA_REVISION
    engine.dispose()


def test_a_full_disk_during_an_update_gives_one_line_and_stores_nothing_half(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    import aggregator.store.core as core

    run(project, "update")
    before = run(project, "items", "--json", "--limit", "1000")
    (project / "seeds" / "extra.txt").write_text("A new paragraph about the Baltic Sea and its cables.\n")

    def full(*args: object, **kwargs: object) -> None:  # as SQLAlchemy raises what sqlite3 said
        raise OperationalError("INSERT INTO items …", {}, sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(core, "ingest", full)
    out = run(project, "update", code=1)
    assert "Traceback" not in out and out.strip().splitlines()[-1].endswith(": database or disk is full"), out
    monkeypatch.undo()
    assert run(project, "items", "--json", "--limit", "1000") == before
    assert "1 new" in run(project, "update")


def test_publish_restores_a_feed_cut_off_or_edited_by_hand(project: Path) -> None:
    run(project, "update")
    feeds = project / "feeds"
    good = {p.name: p.read_bytes() for p in feeds.iterdir() if p.is_file() and not p.name.startswith(".")}
    (feeds / "all.xml").write_bytes(good["all.xml"][:300])
    out = run(project, "publish")
    assert "published 1 files (15 unchanged)" in out and "wrote all.xml" in out, out
    (feeds / "index.html").unlink()
    assert "published 1 files (15 unchanged)" in run(project, "publish")
    assert {n: (feeds / n).read_bytes() for n in good} == good
    assert "published 0 files (16 unchanged)" in run(project, "publish")


def test_items_limit_past_64_bits_is_a_usage_error(project: Path) -> None:
    run(project, "update")
    out = run(project, "items", "--limit", str(2**64), code=2)
    assert "--limit" in out
    assert len(run(project, "items", "--limit", str(2**63 - 1), "--json")) > 2


def test_a_topic_title_that_reads_as_markup_gives_valid_warning_free_feeds(project: Path) -> None:
    # Entry and source titles that read as markup ("&amp;", "</b>") are written as escaped
    # HTML, or the W3C validator reports ContainsUndeclaredHTML; a topic's title is written
    # as the feed's title and as every entry's category label too.
    config = project / "aggregator.toml"
    config.write_text(config.read_text().replace('title = "Baltic Sea security"', 'title = "Sea cables &amp; pipelines"')
                      .replace('title = "NATO Watch"', 'title = "NATO &amp; EU Watch"'))
    run(project, "update")
    for xml in (project / "feeds").glob("*.xml"):
        problems = validate_atom(xml, self_url=f"http://127.0.0.1:8080/{xml.name}")
        assert problems == [], (xml.name, problems)
    feed = feedparser.parse((project / "feeds" / "baltic-security.xml").read_bytes())
    # Shown as written, as an entry's title is: the escaped HTML of the text.
    assert feed.feed.title_detail.type == "text/html"
    assert html.unescape(feed.feed.title) == "NATO &amp; EU Watch: Sea cables &amp; pipelines"
    assert feed.feed.author == "NATO & EU Watch"  # a name has no type: what HTML shows of it
    assert {t.label for e in feed.entries for t in e.tags if t.term == "baltic-security"} == {
        "Sea cables & pipelines"}


def test_progress_on_a_terminal_keeps_log_lines_off_the_bar(project: Path) -> None:
    # stderr a terminal: the bar is drawn there, and so are the log lines
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator.cli", "--config", str(project / "aggregator.toml"),
         "update", "--source", "seeds", "--source", "seeds"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower)
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the process closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    out = proc.communicate()[0].decode()
    os.close(leader)
    assert proc.returncode == 0, screen
    assert out.startswith("seeds: ok, 76 new")
    # the terminal shows the last text after each carriage return or line erase
    shown = [re.split(r"\r|\x1b\[K", line.rstrip("\r"))[-1] for line in screen.decode().split("\n")]
    logs = [line for line in shown if " INFO " in line]
    assert logs and all(re.match(r"\d{4}-\d\d-\d\d ", line) for line in logs), shown
    assert "100%" in screen.decode()  # a source named twice is refreshed, and counted, once


def test_items_json_names_each_items_source_by_its_config_name(project: Path) -> None:
    # "source" is the title shown to readers; the name is what `update --source NAME`,
    # status and a topic's sources take
    run(project, "update")
    items = json.loads(run(project, "items", "--json", "--limit", "3"))
    assert [(i["source"], i["source_name"]) for i in items] == [("NATO news digest", "seeds")] * 3
    run(project, "update", "--source", items[0]["source_name"])


@pytest.mark.parametrize("topic", ["", "no-such-topic"])
def test_items_of_a_topic_not_in_the_config_is_a_usage_error(project: Path, topic: str) -> None:
    # --topic "$UNSET" listed nothing and exited 0, as if the topic were empty
    run(project, "update")
    out = run(project, "items", "--topic", topic, "--json", code=2)
    assert f"no topic {topic!r} in aggregator.toml" in out


def test_update_that_cannot_publish_still_reports_each_source(project: Path) -> None:
    # The sources were refreshed and stored before publishing failed: the per-source lines
    # say what was stored, and the failure is one line on stderr.
    (project / "feeds").write_text("a file where the output folder should be")
    result = CliRunner().invoke(main, ["--config", str(project / "aggregator.toml"), "update"])
    assert result.exit_code == 1, result.output
    assert "seeds: ok, 76 new, 0 updated, 0 merged" in result.stdout.splitlines()
    assert "aggregator: cannot publish to" in result.stderr
    assert "Traceback" not in result.output


def test_tables_align_columns_after_wide_and_combining_characters(project: Path) -> None:
    # A CJK character takes two terminal cells, a combining accent and a direction mark
    # none: the columns after a title of them line up with those after an ASCII one.
    cfg = project / "aggregator.toml"
    cfg.write_text(cfg.read_text() + '\n[[topics]]\nslug = "jp"\ntitle = "日本の安全保障"\nany = ["Japan"]\n'
                   '\n[[topics]]\nslug = "cafe"\ntitle = "Cafe\u0301 talks"\nany = ["cafe"]\n'
                   '\n[[topics]]\nslug = "ar"\ntitle = "News \u200f(ar)"\nany = ["arab"]\n')
    result = CliRunner().invoke(main, ["--config", str(cfg), "topics"])
    lines = result.stdout.splitlines()
    starts = set()
    for line in lines:
        head = line[:line.index("http") if "http" in line else line.index("FEED")]
        starts.add(sum(0 if unicodedata.combining(c) or c == "\u200f" else 2 if unicodedata.east_asian_width(c) in "WF"
                       else 1 for c in head))
    assert len(starts) == 1, "\n".join(lines)


def test_update_with_its_output_closed_still_publishes(project: Path) -> None:
    # `aggregator update | head -1`: the reader may be gone before a line is written; the
    # refresh is published all the same, and the broken pipe is no traceback.
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "aggregator.cli", "--config", str(project / "aggregator.toml"),
                               "-q", "update"], stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr, done.stderr
    assert (project / "feeds" / "all.xml").exists()


def test_text_from_a_feed_cannot_act_on_the_terminal(tmp_path: Path) -> None:
    # A hostile feed's titles carry a right-to-left override (the line reads reversed) and
    # isolates: printed as escapes, never acted on; the JSON holds the same values, written
    # as escapes; the published feed keeps what the feed said. The marks and joiners that
    # scripts and emoji need are shown as they are.
    feed = json.dumps({
        "version": "https://jsonfeed.org/version/1.1", "title": "Evil\u202eFeed\u2066x\u2069",
        "items": [{"id": "1", "url": "http://127.0.0.1/a", "content_text": "x",
                   "title": "Hello \u202ecilbup\u202c world\x7f \u0627\u200f\u200d\U0001f44d"}],
    }).encode()
    with FeedServer() as srv:
        srv.route("/f.json", feed, content_type="application/feed+json")
        cfg = tmp_path / "aggregator.toml"
        cfg.write_text('[aggregator]\ndatabase = "sqlite:///a.db"\n\n'
                       f'[[sources]]\nname = "evil"\nurl = "{srv.url("/f.json")}"\n')
        run(tmp_path, "update")
    dangerous = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
    shown = run(tmp_path, "items")
    assert not dangerous.search(shown), repr(shown)
    assert "Hello \\u202ecilbup\\u202c world\\x7f \u0627\u200f\u200d\U0001f44d" in shown
    assert "Evil\\u202eFeed\\u2066x\\u2069" in shown
    as_json = run(tmp_path, "items", "--json")
    assert not dangerous.search(as_json), repr(as_json)
    item, = json.loads(as_json)
    assert item["title"] == "Hello \u202ecilbup\u202c world\x7f \u0627\u200f\u200d\U0001f44d"
    assert item["source"] == "Evil\u202eFeed\u2066x\u2069"
    assert "Evil\u202eFeed" in (tmp_path / "feeds" / "all.xml").read_text()


def test_an_error_a_server_words_cannot_act_on_the_terminal(tmp_path: Path) -> None:
    # The reason phrase of an error status is the server's own text, shown in update's line
    # and in status, and in the log line of the failure: an ESC sequence in it (setting the
    # window title here) is written escaped.
    with socket.create_server(("127.0.0.1", 0)) as server:
        def answer() -> None:
            with contextlib.suppress(OSError):
                while True:
                    conn, _ = server.accept()
                    with conn:
                        conn.recv(65536)
                        conn.sendall(b"HTTP/1.1 503 Busy \x1b]0;owned\x07\x9b2J\r\nContent-Length: 0\r\n"
                                     b"Connection: close\r\n\r\n")
        threading.Thread(target=answer, daemon=True).start()
        cfg = tmp_path / "aggregator.toml"
        cfg.write_text('[aggregator]\ndatabase = "sqlite:///a.db"\n\n[[topics]]\nslug = "t"\n'
                       'title = "Reads \\u202Ebackwards"\nany = ["x"]\n\n'
                       f'[[sources]]\nname = "busy"\nurl = "http://127.0.0.1:{server.getsockname()[1]}/f"\n')
        updated = CliRunner().invoke(main, ["--config", str(cfg), "update"])
    assert updated.exit_code == 1, updated.output
    assert "ERROR aggregator.pipeline: source busy: HTTP 503 Busy \\x1b]0;owned\\x07\\x9b2J" in updated.stderr
    shown = updated.stdout + updated.stderr + "".join(CliRunner().invoke(main, ["--config", str(cfg), *args]).stdout
                                     for args in (["status"], ["topics"], ["status", "--json"]))
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]", shown), repr(shown)
    assert "busy: FAILED, 0 new, 0 updated, 0 merged (HTTP 503 Busy \\x1b]0;owned\\x07\\x9b2J)" in shown
    assert "Reads \\u202ebackwards" in shown
    error, = (s["error"] for s in json.loads(run(tmp_path, "status", "--json")))
    assert error.startswith("HTTP 503 Busy ") and "owned\x9b2J" in error
