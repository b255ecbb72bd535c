"""Quantifiers, containers, quantities, map parameters, any kind, pod accessors, admission context:
what each evaluates to on real manifests, and the located error each misuse gets."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from policy_engine.compiler import compile_text
from policy_engine.compiler.objects import container_record, parse_image
from policy_engine.engine import Engine
from policy_engine.model.documents import Document, load_objects
from policy_engine.model.workload import Admission, Workload
from policy_engine.pricing.catalog import load_catalog
from policy_engine.quantity import Quantity, quantity

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "api", "namespace": "web", "labels": {"team": "research", "tier": "gold"}},
    "spec": {"replicas": 2, "template": {
        "metadata": {"labels": {"app": "api", "team": "research", "tier": "gold"},
                     "annotations": {"example.com/lifetime": "6h"}},
        "spec": {
            "terminationGracePeriodSeconds": 60,
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
            "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "20Gi"}}, {"name": "cfg", "configMap": {}}],
            "initContainers": [
                {"name": "mesh", "image": "ghcr.io/acme/mesh:1.2", "restartPolicy": "Always",
                 "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}},
                {"name": "wait", "image": "busybox", "resources": {"requests": {"cpu": "10m"}}},
            ],
            "containers": [
                {"name": "app", "image": "registry.local:5000/acme/app@sha256:abc123", "imagePullPolicy": "Always",
                 "ports": [{"containerPort": 8080}, {"containerPort": 9090, "hostPort": 9090}],
                 "securityContext": {"privileged": False, "runAsNonRoot": True},
                 "resources": {"requests": {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": 1},
                               "limits": {"cpu": "2", "memory": "1536Mi", "nvidia.com/gpu": 1,
                                          "ephemeral-storage": "10Gi"}}},
            ],
            "ephemeralContainers": [{"name": "debug", "image": "busybox:latest"}],
        }}}}


def _doc(obj: dict[str, Any]) -> Document:
    [doc] = list(load_objects([obj]))
    assert isinstance(doc, Document)
    return doc


def _engine(text: str) -> Engine:
    compiled = compile_text(text)
    assert compiled.policy_set is not None, [d.headline() for d in compiled.diagnostics]
    return Engine(compiled.policy_set, load_catalog())


def _subject(obj: dict[str, Any] = DEPLOYMENT, engine: Engine | None = None) -> Workload:
    w = (engine or _engine('policy "p" { assert true }')).subject(_doc(obj))
    assert w is not None
    return w


def holds(expr: str, obj: dict[str, Any] = DEPLOYMENT, params: str = "", admission: Admission | None = None) -> bool:
    engine = _engine(f'{params}\npolicy "p" {{ assert {expr} }}')
    w = _subject(obj, engine)
    w.admission = admission
    [policy] = engine.policies.policies
    return policy.violations(w) == []


@pytest.mark.parametrize("expr", [
    "all c in containers: c.image != null",
    "any c in containers: c.type == \"sidecar\"",
    "none c in containers: c.privileged == true",
    "(count c in containers: c.type == \"init\") == 1",
    "(count c in containers: true) == 4",
    "(count c in containers: c.type == \"ephemeral\") == 1",
    "all c in containers: c.type == \"ephemeral\" or c.requests.cpu != null",
    "all k, v in labels: k != \"\" and v != \"\"",
    "any k in labels: k == \"tier\"",
    "all t in tolerations: t.operator == \"Exists\"",
    "(count v in volumes: v.emptyDir != null) == 1",
    "all c in containers: all p in c.ports: p > 1024",
    "any c in containers: any p in c.host_ports: p == 9090",
    "all x in []: false",
    "not (any x in []: true)",
    "(count x in [1, 2, 3]: x >= 2) == 2",
])
def test_quantifiers(expr: str) -> None:
    assert holds(expr)


@pytest.mark.parametrize("expr", [
    "all c in containers: c.limits.memory != null",
    "any c in containers: c.privileged == true",
    "none c in containers: c.tag == \"latest\"",
])
def test_quantifiers_that_fail(expr: str) -> None:
    assert not holds(expr)


@pytest.mark.parametrize(("condition", "deciding"), [
    # presence tests and constant string sets over a variable's path (compiled to fused closures)
    ('c.image_pull_policy == null', "app"),
    ('c.image_pull_policy != null', "mesh, wait, debug"),
    ('c.limits.memory == null', "mesh, app"),
    ('c.limits.memory != null', "wait, debug"),
    ('c.requests.cpu != null and c.limits.memory != null', "wait, debug"),
    ('c.registry in ["ghcr.io", "docker.io"]', "app"),
    ('c.registry not in ["ghcr.io", "docker.io"]', "mesh, wait, debug"),
    ('c.object.livenessProbe.httpGet == null', ""),
    ('c.object.securityContext != null', "mesh, wait, debug"),
])
def test_the_failing_containers_of_each_condition(condition: str, deciding: str) -> None:
    engine = _engine(f'policy "p" {{ assert all c in containers: {condition} message "{{elements}}" }}')
    [policy] = engine.policies.policies
    assert [v.message for v in policy.violations(_subject(DEPLOYMENT, engine))] == ([deciding] if deciding else [])


def test_a_null_collection_is_null_so_assert_reports_and_forbid_does_not() -> None:
    engine = _engine('policy "a" { assert all x in object.spec.nothing: true }\n'
                     'policy "f" { forbid any x in object.spec.nothing: true }')
    w = _subject(DEPLOYMENT, engine)
    assert [len(p.violations(w)) for p in engine.policies.policies] == [1, 0]


def test_container_records() -> None:
    w = _subject()
    from policy_engine.compiler.attributes import ATTRIBUTES

    containers = ATTRIBUTES["containers"].getter(w)
    by_name = {c["name"]: c for c in containers}
    assert [(c["name"], c["type"]) for c in containers] == [
        ("mesh", "sidecar"), ("wait", "init"), ("app", "app"), ("debug", "ephemeral")]
    app = by_name["app"]
    assert (app["registry"], app["repository"], app["tag"], app["digest"]) == (
        "registry.local:5000", "acme/app", None, "sha256:abc123")
    assert app["image_pull_policy"] == "Always" and app["ports"] == [8080, 9090] and app["host_ports"] == [9090]
    assert app["privileged"] is False and app["run_as_non_root"] is True and app["read_only_root_filesystem"] is None
    assert app["limits"]["memory"] == Decimal(1536 * 2**20) and str(app["limits"]["memory"]) == "1536Mi"
    assert app["limits"]["gpu"] == 1 and app["limits"]["ephemeral_storage"] == 10 * 2**30
    assert by_name["wait"]["limits"]["memory"] is None and by_name["wait"]["registry"] == "docker.io"


@pytest.mark.parametrize(("ref", "parts"), [
    ("nginx", ("docker.io", "nginx", None, None)),
    ("redis:7", ("docker.io", "redis", "7", None)),
    ("library/redis:7.2", ("docker.io", "library/redis", "7.2", None)),
    ("ghcr.io/org/app:v1", ("ghcr.io", "org/app", "v1", None)),
    ("localhost/app", ("localhost", "app", None, None)),
    ("registry:5000/app:1", ("registry:5000", "app", "1", None)),
    ("nvcr.io/nvidia/tritonserver:24.08-py3@sha256:ff", ("nvcr.io", "nvidia/tritonserver", "24.08-py3", "sha256:ff")),
])
def test_image_references_parse_as_the_runtime_reads_them(ref: str, parts: tuple[str, ...]) -> None:
    assert parse_image(ref) == parts


@pytest.mark.parametrize("expr", [
    "1Gi == 1024Mi", "1.5Gi == 1536Mi", "1e3 == 1k", "quantity(\"2\") == 2000m", "quantity(\"1\") > 500m",
    "quantity(\"0.1\") + quantity(\"0.2\") == 300m",
    "all c in containers: c.type != \"app\" or c.limits.memory / c.requests.memory == 1.5",
    "all c in containers: c.type != \"app\" or c.limits.cpu / c.requests.cpu == 4",
    "all c in containers: c.type != \"app\" or c.limits.cpu <= 2000m and c.limits.cpu > 1.5",
    "all c in containers: c.type != \"app\" or c.limits.memory - c.requests.memory == 512Mi",
    "all c in containers: c.type != \"app\" or c.requests.memory * 2 == 2Gi",
    "all c in containers: c.type != \"app\" or c.limits[\"nvidia.com/gpu\"] == 1",
    "all c in containers: c.type != \"sidecar\" or c.requests.cpu == 50m",
    "quantity(\"1.5Gi\") == 1536Mi", "quantity(\"lots\") == null", "quantity(annotations[\"nope\"]) == null",
])
def test_quantities_are_exact(expr: str) -> None:
    assert holds(expr)


def test_500m_means_minutes_unless_beside_a_quantity() -> None:
    assert holds("30m == 1800s") and holds("500m < 1Ki")
    assert holds("all c in containers: c.type != \"app\" or c.requests.cpu == 500m")


def test_a_quantity_is_shown_as_written() -> None:
    assert str(quantity("1536Mi")) == "1536Mi" and isinstance(quantity(" 2 "), Quantity)
    assert quantity("1.5.5") is None and quantity(True) is None


def test_equal_amounts_written_differently_keep_their_own_spelling() -> None:
    """1 and 1.0 are equal with one hash: the record cache must not show one as the other."""
    one = container_record({"name": "a", "resources": {"limits": {"cpu": 1}}}, "app", "pod")
    one_point_zero = container_record({"name": "b", "resources": {"limits": {"cpu": 1.0}}}, "app", "pod")
    assert (str(one["limits"]["cpu"]), str(one_point_zero["limits"]["cpu"])) == ("1", "1.0")


@pytest.mark.parametrize(("expr", "message"), [
    ("startswith(name)", "startswith() takes 2 arguments, got 1"),
    ("has(name, name)", "has() takes 1 argument, got 2"),
    ("cel(\"size(object.spec, 1) > 0\")", "size() takes 1 argument, got 2"),
    ("cel(\"object.metadata.name.substring() == ''\")", "substring() takes 1 or 2 arguments, got 0"),
])
def test_arity_errors_say_argument_or_arguments(expr: str, message: str) -> None:
    [diagnostic] = compile_text(f'policy "p" {{\n  assert {expr}\n}}').errors
    assert message in diagnostic.message, diagnostic.headline()


@pytest.mark.parametrize(("expr", "code", "words"), [
    ("all c in containers: c.limits.cpu <= c.requests.memory", "E201", "a CPU quantity with a byte quantity"),
    ("all c in containers: c.limits.cpu <= 512Mi", "E201", "a CPU quantity with a byte quantity"),
    ("all c in containers: c.limits.cpu + c.limits.memory > 0", "E201", "cannot compute"),
    ("all c in containers: c.limits.memory > \"1Gi\"", "E201", "with a string"),
    ("all c in containers: c.limitz.cpu != null", "E207", "no field 'limitz'"),
    ("all c in containers: c.limits.gpus != null", "E207", "no field 'gpus'"),
    ("all gpus in containers: true", "E308", "hides an attribute"),
    ("all c in containers: all c in containers: true", "E308", "hides an enclosing variable"),
    ("all c in gpus: true", "E201", "iterates over a list or a map"),
    ("all a, b in containers: true", "E201", "one name per element"),
    ("all c in containers: c.name", "E203", "must be true or false"),
    ("count c in containers: true", "E203", "a number"),
    ("all c in containers: c == 1", "E201", "cannot compare a container"),
    ("c.name == \"x\"", "E101", "unknown attribute"),
    ("{\"a\": 1, \"b\": \"x\"} != null", "E201", "mixes"),
])
def test_misuse_is_a_located_coded_error(expr: str, code: str, words: str) -> None:
    result = compile_text(f'policy "p" {{\n  assert {expr}\n}}')
    assert result.policy_set is None
    diagnostic = result.errors[0]
    assert (diagnostic.code, diagnostic.span.line) == (code, 2) and words in diagnostic.message, diagnostic.headline()


def test_map_parameters() -> None:
    params = 'param caps = {"research": 8, "web": 2}\nparam life = {"research": 8h}'
    assert holds("replicas <= caps[labels[\"team\"]]", params=params)
    assert holds("duration(pod_annotations[\"example.com/lifetime\"]) <= life[labels[\"team\"]]", params=params)
    assert holds("all k, v in caps: v >= 2", params=params)
    assert holds("caps[\"nobody\"] == null", params=params)
    result = compile_text('param caps = {"a": 1}\npolicy "p" { assert caps["a"] == "x" }')
    assert result.errors[0].code == "E201"


@pytest.mark.parametrize("expr", [
    'duration("1h30m") == 90m', 'duration("45") == 45s', 'duration("soon") == null', "duration(3600) == 1h",
    'pod_annotations["example.com/lifetime"] == "6h"', "pod_spec.terminationGracePeriodSeconds == 60",
    'pod_labels["app"] =~ "^a"', 'all c in containers: c.image =~ "^[a-z]"',
])
def test_pod_accessors_and_strings(expr: str) -> None:
    assert holds(expr)


def test_pod_accessors_read_a_pod_and_a_job_alike() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": {"a": "1"}},
           "spec": {"terminationGracePeriodSeconds": 5, "containers": [{"name": "x", "image": "x:1"}]}}
    assert holds('pod_spec.terminationGracePeriodSeconds == 5 and (count c in containers: true) == 1', pod)


def test_admission_context_is_null_in_ci_and_read_at_admission() -> None:
    assert holds("operation == null and old_object == null and user == null and groups == null")
    old = {**DEPLOYMENT, "spec": {**DEPLOYMENT["spec"], "replicas": 1}}
    review = Admission("UPDATE", old, "alice", ("team-research", "system:authenticated"))
    assert holds('operation == "UPDATE" and old_object.spec.replicas < object.spec.replicas', admission=review)
    assert holds('user == "alice" and "team-research" in groups and any g in groups: g =~ "^system:"',
                 admission=review)


HPA = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
       "metadata": {"name": "api", "namespace": "web", "labels": {"team": "web"}},
       "spec": {"minReplicas": 3, "maxReplicas": 3}}


def test_any_kind_is_matched_by_name_and_read_through_object() -> None:
    engine = _engine('policy "hpa" {\n  match { kinds [HorizontalPodAutoscaler] }\n'
                     '  assert object.spec.maxReplicas > object.spec.minReplicas\n}\n'
                     'policy "crd" {\n  match { kinds ["Widget"] }\n  require labels ["team"]\n}\n'
                     'policy "everything" {\n  require labels ["owner"]\n}')
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    result = engine.evaluate([_doc(HPA), _doc(widget), _doc(DEPLOYMENT)])
    found = sorted((f.policy, f.resource.kind) for f in result.findings)
    # a policy that names no kind meets workloads only: the HPA and the Widget meet the policies naming them
    assert found == [("crd", "Widget"), ("everything", "Deployment"), ("hpa", "HorizontalPodAutoscaler")]
    assert result.stats.workloads == 1


def test_unknown_kinds_are_an_error_unless_quoted() -> None:
    result = compile_text('policy "p" {\n  match { kinds [HorizontalPodAutoscalr] }\n  assert true\n}')
    assert result.errors[0].code == "E103" and "HorizontalPodAutoscaler" in (result.errors[0].hint or "")
    result = compile_text('policy "p" {\n  match { kinds [Widget] }\n  assert true\n}')
    assert result.errors[0].code == "E103" and 'kinds ["Widget"]' in (result.errors[0].hint or "")
    assert compile_text('policy "p" {\n  match { kinds ["Widget"] }\n  assert true\n}').ok


def test_default_message_names_the_deciding_elements() -> None:
    engine = _engine('policy "p" { assert all c in containers: c.limits.memory != null }\n'
                     'policy "q" { forbid any c in containers: c.tag == "latest" message "{elements} use :latest" }')
    w = _subject(DEPLOYMENT, engine)
    first, second = (p.violations(w) for p in engine.policies.policies)
    assert first[0].message == ("requires all c in containers: c.limits.memory != null, "
                                "but failing containers: wait, debug")
    assert second[0].message == "debug use :latest"
