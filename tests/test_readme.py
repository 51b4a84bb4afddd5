"""What README.md shows a user (the output of a command, a default) against what the program does."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from aggregator.cli import main

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def run(project: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["--config", str(project / "aggregator.toml"), *args],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_migrate_prints_the_revision_the_readme_shows(project: Path) -> None:
    # The README's migrate row said `database at revision 0009` after schema 0010 came.
    (shown,) = re.findall(r"`(database at revision \d+)`", README)
    assert run(project, "migrate").strip() == shown


def _section_after(marker: str) -> list[str]:
    """The README's lines after the first line that is ``marker``."""
    lines = README.splitlines()
    return lines[lines.index(marker) + 1:]


def _table_rows(marker: str) -> dict[str, list[str]]:
    """The README table under the line ``marker``: each key of the first column (a cell may
    name several, "`any`, `all`, `none`") with the row's other cells."""
    lines = _section_after(marker)
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2:]:  # past the header and its |---| line
        if not line.startswith("|"):
            break
        first, *rest = [cell.strip() for cell in line.strip("|").split(" | ")]
        for key in re.findall(r"`([a-z_]+)`", first):
            rows[key] = rest
    return rows


def _code_block_after(marker: str) -> list[str]:
    lines = _section_after(marker)
    start = lines.index("```") + 1
    return lines[start:lines.index("```", start)]


@pytest.mark.parametrize(("marker", "table"), [("`[aggregator]`", "_AGGREGATOR"),
                                               ("`[[sources]]` (at least one, unless the files of `opml` list feeds)",
                                                "_SOURCE"),
                                               ("`[[topics]]` (optional: without topics only `all.xml`, `index.opml` "
                                                "and `index.html` are published)", "_TOPIC")])
def test_the_configuration_reference_names_every_key_and_no_other(marker: str, table: str) -> None:
    from aggregator import config

    assert list(_table_rows(marker)) == list(getattr(config, table).keys)


def test_the_defaults_the_configuration_reference_names_are_the_defaults(tmp_path: Path) -> None:
    # Each default in the `[aggregator]` table, written into a config, changes nothing.
    from aggregator.config import load_config

    source = '[[sources]]\nname = "s"\nurl = "http://127.0.0.1:1/feed"\n'
    written = {}
    for key, (default, _meaning) in _table_rows("`[aggregator]`").items():
        try:
            written[key] = tomllib.loads(f"v = {default.strip('`')}")["v"]
        except tomllib.TOMLDecodeError:
            assert key == "base_url" and default == '`"http://" + listen`', (key, default)
    assert set(written) == {"database", "output_dir", "listen", "title", "max_entries", "default_interval",
                            "max_connections", "max_per_host", "opml"}
    (tmp_path / "bare.toml").write_text(source, encoding="utf-8")
    (tmp_path / "explicit.toml").write_text(
        "[aggregator]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in written.items()) + source, encoding="utf-8")
    bare = load_config(tmp_path / "bare.toml").settings
    assert load_config(tmp_path / "explicit.toml").settings == bare
    assert bare.base_url == "http://" + written["listen"]


def _toml(value: object) -> str:
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def test_a_bad_config_exits_2_with_the_line_the_readme_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (shown,) = re.findall(r"`(aggregator\.toml: sources\[0\]\.interval: [^`]*)`", README)
    (tmp_path / "aggregator.toml").write_text(
        '[[sources]]\nname = "s"\nurl = "http://127.0.0.1:1/feed"\ninterval = "5s"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 2
    assert result.stderr.strip() == shown
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aggregator.toml"]


def test_update_prints_the_lines_the_readme_shows(project: Path) -> None:
    # modulo the feeds folder and the time it took
    row = next(line for line in README.splitlines() if line.startswith("| `aggregator update"))
    source_line = re.search(r"\(`(seeds: ok[^`]*)`", row)
    summary = re.search(r"a summary \(`([^`]*)`\)", row)
    assert source_line and summary
    expected = [source_line.group(1), summary.group(1).replace("/path/feeds", str(project / "feeds"))]
    printed = run(project, "update").splitlines()
    assert [re.sub(r" in [0-9.]+s$", " in 0.23s", line) for line in printed] == expected


def test_make_run_prints_the_subscribe_urls_the_readme_shows(project: Path) -> None:
    from aggregator.config import load_config
    from aggregator.service.core import subscribe_lines

    shown = _code_block_after("After the ingest and publish lines, `make run` prints the subscribe URLs:")
    printed = subscribe_lines(load_config(project / "aggregator.toml"))
    assert shown[0] == printed[0] and shown[-1] == printed[-1]
    assert all(line in printed for line in shown if line.strip() != "..."), shown
    assert len(printed) - 3 == 13  # "13 topics", as the README's introduction says
    assert "13 topics" in README


def _json_keys(command: str) -> list[str]:
    """The keys a command's row of the README lists for its --json objects, in order."""
    row = next(line for line in README.splitlines() if line.startswith(f"| `aggregator {command}"))
    listed = re.search(r"--json` prints an array(.*?) \|$", row)
    assert listed, row
    return re.findall(r"`([a-z_]+)`", re.sub(r"\([^()]*\)", "", listed.group(1)))  # brackets name no key


def test_status_and_items_json_have_the_keys_the_readme_lists(project: Path) -> None:
    import json

    run(project, "update")
    (source,) = json.loads(run(project, "status", "--json"))
    assert list(source) == _json_keys("status")
    item = json.loads(run(project, "items", "--json", "--limit", "1"))[0]
    assert list(item) == _json_keys("items")


def test_the_readme_sends_its_reader_to_no_document_the_repository_lacks() -> None:
    # It said "as DESIGN says" five times: DESIGN.md is the team's, not in the repository.
    root = Path(__file__).resolve().parent.parent
    assert "DESIGN" not in README
    for name in ("contrib/README.md", "contrib/aggregator.service", "bench/README.md", "tests/pgserver.py",
                 "tests/test_postgres.py", "seeds", "migrations"):
        assert f"`{name}" in README and (root / name).exists(), name
    for name in re.findall(r"`([a-z]+/[a-z_]+\.(?:md|py|service))`", README):
        assert (root / name).exists() or (root / "aggregator" / name).exists(), name
