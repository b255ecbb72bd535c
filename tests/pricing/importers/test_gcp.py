"""GCP: a machine-type price table in the pricing.yml layout, or as CSV."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from policy_engine.pricing.importers.common import Hardware, ImportFailure
from policy_engine.pricing.importers.gcp import import_price_table
from policy_engine.pricing.price_import import ImportRequest, run_import

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


_N2 = """\
about: {generated: Thu Feb 12 05:17:57 2026, timestamp: 1770873477}
compute:
  instance:
    n2-highmem-96:
      cost:
        europe-west4: {hour: 6.922944, hour_spot: 2.41152}
        us-central1: {hour: 6.288672, hour_spot: 1.957824}
      cpu: 96
      ram: 768
    n2-highmem-80:
      cost:
        us-central1: {hour: HIGHMEM80, hour_spot: 1.63152}
      cpu: 80
      ram: 640
    n2-standard-8:
      cost:
        us-central1: {hour: 0.388472, hour_spot: 0.120976}
      cpu: 8
      ram: 32
    n2d-highcpu-16:
      cost:
        us-central1: {hour: 0.499008, hour_spot: 0.103584}
      cpu: 16
      ram: 16
"""


def test_the_cpu_rates_are_solved_from_the_n2_rows_of_the_reference_region(tmp_path: Path) -> None:
    table = tmp_path / "pricing.yml"
    table.write_text(_N2.replace("HIGHMEM80", "5.24056"))
    cpu = import_price_table(str(table)).cpu
    # by hand: 8a + 32b = 0.388472 and 96a + 768b = 6.288672 give a = 0.031611, b = 0.004237; n2-highmem-80
    # (80a + 640b = 5.24056) agrees; europe-west4 and the n2d family are not used
    assert cpu is not None and (cpu["vcpu_hour"], cpu["memory_gib_hour"]) == (0.031611, 0.004237)
    assert "n2-highmem-80, n2-highmem-96, n2-standard-8" in cpu["source"] and "generated 2026-02-12" in cpu["source"]
    assert "vcpu_hour_spot" not in cpu  # provider-neutral rates: one provider's spot discount is not another's
    written = yaml.safe_load(run_import(ImportRequest(gcp=(str(table),))).text)
    assert written["cpu"] == cpu


def test_cpu_rates_are_not_derived_from_one_shape_or_from_rows_that_disagree(tmp_path: Path) -> None:
    assert import_price_table(str(IMPORT_FIXTURES / "gcp-pricing.yml")).cpu is None  # n2-standard-2 alone
    table = tmp_path / "pricing.yml"
    table.write_text(_N2.replace("HIGHMEM80", "5.3"))  # not vCPUs × a + GB × b: no pair of rates fits all three
    assert import_price_table(str(table)).cpu is None
    assert "cpu" not in yaml.safe_load(run_import(ImportRequest(gcp=(str(table),))).text)


_G2 = """\
about: {generated: Thu Feb 12 05:17:57 2026, timestamp: 1770873477}
compute:
  instance:
    g2-standard-4: {l4: 1, cpu: 4, ram: 16, cost: {us-central1: {hour: 0.706832255, hour_spot: 0.281836}}}
    g2-standard-8: {l4: 1, cpu: 8, ram: 32, cost: {us-central1: {hour: 0.853624271, hour_spot: 0.340572}}}
    g2-standard-24: {l4: 2, cpu: 24, ram: 96, cost: {us-central1: {hour: G2_24, hour_spot: 0.798616}}}
    a2-highgpu-1g: {a100: 1, cpu: 12, ram: 85, cost: {us-central1: {hour: 3.673385}}}
    a2-megagpu-16g: {a100: 16, cpu: 96, ram: 1360, cost: {us-central1: {hour: 55.739504}}}
    a3-highgpu-1g: {h100-80gb: 1, cpu: 26, ram: 234, local-ssd: 750, cost: {us-central1: {hour: 11.06125}}}
"""


def test_the_attached_gpu_price_is_solved_where_the_rows_determine_it_and_said_where_not(tmp_path: Path) -> None:
    table = tmp_path / "pricing.yml"
    table.write_text(_G2.replace("G2_24", "2.000832574"))
    imported = import_price_table(str(table))
    # by hand: g2-8 - g2-4 = 4 vCPUs (16 GB) = 0.146792016, so 0.036698004 a vCPU; the L4 is
    # 0.706832255 - 4 × 0.036698004 = 0.560040239; g2-standard-24 (24 vCPUs, 2 L4) agrees: 2.000832574.
    # Spot: (0.340572 - 0.281836) / 4 = 0.014684; 0.281836 - 0.058736 = 0.2231
    l4 = imported.attached["nvidia-l4"]
    assert (l4["on_demand"], l4["spot"], l4["date"], l4["gpu_model"], l4["region"]) == (
        0.56004024, 0.2231, "2026-02-12", "L4", "us-central1")
    assert "g2-standard-24, g2-standard-4, g2-standard-8" in l4["source"]
    assert set(imported.attached) == {"nvidia-l4"}
    assert any("nvidia-tesla-a100] not derived" in n and "memory per vCPU differs" in n for n in imported.notes)
    assert any("nvidia-h100-80gb] not derived" in n and "local SSD" in n for n in imported.notes)
    written = yaml.safe_load(run_import(ImportRequest(gcp=(str(table),))).text)
    assert written["attached_gpus"]["nvidia-l4"]["on_demand"] == 0.56004024


def test_no_attached_gpu_price_when_one_row_disagrees_or_the_shapes_do_not_separate_it(tmp_path: Path) -> None:
    table = tmp_path / "pricing.yml"
    table.write_text(_G2.replace("G2_24", "2.01"))  # not 24 × u + 2 × g for the u, g of the other two
    imported = import_price_table(str(table))
    assert "nvidia-l4" not in imported.attached
    assert any("nvidia-l4] not derived" in n and "no single vCPU and GPU price fits" in n for n in imported.notes)
    assert import_price_table(str(IMPORT_FIXTURES / "gcp-pricing.yml")).attached == {}  # one A2 shape only
