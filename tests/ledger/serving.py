"""Building blocks of the unit-cost tests: serving engines' counters as OpenMetrics text (for promtool) and
ledger observations of pods with a known price and lifetime."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from policy_engine.ledger.observe import Observation

STEP = 30  # seconds between backfilled samples

#: (family, OpenMetrics type, sample suffix) of the counters the tests backfill
VLLM_GENERATED = ("vllm:generation_tokens", "counter", "_total")
VLLM_PROMPT = ("vllm:prompt_tokens", "counter", "_total")
VLLM_REQUESTS = ("vllm:request_success", "counter", "_total")
TGI_GENERATED = ("tgi_request_generated_tokens_sum", "unknown", "")

Family = tuple[str, str, str]
Series = tuple[str, float, datetime]  # labels, increase per minute, since when (the counter is 0 then)


def counters(families: Sequence[tuple[Family, Sequence[Series]]], first: datetime, last: datetime) -> str:
    """Counters rising at a constant rate from their start, sampled every ``STEP`` seconds in [first, last]."""
    out: list[str] = []
    for (family, kind, suffix), series in families:
        out.append(f"# TYPE {family} {kind}")
        for labels, per_minute, since in series:
            t = first
            while t <= last:
                if t >= since:
                    value = (t - since).total_seconds() / 60 * per_minute
                    out.append(f"{family}{suffix}{{{labels}}} {value:.1f} {int(t.timestamp())}")
                t += timedelta(seconds=STEP)
    return "\n".join(out) + "\n# EOF\n"


def pod(uid: str, ns: str, name: str, workload: str, kind: str, hourly: float | None, started: datetime,
        ended: datetime | None = None, gpus: float = 1.0, keys: dict[str, str] | None = None) -> Observation:
    return Observation(uid=uid, namespace=ns, name=name, workload=workload, kind=kind, node="n1",
                       instance_type="g5.xlarge", capacity_type="on-demand", model="A10G", gpus=gpus,
                       hourly=hourly, started=started, ended=ended, deadline=None, labels={}, source={},
                       keys=keys or {})
