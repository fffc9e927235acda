"""Fixtures shared by unit tests that need the real demo directory."""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from callcontrol.directory.service import Directory


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir seeded with the demo directory once per session (seeding costs eight scrypt hashes).

    Read-only: tests use ``data_dir``, a fresh copy of it.
    """
    path = tmp_path_factory.mktemp("seeded")

    async def seed() -> None:
        await (await Directory.open(path)).close()

    asyncio.run(seed())
    return path


@pytest.fixture
def data_dir(seeded_template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(seeded_template, target)
    return target
