"""``kinds training`` stands for every training-job kind, alone or in a list with other kinds."""

from __future__ import annotations

from policy_engine.compiler import compile_text
from policy_engine.compiler.checked import KIND_GROUPS
from policy_engine.engine import Engine
from policy_engine.model.documents import load_text
from policy_engine.model.kinds import KNOWN_KINDS
from policy_engine.pricing.catalog import load_catalog

JOBS = """\
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: pt, namespace: ml}
spec:
  pytorchReplicaSpecs:
    Master:
      replicas: 1
      template:
        spec:
          containers: [{name: c, image: i, resources: {limits: {nvidia.com/gpu: 1}}}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: plain, namespace: ml}
spec:
  template:
    spec:
      containers: [{name: c, image: i, resources: {limits: {nvidia.com/gpu: 1}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: serve, namespace: ml}
spec:
  template:
    spec:
      containers: [{name: c, image: i, resources: {limits: {nvidia.com/gpu: 1}}}]
"""


def _flagged(kinds: str) -> set[str]:
    text = f'policy "p" {{\n  match {{ kinds {kinds} }}\n  require labels ["team"]\n}}\n'
    compiled = compile_text(text, "p.policy")
    assert compiled.policy_set is not None, [d.headline() for d in compiled.diagnostics]
    result = Engine(compiled.policy_set, load_catalog()).evaluate(load_text(JOBS, "jobs.yaml"))
    return {f.resource.kind for f in result.findings}


def test_training_group_matches_training_kinds_only() -> None:
    assert _flagged("training") == {"PyTorchJob"}
    assert _flagged("[training, Job]") == {"PyTorchJob", "Job"}


def test_every_kind_in_the_group_is_one_the_model_reads() -> None:
    assert KIND_GROUPS["training"] <= KNOWN_KINDS
    assert {"PyTorchJob", "TrainJob", "JobSet", "RayJob"} <= KIND_GROUPS["training"]


def test_a_misspelt_group_is_an_unknown_kind_with_a_suggestion() -> None:
    [d] = [d for d in compile_text('policy "p" {\n  match { kinds trainng }\n  require spot\n}\n').diagnostics
           if d.is_error]
    assert d.code == "E103" and d.hint == "did you mean 'training'?"
