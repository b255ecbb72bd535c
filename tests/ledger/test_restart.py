"""The writer killed with SIGKILL in the middle of a cycle, then restarted: no hour lost, none counted twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from policy_engine.compiler.program import Period
from policy_engine.ledger.observe import ledger_rules
from policy_engine.ledger.store import Ledger

from .cluster import HOUR, T0, TEAMS, engine, fleet

PROC = Path(__file__).with_name("writer_proc.py")
PODS, LAST = 60, 24


def _start(ledger: Path, slow_cycle: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(PROC), str(ledger), str(LAST), str(PODS), str(slow_cycle)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_sigkill_mid_cycle_then_restart_loses_and_doubles_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    proc = _start(path, slow_cycle=4)
    assert proc.stdout is not None
    killed_in = None
    for line in proc.stdout:
        word, _, k = line.strip().partition(" ")
        if word == "begin" and int(k) == 4:  # cycles 0..3 committed; 4 is writing its first pods now
            proc.send_signal(signal.SIGKILL)
            killed_in = int(k)
            break
    proc.wait(timeout=30)
    proc.stdout.close()  # the killed process's pipes: closed here, not left to the collector
    assert proc.stderr is not None
    proc.stderr.close()
    assert killed_in == 4 and proc.returncode == -signal.SIGKILL
    with Ledger(path, readonly=True) as ledger:
        last = ledger.last_cycle()
    assert last == T0 + 3 * HOUR, "the killed cycle must not have committed anything"

    proc = _start(path, slow_cycle=-1)  # resumes at the killed cycle, with a fresh cache (a restarted process)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "begin 4" in out and f"commit {LAST}" in out

    e = engine()
    now = T0 + LAST * HOUR
    pods = fleet(PODS)
    rule = next(r for r in ledger_rules(e.policies) if r.policy == "team-gpu-hours")
    with Ledger(path, readonly=True) as ledger:
        figures = ledger.group_usage(rule.id, Period.MONTH, now)
        assert ledger.pods() == PODS
    for team in TEAMS:
        expected = sum(p.gpus * p.hours(T0, now) for p in pods if p.team == team)
        assert figures[team].gpu_hours == pytest.approx(expected), team
