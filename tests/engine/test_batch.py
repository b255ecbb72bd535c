"""``check``'s batch evaluation: work cut by bytes, the same result whatever the layout or the processes."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from policy_engine.diagnostics import Diagnostic
from policy_engine.engine import Engine, Options, load_engine
from policy_engine.engine import batch as batch_module
from policy_engine.engine.batch import Batch, evaluate_paths
from policy_engine.model.documents import LoadError
from policy_engine.reporters.costs import TeamShare, WorkloadCost, by_team

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "manifests"
FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return load_engine()


@pytest.fixture()
def small_units(monkeypatch: pytest.MonkeyPatch) -> None:
    """Units of 2 KiB and workers from 4 KiB: the examples' few KiB are cut and sent to workers."""
    monkeypatch.setattr(batch_module, "UNIT_BYTES", 2048)
    monkeypatch.setattr(batch_module, "PARALLEL_BYTES", 4096)


def _stream() -> bytes:
    """Every example manifest, as ``helm template`` would print them: one stream of many documents."""
    parts = [b"---\n# Source: " + p.name.encode() + b"\n" + p.read_bytes() for p in sorted(EXAMPLES.rglob("*.yaml"))]
    return b"".join(parts) * 3


def load_errors(errors: Sequence[LoadError | Diagnostic]) -> list[LoadError]:
    """A batch's errors, each one a file's or a document's (what every test here expects)."""
    assert all(isinstance(e, LoadError) for e in errors), errors
    return [e for e in errors if isinstance(e, LoadError)]


def _comparable(b: Batch) -> tuple[object, ...]:
    r = b.result
    return ([f.to_dict() for f in r.findings], [str(e) for e in r.errors], r.stats.documents, r.stats.workloads,
            r.stats.files, round(r.stats.monthly_cost, 6), [(s.policy, s.findings) for s in r.summaries],
            [(c.ref, c.monthly) for c in b.records])


def test_stdin_cut_into_units_gives_what_one_process_gives(engine: Engine, small_units: None) -> None:
    data = _stream()
    options = Options(record=WorkloadCost.of)
    whole = evaluate_paths(engine, ["-"], jobs=1, options=options, stdin=io.BytesIO(data))
    parallel = evaluate_paths(engine, ["-"], jobs=2, options=options, stdin=io.BytesIO(data))
    assert parallel.workers == 2 and whole.workers == 1
    assert whole.result.stats.documents >= 18 and whole.result.findings
    assert _comparable(parallel) == _comparable(whole)
    assert all(f.resource.file == "<stdin>" for f in whole.result.findings)


def test_one_large_file_is_cut_at_documents_and_keeps_its_lines(engine: Engine, small_units: None,
                                                                 tmp_path: Path) -> None:
    big = tmp_path / "rendered.yaml"
    big.write_bytes(_stream())
    one = evaluate_paths(engine, [str(big)], jobs=1)
    two = evaluate_paths(engine, [str(big)], jobs=2)
    assert two.workers == 2
    assert _comparable(two) == _comparable(one)
    assert one.result.stats.files == 1
    lines = big.read_text().splitlines()
    for f in one.result.findings:  # every finding points at its document's own line in the big file
        if f.group is None:
            assert lines[f.resource.line - 1].startswith(("apiVersion", "kind", "metadata", "---", "- ")), f


def test_by_default_the_amount_of_input_decides_the_processes(engine: Engine, small_units: None,
                                                              tmp_path: Path) -> None:
    big = tmp_path / "one.yaml"
    big.write_bytes(_stream())
    assert evaluate_paths(engine, [str(big)]).workers == (os.cpu_count() or 1)
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    assert evaluate_paths(engine, [str(tiny)]).workers == 1


def test_invalid_yaml_in_a_cut_stream_is_reported_once_and_the_rest_is_evaluated(
        engine: Engine, small_units: None) -> None:
    data = _stream()
    broken = data.replace(b"kind: Deployment\n", b"kind: Deployment\n  bad: [\n", 1)
    whole = evaluate_paths(engine, ["-"], jobs=1, stdin=io.BytesIO(broken))
    parallel = evaluate_paths(engine, ["-"], jobs=2, stdin=io.BytesIO(broken))
    assert [e.diagnostic.code for e in load_errors(whole.result.errors)] == ["E601"]
    assert _comparable(parallel) == _comparable(whole)
    clean = evaluate_paths(engine, ["-"], jobs=1, stdin=io.BytesIO(data))
    assert whole.result.stats.documents == clean.result.stats.documents - 1


def test_stdin_past_the_size_cap_is_an_error_at_the_line_where_reading_stopped(
        engine: Engine, small_units: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from policy_engine.model import sources

    data = _stream()
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", len(data) // 2)
    capped = evaluate_paths(engine, ["-"], jobs=1, stdin=io.BytesIO(data))
    (error,) = load_errors(capped.result.errors)
    assert error.diagnostic.code == "E406" and error.file == "<stdin>" and error.line > 1
    whole = evaluate_paths(engine, ["-"], jobs=1, stdin=io.BytesIO(data[: len(data) // 2]))
    assert 0 < capped.result.stats.documents <= whole.result.stats.documents


@pytest.mark.parametrize("stdin", [b"", b"# rendered nothing\n---\n"])
def test_stdin_without_a_document_is_the_located_warning_an_empty_file_gets(engine: Engine, tmp_path: Path,
                                                                             stdin: bytes) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_bytes(stdin)
    from_file = load_errors(evaluate_paths(engine, [str(empty)], jobs=1).result.errors)
    from_stdin = load_errors(evaluate_paths(engine, ["-"], jobs=1, stdin=io.BytesIO(stdin)).result.errors)
    assert [(e.diagnostic.code, e.diagnostic.span.line, e.diagnostic.message) for e in from_stdin] == \
        [(e.diagnostic.code, e.diagnostic.span.line, e.diagnostic.message) for e in from_file]
    assert [(e.diagnostic.code, e.file) for e in from_stdin] == [("W601", "<stdin>")]


def test_a_stdin_cut_into_segments_is_never_called_empty(engine: Engine, small_units: None) -> None:
    result = evaluate_paths(engine, ["-"], jobs=1, stdin=io.BytesIO(_stream())).result
    assert result.stats.documents and not [e for e in load_errors(result.errors) if e.diagnostic.code == "W601"]


def _gpus(b: Batch) -> dict[str, float]:
    return {w.name: w.gpus for w in b.result.workloads}


def test_a_trainjob_finds_its_runtime_in_another_workers_share(engine: Engine,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Every document its own unit, two workers: the runtime is read by another unit than the TrainJob."""
    monkeypatch.setattr(batch_module, "UNIT_BYTES", 1)
    trainjobs = str(FIXTURES / "model" / "trainer" / "trainjobs.yaml")
    one = evaluate_paths(engine, [trainjobs], jobs=1, options=Options(workloads=True))
    two = evaluate_paths(engine, [trainjobs], jobs=2, options=Options(workloads=True))
    assert two.workers == 2
    assert _gpus(two) == _gpus(one) == {"finetune": 8.0, "torch-run": 8.0, "nowhere": 0.0}


def test_dra_claims_follow_a_resource_claim_template_in_another_file(engine: Engine,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_module, "UNIT_BYTES", 1)
    dra = FIXTURES / "engine" / "dra"
    runs = [evaluate_paths(engine, [str(dra / "workloads.yaml"), str(dra / "claim-templates.yaml")], jobs=jobs,
                           options=Options(workloads=True)) for jobs in (1, 2)]
    assert runs[1].workers == 2
    for run in runs:
        assert _gpus(run) == {"dra-trainer": 4.0, "dra-legacy": 1.0, "dra-missing": 0.0}
        by_name = {w.name: w for w in run.result.workloads}
        trainer = by_name["dra-trainer"].roles[0]
        assert trainer.gpu_resource == "gpu.nvidia.com"
        assert "ResourceClaimTemplate two-a100" in trainer.provenance["gpus"].note
        assert "claim-templates.yaml" in trainer.provenance["gpus"].note
        missing = by_name["dra-missing"].roles[0]
        assert "not-scanned is not in the scanned set" in missing.provenance["claims_unresolved"].note
        # the template is counted on the pods naming it, not flagged as a kind the model does not read
        assert not [f for f in run.result.findings if f.resource.kind == "ResourceClaimTemplate"]


def test_a_run_without_a_base_keeps_each_workloads_team_share_as_its_full_cost_gives_it(
        engine: Engine, small_units: None) -> None:
    """``check`` without ``--base`` has its workers send only what spend per team reads (``TeamShare``): the
    same teams, GPUs and costs, in the same order, as the full records give."""
    data = _stream()
    full = evaluate_paths(engine, ["-"], jobs=2, options=Options(record=WorkloadCost.of), stdin=io.BytesIO(data))
    share = evaluate_paths(engine, ["-"], jobs=2, options=Options(record=TeamShare.of), stdin=io.BytesIO(data))
    assert all(isinstance(s, TeamShare) for s in share.records) and len(share.records) >= 10
    assert [(c.team, c.gpus, c.monthly) for c in full.records] == [(s.team, s.gpus, s.monthly) for s in share.records]
    assert by_team(full.records) == by_team(share.records)


def test_the_last_units_are_halved_at_documents_and_keep_their_lines(tmp_path: Path) -> None:
    """A run's last units go to the workers in halves (they end closer together): stdin's bytes and a range
    of a large file cut at a ``---`` line, the second half starting at its own line; a list of files split
    by size. A unit that cannot be cut (one whole file) stays as it is."""
    data = _stream()
    piece = batch_module.Piece("<stdin>", first_line=41, data=data)
    first, second = (half for (half,) in batch_module._halves((piece,)))
    assert isinstance(first, batch_module.Piece) and isinstance(second, batch_module.Piece)
    assert first.data is not None and second.data is not None and first.data + second.data == data
    assert second.data.startswith(b"---") and abs(len(first.data) - len(data) / 2) < len(data) / 4
    assert (first.first_line, second.first_line) == (41, 41 + first.data.count(b"\n"))
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# head\n" + data)
    ranged = batch_module.Piece(str(big), 7, len(data) + 7, 2)
    halves = [half for (half,) in batch_module._halves((ranged,))]
    assert [(h.start, h.end, h.first_line) for h in halves] == [  # type: ignore[union-attr]
        (7, 7 + len(first.data), 2), (7 + len(first.data), len(data) + 7, 2 + first.data.count(b"\n"))]
    files = [tmp_path / f"{n}.yaml" for n in range(4)]
    for f, size in zip(files, (100, 300, 50, 50), strict=True):
        f.write_bytes(b"#" * size)
    assert batch_module._halves(tuple(map(str, files))) == (tuple(map(str, files[:2])), tuple(map(str, files[2:])))
    assert batch_module._halves((str(big),)) == ((str(big),),)
    whole = batch_module.Piece("<stdin>", data=data, whole=True)  # all of stdin: its W601 if empty stays whole
    assert batch_module._halves((whole,)) == ((whole,),)
