"""The compiler is a declared list of named passes, each timed; ``validate --timings`` reports them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from policy_engine.compiler import compile_sources
from policy_engine.compiler.passes import BACK_END, FRONT_END

POLICIES = Path(__file__).resolve().parents[2] / "policies"
GOOD = {"a.policy": 'policy "a" {\n  severity low\n  assert gpus <= 8\n    message "too many"\n}\n'}


def test_every_pass_runs_in_its_declared_order_and_is_timed() -> None:
    result = compile_sources(GOOD)
    assert result.policy_set is not None
    assert [name for name, _ in result.timings] == [n for n, _ in (*FRONT_END, *BACK_END)]
    assert all(seconds >= 0 for _, seconds in result.timings)


def test_a_front_end_error_stops_before_the_back_end() -> None:
    result = compile_sources({"a.policy": 'policy "a" {\n  assert gpuz <= 8\n}\n'})
    assert result.policy_set is None and [d.code for d in result.errors] == ["E101"]
    assert [name for name, _ in result.timings] == [n for n, _ in FRONT_END]


def test_validate_timings_lists_each_pass() -> None:
    proc = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "validate", str(POLICIES),
                           "--timings", "--format", "json"], capture_output=True, text=True, check=False,
                          env={"POLICY_ENGINE_NO_CACHE": "1", "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    names = [t["pass"] for t in json.loads(proc.stdout)["timings"]]
    assert names == [*(n for n, _ in (*FRONT_END, *BACK_END)), "lint"]
