"""A small client for Prometheus's HTTP API (``/api/v1/query``, ``/api/v1/query_range``).

Every component that reads history or telemetry from Prometheus (GPU utilisation for idle shutdown, usage
history, unit costs from serving engines' counters) goes through this one client, so the URL, bearer token
or basic auth, CA bundle and timeout are configured the same way everywhere and every failure is one
exception, ``PrometheusError``, whose message says which Prometheus answered what.

It imports no layer of the engine: results are plain ``(labels, value)`` pairs.
"""

from __future__ import annotations

import ssl
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from policy_engine.errors import PolicyEngineError

Labels = dict[str, str]
Sample = tuple[Labels, float]  # an instant vector element: its labels and value
Series = tuple[Labels, list[tuple[float, float]]]  # a range vector element: labels and (time, value) points


class PrometheusError(PolicyEngineError):
    """Prometheus could not be reached, answered with an error, or answered something that is not a result."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where Prometheus is and how to authenticate; files are read when the client first connects."""

    url: str
    bearer_token_file: str | None = None
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    timeout_seconds: float = 15.0


class BearerFile(httpx.Auth):
    """``Authorization: Bearer`` from a file read at every request: projected service-account tokens rotate."""

    def __init__(self, path: str) -> None:
        self.path = path

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {Path(self.path).read_text().strip()}"
        yield request


class Prometheus:
    """Instant and range queries against one Prometheus; safe to reuse, close when done."""

    def __init__(self, endpoint: Endpoint | str, *, client: httpx.Client | None = None) -> None:
        self.endpoint = Endpoint(endpoint) if isinstance(endpoint, str) else endpoint
        self._client = client

    def _http(self) -> httpx.Client:
        if self._client is None:
            e = self.endpoint
            auth: httpx.Auth | None = None
            try:
                if e.bearer_token_file:
                    auth = BearerFile(e.bearer_token_file)
                if e.username and e.password_file:
                    auth = httpx.BasicAuth(e.username, Path(e.password_file).read_text().strip())
                verify: bool | ssl.SSLContext = True
                if e.insecure_skip_verify:
                    verify = False
                elif e.ca_file:
                    verify = ssl.create_default_context(cafile=e.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise PrometheusError(f"Prometheus at {e.url}: cannot read credentials or CA: {exc}") from exc
            self._client = httpx.Client(base_url=e.url.rstrip("/"), auth=auth, verify=verify,
                                        timeout=e.timeout_seconds, trust_env=False)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, promql: str, at: float) -> list[Sample]:
        """An instant query evaluated at unix time ``at``; a scalar result is one sample with no labels."""
        data = self._get("/api/v1/query", {"query": promql, "time": f"{at:.3f}"})
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar" and isinstance(result, list) and len(result) == 2:
            return [({}, float(result[1]))]
        if kind != "vector" or not isinstance(result, list):
            raise PrometheusError(f"Prometheus at {self.endpoint.url}: expected a vector for {promql!r}, got {kind!r}")
        return [(dict(item.get("metric") or {}), float(item["value"][1])) for item in result]

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[Series]:
        """A range query over ``[start, end]`` at ``step`` seconds."""
        data = self._get("/api/v1/query_range", {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                                 "step": f"{step:g}"})
        if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
            raise PrometheusError(f"Prometheus at {self.endpoint.url}: expected a matrix for {promql!r}")
        return [(dict(item.get("metric") or {}), [(float(t), float(v)) for t, v in item.get("values") or ()])
                for item in data["result"]]

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        url = self.endpoint.url
        try:
            response = self._http().get(path, params=params)
        except (httpx.HTTPError, OSError) as exc:  # OSError: a token file that vanished mid-rotation
            raise PrometheusError(f"Prometheus at {url} did not answer: {exc}") from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise PrometheusError(f"Prometheus at {url}: HTTP {response.status_code}, not JSON") from exc
        if response.status_code != 200 or not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            raise PrometheusError(f"Prometheus at {url}: HTTP {response.status_code}: {error or 'no result'}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise PrometheusError(f"Prometheus at {url}: answer without data")
        return data
