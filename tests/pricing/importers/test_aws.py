"""AWS: the EC2 offer file (on-demand) and describe-spot-price-history (spot), traps included."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.pricing.importers.aws import import_offer, import_spot_history
from policy_engine.pricing.importers.common import Hardware, ImportFailure

from .paths import IMPORT_FIXTURES

OFFER = str(IMPORT_FIXTURES / "aws-offer-us-east-1.json")
SPOT = str(IMPORT_FIXTURES / "aws-spot.json")


def test_only_linux_shared_on_demand_rows_are_taken_with_the_files_date() -> None:
    imported = import_offer(OFFER)
    rows = {r.name: r for r in imported.rows}
    assert set(rows) == {"g5.xlarge", "p5.48xlarge", "m5.large"}  # m5.large is dropped later (no GPU)
    g5 = rows["g5.xlarge"]
    # the Linux / Shared / NA / Used row: $1.006, not Windows $1.19, Dedicated $1.107, SQL $1.486
    # nor the reserved $0.634
    assert g5.on_demand == 1.006 and g5.spot is None
    assert g5.region == "us-east-1" and g5.date == "2025-11-20"
    assert g5.hardware == Hardware(4, 16, 1, "A10G")
    assert "published 2025-11-20T19:24:13Z" in g5.source and "GT8VJ3AQJ9F7Y6UU" in g5.source
    assert rows["p5.48xlarge"].hardware == Hardware(192, 2048, 8, "H100")
    assert rows["p5.48xlarge"].on_demand == 55.04
    assert imported.source.date == "2025-11-20" and imported.source.region == "us-east-1"


def test_every_trap_is_skipped_and_counted_with_its_reason() -> None:
    skipped = import_offer(OFFER).skipped
    assert skipped == {
        "reserved terms (only on-demand prices are taken)": 2,
        "operatingSystem Windows (only operatingSystem Linux is taken)": 1,
        "tenancy Dedicated (only tenancy Shared is taken)": 1,
        "preInstalledSw SQL Std (only preInstalledSw NA is taken)": 1,
        "capacitystatus UnusedCapacityReservation (only capacitystatus Used is taken)": 1,
        "no on-demand hourly price (sold only reserved or as capacity blocks)": 1,
        "productFamily Data Transfer (not a compute instance)": 1,
    }


def test_spot_is_the_median_of_each_zones_latest_linux_price() -> None:
    imported = import_spot_history(SPOT)
    rows = {(r.name, r.region): r for r in imported.rows}
    east = rows[("g5.xlarge", "us-east-1")]
    # latest per zone: 1a 0.4512 (not the older 0.47), 1b 0.4021, 1c 0.5003 → median 0.4512;
    # Windows and the Boston Local Zone are not taken
    assert east.spot == 0.4512 and east.on_demand is None
    assert east.date == "2025-11-28"
    assert "3 zone(s), 0.4021–0.5003" in east.source
    assert rows[("g5.xlarge", "us-west-2")].spot == pytest.approx((0.3894 + 0.4126) / 2)
    assert rows[("p5.48xlarge", "us-west-2")].spot == 31.4421
    assert imported.skipped == {
        "older price of the same zone (the latest is kept)": 1,
        "ProductDescription Windows (only Linux/UNIX is taken)": 1,
        "a Local Zone or Wavelength zone (not a region's availability zone)": 1,
    }


def test_a_file_that_is_not_json_is_an_error_at_its_line() -> None:
    with pytest.raises(ImportFailure) as info:
        import_offer(str(IMPORT_FIXTURES / "aws-not-json.json"))
    (error,) = info.value.errors
    assert error.span.line == 5 and error.code == "E809" and "not JSON" in error.message


def test_a_json_file_of_another_shape_is_an_error_naming_what_is_missing(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"SpotPriceHistory": []}')
    with pytest.raises(ImportFailure, match="no 'products' object"):
        import_offer(str(wrong))
    with pytest.raises(ImportFailure, match="no 'SpotPriceHistory' list"):
        import_spot_history(OFFER)


def test_an_offer_without_a_publication_date_is_refused(tmp_path: Path) -> None:
    text = (IMPORT_FIXTURES / "aws-offer-us-west-2.json").read_text().replace(
        '"publicationDate" : "2025-11-21T00:44:10Z",', "")
    undated = tmp_path / "undated.json"
    undated.write_text(text)
    with pytest.raises(ImportFailure, match="no publicationDate"):
        import_offer(str(undated))
