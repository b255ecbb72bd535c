"""Placement from nodeSelector, required node affinity and tolerations (fixtures: placement.yaml)."""

from __future__ import annotations

import pytest

from policy_engine.model.workload import CapacityType

from .manifests import fixture_workload, named_workloads

PODS = named_workloads("placement.yaml")

# pod -> (instance_type, candidates, capacity, gpu_model)
CASES = {
    "affinity-one-value": ("g6.xlarge", (), CapacityType.ON_DEMAND, None),
    "affinity-candidates": (None, ("p4d.24xlarge", "p5.48xlarge"), CapacityType.UNKNOWN, None),
    "notin-exists-preferred": (None, (), CapacityType.UNKNOWN, None),
    "terms-ored": (None, ("n1-standard-8", "n1-standard-16"), CapacityType.UNKNOWN, None),
    "spot-toleration-only": (None, (), CapacityType.UNKNOWN, None),
    "eks-spot": (None, (), CapacityType.SPOT, None),
    "eks-on-demand": (None, (), CapacityType.ON_DEMAND, None),
    "azure-spot": (None, (), CapacityType.SPOT, None),
    "gke-preemptible-h100": (None, (), CapacityType.SPOT, "H100"),
    "gpu-product-a100-40": (None, (), CapacityType.UNKNOWN, "A100"),
}


@pytest.mark.parametrize("pod", sorted(CASES))
def test_placement_rules(pod: str) -> None:
    role = PODS[pod].roles[0]
    assert (role.instance_type, role.instance_type_candidates, role.capacity_type, role.gpu_model) == CASES[
        pod
    ]


def test_spot_toleration_is_recorded_but_does_not_make_the_pod_spot() -> None:
    role = PODS["spot-toleration-only"].roles[0]
    assert role.capacity_type is CapacityType.UNKNOWN
    assert role.provenance["spot_toleration"].path == ("spec", "tolerations", 0)


def test_provenance_points_at_the_pinning_field_and_its_line() -> None:
    w = fixture_workload("pod.yaml")
    role = w.roles[0]
    path = role.provenance["instance_type"].path
    assert path == ("spec", "nodeSelector", "node.kubernetes.io/instance-type")
    assert w.doc.line_of(path) == 9
    assert role.provenance["capacity_type"].path[-1] == "karpenter.sh/capacity-type"
    affinity = fixture_workload("pytorchjob.yaml").roles[1].provenance["instance_type"]
    assert affinity.path == (
        "spec",
        "pytorchReplicaSpecs",
        "Worker",
        "template",
        "spec",
        "affinity",
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
        "nodeSelectorTerms",
        0,
        "matchExpressions",
        0,
        "values",
    )


def test_gke_accelerator_and_spot_labels_on_a_deployment() -> None:
    role = fixture_workload("deployment.yaml").roles[0]
    assert (role.gpu_model, role.capacity_type) == ("L4", CapacityType.SPOT)
    assert role.provenance["gpu_model"].path[-1] == "cloud.google.com/gke-accelerator"
