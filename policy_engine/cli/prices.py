"""``policy-engine prices import|diff``: build a catalog from the providers' own price files; compare two.

``import`` reads files downloaded beforehand (never the network) and writes a catalog in the bundled schema;
it prints what it took and what it skipped, and why, on stderr. ``diff`` prints what changed between two
catalogs, flagging changes over a threshold, and exits 1 when anything is flagged. Bad input (a file not in
its format, a catalog that does not validate) is reported located at file:line with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from policy_engine.cli.exits import EXIT_ERROR, EXIT_FINDINGS, EXIT_OK
from policy_engine.errors import DiagnosticError

HELP = "import prices from the providers' files; compare two catalogs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="prices_command", metavar="SUBCOMMAND")
    imp = sub.add_parser("import", help="write a catalog from downloaded provider price files",
                         description="Write a pricing catalog from provider price files downloaded beforehand. "
                                     "See docs/cost-model.md, 'Refreshing prices'.")
    imp.add_argument("--aws", action="append", default=[], metavar="FILE",
                     help="AWS Price List EC2 offer file (index.json of a region); repeatable")
    imp.add_argument("--aws-spot", action="append", default=[], metavar="FILE",
                     help="JSON from `aws ec2 describe-spot-price-history`, or the saved spot price feed "
                          "(https://website.spot.ec2.aws.a2z.com/spot.json); repeatable")
    imp.add_argument("--azure", action="append", default=[], metavar="FILE",
                     help="a saved page of the Azure Retail Prices API; repeatable (one per page)")
    imp.add_argument("--gcp", action="append", default=[], metavar="FILE",
                     help="GCP machine-type price table: pricing.yml layout (YAML) or CSV; repeatable")
    imp.add_argument("--gcp-skus", action="append", default=[], metavar="FILE",
                     help="a saved page of the Cloud Billing Catalog SKUs of Compute Engine; repeatable")
    imp.add_argument("--pricing", metavar="FILE", dest="opencost",
                     help="OpenCost/Kubecost custom pricing JSON (default.json rates) to reprice the catalog with")
    imp.add_argument("--base", metavar="CATALOG", help="merge into this catalog (e.g. the bundled catalog.yaml)")
    imp.add_argument("--only", action="append", default=[], metavar="GLOB",
                     help="take only machine types matching this glob; repeatable")
    imp.add_argument("--include-cpu", action="store_true", help="also take machine types without accelerators")
    imp.add_argument("--out", required=True, metavar="FILE", help="where to write the catalog")
    dif = sub.add_parser("diff", help="what changed between two catalogs",
                         description="Compare two pricing catalogs figure by figure.")
    dif.add_argument("old", metavar="OLD")
    dif.add_argument("new", metavar="NEW")
    dif.add_argument("--threshold", type=float, default=10.0, metavar="PERCENT",
                     help="flag changes of at least this many percent (default 10)")
    dif.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    if args.prices_command == "import":
        return _import(args)
    if args.prices_command == "diff":
        return _diff(args)
    print("policy-engine prices: say 'import' or 'diff' (see --help)", file=sys.stderr)
    return EXIT_ERROR


def _import(args: argparse.Namespace) -> int:
    from policy_engine.pricing.price_import import ImportRequest, run_import, write

    if not (args.aws or args.aws_spot or args.azure or args.gcp or args.gcp_skus or args.opencost):
        print("policy-engine prices import: give at least one of --aws, --aws-spot, --azure, --gcp, --gcp-skus, "
              "--pricing", file=sys.stderr)
        return EXIT_ERROR
    request = ImportRequest(tuple(args.aws), tuple(args.aws_spot), tuple(args.azure), tuple(args.gcp),
                            tuple(args.gcp_skus), args.opencost, args.base, tuple(args.only), args.include_cpu)
    try:
        outcome = run_import(request)
        write(outcome, args.out)
    except DiagnosticError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"policy-engine prices import: cannot write {args.out}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for line in outcome.lines:
        print(line, file=sys.stderr)
    print(f"wrote {args.out}: {outcome.instance_types} instance type(s)", file=sys.stderr)
    return EXIT_OK


def _diff(args: argparse.Namespace) -> int:
    from pathlib import Path

    from policy_engine.pricing.catalog_file import parse_catalog_file
    from policy_engine.pricing.diff import diff, render

    sides = []
    for path in (args.old, args.new):
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"{path}:1:1: error[E-PRICING-READ]: cannot read pricing file: {exc}", file=sys.stderr)
            return EXIT_ERROR
        data, errors, _ = parse_catalog_file(text, path, partial=True)
        if errors:
            print(str(DiagnosticError(errors, {path: text})), file=sys.stderr)
            return EXIT_ERROR
        sides.append(data)
    changes = diff(sides[0], sides[1], args.threshold)
    if args.format == "json":
        print(json.dumps({"threshold_percent": args.threshold, "changes": [c.to_dict() for c in changes]}, indent=2))
    else:
        print(render(changes, args.threshold))
    return EXIT_FINDINGS if any(c.flagged for c in changes) else EXIT_OK
