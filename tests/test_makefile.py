"""`make run` and `make test` on a machine as README finds it: the Makefile's venv step.

Each test copies the Makefile into a folder of its own and runs make with a stand-in
interpreter (``PYTHON=``), so nothing is installed: only what make does, or would do
(``make -n``), is looked at.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=folder, capture_output=True,
                          text=True, timeout=120)


def stand_in(tmp_path: Path, name: str, body: str) -> Path:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    script.chmod(0o755)
    return script


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    folder = tmp_path / "checkout"
    folder.mkdir()
    shutil.copy(ROOT / "Makefile", folder / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", folder / "pyproject.toml")
    return folder


def test_a_venv_that_could_not_be_made_is_made_again_by_the_next_make(tmp_path: Path, checkout: Path) -> None:
    # Debian and Ubuntu ship ensurepip apart (python3-venv): `python3 -m venv` then leaves a
    # venv without pip and fails. Once the package was installed, the next `make run` took the
    # half-made .venv for a made one and failed on .venv/bin/pip for good.
    no_ensurepip = stand_in(tmp_path, "python3", f'{sys.executable} "$@" --without-pip\n'
                            'echo "ensurepip is not available" >&2\nexit 1')
    first = make(checkout, "install", f"PYTHON={no_ensurepip}")
    assert first.returncode != 0 and "ensurepip is not available" in first.stderr
    again = make(checkout, "-n", "install", f"PYTHON={sys.executable}")
    assert f"{sys.executable} -m venv .venv" in again.stdout


def test_an_interpreter_older_than_3_11_is_refused_before_a_venv_is_made(tmp_path: Path, checkout: Path) -> None:
    # README: Python 3.11+. An older python3 made a venv that pip then refused to install
    # into; `make run PYTHON=python3.11` afterwards went on using the old venv.
    old = stand_in(tmp_path, "python3.10",
                   f'if [ "$1" = "-c" ]; then exec {sys.executable} -c '
                   '"import sys; sys.version_info = (3, 10, 12, \'final\', 0); exec(sys.argv[1])" "$2"; fi\n'
                   f'exec {sys.executable} "$@" --without-pip')  # no pip: nothing is fetched
    result = make(checkout, "install", f"PYTHON={old}")
    assert result.returncode != 0
    assert "3.11" in result.stderr and "PYTHON=" in result.stderr
    assert not (checkout / ".venv").exists()


def test_clean_keeps_the_database_and_removes_what_make_run_makes_again(checkout: Path) -> None:
    # The database holds every item ever read, which no feed sends again; `make clean`, run to
    # rebuild a venv, deleted it with the published files.
    for name in (".venv/bin/python", "feeds/all.xml", "feeds/index.opml", "aggregator.db",
                 "aggregator.db-wal", "aggregator.db.lock.owner"):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_text("x", encoding="utf-8")
    assert make(checkout, "clean").returncode == 0
    left = sorted(str(p.relative_to(checkout)) for p in checkout.rglob("*") if p.is_file())
    assert left == ["Makefile", "aggregator.db", "aggregator.db-wal", "aggregator.db.lock.owner", "pyproject.toml"]
