from __future__ import annotations

import pytest

from policy_engine.pricing.catalog import Catalog
from tests.workloads import round_catalog


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    """The round-priced test catalog (tests/fixtures/pricing/catalogs/round.yaml) over the bundled one."""
    return round_catalog()
