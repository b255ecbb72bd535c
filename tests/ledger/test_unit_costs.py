"""Unit economics against a real Prometheus holding backfilled serving counters, and a real SQLite ledger.

The window is one hour. Pod ``llama-a`` (vLLM, $4.00/h, the namespace/pod labels) generates 1,000 tokens,
reads 3,000 prompt tokens and answers 10 requests a minute; ``llama-b`` of the same Deployment ($4.00/h,
the exported_* labels Prometheus writes when it does not honour the target's) only runs the second half
of the window at the same rate; ``tgi-c`` (TGI's metric names, $1.00/h) generates 500 tokens a minute;
``ghost`` has counters but no ledger record. Hand-computed:

    llama:  cost 4.00 + 2.00 = $6.00; generated 60,000 + 30,000 = 90,000 tokens → $66.6667 per 1M
            prompt 270,000 tokens → $22.2222 per 1M; 900 requests → $6.6667 per 1,000
    tgi:    cost $1.00; 30,000 tokens → $33.3333 per 1M
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from policy_engine.ledger.store import Ledger
from policy_engine.ledger.unit_costs import GENERATED, PROMPT, REQUESTS, serving_costs, training_runs
from policy_engine.prometheus import Prometheus, PrometheusError
from tests.prometheus_server import prometheus_over

from .serving import TGI_GENERATED, VLLM_GENERATED, VLLM_PROMPT, VLLM_REQUESTS, counters, pod

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
START = END - timedelta(hours=1)


def openmetrics() -> str:
    half = START + timedelta(minutes=30)
    early = START - timedelta(minutes=10)
    a = 'namespace="nlp",pod="llama-a"'
    b = 'namespace="monitoring",pod="exporter",exported_namespace="nlp",exported_pod="llama-b"'
    c = 'namespace="search",pod="tgi-c"'
    ghost = 'namespace="nlp",pod="ghost"'
    return counters([(VLLM_GENERATED, [(a, 1000, early), (b, 1000, half), (ghost, 99, early)]),
                     (VLLM_PROMPT, [(a, 3000, early), (b, 3000, half)]),
                     (VLLM_REQUESTS, [(a, 10, early), (b, 10, half)]),
                     (TGI_GENERATED, [(c, 500, early)])], early, END + timedelta(minutes=5))


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    path = tmp_path_factory.mktemp("ledger") / "ledger.db"
    with Ledger(path) as led:
        led.record([
            pod("a", "nlp", "llama-a", "Deployment/llama", "Deployment", 4.0, START - timedelta(hours=3)),
            pod("b", "nlp", "llama-b", "Deployment/llama", "Deployment", 4.0, START + timedelta(minutes=30)),
            pod("c", "search", "tgi-c", "Deployment/tgi", "Deployment", 1.0, START - timedelta(days=1)),
            # a finished training run: two workers, 90 minutes each at $32.77/h, 8 GPUs each
            pod("t1", "nlp", "ft-worker-0", "PyTorchJob/ft", "PyTorchJob", 32.77, START - timedelta(minutes=80),
                 START + timedelta(minutes=10), gpus=8),
            pod("t2", "nlp", "ft-worker-1", "PyTorchJob/ft", "PyTorchJob", 32.77, START - timedelta(minutes=80),
                 START + timedelta(minutes=10), gpus=8),
            # a run still going at the end of the window: not a finished run
            pod("t3", "nlp", "sweep-0", "Job/sweep", "Job", 1.0, START, None),
        ], END)
        yield led


@pytest.fixture(scope="module")
def prometheus() -> Iterator[Prometheus]:
    with prometheus_over(openmetrics()) as server, Prometheus(server.url) as client:
        yield client


def test_cost_per_million_tokens_equals_the_hand_computed_figure(ledger: Ledger, prometheus: Prometheus) -> None:
    spans = ledger.pod_spans(START, END)
    costs = {c.workload: c for c in serving_costs(spans, prometheus, START.timestamp(), END.timestamp())}
    llama = costs["Deployment/llama"]
    assert llama.pods == 2 and llama.cost == pytest.approx(6.0)
    assert llama.counts[GENERATED] == pytest.approx(90_000, rel=2e-3)
    assert llama.per(GENERATED, 1e6) == pytest.approx(66.6667, rel=2e-3)
    assert llama.per(PROMPT, 1e6) == pytest.approx(22.2222, rel=2e-3)
    assert llama.per(REQUESTS, 1e3) == pytest.approx(6.6667, rel=2e-3)
    assert llama.unpriced_pods == 0
    tgi = costs["Deployment/tgi"]
    assert tgi.per(GENERATED, 1e6) == pytest.approx(33.3333, rel=2e-3)
    assert tgi.per(REQUESTS, 1e3) is None  # TGI's request counter was not scraped: no figure, not $0
    ghost = costs["Pod/ghost"]
    assert ghost.unpriced_pods == 1 and ghost.cost == 0 and ghost.per(GENERATED, 1e6) is None
    as_json = llama.to_dict()
    assert as_json["cost_per_million_generated_tokens"] == pytest.approx(66.6667, rel=2e-3)


def test_finished_training_runs_cost_their_actual_duration(ledger: Ledger) -> None:
    runs = training_runs(ledger.pod_spans(START, END), START.timestamp(), END.timestamp())
    assert [r.workload for r in runs] == ["PyTorchJob/ft"]
    run = runs[0]
    assert run.hours == pytest.approx(1.5)
    assert run.cost == pytest.approx(2 * 32.77 * 1.5)
    assert run.gpu_hours == pytest.approx(24.0)


def test_prometheus_down_is_an_error_not_zero_tokens(ledger: Ledger) -> None:
    with Prometheus("http://127.0.0.1:9") as down, pytest.raises(PrometheusError, match="did not answer"):
        serving_costs(ledger.pod_spans(START, END), down, START.timestamp(), END.timestamp())


def test_a_bad_query_is_reported_with_prometheus_own_error(prometheus: Prometheus) -> None:
    with pytest.raises(PrometheusError, match="HTTP 400"):
        prometheus.query("sum(rate(", END.timestamp())
