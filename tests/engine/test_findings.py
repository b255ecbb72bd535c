"""Findings cross process boundaries (``check``'s workers) intact, every field of them."""

from __future__ import annotations

import dataclasses
import pickle

from policy_engine.compiler.program import Enforcement, Severity
from policy_engine.engine.findings import Finding, ResourceRef

REF = ResourceRef("PyTorchJob", "train", "nlp", "jobs/train.yaml", 7, "kubeflow.org/v1")
OTHER = ResourceRef("Deployment", "serve", None, "serve.yaml", 1)


def test_a_finding_with_every_field_set_survives_pickling() -> None:
    f = Finding(policy="gpu-quota", rule="quota", severity=Severity.CRITICAL, enforcement=Enforcement.WARN,
                message="team nlp over its quota", resource=REF, field_line=12,
                field_path=("spec", "pytorchReplicaSpecs", "Worker", "replicas"), monthly_cost=1234.5,
                saving=99.0, group="team=nlp", related=(REF, OTHER), facts=(("hours", 3.5), ("why", "idle")),
                error=True)
    defaults = {field.name for field in dataclasses.fields(Finding)
                if getattr(f, field.name) == field.default and field.default is not dataclasses.MISSING}
    assert not defaults, f"set every field in this test: {defaults}"  # a new field must be pickled too
    back = pickle.loads(pickle.dumps(f))
    assert back == f
    assert back.resource == REF and back.related == (REF, OTHER)
    assert pickle.loads(pickle.dumps(OTHER)) == OTHER


def test_what_a_worker_returns_per_workload_survives_pickling_every_field_of_it() -> None:
    """Quota contributions and cost records cross as plain tuples too: a field added to either must be."""
    from policy_engine.engine.aggregate import Contribution
    from policy_engine.reporters.costs import WorkloadCost

    for value in (Contribution("gpu-quota", 1, "team=nlp", REF, 12.5, True, 40.0, 99.5),
                  WorkloadCost(REF, "nlp", 8.0, 1234.5)):
        names = [field.name for field in dataclasses.fields(value)]
        assert list(value.__reduce__()[1]) == [getattr(value, n) for n in names]  # every field, in order
        assert pickle.loads(pickle.dumps(value)) == value
