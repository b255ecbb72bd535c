"""A reload's compile runs in a child process, so the serving process only loads the result.

What a user would notice: a reload no longer parses in the serving process (no lark there afterwards,
which is what took ~120 ms of its GIL), a broken set is still refused with its diagnostics, and a child
that cannot help changes nothing but speed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from policy_engine.errors import DiagnosticError
from policy_engine.webhook import prepare
from policy_engine.webhook.app import ServeSettings, load_policies
from policy_engine.webhook.metrics import Metrics
from policy_engine.webhook.reload import EngineHolder, PolicyWatcher

from .reviews import POLICIES

BROKEN = 'policy "require-team-label" {\n  enforcement sometimes\n}\n'


@pytest.fixture
def policies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("POLICY_ENGINE_NO_CACHE", raising=False)
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    return folder


def _loads_without_parsing(folder: Path) -> dict[str, object]:
    """Load the set in a fresh interpreter, as the serving process does after the child: did it parse?"""
    code = ("import json, sys\n"
            "from policy_engine.webhook.app import ServeSettings, load_policies\n"
            f"loaded = load_policies(ServeSettings(policies=[{str(folder)!r}]))\n"
            "print(json.dumps({'policies': sorted(loaded.by_name), 'parsed': 'lark' in sys.modules}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=os.environ.copy(), check=True)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_after_the_child_the_server_loads_the_set_without_parsing(policies: Path) -> None:
    (policies / "labels.policy").write_text((policies / "labels.policy").read_text() + "\n# edited\n")
    assert prepare.precompile([str(policies)], None) is True
    after = _loads_without_parsing(policies)
    assert after["parsed"] is False
    assert after["policies"] == sorted(load_policies(ServeSettings(policies=[str(policies)])).by_name)


def test_a_broken_set_is_left_to_the_server_to_refuse(policies: Path) -> None:
    (policies / "labels.policy").write_text(BROKEN)
    assert prepare.precompile([str(policies)], None) is False
    with pytest.raises(DiagnosticError) as refused:
        load_policies(ServeSettings(policies=[str(policies)]))
    assert "labels.policy:2:" in str(refused.value)


def test_no_child_when_the_cache_is_off(policies: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICY_ENGINE_NO_CACHE", "1")

    def no_child(*args: object, **kwargs: object) -> None:
        raise AssertionError("a child was started although its work could not be handed over")

    monkeypatch.setattr(subprocess, "run", no_child)
    assert prepare.precompile([str(policies)], None) is False


def test_a_child_that_cannot_start_only_costs_speed(policies: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", str(policies / "no-such-python"))
    assert prepare.precompile([str(policies)], None) is False


def test_the_watcher_prepares_before_it_loads(policies: Path) -> None:
    settings = ServeSettings(policies=[str(policies)])
    holder = EngineHolder(load_policies(settings))
    steps: list[str] = []

    def load() -> object:
        steps.append("load")
        return load_policies(settings)

    def failing_prepare() -> None:
        steps.append("prepare")
        raise RuntimeError("the child went wrong")

    watcher = PolicyWatcher([policies], load, holder, Metrics(), 0, prepare=failing_prepare)  # type: ignore[arg-type]
    (policies / "labels.policy").write_text((policies / "labels.policy").read_text() + "\n# edited\n")
    assert watcher.check_once() is True, "a failed head start must not stop the reload"
    assert steps == ["prepare", "load"]


def test_the_child_yields_the_cpu_to_the_server() -> None:
    code = ("import os\n"
            "from policy_engine.webhook.prepare import run_only_when_idle\n"
            "got = run_only_when_idle()\n"
            "print(got.split()[0], os.sched_getscheduler(0) == os.SCHED_IDLE if got == 'idle' else os.nice(0))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    policy, proof = done.stdout.split()
    assert (policy, proof) == ("idle", "True") or (policy == "nice" and int(proof) > 0), done.stdout
