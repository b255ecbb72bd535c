"""The resources the reporter tests' sample results name."""

from __future__ import annotations

from pathlib import Path

from policy_engine.engine.findings import ResourceRef

ROOT = Path("/repo")
TRAIN = ResourceRef("PyTorchJob", "train-llm", "nlp", "/repo/k8s/train.yaml", 3, "kubeflow.org/v1")
SERVE = ResourceRef("Deployment", "serve", "vision", "/repo/k8s/serve.yaml", 1, "apps/v1")
NODE_JOB = ResourceRef("Job", "burn|in", None, "/repo/k8s/cluster.yaml", 10, "batch/v1")
