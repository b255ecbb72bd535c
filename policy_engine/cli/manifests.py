"""``policy-engine webhook-manifests``: the objects that install the webhook, as YAML or a kustomize tree."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from policy_engine.cli.exits import EXIT_ERROR, EXIT_OK
from policy_engine.diagnostics import render_all
from policy_engine.errors import DiagnosticError, ManifestError
from policy_engine.wording import count

if TYPE_CHECKING:
    from policy_engine.compiler.program import PolicySet
    from policy_engine.webhook.layout import PolicyLayout

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
    parser.add_argument("--policies", action="append", default=[], metavar="FILE_OR_DIR",
                        help="policy files or folders, found and compiled exactly as `check --policies` does "
                             "(recursively, with imports); the ConfigMap ships that set (repeatable; default: "
                             "the bundled library)")
    parser.add_argument("--pricing", metavar="FILE",
                        help="pricing catalog the policies are compiled against (default: the bundled one, "
                             "as `serve` uses)")
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


def compiled_layout(command: str, paths: list[str], pricing: str | None) -> tuple[PolicyLayout, PolicySet] | None:
    """Compile the set first, with the very function ``check`` uses; only a set that compiles, and holds
    at least one policy, is shipped (webhook-manifests and controller-manifests alike). Diagnostics go
    to stderr (None: exit 2). Returns the files as the pod mounts them and the compiled set."""
    from policy_engine.compiler import compile_policies
    from policy_engine.pricing.catalog import load_catalog
    from policy_engine.webhook.layout import policy_layout

    def fail(message: str) -> None:
        print(f"policy-engine {command}: error: {message}", file=sys.stderr)

    try:
        catalog = load_catalog(pricing)
    except DiagnosticError as exc:
        print(render_all(exc.diagnostics, exc.sources), file=sys.stderr)
        fail("the pricing file has errors; nothing rendered")
        return None
    compiled = compile_policies(paths, catalog=catalog)
    if compiled.diagnostics:
        print(render_all(compiled.diagnostics, compiled.sources), file=sys.stderr)
    if compiled.policy_set is None:
        fail(f"{count(len(compiled.errors), 'error')} in the policies; nothing rendered (the pod would "
             f"refuse this set)")
        return None
    if not compiled.policy_set.policies:
        fail(f"no policies in {', '.join(paths)}: an empty set would enforce nothing; nothing rendered")
        return None
    return policy_layout(paths, compiled.sources), compiled.policy_set


def run(args: argparse.Namespace) -> int:
    from policy_engine.bundled import bundled_policies_dir
    from policy_engine.webhook.manifests import Options, build, dump, write_tree

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
        compiled = compiled_layout("webhook-manifests", args.policies or [bundled_policies_dir()], args.pricing)
        if compiled is None:
            return EXIT_ERROR
        policies, _ = compiled
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
