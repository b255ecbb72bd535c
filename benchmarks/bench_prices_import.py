"""How fast and how big `prices import` is on an AWS offer file the size of a region's.

Usage: .venv/bin/python benchmarks/bench_prices_import.py [--products N] [--repeat R]

Writes a synthetic EC2 offer file in the Price List layout (N products across operating systems, tenancies,
pre-installed software and capacity statuses, each with an on-demand term and a reserved term, as in a real
regional file; about 2.4 KB per product) to a temporary directory, then runs the importer on it in a fresh
subprocess R times and prints wall time, throughput and the peak resident memory (VmHWM). The importer
streams the file (ijson), so memory stays flat as the file grows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_OS = ("Linux", "Windows", "RHEL", "SUSE")
_TENANCY = ("Shared", "Dedicated", "Host")
_SW = ("NA", "SQL Std", "SQL Web")
_CAPACITY = ("Used", "UnusedCapacityReservation", "AllocatedCapacityReservation")
_SIZES = ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge")
_FAMILIES = ("g5", "g6", "g6e", "p4d", "p5", "m5", "c5", "r5", "m6i", "c6i", "r6i", "m7i", "c7i", "t3")


def offer(products: int) -> dict[str, object]:
    prods: dict[str, object] = {}
    on_demand: dict[str, object] = {}
    reserved: dict[str, object] = {}
    for i in range(products):
        sku = f"SKU{i:010d}"
        family, size = _FAMILIES[i % len(_FAMILIES)], _SIZES[(i // len(_FAMILIES)) % len(_SIZES)]
        variant = i // (len(_FAMILIES) * len(_SIZES))
        attrs = {
            "servicecode": "AmazonEC2", "location": "US East (N. Virginia)", "locationType": "AWS Region",
            "instanceType": f"{family}.{size}", "currentGeneration": "Yes", "instanceFamily": "GPU instance",
            "vcpu": str(4 << (i % 5)), "physicalProcessor": "AMD EPYC 7R32", "memory": f"{16 << (i % 5)} GiB",
            "storage": "1 x 250 NVMe SSD", "networkPerformance": "Up to 10 Gigabit", "tenancy": _TENANCY[variant % 3],
            "operatingSystem": _OS[(variant // 3) % 4], "licenseModel": "No License required",
            "usagetype": f"BoxUsage:{family}.{size}", "operation": "RunInstances",
            "capacitystatus": _CAPACITY[(variant // 12) % 3], "gpu": str(1 + i % 8) if family[0] in "gp" else None,
            "marketoption": "OnDemand", "preInstalledSw": _SW[(variant // 36) % 3], "regionCode": "us-east-1",
            "servicename": "Amazon Elastic Compute Cloud",
        }
        prods[sku] = {"sku": sku, "productFamily": "Compute Instance",
                      "attributes": {k: v for k, v in attrs.items() if v is not None}}
        dim = {"rateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7", "description": "$1.006 per On Demand Linux Instance Hour",
               "beginRange": "0", "endRange": "Inf", "unit": "Hrs", "pricePerUnit": {"USD": f"{1 + i % 97 / 10:.10f}"},
               "appliesTo": []}
        on_demand[sku] = {f"{sku}.JRTCKXETXF": {"offerTermCode": "JRTCKXETXF", "sku": sku,
                                                 "effectiveDate": "2025-11-01T00:00:00Z",
                                                 "priceDimensions": {dim["rateCode"]: dim}, "termAttributes": {}}}
        reserved_dim = {**dim, "pricePerUnit": {"USD": "0.63"}}
        reserved[sku] = {f"{sku}.4NA7Y494T4": {"offerTermCode": "4NA7Y494T4", "sku": sku,
                                                "effectiveDate": "2025-11-01T00:00:00Z",
                                                "priceDimensions": {dim["rateCode"]: reserved_dim},
                                                "termAttributes": {"LeaseContractLength": "1yr",
                                                                   "OfferingClass": "standard",
                                                                   "PurchaseOption": "No Upfront"}}}
    return {"formatVersion": "v1.0", "offerCode": "AmazonEC2", "version": "20251120192413",
            "publicationDate": "2025-11-20T19:24:13Z", "products": prods,
            "terms": {"OnDemand": on_demand, "Reserved": reserved}}


_CHILD = """
import sys, time
from policy_engine.pricing.price_import import ImportRequest, run_import
start = time.perf_counter()
outcome = run_import(ImportRequest(aws=(sys.argv[1],), include_cpu=True))
took = time.perf_counter() - start
# VmHWM: this process's own peak (ru_maxrss would carry the parent's over the exec)
status = open("/proc/self/status").read().split("VmHWM:")[1]
peak = int(status.split()[0]) / 1024
print(f"{took:.3f} {peak:.1f} {outcome.instance_types}")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "index.json"
        path.write_text(json.dumps(offer(args.products), indent=2))
        size = path.stat().st_size / 2**20
        print(f"synthetic offer file: {args.products:,} products, {size:.1f} MiB")
        runs = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], check=True, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            took, peak, types = out.stdout.split()
            runs.append((float(took), float(peak), wall))
        best = min(runs)
        print(f"import: {best[0]:.2f} s in-process (best of {args.repeat}; {best[2]:.2f} s with interpreter start), "
              f"{args.products / best[0]:,.0f} products/s, {types} instance types written")
        print(f"peak RSS {best[1]:.0f} MiB for a {size:.0f} MiB file (streamed: flat as the file grows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
