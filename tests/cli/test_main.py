"""The program's exit: after ``check`` it leaves without tearing the interpreter down, yet nothing is lost."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures"
PROGRAM = [sys.executable, "-m", "policy_engine.cli.main"]


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)


def test_check_report_is_whole_and_exit_code_kept_on_a_pipe(tmp_path: Path) -> None:
    """A parallel run's JSON report, written to a pipe, arrives whole before the quick exit; the code is check's."""
    manifest = (FIXTURES / "check" / "tree" / "train.yaml").read_text()
    stream = "---\n".join([manifest] * 2000)  # 1.2 MB, past PARALLEL_BYTES: worker processes
    proc = subprocess.run([*PROGRAM, "check", "-", "--format", "json"], input=stream, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["stats"]["documents"] == 2000
    assert len(report["findings"]) >= report["verdict"]["failing_findings"] > 0
    assert sum(1 for f in report["findings"] if f["fails"]) == report["verdict"]["failing_findings"]
    assert proc.stderr.rstrip().splitlines()[-1].startswith("FAILED:")  # stderr's last line flushed too


def test_quick_exit_flushes_what_is_buffered(tmp_path: Path) -> None:
    proc = _python("""
        import sys
        from policy_engine.cli.main import _leave
        sys.stdout.write("x" * 100_000)
        sys.stderr.write("said")
        _leave(5)
        """, tmp_path)
    assert proc.returncode == 5
    assert proc.stdout == "x" * 100_000
    assert proc.stderr == "said"


def test_quick_exit_waits_for_a_thread_still_running(tmp_path: Path) -> None:
    """With another thread at work the ordinary exit is taken: it waits for the thread to end."""
    proc = _python("""
        import threading, time
        from pathlib import Path
        from policy_engine.cli.main import _leave
        def late():
            time.sleep(0.3)
            Path("written").write_text("done")
        threading.Thread(target=late).start()
        _leave(4)
        """, tmp_path)
    assert proc.returncode == 4
    assert (tmp_path / "written").read_text() == "done"


@pytest.mark.parametrize("args, code", [(["validate", str(FIXTURES / "nope.policy")], 2), ([], 2)])
def test_other_commands_exit_as_before(tmp_path: Path, args: list[str], code: int) -> None:
    proc = subprocess.run([*PROGRAM, *args], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == code
