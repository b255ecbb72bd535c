"""``check`` with worker processes prints, byte for byte, what one process prints: text, JSON and SARIF,
over a mixed tree (subdirectories, a file cut into units, invalid YAML, quota findings decided over every
unit, a TrainJob whose runtime is in another unit) and over the same documents on stdin.

The CLI runs in this process (``main``) so that the units can be made small and the findings packed from
the first one: the few KiB of fixtures then go through every path a 100,000-document run takes.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from policy_engine.cli.main import main
from policy_engine.engine import batch as batch_module
from policy_engine.model import sources

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
    shutil.copy(FIXTURES / "engine" / "unread" / "gputrainer.yaml", root / "bad" / "gputrainer.yaml")
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


def _without_fork(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Worker processes started as where fork is not available (macOS, Windows); the start methods used."""
    methods: list[str | None] = []
    get_context = multiprocessing.get_context

    def context(method: str | None = None) -> Any:
        methods.append(method)
        return get_context(method)

    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    monkeypatch.setattr(multiprocessing, "get_context", context)
    return methods


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


@pytest.mark.parametrize("fmt", ["junit", "policyreport"])
def test_pairs_read_from_packed_blocks_report_the_same_bytes(tree: Path, fmt: str, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """JUnit and PolicyReport over the pairs and findings packed by the workers: the same bytes as one process,
    over the tree (its TrainJob is judged after the others: the pairs are not all in resource order) and over
    stdin without it (in resource order: read together, ``reporters.pairs``)."""
    monkeypatch.chdir(tree)
    monkeypatch.setattr(batch_module, "PACK_PAIRS_AFTER", 0)
    data = b"".join(b"---\n" + p.read_bytes() + b"\n" for p in sorted(tree.rglob("*.yaml"))
                    if p.parent.name != "trainer")

    def run(where: str, jobs: int) -> tuple[int, str]:
        code, out = _run([where, "--format", fmt], capsys, monkeypatch, jobs=jobs, packed=jobs > 1,
                         stdin=data if where == "-" else None)
        out = re.sub(r'time="[0-9.]+"', 'time="0"', out)  # JUnit's run time
        return code, re.sub(r'"seconds": [0-9]+, "nanos"', '"seconds": 0, "nanos"', out)  # PolicyReport's stamp

    for where in (".", "-"):
        one, two = run(where, 1), run(where, 2)
        assert one == two
        assert "nlp-serve-b" in one[1] and ("trainjobs.yaml" in one[1]) == (where == ".")


@pytest.mark.parametrize("fmt", FORMATS)
def test_stdin_reports_the_same_bytes_with_workers(tree: Path, fmt: str, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    data = _stream(tree)
    one = _run(["-", "--format", fmt], capsys, monkeypatch, jobs=1, packed=False, stdin=data)
    two = _run(["-", "--format", fmt], capsys, monkeypatch, jobs=2, packed=True, stdin=data)
    assert one == two
    code, out = one
    assert code == 2 and "stdin" in out and "projects" in out



@pytest.mark.parametrize("fmt", FORMATS)
def test_spawned_workers_report_the_same_bytes(tree: Path, fmt: str, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Where processes cannot be forked (macOS, Windows), each worker loads the engine and the settings the
    parent was given, and the parent renders the findings' pieces: the same bytes, over a tree and stdin.
    The settings matter: unread GPU kinds denied and a size cap that refuses ``all.yaml``."""
    monkeypatch.chdir(tree)
    data = _stream(tree)
    flags = ["--format", fmt, "--unread-gpu-kinds", "deny", "--max-file-size", "16K", "--no-cache"]
    one = [_run([".", *flags], capsys, monkeypatch, jobs=1, packed=False),
           _run(["-", *flags], capsys, monkeypatch, jobs=1, packed=False, stdin=data)]
    methods = _without_fork(monkeypatch)
    two = [_run([".", *flags], capsys, monkeypatch, jobs=2, packed=True),
           _run(["-", *flags], capsys, monkeypatch, jobs=2, packed=True, stdin=data)]
    assert methods == ["spawn", "spawn"]
    assert one == two
    tree_out, stdin_out = one[0][1], one[1][1]
    assert re.search(r"unread-gpu-kind.*deny", tree_out)  # the unread kind, denied as the parent was told
    assert "all.yaml" in tree_out and "16,384" in tree_out and "16,384" in stdin_out  # refused, cut


def test_no_cache_leaves_the_process_alone_and_spawned_workers_honour_it(
        tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``--no-cache`` and ``--max-file-size`` are one run's: after an in-process run the environment and the
    size cap are what they were; spawned workers were told explicitly, and none read or wrote the cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.chdir(tree)
    environ, cap = dict(os.environ), sources.MAX_FILE_BYTES
    methods = _without_fork(monkeypatch)
    _run([".", "--no-cache", "--max-file-size", "1M"], capsys, monkeypatch, jobs=2, packed=True)
    assert methods == ["spawn"]
    assert dict(os.environ) == environ and cap == sources.MAX_FILE_BYTES
    assert not cache.exists() or not any(cache.iterdir())  # no worker wrote an entry
    _run(["."], capsys, monkeypatch, jobs=2, packed=True)  # the same run with the cache: entries appear there
    assert any(cache.iterdir())


def test_a_report_not_made_of_pieces_beside_one_that_is_gets_every_finding(
        tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """JSON on stdout is made of the workers' pieces, SARIF to a file is not: the workers send their findings
    too (``pieces_suffice``), and both are what one process writes."""
    monkeypatch.chdir(tree)
    outputs = []
    for jobs in (1, 2):
        sarif = tmp_path / f"{jobs}.sarif"
        printed = _run([".", "--format", "json", "--output", f"sarif={sarif}"], capsys, monkeypatch, jobs=jobs,
                       packed=jobs > 1)
        outputs.append((printed, sarif.read_text()))
    assert outputs[0] == outputs[1]
    assert "projects" in outputs[0][1] and "all.yaml" in outputs[0][1]
