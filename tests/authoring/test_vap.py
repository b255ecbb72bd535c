"""``policy-engine import vap``: a ValidatingAdmissionPolicy, its binding and its ConfigMap parameters become a
policy that compiles, gives the VAP's verdicts, and says precisely what it could not translate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from policy_engine.authoring.vap import import_vap
from policy_engine.compiler import compile_text
from policy_engine.engine import Engine
from policy_engine.model.documents import Document, load_paths
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
    assert 'cel("object.spec.replicas <= int(params.data.maxReplicas)")' in run.stdout  # int(): kept as CEL


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
    assert "operations ['DELETE']: only CREATE and UPDATE are reviewed" in notes
    assert "resource 'gadgets' is not a kind the engine knows; matched as kind 'Gadget'" in notes
    assert "subresource 'pods/exec' is matched as 'pods'" in notes
    assert "excludeResourceRules" in notes and "auditAnnotations" in notes
    assert "no binding names its parameters" in notes
    assert "enforcement warn" in imported.text and "on_error open" in imported.text
    assert 'cel("object.metadata.name.size() < 10 ? true : false")' in imported.text  # a ternary stays CEL
    assert compile_text(imported.text).policy_set is not None


def test_no_vap_in_the_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "cm.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    run = _cli("import", "vap", str(path))
    assert run.returncode == 2 and "no ValidatingAdmissionPolicy" in run.stderr
    assert [d for d in load_paths([str(path)]) if isinstance(d, Document)]
