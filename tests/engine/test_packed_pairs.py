"""The (policy, resource) pairs of a large run kept packed: the same pairs in the same order, so JUnit and
PolicyReport (which list the passes) write the same reports as from a plain run."""

from __future__ import annotations

import io

import pytest

from policy_engine.engine import Engine, load_engine
from policy_engine.engine import batch as batch_module
from policy_engine.engine.batch import evaluate_paths
from policy_engine.engine.packed import PackedFindings, PackedList
from policy_engine.reporters import ReportContext, renderer, streamer

from .test_batch import EXAMPLES
from .test_packed import POLICIES


@pytest.fixture(scope="module")
def engine() -> Engine:
    return load_engine([POLICIES])  # quota and budget among them: group findings, judged over every unit


@pytest.mark.parametrize("jobs", [1, 2])
def test_packed_pairs_give_the_reports_of_a_plain_run(engine: Engine, jobs: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"".join(b"---\n" + p.read_bytes() for p in sorted(EXAMPLES.rglob("*.yaml"))) * 3
    monkeypatch.setattr(batch_module, "UNIT_BYTES", 2048)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(batch_module, "PACK_AFTER", 10**9)
        m.setattr(batch_module, "PACK_PAIRS_AFTER", 10**9)
        plain = evaluate_paths(engine, ["-"], jobs=1, stdin=io.BytesIO(data))
    monkeypatch.setattr(batch_module, "PACK_AFTER", 0)
    monkeypatch.setattr(batch_module, "PACK_PAIRS_AFTER", 0)
    packed = evaluate_paths(engine, ["-"], jobs=jobs, stdin=io.BytesIO(data))
    assert isinstance(packed.result.evaluations, PackedList)
    assert isinstance(packed.result.findings, PackedFindings)
    assert list(packed.result.evaluations) == list(plain.result.evaluations)
    assert len(packed.result.evaluations) == len(plain.result.evaluations) > 20
    assert any(f.group for f in plain.result.findings)
    ctx = ReportContext(policies=engine.policies, generated_at=1_700_000_000.0)
    packed.result.stats.seconds = plain.result.stats.seconds
    for fmt in ("junit", "policyreport", "sarif", "codequality", "markdown"):
        expected = renderer(fmt)(plain.result, ctx)
        assert "".join(streamer(fmt)(packed.result, ctx)) == expected, fmt
