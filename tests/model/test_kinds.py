"""Every supported kind: the roles, replicas, GPUs per pod and run time a user would see in inspect."""

from __future__ import annotations

import pytest

from policy_engine.model.build import build_workload
from policy_engine.model.config import DEFAULT_CONFIG
from policy_engine.model.kinds import KNOWN_KINDS
from policy_engine.model.workload import RunKind

from .manifests import fixture_documents, fixture_workload

# file -> (kind, [(role, replicas, gpus per pod)], run kind, hours per run, runs per month)
CASES: dict[str, tuple[str, list[tuple[str, int, float]], RunKind, float | None, float]] = {
    "pod.yaml": ("Pod", [("pod", 1, 1)], RunKind.CONTINUOUS, 730, 1),
    "pod_bounded.yaml": ("Pod", [("pod", 1, 2)], RunKind.BOUNDED, 1.5, 1),
    "deployment.yaml": ("Deployment", [("pod", 3, 2)], RunKind.CONTINUOUS, 730, 1),
    "replicaset.yaml": ("ReplicaSet", [("pod", 1, 1)], RunKind.CONTINUOUS, 730, 1),
    "statefulset.yaml": ("StatefulSet", [("pod", 2, 4)], RunKind.CONTINUOUS, 730, 1),
    "replicationcontroller.yaml": ("ReplicationController", [("pod", 5, 1)], RunKind.CONTINUOUS, 730, 1),
    "daemonset.yaml": ("DaemonSet", [("pod", 1, 1)], RunKind.CONTINUOUS, 730, 1),
    "job.yaml": ("Job", [("pod", 4, 2)], RunKind.BOUNDED, 2, 1),
    "job_unbounded.yaml": ("Job", [("pod", 1, 1)], RunKind.UNBOUNDED, None, 1),
    "job_expected.yaml": ("Job", [("pod", 1, 1)], RunKind.BOUNDED, 6, 1),
    "katib_experiment.yaml": (
        "Experiment", [("trial-Master", 4, 1), ("trial-Worker", 8, 1)], RunKind.BOUNDED, 12, 1,
    ),
    "katib_trial.yaml": ("Trial", [("trial", 2, 1)], RunKind.BOUNDED, 2, 1),
    "cronjob.yaml": ("CronJob", [("pod", 1, 1)], RunKind.SCHEDULED, 1, 365 / 12),
    "pytorchjob.yaml": ("PyTorchJob", [("Master", 1, 8), ("Worker", 3, 8)], RunKind.BOUNDED, 10, 1),
    "tfjob.yaml": ("TFJob", [("Chief", 1, 1), ("PS", 2, 0), ("Worker", 4, 1)], RunKind.UNBOUNDED, None, 1),
    "mpijob_v1.yaml": ("MPIJob", [("Launcher", 1, 0), ("Worker", 2, 4)], RunKind.BOUNDED, 0.5, 1),
    "mpijob_v2beta1.yaml": ("MPIJob", [("Launcher", 1, 0), ("Worker", 2, 4)], RunKind.BOUNDED, 0.5, 1),
    "xgboostjob.yaml": ("XGBoostJob", [("Master", 1, 1), ("Worker", 2, 1)], RunKind.UNBOUNDED, None, 1),
    "paddlejob.yaml": ("PaddleJob", [("Worker", 2, 2)], RunKind.UNBOUNDED, None, 1),
    "jaxjob.yaml": ("JAXJob", [("Worker", 4, 4)], RunKind.UNBOUNDED, None, 1),
    "trainjob.yaml": ("TrainJob", [("node", 2, 4)], RunKind.UNBOUNDED, None, 1),
    "hyperpod_pytorchjob.yaml": ("HyperPodPyTorchJob", [("pods", 4, 8)], RunKind.UNBOUNDED, None, 1),
    "raycluster.yaml": (
        "RayCluster",
        [("head", 1, 0), ("worker:gpu", 2, 1), ("worker:burst", 1, 6 / 7)],
        RunKind.CONTINUOUS,
        730,
        1,
    ),
    "rayjob.yaml": ("RayJob", [("head", 1, 0), ("worker:w", 3, 1), ("submitter", 1, 0)], RunKind.BOUNDED, 1, 1),
    "rayservice.yaml": ("RayService", [("head", 1, 0), ("worker:tpu", 4, 4)], RunKind.CONTINUOUS, 730, 1),
    "inferenceservice.yaml": (
        "InferenceService",
        [("predictor", 2, 1), ("transformer", 1, 0)],
        RunKind.CONTINUOUS,
        730,
        1,
    ),
    "inferenceservice_scale_to_zero.yaml": (
        "InferenceService",
        [("predictor", 1, 0.25)],
        RunKind.CONTINUOUS,
        730,
        1,
    ),
    "llminferenceservice.yaml": (
        "LLMInferenceService",
        [("decode", 2, 8), ("decode-worker", 2, 8), ("prefill", 1, 4)],
        RunKind.CONTINUOUS,
        730,
        1,
    ),
    "jobset.yaml": ("JobSet", [("workers", 8, 8), ("driver", 1, 0)], RunKind.BOUNDED, 2, 1),
    "leaderworkerset.yaml": (
        "LeaderWorkerSet",
        [("leader", 2, 8), ("worker", 6, 8)],
        RunKind.CONTINUOUS,
        730,
        1,
    ),
    "volcano_job.yaml": ("Job", [("ps", 1, 0), ("worker", 2, 1)], RunKind.BOUNDED, 1.5, 1),
    "notebook.yaml": ("Notebook", [("notebook", 1, 1)], RunKind.CONTINUOUS, 730, 1),
    "workflow.yaml": ("Workflow", [("train", 1, 4), ("eval", 1, 1)], RunKind.BOUNDED, 4, 1),
    "cronworkflow.yaml": ("CronWorkflow", [("job", 1, 1)], RunKind.SCHEDULED, 600 / 3600, 730),
    "nimservice.yaml": ("NIMService", [("nim", 2, 1)], RunKind.CONTINUOUS, 730, 1),
    "kaito_workspace.yaml": ("Workspace", [("inference", 2, 0)], RunKind.CONTINUOUS, 730, 1),
    "generic.yaml": ("Trainer", [("pod", 3, 2)], RunKind.CONTINUOUS, 730, 1),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_kind_roles_replicas_gpus_and_run_time(name: str) -> None:
    kind, roles, run_kind, hours, runs = CASES[name]
    w = fixture_workload(name)
    assert w.kind == kind
    assert [(r.name, r.replicas) for r in w.roles] == [(n, k) for n, k, _ in roles]
    for role, (_, _, gpus) in zip(w.roles, roles, strict=True):
        assert role.gpus_per_pod == pytest.approx(gpus), role.name
    assert w.gpus == pytest.approx(sum(k * g for _, k, g in roles))
    assert w.run_time.kind is run_kind
    if hours is None:
        assert w.run_time.hours_per_run is None and w.gpu_hours_per_month is None
        assert "unbounded" in w.run_time.reason
    else:
        assert w.run_time.hours_per_run == pytest.approx(hours)
    assert w.run_time.runs_per_month == pytest.approx(runs)


def test_every_registered_kind_has_a_fixture() -> None:
    covered = {CASES[name][0] for name in CASES}
    assert KNOWN_KINDS - covered == {"MXJob"}  # MXJob shares the training-operator reader (tfjob/pytorchjob)


@pytest.mark.parametrize("name", ["service.yaml", "servingruntime.yaml"])
def test_objects_that_run_nothing_are_not_workloads(name: str) -> None:
    (doc,) = fixture_documents(name)
    assert build_workload(doc) is None


def test_unknown_kind_is_read_generically_and_says_so() -> None:
    w = fixture_workload("generic.yaml")
    assert "generic" in w.provenance
    assert "generically" in w.run_time.reason


def test_pytorchjob_elastic_policy_keeps_worker_min_and_max() -> None:
    worker = fixture_workload("pytorchjob.yaml").roles[1]
    assert (worker.replicas, worker.min_replicas, worker.max_replicas) == (3, 2, 4)


def test_ray_group_that_autoscales_from_zero_reports_one_replica_and_keeps_min_zero() -> None:
    burst = fixture_workload("raycluster.yaml").roles[2]
    assert (burst.replicas, burst.min_replicas, burst.max_replicas) == (1, 0, 10)
    assert "scales from zero" in burst.provenance["replicas"].note


def test_ray_num_gpus_counts_when_no_gpu_resource_is_requested() -> None:
    worker = fixture_workload("rayjob.yaml").roles[1]
    assert worker.gpu_resource == "ray.io/num-gpus"
    assert worker.provenance["gpus"].path[-1] == "num-gpus"


def test_kserve_scale_to_zero_sets_knative_idle_timeout() -> None:
    w = fixture_workload("inferenceservice_scale_to_zero.yaml")
    assert w.roles[0].min_replicas == 0
    assert w.idle_timeout_seconds == 60
    assert w.idle_provenance is not None and w.idle_provenance.path == ("spec", "predictor", "minReplicas")


def test_ray_autoscaler_idle_timeout_and_idle_annotation() -> None:
    assert fixture_workload("raycluster.yaml").idle_timeout_seconds == 300
    notebook = fixture_workload("notebook.yaml")
    assert notebook.idle_timeout_seconds == 1800
    assert notebook.idle_provenance is not None
    assert notebook.idle_provenance.note == "policy-engine.io/idle-timeout"


def test_trainjob_is_resolved_against_the_bundled_runtime_it_names() -> None:
    from policy_engine.model.training_runtimes import resolve_train_job

    w = fixture_workload("trainjob.yaml")
    resolve_train_job(w, DEFAULT_CONFIG)
    assert "bundled ClusterTrainingRuntime torch-distributed" in w.provenance["runtime"].note
    assert (w.roles[0].replicas, w.roles[0].gpus_per_pod) == (2, 4.0)  # resourcesPerNode replaces the runtime's


def test_kaito_workspace_takes_the_instance_type_from_the_crd() -> None:
    role = fixture_workload("kaito_workspace.yaml").roles[0]
    assert role.instance_type == "Standard_NC24ads_A100_v4"
    assert role.provenance["instance_type"].path == ("resource", "instanceType")


def test_workflow_template_placement_and_generate_name() -> None:
    w = fixture_workload("workflow.yaml")
    assert w.name == "pipeline-"
    assert w.roles[0].instance_type == "g5.12xlarge"


def test_idle_timeout_annotation_carried_by_every_pod() -> None:
    w = fixture_workload("idle_pod_annotation.yaml")
    assert w.idle_timeout_seconds == 7200
    assert w.idle_provenance is not None
    assert w.doc.line_of(w.idle_provenance.path) == 7
