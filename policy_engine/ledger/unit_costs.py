"""Unit economics: what a million tokens, a thousand requests or one training run actually cost.

**Serving.** The serving engines count their work in Prometheus counters, per pod. Over a window
``[start, end]`` one instant query per counter at ``end`` gives each pod's ``increase(…[window])``; the
ledger gives each pod's cost over the same window (its hourly price × its hours inside the window). Joined
on (namespace, pod) and summed per workload:

    cost per 1M generated tokens = Σ pod cost / Σ generated tokens × 1,000,000

Only pods that have both a cost and counters enter a ratio: tokens from a pod the ledger did not price
would make the unit cost look cheaper than it is, so such pods are counted apart (``unpriced_pods``).

Counters per engine (generated tokens; prompt tokens; requests):

- vLLM, and NVIDIA NIM for LLMs, which exports vLLM's names: ``vllm:generation_tokens_total``;
  ``vllm:prompt_tokens_total``; ``vllm:request_success_total``
- Hugging Face TGI: ``tgi_request_generated_tokens_sum``; ``tgi_request_input_length_sum``;
  ``tgi_request_success``
- SGLang: ``sglang:generation_tokens_total``; ``sglang:prompt_tokens_total``; ``sglang:num_requests_total``
- NVIDIA Triton: requests only, ``nv_inference_request_success``

Series are matched to pods by ``namespace``/``pod``, or ``exported_namespace``/``exported_pod`` where
Prometheus renamed the scraped labels.

**Training runs.** A Job, PyTorchJob, RayJob … whose pods all ended inside the window is a finished run:
its cost is Σ over its pods of hourly price × hours run, its duration from the first start to the last end.

``unit_costs`` computes both over one window from one ledger: ``report`` (the page and its JSON),
``usage --format json`` and the controller's metrics all take their figures from it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from policy_engine.ledger.store import Ledger, PodSpan
from policy_engine.prometheus import Prometheus, PrometheusError

GENERATED, PROMPT, REQUESTS = "generated_tokens", "prompt_tokens", "requests"
#: Per counter, the metric names of the engines that export it (summed: a pod runs one engine).
COUNTERS: dict[str, tuple[str, ...]] = {
    GENERATED: ("vllm:generation_tokens_total", "tgi_request_generated_tokens_sum",
                "sglang:generation_tokens_total"),
    PROMPT: ("vllm:prompt_tokens_total", "tgi_request_input_length_sum", "sglang:prompt_tokens_total"),
    REQUESTS: ("vllm:request_success_total", "tgi_request_success", "sglang:num_requests_total",
               "nv_inference_request_success"),
}
POD_LABELS = "namespace, pod, exported_namespace, exported_pod"
#: Owner kinds whose pods make up one training run.
TRAINING_KINDS = frozenset({
    "Job", "PyTorchJob", "TFJob", "MPIJob", "XGBoostJob", "PaddleJob", "JAXJob", "TrainJob", "JobSet",
    "RayJob", "HyperPodPyTorchJob", "Workflow",
})


def counter_query(counter: str, window_seconds: float) -> str:
    """One PromQL expression for a counter over the window, summed per pod across every engine's name."""
    window = f"{max(int(window_seconds), 1)}s"
    parts = [f"sum by ({POD_LABELS}) (increase({{__name__=\"{name}\"}}[{window}]))" for name in COUNTERS[counter]]
    return " or ".join(parts)


@dataclass(slots=True)
class ServingCost:
    """One serving workload's spend and work over the window, and the unit costs from them."""

    namespace: str
    workload: str
    cost: float = 0.0
    gpu_hours: float = 0.0
    pods: int = 0
    unpriced_pods: int = 0  # pods with counters that the ledger has no price for (left out of the ratios)
    counts: dict[str, float] = field(default_factory=lambda: {GENERATED: 0.0, PROMPT: 0.0, REQUESTS: 0.0})

    def per(self, counter: str, unit: float) -> float | None:
        """Cost per ``unit`` of ``counter`` (None when nothing was counted)."""
        count = self.counts[counter]
        return self.cost / count * unit if count > 0 else None

    def to_dict(self) -> dict[str, Any]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "namespace": self.namespace, "workload": self.workload, "cost": round(self.cost, 4),
            "gpu_hours": round(self.gpu_hours, 3), "pods": self.pods, "unpriced_pods": self.unpriced_pods,
            "generated_tokens": round(self.counts[GENERATED]), "prompt_tokens": round(self.counts[PROMPT]),
            "requests": round(self.counts[REQUESTS]),
            "cost_per_million_generated_tokens": rounded(self.per(GENERATED, 1e6)),
            "cost_per_million_prompt_tokens": rounded(self.per(PROMPT, 1e6)),
            "cost_per_thousand_requests": rounded(self.per(REQUESTS, 1e3)),
        }


@dataclass(slots=True)
class TrainingRun:
    namespace: str
    workload: str
    kind: str
    started: float
    ended: float
    cost: float = 0.0
    gpu_hours: float = 0.0
    pods: int = 0
    unpriced_pods: int = 0

    @property
    def hours(self) -> float:
        return (self.ended - self.started) / 3600

    def to_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "workload": self.workload, "kind": self.kind,
                "started": self.started, "ended": self.ended, "hours": round(self.hours, 3),
                "cost": round(self.cost, 2), "gpu_hours": round(self.gpu_hours, 3), "pods": self.pods,
                "unpriced_pods": self.unpriced_pods}


def serving_costs(spans: Iterable[PodSpan], prometheus: Prometheus, start: float, end: float) -> list[ServingCost]:
    """Unit costs of every workload whose pods reported serving counters in the window (most spend first).

    Raises ``PrometheusError`` when Prometheus does not answer: no figure is better than a wrong one.
    """
    counters: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for counter in COUNTERS:
        for labels, value in prometheus.query(counter_query(counter, end - start), end):
            ns = labels.get("exported_namespace") or labels.get("namespace")
            pod = labels.get("exported_pod") or labels.get("pod")
            if ns and pod:
                counters[(ns, pod)][counter] = counters[(ns, pod)].get(counter, 0.0) + value
    by_pod = {(s.namespace, s.name): s for s in spans}
    out: dict[tuple[str, str], ServingCost] = {}
    for (ns, pod), counts in counters.items():
        span = by_pod.get((ns, pod))
        workload = span.workload if span is not None else f"Pod/{pod}"
        line = out.setdefault((ns, workload), ServingCost(ns, workload))
        if span is None or span.hourly is None:
            line.unpriced_pods += 1
            continue
        hours = span.hours_within(start, end)
        line.pods += 1
        line.cost += span.hourly * hours
        line.gpu_hours += span.gpus * hours
        for counter, value in counts.items():
            line.counts[counter] += value
    return sorted(out.values(), key=lambda c: (-c.cost, c.namespace, c.workload))


def training_runs(spans: Sequence[PodSpan], start: float, end: float) -> list[TrainingRun]:
    """Training runs that finished inside the window, with what they cost (most expensive first)."""
    groups: dict[tuple[str, str, str], list[PodSpan]] = defaultdict(list)
    for s in spans:
        if s.kind in TRAINING_KINDS:
            groups[(s.namespace, s.workload, s.kind)].append(s)
    runs = []
    for (ns, workload, kind), pods in groups.items():
        if any(p.ended is None or p.ended > end for p in pods):
            continue  # still running (or ends after the window): not a finished run
        run = TrainingRun(ns, workload, kind, min(p.started for p in pods), max(p.ended or end for p in pods))
        for p in pods:
            hours = max(0.0, ((p.ended or end) - p.started) / 3600)
            run.pods += 1
            run.gpu_hours += p.gpus * hours
            if p.hourly is None:
                run.unpriced_pods += 1
            else:
                run.cost += p.hourly * hours
        runs.append(run)
    return sorted(runs, key=lambda r: (-r.cost, r.namespace, r.workload))


@dataclass(slots=True)
class UnitCosts:
    """The unit economics of one window: serving workloads (None when no serving Prometheus was asked, or
    it did not answer: ``error`` says why) and the training runs that finished in it."""

    start: datetime
    end: datetime
    serving: list[ServingCost] | None = None
    runs: list[TrainingRun] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                "serving": None if self.serving is None else [s.to_dict() for s in self.serving],
                "training_runs": [r.to_dict() for r in self.runs], "error": self.error}


def unit_costs(ledger: Ledger, start: datetime, end: datetime, serving: Prometheus | None = None) -> UnitCosts:
    """Unit costs over ``[start, end]`` from the ledger's pods and, given ``serving``, its counters."""
    spans = ledger.pod_spans(start, end)
    out = UnitCosts(start, end, runs=training_runs(spans, start.timestamp(), end.timestamp()))
    if serving is not None:
        try:
            out.serving = serving_costs(spans, serving, start.timestamp(), end.timestamp())
        except PrometheusError as exc:
            out.error = f"unit costs of serving workloads left out: {exc}"
    return out
