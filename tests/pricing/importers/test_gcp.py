"""GCP: a machine-type price table in the pricing.yml layout, or as CSV."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.pricing.importers.common import Hardware, ImportFailure
from policy_engine.pricing.importers.gcp import import_price_table

from .paths import IMPORT_FIXTURES


def test_the_pricing_yml_layout_gives_hourly_and_spot_per_region_dated_by_its_timestamp() -> None:
    imported = import_price_table(str(IMPORT_FIXTURES / "gcp-pricing.yml"))
    rows = {(r.name, r.region): r for r in imported.rows}
    assert set(rows) == {("a2-highgpu-1g", "us-central1"), ("a2-highgpu-1g", "europe-west4"),
                         ("a2-ultragpu-1g", "us-central1")}
    a2 = rows[("a2-highgpu-1g", "us-central1")]
    assert (a2.on_demand, a2.spot, a2.date) == (3.673385, 1.293355, "2025-03-06")
    assert a2.hardware == Hardware(12, 85, 1, "A100")
    assert rows[("a2-ultragpu-1g", "us-central1")].hardware == Hardware(12, 170, 1, "A100-80GB")
    assert rows[("a2-ultragpu-1g", "us-central1")].spot == 2.02746836
    assert imported.skipped == {
        "region without an hourly price": 1,  # me-central2 lists only a monthly figure
        "machine type without an accelerator (CPU pods are priced from their requests)": 1,
    }


def test_a_csv_table_with_an_empty_spot_cell_has_no_spot_price() -> None:
    imported = import_price_table(str(IMPORT_FIXTURES / "gcp-prices.csv"))
    rows = {r.region: r for r in imported.rows}
    assert rows["us-central1"].spot is None and rows["us-central1"].on_demand == 0.70683
    assert rows["europe-west4"].spot == 0.30911
    assert rows["us-central1"].date == "2025-11-02"
    assert rows["us-central1"].hardware == Hardware(4, 16, 1, "L4")


def test_a_bad_csv_cell_is_an_error_at_its_line() -> None:
    with pytest.raises(ImportFailure) as info:
        import_price_table(str(IMPORT_FIXTURES / "gcp-bad.csv"))
    (error,) = info.value.errors
    assert error.span.line == 3 and "hour not a number" in error.message


def test_a_yaml_table_without_a_generation_date_is_refused(tmp_path: Path) -> None:
    undated = tmp_path / "pricing.yml"
    undated.write_text("compute:\n  instance:\n    g2-standard-4:\n      l4: 1\n      cpu: 4\n      ram: 16\n"
                       "      cost:\n        us-central1: {hour: 0.70683}\n")
    with pytest.raises(ImportFailure, match=r"no about\.timestamp"):
        import_price_table(str(undated))
