from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.store import SourceSpec, Store

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped config and seeds in a temporary folder."""
    shutil.copytree(SEEDS, tmp_path / "seeds")
    shutil.copy(ROOT / "aggregator.toml", tmp_path / "aggregator.toml")
    return tmp_path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store with two feed sources ("one", "two") and a seeds source."""
    s = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    s.sync_sources([SourceSpec("one", "feed", "http://one.test/feed"),
                    SourceSpec("two", "feed", "http://two.test/feed"),
                    SourceSpec("seeds", "seeds")])
    s.wait_for_checkpoint()  # tests that watch checkpoints start with none queued
    yield s
    s.close()
