"""CEL as Kubernetes defines it: the compiled path agrees with cel-python on the same inputs (differential),
the Kubernetes libraries work, parameters are visible as ``params``, and an unknown function is E206."""

from __future__ import annotations

from typing import Any

import pytest

from policy_engine.compiler import compile_text
from policy_engine.compiler.cel import compile_cel, compile_cel_reference
from policy_engine.model.workload import Admission, Workload
from tests.workloads import workload

OBJECTS: list[dict[str, Any]] = [
    {"apiVersion": "apps/v1", "kind": "Deployment",
     "metadata": {"name": "llm-api", "namespace": "ml", "labels": {"team": "nlp", "env": "prod"}},
     "spec": {"replicas": 3, "template": {"spec": {
         "hostNetwork": False,
         "containers": [
             {"name": "api", "image": "ghcr.io/acme/api:1.2", "ports": [{"containerPort": 8080}],
              "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "500m"}}},
             {"name": "side", "image": "nginx:latest"}]}}}},
    {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "train"},
     "spec": {"parallelism": 0, "template": {"spec": {"containers": [], "hostNetwork": True}}}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "labels": {}}, "spec": {}},
]

#: Core CEL that cel-python implements: both paths must give the same value, or both an error (null).
EXPRESSIONS = [
    "object.spec.replicas <= 4", "object.spec.replicas > 2 && object.metadata.name.startsWith('llm')",
    "has(object.spec.replicas)", "!has(object.spec.replicas) || object.spec.replicas < 10",
    "object.spec.replicas < 10 || !has(object.spec.replicas)",
    "object.spec.template.spec.containers.all(c, has(c.resources) && has(c.resources.limits))",
    "object.spec.template.spec.containers.exists(c, c.image.endsWith(':latest'))",
    "object.spec.template.spec.containers.exists_one(c, c.name == 'api')",
    "object.spec.template.spec.containers.all(c, c.resources.limits.cpu != '')",
    "object.spec.template.spec.containers.exists(c, c.resources.limits.cpu == '2')",
    "size(object.spec.template.spec.containers) >= 1", "object.spec.template.spec.containers.size()",
    "object.spec.template.spec.containers.map(c, c.name)",
    "object.spec.template.spec.containers.filter(c, c.image.contains('ghcr')).size() == 1",
    "object.metadata.labels.team == 'nlp'", "'team' in object.metadata.labels",
    "object.metadata.labels['env'] in ['prod', 'staging']", "object.metadata.name.matches('^[a-z-]+$')",
    "object.spec.template.spec.hostNetwork == true", "object.spec.template.spec.hostNetwork ? 1 : 2",
    "object.spec.replicas * 2 + 1", "object.spec.replicas / 2", "object.spec.replicas % 2", "-object.spec.replicas",
    "object.spec.replicas / object.spec.parallelism", "object.metadata.name + '-x'", "[1, 2] + [3]",
    "{'a': 1}['a'] == 1", "object.spec.template.spec.containers[0].name", "object.spec.template.spec.containers[5]",
    "object.metadata.name < 'm'", "1 < 'a'", "int('42') + 1", "string(object.spec.replicas)", "double(1) / 4.0",
    "object.missing.deep == 1", "object.missing.deep == 1 && false", "false && object.missing.deep == 1",
    "true || object.missing", "object.missing || true", "!object.spec.template.spec.hostNetwork",
    "object.spec.template.spec.containers.all(c, c.ports.all(p, p.containerPort > 1024))",
    "object.kind == 'Job' ? object.spec.parallelism > 0 : true",
]


def _workload(obj: dict[str, Any], admission: Admission | None = None) -> Workload:
    return workload(kind=str(obj.get("kind", "")), obj=obj, admission=admission)


def _same(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_same(v) for v in value]
    return value


@pytest.mark.parametrize("text", EXPRESSIONS)
def test_compiled_cel_agrees_with_cel_python(text: str) -> None:
    fast, reference = compile_cel(text), compile_cel_reference(text)
    assert callable(fast) and callable(reference), (fast, reference)
    for obj in OBJECTS:
        w = _workload(obj)
        expected = reference(w)
        if hasattr(expected, "__iter__") and not isinstance(expected, str | list | dict):
            expected = list(expected)
        assert _same(fast(w)) == _same(expected), (text, obj["metadata"]["name"])


@pytest.mark.parametrize(("text", "value"), [
    ("object.metadata.name.split('-')", ["llm", "api"]),
    ("object.metadata.name.split('-', 1)", ["llm-api"]),
    ("object.metadata.name.substring(4)", "api"), ("object.metadata.name.substring(0, 3)", "llm"),
    ("object.metadata.name.substring(2, 99)", None),
    ("object.metadata.name.indexOf('-')", 3), ("object.metadata.name.lastIndexOf('a')", 4),
    ("object.metadata.name.charAt(0)", "l"), ("'ABC'.lowerAscii()", "abc"), ("'abc'.upperAscii()", "ABC"),
    ("' x '.trim()", "x"), ("'a.b.c'.replace('.', '/')", "a/b/c"), ("'a.b.c'.replace('.', '/', 1)", "a/b.c"),
    ("['a', 'b'].join('-')", "a-b"), ("[1, 2, 3].isSorted()", True), ("[3, 1].isSorted()", False),
    ("[1, 2, 3].sum()", 6), ("[4, 1, 3].min()", 1), ("[4, 1, 3].max()", 4), ("[1, 2, 1].lastIndexOf(1)", 2),
    ("[1, 2, 1].indexOf(2)", 1), ("'abc123def456'.find('[0-9]+')", "123"),
    ("'abc123def456'.findAll('[0-9]+')", ["123", "456"]), ("'a1b2c3'.findAll('[0-9]', 2)", ["1", "2"]),
    ("quantity('1Gi').isGreaterThan(quantity('512Mi'))", True), ("quantity('500m').compareTo(quantity('0.5'))", 0),
    ("quantity(object.spec.template.spec.containers[0].resources.limits.memory).isLessThan(quantity('8Gi'))", True),
    ("quantity('1.5').isInteger()", False), ("quantity('2k').asInteger()", 2000),
    ("quantity('1Gi').add(quantity('1Gi')).compareTo(quantity('2Gi'))", 0), ("quantity('1').sub(1).sign()", 0),
    ("quantity('250m').asApproximateFloat()", 0.25), ("isQuantity('12Mi')", True), ("isQuantity('twelve')", False),
    ("quantity('nonsense')", None),
    ("url('https://example.com:8443/v1/x?a=1&a=2').getHost()", "example.com:8443"),
    ("url('https://example.com:8443/v1/x?a=1&a=2').getHostname()", "example.com"),
    ("url('https://example.com:8443/v1/x?a=1&a=2').getPort()", "8443"),
    ("url('https://example.com:8443/v1/x?a=1&a=2').getScheme()", "https"),
    ("url('https://example.com:8443/v1/x?a=1&a=2').getEscapedPath()", "/v1/x"),
    ("url('https://example.com:8443/v1/x?a=1&a=2').getQuery()['a']", ["1", "2"]),
    ("isURL('https://example.com')", True), ("isURL('not a url')", False),
    ("duration('1h30m') == duration('90m')", True), ("duration('2h') > duration('30m')", True),
])
def test_kubernetes_cel_libraries(text: str, value: Any) -> None:
    fn = compile_cel(text)
    assert callable(fn), fn
    assert fn(_workload(OBJECTS[0])) == value


def test_request_and_old_object_at_admission_and_null_in_ci() -> None:
    fn = compile_cel("request.userInfo.username == 'alice' && oldObject.spec.replicas < object.spec.replicas")
    assert callable(fn)
    old = {**OBJECTS[0], "spec": {"replicas": 1}}
    assert fn(_workload(OBJECTS[0], Admission("UPDATE", old, "alice", ("dev",)))) is True
    assert fn(_workload(OBJECTS[0])) is None  # no request in CI: an error, so null


@pytest.mark.parametrize(("text", "column", "words"), [
    ("object.metadata.name.lowerAsci() == 'x'", 22, "undeclared function 'lowerAsci' (did you mean 'lowerAscii'?)"),
    ("strings.quote(object.metadata.name)", 9, "undeclared function 'quote'"),
    ("foo(object)", 1, "undeclared function 'foo'"),
    ("object.spec.replicas <", 22, "near"),
])
def test_unknown_function_is_a_compile_time_error_located_in_the_file(text: str, column: int, words: str) -> None:
    result = compile_text(f'policy "p" {{\n  assert cel("{text}")\n}}')
    assert result.policy_set is None
    [error] = result.errors
    assert error.code == "E206" and words in error.message
    assert (error.span.line, error.span.column) == (2, len('  assert cel("') + column)


@pytest.mark.parametrize("text", ["(" * 1_000 + "true" + ")" * 1_000, "!" * 5_000 + "true"])
def test_cel_nested_past_the_stack_is_e206_at_the_string_not_a_traceback(text: str) -> None:
    """Issue #13: main's CEL compiler recursed into a RecursionError that surfaced as an E310 at line 1."""
    result = compile_text(f'policy "p" {{\n  assert cel("{text}")\n}}')
    assert result.policy_set is None
    [error] = result.errors
    assert error.code == "E206" and "nested too deeply" in error.message
    assert (error.span.line, error.span.column) == (2, len('  assert cel("') + 1)


def test_parameters_are_visible_inside_cel() -> None:
    text = ('param max_replicas = 2\nparam teams = ["nlp", "vision"]\n'
            'policy "p" { assert cel("object.spec.replicas <= params.max_replicas && '
            'object.metadata.labels.team in params.teams") }')
    result = compile_text(text)
    assert result.policy_set is not None, [d.headline() for d in result.diagnostics]
    [policy] = result.policy_set.policies
    violations = policy.violations(_workload(OBJECTS[0]))
    assert len(violations) == 1 and "params.max_replicas" in violations[0].message
