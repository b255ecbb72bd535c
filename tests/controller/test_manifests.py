"""The controller's install: least-privilege RBAC derived from the idle actions its policies declare."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from policy_engine.cli.main import main
from policy_engine.compiler import compile_text
from policy_engine.controller.manifests import Options, build, cluster_rules
from policy_engine.engine import load_engine

from .scenario import FIXTURES

REPO = Path(__file__).resolve().parents[2]


def _rules(policy_text: str) -> list[dict[str, object]]:
    compiled = compile_text(policy_text, "p.policy")
    assert compiled.policy_set is not None, compiled.diagnostics
    return cluster_rules(compiled.policy_set)


def _verbs(rules: list[dict[str, object]], group: str, resource: str) -> set[str]:
    return {v for r in rules if group in r["apiGroups"] and resource in r["resources"]  # type: ignore[operator]
            for v in r["verbs"]}  # type: ignore[attr-defined]


BASE = 'policy "p" {\n  match {\n    kinds workloads\n  }\n  idle gpu_utilisation < 5% for 1h%s\n}\n'


def test_report_only_policies_grant_no_write_on_workloads() -> None:
    rules = _rules(BASE.replace("%s", ""))
    assert _verbs(rules, "apps", "deployments") == {"get", "list", "watch"}
    assert _verbs(rules, "apps", "deployments/scale") == set()
    assert _verbs(rules, "", "pods") == {"get", "list", "watch"}
    assert _verbs(rules, "events.k8s.io", "events") == set()
    assert {"create", "patch", "delete"} <= _verbs(rules, "wgpolicyk8s.io", "policyreports")


@pytest.mark.parametrize(("then", "scale", "delete"), [
    (" then notify", False, False),
    (" then stop after 30m", True, False),
    (" then stop after 30m, delete_pods", True, True),
])
def test_actions_grant_what_they_use(then: str, scale: bool, delete: bool) -> None:
    rules = _rules(BASE.replace("%s", then))
    assert "patch" in _verbs(rules, "kubeflow.org", "notebooks")  # notices are annotations
    assert ("patch" in _verbs(rules, "apps", "deployments/scale")) is scale
    assert ("delete" in _verbs(rules, "", "pods")) is delete
    assert _verbs(rules, "events.k8s.io", "events") == {"create"}
    assert "patch" not in _verbs(rules, "apps", "daemonsets")  # no stop mechanism: never written


def test_lease_access_is_namespaced_and_named() -> None:
    engine = load_engine([FIXTURES / "policies"])
    objects = dict((obj["kind"], obj) for _, obj in build(Options(namespace="gov"), engine.policies))
    role = objects["Role"]
    assert role["metadata"]["namespace"] == "gov"
    assert {"get", "update"} == set(role["rules"][1]["verbs"]) and role["rules"][1]["resourceNames"]
    deployment = objects["Deployment"]["spec"]["template"]["spec"]
    assert deployment["serviceAccountName"] == "policy-engine-controller"
    assert deployment["containers"][0]["args"][:2] == ["controller", "--in-cluster"]


def test_deploy_tree_is_the_command_output(tmp_path: Path) -> None:
    """deploy/controller is generated (`make deploy-manifests`); the policies ConfigMap is a snapshot of
    policies/ taken then, so policy authors need not regenerate it: every other file must match."""
    assert main(["controller-manifests", "--out-dir", str(tmp_path)]) == 0
    for path in sorted(tmp_path.iterdir()):
        if path.name == "controller-policies.yaml":
            continue
        committed = REPO / "deploy" / "controller" / path.name
        assert committed.read_text() == path.read_text(), f"deploy/controller/{path.name} is stale: " \
            "run `make deploy-manifests`"
    assert list(yaml.safe_load_all((tmp_path / "controller-settings.yaml").read_text()))


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (Debian package kubernetes-client)")
def test_kubectl_accepts_the_manifests(tmp_path: Path) -> None:
    """``kubectl apply --dry-run=client --validate=strict`` against the fake server's real OpenAPI schema."""
    pytest.importorskip("kubernetes_validate", reason="kubernetes-validate provides the API schema kubectl checks")
    from tests.cluster.fake_apiserver import running
    from tests.cluster.openapi_proto import document

    engine = load_engine([FIXTURES / "policies"])
    text = "".join(f"---\n{yaml.safe_dump(obj)}" for _, obj in build(Options(act=True), engine.policies))
    with running(document()) as server:
        config = tmp_path / "kubeconfig"
        config.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": server.url}}],
            "users": [{"name": "fake", "user": {"token": "unused"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}))
        assert KUBECTL is not None
        result = subprocess.run([KUBECTL, "--kubeconfig", str(config), "--cache-dir", str(tmp_path / "cache"),
                                 "apply", "--dry-run=client", "--validate=strict", "-f", "-"],
                                input=text, capture_output=True, text=True, timeout=120,
                                env={**os.environ, "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(dry run)") == text.count("\n---\n") + 1


def test_the_ledger_gets_a_volume_and_one_writer(tmp_path: Path) -> None:
    """The default install keeps the usage ledger on a ReadWriteOnce claim, mounted where the settings'
    ``ledger.path`` points; one SQLite writer means one replica, replaced with Recreate (never two pods
    attaching the volume during a rollout). ``--no-ledger`` keeps the two-replica standby without one."""
    assert main(["controller-manifests", "--out-dir", str(tmp_path), "--ledger-size", "2Gi",
                 "--storage-class", "gp3"]) == 0
    claim = yaml.safe_load((tmp_path / "controller-ledger.yaml").read_text())
    assert claim["kind"] == "PersistentVolumeClaim" and claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi" and claim["spec"]["storageClassName"] == "gp3"
    deployment = yaml.safe_load((tmp_path / "controller-deployment.yaml").read_text())["spec"]
    assert deployment["replicas"] == 1 and deployment["strategy"] == {"type": "Recreate"}
    pod = deployment["template"]["spec"]
    volume = next(v for v in pod["volumes"] if "persistentVolumeClaim" in v)
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"])
    assert not mount.get("readOnly") and pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsUser"]
    settings_text = yaml.safe_load((tmp_path / "controller-settings.yaml").read_text())["data"]["controller.yaml"]
    from policy_engine.controller.settings import parse_settings

    ledger_path = parse_settings(settings_text, "controller.yaml").ledger.path
    assert ledger_path is not None and ledger_path.startswith(mount["mountPath"] + "/")
    assert "controller-ledger.yaml" in (tmp_path / "kustomization.yaml").read_text()

    bare = tmp_path / "bare"
    assert main(["controller-manifests", "--out-dir", str(bare), "--no-ledger"]) == 0
    assert not (bare / "controller-ledger.yaml").exists()
    spec = yaml.safe_load((bare / "controller-deployment.yaml").read_text())["spec"]
    assert spec["replicas"] == 2 and "strategy" not in spec
    assert parse_settings(yaml.safe_load((bare / "controller-settings.yaml").read_text())["data"]["controller.yaml"],
                          "c.yaml").ledger.path is None
