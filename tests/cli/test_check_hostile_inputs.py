"""``check`` on hostile CI inputs (issue #13): every one gets a located error and a report, never a hang,
a traceback or unbounded memory. Each run is a subprocess with a timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def _deep_pod(name: str, depth: int, style: str) -> str:
    """A Pod nesting ``depth`` levels in all (the object itself is level 1, as the API server counts),
    ``spec.extra`` holding the nesting: JSON, or flow YAML that is not JSON (plain scalars)."""
    lists = depth - 2  # the object and its spec are two levels
    if style == "json":
        pod = {**POD, "metadata": {"name": name, "labels": {"team": "ml"}}}
        return json.dumps(pod).replace('"spec": {', '"spec": {"extra": ' + "[" * lists + "1" + "]" * lists + ", ")
    return (f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{team: ml}}}}\nspec:\n"
            f"  extra: {'[' * lists}x{']' * lists}\n  containers: [{{name: c, image: x}}]\n")


def test_one_depth_rule_for_json_and_yaml_the_api_servers(tmp_path: Path) -> None:
    """Issue #13: the API server accepts 10,000 levels; so does ``check``, in JSON and in YAML (past
    libyaml's own 1,000, and without a RecursionError traceback as main gave for JSON), and one level more
    is a located E606 in both. A block-style YAML deeper than libyaml goes is read with its lines."""
    tree = tmp_path / "k8s"
    tree.mkdir()
    for style, suffix in (("json", "json"), ("yaml", "yaml")):
        (tree / f"limit.{suffix}").write_text(_deep_pod(f"limit-{style}", 10_000, style))
        (tree / f"past.{suffix}").write_text(_deep_pod(f"past-{style}", 10_001, style))
    (tree / "json-as.yaml").write_text(_deep_pod("json-as-yaml", 10_000, "json"))  # `kubectl get -o json`
    block = "".join(" " * (2 + i) + f"k{i}:\n" for i in range(1_500)) + " " * 1_502 + "leaf: 1\n"
    (tree / "block.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: block\n  labels: {team: ml}\n"
                                     "spec:\n  containers: [{name: c, image: x}]\n  extra:\n" + block)
    run = check("k8s", cwd=tmp_path, timeout=120)
    found = errors(run)
    assert set(found) == {"past.json", "past.yaml"}
    json_error, yaml_error = found["past.json"], found["past.yaml"]
    assert json_error["code"] == yaml_error["code"] == "E606"
    assert "more than 10,000 levels" in json_error["message"] and json_error["message"] == yaml_error["message"]
    # located at the bracket that opens level 10,001 (the last of the 9,999 under spec.extra)
    text = (tree / "past.json").read_text()
    assert (json_error["line"], json_error["column"]) == (1, text.index("[" * 9_999) + 9_998 + 1)
    assert (yaml_error["line"], yaml_error["column"]) == (5, len("  extra: ") + 9_998 + 1)
    judged = {f["resource"]["name"]: f["line"] for f in json.loads(run.stdout)["findings"]}
    assert {"limit-json", "limit-yaml", "json-as-yaml", "block"} <= set(judged)
    assert judged["block"] > 1  # composed with its lines, not only read


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
    assert "deep.policy:8:408: error[E310]" in run.stderr  # the `not` that opens level 101 (main: column 1)
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
