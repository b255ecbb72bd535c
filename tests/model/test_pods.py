"""GPUs, CPU and memory per pod, the scheduler's way; labels and annotations of pod templates."""

from __future__ import annotations

from typing import Any

import pytest

from policy_engine.errors import WorkloadError
from policy_engine.model.build import build_workload
from policy_engine.model.config import ModelConfig
from policy_engine.model.documents import Document, load_text
from policy_engine.model.pods import default_containers

from .manifests import fixture_documents, fixture_workload, named_workloads

PODS = named_workloads("gpu_resources.yaml")

# pod -> (gpus per pod, main gpu resource)
CASES = {
    "mig-3g": (2 * 3 / 7, "nvidia.com/mig-3g.20gb"),
    "mig-1g": (1 / 7, "nvidia.com/mig-1g.5gb"),
    "shared": (2 * 0.25, "nvidia.com/gpu.shared"),
    "init-max": (4, "nvidia.com/gpu"),
    "sum-beats-init": (4, "nvidia.com/gpu"),
    "neuron": (2, "aws.amazon.com/neuroncore"),
    "intel": (1, "gpu.intel.com/i915"),
    "hami-memory-not-counted": (1, "nvidia.com/gpu"),
    "custom-resource": (0, None),
}


@pytest.mark.parametrize("pod", sorted(CASES))
def test_gpus_per_pod_by_resource_name(pod: str) -> None:
    role = PODS[pod].roles[0]
    gpus, resource = CASES[pod]
    assert role.gpus_per_pod == pytest.approx(gpus)
    assert role.gpu_resource == resource


def test_mig_raw_count_is_kept_beside_the_fraction() -> None:
    assert PODS["mig-3g"].roles[0].gpu_resources == {"nvidia.com/mig-3g.20gb": 2.0}


def test_extra_gpu_resource_names_come_from_model_config() -> None:
    doc = next(
        d for d in fixture_documents("gpu_resources.yaml") if d.obj["metadata"]["name"] == "custom-resource"
    )
    w = build_workload(doc, ModelConfig(extra_gpu_resources=(("example.com/*", 1.0),)))
    assert w is not None and w.gpus == 1


def test_shared_gpu_fraction_is_configurable() -> None:
    doc = next(d for d in fixture_documents("gpu_resources.yaml") if d.obj["metadata"]["name"] == "shared")
    w = build_workload(doc, ModelConfig(shared_gpu_fraction=0.5))
    assert w is not None and w.gpus == 1


def test_requests_win_over_limits_for_cpu_and_memory() -> None:
    role = PODS["requests-over-limits"].roles[0]
    assert role.cpu_request == pytest.approx(0.25)
    assert role.memory_request_gib == pytest.approx(2)


def test_a_pods_request_is_the_max_of_init_containers_and_the_sum_of_containers() -> None:
    role = fixture_workload("deployment.yaml").roles[0]
    assert role.cpu_request == pytest.approx(4)  # init 4 > 1.5 + 0.5
    assert role.memory_request_gib == pytest.approx(8.5)  # 8Gi + 512Mi > init 1Gi
    assert [c.name for c in role.containers] == ["fetch", "server", "proxy"]
    gpu_path = ("spec", "template", "spec", "containers", 0, "resources", "requests", "nvidia.com/gpu")
    assert role.provenance["gpus"].path == gpu_path


def test_labels_are_what_every_pod_carries_not_the_controller_object() -> None:
    w = fixture_workload("deployment.yaml")
    assert w.object_labels == {"team": "nlp", "cost-center": "42"}
    assert w.pod_labels == {"app": "llm", "team": "nlp-serving"}
    # the Deployment's own cost-center never reaches its pods: a label rule must not count it
    assert w.labels == {"team": "nlp-serving", "app": "llm"}
    assert w.priority_class == "high"


def test_pod_labels_are_those_common_to_every_role() -> None:
    w = fixture_workload("pytorchjob.yaml")
    assert w.pod_labels == {"team": "llm"}
    assert fixture_workload("tfjob.yaml").pod_labels == {}


def test_kai_gpu_fraction_annotation_counts_as_a_fraction_of_a_gpu() -> None:
    role = fixture_workload("kai_fraction.yaml").roles[0]
    assert role.gpus_per_pod == 0.5
    assert role.provenance["gpus"].path == ("metadata", "annotations", "gpu-fraction")


def test_sidecar_init_containers_count_beside_the_app_containers() -> None:
    """Kubernetes' effective request: max(init phase, app containers + sidecars)."""
    found = named_workloads("sidecar_gpus.yaml")
    assert found["sidecar-gpus"].roles[0].gpus_per_pod == 16
    assert found["init-phase"].roles[0].gpus_per_pod == 8


@pytest.mark.parametrize("spec", [
    {"containers": [{"name": "a"}, {"name": "b"}]},
    {"containers": []},
    {},
    {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]},
    {"initContainers": None, "containers": [{"name": "a"}]},
    {"initContainers": [{"name": "i"}]},
])
def test_a_pod_specs_containers_read_from_the_spec_given_are_those_read_from_the_document(
        spec: dict[str, Any]) -> None:
    doc = Document({"kind": "Pod", "spec": spec}, "pod.yaml", 1)
    fast = default_containers(doc, ("spec",), spec)
    assert fast == default_containers(doc, ("spec",))
    assert [(r.path, r.init) for r in fast] == (
        [(("spec", "initContainers", i), True) for i in range(len(spec.get("initContainers") or []))]
        + [(("spec", "containers", i), False) for i in range(len(spec.get("containers") or []))])


def test_containers_that_are_not_a_list_are_a_located_error_with_the_spec_given_too() -> None:
    spec = {"containers": {"name": "a"}}
    doc = Document({"kind": "Pod", "spec": spec}, "pod.yaml", 1)
    with pytest.raises(WorkloadError, match="expected a list"):
        default_containers(doc, ("spec",), spec)


@pytest.mark.parametrize("name", ["pytorchjob.yaml", "tfjob.yaml", "kai_fraction.yaml", "sidecar_gpus.yaml"])
def test_a_workloads_gpus_are_the_sum_over_its_roles_whatever_their_number(name: str) -> None:
    for doc in fixture_documents(name):
        w = build_workload(doc)
        assert w is not None
        total = sum(r.replicas * r.gpus_per_pod for r in w.roles)
        assert (w.gpus, type(w.gpus)) == (total, type(total))
        w.roles = w.roles[:1]
        one = sum(r.replicas * r.gpus_per_pod for r in w.roles)
        assert (w.gpus, type(w.gpus)) == (one, type(one))


@pytest.mark.parametrize(("first", "second"), [("1", "true"), ("1", "1.0"), ("1.0", "1")])
def test_a_container_asking_as_another_did_in_another_form_is_read_on_its_own(first: str, second: str) -> None:
    """1, 1.0 and true are equal in Python: a container is not taken for one before it by them."""
    def read(values: list[str]) -> Any:
        text = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n" + "".join(
            f"  - name: c{i}\n    resources: {{limits: {{nvidia.com/gpu: {v}}}}}\n" for i, v in enumerate(values))
        try:
            w = build_workload(next(d for d in load_text(text, "p.yaml") if isinstance(d, Document)))
        except WorkloadError as exc:
            return str(exc)
        assert w is not None
        return [c.limits for c in w.roles[0].containers], w.gpus
    alone = read([second])
    both = read([first, second])
    if isinstance(alone, str):  # `true` is no quantity: refused wherever it is
        assert isinstance(both, str) and "True is not a quantity" in both
    else:
        assert both[0][1] == alone[0][0]


@pytest.mark.parametrize("resources, where", [
    ("{requests: {nvidia.com/gpu: 1, 1: 2}}", "spec.containers[1].resources.requests"),
    ("{limits: {nvidia.com/gpu: 1, true: 2}}", "spec.containers[1].resources.limits"),
])
def test_a_resource_name_that_is_not_a_string_is_a_located_error(resources: str, where: str) -> None:
    """Whatever accelerator resources come before it (in this container or another), a resource named by a
    number or a bool is E701 at the mapping that names it, never a crash."""
    text = ("kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
            "  - {name: a, resources: {requests: {amd.com/gpu: 1}}}\n"
            f"  - name: b\n    resources: {resources}\n")
    (doc,) = [d for d in load_text(text, "p.yaml") if isinstance(d, Document)]
    with pytest.raises(WorkloadError) as raised:
        build_workload(doc)
    assert raised.value.diagnostic.code == "E701"
    assert raised.value.diagnostic.message.startswith(f"Pod p: {where}: a resource name must be a string, found ")
    assert raised.value.diagnostic.span.line == 7
