"""The whole shared corpus of real AI/ML manifests through ``check`` with the bundled library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus"
#: Errors that mean the input is not a valid manifest (as opposed to a crash or a policy failure).
INPUT_ERRORS = ("E6", "E7", "E403", "E404")  # manifests (6xx), workload model fields (7xx), binary, encoding


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is absent (not part of a user's clone)")
def test_corpus_checks_without_crashing(tmp_path: Path) -> None:
    out = tmp_path / "corpus.json"
    proc = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "check", str(CORPUS), "--format",
                           "sarif", "--output", f"json={out}"], capture_output=True, text=True, check=False)
    assert proc.returncode in (0, 1, 2), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    doc = json.loads(out.read_text())
    assert doc["stats"]["documents"] > 1000
    assert not [f for f in doc["findings"] if f["error"]], "a policy failed internally"
    for error in doc["errors"]:
        assert error["code"].startswith(INPUT_ERRORS), error
        if error["code"] == "E601":
            source = Path(error["file"]) if Path(error["file"]).is_absolute() else REPO / error["file"]
            with pytest.raises(yaml.YAMLError):
                list(yaml.safe_load_all(source.read_text()))
    json.loads(proc.stdout)
