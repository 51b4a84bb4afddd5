"""What README.md shows a user (the output of a command, a default) against what the program does."""

from __future__ import annotations

import re
from pathlib import Path

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
