from __future__ import annotations

import yaml

from policy_engine.engine.findings import Result
from policy_engine.reporters import policyreport
from policy_engine.reporters.context import ReportContext


def test_one_report_per_namespace_and_a_cluster_report(result: Result, ctx: ReportContext) -> None:
    docs = list(yaml.safe_load_all(policyreport.render(result, ctx)))
    assert [(d["kind"], d["metadata"].get("namespace")) for d in docs] == [
        ("ClusterPolicyReport", None), ("PolicyReport", "nlp"), ("PolicyReport", "vision")]
    assert all(d["apiVersion"] == "wgpolicyk8s.io/v1alpha2" for d in docs)
    nlp = docs[1]
    assert nlp["summary"] == {"pass": 1, "fail": 2, "warn": 1, "error": 0, "skip": 0}
    fail = next(r for r in nlp["results"] if r["policy"] == "require-team-label")
    assert fail["result"] == "fail" and fail["severity"] == "high"
    assert fail["resources"] == [{"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "name": "train-llm",
                                  "namespace": "nlp"}]
    assert fail["properties"]["file"] == "k8s/train.yaml" and fail["properties"]["line"] == "5"
    assert fail["timestamp"] == {"seconds": 1_700_000_000, "nanos": 0}
    assert all(isinstance(v, str) for r in nlp["results"] for v in r["properties"].values())
    vision = docs[2]
    assert {r["result"] for r in vision["results"]} == {"pass"}
