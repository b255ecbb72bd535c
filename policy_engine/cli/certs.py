"""``policy-engine certs``: a CA and a serving certificate for the webhook Service, as four PEM files."""

from __future__ import annotations

import argparse
import sys

from policy_engine.cli.exits import EXIT_ERROR, EXIT_OK

HELP = "create a CA and serving certificate for the webhook"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--service", default="policy-engine",
                        help="the webhook Service name (default: %(default)s)")
    parser.add_argument("--namespace", default="policy-engine",
                        help="the namespace the webhook runs in (default: %(default)s)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder for ca.crt, ca.key, tls.crt, tls.key")
    parser.add_argument("--days", type=int, default=365, help="validity in days (default: %(default)s)")
    parser.add_argument("--localhost", action="store_true",
                        help="also valid for localhost and 127.0.0.1 (local trials and tests)")
    parser.add_argument("--force", action="store_true", help="replace files already in --out")


def run(args: argparse.Namespace) -> int:
    from policy_engine.webhook.certs import generate, write

    if args.days < 1:
        print("policy-engine certs: error: --days must be at least 1", file=sys.stderr)
        return EXIT_ERROR
    bundle = generate(args.service, args.namespace, days=args.days, localhost=args.localhost)
    try:
        paths = write(bundle, args.out, overwrite=args.force)
    except (FileExistsError, OSError) as exc:
        print(f"policy-engine certs: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for path in paths:
        print(path)
    names = ", ".join((*bundle.dns_names, *bundle.ip_addresses))
    print(f"serving certificate valid {args.days} days for: {names}", file=sys.stderr)
    return EXIT_OK
