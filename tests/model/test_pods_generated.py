"""Generated pods: the model's per-pod requests (read in time linear in the containers, each distinct quantity
string parsed once, alike containers added up once) are the scheduler's sum written the plain way: every
container's amounts parsed and added one by one."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_engine.model.build import build_workload
from policy_engine.model.config import DEFAULT_CONFIG
from policy_engine.model.documents import Document, load_objects
from policy_engine.model.quantities import GIB, gpu_fraction, parse_quantity
from policy_engine.model.workload import Role

QUANTITIES = ["100m", "0.1", "1", "2", "250m", "128Mi", "1Gi", "1073741824", " 3 ", "1e3", "1.5", 1, 2, 0.5]
RESOURCES = ["cpu", "memory", "nvidia.com/gpu", "nvidia.com/mig-1g.5gb", "example.com/foo"]
amounts = st.dictionaries(st.sampled_from(RESOURCES), st.sampled_from(QUANTITIES), max_size=3)


@st.composite
def containers(draw: st.DrawFn, init: bool) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "c", "resources": {}}
    for which in ("requests", "limits"):
        if draw(st.booleans()):
            c["resources"][which] = draw(amounts)
    if init and draw(st.booleans()):
        c["restartPolicy"] = "Always"
    return c


def _effective(c: dict[str, Any]) -> dict[str, Decimal]:
    """A container's amount per resource: its request, or its limit when it requests none."""
    resources = c["resources"]
    return {k: parse_quantity(v) for k, v in {**resources.get("limits", {}), **resources.get("requests", {})}.items()}


def _reference(spec: dict[str, Any]) -> dict[str, Decimal]:
    """max(each init container's phase, Σ app containers + Σ sidecars), per resource (KEP-753)."""
    sums: dict[str, Decimal] = {}
    inits: dict[str, Decimal] = {}
    sidecars: dict[str, Decimal] = {}
    for c in spec.get("initContainers", []):
        for resource, amount in _effective(c).items():
            running = amount + sidecars.get(resource, Decimal(0))
            inits[resource] = max(inits.get(resource, Decimal(0)), running)
            if c.get("restartPolicy") == "Always":
                sidecars[resource] = running
    for c in spec["containers"]:
        for resource, amount in _effective(c).items():
            sums[resource] = sums.get(resource, Decimal(0)) + amount
    for resource, amount in sidecars.items():
        sums[resource] = sums.get(resource, Decimal(0)) + amount
    return {r: max(sums.get(r, Decimal(0)), inits.get(r, Decimal(0))) for r in {*sums, *inits}}


def _checked_role(spec: dict[str, Any]) -> Role:
    """The role the model reads from a pod of ``spec``, its requests checked against ``_reference``."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"team": "a"}}, "spec": spec}
    [doc] = [d for d in load_objects([pod]) if isinstance(d, Document)]
    w = build_workload(doc)
    assert w is not None
    [role] = w.roles
    pod_amounts = _reference(spec)
    assert role.cpu_request == float(pod_amounts.get("cpu", 0))
    assert role.memory_request_gib == float(pod_amounts.get("memory", 0)) / GIB
    gpus = {r: float(a) for r, a in sorted(pod_amounts.items()) if gpu_fraction(r, DEFAULT_CONFIG) and a > 0}
    assert role.gpu_resources == gpus
    found = role.provenance.get("gpus")
    assert (found.path if found is not None else None) == (_first_gpu(spec) if gpus else None)
    return role


def _first_gpu(spec: dict[str, Any]) -> tuple[str | int, ...] | None:
    """Where the first container (init containers first) asking for a positive amount of an accelerator asks:
    its request, else its limit."""
    for key in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(key, [])):
            requests, limits = c["resources"].get("requests", {}), c["resources"].get("limits", {})
            for resource, value in {**limits, **requests}.items():
                if gpu_fraction(resource, DEFAULT_CONFIG) is not None and parse_quantity(value) > 0:
                    return ("spec", key, i, "resources", "requests" if resource in requests else "limits", resource)
    return None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(containers(init=False), max_size=30), st.lists(containers(init=True), max_size=4))
def test_a_pods_requests_are_the_sum_of_each_containers(apps: list[dict[str, Any]],
                                                         inits: list[dict[str, Any]]) -> None:
    spec: dict[str, Any] = {"containers": apps, "initContainers": inits}
    role = _checked_role(spec)
    # each container keeps its amounts as written (as strings), and every string was parsed once, right
    for c, written in zip(role.containers, [*inits, *apps], strict=True):
        assert c.requests == {k: str(v) for k, v in written["resources"].get("requests", {}).items()}
        assert c.limits == {k: str(v) for k, v in written["resources"].get("limits", {}).items()}
    for text, value in role.quantities.items():
        assert value == parse_quantity(text)


@pytest.mark.parametrize("seed", range(6))
def test_a_pod_of_mostly_different_containers_is_added_up_alike(seed: int) -> None:
    """Past 64 new (requests, limits) pairs, more than half the containers, the model stops keying pairs and
    adds the rest up one by one: the sums are the same, whatever the order of alike and different ones."""
    rng = random.Random(seed)
    many = [f"{n}m" for n in range(1, 400)]
    apps = []
    for i in range(600):
        requests = {"cpu": rng.choice(many) if i < 300 or rng.random() < 0.3 else "100m", "memory": "1Gi"}
        limits = {"nvidia.com/gpu": rng.choice(["1", "2"])} if rng.random() < 0.2 else {}
        apps.append({"name": f"c{i}", "resources": {"requests": requests, "limits": limits}})
    if seed % 2:
        rng.shuffle(apps)
    _checked_role({"containers": apps})
