"""``policy-engine import vap``: a ValidatingAdmissionPolicy, its binding and its ConfigMap parameters become a
policy that compiles, gives the VAP's verdicts, and says precisely what it could not translate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from policy_engine.authoring.vap import import_vap
from policy_engine.compiler import compile_text
from policy_engine.compiler.cel import compile_cel_reference
from policy_engine.engine import Engine
from policy_engine.model.documents import Document, load_objects, load_paths
from policy_engine.pricing.catalog import load_catalog

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "authoring" / "vap"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policy_engine.cli.main", *args], capture_output=True, text=True,
                          check=False)


def test_the_translation_is_the_golden_policy_and_names_what_it_left_out() -> None:
    run = _cli("import", "vap", str(FIXTURES / "replica-limit.yaml"))
    assert run.returncode == 1  # something could not be translated, and it says what
    assert run.stdout == (FIXTURES / "replica-limit.expected.policy").read_text()
    assert "spec.matchResources.namespaceSelector (namespace labels are not known in CI)" in run.stderr
    assert "spec.validations[0].messageExpression" in run.stderr
    assert "kinds [Deployment, StatefulSet]" in run.stdout and 'when "team" in object_labels' in run.stdout
    assert "assert all c in object.spec.template.spec.containers: has(c.resources)" in run.stdout  # native
    assert 'assert object.spec.replicas <= int(data["maxReplicas"])' in run.stdout  # int() and params: native
    assert "split(':')" in run.stdout and 'assert cel("' in run.stdout  # strings.split has no native form


def test_the_imported_policy_gives_the_vap_verdicts() -> None:
    text = (FIXTURES / "replica-limit.expected.policy").read_text()
    compiled = compile_text(text, "imported.policy")
    assert compiled.policy_set is not None, [d.headline() for d in compiled.diagnostics]
    result = Engine(compiled.policy_set, load_catalog()).evaluate(load_paths([str(FIXTURES / "deployments.yaml")]))
    by_name: dict[str, list[str]] = {}
    for f in result.findings:
        by_name.setdefault(f.resource.name, []).append(f.message)
    assert "api" not in by_name and "untagged" not in by_name
    assert len(by_name["big"]) == 3
    assert "every container sets resource limits" in by_name["big"] and "no :latest images" in by_name["big"]


def test_what_does_not_map_is_listed() -> None:
    vap = {"kind": "ValidatingAdmissionPolicy", "metadata": {"name": "x"}, "spec": {
        "failurePolicy": "Ignore", "paramKind": {"kind": "Widget"},
        "matchConstraints": {"resourceRules": [{"operations": ["DELETE"], "resources": ["gadgets", "pods/exec"]}],
                             "excludeResourceRules": [{"resources": ["pods"]}]},
        "auditAnnotations": [{"key": "a", "valueExpression": "'b'"}],
        "validations": [{"expression": "object.metadata.name.size() < 10 ? true : false"}]}}
    binding = {"kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "b"},
               "spec": {"policyName": "x", "validationActions": ["Warn", "Audit"]}}
    [imported] = import_vap([vap, binding])
    notes = "\n".join(imported.notes)
    assert "operations ['DELETE']: the webhook reviews CREATE and UPDATE only" in notes
    assert "resource 'gadgets' is not a kind the engine knows; matched as kind 'Gadget'" in notes
    assert "subresource 'pods/exec' is matched as 'pods'" in notes
    assert "auditAnnotations" in notes and "exclude { kinds [Pod] }" in imported.text
    assert "no binding names its parameters" in notes
    assert "enforcement warn" in imported.text and "on_error open" in imported.text
    # a ternary stays CEL; under failurePolicy Ignore a CEL error admits: `!= false` says so
    assert 'cel("object.metadata.name.size() < 10 ? true : false") != false' in imported.text
    assert 'operation in ["DELETE"]' in imported.text
    assert compile_text(imported.text).policy_set is not None


def test_no_vap_in_the_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "cm.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    run = _cli("import", "vap", str(path))
    assert run.returncode == 2 and "no ValidatingAdmissionPolicy" in run.stderr
    assert [d for d in load_paths([str(path)]) if isinstance(d, Document)]


def _imported(spec: dict[str, Any], binding: dict[str, Any] | None = None) -> str:
    vap = {"kind": "ValidatingAdmissionPolicy", "metadata": {"name": "p"}, "spec": spec}
    docs = [vap, binding or {"kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "b"},
                             "spec": {"policyName": "p", "validationActions": ["Deny"]}}]
    [imported] = import_vap(docs)
    assert compile_text(imported.text).policy_set is not None, imported.text
    return imported.text


def test_operations_resource_names_and_exclusions_become_conditions() -> None:
    text = _imported({"matchConstraints": {
        "resourceRules": [{"operations": ["CREATE"], "resources": ["deployments"], "resourceNames": ["api", "web"]},
                          {"operations": ["UPDATE"], "resources": ["statefulsets"]}],
        "excludeResourceRules": [{"operations": ["*"], "resources": ["replicasets"]}]},
        "validations": [{"expression": "object.spec.replicas <= 5"}]})
    assert "kinds [Deployment, StatefulSet]" in text and "exclude { kinds [ReplicaSet] }" in text
    assert ('(kind in ["Deployment"] and (operation == null or operation in ["CREATE"]) and name in ["api", "web"])'
            in text)
    assert '(kind in ["StatefulSet"] and (operation == null or operation in ["UPDATE"]))' in text


def test_the_admission_request_and_the_old_object_are_read_natively() -> None:
    text = _imported({"matchConstraints": {"resourceRules": [{"operations": ["UPDATE"], "resources": ["deployments"]}]},
                      "validations": [
                          {"expression": "object.spec.replicas <= oldObject.spec.replicas || "
                                         "'platform' in request.userInfo.groups",
                           "messageExpression": "request.userInfo.username + ' may not scale ' + "
                                                "object.metadata.name + ' up'"}]})
    assert ("(object.spec.replicas <= old_object.spec.replicas) or (\"platform\" in groups)" in text
            and 'message "{user} may not scale {name} up"' in text)


def test_params_of_numbers_become_a_map_parameter() -> None:
    binding = {"kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "b"},
               "spec": {"policyName": "p", "paramRef": {"name": "limits"}}}
    limits = {"kind": "ReplicaLimit", "metadata": {"name": "limits"}, "spec": {"max": 5, "min": 1}}
    vap = {"kind": "ValidatingAdmissionPolicy", "metadata": {"name": "p"}, "spec": {
        "paramKind": {"kind": "ReplicaLimit"},
        "matchConstraints": {"resourceRules": [{"resources": ["deployments"]}]},
        "validations": [{"expression": "object.spec.replicas <= params.spec.max"}]}}
    [imported] = import_vap([vap, binding, limits])
    assert 'param spec = {"max": 5, "min": 1}' in imported.text
    assert 'assert (object.spec.replicas <= spec["max"])' in imported.text and imported.notes == []


PAUSED = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
          "spec": {"paused": True, "template": {"spec": {"hostNetwork": False}}}}
ABSENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": {}}}}


@pytest.mark.parametrize(("expression", "native"), [
    ("object.spec.replicas <= 5", True),  # false where CEL errors: native
    ("has(object.spec.paused) && object.spec.paused != true", True),  # guarded
    ("!has(object.spec.paused) || !(object.spec.paused == true)", True),  # guarded
    ("object.spec.paused != true", False),  # natively it would hold where CEL errors: stays CEL
    ("!(object.spec.paused == true)", False),
    ("object.spec.template.spec.hostNetwork == null", False),
])
@pytest.mark.parametrize("obj", [PAUSED, ABSENT], ids=["present", "absent"])
def test_a_translation_decides_as_the_api_server_does(expression: str, native: bool, obj: dict[str, Any]) -> None:
    """The verdict of the imported policy is the API server's: the CEL result, and a denial where CEL errors
    (an absent field) under failurePolicy Fail; native only where that holds for absent fields too."""
    text = _imported({"failurePolicy": "Fail", "matchConstraints": {"resourceRules": [{"resources": ["deployments"]}]},
                      "validations": [{"expression": expression}]})
    assert ('cel("' not in text) is native, text
    compiled = compile_text(text)
    assert compiled.policy_set is not None
    [policy] = compiled.policy_set.policies
    doc = next(d for d in load_objects([obj]) if isinstance(d, Document))
    w = Engine(compiled.policy_set, load_catalog()).subject(doc)
    assert w is not None
    reference = compile_cel_reference(expression)
    assert callable(reference)
    api_server_denies = reference(w) is not True  # an error (None) is a denial under Fail
    assert (policy.violations(w) != []) is api_server_denies


def test_under_failure_policy_ignore_an_error_admits() -> None:
    rules = {"resourceRules": [{"resources": ["deployments"]}]}
    text = _imported({"failurePolicy": "Ignore", "matchConstraints": rules,
                      "validations": [{"expression": "object.spec.replicas <= 5"}]})
    assert 'assert cel("object.spec.replicas <= 5") != false' in text


def test_the_remaining_approximations_are_named() -> None:
    vap = {"kind": "ValidatingAdmissionPolicy", "metadata": {"name": "p"}, "spec": {
        "paramKind": {"kind": "Limits"},
        "matchConstraints": {"resourceRules": [{"resources": ["deployments"]}], "matchPolicy": "Exact",
                             "namespaceSelector": {"matchLabels": {"env": "prod"}}},
        "matchConditions": [{"name": "gpu", "expression": "object.spec.template.spec.nodeName != ''"}],
        "validations": [{"expression": "object.spec.replicas <= 5",
                         "messageExpression": "'at most ' + string(params.spec.max)"}]}}
    binding = {"kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": "b"},
               "spec": {"policyName": "p", "paramRef": {"name": "limits"}}}
    limits = {"kind": "Limits", "metadata": {"name": "limits"}, "spec": {"max": {"replicas": 5}}}
    [imported] = import_vap([vap, binding, limits])
    notes = "\n".join(imported.notes)
    assert "spec.matchConstraints.matchPolicy Exact (kinds are matched by name" in notes
    assert "spec.matchConstraints.namespaceSelector (namespace labels are not known in CI)" in notes
    assert "spec.matchConditions[0] reads a field that may be absent: where CEL errors the API server rejects" in notes
    assert "spec.validations[0].messageExpression (only a concatenation of strings" in notes
    assert "parameter field 'spec' of Limits/limits (only maps whose values are all strings" in notes
    assert compile_text(imported.text).policy_set is not None
