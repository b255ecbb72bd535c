"""Validated catalogs come from the start-up cache only while the file they were read from is unchanged."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from policy_engine.errors import DiagnosticError
from policy_engine.pricing import catalog as catalog_module
from policy_engine.pricing import catalog_schema
from policy_engine.pricing.catalog import (
    ENTRY_TYPES,
    SECTION_TYPES,
    Catalog,
    bundled_catalog_path,
    catalog_data,
    catalog_from_data,
    load_catalog,
)
from tests.workloads import PRICING_FIXTURES as FIXTURES

CATALOGS = FIXTURES / "catalogs"


def _init_fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if f.init} - {"warnings"}


@pytest.mark.parametrize(("schema", "runtime"), [
    (catalog_schema.CatalogSchema, Catalog),
    *((catalog_schema.ENTRY_SCHEMAS[k], ENTRY_TYPES[k]) for k in ENTRY_TYPES),
    (catalog_schema.CpuRatesSchema, SECTION_TYPES["cpu"]),
    (catalog_schema.AssumptionsSchema, SECTION_TYPES["assumptions"]),
])
def test_the_schema_and_the_run_time_types_have_the_same_fields(schema: type, runtime: type) -> None:
    assert set(schema.model_fields) == _init_fields(runtime)  # type: ignore[attr-defined]


def test_the_cached_bundled_catalog_equals_a_fresh_validation() -> None:
    text = bundled_catalog_path().read_text(encoding="utf-8")
    fresh = catalog_module._validate(text, str(bundled_catalog_path()), None)
    assert catalog_module.default_catalog() == fresh
    assert catalog_from_data(catalog_data(fresh)) == fresh


def test_a_user_file_is_revalidated_when_it_changes(tmp_path: Path) -> None:
    user = tmp_path / "prices.yaml"
    user.write_text("instance_types:\n  g5.xlarge: {provider: aws, region: us-east-1, gpus: 1, vcpus: 4,\n"
                    "    memory_gib: 16, on_demand: 0.8}\n")
    assert load_catalog(str(user)).instance_types["g5.xlarge"].on_demand == 0.8
    assert load_catalog(str(user)).instance_types["g5.xlarge"].on_demand == 0.8  # a hit
    user.write_text(user.read_text().replace("0.8", "0.7"))
    assert load_catalog(str(user)).instance_types["g5.xlarge"].on_demand == 0.7
    user.write_text(user.read_text().replace("on_demand: 0.7", "on_demand: -1"))
    for _ in range(2):  # errors are never cached: every run reports them, located
        with pytest.raises(DiagnosticError) as info:
            load_catalog(str(user))
        assert [(d.code, d.span.line) for d in info.value.errors] == [("E805", 3)]


def test_warnings_of_a_user_file_survive_the_cache() -> None:
    first = load_catalog(str(CATALOGS / "warnings.yaml"))
    second = load_catalog(str(CATALOGS / "warnings.yaml"))
    assert first.warnings and second.warnings == first.warnings


def test_pricing_a_workload_from_the_cache_does_not_import_pydantic() -> None:
    code = ("import sys\nfrom policy_engine.pricing.catalog import default_catalog\n"
            "assert default_catalog().instance_types\nprint('pydantic' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert runs == ["True\n", "False\n"] or runs == ["False\n", "False\n"]  # the first may have filled it
