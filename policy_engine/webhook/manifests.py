"""The Kubernetes objects that install the webhook, built as Python dicts and dumped with PyYAML.

``policy-engine webhook-manifests`` prints them as one stream; ``--out-dir`` writes the same objects as a
kustomize tree (``deploy/`` in this repository is that output). The webhook registration lists every
workload kind the workload model reads (``KNOWN_KINDS``), with the API group and resource name of each
taken from ``WORKLOAD_RESOURCES`` below, so a kind added to the model without a row here fails the tests.
"""

from __future__ import annotations

import base64
import importlib.metadata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from policy_engine.errors import ManifestError
from policy_engine.model.kinds import KNOWN_KINDS
from policy_engine.webhook.layout import (
    POLICY_DIR,
    PolicyLayout,
    configmap_data,
    policies_args,
    policies_volume,
)
from policy_engine.webhook.scale import SCALABLE

APP = "policy-engine"
WEBHOOK_NAME = "workloads.policy-engine.io"
TLS_DIR = "/etc/policy-engine/tls"
TLS_SECRET = "policy-engine-tls"
POLICIES_CONFIGMAP = "policy-engine-policies"
PORT = 8443
METRICS_PORT = 9090
PRIORITY_CLASS = "policy-engine-webhook"


def _version() -> str:
    try:
        return importlib.metadata.version("policy-engine")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "latest"


DEFAULT_IMAGE = f"ghcr.io/policy-engine/policy-engine:{_version()}"

#: kind -> (API group, resource) for every kind the workload model knows; a kind may live in several groups.
WORKLOAD_RESOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "Pod": (("", "pods"),),
    "ReplicationController": (("", "replicationcontrollers"),),
    "Deployment": (("apps", "deployments"),),
    "ReplicaSet": (("apps", "replicasets"),),
    "StatefulSet": (("apps", "statefulsets"),),
    "DaemonSet": (("apps", "daemonsets"),),
    "Job": (("batch", "jobs"), ("batch.volcano.sh", "jobs")),
    "CronJob": (("batch", "cronjobs"),),
    "PyTorchJob": (("kubeflow.org", "pytorchjobs"),),
    "TFJob": (("kubeflow.org", "tfjobs"),),
    "MPIJob": (("kubeflow.org", "mpijobs"),),
    "XGBoostJob": (("kubeflow.org", "xgboostjobs"),),
    "PaddleJob": (("kubeflow.org", "paddlejobs"),),
    "JAXJob": (("kubeflow.org", "jaxjobs"),),
    "MXJob": (("kubeflow.org", "mxjobs"),),
    "Notebook": (("kubeflow.org", "notebooks"),),
    "Experiment": (("kubeflow.org", "experiments"),),
    "Trial": (("kubeflow.org", "trials"),),
    "TrainJob": (("trainer.kubeflow.org", "trainjobs"),),
    "HyperPodPyTorchJob": (("sagemaker.amazonaws.com", "hyperpodpytorchjobs"),),
    "JobSet": (("jobset.x-k8s.io", "jobsets"),),
    "Workflow": (("argoproj.io", "workflows"),),
    "CronWorkflow": (("argoproj.io", "cronworkflows"),),
    "RayCluster": (("ray.io", "rayclusters"),),
    "RayJob": (("ray.io", "rayjobs"),),
    "RayService": (("ray.io", "rayservices"),),
    "InferenceService": (("serving.kserve.io", "inferenceservices"),),
    "LLMInferenceService": (("serving.kserve.io", "llminferenceservices"),),
    "LeaderWorkerSet": (("leaderworkerset.x-k8s.io", "leaderworkersets"),),
    "NIMService": (("apps.nvidia.com", "nimservices"),),
    "Workspace": (("kaito.sh", "workspaces"),),
}



@dataclass(frozen=True, slots=True)
class Options:
    namespace: str = APP
    image: str = DEFAULT_IMAGE
    ca_bundle: bytes | None = None  # PEM of the CA that signed the serving certificate
    tls_cert: bytes | None = None  # with tls_key: a Secret is rendered; without: one is expected to exist
    tls_key: bytes | None = None
    policies: PolicyLayout | None = None  # the compiled set's files; None: no ConfigMap (kustomize adds one)
    failure_policy: str = "Ignore"
    timeout_seconds: int = 5
    replicas: int = 2
    metrics_namespace: str = "monitoring"  # the namespace whose pods (Prometheus) may scrape /metrics


def _labels() -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": "admission-webhook"}


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": _labels()}
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def webhook_rules() -> list[dict[str, Any]]:
    """One rule per API group: CREATE and UPDATE of every workload resource the model reads; and UPDATE of
    the scale subresources of Deployments, StatefulSets and ReplicaSets."""
    missing = sorted(KNOWN_KINDS - WORKLOAD_RESOURCES.keys())
    if missing:
        raise ManifestError(f"no API group/resource known for workload kind(s): {', '.join(missing)}")
    by_group: dict[str, set[str]] = defaultdict(set)
    for kind in sorted(KNOWN_KINDS):
        for group, resource in WORKLOAD_RESOURCES[kind]:
            by_group[group].add(resource)
    rules = [{"apiGroups": [group], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
              "resources": sorted(resources), "scope": "Namespaced"}
             for group, resources in sorted(by_group.items())]
    # kubectl scale / an HPA change replicas through the scale subresource: judged as the workload (scale.py)
    rules.append({"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["UPDATE"],
                  "resources": sorted(f"{resource}/scale" for _, resource in SCALABLE), "scope": "Namespaced"})
    return rules


def namespace(opts: Options) -> dict[str, Any]:
    meta = _meta(opts.namespace)
    meta["labels"] = {**meta["labels"], "kubernetes.io/metadata.name": opts.namespace}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def rbac(opts: Options) -> list[dict[str, Any]]:
    """Read-only access to what the cluster-state cache lists and watches; nothing else."""
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(APP, opts.namespace)}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": _meta(APP),
            "rules": [{"apiGroups": [""], "resources": ["pods", "nodes", "namespaces"],
                       "verbs": ["get", "list", "watch"]},
                      # a scale request is judged as the workload it scales, read when the request comes
                      {"apiGroups": ["apps"], "resources": sorted(resource for _, resource in SCALABLE),
                       "verbs": ["get"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": _meta(APP),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": APP},
               "subjects": [{"kind": "ServiceAccount", "name": APP, "namespace": opts.namespace}]}
    return [account, role, binding]


def policies_configmap(opts: Options, policies: PolicyLayout) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(POLICIES_CONFIGMAP, opts.namespace),
            "data": configmap_data(policies)}


def tls_secret(opts: Options, cert: bytes, key: bytes) -> dict[str, Any]:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": _meta(TLS_SECRET, opts.namespace), "data": {"tls.crt": b64(cert), "tls.key": b64(key)}}


def _probe(path: str, period: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "https", "scheme": "HTTPS"}, "periodSeconds": period,
            "timeoutSeconds": 2, "failureThreshold": 3}


def deployment(opts: Options) -> dict[str, Any]:
    selector = {"app.kubernetes.io/name": APP}
    container = {
        "name": "webhook",
        "image": opts.image,
        "command": ["policy-engine"],
        "args": ["serve", *policies_args(opts.policies), "--tls-cert", f"{TLS_DIR}/tls.crt",
                 "--tls-key", f"{TLS_DIR}/tls.key", "--port", str(PORT), "--metrics-port", str(METRICS_PORT),
                 "--in-cluster"],
        "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"},
                  {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
        # the webhook exempts its own namespace by default and learns it from the downward API
        # XDG_CACHE_HOME: the start-up cache (compiled policies) on the writable emptyDir, so that the second
        # worker to reload finds what the first compiled; the root filesystem is read-only.
        "env": [{"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "XDG_CACHE_HOME", "value": "/tmp/cache"}],
        "livenessProbe": {**_probe("/healthz", 10), "initialDelaySeconds": 5},
        "readinessProbe": _probe("/readyz", 5),
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "policies", "mountPath": POLICY_DIR, "readOnly": True},
                         {"name": "tls", "mountPath": TLS_DIR, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }
    pod_spec = {
        "serviceAccountName": APP,
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        # one replica per node, spread over zones when there are several: a node or zone lost leaves one up
        "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
             "labelSelector": {"matchLabels": selector}},
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
             "labelSelector": {"matchLabels": selector}}],
        # admission is on every workload's path: not the first pod evicted when a node runs short
        "priorityClassName": PRIORITY_CLASS,
        "containers": [container],
        "volumes": [policies_volume(POLICIES_CONFIGMAP, opts.policies),
                    {"name": "tls", "secret": {"secretName": TLS_SECRET}},
                    {"name": "tmp", "emptyDir": {}}],
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(APP, opts.namespace),
            "spec": {"replicas": opts.replicas, "selector": {"matchLabels": selector},
                     "template": {"metadata": {"labels": _labels()}, "spec": pod_spec}}}


def priority_class() -> dict[str, Any]:
    """Above ordinary workloads (which the webhook admits), below the system's own critical classes."""
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": _meta(PRIORITY_CLASS),
            "value": 1_000_000, "globalDefault": False, "preemptionPolicy": "PreemptLowerPriority",
            "description": "policy-engine's admission webhook: evicted after the workloads it admits"}


def network_policy(opts: Options) -> dict[str, Any]:
    """Who may reach the webhook's pods: anyone on the admission port, only the monitoring namespace on metrics.

    The admission port stays open to every source on purpose: the API server calls it from the control
    plane, whose address no pod or namespace selector matches (on EKS, GKE and AKS it is outside the pod
    network altogether), and a NetworkPolicy that shut it out would make every admission fail, which
    ``failurePolicy: Ignore`` turns into "allowed". Narrow it to your control plane's CIDR if you know it
    (docs/webhook.md, Security). The port is still TLS-only, bounded, and serves nothing but reviews.
    """
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(APP, opts.namespace),
            "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": APP}},
                     "policyTypes": ["Ingress"],
                     "ingress": [
                         {"ports": [{"protocol": "TCP", "port": PORT}]},
                         {"ports": [{"protocol": "TCP", "port": METRICS_PORT}],
                          "from": [{"namespaceSelector": {"matchLabels": {
                              "kubernetes.io/metadata.name": opts.metrics_namespace}}}]}]}}


def disruption_budget(opts: Options) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _meta(APP, opts.namespace),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": APP}}}}


def service(opts: Options) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(APP, opts.namespace),
            "spec": {"selector": {"app.kubernetes.io/name": APP},
                     "ports": [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}]}}


def webhook_configuration(opts: Options) -> dict[str, Any]:
    """Ignore by default: a webhook outage must not stop every workload in the cluster (docs say more)."""
    client_config: dict[str, Any] = {"service": {"name": APP, "namespace": opts.namespace, "path": "/validate",
                                                 "port": 443}}
    if opts.ca_bundle is not None:
        client_config["caBundle"] = base64.b64encode(opts.ca_bundle).decode("ascii")
    hook = {
        "name": WEBHOOK_NAME,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "timeoutSeconds": opts.timeout_seconds,
        "failurePolicy": opts.failure_policy,
        "matchPolicy": "Equivalent",
        "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                                                    "values": sorted({opts.namespace, "kube-system"})}]},
        "rules": webhook_rules(),
        "clientConfig": client_config,
    }
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": _meta(APP), "webhooks": [hook]}


def build(opts: Options) -> list[tuple[str, dict[str, Any]]]:
    """(file name in the kustomize tree, object) for every object, in the order they should be applied."""
    if opts.failure_policy not in ("Ignore", "Fail"):
        raise ManifestError(f"failure policy must be Ignore or Fail, not {opts.failure_policy!r}")
    if not 1 <= opts.timeout_seconds <= 30:
        raise ManifestError("timeout seconds must be between 1 and 30 (the API server's limits)")
    if (opts.tls_cert is None) != (opts.tls_key is None):
        raise ManifestError("a TLS Secret needs both the certificate and the key")
    out: list[tuple[str, dict[str, Any]]] = [("namespace.yaml", namespace(opts))]
    out += [("rbac.yaml", obj) for obj in rbac(opts)]
    if opts.policies is not None:
        out.append(("policies.yaml", policies_configmap(opts, opts.policies)))
    if opts.tls_cert is not None and opts.tls_key is not None:
        out.append(("tls-secret.yaml", tls_secret(opts, opts.tls_cert, opts.tls_key)))
    out += [("priority-class.yaml", priority_class()), ("deployment.yaml", deployment(opts)),
            ("disruption-budget.yaml", disruption_budget(opts)), ("network-policy.yaml", network_policy(opts)),
            ("service.yaml", service(opts)), ("webhook.yaml", webhook_configuration(opts))]
    return out


class _Dumper(yaml.SafeDumper):
    """Block style, and multi-line strings (policy files, PEM) as literal blocks people can read."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data and not any(line != line.rstrip() for line in data.splitlines()) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def dump(objects: Sequence[dict[str, Any]]) -> str:
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, default_flow_style=False, explicit_start=True)


def kustomization(files: Sequence[str], namespace_name: str) -> dict[str, Any]:
    """The kustomization for ``--out-dir``: kustomize makes the TLS Secret from ``certs/`` (the output of
    ``policy-engine certs``, never committed) and copies the CA, already base64 in the Secret's data,
    into the webhook's ``caBundle``."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": list(dict.fromkeys(files)),
        "generatorOptions": {"disableNameSuffixHash": True},
        "secretGenerator": [{"name": TLS_SECRET, "namespace": namespace_name, "type": "kubernetes.io/tls",
                             "files": ["tls.crt=certs/tls.crt", "tls.key=certs/tls.key", "ca.crt=certs/ca.crt"]}],
        "replacements": [{
            "source": {"kind": "Secret", "name": TLS_SECRET, "fieldPath": "data.ca\\.crt"},
            "targets": [{"select": {"kind": "ValidatingWebhookConfiguration", "name": APP},
                         "fieldPaths": ["webhooks.*.clientConfig.caBundle"], "options": {"create": True}}],
        }],
    }


def write_tree(objects: Sequence[tuple[str, dict[str, Any]]], out: str | Path, namespace_name: str) -> list[Path]:
    """Write one YAML file per object group plus kustomization.yaml; returns the files written."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name, obj in objects:
        grouped[name].append(obj)
    written = []
    for name, objs in grouped.items():
        (folder / name).write_text(dump(objs), encoding="utf-8")
        written.append(folder / name)
    kust = kustomization(list(grouped), namespace_name)
    (folder / "kustomization.yaml").write_text(dump([kust]), encoding="utf-8")
    written.append(folder / "kustomization.yaml")
    return written
