"""The model's fixture manifests, loaded and built into workloads (tests/fixtures/model)."""

from __future__ import annotations

from pathlib import Path

from policy_engine.model.build import build_workload
from policy_engine.model.documents import Document, load_paths
from policy_engine.model.workload import Workload

MODEL_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "model"


def fixture_documents(name: str) -> list[Document]:
    docs = [d for d in load_paths([str(MODEL_FIXTURES / name)]) if isinstance(d, Document)]
    assert docs, f"fixture {name} holds no document"
    return docs


def fixture_workload(name: str) -> Workload:
    (doc,) = fixture_documents(name)
    workload = build_workload(doc)
    assert workload is not None, f"{name} should be a workload"
    return workload


def named_workloads(name: str) -> dict[str, Workload]:
    """The workloads of a multi-document fixture, by object name."""
    out: dict[str, Workload] = {}
    for doc in fixture_documents(name):
        workload = build_workload(doc)
        assert workload is not None
        out[workload.name] = workload
    return out
