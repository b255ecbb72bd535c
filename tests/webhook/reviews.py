"""Helpers of the webhook tests: fixture reviews from disk, a hand-built policy set, a cluster double."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from policy_engine.compiler.program import (
    AggregateRule,
    CompiledPolicy,
    Enforcement,
    FailureMode,
    Period,
    PolicySet,
    Severity,
    Violation,
)
from policy_engine.diagnostics import Span
from policy_engine.engine import Engine, Usage
from policy_engine.model.kinds import KNOWN_KINDS
from policy_engine.model.workload import CapacityType, Workload
from policy_engine.webhook.admission import AdmissionRequest, AdmissionResponse, AdmissionReview
from policy_engine.webhook.config import WebhookConfig
from policy_engine.webhook.exemptions import RequestExemptions
from policy_engine.webhook.review import LoadedEngine, ReviewState

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "webhook"
REVIEWS = FIXTURES / "reviews"
BAD = FIXTURES / "bad"
POLICIES = FIXTURES / "policies"
TODAY = date(2026, 6, 1)


def review_body(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((REVIEWS / f"{name}.json").read_text())
    return body


def request(name: str, edit: Callable[[dict[str, Any]], object] | None = None) -> AdmissionRequest:
    """The fixture review ``name`` as a typed request, after ``edit`` changed its ``request.object``."""
    body = review_body(name)
    if edit is not None:
        edit(body["request"]["object"])
    req = AdmissionReview.model_validate(body).request
    assert req is not None
    return req


def everything_said(response: AdmissionResponse) -> str:
    """The warnings and the status message, as one string a person would read in kubectl's output."""
    return " ".join(response.warnings or []) + (response.status.message if response.status else "")


def _policy(name: str, enforcement: Enforcement, check: Callable[[Workload], list[Violation]], *,
            applies: Callable[[Workload], bool] = lambda w: True, allow_exemption: bool = False,
            failure_mode: FailureMode = FailureMode.OPEN, help: str = "",
            aggregates: tuple[AggregateRule, ...] = ()) -> CompiledPolicy:
    return CompiledPolicy(name=name, description=name, severity=Severity.HIGH, enforcement=enforcement,
                          span=Span("<hand-built>", 1), kinds=None, applies=applies, violations=check,
                          aggregates=aggregates, failure_mode=failure_mode, allow_exemption=allow_exemption,
                          help=help)


def _require_team(w: Workload) -> list[Violation]:
    if w.labels.get("team"):
        return []
    return [Violation("labels", 'missing required label "team"', ("metadata", "labels"))]


def _gpu_cap(w: Workload) -> list[Violation]:
    return [] if w.gpus <= 8 else [Violation("assert", f"{w.name} asks for {w.gpus:g} GPUs; the limit is 8")]


def _spot(w: Workload) -> list[Violation]:
    on_demand = any(r.capacity_type is not CapacityType.SPOT for r in w.roles if r.gpus_per_pod)
    return [Violation("spot", "GPU pods run on on-demand capacity; ask for spot nodes")] if on_demand else []


def _idle(w: Workload) -> list[Violation]:
    return [] if w.idle_timeout_seconds is not None else [Violation("idle", "no idle shutdown declared")]


def _broken(w: Workload) -> list[Violation]:
    raise RuntimeError("division by zero in a hand-built rule")


def hand_built(*extra: CompiledPolicy) -> PolicySet:
    """The fixture policy library's behaviour, built from ``compiler.program`` objects by hand."""
    has_gpus: Callable[[Workload], bool] = lambda w: w.gpus > 0  # noqa: E731
    policies = (
        _policy("require-team-label", Enforcement.DENY, _require_team, allow_exemption=True,
                help="add metadata.labels.team (or label the namespace with team=...)"),
        _policy("gpu-cap", Enforcement.DENY, _gpu_cap, help="split the job or ask for a reservation"),
        _policy("prefer-spot", Enforcement.WARN, _spot, applies=has_gpus),
        _policy("gpu-idle-audit", Enforcement.AUDIT, _idle, applies=has_gpus),
        *extra,
    )
    return PolicySet.build(policies, KNOWN_KINDS)


def broken_policy(mode: FailureMode) -> CompiledPolicy:
    return _policy(f"broken-{mode.value}", Enforcement.DENY, _broken, failure_mode=mode)


def team_quota(limit: float, mode: FailureMode = FailureMode.OPEN) -> CompiledPolicy:
    rule = AggregateRule(kind="quota", metric="gpu_hours", key=lambda w: w.labels.get("team"),
                         key_label='labels["team"]', period=Period.MONTH, default_limit=limit, overrides={})
    return _policy("team-gpu-quota", Enforcement.DENY, lambda w: [], aggregates=(rule,), failure_mode=mode)


def engine(*extra: CompiledPolicy) -> LoadedEngine:
    from policy_engine.pricing.catalog import load_catalog

    return LoadedEngine.of(Engine(hand_built(*extra), load_catalog()))


@dataclass
class StaticClusterState:
    """An in-memory stand-in for the cluster-state cache (the ``ClusterState`` protocol)."""

    namespaces: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    used: Mapping[str, Usage] = field(default_factory=dict)
    synced: bool = True

    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        return self.namespaces.get(namespace) if self.synced else None

    def usage(self, rule: AggregateRule, key: str) -> Usage | None:
        if not self.synced:
            return None
        return self.used.get(key, Usage(0.0, 0.0))


def state(loaded: LoadedEngine, config: WebhookConfig | None = None,
          cluster: StaticClusterState | None = None, today: date = TODAY) -> ReviewState:
    config = config or WebhookConfig()
    return ReviewState(loaded, config, RequestExemptions.from_config(config), today, cluster)
