"""Shared helpers for the workload-model tests: fixtures are manifests under tests/fixtures/model/."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from policy_engine.model.workload import Workload

from .manifests import fixture_workload


@pytest.fixture
def load_workload() -> Callable[[str], Workload]:
    return fixture_workload
