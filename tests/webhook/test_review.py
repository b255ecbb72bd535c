"""decide() is pure: every branch, driven by the fixture AdmissionReviews against hand-built policies."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from policy_engine.compiler.program import Enforcement, FailureMode
from policy_engine.engine import Usage
from policy_engine.webhook.admission import AdmissionRequest, AdmissionResponse
from policy_engine.webhook.config import WebhookConfig
from policy_engine.webhook.review import LoadedEngine, ReviewState, decide

from .reviews import (
    StaticClusterState,
    broken_policy,
    engine,
    everything_said,
    request,
    review_body,
    state,
    team_quota,
)


def respond(req: AdmissionRequest, st: ReviewState) -> AdmissionResponse:
    return decide(req, st).response


KINDS = ("pod", "deployment", "pytorchjob", "rayjob", "inferenceservice")


@pytest.fixture(scope="module")
def loaded() -> LoadedEngine:
    return engine()


@pytest.mark.parametrize("kind", KINDS)
def test_untagged_workload_is_denied_with_a_line_per_policy(loaded: LoadedEngine, kind: str) -> None:
    req = request(f"deny-{kind}-untagged")
    response = respond(req, state(loaded))
    assert response.uid == req.uid
    assert response.allowed is False
    assert response.status is not None and response.status.code == 403
    lines = response.status.message.splitlines()
    assert lines[0].endswith("violates 1 policy:")
    assert lines[1].startswith('- require-team-label: missing required label "team"')
    assert "(fix: add metadata.labels.team" in lines[1]


@pytest.mark.parametrize("kind", KINDS)
def test_tagged_workload_is_allowed_without_status(loaded: LoadedEngine, kind: str) -> None:
    req = request(f"allow-{kind}-tagged")
    response = respond(req, state(loaded))
    assert (response.uid, response.allowed, response.status, response.warnings) == (req.uid, True, None, None)


def test_warn_findings_become_short_warnings(loaded: LoadedEngine) -> None:
    response = respond(request("warn-gpu-not-spot"), state(loaded))
    assert response.allowed is True
    assert response.warnings is not None
    assert [w.split(":")[0] for w in response.warnings] == ["prefer-spot"]
    assert all(len(w) <= 120 for w in response.warnings)


def test_audit_findings_are_decided_but_not_shown(loaded: LoadedEngine) -> None:
    decision = decide(request("warn-gpu-not-spot"), state(loaded))
    audit = [f for f in decision.findings if f.enforcement is Enforcement.AUDIT]
    assert [f.policy for f in audit] == ["gpu-idle-audit"]
    shown = " ".join(decision.response.warnings or [])
    assert "gpu-idle-audit" not in shown


def test_several_policies_each_get_their_own_line(loaded: LoadedEngine) -> None:
    req = request("deny-too-many-gpus", lambda obj: obj["spec"]["template"]["metadata"].pop("labels"))
    response = respond(req, state(loaded))
    assert response.status is not None
    lines = response.status.message.splitlines()
    assert lines[0] == "Deployment ml/gpu-farm violates 2 policies:"
    assert sorted(line.split(":")[0] for line in lines[1:]) == ["- gpu-cap", "- require-team-label"]
    assert "asks for 12 GPUs" in response.status.message


def test_exempt_namespace_is_not_evaluated(loaded: LoadedEngine) -> None:
    decision = decide(request("exempt-namespace"), state(loaded))
    assert decision.response.allowed is True
    assert decision.exempt and decision.findings == ()
    assert "kube-system" in (decision.skipped or "")


def test_exempt_user_glob_only_when_configured(loaded: LoadedEngine) -> None:
    req = request("exempt-user-glob")
    assert respond(req, state(loaded)).allowed is False
    config = WebhookConfig(exempt_users=("system:serviceaccount:kube-system:*",))
    decision = decide(req, state(loaded, config))
    assert decision.response.allowed is True and decision.exempt
    assert "system:serviceaccount:kube-system:*" in (decision.skipped or "")


def test_exempt_group_glob(loaded: LoadedEngine) -> None:
    config = WebhookConfig(exempt_groups=("system:serviceaccounts:kube-*",))
    assert respond(request("exempt-user-glob"), state(loaded, config)).allowed is True


def test_valid_exemption_annotation_lifts_an_exemptable_policy(loaded: LoadedEngine) -> None:
    decision = decide(request("exempt-annotation-valid"), state(loaded, today=date(2099, 11, 1)))
    assert decision.response.allowed is True
    assert decision.exempted == ("require-team-label",)
    assert decision.response.warnings == ["require-team-label: exempted by annotation until 2099-12-31"]


def test_expired_exemption_is_not_honoured_and_says_so(loaded: LoadedEngine) -> None:
    response = respond(request("exempt-annotation-expired"), state(loaded))
    assert response.allowed is False
    assert response.status is not None
    assert "exemption expired on 2024-01-31" in response.status.message


def test_exemption_lasts_through_its_last_day(loaded: LoadedEngine) -> None:
    req = request("exempt-annotation-expired")
    assert respond(req, state(loaded, today=date(2024, 1, 31))).allowed is True
    assert respond(req, state(loaded, today=date(2024, 2, 1))).allowed is False


def test_exemption_of_a_policy_that_forbids_them_is_ignored(loaded: LoadedEngine) -> None:
    response = respond(request("exempt-annotation-not-allowed"), state(loaded))
    assert response.allowed is False
    assert response.status is not None
    assert "policy gpu-cap does not allow exemptions" in response.status.message


def test_exemption_without_expiry_needs_config_to_count(loaded: LoadedEngine) -> None:
    req = request("exempt-annotation-valid",
                  lambda obj: obj["metadata"]["annotations"].pop("policy-engine.io/exempt-until"))
    response = respond(req, state(loaded))
    assert response.allowed is False and response.status is not None
    assert "no policy-engine.io/exempt-until date" in response.status.message
    config = WebhookConfig(require_exemption_expiry=False, exemption_max_days=0)
    assert respond(req, state(loaded, config)).allowed is True
    capped = respond(req, state(loaded, WebhookConfig(require_exemption_expiry=False)))
    assert capped.allowed is False and capped.status is not None
    assert "exemptions last at most 90 days" in capped.status.message


@pytest.mark.parametrize(("until", "allowed"), [("9999-12-31", False), ("2026-08-31", False),
                                                 ("2026-08-30", True), ("2026-06-01", True)])
def test_exemption_longer_than_the_maximum_lifetime_is_refused(loaded: LoadedEngine, until: str,
                                                               allowed: bool) -> None:
    """90 days from TODAY (2026-06-01) is 2026-08-30: an exemption to a later day is refused, saying why."""
    req = request("exempt-annotation-valid", lambda obj: obj["metadata"]["annotations"].update(
        {"policy-engine.io/exempt-until": until}))
    response = respond(req, state(loaded))
    assert response.allowed is allowed
    if not allowed:
        assert response.status is not None
        assert (f"exempt-until {until} is more than 90 days away (exemption_max_days); the latest allowed "
                "today is 2026-08-30") in response.status.message
    assert respond(req, state(loaded, WebhookConfig(exemption_max_days=0))).allowed is True


def test_malformed_expiry_date_is_reported(loaded: LoadedEngine) -> None:
    req = request("exempt-annotation-valid", lambda obj: obj["metadata"]["annotations"].update(
        {"policy-engine.io/exempt-until": "next friday"}))
    response = respond(req, state(loaded))
    assert response.status is not None and "'next friday' is not a date" in response.status.message


def test_dry_run_gets_the_same_answer(loaded: LoadedEngine) -> None:
    dry = request("dry-run-untagged")
    assert dry.dry_run is True
    response = respond(dry, state(loaded))
    assert response.allowed is False and response.uid == dry.uid


def test_update_that_drops_a_required_label_is_denied_and_mentions_old_object(loaded: LoadedEngine) -> None:
    response = respond(request("update-drops-label"), state(loaded))
    assert response.allowed is False and response.status is not None
    assert "removes label(s) team that the previous version (oldObject) had" in response.status.message
    assert respond(request("update-keeps-label"), state(loaded)).allowed is True


def test_delete_is_allowed_without_evaluation(loaded: LoadedEngine) -> None:
    decision = decide(request("delete-untagged"), state(loaded))
    assert decision.response.allowed is True and decision.findings == ()
    assert decision.skipped == "DELETE is not reviewed"


def test_non_workload_is_allowed(loaded: LoadedEngine) -> None:
    decision = decide(request("allow-configmap"), state(loaded))
    assert decision.response.allowed is True and "not a workload" in (decision.skipped or "")


def test_generate_name_object_is_named_in_the_message(loaded: LoadedEngine) -> None:
    response = respond(request("deny-generate-name"), state(loaded))
    assert response.status is not None
    assert response.status.message.startswith("Pod ml/worker-* violates")


def test_namespace_team_label_is_inherited(loaded: LoadedEngine) -> None:
    req = request("inherit-namespace-team")
    assert respond(req, state(loaded)).allowed is False  # no cluster: nothing to inherit from
    cluster = StaticClusterState(namespaces={"team-vision": {"team": "vision", "owner": "bob"}})
    decision = decide(req, state(loaded, cluster=cluster))
    assert decision.response.allowed is True
    assert dict(decision.inherited) == {"team": "vision"}  # only configured keys are taken


def test_the_namespace_team_is_authoritative_unless_configured_otherwise(loaded: LoadedEngine) -> None:
    cluster = StaticClusterState(namespaces={"ml": {"team": "platform"}})
    decision = decide(request("allow-pod-tagged"), state(loaded, cluster=cluster))
    assert decision.inherited == {"team": "platform"}  # team: nlp in namespace ml bills platform
    config = WebhookConfig(authoritative_labels=())
    decision = decide(request("allow-pod-tagged"), state(loaded, config, cluster))
    assert decision.inherited == {}  # the pods' own label wins when the namespace is not authoritative


def _team_quota_state(loaded: LoadedEngine, config: WebhookConfig | None = None) -> ReviewState:
    """Namespace ``ml`` is vision's and vision's GPU-hour quota is used up."""
    cluster = StaticClusterState(namespaces={"ml": {"team": "vision"}},
                                 used={"vision": Usage(used=1000.0, running=0.0)})
    return state(loaded, config, cluster)


@pytest.mark.parametrize("team", ["brand-new-team", "", "nlp"])
def test_an_exhausted_quota_cannot_be_dodged_by_relabelling(team: str) -> None:
    """The issue's reproduction: team: brand-new-team / "" / nlp in vision's namespace was admitted."""
    loaded = engine(team_quota(limit=100.0))
    req = request("warn-gpu-not-spot", lambda obj: obj["spec"]["template"]["metadata"]["labels"].update(
        {"team": team}))
    decision = decide(req, _team_quota_state(loaded))
    assert decision.response.allowed is False, decision.response
    assert decision.inherited == {"team": "vision"}
    assert "vision" in everything_said(decision.response)


def test_known_teams_turn_an_unknown_team_into_a_clear_denial(loaded: LoadedEngine) -> None:
    config = WebhookConfig(known_teams=("nlp", "vision"))
    req = request("allow-pod-tagged", lambda obj: obj["metadata"]["labels"].update({"team": "brand-new"}))
    response = respond(req, state(loaded, config))
    assert response.allowed is False and response.status is not None
    assert "team 'brand-new' is not a known team; set label team to one of: nlp, vision" in response.status.message
    assert respond(request("allow-pod-tagged"), state(loaded, config)).allowed is True


def _controller_update(mutate: Callable[[dict[str, Any]], None], name: str = "deny-pod-untagged") -> Any:
    """An UPDATE of an object today's policies deny (untagged), changed by ``mutate`` only."""
    body = review_body(name)
    old = copy.deepcopy(body["request"]["object"])
    old["metadata"]["finalizers"] = ["batch.kubernetes.io/job-tracking"]
    new = copy.deepcopy(old)
    mutate(new)
    body["request"].update({"operation": "UPDATE", "oldObject": old, "object": new})
    return AdmissionRequest.model_validate(body["request"])


@pytest.mark.parametrize("change", ["finalizer", "status", "controller-annotation", "deleting"])
def test_controllers_own_updates_are_allowed_without_judging_again(loaded: LoadedEngine, change: str) -> None:
    """Tightening a policy must never leave a Job's pods stuck in Terminating."""
    mutate: dict[str, Callable[[dict[str, Any]], None]] = {
        "finalizer": lambda o: o["metadata"].pop("finalizers"),
        "status": lambda o: o.update(status={"phase": "Succeeded"}),
        "controller-annotation": lambda o: o["metadata"].setdefault("annotations", {}).update(
            {"batch.kubernetes.io/job-completion-index": "0"}),
        "deleting": lambda o: o["metadata"].update(deletionTimestamp="2026-06-01T00:00:00Z",
                                                   deletionGracePeriodSeconds=30),
    }
    decision = decide(_controller_update(mutate[change]), state(loaded))
    assert decision.response.allowed is True and decision.findings == ()
    assert decision.skipped is not None


def test_an_update_that_changes_what_a_policy_reads_is_judged(loaded: LoadedEngine) -> None:
    req = _controller_update(lambda o: o["metadata"].setdefault("labels", {}).update({"app": "x"}))
    assert respond(req, state(loaded)).allowed is False
    req = _controller_update(lambda o: o["metadata"].setdefault("annotations", {}).update({"owner": "bob"}))
    assert respond(req, state(loaded)).allowed is False


def test_inheritance_takes_only_configured_keys(loaded: LoadedEngine) -> None:
    cluster = StaticClusterState(namespaces={"team-vision": {"team": "vision"}})
    config = WebhookConfig(inherit_labels=("cost-center",))
    assert respond(request("inherit-namespace-team"), state(loaded, config, cluster)).allowed is False


@pytest.mark.parametrize(("mode", "allowed"), [(FailureMode.OPEN, True), (FailureMode.CLOSED, False)])
def test_a_failing_policy_follows_its_failure_mode(mode: FailureMode, allowed: bool) -> None:
    loaded = engine(broken_policy(mode))
    response = respond(request("allow-pod-tagged"), state(loaded))
    assert response.allowed is allowed
    said = everything_said(response)
    assert f"broken-{mode.value}" in said and "RuntimeError" in said


class _Exploding:
    """An engine whose workload model fails: what an unreadable object or a bug looks like."""

    def __init__(self, real: LoadedEngine) -> None:
        self.policies = real.engine.policies

    def workload(self, doc: object) -> None:
        raise ValueError("spec.replicas: 'many' is not a number")

    subject = workload


@pytest.mark.parametrize(("mode", "allowed"), [("open", True), ("closed", False)])
def test_internal_error_follows_the_configured_mode(loaded: LoadedEngine, mode: str, allowed: bool) -> None:
    broken = LoadedEngine(_Exploding(loaded), loaded.by_name)  # type: ignore[arg-type]
    config = WebhookConfig.model_validate({"internal_error": mode})
    decision = decide(request("allow-pod-tagged"), state(broken, config))
    assert decision.result == "error"
    assert decision.response.allowed is allowed
    said = everything_said(decision.response)
    assert "'many' is not a number" in said


def test_quota_uses_live_usage_from_the_cluster_state() -> None:
    loaded = engine(team_quota(1000.0))
    req = request("warn-gpu-not-spot")  # 1 GPU all month: 730 GPU-hours for team nlp
    assert respond(req, state(loaded, cluster=StaticClusterState())).allowed is True
    busy = StaticClusterState(used={"nlp": Usage(used=200.0, running=100.0)})
    response = respond(req, state(loaded, cluster=busy))
    assert response.allowed is False and response.status is not None
    assert "team-gpu-quota" in response.status.message


@pytest.mark.parametrize(("mode", "allowed"), [(FailureMode.OPEN, True), (FailureMode.CLOSED, False)])
def test_unsynced_cluster_state_follows_the_quota_failure_mode(mode: FailureMode, allowed: bool) -> None:
    loaded = engine(team_quota(1000.0, mode))
    response = respond(request("warn-gpu-not-spot"), state(loaded, cluster=StaticClusterState(synced=False)))
    assert response.allowed is allowed
    said = everything_said(response)
    assert "not synced" in said


@pytest.mark.parametrize(("mode", "allowed"), [("warn", True), ("deny", False)])
def test_an_unread_kind_asking_for_gpus_is_flagged_at_admission_as_in_ci(loaded: LoadedEngine, mode: str,
                                                                          allowed: bool) -> None:
    """The issue's reproduction: a GPUTrainer with 16 GPUs passed silently."""
    trainer = {"apiVersion": "example.com/v1", "kind": "GPUTrainer", "metadata": {"name": "big", "namespace": "ml"},
               "spec": {"worker": {"resources": {"limits": {"nvidia.com/gpu": 16}}}}}
    body = review_body("allow-configmap")
    body["request"].update({"object": trainer, "name": "big", "namespace": "ml",
                            "kind": {"group": "example.com", "version": "v1", "kind": "GPUTrainer"}})
    decision = decide(AdmissionRequest.model_validate(body["request"]), state(loaded, WebhookConfig(
        unread_gpu_kinds=mode)))  # type: ignore[arg-type]
    assert decision.response.allowed is allowed
    said = everything_said(decision.response)
    assert "unread-gpu-kind" in said and "GPUTrainer" in said and "spec.worker.resources.limits" in said
