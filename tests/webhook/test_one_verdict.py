"""One verdict from CI to the cluster: a workload passes ``check`` iff the webhook admits it AND every
object the controllers derive from it (``controller_sim``), over every fixture and the shared corpus.

The policies are the bundled library without its set-level rules (quotas and budgets are decided over
the scanned set in CI and over live usage at admission: docs/webhook.md), plus one rule that allows
object exemptions (``one-verdict-policies``), and without request exemptions (a namespace the webhook
exempts must also be excluded by the policies for CI to agree: docs/webhook.md). Both sides decide object
exemption annotations on the same day with their default settings: one rule (``engine/exemptions.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from policy_engine.bundled import bundled_policies_dir
from policy_engine.compiler.program import Enforcement, PolicySet
from policy_engine.engine import Engine, Options, load_engine
from policy_engine.engine.exemptions import ExemptionRule
from policy_engine.model.documents import Document, load_paths
from policy_engine.model.kinds import KNOWN_KINDS
from policy_engine.webhook.admission import AdmissionRequest
from policy_engine.webhook.config import WebhookConfig
from policy_engine.webhook.exemptions import RequestExemptions
from policy_engine.webhook.review import LoadedEngine, ReviewState, decide

from . import controller_sim

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
ONE_VERDICT = FIXTURES / "webhook" / "one-verdict"
EXEMPTABLE = FIXTURES / "webhook" / "one-verdict-policies"
TODAY = date(2026, 6, 1)
CORPUS = ROOT.parent / "shared" / "corpus"
#: Every in-repo manifest: model, pricing, check and policy-library fixtures, examples, this test's own.
FIXTURE_DIRS = [FIXTURES / "model", FIXTURES / "pricing" / "examples", FIXTURES / "check" / "tree",
                 FIXTURES / "check" / "quota", FIXTURES / "engine", ROOT / "policies" / "tests",
                 ROOT / "examples" / "manifests", ONE_VERDICT]


@pytest.fixture(scope="module")
def judge() -> tuple[Engine, ReviewState]:
    library = load_engine([bundled_policies_dir(), EXEMPTABLE])
    per_object = tuple(p for p in library.policies.policies if not p.aggregates and not p.live_idle)
    engine = Engine(PolicySet.build(per_object, KNOWN_KINDS), library.catalog)
    config = WebhookConfig(exempt_namespaces=())
    return engine, ReviewState(LoadedEngine.of(engine), config, RequestExemptions.from_config(config), TODAY)


def _request(obj: dict[str, Any], i: int) -> AdmissionRequest:
    meta = obj.get("metadata") or {}
    return AdmissionRequest.model_validate({
        "uid": f"00000000-0000-4000-8000-{i:012d}", "operation": "CREATE",
        "kind": {"group": "", "version": "v1", "kind": str(obj.get("kind") or "")},
        "name": str(meta.get("name") or ""), "namespace": str(meta.get("namespace") or "default"),
        "userInfo": {"username": "system:serviceaccount:kube-system:some-controller"}, "object": obj})


def _denied(result_findings: Any) -> set[str]:
    return {f.policy for f in result_findings if f.enforcement is Enforcement.DENY}


def verdicts(doc: Document, judge: tuple[Engine, ReviewState]) -> tuple[set[str], dict[str, set[str]]] | None:
    """(policies denying in check, {object: policies denying at admission} over the chain); None when the
    document is not a workload or the model reports it malformed (check exits 2 on it)."""
    engine, state = judge
    result = engine.evaluate([doc], options=Options(exemptions=ExemptionRule(TODAY)))
    if result.errors or not result.stats.workloads:
        return None
    check = _denied(result.findings)
    cluster: dict[str, set[str]] = {}
    for i, obj in enumerate([doc.obj, *controller_sim.chain(doc.obj)]):
        decision = decide(_request(obj, i), state)
        what = f"{obj.get('kind')} {(obj.get('metadata') or {}).get('name')}"
        assert decision.result != "error", f"{what}: {decision.error}"
        denied = _denied(decision.findings) if decision.result == "denied" else set()
        cluster[what] = denied
    return check, cluster


def _documents(paths: list[Path]) -> Iterator[Document]:
    for item in load_paths([str(p) for p in paths if p.exists()]):
        if isinstance(item, Document):
            yield item


def _assert_one_verdict(doc: Document, judge: tuple[Engine, ReviewState]) -> bool:
    found = verdicts(doc, judge)
    if found is None:
        return False
    check, cluster = found
    denied_somewhere = {what: policies for what, policies in cluster.items() if policies}
    assert bool(check) == bool(denied_somewhere), (
        f"{doc.file}:{doc.line} {doc.kind}: check denies {sorted(check) or 'nothing'}, "
        f"the cluster denies {denied_somewhere or 'nothing'}")
    # the same policies: what CI reports is what the cluster would stop on somewhere along the chain
    assert check == set().union(*cluster.values()), (doc.file, doc.line, check, cluster)
    return True


def test_every_fixture_gets_one_verdict_from_ci_and_the_cluster(judge: tuple[Engine, ReviewState]) -> None:
    judged = [doc for doc in _documents(FIXTURE_DIRS) if _assert_one_verdict(doc, judge)]
    assert len(judged) > 100


def test_the_fixtures_include_workloads_each_side_denies(judge: tuple[Engine, ReviewState]) -> None:
    """Not a vacuous invariant: the in-repo set holds denied and admitted chains of every simulated kind."""
    outcomes: dict[str, set[bool]] = {}
    for doc in _documents([ONE_VERDICT]):
        found = verdicts(doc, judge)
        assert found is not None, f"{doc.file}:{doc.line}"
        outcomes.setdefault(doc.kind, set()).add(bool(found[0]))
    missing = {k for k in controller_sim.SIMULATED - {"ReplicaSet", "ReplicationController"}
               if outcomes.get(k) != {True, False}}
    assert missing == set(), f"kinds without both a passing and a failing one-verdict fixture: {missing}"


@pytest.mark.skipif(not (CORPUS / "INDEX.tsv").is_file(), reason=f"shared corpus absent at {CORPUS}")
def test_every_corpus_workload_gets_one_verdict(judge: tuple[Engine, ReviewState]) -> None:
    files = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file())
    judged = sum(_assert_one_verdict(doc, judge) for doc in _documents(files))
    assert judged > 500


def test_object_exemptions_are_one_rule_in_ci_and_at_admission(judge: tuple[Engine, ReviewState]) -> None:
    """Dates, the 90-day cap, a missing or malformed date, where the annotation sits: the same answer."""
    passing: dict[str, bool] = {}
    for doc in _documents([ONE_VERDICT / "exemptions.yaml"]):
        assert _assert_one_verdict(doc, judge)
        found = verdicts(doc, judge)
        assert found is not None
        passing[doc.obj["metadata"]["name"]] = not found[0]
    assert passing == {"exempt-on-template": True, "exempt-cron": True, "exempt-all": True,
                       "exempt-expired": False, "exempt-too-long": False, "exempt-undated": False,
                       "exempt-bad-date": False, "exempt-on-object-only": False}


def test_a_rayjobs_default_submitter_pod_fails_check_where_the_cluster_denies_it(
        judge: tuple[Engine, ReviewState]) -> None:
    """KubeRay's submitter Job carries none of the RayJob's labels: every cluster pod labelled is not enough."""
    doc = next(d for d in _documents([ONE_VERDICT / "rayjob.yaml"])
               if d.obj["metadata"]["name"] == "rayjob-default-submitter")
    found = verdicts(doc, judge)
    assert found is not None
    check, cluster = found
    assert check == {"required-cost-labels"}
    denied = {what for what, policies in cluster.items() if policies and not what.startswith("RayJob ")}
    assert denied == {"Job rayjob-default-submitter"} | {w for w in cluster if w.startswith("Pod rayjob-default-"
                                                                                         "submitter-") and
                                                          "-head-" not in w and "-worker-" not in w}
    engine, _ = judge
    findings = [f for f in engine.evaluate([doc]).findings if f.policy == "required-cost-labels"]
    assert findings and {f.field_path[:4] for f in findings} == {("spec", "submitterPodTemplate", "metadata", "labels")}
    assert all("spec.submitterPodTemplate.metadata.labels" in f.message for f in findings)


@pytest.mark.parametrize(("file", "name", "fix"), [
    ("trainjob.yaml", "trainjob-labels-on-object-only", "spec.podTemplateOverrides"),
    ("llminferenceservice.yaml", "llmisvc-labels-on-object-only",
     "metadata.namespace (KServe copies only kueue.x-k8s.io/* labels of an LLMInferenceService to its pods"),
    ("workspace.yaml", "workspace-preset-labels-on-object-only",
     "metadata.namespace (KAITO labels a preset Workspace's pods kaito.sh/workspace only"),
    ("experiment.yaml", "experiment-labels-on-object-only", "spec.trialTemplate.trialSpec.spec.template.metadata"),
])
def test_labels_the_controller_does_not_copy_fail_with_a_fix_that_reaches_the_pods(
        judge: tuple[Engine, ReviewState], file: str, name: str, fix: str) -> None:
    """Cost labels on the object's own metadata: its controller does not copy them to the pods it makes."""
    engine, _ = judge
    doc = next(d for d in _documents([ONE_VERDICT / file]) if d.obj["metadata"]["name"] == name)
    messages = [f.message for f in engine.evaluate([doc]).findings if f.policy == "required-cost-labels"]
    assert messages and all(fix in m for m in messages), messages


def test_an_experiment_bounded_only_by_its_own_annotation_fails_where_its_trial_jobs_would(
        judge: tuple[Engine, ReviewState]) -> None:
    """Katib creates each trial's job as written: the Experiment's expected-duration never reaches it."""
    engine, _ = judge
    (doc,) = _documents([FIXTURES / "model" / "katib_experiment.yaml"])
    result = engine.evaluate([doc], options=Options(workloads=True))
    (deadline,) = [f for f in result.findings if f.policy == "job-deadline"]
    assert "spec.trialTemplate.trialSpec.spec.runPolicy.activeDeadlineSeconds" in deadline.message
    (w,) = result.workloads
    assert w.run_time.hours_per_run == 12  # the projection still uses the Experiment's declared 12 h
    found = verdicts(doc, judge)
    assert found is not None and "job-deadline" in found[0]
    assert any("job-deadline" in denied for what, denied in found[1].items() if what.startswith("PyTorchJob "))


def test_a_kaito_tuning_workspace_fails_the_job_rules_its_job_will_meet(
        judge: tuple[Engine, ReviewState]) -> None:
    """KAITO's tuning Job carries no deadline, whatever the Workspace declares: CI fails the Workspace on
    job-deadline and the webhook denies it, instead of admitting it and denying the Job it creates."""
    [doc] = [d for d in _documents([ONE_VERDICT / "workspace-tuning.yaml"])]
    found = verdicts(doc, judge)
    assert found is not None
    check, cluster = found
    assert "job-deadline" in check
    assert "job-deadline" in cluster[f"Workspace {doc.obj['metadata']['name']}"]
    assert any("job-deadline" in denied for what, denied in cluster.items() if what.startswith("Job "))
