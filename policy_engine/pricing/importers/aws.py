"""AWS: the EC2 Price List bulk offer file (on-demand) and ``describe-spot-price-history`` output (spot).

Offer file (``https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/<region>/index.json``):
``products[sku]`` has ``productFamily`` and ``attributes`` (``instanceType``, ``vcpu``, ``memory`` "16 GiB",
``gpu``, ``regionCode``, ``operatingSystem``, ``tenancy``, ``preInstalledSw``, ``capacitystatus``,
``licenseModel``); ``terms.OnDemand[sku][offerTermCode].priceDimensions[rateCode].pricePerUnit.USD`` is the
hourly price; ``terms.Reserved`` holds reservations (never taken). A price is taken only for Linux, shared
tenancy, no pre-installed software, capacitystatus ``Used`` — the row a plain on-demand node bills at.
The file's ``publicationDate`` dates every figure.

Spot (``aws ec2 describe-spot-price-history --output json``): ``SpotPriceHistory`` items with
``AvailabilityZone``, ``InstanceType``, ``ProductDescription``, ``SpotPrice`` and ``Timestamp``. Per zone
the latest Linux/UNIX price is kept; a region's spot price is the median of its zones' latest prices (the
notes say how many zones and the range), dated by the latest timestamp used.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ijson

from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.pricing.importers.common import (
    Hardware,
    Imported,
    ImportFailure,
    PriceRow,
    SourceInfo,
    fail,
    iso_date,
    line_of,
    number,
    read_json,
    read_text,
    rounded,
)

#: The accelerator model of an instance family (the offer file gives a count, not a model).
FAMILY_MODELS = {
    "p6-b300": "B300", "p6-b200": "B200", "p6e-gb200": "GB200", "p5": "H100", "p5e": "H200", "p5en": "H200",
    "p4d": "A100", "p4de": "A100-80GB", "p3": "V100", "p3dn": "V100-32GB", "g7e": "RTX-PRO-6000",
    "g6": "L4", "gr6": "L4", "g6f": "L4", "gr6f": "L4", "g6e": "L40S", "g5": "A10G", "g4dn": "T4",
    "inf2": "Inferentia2", "inf1": "Inferentia", "trn1": "Trainium", "trn1n": "Trainium", "trn2": "Trainium2",
}
_WANTED = {"operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used"}
_ZONE = re.compile(r"^([a-z]{2}(?:-gov)?-[a-z]+-\d+)[a-z]$")
_LINUX = ("Linux/UNIX", "Linux/UNIX (Amazon VPC)")


def import_offer(file: str) -> Imported:
    """On-demand Linux prices from an EC2 offer file; see the module docstring for what is taken.

    A region's file runs to hundreds of MB, so it is streamed (ijson), never loaded whole: one pass keeps
    the products worth pricing, a second joins their on-demand terms, a third counts the reserved terms.
    """
    head = _head(file)
    published = _top_string(head, "publicationDate") or ""
    out = Imported(file, "aws offer", SourceInfo(f"aws-offer:{Path(file).name}", str(Path(file)), ""))
    wanted: dict[str, tuple[str, str, float, float, float]] = {}
    products = 0
    for sku, product in _stream(file, "products"):
        products += 1
        if not isinstance(product, dict) or not isinstance(product.get("attributes"), dict):
            raise fail(file, _line_in_file(file, f'"{sku}"'), f"product {sku} has no 'attributes' object")
        kept = _product(sku, product, out, file)
        if kept is not None:
            wanted[sku] = kept
    if not products:
        raise fail(file, 1, "not an AWS Price List offer file: no 'products' object",
                   hint="download .../offers/v1.0/aws/AmazonEC2/current/<region>/index.json")
    if not re.match(r"\d{4}-\d{2}-\d{2}", published):
        raise fail(file, _line_in_file(file, '"publicationDate"'), "the offer file has no publicationDate",
                   hint="the figures must be dated by the file they come from")
    date = iso_date(published)
    offer = f"AWS Price List {_top_string(head, 'offerCode') or 'AmazonEC2'} offer, published {published}"
    out.source = SourceInfo(out.source.key, out.source.url, date,
                            notes=f"{offer} (version {_top_string(head, 'version') or '?'})")
    priced: set[str] = set()
    for sku, terms in _stream(file, "terms.OnDemand"):
        if sku not in wanted:
            continue
        price = _on_demand_price(sku, terms, file)
        priced.add(sku)
        name, region, vcpus, memory, gpus = wanted[sku]
        if price is None:
            out.skip("no on-demand hourly price (sold only reserved or as capacity blocks)")
        elif price <= 0:
            out.skip("on-demand price 0 (not sold on demand here)")
        else:
            model = _family_model(name)
            out.rows.append(PriceRow("aws", name, region, f"{offer}; sku {sku}", date, on_demand=rounded(price),
                                     hardware=Hardware(vcpus, memory, gpus, model if gpus else None)))
    missing = len(wanted) - len(priced)
    if missing:
        out.skip("no on-demand hourly price (sold only reserved or as capacity blocks)", missing)
    reserved = sum(1 for _ in _stream(file, "terms.Reserved"))
    if reserved:
        out.skip("reserved terms (only on-demand prices are taken)", reserved)
    regions = {row.region for row in out.rows}
    out.source = SourceInfo(out.source.key, out.source.url, date, ",".join(sorted(regions)) or None,
                            out.source.notes)
    return out


def _head(file: str) -> str:
    try:
        with open(file, "rb") as handle:
            return handle.read(65536).decode("utf-8", errors="replace")
    except OSError as exc:
        raise ImportFailure([Diagnostic(Span(file, 1), "E401", f"cannot read the file: {exc}")]) from exc


def _top_string(head: str, key: str) -> str | None:
    """A top-level string field; the offer files write them before ``products``."""
    found = re.search(rf'"{key}"\s*:\s*"([^"]*)"', head.split('"products"', 1)[0])
    return found.group(1) if found else None


def _stream(file: str, prefix: str) -> Iterator[tuple[str, Any]]:
    """(key, value) of the object at ``prefix``, one at a time; a JSON error is located at its line."""
    with open(file, "rb") as handle:
        try:
            yield from ijson.kvitems(handle, prefix, use_float=True)
        except ijson.JSONError as exc:
            _check_json(file)
            raise fail(file, 1, f"not JSON: {exc}") from exc


def _check_json(file: str) -> None:
    """Raise the located error of a file that is not JSON (only called once something is wrong)."""
    read_json(file, read_text(file))


def _line_in_file(file: str, needle: str) -> int:
    with open(file, encoding="utf-8", errors="replace") as handle:
        for number_, line in enumerate(handle, 1):
            if needle in line:
                return number_
    return 1


def _product(sku: str, product: dict[str, Any], out: Imported,
             file: str) -> tuple[str, str, float, float, float] | None:
    """(instance type, region, vCPUs, GiB, GPUs) of a product to price, or None (the reason counted)."""
    attrs = product["attributes"]
    family = str(product.get("productFamily", ""))
    if not family.startswith("Compute Instance"):
        out.skip(f"productFamily {family or '(none)'} (not a compute instance)")
        return None
    for key, wanted in _WANTED.items():
        value = attrs.get(key)
        if value != wanted:
            out.skip(f"{key} {value} (only {key} {wanted} is taken)")
            return None
    market = attrs.get("marketoption")
    if market not in (None, "OnDemand"):
        out.skip(f"marketoption {market} (only OnDemand is taken)")
        return None
    name, region = attrs.get("instanceType"), attrs.get("regionCode")
    if not isinstance(name, str) or not name:
        raise fail(file, _line_in_file(file, f'"{sku}"'), f"product {sku} has no instanceType")
    if not isinstance(region, str) or not region:
        out.skip("no regionCode (an offer file older than 2020)")
        return None
    vcpus, memory = number(attrs.get("vcpu")), number(attrs.get("memory"))
    if not vcpus or not memory:
        out.skip("vcpu or memory not given")
        return None
    return name, region, vcpus, memory, number(attrs.get("gpu")) or 0.0


def _on_demand_price(sku: str, terms: Any, file: str) -> float | None:
    if not isinstance(terms, dict):
        return None
    for term in terms.values():
        dimensions = term.get("priceDimensions") if isinstance(term, dict) else None
        if not isinstance(dimensions, dict):
            raise fail(file, _line_in_file(file, f'"{sku}.'), f"on-demand term of {sku} has no priceDimensions")
        for dimension in dimensions.values():
            if not isinstance(dimension, dict) or dimension.get("unit") not in ("Hrs", "Hours", "Hour"):
                continue
            usd = (dimension.get("pricePerUnit") or {}).get("USD")
            value = number(usd)
            if value is None:
                raise fail(file, _line_in_file(file, f'"{sku}.'),
                           f"on-demand price of {sku} is not a number: {usd!r}")
            return value
    return None


def _family_model(name: str) -> str | None:
    family = name.split(".", 1)[0]
    return FAMILY_MODELS.get(family)


def import_spot_history(file: str) -> Imported:
    """Spot prices from ``describe-spot-price-history`` JSON; see the module docstring."""
    text = read_text(file)
    data = read_json(file, text)
    history = data.get("SpotPriceHistory") if isinstance(data, dict) else None
    if not isinstance(history, list):
        raise fail(file, 1, "not describe-spot-price-history output: no 'SpotPriceHistory' list",
                   hint="aws ec2 describe-spot-price-history --product-descriptions Linux/UNIX --output json, "
                        "or the spot price feed https://website.spot.ec2.aws.a2z.com/spot.json")
    latest: dict[tuple[str, str], tuple[str, float]] = {}
    out = Imported(file, "aws spot", SourceInfo(f"aws-spot:{Path(file).name}", str(Path(file)), ""))
    for i, item in enumerate(history):
        if not isinstance(item, dict):
            raise fail(file, line_of(text, '"SpotPriceHistory"'), f"SpotPriceHistory[{i}] is not an object")
        missing = [k for k in ("AvailabilityZone", "InstanceType", "SpotPrice", "Timestamp") if k not in item]
        if missing:
            raise fail(file, _item_line(text, item), f"SpotPriceHistory[{i}] has no {', '.join(missing)}")
        if item.get("ProductDescription", "Linux/UNIX") not in _LINUX:
            out.skip(f"ProductDescription {item.get('ProductDescription')} (only Linux/UNIX is taken)")
            continue
        zone, name, stamp = str(item["AvailabilityZone"]), str(item["InstanceType"]), str(item["Timestamp"])
        price = number(item["SpotPrice"])
        if price is None:
            raise fail(file, _item_line(text, item), f"SpotPriceHistory[{i}].SpotPrice is not a number")
        if not _ZONE.match(zone):
            out.skip("a Local Zone or Wavelength zone (not a region's availability zone)")
            continue
        key = (name, zone)
        if key not in latest or stamp > latest[key][0]:
            if key in latest:
                out.skip("older price of the same zone (the latest is kept)")
            latest[key] = (stamp, price)
        else:
            out.skip("older price of the same zone (the latest is kept)")
    by_region: dict[tuple[str, str], list[tuple[str, str, float]]] = defaultdict(list)
    for (name, zone), (stamp, price) in latest.items():
        match = _ZONE.match(zone)
        assert match is not None
        by_region[(name, match.group(1))].append((zone, stamp, price))
    dates: list[str] = []
    for (name, region), zones in sorted(by_region.items()):
        prices = [p for _, _, p in zones]
        stamp = max(s for _, s, _ in zones)
        dates.append(stamp)
        spread = f"median of the latest prices in {len(zones)} zone(s), {min(prices):g}–{max(prices):g}"
        out.rows.append(PriceRow("aws", name, region, f"describe-spot-price-history {Path(file).name} ({spread})",
                                 iso_date(stamp), spot=rounded(statistics.median(prices))))
    newest = iso_date(max(dates)) if dates else ""
    out.source = SourceInfo(out.source.key, out.source.url, newest,
                            ",".join(sorted({r for _, r in by_region})) or None,
                            "AWS spot prices exported with describe-spot-price-history")
    return out


def _item_line(text: str, item: dict[str, Any]) -> int:
    stamp = item.get("Timestamp")
    return line_of(text, f'"{stamp}"') if isinstance(stamp, str) else 1
