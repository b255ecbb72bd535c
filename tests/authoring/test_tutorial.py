"""docs/tutorial.md is replayed: its files are written in order, its commands run, and the key lines of
each pasted output (diagnostics, failures, verdicts, summaries) and its exit status must still hold."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
_BLOCK = re.compile(r"```(\S+)([^\n]*)\n(.*?)```", re.S)
_KEY_MARKERS = ("error[", "warning[", ": FAIL ", "passed, ", "would reformat", "reformatted", "✗ ", "): PASS",
                "): FAIL", "): SKIP", "file: ", " unchanged", "+++ ", "---", "- expected", "+ actual")


def _key(line: str) -> bool:
    return any(m in line for m in _KEY_MARKERS)


def test_the_tutorial_still_runs_as_written(tmp_path: Path) -> None:
    commands = 0
    for match in _BLOCK.finditer(TUTORIAL.read_text()):
        lang, info, body = match.group(1), match.group(2).split(), match.group(3)
        fields = dict(f.split("=", 1) for f in info if "=" in f)
        if "file" in fields:
            path = tmp_path / fields["file"]
            if "check" in info:
                assert path.read_text() == body, f"{fields['file']} differs from the tutorial"
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(body)
            continue
        if lang != "console":
            continue
        lines = body.rstrip("\n").splitlines()
        command, expected, status = lines[0], lines[1:-1], lines[-1]
        args = command.removeprefix("$ policy-engine ").split()
        run = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", *args], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        actual = (run.stdout + run.stderr).splitlines()
        assert status == f"[exit {run.returncode}]", (command, run.stdout, run.stderr)
        if args[0] == "check":  # the check report's layout belongs to docs/check.md; only its verdict here
            assert any("detector-sweep asks for 8 GPUs" in line for line in actual)
        else:
            missing = [line for line in expected if _key(line) and line not in actual]
            assert missing == [], (command, missing)
        commands += 1
    assert commands >= 8
