"""Pricing over the shared corpus of real AI/ML manifests: no GPU workload is ever silently $0."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.errors import WorkloadError
from policy_engine.model.build import build_workload
from policy_engine.model.documents import Document, load_paths
from policy_engine.model.workload import RunKind, Workload
from policy_engine.pricing.catalog import default_catalog
from policy_engine.pricing.cost import gpu_model_of, price

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


@pytest.fixture(scope="module")
def workloads() -> list[Workload]:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared manifest corpus is not at {CORPUS} (it is not part of a user's clone)")
    out = []
    catalog = default_catalog()
    for doc in load_paths([str(CORPUS)]):
        if not isinstance(doc, Document):
            continue
        try:
            w = build_workload(doc)
        except WorkloadError:
            continue
        if w is not None:
            w.cost = price(w, catalog)
            out.append(w)
    return out


def test_every_gpu_workload_is_priced_above_zero_or_says_why_not(workloads: list[Workload]) -> None:
    gpu = [w for w in workloads if w.gpus > 0]
    assert len(gpu) > 100
    for w in gpu:
        cost = w.cost
        assert cost is not None
        if cost.priced:
            assert cost.monthly is not None and cost.monthly > 0, w.ref()
        else:
            assert cost.monthly is None and cost.unpriced_reason, w.ref()


def test_bounded_gpu_workloads_whose_model_the_catalog_knows_are_priced(workloads: list[Workload]) -> None:
    catalog = default_catalog()
    known = [w for w in workloads
             if w.gpus > 0 and w.run_time.kind is not RunKind.UNBOUNDED and w.run_time.hours_per_run is not None
             and all(r.replicas == 0 or r.gpus_per_pod == 0 or gpu_model_of(r, catalog) in catalog.gpu_models
                     for r in w.roles)
             and all(r.instance_type is None or r.instance_type in catalog.instance_types for r in w.roles)]
    assert known
    unpriced = [(w.ref(), w.cost.unpriced_reason) for w in known if w.cost is not None and not w.cost.priced]
    assert unpriced == []


def test_breakdown_has_one_line_per_role_of_a_priced_workload(workloads: list[Workload]) -> None:
    for w in workloads:
        if w.cost is not None and w.cost.priced:
            assert len(w.cost.breakdown) == len(w.roles) + (1 if w.cost.assumptions else 0), w.ref()
