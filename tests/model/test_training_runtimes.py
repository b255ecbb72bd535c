"""Kubeflow Trainer v2: a TrainJob resolved against the runtime its runtimeRef names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from policy_engine.engine import load_engine
from policy_engine.engine.evaluate import Options
from policy_engine.model.documents import load_paths
from policy_engine.pricing.catalog import load_catalog
from policy_engine.pricing.cost import priced_workloads

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "tests" / "fixtures" / "model" / "trainer" / "trainjobs.yaml"


def _by_name() -> dict[str, object]:
    workloads, _ = priced_workloads(load_paths([str(MANIFEST)]), load_catalog())
    return {w.name: w for w in workloads}


def test_a_runtime_of_the_scanned_set_gives_the_trainjob_its_gpus_and_placement() -> None:
    w = _by_name()["finetune"]
    (node,) = w.roles  # type: ignore[attr-defined]
    assert (node.replicas, node.gpus_per_pod, node.instance_type) == (2, 4.0, "g5.12xlarge")
    assert w.cost.priced and "a10g-torch" in w.provenance["runtime"].note  # type: ignore[attr-defined]


def test_a_bundled_upstream_runtime_is_used_and_resources_per_node_replace_its_container() -> None:
    w = _by_name()["torch-run"]
    (node,) = w.roles  # type: ignore[attr-defined]
    assert (node.replicas, node.gpus_per_pod) == (4, 2.0)
    assert "bundled ClusterTrainingRuntime torch-distributed" in w.provenance["runtime"].note  # type: ignore[attr-defined]


def test_an_unknown_runtime_is_said_and_never_priced_at_zero() -> None:
    w = _by_name()["nowhere"]
    assert not w.cost.priced and "not-installed" in (w.cost.unpriced_reason or "")  # type: ignore[attr-defined]


def test_the_engine_resolves_the_same_way_as_inspect() -> None:
    engine = load_engine()
    result = engine.evaluate(load_paths([str(MANIFEST)]), options=Options(workloads=True))
    gpus = {w.name: w.gpus for w in result.workloads}
    assert gpus == {"finetune": 8.0, "torch-run": 8.0, "nowhere": 0.0}


def test_inspect_lists_runtimes_as_templates_with_their_gpus_per_instance() -> None:
    proc = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "inspect", str(MANIFEST),
                           str(ROOT / "policy_engine" / "model" / "runtimes"), "--format", "json"],
                          capture_output=True, text=True, check=False)
    templates = {t["name"]: t for t in json.loads(proc.stdout)["templates"]}
    assert templates["a10g-torch"]["gpus_per_instance"] == 4
    assert templates["torchtune-llama3.2-1b"]["kind"] == "ClusterTrainingRuntime"
    assert {r["name"]: r["gpus_per_pod"] for r in templates["torchtune-llama3.2-1b"]["roles"]}["node"] == 2


@pytest.mark.skipif(not (ROOT.parent / "shared" / "corpus" / "INDEX.tsv").is_file(), reason="shared corpus absent")
def test_llm_inference_service_configs_show_as_templates() -> None:
    config = ROOT.parent / "shared" / "corpus" / "kserve__kserve" / "docs" / "samples" / "llmisvc" / "e2e-gpt-oss"
    proc = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "inspect", str(config), "--format",
                           "json"], capture_output=True, text=True, check=False)
    kinds = {t["kind"] for t in json.loads(proc.stdout)["templates"]}
    assert "LLMInferenceServiceConfig" in kinds
