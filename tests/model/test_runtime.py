"""Run time: durations, deadlines against the expected-duration annotation, cron runs per month."""

from __future__ import annotations

import pytest

from policy_engine.model.runtime import parse_duration, runs_per_month
from policy_engine.model.workload import RunKind

from .manifests import fixture_documents, fixture_workload


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6h", 21600),
        ("90m", 5400),
        ("1h30m", 5400),
        ("45s", 45),
        ("2d", 172800),
        ("3600", 3600),
        ("1.5h", 5400),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "six hours", "1h foo", "-5", "h"])
def test_parse_duration_rejects_malformed(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("schedule", "runs"),
    [
        ("@daily", 365 / 12),
        ("0 2 * * *", 365 / 12),
        ("@hourly", 730),
        ("*/15 * * * *", 4 * 730),
        ("@weekly", 52 / 12),
        ("@monthly", 1),
        ("@yearly", 1 / 12),
        ("0 0 L * *", 1),
        ("0 0 * * 5#2", 1),
        ("0 0 15W * *", 1),
        ("0 0 13 * 5", 62 / 12),
        ("0 9-17 * * MON-FRI", 9 * 261 / 12),
        ("@every 2h", 30.4 * 12),
        ("CRON_TZ=Europe/Paris 0 6 * * *", 365 / 12),
    ],
)
def test_cron_runs_per_month(schedule: str, runs: float) -> None:
    doc = fixture_documents("cronjob.yaml")[0]
    assert runs_per_month(doc, ("spec", "schedule"), schedule, None) == pytest.approx(runs)


def test_job_deadline_bounds_the_whole_job_not_each_wave() -> None:
    w = fixture_workload("job.yaml")  # completions 8 at parallelism 4: two waves, one deadline
    assert w.run_time.hours_per_month == 2
    assert w.gpu_hours_per_month == 16
    assert w.provenance["run_time"].path == ("spec", "activeDeadlineSeconds")


def test_expected_duration_annotation_wins_when_shorter_than_the_deadline() -> None:
    w = fixture_workload("job_expected.yaml")
    assert w.run_time.kind is RunKind.BOUNDED
    assert w.run_time.hours_per_run == 6
    assert "expected-duration" in w.run_time.reason


def test_job_without_bound_is_unbounded_and_says_why() -> None:
    w = fixture_workload("job_unbounded.yaml")
    assert w.run_time.kind is RunKind.UNBOUNDED
    assert "activeDeadlineSeconds" in w.run_time.reason


def test_cronjob_runs_per_month_times_per_run_bound() -> None:
    w = fixture_workload("cronjob.yaml")
    assert w.run_time.hours_per_month == pytest.approx(365 / 12)
    assert "0 2 * * *" in w.run_time.reason


def test_jobset_bound_is_its_longest_child_deadline() -> None:
    w = fixture_workload("jobset.yaml")
    assert w.run_time.hours_per_run == 2
    assert w.provenance["run_time"].path == (
        "spec",
        "replicatedJobs",
        0,
        "template",
        "spec",
        "activeDeadlineSeconds",
    )


def test_continuous_hours_follow_the_model_config() -> None:
    from policy_engine.model.build import build_workload
    from policy_engine.model.config import ModelConfig

    doc = fixture_documents("deployment.yaml")[0]
    w = build_workload(doc, ModelConfig(hours_per_month=720))
    assert w is not None and w.run_time.hours_per_month == 720
