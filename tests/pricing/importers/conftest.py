from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from .paths import IMPORT_FIXTURES

#: The download time the Azure and OpenCost fixtures are given (their formats carry no date): 2025-11-29 UTC.
DOWNLOADED = 1764417600


@pytest.fixture()
def fixture_copy(tmp_path: Path) -> Callable[[str], str]:
    """A copy of an import fixture whose modification time is ``DOWNLOADED`` (for formats dated by it)."""

    def copy(name: str) -> str:
        target = tmp_path / name
        shutil.copyfile(IMPORT_FIXTURES / name, target)
        os.utime(target, (DOWNLOADED, DOWNLOADED))
        return str(target)

    return copy
