"""Every rule form evaluates as docs/language.md says, with its default or custom message."""

from __future__ import annotations

from policy_engine.compiler.program import Violation, new_violation
from policy_engine.model.workload import CapacityType, RunKind, RunTime
from tests.workloads import compile_one, role, workload


def messages(text: str, w: object) -> list[str]:
    policy = compile_one(text)
    return [v.message for v in policy.violations(w)]  # type: ignore[arg-type]


def test_required_labels_name_the_missing_ones() -> None:
    rule = 'policy "p" { require labels ["team", "cost-center"] }'
    assert messages(rule, workload(labels={"team": "ml", "cost-center": "42"})) == []
    [msg] = messages(rule, workload(labels={"team": "ml"}))
    assert "missing required label cost-center" in msg and "metadata.labels" in msg


def test_label_with_allowed_values_and_regex() -> None:
    allowed = 'policy "p" { require label "env" in ["prod", "dev"] }'
    assert messages(allowed, workload(labels={"env": "prod"})) == []
    [msg] = messages(allowed, workload(labels={"env": "test"}))
    assert "label env='test' is not allowed; use one of: prod, dev" in msg
    [missing] = messages(allowed, workload())
    assert "label 'env' is missing" in missing
    regex = 'policy "p" { require annotation "owner" matches "^[a-z]+$" }'
    assert messages(regex, workload(annotations={"owner": "alice"})) == []
    [bad] = messages(regex, workload(annotations={"owner": "Alice"}))
    assert "does not match ^[a-z]+$" in bad


def test_instance_type_allowlist_is_checked_per_gpu_role() -> None:
    rule = 'policy "p" { allow instance_types ["g5.*", "g6.*"] }'
    ok = workload(role("launcher", instance_type="m5.large"), role("worker", gpus=1, instance_type="g5.xlarge"))
    assert messages(rule, ok) == []  # the CPU launcher does not decide
    bad = workload(role("master", gpus=1, instance_type="g5.xlarge"),
                   role("worker", gpus=8, instance_type="p5.48xlarge"))
    [msg] = messages(rule, bad)
    assert msg.startswith("role worker uses instance type p5.48xlarge, which is not allowed")
    candidates = workload(role("worker", gpus=1, candidates=("g5.xlarge", "p4d.24xlarge")))
    assert len(messages(rule, candidates)) == 1


def test_gpu_model_denylist_globs_ignore_case() -> None:
    rule = 'policy "p" { deny gpu_models ["*h100*"] }'
    [msg] = messages(rule, workload(role(gpus=8, gpu_model="NVIDIA-H100-80GB-HBM3")))
    assert "role worker uses GPU model NVIDIA-H100-80GB-HBM3, which is denied (*h100*)" in msg
    assert messages(rule, workload(role(gpus=1, gpu_model="NVIDIA-A10G"))) == []


def test_require_pinned_flags_gpu_roles_without_placement() -> None:
    rule = 'policy "p" { require pinned }'
    [msg] = messages(rule, workload(role("worker", gpus=2)))
    assert "role worker requests 2 GPU(s) per pod but pins no instance type or GPU model" in msg
    assert messages(rule, workload(role(gpus=2, gpu_model="NVIDIA-L4"))) == []
    assert messages(rule, workload(role(gpus=0))) == []


def test_require_spot_with_guard_and_unknown_capacity() -> None:
    rule = 'policy "p" { require spot if labels["criticality"] != "critical" }'
    [msg] = messages(rule, workload(role(gpus=1)))
    assert "unknown capacity type counts as not spot" in msg
    [od] = messages(rule, workload(role(gpus=1, capacity=CapacityType.ON_DEMAND)))
    assert "runs on on-demand capacity, not spot" in od
    assert messages(rule, workload(role(gpus=1, capacity=CapacityType.SPOT))) == []
    assert messages(rule, workload(role(gpus=1), labels={"criticality": "critical"})) == []


def test_idle_timeout_declared_and_bounded() -> None:
    rule = 'policy "p" { require idle_timeout <= 30m }'
    [none] = messages(rule, workload())
    assert "no idle shutdown is declared" in none and "at most 30m" in none
    assert 'the annotation policy-engine.io/idle-timeout: "30m"' in none  # the fix names the key to set
    [long] = messages(rule, workload(idle_timeout=7200))
    assert "idle timeout is 2h, longer than the maximum 30m" in long
    assert 'policy-engine.io/idle-timeout: "30m"' in long
    assert messages(rule, workload(idle_timeout=900)) == []


def test_deadline_bounded_and_at_most() -> None:
    rule = 'policy "p" { require deadline <= 24h }'
    unbounded = RunTime(RunKind.UNBOUNDED, None, 1.0, "no activeDeadlineSeconds")
    [msg] = messages(rule, workload(run_time=unbounded))
    assert "no bounded run time (no activeDeadlineSeconds)" in msg
    [long] = messages(rule, workload(run_time=RunTime(RunKind.BOUNDED, 48.0, 1.0, "deadline")))
    assert "may run 2d per run, longer than the maximum 1d" in long
    continuous = RunTime(RunKind.CONTINUOUS, 730.0, 1.0, "Deployment")
    assert messages(rule, workload(run_time=continuous)) == []


def test_assert_and_forbid_default_messages_quote_values_and_parameters() -> None:
    text = 'param max_gpus = 8\npolicy "p" { assert gpus <= max_gpus }'
    [msg] = messages(text, workload(role(replicas=4, gpus=4)))
    assert msg == "requires gpus <= max_gpus, but gpus is 16; max_gpus is 8"
    assert messages(text, workload(role(replicas=2, gpus=4))) == []
    forbid = 'policy "p" { forbid object.spec.hostNetwork == true }'
    policy = compile_one(forbid)
    [v] = policy.violations(workload(obj={"spec": {"hostNetwork": True}}))
    assert v.path == ("spec", "hostNetwork") and "holds, which the policy forbids" in v.message


def test_custom_message_placeholders() -> None:
    text = ('param max_gpus = 8\npolicy "p" { assert gpus <= max_gpus '
            'message "{policy}: {name} in {namespace} asks for {gpus} GPUs (max {max_gpus}), {monthly_cost}" }')
    [msg] = messages(text, workload(role(replicas=2, gpus=8), name="train", namespace="ml", monthly=1500.0))
    assert msg == "p: train in ml asks for 16 GPUs (max 8), $1,500.00"


def test_every_workload_but_those_excluded_then_the_whens() -> None:
    """The library's commonest shape: ``kinds workloads``, one ``exclude`` block, ``when``s (or none)."""
    text = '''policy "p" {
      match { kinds workloads }
      exclude { namespaces ["kube-*", "research"] }
      when gpus > 0
      when labels["env"] != "prod"
      require spot
    }'''
    policy = compile_one(text)
    gpu, cpu = role(gpus=1), role()
    assert policy.applies(workload(gpu, namespace="ml"))
    assert policy.applies(workload(gpu, namespace=None))  # no namespace: only "*" would exclude it
    assert not policy.applies(workload(gpu, namespace="kube-system"))
    assert not policy.applies(workload(gpu, namespace="research"))
    assert not policy.applies(workload(cpu, namespace="ml"))
    assert not policy.applies(workload(gpu, namespace="ml", labels={"env": "prod"}))
    only = compile_one('policy "p" { exclude { namespaces ["research"] } require spot }')
    assert only.applies(workload(cpu, namespace="ml")) and not only.applies(workload(cpu, namespace="research"))


def test_match_exclude_and_when_decide_applies() -> None:
    text = '''policy "p" {
      match { kinds [Job] namespaces ["ml-*"] labels { "team" exists, "tier" != "dev" } }
      exclude { labels { "legacy" = "true" } }
      when gpus > 0
      require spot
    }'''
    policy = compile_one(text)
    gpu = role(gpus=1)
    assert policy.kinds == frozenset({"Job"})
    assert policy.applies(workload(gpu, kind="Job", namespace="ml-train", labels={"team": "a"}))
    assert not policy.applies(workload(gpu, kind="Job", namespace="web", labels={"team": "a"}))
    assert not policy.applies(workload(gpu, kind="Job", namespace=None, labels={"team": "a"}))
    assert not policy.applies(workload(gpu, kind="Job", namespace="ml-x", labels={"team": "a", "tier": "dev"}))
    assert not policy.applies(workload(gpu, kind="Job", namespace="ml-x", labels={"team": "a", "legacy": "true"}))
    assert not policy.applies(workload(role(gpus=0), kind="Job", namespace="ml-x", labels={"team": "a"}))


def test_workloads_group_matches_every_workload() -> None:
    policy = compile_one('policy "p" { match { kinds workloads } require spot }')
    assert policy.kinds is None  # every kind the model builds, registered or read by convention
    assert policy.applies(workload(kind="SomeNewTrainingCRD"))
    mixed = compile_one('policy "p" { match { kinds [Job] } match { kinds [RayJob] } require spot }')
    assert mixed.kinds == frozenset({"Job", "RayJob"})
    assert mixed.applies(workload(kind="RayJob")) and not mixed.applies(workload(kind="Deployment"))


def test_settings_are_decoded() -> None:
    policy = compile_one('''policy "p" {
      description "d" severity critical enforcement audit on_error closed exemptions allowed help "h"
      require spot
    }''')
    assert (policy.severity.value, policy.enforcement.value, policy.failure_mode.value) == (
        "critical", "audit", "closed")
    assert policy.allow_exemption and policy.description == "d" and policy.help == "h"


def test_aggregates_compile_to_rules_with_key_closures() -> None:
    policy = compile_one('''policy "p" {
      quota gpu_hours 1000 per month by labels["team"] overrides { "research" = 4000 }
      budget $5,000 per week by namespace alert at 80%, 50%, 100% message "{group} at {percent}"
    }''')
    quota, budget = policy.aggregates
    assert (quota.kind, quota.metric, quota.period.value, quota.key_label) == (
        "quota", "gpu_hours", "month", 'labels["team"]')
    assert quota.limit_for("research") == 4000 and quota.limit_for("web") == 1000
    assert quota.key(workload(labels={"team": "nlp"})) == "nlp" and quota.key(workload()) is None
    assert (budget.metric, budget.default_limit, budget.thresholds) == ("cost", 5000.0, (0.5, 0.8, 1.0))
    assert budget.key(workload(namespace="ml")) == "ml" and budget.message == "{group} at {percent}"


def test_live_idle_is_kept() -> None:
    policy = compile_one('param t = 10%\npolicy "p" { idle gpu_utilisation < t for 1h }')
    [live] = policy.live_idle
    assert (live.utilisation_below, live.for_seconds) == (0.1, 3600.0)
    assert policy.violations(workload()) == []


def test_a_violation_built_from_its_fields_is_the_named_tuple() -> None:
    built = new_violation(("assert", "m", ("spec",), 1.5, {"a": 1}))
    assert type(built) is Violation and built == Violation("assert", "m", ("spec",), 1.5, {"a": 1})
    fields = (built.rule, built.message, built.path, built.saving, built.facts)
    assert fields == ("assert", "m", ("spec",), 1.5, {"a": 1})
    assert built._replace(message="n").message == "n"
