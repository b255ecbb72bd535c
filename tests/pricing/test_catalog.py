"""The bundled catalog is consistent; user catalogs merge over it; their errors are located and complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.diagnostics import Level
from policy_engine.errors import DiagnosticError
from policy_engine.model.gpu_models import normalise_gpu_model
from policy_engine.pricing.catalog import InstanceType, default_catalog, load_catalog
from tests.workloads import PRICING_FIXTURES as FIXTURES

CATALOGS = FIXTURES / "catalogs"
BUNDLED = default_catalog()


#: The excerpts the bundled catalog is generated from (policy_engine/pricing/excerpts/README.md), by date.
FILE_DATES = {"aws": "2026-01-19", "gcp": "2026-02-12", "azure": "2023-12-18"}
EXCERPT_SOURCES = ("offer, published 2026-01-19", "generated 2026-02-12", "azure-retail.2023-12-18.json",
                   "azure-retail.2026-09-06.json")
#: Spot prices come from GCP's pricing.yml, AWS's spot price feed (us-east-1) and, for four Azure sizes, the
#: Retail Prices snapshot of 2026-09-06, each dated by its file.
SPOT_DATES = {"aws": "2026-08-10", "gcp": "2026-02-12", "azure": "2026-09-06"}
#: The Azure sizes priced, on-demand and spot, from azure-retail.2026-09-06.json rather than the 2023 table.
AZURE_2026 = {"Standard_NC4as_T4_v3", "Standard_NC24ads_A100_v4", "Standard_NC40ads_H100_v5", "Standard_ND96asr_v4"}


def _file_date(name: str, provider: str) -> str:
    return SPOT_DATES["azure"] if name in AZURE_2026 else FILE_DATES[provider]


def _iso(date: str | None) -> bool:
    return bool(date) and len(date or "") == 10 and (date or "")[4] == "-"


@pytest.mark.parametrize("name", sorted(BUNDLED.instance_types))
def test_every_bundled_instance_type_says_where_its_figures_come_from_and_when(name: str) -> None:
    inst = BUNDLED.instance_types[name]
    assert inst.gpus > 0 and inst.on_demand > 0
    assert inst.gpu_model in BUNDLED.gpu_models
    # every priced type was read from a provider-format excerpt: the file's own date, the file named
    assert inst.date == _file_date(name, inst.provider), name
    assert inst.source and any(s in inst.source for s in EXCERPT_SOURCES), inst.source
    # a spot price only where a file gave one, dated by it; none is derived from a discount
    if inst.spot is not None:
        assert inst.provider in SPOT_DATES and inst.spot_date == SPOT_DATES[inst.provider] and inst.spot_source
        assert inst.spot < inst.on_demand
        if inst.provider == "aws":
            assert inst.region == "us-east-1"
            assert "AWS spot price feed aws-spot-feed.2026-08-10.json" in inst.spot_source
        if inst.provider == "azure":  # on-demand and spot of one file: the saving compares one day's figures
            assert name in AZURE_2026 and inst.spot_date == inst.date and inst.region == "eastus"
            assert "azure-retail.2026-09-06.json" in inst.source and inst.spot_source == inst.source[:-1] + " Spot'"
    else:
        assert inst.spot_source is None and inst.spot_date is None
    for region, price in (inst.regions or {}).items():
        assert price.date == FILE_DATES[inst.provider] and price.on_demand > 0, region
        assert price.spot is None or price.spot_date == SPOT_DATES[inst.provider], region


def _whole_gpu_instances(model: str) -> list[tuple[str, InstanceType]]:
    return [(n, i) for n, i in BUNDLED.instance_types.items()
            if i.gpu_model == model and i.gpus >= 1 and float(i.gpus).is_integer()]


@pytest.mark.parametrize("name", sorted(BUNDLED.gpu_models))
def test_every_gpu_model_price_is_all_in_per_gpu_of_its_cheapest_whole_gpu_instance(name: str) -> None:
    model = BUNDLED.gpu_models[name]
    assert model.on_demand > 0 and model.source
    whole = _whole_gpu_instances(name)
    if model.accelerator == "tpu":  # sold per chip, host included; no instance types
        assert not whole and model.spot is None
        return
    assert whole, f"{name}: a GPU model price must come from an instance of that model"
    # the cheapest per GPU; at equal price a figure read from a dated file before an "as known" one
    _, cheapest = min(whole, key=lambda item: (item[1].on_demand / item[1].gpus, not _iso(item[1].date), item[0]))
    assert model.on_demand == pytest.approx(cheapest.on_demand / cheapest.gpus, rel=1e-6)
    # its spot price, if any, is the same instance's real spot price per GPU, never a discount
    assert model.spot == (None if cheapest.spot is None else pytest.approx(cheapest.spot / cheapest.gpus))
    assert model.date == cheapest.date


def test_models_without_a_published_price_are_recognised_and_say_why_rather_than_guess() -> None:
    for key in ("B300", "GB200", "MI300X", "RTX-PRO-6000"):
        assert key not in BUNDLED.gpu_models
        assert "price" in BUNDLED.unpriced_gpu_models[key].reason
    for key in ("P100", "P4"):
        assert key not in BUNDLED.gpu_models
    for label in ("nvidia-tesla-p100", "NVIDIA-B300", "NVIDIA-GB200", "AMD-Instinct-MI300X",
                  "NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition"):
        assert normalise_gpu_model(label) in ("P100", "B300", "GB200", "MI300X", "RTX-PRO-6000")


@pytest.mark.parametrize("name", sorted(BUNDLED.unpriced_types))
def test_every_unpriced_type_has_its_hardware_a_reason_and_no_price(name: str) -> None:
    entry = BUNDLED.unpriced_types[name]
    assert name not in BUNDLED.instance_types
    assert entry.gpus > 0 and entry.vcpus > 0 and entry.memory_gib > 0 and entry.reason
    assert entry.gpu_model in BUNDLED.gpu_models or entry.gpu_model in BUNDLED.unpriced_gpu_models
    assert entry.source and "https://" in entry.source and "as known (not read from a file)" in entry.source


def test_the_azure_types_the_catalog_recognises_have_the_hardware_the_importer_would_give_them() -> None:
    from policy_engine.pricing.importers.azure import hardware_table

    table = hardware_table()
    for name, entry in BUNDLED.unpriced_types.items():
        if entry.provider == "azure":
            hw = table[name]  # an imported Retail Prices page prices it with this hardware
            assert (hw.vcpus, hw.memory_gib, hw.gpus, hw.gpu_model) == (
                entry.vcpus, entry.memory_gib, entry.gpus, entry.gpu_model), name


def test_no_bundled_figure_claims_a_date_it_was_not_read_on() -> None:
    undated = "undated: hand-copied, not read from a dated file"
    assert "mixed" in BUNDLED.as_of and "undated" in BUNDLED.as_of
    for key, source in BUNDLED.sources.items():  # a file's own date, or saying it has none
        assert _iso(source.date) or source.date == undated, key
        if not _iso(source.date):  # and what is known and what is not
            assert "What is known" in (source.notes or "") and "What is not" in (source.notes or ""), key
    dated = {s.date for s in BUNDLED.sources.values() if _iso(s.date)}
    assert dated == set(FILE_DATES.values()) | set(SPOT_DATES.values())
    assert BUNDLED.cpu.vcpu_hour_spot is None and BUNDLED.cpu.memory_gib_hour_spot is None
    for label, gpu in BUNDLED.attached_gpus.items():  # a spot price only where a dated file gave one
        assert _iso(gpu.date) or (gpu.date == undated and gpu.spot is None), label
    for name, model in BUNDLED.gpu_models.items():
        assert _iso(model.date) or (model.date == undated and model.accelerator == "tpu"), name


def test_the_l4_attached_price_is_solved_from_the_dated_g2_rows_to_the_digit() -> None:
    l4 = BUNDLED.attached_gpus["nvidia-l4"]
    assert (l4.on_demand, l4.spot, l4.date) == (0.56004024, 0.2231, FILE_DATES["gcp"])
    # hand-checked: g2-standard-8 - g2-standard-4 = 4 vCPUs (with 16 GB); the rest of g2-standard-4 is the L4
    per_vcpu = (0.853624271 - 0.706832255) / 4
    assert l4.on_demand == pytest.approx(0.706832255 - 4 * per_vcpu, abs=1e-8)
    for name in ("g2-standard-48", "g2-standard-96"):  # and every other G2 row agrees
        inst = BUNDLED.instance_types[name]
        assert inst.on_demand == pytest.approx(inst.vcpus * per_vcpu + inst.gpus * l4.on_demand, abs=1e-6)
    assert l4.spot is not None and inst.spot == pytest.approx(96 * (0.340572 - 0.281836) / 4 + 8 * l4.spot, abs=1e-6)


def test_bundled_catalog_covers_the_required_families() -> None:
    names = set(BUNDLED.instance_types) | set(BUNDLED.unpriced_types)
    for family in ("p5.", "p5e.", "p5en.", "p4d.", "p4de.", "p3.", "p3dn.", "g6.", "g6e.", "g5.", "g4dn.",
                   "a2-highgpu-", "a2-megagpu-", "a2-ultragpu-", "a3-highgpu-", "a3-megagpu-", "a3-ultragpu-",
                   "a3-edgegpu-", "g2-standard-", "Standard_NC4as_T4_v3", "_A100_v4", "_H100_v5", "trn1n.",
                   "Standard_ND96asr_v4", "Standard_NV",
                   # the widely used types issue #17 names
                   "p6-b300.", "g7e.", "gr6.", "g6f.", "a4-highgpu-", "g4-standard-", "Standard_ND96isr_H200_v5",
                   "Standard_ND96isr_MI300X_v5", "Standard_ND128isr_NDR_GB200_v6", "Standard_ND96is_H100_v5",
                   "Standard_NCC40ads_H100_v5"):
        assert any(family in n for n in names), family
    for priced in ("gr6.4xlarge", "g6f.large", "trn1n.32xlarge", "p6-b200.48xlarge"):
        assert priced in BUNDLED.instance_types
    assert {"TPU-v4", "TPU-v5e", "TPU-v5p", "TPU-v6e"} <= set(BUNDLED.gpu_models)
    assert 0 < BUNDLED.assumptions.idle_fraction < 1 and BUNDLED.assumptions.idle_rationale


@pytest.mark.parametrize(
    "label",
    ["nvidia-tesla-t4", "nvidia-l4", "nvidia-tesla-a100", "nvidia-a100-80gb", "nvidia-h100-80gb",
     "NVIDIA-A10G", "nvidia-l40s", "nvidia-tesla-v100", "NVIDIA-H200", "tpu-v5-lite-podslice", "tpu-v6e-slice",
     "tpu-v5p-slice", "tpu-v4-podslice"],
)
def test_the_workload_models_gpu_names_are_catalog_keys(label: str) -> None:
    assert normalise_gpu_model(label) in BUNDLED.gpu_models


def test_the_default_catalog_is_loaded_once() -> None:
    assert load_catalog() is load_catalog() is default_catalog()


def test_a_user_catalog_merges_over_the_default() -> None:
    merged = load_catalog(str(CATALOGS / "negotiated.yaml"))
    assert merged.instance_types["g5.xlarge"].on_demand == 0.80  # replaced
    assert merged.instance_types["g5.xlarge"].source == "EDP contract 2026"
    assert merged.instance_types["dgx-a100-onprem"].gpus == 8  # added
    assert merged.instance_types["g5.2xlarge"] == BUNDLED.instance_types["g5.2xlarge"]  # kept
    assert merged.hours_per_month == 720  # scalar overridden
    assert merged.assumptions.idle_fraction == 0.5
    assert merged.assumptions.idle_rationale == BUNDLED.assumptions.idle_rationale  # field-wise override
    assert merged.cpu == BUNDLED.cpu
    assert BUNDLED.hours_per_month == 730  # the default is untouched


def errors_of(name: str) -> DiagnosticError:
    with pytest.raises(DiagnosticError) as info:
        load_catalog(str(CATALOGS / name))
    return info.value


def test_every_error_of_a_user_catalog_is_reported_at_its_line_and_field() -> None:
    exc = errors_of("broken.yaml")
    file = str(CATALOGS / "broken.yaml")
    found = {(d.span.line, d.code): d for d in exc.errors}
    assert all(d.span.file == file for d in exc.errors)
    unknown = found[(2, "E803")]
    assert "hours_per_mnth" in unknown.message and unknown.hint == "did you mean 'hours_per_month'?"
    assert "cpu.vcpu_hour" in found[(4, "E805")].message
    spott = found[(14, "E803")]
    assert 'instance_types["g5.xlarge"].spott' in spott.message and "'spot'" in (spott.hint or "")
    assert 'instance_types["p9.huge"].on_demand is required' in found[(15, "E804")].message
    assert 'instance_types["h.neg"].on_demand' in found[(21, "E805")].message
    assert len(exc.errors) == 5


def test_catalog_errors_render_with_the_offending_line_and_a_caret() -> None:
    text = str(errors_of("broken.yaml"))
    assert f"{CATALOGS / 'broken.yaml'}:2:1: error[E803]" in text
    assert "   2 | hours_per_mnth: 720" in text and "^" in text


def test_invalid_yaml_is_located() -> None:
    (error,) = errors_of("bad-yaml.yaml").errors
    assert error.code == "E801" and (error.span.line, error.span.column) == (2, 28)


def test_a_price_written_twice_is_an_error() -> None:
    (error,) = errors_of("duplicate.yaml").errors
    assert error.code == "E806" and error.span.line == 3 and "first at line 2" in error.message


def test_a_file_that_is_not_a_mapping_or_cannot_be_read_is_an_error(tmp_path: Path) -> None:
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(DiagnosticError) as info:
        load_catalog(str(listing))
    assert info.value.errors[0].code == "E802"
    with pytest.raises(DiagnosticError) as info:
        load_catalog(str(tmp_path / "missing.yaml"))
    assert info.value.errors[0].code == "E401"


def test_spot_above_on_demand_and_an_unknown_gpu_model_are_located_warnings() -> None:
    catalog = load_catalog(str(CATALOGS / "warnings.yaml"))
    found = {d.code: d for d in catalog.warnings}
    assert all(d.level is Level.WARNING for d in catalog.warnings)
    assert found["W807"].span.line == 2
    model = found["W808"]
    assert model.span.line == 3 and "A10GG" in model.message and model.hint == "did you mean 'A10G'?"
    assert catalog.instance_types["g5.xlarge"].spot == 1.5  # priced as written
    assert BUNDLED.warnings == ()
