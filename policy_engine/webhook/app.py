"""The FastAPI app: ``POST /validate`` around the pure ``decide``, plus health, readiness and metrics.

The route owns everything ``decide`` must not do: reading the body within a size and time limit,
refusing malformed input with a 400 that says what is wrong (never a 500, never a hang), counting,
and logging one JSON line per request. Settings travel as ``ServeSettings`` so that several uvicorn
workers, which import the app by name, build the same app from the environment (``app_from_env``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import FastAPI, Request, Response
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

from policy_engine.compiler.program import Enforcement
from policy_engine.webhook import jsonlog
from policy_engine.webhook.admission import AdmissionRequest, AdmissionReview, Operation, response_review
from policy_engine.webhook.config import WebhookConfig, load_config
from policy_engine.webhook.exemptions import RequestExemptions
from policy_engine.webhook.metrics import CONTENT_TYPE, Metrics
from policy_engine.webhook.reload import EngineHolder, PolicyWatcher, policy_files, settle_heap
from policy_engine.webhook.review import ClusterState, Decision, LoadedEngine, ReviewState, decide

SETTINGS_ENV = "POLICY_ENGINE_SERVE_SETTINGS"
EVALUATION_THREADS = 4
JSON = "application/json"


class ServeSettings(BaseModel):
    """What ``serve`` was asked for, in a form that survives the trip to a worker process."""

    policies: list[str] = []  # empty: the bundled library
    pricing: str | None = None
    config_file: str | None = None
    cluster: Literal["none", "kubeconfig", "in-cluster"] = "none"
    kubeconfig: str | None = None


class BadRequest(Exception):
    """The body is not an AdmissionReview we can answer; the message is what the caller reads."""


def load_policies(settings: ServeSettings) -> LoadedEngine:
    from policy_engine.engine import load_engine

    paths = policy_files(settings.policies) if settings.policies else None
    return LoadedEngine.of(load_engine(policy_paths=paths, pricing=settings.pricing))


def connect_cluster(settings: ServeSettings, config: WebhookConfig, loaded: LoadedEngine) -> ClusterState | None:
    """The cluster-state cache for ``--kubeconfig``/``--in-cluster`` (None with ``--no-cluster``).

    It is built here and started with the app, so a worker process owns its own watch connections.
    """
    if settings.cluster == "none":
        return None
    from policy_engine.webhook.cluster import connect

    state: ClusterState = connect(kubeconfig=settings.kubeconfig, in_cluster=settings.cluster == "in-cluster",
                                  inherit_labels=config.inherit_labels, catalog=loaded.engine.catalog)
    return state


def app_from_env() -> FastAPI:
    """The app a uvicorn worker builds from ``POLICY_ENGINE_SERVE_SETTINGS`` (``serve --workers N``)."""
    raw = os.environ.get(SETTINGS_ENV)
    settings = ServeSettings.model_validate_json(raw) if raw else ServeSettings()
    return create_app(settings)


def create_app(settings: ServeSettings, *, loaded: LoadedEngine | None = None,
               cluster: ClusterState | None = None, config: WebhookConfig | None = None,
               metrics: Metrics | None = None, clock: Callable[[], datetime] | None = None) -> FastAPI:
    """Build the app; policies, cluster state and config come from ``settings`` unless given directly."""
    config = config or load_config(settings.config_file)
    metrics = metrics or Metrics()
    holder = EngineHolder(loaded or load_policies(settings))
    if cluster is None:
        cluster = connect_cluster(settings, config, holder.current)
    exemptions = RequestExemptions.from_config(config)
    now = clock or (lambda: datetime.now(UTC))
    watched = [*settings.policies] + ([settings.pricing] if settings.pricing else [])
    watcher = (PolicyWatcher(watched, lambda: load_policies(settings), holder, metrics,
                             config.reload_interval_seconds) if settings.policies else None)
    metrics.policies_loaded.set(len(holder.current.by_name))

    def synced() -> bool:
        ok = cluster is None or bool(cluster.synced)
        metrics.cache_synced.set(1 if ok else 0)
        return ok

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if cluster is not None and callable(getattr(cluster, "start", None)):
            cluster.start()  # type: ignore[attr-defined]
        if watcher is not None:
            watcher.start()
        settle_heap()
        jsonlog.log(logging.INFO, f"webhook ready to serve: {len(holder.current.by_name)} policies",
                    event="started", policies=len(holder.current.by_name), cluster=settings.cluster,
                    pid=os.getpid())
        try:
            yield
        finally:
            if watcher is not None:
                watcher.stop()
            if cluster is not None and callable(getattr(cluster, "stop", None)):
                cluster.stop()  # type: ignore[attr-defined]
            pool.shutdown(wait=True)
            jsonlog.log(logging.INFO, "webhook stopped", event="stopped", pid=os.getpid())

    # Reviews run on a few threads, not on the event loop: one slow evaluation (a cron schedule to expand,
    # a CEL program) then shares the interpreter with quick ones instead of holding every request behind it.
    pool = ThreadPoolExecutor(max_workers=EVALUATION_THREADS, thread_name_prefix="review")
    app = FastAPI(title="policy-engine admission webhook", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.holder = holder
    app.state.watcher = watcher
    app.state.metrics = metrics

    @app.post("/validate")
    async def validate(request: Request) -> Response:
        started = time.perf_counter()
        try:
            body = await _read_body(request, config)
            admission = _parse(body)
        except BadRequest as exc:
            metrics.requests.labels("unknown", "bad_request", "false").inc()
            jsonlog.log(logging.WARNING, f"bad request: {exc}", event="bad_request", reason=str(exc),
                        client=request.client.host if request.client else None)
            return Response(json.dumps({"error": str(exc)}), status_code=400, media_type=JSON)
        synced()
        state = ReviewState(holder.current, config, exemptions, now().date(), cluster)
        decision = await asyncio.get_running_loop().run_in_executor(pool, decide, admission, state)
        body_out = json.dumps(response_review(decision.response), ensure_ascii=False).encode()
        elapsed = time.perf_counter() - started
        _count(metrics, admission, decision, elapsed)
        _log(admission, decision, elapsed)
        return Response(body_out, media_type=JSON)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(json.dumps({"status": "ok"}), media_type=JSON)

    @app.get("/readyz")
    async def readyz() -> Response:
        ok = synced()
        body: dict[str, object] = {"ready": ok, "policies": len(holder.current.by_name),
                "cluster": settings.cluster, "cache_synced": ok}
        if not ok:
            body["reason"] = "the cluster-state cache has not synced yet"
        info = getattr(cluster, "sync_info", None)
        if callable(info):
            sync = info()
            body["cache"] = {"last_sync": str(sync.last_sync) if sync.last_sync else None,
                             "errors": sync.errors, "gpu_pods": sync.gpu_pods}
        return Response(json.dumps(body), status_code=200 if ok else 503, media_type=JSON)

    @app.get("/metrics")
    async def metrics_endpoint() -> Response:
        synced()
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return app


async def _read_body(request: Request, config: WebhookConfig) -> bytes:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != JSON:
        raise BadRequest(f"Content-Type must be {JSON}, got {content_type or 'none'!r}")
    limit = config.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(f"invalid Content-Length {declared!r}")
        if int(declared) > limit:
            raise BadRequest(f"request body of {int(declared):,} bytes exceeds the limit of {limit:,} bytes")
    chunks: list[bytes] = []
    size = 0

    async def read() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BadRequest(f"request body exceeds the limit of {limit:,} bytes")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(read(), timeout=config.body_timeout_seconds)
    except TimeoutError as exc:
        raise BadRequest(f"request body not received within {config.body_timeout_seconds:g} s") from exc
    except ClientDisconnect as exc:
        raise BadRequest("the client disconnected before sending the whole body") from exc
    if not size:
        raise BadRequest("empty request body; expected an AdmissionReview")
    return b"".join(chunks)


def _parse(body: bytes) -> AdmissionRequest:
    try:
        review = AdmissionReview.model_validate_json(body)
    except ValidationError as exc:
        raise BadRequest(_explain(exc)) from exc
    request = review.request
    if request is None:
        raise BadRequest("the AdmissionReview has no request")
    if request.object is None and request.operation in (Operation.CREATE, Operation.UPDATE):
        raise BadRequest(f"request.object is missing; a {request.operation.value} review needs the object")
    return request


def _explain(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False)[:5]:
        if err["type"] == "json_invalid":
            return f"malformed JSON: {err['ctx'].get('error', err['msg']) if err.get('ctx') else err['msg']}"
        where = ".".join(str(p) for p in err["loc"]) or "body"
        given = err.get("input")
        short = isinstance(given, str | int | float | bool) and len(repr(given)) < 60
        shown = f" (got {given!r})" if short else ""
        if err["type"] == "model_type" and not err["loc"]:
            problems.append(f"the body must be a JSON object (an AdmissionReview){shown}")
            continue
        problems.append(f"{where}: {err['msg']}{shown}")
    more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "not an admission.k8s.io/v1 AdmissionReview: " + "; ".join(problems) + more


def _count(metrics: Metrics, request: AdmissionRequest, decision: Decision, elapsed: float) -> None:
    operation = request.operation.value
    metrics.requests.labels(operation, decision.result, "true" if request.dry_run else "false").inc()
    metrics.latency.labels(operation).observe(elapsed)
    if decision.exempt:
        metrics.exemptions.labels("request").inc()
    if request.dry_run:
        return  # a dry run changes nothing, so it does not count as a finding either (documented)
    if decision.exempted:
        metrics.exemptions.labels("annotation").inc(len(decision.exempted))
    for f in decision.findings:
        metrics.findings.labels(f.policy, f.enforcement.value).inc()
        if f.error:
            metrics.policy_errors.labels(f.policy).inc()


def _log(request: AdmissionRequest, decision: Decision, elapsed: float) -> None:
    fields: dict[str, Any] = {
        "event": "review", "uid": request.uid, "kind": decision.kind, "namespace": decision.namespace,
        "name": decision.name, "operation": request.operation.value, "dry_run": request.dry_run,
        "decision": decision.result, "allowed": decision.response.allowed,
        "duration_ms": round(elapsed * 1000, 3), "findings": len(decision.findings),
        "user": request.user_info.username,
    }
    if decision.findings:
        fields["policies"] = sorted({f"{f.policy}:{f.enforcement.value}" for f in decision.findings})
        audit = [{"policy": f.policy, "message": f.message} for f in decision.findings
                 if f.enforcement is Enforcement.AUDIT]
        if audit:
            fields["audit"] = audit
    if decision.exempted:
        fields["exempted"] = list(decision.exempted)
    if decision.inherited:
        fields["inherited_labels"] = dict(decision.inherited)
    if decision.skipped:
        fields["skipped"] = decision.skipped
    if decision.error:
        fields["error"] = decision.error
    level = logging.ERROR if decision.result == "error" else logging.INFO
    jsonlog.log(level, f"{request.operation.value} {decision.kind} {decision.namespace}/{decision.name}: "
                f"{decision.result}", **fields)
