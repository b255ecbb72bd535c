"""AWS: the spot price feed behind the EC2 Spot pricing page (spot.json), traps included."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from policy_engine.pricing.importers.aws_spot_feed import import_spot_feed
from policy_engine.pricing.importers.common import ImportFailure
from policy_engine.pricing.price_import import ImportRequest, run_import

from .paths import IMPORT_FIXTURES

FEED = "aws-spot-feed.json"
OFFER_EAST = str(IMPORT_FIXTURES / "aws-offer-us-east-1.json")
OFFER_WEST = str(IMPORT_FIXTURES / "aws-offer-us-west-2.json")
FEED_SOURCE = "AWS spot price feed aws-spot-feed.json (each region's price as the EC2 Spot pricing page shows it)"


def test_each_regions_linux_price_is_taken_and_dated_by_the_download(fixture_copy: Callable[[str], str]) -> None:
    imported = import_spot_feed(fixture_copy(FEED))
    rows = {(r.name, r.region): r.spot for r in imported.rows}
    # the linux column, never mswin (0.3167 carries the Windows licence); the Boston Local Zone not a region
    assert rows == {("m5.large", "us-east-1"): 0.0418, ("g5.xlarge", "us-east-1"): 0.5089,
                    ("g6.12xlarge", "us-east-1"): 2.846, ("p6-b300.48xlarge", "us-east-1"): 44.5408,
                    ("g5.xlarge", "us-west-2"): 0.4126, ("p5.48xlarge", "us-west-2"): 31.4421}
    assert all(r.on_demand is None and r.date == "2025-11-29" for r in imported.rows)
    assert imported.source.date == "2025-11-29" and imported.source.region == "us-east-1,us-west-2"
    assert "modification (download) time" in (imported.source.notes or "")


def test_every_trap_is_skipped_and_counted_with_its_reason(fixture_copy: Callable[[str], str]) -> None:
    assert import_spot_feed(fixture_copy(FEED)).skipped == {
        "listed twice in a region at one price (taken once)": 1,                  # g6.12xlarge
        "listed twice in a region at different prices (neither is taken)": 2,     # p5.48xlarge in us-east-1
        "N/A: no Linux spot offering in the region": 1,                           # g5g.xlarge
        "a Local Zone or Wavelength zone, or not a region code (only regions are taken)": 1,
    }


def test_a_fetched_at_dates_an_archived_copy(tmp_path: Path) -> None:
    data = json.loads((IMPORT_FIXTURES / FEED).read_text())
    archived = tmp_path / "spot.json"
    archived.write_text(json.dumps({**data, "fetched_at": "2026-08-10T06:54:02Z"}))
    imported = import_spot_feed(str(archived))
    assert {r.date for r in imported.rows} == {"2026-08-10"}
    assert imported.source.notes == ("AWS spot price feed (https://website.spot.ec2.aws.a2z.com/spot.json), "
                                     "dated by its fetched_at 2026-08-10T06:54:02Z")
    archived.write_text(json.dumps({**data, "fetched_at": "last week"}))
    with pytest.raises(ImportFailure, match="not an ISO date or date-time"):
        import_spot_feed(str(archived))


def test_the_import_joins_feed_spot_to_offer_on_demand_per_region(fixture_copy: Callable[[str], str]) -> None:
    text = run_import(ImportRequest(aws=(OFFER_EAST, OFFER_WEST), aws_spot=(fixture_copy(FEED),))).text
    data: dict[str, Any] = yaml.safe_load(text)
    g5 = data["instance_types"]["g5.xlarge"]
    assert {k: g5[k] for k in ("on_demand", "date", "spot", "spot_source", "spot_date")} == {
        "on_demand": 1.006, "date": "2025-11-20", "spot": 0.5089, "spot_source": FEED_SOURCE,
        "spot_date": "2025-11-29"}
    assert g5["regions"]["us-west-2"] == {
        "on_demand": 1.006, "date": "2025-11-21",
        "source": "AWS Price List AmazonEC2 offer, published 2025-11-21T00:44:10Z; sku W5NQ2ZR8D3JX7K6P",
        "spot": 0.4126, "spot_source": FEED_SOURCE, "spot_date": "2025-11-29"}
    # us-east-1 listed p5.48xlarge at two prices: no spot price there (and us-west-2 has no on-demand price)
    p5 = data["instance_types"]["p5.48xlarge"]
    assert "spot" not in p5 and "regions" not in p5
    # a spot price alone prices nothing: p6-b300 has no on-demand price in any file read
    assert "p6-b300.48xlarge" not in data["instance_types"]
    assert data["gpu_models"]["A10G"] == {"on_demand": 1.006, "spot": 0.5089, "accelerator": "gpu",
                                          "source": "g5.xlarge / 1 (us-east-1, all-in per GPU)", "date": "2025-11-20"}


def test_describe_spot_price_history_output_still_goes_to_its_own_importer() -> None:
    text = run_import(ImportRequest(aws=(OFFER_EAST,), aws_spot=(str(IMPORT_FIXTURES / "aws-spot.json"),))).text
    assert yaml.safe_load(text)["instance_types"]["g5.xlarge"]["spot"] == 0.4512


def test_a_file_of_neither_spot_shape_is_an_error_naming_both(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"config": {"rate": "perhr"}}')
    with pytest.raises(ImportFailure) as info:
        run_import(ImportRequest(aws_spot=(str(wrong),)))
    (error,) = info.value.errors
    assert "no 'SpotPriceHistory' list" in error.message and "spot.json" in (error.hint or "")
    wrong.write_text('{"vers": 0.01, "config": {"regions": [], "valueColumns": ["mswin"], "currencies": ["USD"]}}')
    with pytest.raises(ImportFailure, match="no 'linux' price column"):
        import_spot_feed(str(wrong))


def test_a_price_that_is_not_a_number_is_an_error_at_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "spot.json"
    bad.write_text((IMPORT_FIXTURES / FEED).read_text().replace('"USD":"0.4126"', '"USD":"cheap"'))
    with pytest.raises(ImportFailure) as info:
        import_spot_feed(str(bad))
    (error,) = info.value.errors
    assert error.span.line == 20 and "'cheap'" in error.message and "us-west-2" in error.message
