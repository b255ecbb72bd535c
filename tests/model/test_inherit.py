"""The one namespace-label inheritance rule (policy_engine/model/inherit.py)."""

from __future__ import annotations

from policy_engine.model.build import build_workload
from policy_engine.model.documents import Document
from policy_engine.model.inherit import inherit_labels, inherited

NS = {"team": "vision", "cost-center": "cc-7", "other": "x"}
KEYS = ("team", "cost-center")


def test_missing_and_empty_keys_are_taken_from_the_namespace_own_values_win() -> None:
    assert inherited({"team": "own"}, NS, KEYS) == {"cost-center": "cc-7"}
    assert inherited({"team": ""}, NS, KEYS) == {"team": "vision", "cost-center": "cc-7"}
    assert inherited({}, {"team": ""}, KEYS) == {}  # an empty namespace value imposes nothing
    assert inherited({}, None, KEYS) == {}


def test_authoritative_keys_take_the_namespace_value_over_the_workloads() -> None:
    assert inherited({"team": "brand-new-team"}, NS, KEYS, authoritative={"team"}) == {
        "team": "vision", "cost-center": "cc-7"}
    assert inherited({"team": "nlp", "cost-center": "cc-1"}, NS, KEYS, authoritative={"team"}) == {
        "team": "vision"}
    assert inherited({"team": "nlp"}, {"cost-center": "cc-7"}, KEYS, authoritative={"team"}) == {
        "cost-center": "cc-7"}  # no namespace value: the workload's own team stands


def test_the_rule_applies_to_what_the_pods_carry() -> None:
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "vision"},
           "spec": {"template": {"metadata": {"labels": {"team": ""}}, "spec": {"containers": [{"name": "c"}]}}}}
    w = build_workload(Document(obj, "<t>", 1))
    assert w is not None
    assert inherit_labels(w, NS, KEYS) == {"team": "vision", "cost-center": "cc-7"}
    assert w.labels["team"] == "vision" and w.roles[0].pod_labels["team"] == "vision"
