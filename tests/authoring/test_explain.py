"""explain: the clause that decided, every value read with its manifest line, cost arithmetic, groups;
and the traced verdict always equals the compiled one."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from policy_engine.authoring.explain import Explanation, UnknownPolicy, WorkloadExplanation, explain, render_text
from policy_engine.authoring.trace import PolicyTracer, Step
from policy_engine.compiler import compile_policies
from policy_engine.engine import Engine
from policy_engine.model.documents import Document, load_paths
from policy_engine.pricing.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "policies" / "tests"
CORPUS = ROOT.parent / "shared" / "corpus"
POLICIES = [str(ROOT / "policies")]


def _line(path: Path, text: str, after: int = 0) -> int:
    """The first line at or after ``after`` holding ``text``, 1-based."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if number >= after and text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def _explain(policy: str, manifest: Path) -> Explanation:
    result = explain([str(manifest)], policy, POLICIES)
    assert result.agrees, render_text(result)
    return result


def _workload(result: Explanation, name: str) -> WorkloadExplanation:
    return next(w for w in result.workloads if w.resource.endswith("/" + name))


def _rules(w: WorkloadExplanation) -> list[Step]:
    assert w.trace is not None
    return [s for s in w.trace.steps if s.clause == "rule"]


def test_missing_labels_are_traced_to_the_pod_template() -> None:
    manifest = SAMPLES / "required-cost-labels" / "manifests.yaml"
    result = _explain("required-cost-labels", manifest)
    job = _workload(result, "bert-finetune")
    assert job.trace is not None and job.trace.verdict == "fail"
    facts = {f.name: f for f in _rules(job)[0].facts}
    assert facts['labels["team"]'].value == "null"
    assert "not set" in (facts['labels["team"]'].source or "")
    backfill = _workload(result, "embeddings-backfill")
    environment_rule = _rules(backfill)[2]  # after the key list and the GPU-only model label
    fact = environment_rule.facts[0]
    assert fact.value == '"production"'
    # the Job's pods carry the template's labels: that is where the value is traced (not the Job's own)
    lines = manifest.read_text().splitlines()
    pod_line = max(i for i, text in enumerate(lines, 1) if "environment: production" in text)
    assert fact.source == f"spec.template.metadata.labels.environment (what the pods carry), line {pod_line}"
    assert environment_rule.outcome == "violated"


def test_allowlist_names_the_role_value_and_the_nodeselector_line() -> None:
    manifest = SAMPLES / "dev-gpu-allowlist" / "manifests.yaml"
    result = _explain("dev-gpu-allowlist", manifest)
    sweep = _workload(result, "sweep-dev")
    allow = _rules(sweep)[0]
    line = _line(manifest, "instance-type: p4d.24xlarge")
    assert allow.outcome == "violated"
    assert any("instance_type = p4d.24xlarge" in n and f"line {line}" in n and "matches no pattern" in n
               for n in allow.notes)
    assert allow.violations and "p4d.24xlarge" in allow.violations[0]
    prod = _workload(result, "sweep-prod")
    assert prod.trace is not None and prod.trace.verdict == "skip"
    assert "when condition" in prod.trace.decided_by
    when = next(s for s in prod.trace.steps if s.clause == "when")
    assert 'labels["environment"] == "dev" → false' in when.notes


def test_denylist_and_exclude() -> None:
    result = _explain("large-gpu-denylist", SAMPLES / "large-gpu-denylist" / "manifests.yaml")
    research = next(w for w in result.workloads if w.resource == "PyTorchJob research/llama-pretrain")
    assert research.trace is not None and research.trace.verdict == "skip"
    assert "excluded by the exclude block" in research.trace.decided_by
    distill = _workload(result, "distill")
    deny_models = _rules(distill)[1]
    assert any("gpu_model = H100" in n and "matches 'H100' → violation" in n for n in deny_models.notes)


def test_pinning_spot_and_guards() -> None:
    pinned = _explain("gpu-pinned", SAMPLES / "gpu-pinned" / "manifests.yaml")
    assert any("pins nothing" in n for n in _rules(_workload(pinned, "batch-inference"))[0].notes)
    manifest = SAMPLES / "spot-for-training" / "manifests.yaml"
    spot = _explain("spot-for-training", manifest)
    ondemand = _rules(_workload(spot, "lora-finetune-ondemand"))[0]
    line = _line(manifest, "capacity-type: on-demand")
    assert any("capacity_type = on-demand" in n and f"line {line}" in n for n in ondemand.notes)
    critical = _rules(_workload(spot, "release-retrain"))[0]
    assert critical.outcome == "skipped: its if guard is false"


def test_idle_timeout_and_deadline_facts() -> None:
    manifest = SAMPLES / "notebook-idle-shutdown" / "manifests.yaml"
    idle = _explain("notebook-idle-shutdown", manifest)
    bob = _rules(_workload(idle, "bob-notebook"))[0]
    assert bob.facts[0].describe() == "idle_timeout = null (no idle shutdown declared)"
    carol = _rules(_workload(idle, "carol-notebook"))[0]
    assert carol.facts[0].value == "8h" and carol.outcome == "violated"
    assert f"line {_line(manifest, 'idle-timeout: 8h')}" in (carol.facts[0].source or "")
    deadline = _explain("job-deadline", SAMPLES / "job-deadline" / "manifests.yaml")
    recsys = _rules(_workload(deadline, "recsys-retrain"))[0]
    assert {f.name: f.value for f in recsys.facts}["run_kind"] == '"unbounded"'


def test_assert_reads_parameters_and_gpu_fields() -> None:
    manifest = ROOT / "tests" / "fixtures" / "authoring" / "explain" / "ddp-typo.yaml"
    result = _explain("max-gpus", manifest)
    job = _workload(result, "ddp-typo")
    total = _rules(job)[0]
    facts = {f.name: f for f in total.facts}
    assert facts["gpus"].value == "80"
    assert f"line {_line(manifest, 'nvidia.com/gpu: 8')}" in (facts["gpus"].source or "")
    assert facts["max_gpus_per_workload"].source == f"param at {ROOT / 'policies' / 'max-gpus.policy'}:11"
    assert total.outcome == "violated" and "80 GPUs" in total.violations[0]
    config = next(w for w in result.workloads if w.resource.startswith("ConfigMap"))
    assert config.trace is None and "not a workload" in config.note


def test_cel_and_live_idle() -> None:
    cel = explain([str(ROOT / "tests" / "fixtures" / "authoring" / "cel" / "manifests.yaml")], "pinned-images-cel",
                  [str(ROOT / "tests" / "fixtures" / "authoring" / "cel" / "pinned-images-cel.policy")])
    assert cel.agrees, render_text(cel)
    step = _rules(_workload(cel, "tgi-latest"))[0]
    assert step.facts[0].name.startswith("cel(") and step.facts[0].value == "false"
    live = _explain("gpu-idle-live", ROOT / "examples" / "manifests" / "llm-serving-g5.yaml")
    assert _rules(live.workloads[0])[0].outcome.startswith("live only")


def test_quota_and_budget_show_the_share_and_the_group_decision() -> None:
    quota = _explain("team-gpu-hour-quota", SAMPLES / "team-gpu-hour-quota" / "manifests.yaml")
    chat = _workload(quota, "chat-serving")
    assert chat.groups == ['quota: group labels["team"]=nlp gets 5,840 GPU-hours per month from this workload '
                           "(projected); limit 5,000 GPU-hours"]
    assert len(quota.group_findings) == 1 and quota.group_findings[0].startswith('labels["team"]=nlp: [deny]')
    budget = _explain("team-monthly-budget", SAMPLES / "team-monthly-budget" / "manifests.yaml")
    assert [g.split(":")[0] for g in budget.group_findings] == ['labels["team"]=vision']


def test_cost_arithmetic_is_shown() -> None:
    result = _explain("workload-cost-ceiling", SAMPLES / "workload-cost-ceiling" / "manifests.yaml")
    serving = _workload(result, "llama-70b-serving")
    assert serving.cost[0].startswith("team: ")  # the one team dimension, as check and cost name it
    assert serving.cost[1] == "run time: continuous: a Deployment runs all month"
    assert any("p4d.24xlarge" in line and "× 730 h" in line for line in serving.cost)
    text = render_text(result)
    assert "FAIL" in text and "monthly_cost = $32,058.16" in text


def test_unknown_policy_names_the_known_ones_with_a_suggestion() -> None:
    with pytest.raises(UnknownPolicy) as caught:
        explain([str(SAMPLES / "gpu-pinned" / "manifests.yaml")], "gpu-pined", POLICIES)
    assert str(caught.value).startswith("no policy gpu-pined (did you mean gpu-pinned?); known: ")
    assert "gpu-pinned" in caught.value.known


def test_traced_verdicts_equal_compiled_verdicts_over_the_corpus() -> None:
    if not (CORPUS / "INDEX.tsv").is_file():
        pytest.skip(f"the shared corpus is absent at {CORPUS}")
    catalog = load_catalog()
    compiled = compile_policies([*POLICIES, str(ROOT / "examples" / "policies")], catalog=catalog)
    assert compiled.policy_set is not None
    engine = Engine(compiled.policy_set, catalog)
    tracers = [PolicyTracer(c, compiled.policy_set.get(c.instance.name), catalog)  # type: ignore[arg-type]
               for c in compiled.checked]
    files = sorted(str(p) for p in CORPUS.rglob("*.yaml"))
    docs = [d for d in load_paths(random.Random(3).sample(files, min(400, len(files))))
            if isinstance(d, Document)]
    verdicts: dict[str, int] = {}
    for doc in docs:
        try:
            w = engine.workload(doc)
        except Exception:
            continue
        if w is None:
            continue
        for tracer in tracers:
            trace = tracer.trace(w)
            assert trace.agrees, (tracer.full.name, w.ref(), trace.verdict, trace.compiled)
            verdicts[trace.verdict] = verdicts.get(trace.verdict, 0) + 1
    assert {"pass", "fail", "skip"} <= set(verdicts)


def test_raw_object_fields_are_traced_to_their_line(tmp_path: Path) -> None:
    policy = tmp_path / "host.policy"
    policy.write_text('policy "no-host-network" {\n  match {\n    kinds [Deployment]\n  }\n'
                      '  forbid object.spec.template.spec.hostNetwork == true\n}\n')
    manifest = tmp_path / "host.yaml"
    manifest.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: sniffer\nspec:\n"
                        "  template:\n    spec:\n      hostNetwork: true\n      containers:\n"
                        "        - name: c\n          image: busybox:1.36\n")
    result = explain([str(manifest)], "no-host-network", [str(policy)])
    assert result.agrees
    step = _rules(result.workloads[0])[0]
    assert step.outcome == "violated"
    assert step.facts[0].describe() == ("object.spec.template.spec.hostNetwork = true "
                                        "(spec.template.spec.hostNetwork, line 8)")
