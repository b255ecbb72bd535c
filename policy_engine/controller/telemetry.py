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

import ssl
import time
from collections import defaultdict
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from policy_engine.controller.settings import PrometheusSettings

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


class TelemetryError(Exception):
    pass


class BearerFile(httpx.Auth):
    """``Authorization: Bearer`` from a file read at every request: projected service-account tokens rotate."""

    def __init__(self, path: str) -> None:
        self.path = path

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {Path(self.path).read_text().strip()}"
        yield request


class Prometheus:
    def __init__(self, settings: PrometheusSettings) -> None:
        self.settings = settings
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            s = self.settings
            headers: dict[str, str] = {}
            auth: httpx.Auth | None = None
            if s.bearer_token_file:
                auth = BearerFile(s.bearer_token_file)
            if s.username and s.password_file:
                auth = httpx.BasicAuth(s.username, Path(s.password_file).read_text().strip())
            verify: bool | ssl.SSLContext = True
            if s.insecure_skip_verify:
                verify = False
            elif s.ca_file:
                verify = ssl.create_default_context(cafile=s.ca_file)
            self._client = httpx.Client(base_url=s.url or "", headers=headers, auth=auth, verify=verify,
                                        timeout=s.timeout_seconds, trust_env=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

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
                for labels, values in self._range(promql(metric), out.start, now, step):
                    ns = labels.get("exported_namespace") or labels.get("namespace")
                    pod = labels.get("exported_pod") or labels.get("pod")
                    if not ns or not pod:
                        continue  # a GPU no pod holds
                    gpu = labels.get("UUID") or labels.get("gpu") or "?"
                    points = [(float(t), float(v) / scale) for t, v in values]
                    out.pods.setdefault((ns, pod), defaultdict(dict))[gpu][metric] = points
                    out.series += 1
        except (httpx.HTTPError, TelemetryError, ValueError, OSError) as exc:
            out.pods.clear()
            out.error = f"Prometheus at {self.settings.url} did not answer: {exc}"
        out.seconds = time.perf_counter() - started
        return out

    def _range(self, query: str, start: float, end: float, step: float) -> list[tuple[dict[str, str], list[list[str]]]]:
        response = self._http().get("/api/v1/query_range",
                                    params={"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                            "step": f"{step:g}"})
        try:
            body = response.json()
        except ValueError as exc:
            raise TelemetryError(f"HTTP {response.status_code}, not JSON") from exc
        if response.status_code != 200 or body.get("status") != "success":
            raise TelemetryError(f"HTTP {response.status_code}: {body.get('errorType')}: {body.get('error')}")
        data = body.get("data") or {}
        if data.get("resultType") != "matrix":
            raise TelemetryError(f"unexpected result type {data.get('resultType')!r}")
        return [(item.get("metric") or {}, item.get("values") or []) for item in data.get("result") or ()]
