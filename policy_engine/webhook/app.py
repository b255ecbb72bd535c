"""The FastAPI app: ``POST /validate`` (``endpoint.py``) plus health, readiness, metrics and the lifespan.

The app owns what lives as long as the process: the engine in force and its reload watcher, the
cluster-state cache, the metrics. Settings travel as ``ServeSettings`` so that several uvicorn workers,
which import the app by name, build the same app from the environment (``app_from_env``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Literal

import croniter  # noqa: F401  imported up front: the first CronJob reviewed must not wait ~40 ms for it
from fastapi import FastAPI, Response
from pydantic import BaseModel
from starlette.routing import Route

from policy_engine import jsonlog
from policy_engine.webhook import limits
from policy_engine.webhook.config import WebhookConfig, load_config
from policy_engine.webhook.endpoint import JSON, Message, Receive, Send, ValidateEndpoint
from policy_engine.webhook.exemptions import RequestExemptions
from policy_engine.webhook.metrics import CONTENT_TYPE, Metrics
from policy_engine.webhook.metrics_server import MetricsServer
from policy_engine.webhook.prepare import precompile
from policy_engine.webhook.reload import EngineHolder, PolicyWatcher, settle_heap
from policy_engine.webhook.review import ClusterState, LoadedEngine
from policy_engine.webhook.scale import ScaleTargets

SETTINGS_ENV = limits.SETTINGS_ENV  # "POLICY_ENGINE_SERVE_SETTINGS"


class ServeSettings(BaseModel):
    """What ``serve`` was asked for, in a form that survives the trip to a worker process."""

    policies: list[str] = []  # empty: the bundled library
    pricing: str | None = None
    config_file: str | None = None
    cluster: Literal["none", "kubeconfig", "in-cluster"] = "none"
    kubeconfig: str | None = None
    tls_cert: str | None = None  # None: plain HTTP (--insecure-http)
    tls_key: str | None = None
    metrics_host: str = "0.0.0.0"
    metrics_port: int | None = None  # /metrics on its own plain-HTTP port; None: on the admission port
    ledger: str | None = None  # quota usage from this ledger file (docs/usage.md)
    prometheus: str | None = None  # ... or from kube-state-metrics history in this Prometheus
    prometheus_step: float = 300.0  # resolution of the history's PromQL subqueries
    usage_max_age: float = 300.0  # seconds: an older usage snapshot follows each policy's on_error
    usage_refresh: float = 30.0  # seconds between snapshot refreshes


class WebhookApp(FastAPI):
    """The FastAPI app, with ``POST /validate`` answered before FastAPI's middleware stack.

    Every request to a FastAPI app passes through about eight ASGI layers (error handling, exception
    telemetry, body limits, routing), and every message it sends passes back through their wrappers:
    measured with py-spy under load, that was a tenth of the server's time per admission. ``/validate``
    needs none of it (``ValidateEndpoint`` reads, limits and answers by itself and never raises), so it
    is dispatched here; everything else, including other methods on ``/validate``, goes through FastAPI.
    """

    validate: ValidateEndpoint | None = None

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if (self.validate is not None and scope["type"] == "http" and scope["path"] == "/validate"
                and scope["method"] == "POST"):
            await self.validate(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def load_policies(settings: ServeSettings) -> LoadedEngine:
    from policy_engine.engine import load_engine

    return LoadedEngine.of(load_engine(policy_paths=settings.policies or None, pricing=settings.pricing))


def connect_cluster(settings: ServeSettings, config: WebhookConfig, loaded: LoadedEngine) -> ClusterState | None:
    """The cluster-state cache for ``--kubeconfig``/``--in-cluster`` (None with ``--no-cluster``).

    It is built here and started with the app, so a worker process owns its own watch connections.
    """
    if settings.cluster == "none":
        return None
    from policy_engine.cluster import connect

    state: ClusterState = connect(kubeconfig=settings.kubeconfig, in_cluster=settings.cluster == "in-cluster",
                                  inherit_labels=config.inherit_labels,
                                  authoritative_labels=config.authoritative_labels, catalog=loaded.engine.catalog)
    return state


def usage_view(settings: ServeSettings, holder: EngineHolder, metrics: Metrics,
               cluster: ClusterState | None, config: WebhookConfig | None = None) -> ClusterState:
    """Quota usage from a background-refreshed snapshot of the ledger (``--ledger``) or of Prometheus'
    kube-state-metrics history (``--prometheus``)."""
    from policy_engine.ledger.snapshot import History, LedgerHistory, SnapshotUsage, UsageView

    history: History
    if settings.prometheus:
        from policy_engine.ledger.prometheus import PrometheusHistory

        config = config or WebhookConfig()  # the namespace rule as the cluster-state cache applies it
        history = PrometheusHistory(settings.prometheus, catalog=lambda: holder.current.engine.catalog,
                                    step=settings.prometheus_step, inherit_labels=config.inherit_labels,
                                    authoritative_labels=config.authoritative_labels)
    else:
        from policy_engine.ledger.store import Ledger

        history = LedgerHistory(lambda: Ledger(str(settings.ledger), readonly=True))

    def refreshed(usage: SnapshotUsage) -> None:
        metrics.usage_snapshot_age.set(usage.age if usage.age is not None else -1)
        metrics.usage_snapshot_errors.set(usage.errors)

    usage = SnapshotUsage(history, lambda: holder.current.engine.policies, max_age=settings.usage_max_age,
                          interval=settings.usage_refresh, on_refresh=refreshed)
    return UsageView(usage, cluster)


def scale_targets(settings: ServeSettings) -> ScaleTargets | None:
    """What reads the workload a scale request names; None without a cluster connection (docs/webhook.md)."""
    if settings.cluster == "none":
        return None
    try:
        return ScaleTargets.connect(settings.kubeconfig, settings.cluster == "in-cluster")
    except Exception as exc:  # the cluster cache reports connection problems itself; scales are then not judged
        jsonlog.log(logging.WARNING, f"scale requests will not be judged: {exc}", event="scale_targets_off")
        return None


def app_from_env() -> WebhookApp:
    """The app a uvicorn worker builds from ``POLICY_ENGINE_SERVE_SETTINGS`` (``serve --workers N``)."""
    raw = os.environ.get(SETTINGS_ENV)
    settings = ServeSettings.model_validate_json(raw) if raw else ServeSettings()
    return create_app(settings)


def create_app(settings: ServeSettings, *, loaded: LoadedEngine | None = None,
               cluster: ClusterState | None = None, config: WebhookConfig | None = None,
               metrics: Metrics | None = None, clock: Callable[[], datetime] | None = None) -> WebhookApp:
    """Build the app; policies, cluster state and config come from ``settings`` unless given directly."""
    config = config or load_config(settings.config_file)
    jsonlog.lean_records()
    metrics = metrics or Metrics()
    limits.STATE.metrics = metrics  # the connection limits count into this process's metrics
    if limits.STATE.tls is not None:
        limits.STATE.tls.listener = lambda result: metrics.tls_reloads.labels(result).inc()
    holder = EngineHolder(loaded or load_policies(settings))
    if cluster is None:
        cluster = connect_cluster(settings, config, holder.current)
        if settings.ledger or settings.prometheus:
            cluster = usage_view(settings, holder, metrics, cluster, config)
    exemptions = RequestExemptions.from_config(config)
    now = clock or (lambda: datetime.now(UTC))
    watched = [*settings.policies] + ([settings.pricing] if settings.pricing else [])
    set_catalog = getattr(cluster, "set_catalog", None)
    on_swap = (lambda loaded: set_catalog(loaded.engine.catalog)) if callable(set_catalog) else None
    watcher = (PolicyWatcher(watched, lambda: load_policies(settings), holder, metrics,
                             config.reload_interval_seconds, on_swap,
                             prepare=lambda: precompile(settings.policies, settings.pricing))
               if settings.policies else None)
    metrics.policies_loaded.set(len(holder.current.by_name))

    snapshot_usage = getattr(cluster, "snapshot_usage", None)

    def synced() -> bool:
        ok = cluster is None or bool(cluster.synced)
        metrics.cache_synced.set(1 if ok else 0)
        if snapshot_usage is not None:
            age = snapshot_usage.age
            metrics.usage_snapshot_age.set(age if age is not None else -1)
        return ok

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if cluster is not None and callable(getattr(cluster, "start", None)):
            cluster.start()  # type: ignore[attr-defined]
        if watcher is not None:
            watcher.start()
        scrapes = None  # /metrics on its own port; with several workers `serve` runs it in the parent
        if settings.metrics_port is not None and not metrics.multiprocess:
            scrapes = MetricsServer(settings.metrics_host, settings.metrics_port,
                                    lambda: (synced(), metrics.exposition())[1]).start()
        settle_heap()
        jsonlog.log(logging.INFO, f"webhook ready to serve: {len(holder.current.by_name)} policies",
                    event="started", policies=len(holder.current.by_name), cluster=settings.cluster,
                    pid=os.getpid())
        try:
            yield
        finally:
            if scrapes is not None:
                scrapes.stop()
            if watcher is not None:
                watcher.stop()
            if cluster is not None and callable(getattr(cluster, "stop", None)):
                cluster.stop()  # type: ignore[attr-defined]
            jsonlog.log(logging.INFO, "webhook stopped", event="stopped", pid=os.getpid())

    app = WebhookApp(title="policy-engine admission webhook", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.holder = holder
    app.state.watcher = watcher
    app.state.metrics = metrics

    endpoint = ValidateEndpoint(holder, config, exemptions, metrics, cluster, now, synced,
                                scale_targets=scale_targets(settings))
    app.validate = endpoint
    app.router.routes.append(Route("/validate", endpoint, methods=["POST"], include_in_schema=False))

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(json.dumps({"status": "ok"}), media_type=JSON)

    @app.get("/readyz")
    async def readyz() -> Response:
        ok = synced()
        body: dict[str, object] = {"ready": ok, "policies": len(holder.current.by_name),
                "policy_names": sorted(holder.current.by_name),
                "cluster": settings.cluster, "cache_synced": ok}
        if not ok:
            body["reason"] = "the cluster-state cache has not synced yet"
        info = getattr(cluster, "sync_info", None)
        if callable(info):
            sync = info()
            body["cache"] = {"last_sync": str(sync.last_sync) if sync.last_sync else None,
                             "errors": sync.errors, "gpu_pods": sync.gpu_pods}
        return Response(json.dumps(body), status_code=200 if ok else 503, media_type=JSON)

    if settings.metrics_port is None:
        @app.get("/metrics")
        async def metrics_endpoint() -> Response:
            synced()
            return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return app
