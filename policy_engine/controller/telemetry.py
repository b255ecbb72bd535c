"""GPU utilisation from Prometheus, where the NVIDIA DCGM exporter's series land.

One range query per metric per cycle, over the longest idle window any policy asks for, aggregated by
pod and GPU inside Prometheus — never one query per workload, so the cost is O(GPU series), not
O(workloads):

    max by (namespace, pod, exported_namespace, exported_pod, gpu, UUID) (DCGM_FI_DEV_GPU_UTIL)
    max by (namespace, pod, exported_namespace, exported_pod, gpu, UUID) (DCGM_FI_PROF_GR_ENGINE_ACTIVE)

``DCGM_FI_DEV_GPU_UTIL`` is 0–100; ``DCGM_FI_PROF_GR_ENGINE_ACTIVE`` (profiling metrics, where enabled)
is 0–1; both are kept as fractions. A series belongs to the pod named by ``exported_namespace`` /
``exported_pod`` when present (Prometheus writes those when it does not honour the exporter's labels;
``namespace``/``pod`` are then the exporter's own pod), else by ``namespace``/``pod``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from policy_engine.controller.settings import PrometheusSettings
from policy_engine.prometheus import Prometheus, PrometheusError

UTIL, ENGINE = "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
METRICS: dict[str, float] = {UTIL: 100.0, ENGINE: 1.0}  # metric -> its full scale
BY = "namespace, pod, exported_namespace, exported_pod, gpu, UUID"
Points = list[tuple[float, float]]  # (unix time, utilisation as a fraction)


def promql(metric: str) -> str:
    return f"max by ({BY}) ({metric})"


@dataclass(slots=True)
class Telemetry:
    """What one cycle's queries returned: per pod, per GPU, per metric, the samples."""

    start: float
    end: float
    step: float
    pods: dict[tuple[str, str], dict[str, dict[str, Points]]] = field(default_factory=dict)
    error: str | None = None  # Prometheus did not answer, or answered with an error: nothing is idle
    series: int = 0
    seconds: float = 0.0

    def gpus(self, namespace: str, pod: str) -> dict[str, dict[str, Points]]:
        return self.pods.get((namespace, pod), {})


class GpuTelemetry:
    """The DCGM series of one cycle, through the one Prometheus client (``policy_engine.prometheus``)."""

    def __init__(self, settings: PrometheusSettings) -> None:
        self.settings = settings
        self.client = Prometheus(settings.endpoint())

    def close(self) -> None:
        self.client.close()

    def fetch(self, window_seconds: float, now: float) -> Telemetry:
        """Both metrics over ``[now - window, now]``; ``Telemetry.error`` says why when there is no answer."""
        step = self.settings.step_seconds
        out = Telemetry(start=now - window_seconds, end=now, step=step)
        if not self.settings.url:
            out.error = "no Prometheus configured (settings: prometheus.url)"
            return out
        started = time.perf_counter()
        try:
            for metric, scale in METRICS.items():
                for labels, values in self.client.query_range(promql(metric), out.start, now, step):
                    ns = labels.get("exported_namespace") or labels.get("namespace")
                    pod = labels.get("exported_pod") or labels.get("pod")
                    if not ns or not pod:
                        continue  # a GPU no pod holds
                    gpu = labels.get("UUID") or labels.get("gpu") or "?"
                    points = [(t, v / scale) for t, v in values]
                    out.pods.setdefault((ns, pod), defaultdict(dict))[gpu][metric] = points
                    out.series += 1
        except PrometheusError as exc:
            out.pods.clear()
            out.error = str(exc)
        out.seconds = time.perf_counter() - started
        return out
