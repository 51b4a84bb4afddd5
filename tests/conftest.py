from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped config and seeds in a temporary folder."""
    shutil.copytree(SEEDS, tmp_path / "seeds")
    shutil.copy(ROOT / "aggregator.toml", tmp_path / "aggregator.toml")
    return tmp_path
