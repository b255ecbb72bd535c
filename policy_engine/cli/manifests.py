"""``policy-engine webhook-manifests``: the objects that install the webhook, as YAML or a kustomize tree."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from policy_engine.cli.exits import EXIT_ERROR, EXIT_OK
from policy_engine.errors import ManifestError

HELP = "print the Kubernetes manifests that install the webhook"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from policy_engine.webhook.manifests import APP, DEFAULT_IMAGE

    parser.add_argument("--namespace", default=APP, help="namespace of the webhook (default: %(default)s)")
    parser.add_argument("--image", default=DEFAULT_IMAGE, help="container image (default: %(default)s)")
    ca = parser.add_mutually_exclusive_group()
    ca.add_argument("--ca-bundle", metavar="FILE",
                    help="PEM of the CA that signed the serving certificate (the TLS Secret is made elsewhere)")
    ca.add_argument("--certs-dir", metavar="DIR",
                    help="output of `policy-engine certs`: adds the TLS Secret and the caBundle")
    parser.add_argument("--policies", action="append", default=[], metavar="DIR",
                        help="policy folder or file for the ConfigMap (repeatable; default: the bundled library)")
    parser.add_argument("--failure-policy", choices=["Ignore", "Fail"], default="Ignore",
                        help="what the API server does when the webhook cannot answer (default: %(default)s)")
    parser.add_argument("--timeout-seconds", type=int, default=5,
                        help="how long the API server waits for an answer, 1-30 (default: %(default)s)")
    parser.add_argument("--out-dir", metavar="DIR",
                        help="write a kustomize tree (one file per object group + kustomization.yaml) instead "
                             "of printing; kustomize makes the TLS Secret and caBundle from DIR/certs/ "
                             "(`policy-engine certs --out DIR/certs`)")


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def run(args: argparse.Namespace) -> int:
    from policy_engine.bundled import bundled_policies_dir
    from policy_engine.webhook.manifests import Options, build, dump, read_policies, write_tree

    try:
        if args.out_dir and (args.ca_bundle or args.certs_dir):
            raise ValueError("--out-dir takes the certificates from DIR/certs/; drop --ca-bundle/--certs-dir")
        ca_bundle = tls_cert = tls_key = None
        if args.ca_bundle:
            ca_bundle = _read(args.ca_bundle, "--ca-bundle")
        elif args.certs_dir:
            folder = Path(args.certs_dir)
            ca_bundle = _read(str(folder / "ca.crt"), "--certs-dir file")
            tls_cert = _read(str(folder / "tls.crt"), "--certs-dir file")
            tls_key = _read(str(folder / "tls.key"), "--certs-dir file")
        policies = read_policies(args.policies or [bundled_policies_dir()])
        opts = Options(namespace=args.namespace, image=args.image, ca_bundle=ca_bundle, tls_cert=tls_cert,
                       tls_key=tls_key, policies=policies, failure_policy=args.failure_policy,
                       timeout_seconds=args.timeout_seconds)
        objects = build(opts)
    except (ValueError, ManifestError) as exc:
        print(f"policy-engine webhook-manifests: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.out_dir:
        for path in write_tree(objects, args.out_dir, args.namespace):
            print(path)
        return EXIT_OK
    sys.stdout.write(dump([obj for _, obj in objects]))
    return EXIT_OK
