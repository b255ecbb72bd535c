"""``check`` with worker processes prints, byte for byte, what one process prints: text, JSON and SARIF,
over a mixed tree (subdirectories, a file cut into units, invalid YAML, quota findings decided over every
unit, a TrainJob whose runtime is in another unit) and over the same documents on stdin.

The CLI runs in this process (``main``) so that the units can be made small and the findings packed from
the first one: the few KiB of fixtures then go through every path a 100,000-document run takes.
"""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest

from policy_engine.cli.main import main
from policy_engine.engine import batch as batch_module

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
POLICIES = FIXTURES / "engine" / "policies"  # labels, spot, a quota and a budget
FORMATS = ("text", "json", "sarif")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mixed")
    shutil.copytree(REPO / "examples" / "manifests", root / "examples")
    shutil.copytree(FIXTURES / "check" / "tree", root / "tree")
    shutil.copytree(FIXTURES / "check" / "quota", root / "quota")
    shutil.copy(FIXTURES / "check" / "quota" / "nlp-a.yaml", root / "quota-x.yaml")  # "quota-" sorts before "quota/"
    (root / "trainer").mkdir()
    shutil.copy(FIXTURES / "model" / "trainer" / "trainjobs.yaml", root / "trainer" / "trainjobs.yaml")
    (root / "bad").mkdir()
    shutil.copy(FIXTURES / "check" / "bad" / "invalid.yaml", root / "bad" / "invalid.yaml")
    big = b"".join(b"---\n" + p.read_bytes() + b"\n" for p in sorted((REPO / "examples" / "manifests").glob("*.yaml")))
    (root / "all.yaml").write_bytes(big * 3 + b"---\nkind: [unclosed\n" + big)  # cut into units; one bad document
    return root


def _run(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *, jobs: int,
         packed: bool, stdin: bytes | None = None) -> tuple[int, str]:
    monkeypatch.setattr(batch_module, "UNIT_BYTES", 2048)  # many units, large files cut
    monkeypatch.setattr(batch_module, "PACK_AFTER", 0 if packed else 10**9)
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    capsys.readouterr()
    code = main(["check", *args, "--policies", str(POLICIES), "--jobs", str(jobs), "--no-color"])
    out = capsys.readouterr().out
    return code, re.sub(r'"seconds": [0-9.e-]+', '"seconds": 0', out)  # the one thing that differs


def _stream(tree: Path) -> bytes:
    return b"".join(b"---\n" + p.read_bytes() + b"\n" for p in sorted(tree.rglob("*.yaml")))


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_mixed_tree_reports_the_same_bytes_with_workers(tree: Path, fmt: str, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    args = [".", "--format", fmt]
    one = _run(args, capsys, monkeypatch, jobs=1, packed=False)
    two = _run(args, capsys, monkeypatch, jobs=2, packed=True)
    assert one == two
    code, out = one
    assert code == 2  # invalid YAML is an input error
    assert all(name in out for name in ("all.yaml", "quota-x.yaml", "trainjobs.yaml", "invalid.yaml", "nlp-b"))
    assert "projects" in out  # a quota or budget group finding, decided over every unit


@pytest.mark.parametrize("fmt", FORMATS)
def test_stdin_reports_the_same_bytes_with_workers(tree: Path, fmt: str, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    data = _stream(tree)
    one = _run(["-", "--format", fmt], capsys, monkeypatch, jobs=1, packed=False, stdin=data)
    two = _run(["-", "--format", fmt], capsys, monkeypatch, jobs=2, packed=True, stdin=data)
    assert one == two
    code, out = one
    assert code == 2 and "stdin" in out and "projects" in out
