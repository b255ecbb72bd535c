"""Is a workload's GPU idle? Decided from telemetry, with "no data" never read as "idle".

Idle: every GPU of every running pod of the workload has samples covering the whole window
(``for`` in the policy), and every sample of every metric present is below the threshold. Anything
else is either **busy** (a sample at or above the threshold) or **no data**, with the reason:

- Prometheus did not answer (or is not configured);
- the workload has no running GPU pod (stopped, pending);
- a pod started less than a window ago (too young to judge);
- a pod has no series, or series for fewer GPUs than it holds (the exporter is not scraping its node);
- a series starts after the window began, has a gap, or ends before now (stale).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from policy_engine.cluster.pods import PodRecord
from policy_engine.compiler.program import LiveIdleRule
from policy_engine.controller.telemetry import UTIL, Points, Telemetry

IDLE, BUSY, NO_DATA = "idle", "busy", "no-data"


@dataclass(frozen=True, slots=True)
class Judgement:
    state: str  # IDLE, BUSY or NO_DATA
    reason: str
    gpus: float = 0.0
    peak: float | None = None  # highest utilisation seen in the window (fraction)
    idle_since: float | None = None  # unix time the idle stretch began (IDLE only; at least a window ago)

    @property
    def idle(self) -> bool:
        return self.state == IDLE


def _fmt(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def judge(pods: Sequence[PodRecord], telemetry: Telemetry, rule: LiveIdleRule, now: float,
          stale_seconds: float) -> Judgement:
    window_start = now - rule.for_seconds
    threshold = rule.utilisation_below
    if telemetry.error:
        return Judgement(NO_DATA, f"no telemetry: {telemetry.error}")
    running = [p for p in pods if p.running]
    if not running:
        return Judgement(NO_DATA, "no running GPU pod to judge")
    gpus = sum(p.gpus for p in running)
    for p in running:
        if p.started is None or p.started.timestamp() > window_start:
            began = _fmt(p.started.timestamp()) if p.started else "not yet"
            return Judgement(NO_DATA, f"pod {p.name} started {began}, less than the {_dur(rule.for_seconds)} "
                                      "window ago: too young to judge", gpus)
    peak = 0.0
    last_busy = 0.0
    earliest = now
    tolerance = max(telemetry.step * 1.5, 1.0)
    for p in running:
        series = telemetry.gpus(p.namespace, p.name)
        if not series:
            return Judgement(NO_DATA, f"no DCGM series for pod {p.name} (is the DCGM exporter scraping its node?)",
                             gpus)
        if len(series) < int(p.gpus):
            return Judgement(NO_DATA, f"series for {len(series)} of the {int(p.gpus)} GPUs of pod {p.name}", gpus)
        for gpu, metrics in series.items():
            primary = metrics.get(UTIL) or next(iter(metrics.values()))
            inside = [(t, v) for t, v in primary if t >= window_start - tolerance]
            problem = _coverage(inside, window_start, now, tolerance, stale_seconds)
            if problem:
                return Judgement(NO_DATA, f"GPU {gpu} of pod {p.name}: {problem}", gpus)
            earliest = min(earliest, primary[0][0])
            for points in metrics.values():
                for t, v in points:
                    if v >= threshold:
                        last_busy = max(last_busy, t)
                    if t >= window_start - tolerance:
                        peak = max(peak, v)
    if last_busy >= window_start:
        return Judgement(BUSY, f"GPU utilisation reached {peak:.0%} (threshold {threshold:.0%}) at "
                               f"{_fmt(last_busy)}, within the {_dur(rule.for_seconds)} window", gpus, peak)
    since = last_busy + telemetry.step if last_busy else earliest
    return Judgement(IDLE, f"every GPU below {threshold:.0%} for the whole {_dur(rule.for_seconds)} window "
                           f"(peak {peak:.0%}; idle since {_fmt(since)})", gpus, peak, since)


def _coverage(points: Points, start: float, end: float, tolerance: float, stale: float) -> str | None:
    if not points:
        return "no samples in the window"
    if points[0][0] > start + tolerance:
        return f"samples start at {_fmt(points[0][0])}, after the window began ({_fmt(start)})"
    if points[-1][0] < end - stale:
        return f"stale: the last sample is from {_fmt(points[-1][0])}"
    for (a, _), (b, _) in itertools.pairwise(points):
        if b - a > stale:
            return f"no samples between {_fmt(a)} and {_fmt(b)}"
    return None


def _dur(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"
