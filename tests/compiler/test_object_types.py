"""``object`` of a policy that matches only built-in kinds is typed by the Kubernetes API schema: a misspelt
field is a located E207 with the right spelling, a type mismatch is E201; CRDs and open matches stay dynamic."""

from __future__ import annotations

import json
from pathlib import Path

from policy_engine.compiler import compile_policies, compile_text, kube_schema
from policy_engine.engine import Engine
from policy_engine.model.documents import load_paths
from policy_engine.pricing.catalog import load_catalog

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "compiler" / "object_types"


def _errors(name: str) -> list[tuple[int, int, str, str, str | None]]:
    result = compile_policies([str(FIXTURES / name)])
    return [(d.span.line, d.span.column, d.code, d.message, d.hint) for d in result.diagnostics if d.is_error]


def test_misspelt_fields_and_wrong_types_are_located_with_the_schema_spelling() -> None:
    assert _errors("misspelt.policy") == [
        (4, 48, "E207", "HorizontalPodAutoscaler's spec has no field 'minReplica'", "did you mean 'minReplicas'?"),
        (5, 10, "E201", "cannot compare a number with a string using '=='",
         "HorizontalPodAutoscaler's spec.minReplicas is a number in the Kubernetes API schema"),
        (10, 40, "E207", "Service's spec.ports[] has no field 'prot'", "did you mean 'port'?"),
        (11, 26, "E207", "Service's spec has no field 'externalIP'", "did you mean 'externalIPs'?"),
        (12, 22, "E207", "Service's spec has no field 'sessionAffinty'", "did you mean 'sessionAffinity'?"),
    ]


def test_versions_kinds_free_form_values_and_crds_compile() -> None:
    assert _errors("accepted.policy") == []


def test_typed_paths_evaluate_as_before_and_raw_quantities_compare_with_quantities() -> None:
    compiled = compile_policies([str(FIXTURES / "accepted.policy")])
    assert compiled.policy_set is not None
    result = Engine(compiled.policy_set, load_catalog()).evaluate(load_paths([str(FIXTURES / "objects.yaml")]))
    # 100Gi > 10Gi fails; "5368709120" (5Gi written as a string of bytes) passes; targetPort "ssh" fails
    assert sorted((f.policy, f.resource.name) for f in result.findings) == [("pvc-size", "datasets"),
                                                                           ("target-ports", "ssh")]


def test_a_kind_without_a_schema_has_no_shape() -> None:
    assert kube_schema.kind_shape(frozenset({"VirtualMachine"}), "") is None
    assert kube_schema.kind_shape(frozenset({"Deployment", "VirtualMachine"}), "") is None
    shape = kube_schema.kind_shape(frozenset({"HorizontalPodAutoscaler"}), "")
    assert shape is not None and shape.types == {"V1HorizontalPodAutoscaler", "V2HorizontalPodAutoscaler"}


def test_the_snapshot_is_the_installed_kubernetes_clients_schema() -> None:
    fresh = kube_schema.generate()
    stored = json.loads(kube_schema.SNAPSHOT.read_text())
    assert stored == json.loads(kube_schema.render(fresh)), (
        "policy_engine/compiler/kube_schema.json is stale: python -m policy_engine.compiler.kube_schema --write")


def test_a_field_of_a_typed_map_points_at_the_key() -> None:
    text = 'policy "p" {\n  match { kinds [Namespace] }\n  assert object.metadata.labels.team != ""\n}\n'
    [error] = [d for d in compile_text(text).diagnostics if d.is_error]
    assert (error.code, error.span.column) == ("E201", 33)
    assert error.hint == 'read a key with object.metadata.labels["team"]'


def test_pod_accessors_of_built_in_pod_kinds_are_typed_and_of_crds_are_not() -> None:
    text = """policy "core" {
  match { kinds [Deployment, Pod] }
  forbid pod_spec.hostNetwrk == true
  assert all t in tolerations: t.kee != "x"
  assert all c in containers: c.object.livnessProbe != null
  assert all v in volumes: v.emptyDir == null or quantity(v.emptyDir.sizeLimit) <= 50Gi
}
policy "serving" {
  match { kinds [InferenceService] }
  assert pod_spec.minReplicas > 0
}
"""
    errors = [(d.span.line, d.code, d.message, d.hint) for d in compile_text(text).diagnostics if d.is_error]
    assert errors == [
        (3, "E207", "the pod spec has no field 'hostNetwrk'", "did you mean 'hostNetwork'?"),
        (4, "E207", "tolerations[] has no field 'kee'", "did you mean 'key'?"),
        (5, "E207", "a container has no field 'livnessProbe'", "did you mean 'livenessProbe'?"),
    ]  # a KServe predictor's pod spec has fields a PodSpec has not: it stays dynamic
