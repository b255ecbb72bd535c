"""``policy-engine controller-manifests``: the objects that install the controller (RBAC from the policies)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from policy_engine.cli.exits import EXIT_ERROR, EXIT_OK

HELP = "print the Kubernetes manifests that install the controller"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from policy_engine.webhook.manifests import DEFAULT_IMAGE

    parser.add_argument("--namespace", default="policy-engine", help="namespace (default: %(default)s)")
    parser.add_argument("--image", default=DEFAULT_IMAGE, help="container image (default: %(default)s)")
    parser.add_argument("--policies", action="append", default=[], metavar="DIR",
                        help="policy files or folders, found and compiled exactly as `check --policies` does "
                             "(recursively, with imports); the ConfigMap ships that set and the RBAC grants only "
                             "what its idle actions need (repeatable; default: the bundled library)")
    parser.add_argument("--act", action="store_true", help="settings with idle actions on (default: dry run)")
    ledger = parser.add_mutually_exclusive_group()
    ledger.add_argument("--ledger-size", default="1Gi", metavar="SIZE",
                        help="PersistentVolumeClaim of the usage ledger (default: %(default)s); with a ledger the "
                             "controller runs one replica with the Recreate strategy (one SQLite writer)")
    ledger.add_argument("--no-ledger", action="store_true",
                        help="no ledger (no usage history, no budget alerts): two replicas, a standby leader")
    parser.add_argument("--storage-class", metavar="NAME", help="StorageClass of the ledger's claim "
                                                                 "(default: the cluster's default)")
    parser.add_argument("--out-dir", metavar="DIR", help="write one file per object group instead of printing")


def run(args: argparse.Namespace) -> int:
    from policy_engine.bundled import bundled_policies_dir
    from policy_engine.cli.manifests import compiled_layout
    from policy_engine.controller.manifests import Options, build, dump
    from policy_engine.errors import ManifestError

    try:
        # compiled first, found as check finds them, laid out as webhook-manifests lays its set out
        compiled = compiled_layout("controller-manifests", args.policies or [bundled_policies_dir()], None)
    except (ManifestError, OSError) as exc:
        print(f"policy-engine controller-manifests: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if compiled is None:
        return EXIT_ERROR
    layout, policies = compiled
    objects = build(Options(namespace=args.namespace, image=args.image, policies=layout, act=args.act,
                            ledger_size=None if args.no_ledger else args.ledger_size,
                            storage_class=args.storage_class), policies)
    if args.out_dir:
        folder = Path(args.out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        groups: dict[str, list[dict[str, object]]] = {}
        for name, obj in objects:
            groups.setdefault(name, []).append(obj)
        for name, objs in groups.items():
            (folder / name).write_text(dump(objs), encoding="utf-8")
            print(folder / name)
        kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                         "resources": list(groups)}
        (folder / "kustomization.yaml").write_text(dump([kustomization]), encoding="utf-8")
        print(folder / "kustomization.yaml")
        return EXIT_OK
    sys.stdout.write(dump([obj for _, obj in objects]))
    return EXIT_OK
