"""``check`` on hostile CI inputs (issue #13): every one gets a located error and a report, never a hang,
a traceback or unbounded memory. Each run is a subprocess with a timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"team": "ml"}},
       "spec": {"containers": [{"name": "c", "image": "x"}]}}


def check(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "check", "--format", "json", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


def errors(run: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    assert "Traceback" not in run.stderr, run.stderr
    report = json.loads(run.stdout)
    return {Path(e["file"]).name: e for e in report["errors"]}


def test_fifo_device_and_links_out_of_the_tree_are_located_errors(tmp_path: Path) -> None:
    tree = tmp_path / "k8s"
    tree.mkdir()
    (tree / "pod.yaml").write_text(json.dumps(POD))
    os.mkfifo(tree / "fifo.yaml")  # main: hung forever
    (tree / "zero.yaml").symlink_to("/dev/zero")  # main: memory without bound
    secret = tmp_path / "secret.yaml"
    secret.write_text("kind: Secret\n")
    (tree / "out.yaml").symlink_to(secret)
    (tree / "inside.yaml").symlink_to(tree / "pod.yaml")  # a link inside the tree is read
    run = check("k8s", cwd=tmp_path)
    found = errors(run)
    assert found["fifo.yaml"]["code"] == "E405" and "FIFO" in found["fifo.yaml"]["message"]
    assert found["zero.yaml"]["code"] == "E407" and "/dev/zero" in found["zero.yaml"]["message"]
    assert found["out.yaml"]["code"] == "E407" and "not followed" in found["out.yaml"]["message"]
    assert "inside.yaml" not in found and "pod.yaml" not in found
    assert run.returncode == 2


def test_a_device_given_by_name_is_not_read(tmp_path: Path) -> None:
    found = errors(check("/dev/zero", cwd=tmp_path, timeout=30))
    assert found["zero"]["code"] == "E405" and "character device" in found["zero"]["message"]


def test_follow_symlinks_reads_a_linked_file_but_never_a_device(tmp_path: Path) -> None:
    tree = tmp_path / "k8s"
    tree.mkdir()
    outside = tmp_path / "pod.yaml"
    outside.write_text(json.dumps(POD))
    (tree / "linked.yaml").symlink_to(outside)
    (tree / "zero.yaml").symlink_to("/dev/zero")
    run = check("--follow-symlinks", "k8s", cwd=tmp_path)
    found = errors(run)
    assert "linked.yaml" not in found
    assert found["zero.yaml"]["code"] == "E405"
    assert json.loads(run.stdout)["stats"]["documents"] == 1


def test_files_over_the_size_cap_are_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "big.yaml").write_text("# padding\n" * 20_000 + json.dumps(POD))
    found = errors(check("--max-file-size", "64K", "big.yaml", cwd=tmp_path))
    assert found["big.yaml"]["code"] == "E406" and "65,536 bytes" in found["big.yaml"]["message"]
    assert "big.yaml" not in errors(check("--max-file-size", "1M", "big.yaml", cwd=tmp_path))


def test_stdin_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "check", "--format", "json",
                          "--max-file-size", "1K", "-"], input="#" * 5000 + "\n", capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert errors(run)["<stdin>"]["code"] == "E406"


def test_deep_json_manifest_is_decided(tmp_path: Path) -> None:
    """A .json manifest nested 5,000 levels (main: RecursionError traceback, no report) is judged."""
    deep = '{"a":' * 5_000 + "1" + "}" * 5_000
    text = json.dumps({**POD, "metadata": {"name": "deep"}}).replace('"spec"', f'"extra": {deep}, "spec"')
    (tmp_path / "deep.json").write_text(text)
    run = check("deep.json", cwd=tmp_path)
    report = json.loads(run.stdout)
    assert "Traceback" not in run.stderr and report["errors"] == []
    assert any(f["resource"]["name"] == "deep" for f in report["findings"])


@pytest.mark.parametrize("shape", ["flow", "block"])
def test_deep_yaml_manifest_is_a_located_error(tmp_path: Path, shape: str) -> None:
    if shape == "flow":
        body = "spec:\n  x: " + "[" * 3_000 + "]" * 3_000 + "\n"
        line = 5
    else:
        body = "spec:\n" + "".join(" " * i + "b:\n" for i in range(1, 700)) + " " * 700 + "c: 1\n"
        line = 504
    (tmp_path / "deep.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: y}\n" + body)
    error = errors(check("deep.yaml", cwd=tmp_path))["deep.yaml"]
    assert error["code"] in ("E606", "E601") and "nest" in error["message"]
    assert error["line"] == line


def test_a_policy_of_400_nested_nots_is_a_located_error(tmp_path: Path) -> None:
    policy = tmp_path / "deep.policy"
    policy.write_text('policy "deep" {\n  description "d"\n  severity low\n  enforcement deny\n'
                      "  match {\n    kinds workloads\n  }\n  when " + "not " * 400 + "gpus > 0\n"
                      "  assert gpus <= 8\n}\n")
    (tmp_path / "pod.yaml").write_text(json.dumps(POD))
    run = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "check", "--no-cache",
                          "--policies", str(policy), "pod.yaml"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert "Traceback" not in run.stderr and "RecursionError" not in run.stderr
    assert "deep.policy:8:1: error[E310]" in run.stderr
    assert run.returncode == 2


def test_a_policy_linked_to_the_environment_prints_none_of_it(tmp_path: Path) -> None:
    """Main printed the whole environment (secrets) as the E001 source line of /proc/self/environ."""
    policy = tmp_path / "env.policy"
    policy.symlink_to("/proc/self/environ")
    (tmp_path / "pod.yaml").write_text(json.dumps(POD))
    run = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "check", "--policies", str(policy),
                          "pod.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "HOSTILE_TEST_SECRET": "hunter2-do-not-print"})
    assert "hunter2" not in run.stderr + run.stdout and "HOSTILE_TEST_SECRET" not in run.stderr + run.stdout
    assert "env.policy:1:1: error[E403]" in run.stderr and run.returncode == 2


def test_a_diagnostic_quotes_at_most_a_window_of_the_offending_line(tmp_path: Path) -> None:
    policy = tmp_path / "long.policy"
    policy.write_text('policy "p" {\n  description "' + "secret " * 2_000 + '" zzz\n}\n')
    run = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "validate", str(policy)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    quoted = [line for line in (run.stdout + run.stderr).splitlines() if " | " in line]
    assert quoted and all(len(line) <= 200 for line in quoted)
    assert "zzz" in quoted[0] and quoted[0].count("secret") < 30
