"""``policy-engine webhook-manifests`` and ``deploy/``: objects kubectl accepts, with the facts the webhook needs.

How kubectl is exercised without a cluster: ``kubectl apply --dry-run=client`` still needs an API server
for discovery (REST mapping of each kind) and downloads ``/openapi/v2`` to validate every object
client-side (unknown fields, wrong types) when the server does not offer server-side field validation.
``fake_apiserver`` serves discovery for the kinds we render and the real API definitions of Kubernetes
1.32 (from the ``kubernetes-validate`` package) encoded as the protobuf kubectl reads, on 127.0.0.1 with
a throw-away kubeconfig. A deliberately broken manifest must be rejected, which shows that validation
ran rather than being skipped.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from policy_engine.cli.main import main
from policy_engine.engine import load_engine
from policy_engine.model.kinds import KNOWN_KINDS
from policy_engine.webhook.layout import POLICY_DIR, PolicyLayout
from policy_engine.webhook.manifests import (
    WORKLOAD_RESOURCES,
    Options,
    build,
    webhook_rules,
)
from tests.cluster.fake_apiserver import FakeApiServer, running

REPO = Path(__file__).resolve().parents[2]
KUBECTL = shutil.which("kubectl")


def _kubectl_minor() -> int | None:
    if KUBECTL is None:
        return None
    try:
        out = subprocess.run([KUBECTL, "version", "--client", "-o", "json"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
        return int("".join(ch for ch in json.loads(out)["clientVersion"]["minor"] if ch.isdigit()))
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
        return None


KUBECTL_MINOR = _kubectl_minor()
needs_kubectl = pytest.mark.skipif(
    KUBECTL_MINOR is None or KUBECTL_MINOR < 25,
    reason=f"needs kubectl >= 1.25 for --validate=strict (found: {KUBECTL or 'none'}, minor {KUBECTL_MINOR})",
)

EXPECTED_KINDS = {
    "Namespace": "v1", "ServiceAccount": "v1", "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1", "ConfigMap": "v1", "Secret": "v1",
    "Deployment": "apps/v1", "PodDisruptionBudget": "policy/v1", "Service": "v1",
    "PriorityClass": "scheduling.k8s.io/v1", "NetworkPolicy": "networking.k8s.io/v1",
    "ValidatingWebhookConfiguration": "admissionregistration.k8s.io/v1",
}


def _render(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    assert main(["webhook-manifests", *args]) == 0
    return [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]


def _one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("certs")
    assert main(["certs", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeApiServer, Path]]:
    pytest.importorskip("kubernetes_validate", reason="kubernetes-validate provides the API schema kubectl checks")
    from tests.cluster.openapi_proto import document

    home = tmp_path_factory.mktemp("kube")
    with running(document()) as server:
        config = home / "kubeconfig"
        config.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": server.url}}],
            "users": [{"name": "fake", "user": {"token": "unused"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        }))
        yield server, config


def _kubectl_apply(config: Path, text: str) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(config), "--cache-dir", str(config.parent / "cache"), "apply",
         "--dry-run=client", "--validate=strict", "-f", "-"],
        input=text, capture_output=True, text=True, timeout=120,
        env={**os.environ, "HOME": str(config.parent)},
    )


def test_every_workload_kind_is_registered() -> None:
    assert WORKLOAD_RESOURCES.keys() >= KNOWN_KINDS
    resources = {(g, r) for rule in webhook_rules() for g in rule["apiGroups"] for r in rule["resources"]}
    assert {("", "pods"), ("apps", "deployments"), ("batch", "jobs"), ("kubeflow.org", "pytorchjobs"),
            ("ray.io", "rayjobs"), ("serving.kserve.io", "inferenceservices")} <= resources
    for rule in webhook_rules():
        scale = all(r.endswith("/scale") for r in rule["resources"])
        assert rule["operations"] == (["UPDATE"] if scale else ["CREATE", "UPDATE"])


def test_documents_have_the_facts_the_webhook_needs(capsys: pytest.CaptureFixture[str], certs: Path) -> None:
    docs = _render(capsys, "--namespace", "gov", "--certs-dir", str(certs), "--timeout-seconds", "7")
    assert {d["kind"]: d["apiVersion"] for d in docs} == EXPECTED_KINDS
    for d in docs:
        assert d["metadata"]["name"]
        if d["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding", "ValidatingWebhookConfiguration",
                             "PriorityClass"):
            assert d["metadata"]["namespace"] == "gov"

    hook = _one(docs, "ValidatingWebhookConfiguration")["webhooks"][0]
    assert hook["admissionReviewVersions"] == ["v1"] and hook["sideEffects"] == "None"
    assert hook["failurePolicy"] == "Ignore" and hook["timeoutSeconds"] == 7
    assert base64.b64decode(hook["clientConfig"]["caBundle"]) == (certs / "ca.crt").read_bytes()
    assert hook["clientConfig"]["service"] == {"name": "policy-engine", "namespace": "gov", "path": "/validate",
                                               "port": 443}
    excluded = hook["namespaceSelector"]["matchExpressions"][0]
    assert excluded["operator"] == "NotIn" and set(excluded["values"]) == {"gov", "kube-system"}

    secret = _one(docs, "Secret")
    assert base64.b64decode(secret["data"]["tls.key"]) == (certs / "tls.key").read_bytes()

    role = _one(docs, "ClusterRole")["rules"]
    assert role == [{"apiGroups": [""], "resources": ["pods", "nodes", "namespaces"],
                     "verbs": ["get", "list", "watch"]},
                    {"apiGroups": ["apps"], "resources": ["deployments", "replicasets", "statefulsets"],
                     "verbs": ["get"]}]

    deployment = _one(docs, "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert deployment["spec"]["replicas"] == 2
    spread = {c["topologyKey"]: c["whenUnsatisfiable"] for c in spec["topologySpreadConstraints"]}
    assert spread["kubernetes.io/hostname"] == "DoNotSchedule"
    assert spec["priorityClassName"] == _one(docs, "PriorityClass")["metadata"]["name"]
    assert container["args"][container["args"].index("--metrics-port") + 1] == "9090"
    ingress = _one(docs, "NetworkPolicy")["spec"]["ingress"]
    assert [r["ports"][0]["port"] for r in ingress] == [8443, 9090]
    assert "from" not in ingress[0] and ingress[1]["from"]  # the API server is not selectable: 8443 stays open
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["args"][:3] == ["serve", "--policies", "/etc/policy-engine/policies"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["policies"]["configMap"]["name"] == _one(docs, "ConfigMap")["metadata"]["name"]
    env = {e["name"]: e.get("value") for e in container["env"]}  # the start-up cache must be writable
    assert env["XDG_CACHE_HOME"].startswith(mounts["tmp"] + "/") and "emptyDir" in volumes["tmp"]
    assert mounts["policies"] == "/etc/policy-engine/policies"
    assert container["resources"]["requests"] and container["resources"]["limits"]

    assert _one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    port = _one(docs, "Service")["spec"]["ports"][0]
    assert port["port"] == 443 and port["targetPort"] == container["ports"][0]["name"]
    assert container["ports"][0]["containerPort"] == 8443


def test_configmap_holds_the_policy_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "a.policy").write_text('policy "a" {\n  require labels ["team"]\n}\n')
    (tmp_path / "notes.txt").write_text("not a policy")
    docs = _render(capsys, "--policies", str(tmp_path))
    assert _one(docs, "ConfigMap")["data"] == {"a.policy": 'policy "a" {\n  require labels ["team"]\n}\n'}
    assert not [d for d in docs if d["kind"] == "Secret"]
    assert "caBundle" not in _one(docs, "ValidatingWebhookConfiguration")["webhooks"][0]["clientConfig"]


def test_schema_of_every_document() -> None:
    """The API server's own schemas (strict: no unknown fields) accept every object we render."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    nested = PolicyLayout({"a.policy": "x", "lib/b.policy": "y"}, (f"{POLICY_DIR}/teams",))
    opts = Options(ca_bundle=b"ca", tls_cert=b"c", tls_key=b"k", policies=nested)
    for _, obj in build(opts):
        kubernetes_validate.validate(obj, "1.32.0", strict=True)


@pytest.mark.parametrize("args", [["--timeout-seconds", "31"], ["--ca-bundle", "/nonexistent/ca.crt"],
                                  ["--out-dir", "x", "--ca-bundle", "y"]])
def test_bad_invocations_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["webhook-manifests", *args]) == 2
    assert "error:" in capsys.readouterr().err


@needs_kubectl
@pytest.mark.parametrize("extra", [[], ["--failure-policy", "Fail", "--namespace", "ml-gov"], ["--certs-dir"]])
def test_kubectl_accepts_every_document(extra: list[str], certs: Path, capsys: pytest.CaptureFixture[str],
                                        apiserver: tuple[FakeApiServer, Path]) -> None:
    if extra == ["--certs-dir"]:
        extra = ["--certs-dir", str(certs)]
    docs = _render(capsys, *extra)
    result = _kubectl_apply(apiserver[1], yaml.safe_dump_all(docs))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(dry run)") == len(docs)


@needs_kubectl
@pytest.mark.parametrize(("path", "value", "complaint"), [
    (("spec", "template", "spec", "containers", 0, "bogusField"), 1, 'unknown field "bogusField"'),
    (("spec", "replicas"), "two", "replicas"),
])
def test_kubectl_rejects_a_broken_deployment(path: tuple[Any, ...], value: Any, complaint: str,
                                             apiserver: tuple[FakeApiServer, Path]) -> None:
    docs = [obj for _, obj in build(Options(policies=PolicyLayout({"a.policy": "x"})))]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    target: Any = deployment
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    result = _kubectl_apply(apiserver[1], yaml.safe_dump_all(docs))
    assert result.returncode != 0
    assert complaint in result.stderr


@needs_kubectl
def test_deploy_tree_builds_with_kustomize(tmp_path: Path, apiserver: tuple[FakeApiServer, Path]) -> None:
    """deploy/ plus `policy-engine certs --out deploy/certs` is what `kubectl apply -k deploy/` installs."""
    tree = tmp_path / "deploy"
    shutil.copytree(REPO / "deploy", tree, ignore=shutil.ignore_patterns("certs"))
    assert main(["certs", "--out", str(tree / "certs")]) == 0
    assert KUBECTL is not None
    built = subprocess.run([KUBECTL, "kustomize", str(tree)], capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    docs = [d for d in yaml.safe_load_all(built.stdout) if d]
    ca_bundle = _one(docs, "ValidatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["caBundle"]
    assert base64.b64decode("".join(ca_bundle.split())) == (tree / "certs" / "ca.crt").read_bytes()
    assert _one(docs, "Secret")["type"] == "kubernetes.io/tls"
    result = _kubectl_apply(apiserver[1], built.stdout)
    assert result.returncode == 0, result.stderr


def test_deploy_tree_is_up_to_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """deploy/ is generated; regenerate it with `policy-engine webhook-manifests --out-dir deploy`.

    Every file but the policies ConfigMap must match what the generator writes now. The ConfigMap is a
    snapshot of policies/ taken when deploy/ was last regenerated (policy authors edit policies/ without
    touching deploy/): it must still be a ConfigMap of policies that compile.
    """
    assert main(["webhook-manifests", "--out-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    for generated in tmp_path.iterdir():
        committed = REPO / "deploy" / generated.name
        assert committed.is_file(), f"deploy/{generated.name} is missing"
        if generated.name != "policies.yaml":
            assert committed.read_text() == generated.read_text(), f"deploy/{generated.name} is stale"
    configmap = yaml.safe_load((REPO / "deploy" / "policies.yaml").read_text())
    assert configmap["kind"] == "ConfigMap" and configmap["metadata"]["name"] == "policy-engine-policies"
    shipped = configmap["data"]
    assert shipped and all(name.endswith(".policy") for name in shipped)
    folder = tmp_path / "shipped"
    folder.mkdir()
    for name, text in shipped.items():
        (folder / name).write_text(text)
    assert len(load_engine([folder]).policies.policies) >= len(shipped)
