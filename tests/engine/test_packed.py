"""A large run's findings kept packed: the same findings, the same reports, in the same order."""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path

import pytest

from policy_engine.compiler.program import Enforcement, Severity
from policy_engine.engine import Engine, Options, load_engine
from policy_engine.engine import batch as batch_module
from policy_engine.engine import packed as packed_module
from policy_engine.engine.batch import evaluate_paths
from policy_engine.engine.evaluate import Partial
from policy_engine.engine.findings import Finding, ResourceRef
from policy_engine.engine.packed import Joined, PackedFindings, Packer, pack_block, sort_key
from policy_engine.reporters import ReportContext, piece_renderer, renderer, streamer
from policy_engine.reporters.costs import WorkloadCost

from .test_batch import EXAMPLES, _comparable, _stream

POLICIES = Path(__file__).resolve().parents[1] / "fixtures" / "engine" / "policies"  # quota and budget among them


@pytest.fixture(scope="module")
def engine() -> Engine:
    return load_engine()


@pytest.fixture()
def pack_early(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pack from the first finding on, in units of 2 KiB (so that there are many blocks)."""
    monkeypatch.setattr(batch_module, "PACK_AFTER", 0)
    monkeypatch.setattr(batch_module, "UNIT_BYTES", 2048)


def test_packed_stdin_gives_the_findings_and_reports_of_a_plain_run(engine: Engine, pack_early: None) -> None:
    data = _stream()
    options = Options(record=WorkloadCost.of, evaluations=False)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(batch_module, "PACK_AFTER", 10**9)
        plain = evaluate_paths(engine, ["-"], jobs=1, options=options, stdin=io.BytesIO(data))
    assert not isinstance(plain.result.findings, PackedFindings)
    packed = evaluate_paths(engine, ["-"], jobs=1, options=options, stdin=io.BytesIO(data))
    assert isinstance(packed.result.findings, PackedFindings)
    assert len(packed.result.findings) == len(plain.result.findings) > 50
    assert _comparable(packed) == _comparable(plain)
    ctx = ReportContext(policies=engine.policies, costs=plain.records)
    packed.result.stats.seconds = plain.result.stats.seconds  # the one thing that differs
    for fmt in ("text", "json", "sarif", "junit", "markdown", "codequality"):
        expected = renderer(fmt)(plain.result, ctx)
        assert "".join(streamer(fmt)(packed.result, ctx)) == expected, fmt
        assert renderer(fmt)(packed.result, ctx) == expected, fmt


def test_packed_across_workers_and_with_group_findings(engine: Engine, pack_early: None) -> None:
    """Quota findings, decided over every block, are merged in at their place."""
    data = b"".join(b"---\n" + p.read_bytes() for p in sorted(EXAMPLES.rglob("*.yaml"))) * 4
    policies = load_engine([POLICIES])
    with pytest.MonkeyPatch.context() as m:
        m.setattr(batch_module, "PACK_AFTER", 10**9)
        plain = evaluate_paths(policies, ["-"], jobs=1, stdin=io.BytesIO(data))
    packed = evaluate_paths(policies, ["-"], jobs=2, stdin=io.BytesIO(data))
    assert isinstance(packed.result.findings, PackedFindings)
    assert any(f.group for f in plain.result.findings)
    assert _comparable(packed) == _comparable(plain)


def test_a_directory_tree_stays_packed_in_report_order(engine: Engine, pack_early: None, tmp_path: Path) -> None:
    """Discovery reads a directory's files before its subdirectories' ("a-x.yaml", "z.yaml", then "a/b.yaml"),
    the report sorts "a-x" < "a/" < "z": the units follow the report's order, so the findings stay packed."""
    source = sorted(EXAMPLES.rglob("*.yaml"))
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b.yaml").write_bytes(source[0].read_bytes())
    (tmp_path / "a-x.yaml").write_bytes(source[0].read_bytes())
    (tmp_path / "z.yaml").write_bytes(b"".join(p.read_bytes() + b"\n---\n" for p in source[1:]))
    with pytest.MonkeyPatch.context() as m:
        m.setattr(batch_module, "PACK_AFTER", 10**9)
        plain = evaluate_paths(engine, [str(tmp_path)], jobs=1)
    for jobs in (1, 2):
        packed = evaluate_paths(engine, [str(tmp_path)], jobs=jobs)
        assert isinstance(packed.result.findings, PackedFindings), jobs
        assert _comparable(packed) == _comparable(plain)
        files = [f.resource.file for f in packed.result.findings]
        assert files == sorted(files) and len(set(files)) == 3


def test_blocks_out_of_report_order_fall_back_to_one_sorted_list(engine: Engine, pack_early: None,
                                                                 tmp_path: Path) -> None:
    """The same large file named twice: its second reading's first findings sort before the first's last."""
    big = tmp_path / "big.yaml"
    big.write_bytes(_stream())
    with pytest.MonkeyPatch.context() as m:
        m.setattr(batch_module, "PACK_AFTER", 10**9)
        plain = evaluate_paths(engine, [str(big), str(big)], jobs=1)
    packed = evaluate_paths(engine, [str(big), str(big)], jobs=1)
    assert not isinstance(packed.result.findings, PackedFindings)
    assert _comparable(packed) == _comparable(plain)
    keys = [(f.resource.file, f.line) for f in packed.result.findings]
    assert keys == sorted(keys) and len(keys) > 50


@pytest.mark.parametrize(("raw_bytes", "pieces_only"), [(None, False), (4096, True)])
def test_workers_render_the_reports_pieces_and_the_parent_only_joins_them(
        pack_early: None, raw_bytes: int | None, pieces_only: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Text and JSON from the workers' pieces, quota findings rendered here and merged in at their place:
    the same bytes as a plain run's, without this process unpacking a single finding to report them. The
    workers' first blocks are kept as pickles, those past ``RAW_BYTES`` compressed: the same bytes too. With
    ``pieces_only`` the workers send no findings at all, and reading them says so rather than lose any."""
    data = b"".join(b"---\n" + p.read_bytes() for p in sorted(EXAMPLES.rglob("*.yaml"))) * 8
    policies = load_engine([POLICIES])
    ctx = ReportContext(policies=policies.policies)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(batch_module, "PACK_AFTER", 10**9)
        plain = evaluate_paths(policies, ["-"], jobs=1, stdin=io.BytesIO(data))
    assert any(f.group for f in plain.result.findings)
    render = piece_renderer([("text", ctx), ("json", ctx)])
    if raw_bytes is not None:
        monkeypatch.setattr(batch_module, "RAW_BYTES", raw_bytes)
    packed = evaluate_paths(policies, ["-"], jobs=2, stdin=io.BytesIO(data), render=render, pieces_only=pieces_only)
    findings = packed.result.findings
    assert isinstance(findings, PackedFindings) and len(findings) == len(plain.result.findings)
    blocks = [block for block in findings._pieces if block is not None]
    compressed = [isinstance(block, bytes) and packed_module.is_compressed(block) for block in blocks]
    assert len(compressed) > 12 and not compressed[0]
    # an uncompressed block's pieces arrive as they are, never as a pickle to read again when reporting
    assert all(isinstance(b, packed_module.BlockPieces) for b, c in zip(blocks, compressed, strict=True) if not c)
    assert compressed[-1] if raw_bytes is not None else not any(compressed)  # at most 6 units sent before one is in
    if pieces_only:
        assert all(data == packed_module.NOT_KEPT for _, data in findings._blocks)
        with pytest.raises(packed_module.NotKept):
            list(findings)
    packed.result.stats.seconds = plain.result.stats.seconds
    monkeypatch.setattr(packed_module, "_unpack", None)  # reporting must not read the packed findings back
    for fmt in ("text", "json"):
        assert "".join(streamer(fmt)(packed.result, ctx)) == renderer(fmt)(plain.result, ctx), fmt


UNREAD = Path(__file__).resolve().parents[1] / "fixtures" / "engine" / "unread" / "gputrainer.yaml"


def test_workers_render_sarif_and_code_quality_and_the_parent_writes_in_the_rule_index_outside_the_set(
        pack_early: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """SARIF from the workers' pieces: the same log as a plain run's, rules and results. Findings of the engine's
    own ``unread-gpu-kind`` (outside the set: its rule index depends on the whole run) first appear in a later
    unit, then in several; the parent learns the policies each block names without unpacking a finding."""
    examples = [b"---\n" + p.read_bytes() for p in sorted(EXAMPLES.rglob("*.yaml"))] * 8
    unread = b"---\n" + UNREAD.read_bytes()
    data = b"".join(doc + (unread if n % 40 == 39 else b"") for n, doc in enumerate(examples))
    policies = load_engine([POLICIES])
    ctx = ReportContext(policies=policies.policies)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(batch_module, "PACK_AFTER", 10**9)
        plain = evaluate_paths(policies, ["-"], jobs=1, stdin=io.BytesIO(data))
    names = [f.policy for f in plain.result.findings]
    assert "unread-gpu-kind" in names and names.index("unread-gpu-kind") > 10
    assert any(f.group for f in plain.result.findings)  # quota findings, decided in the parent, merged in
    packed = evaluate_paths(policies, ["-"], jobs=2, stdin=io.BytesIO(data),
                            render=piece_renderer([("sarif", ctx), ("codequality", ctx)]), pieces_only=True)
    findings = packed.result.findings
    assert isinstance(findings, PackedFindings) and len(findings._pieces) > 12
    assert [name for name, _ in findings.first_named() or []] == list(dict.fromkeys(names))
    packed.result.stats.seconds = plain.result.stats.seconds
    monkeypatch.setattr(packed_module, "_unpack", None)  # reporting must not read the packed findings back
    log = "".join(streamer("sarif")(packed.result, ctx))
    assert log == renderer("sarif")(plain.result, ctx)
    assert f'"ruleId":"unread-gpu-kind","ruleIndex":{len(policies.policies.policies)},' in log
    # GitLab Code Quality from the workers' pieces too
    assert "".join(streamer("codequality")(packed.result, ctx)) == renderer("codequality")(plain.result, ctx)


def _first_unit_late(unit: batch_module.Unit, *args: object) -> Partial:
    """A worker's ``_work``, slow on the unit that starts the stream (one worker held up by the machine)."""
    first = unit[0]
    if isinstance(first, batch_module.Piece) and first.first_line == 1:
        time.sleep(1.5)
    return WORK(unit, *args)  # type: ignore[arg-type]


WORK = batch_module._work


def test_blocks_are_compressed_past_raw_bytes_though_the_first_unit_ends_last(
        pack_early: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the workers kept uncompressed is counted as each unit ends, not as units are delivered in the
    report's order: a first unit held up must not leave every later unit's block uncompressed."""
    data = b"".join(b"---\n" + p.read_bytes() for p in sorted(EXAMPLES.rglob("*.yaml"))) * 8
    policies = load_engine([POLICIES])
    ctx = ReportContext(policies=policies.policies)
    monkeypatch.setattr(batch_module, "RAW_BYTES", 4096)
    monkeypatch.setattr(batch_module, "_work", _first_unit_late)
    packed = evaluate_paths(policies, ["-"], jobs=2, stdin=io.BytesIO(data),
                            render=piece_renderer([("json", ctx)]))
    findings = packed.result.findings
    assert isinstance(findings, PackedFindings)
    blocks = [block for block in findings._pieces if block is not None]
    compressed = [isinstance(block, bytes) and packed_module.is_compressed(block) for block in blocks]
    assert len(compressed) > 12 and not compressed[0] and compressed[-1]
    # an uncompressed block's pieces arrive as they are, never as a pickle to read again when reporting
    assert all(isinstance(b, packed_module.BlockPieces) for b, c in zip(blocks, compressed, strict=True) if not c)


def test_a_file_named_twice_keeps_its_findings_though_only_pieces_were_asked_for(
        engine: Engine, pack_early: None, tmp_path: Path) -> None:
    """Its second reading's blocks come out of report order: the findings are sorted again, so they are sent."""
    big = tmp_path / "big.yaml"
    big.write_bytes(_stream())
    ctx = ReportContext(policies=engine.policies)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(batch_module, "PACK_AFTER", 10**9)
        plain = evaluate_paths(engine, [str(big), str(big)], jobs=1)
    packed = evaluate_paths(engine, [str(big), str(big)], jobs=2, render=piece_renderer([("json", ctx)]),
                            pieces_only=True)
    assert _comparable(packed) == _comparable(plain)


def test_runs_merge_the_loose_findings_at_their_place_as_iterating_does() -> None:
    """A loose (quota) finding before every block, inside one (a tie: after the packed one), between two and
    after all: the runs, flattened, are the pieces in the order the findings iterate in."""
    def finding(file: str, line: int, policy: str = "p") -> Finding:
        return Finding(policy, "r", Severity.LOW, Enforcement.WARN, f"{file}:{line}:{policy}",
                       ResourceRef("Job", "j", None, file, line))

    def render(fs: Sequence[Finding]) -> dict[str, list[str] | Joined]:
        return {"v": [f.message for f in fs], "joined": Joined.of([f.message for f in fs], ", ")}

    packer = Packer()
    packer.add_block(pack_block([finding("b", n) for n in (1, 2, 5, 9)], render))
    packer.add_block(pack_block([finding("d", n) for n in (1, 3)], render))
    packer.add_block(pack_block([finding("f", 1), finding("f", 2), finding("g", 1)], render))  # none inside
    loose = [finding("a", 1), finding("b", 2, "o"), finding("b", 5), finding("c", 7), finding("e", 1)]
    packed = packer.packed(loose)
    expected = ["*a:1:p", "b:1:p", "*b:2:o", "b:2:p", "b:5:p", "*b:5:p", "b:9:p", "*c:7:p", "d:1:p", "d:3:p",
                "*e:1:p", "f:1:p", "f:2:p", "g:1:p"]  # on a tie (b:5:p) the packed one first, as heapq.merge
    runs = packed.runs("v", lambda f: "*" + f.message)
    assert runs is not None
    flat = [piece for run in runs for piece in run]
    assert flat == ["*" + f.message if any(f is o for o in loose) else f.message for f in packed]
    assert flat == expected
    joined = packed.runs("joined", lambda f: "*" + f.message)  # a block's pieces joined, cut only where one goes
    assert joined is not None
    assert [", ".join(run) for run in joined] == ["*a:1:p", "b:1:p", "*b:2:o", "b:2:p, b:5:p", "*b:5:p", "b:9:p",
                                                  "*c:7:p", "d:1:p, d:3:p", "*e:1:p", "f:1:p, f:2:p, g:1:p"]
    for variant in ("v", "joined"):
        pieces = packed.pieces(variant, lambda f: "*" + f.message)
        assert pieces is not None
        assert list(pieces) == [(sort_key(f), p) for f, p in zip(packed, expected, strict=True)]
    by_file = [(file, ", ".join(p for _, p in group))
               for file, group in groupby(zip(packed, expected, strict=True), key=lambda fp: fp[0].resource.file)]
    for variant in ("v", "joined"):  # a block's pieces joined are cut where the file changes
        file_runs = packed.file_runs(variant, lambda f: "*" + f.message)
        assert file_runs is not None
        merged = [(file, ", ".join(p for _, run in group for p in run))
                  for file, group in groupby(file_runs, key=lambda fr: fr[0])]
        assert merged == by_file, variant
    assert packed.runs("other", str) is None and packed.file_runs("other", str) is None


def test_joined_pieces_cut_at_any_piece() -> None:
    pieces = ["a", "", "ccc", "dd…", "e"]
    joined = Joined.of(pieces, ",\n ")
    assert joined.text == ",\n ".join(pieces)
    assert joined.split() == pieces
    for start in range(len(pieces)):
        for stop in range(start + 1, len(pieces) + 1):
            assert joined.cut(start, stop) == ",\n ".join(pieces[start:stop])

