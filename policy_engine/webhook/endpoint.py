"""``POST /validate``: the webhook's one hot route, as a bare ASGI app that ``WebhookApp`` calls first.

It owns everything ``decide`` must not do: reading the body within a size and time limit, refusing
malformed input with a 400 that says what is wrong (never a 500, never a hang), counting, and logging one
JSON line per request. It speaks ASGI directly instead of going through FastAPI's request handling
(dependency solving, ``Request`` and ``Response`` objects) and middleware: the API server waits on every
admission, and that machinery cost about as much as the review itself (measured: ~290 µs of ~570 µs per
request in process). Health, readiness and metrics stay ordinary FastAPI routes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from policy_engine import jsonlog
from policy_engine.compiler.program import Enforcement
from policy_engine.errors import BadRequest
from policy_engine.model import deepjson
from policy_engine.webhook import scale
from policy_engine.webhook.admission import (
    AdmissionRequest,
    AdmissionResponse,
    AdmissionReview,
    Operation,
    Status,
    response_review,
)
from policy_engine.webhook.budget import Budget, ReviewTimeout
from policy_engine.webhook.config import WebhookConfig
from policy_engine.webhook.exemptions import RequestExemptions
from policy_engine.webhook.metrics import Metrics
from policy_engine.webhook.reload import EngineHolder
from policy_engine.webhook.review import ClusterState, Decision, ReviewState, decide
from policy_engine.webhook.scale import ScaleTargets

_In = TypeVar("_In")
_Out = TypeVar("_Out")

JSON = "application/json"
#: Bodies above this (a normal review is a few KiB; the API server's limit is 3 MiB) are reviewed one at a time.
LARGE_BODY_BYTES = 32 * 1024
#: Large bodies read at once: with the 3 MiB body limit, at most ~24 MiB of them (and their copies) in memory.
LARGE_BODY_SLOTS = 8
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
_JSON_HEADERS = (b"content-type", JSON.encode())



@dataclass(slots=True)
class ValidateEndpoint:
    """The ASGI app behind ``POST /validate``."""

    holder: EngineHolder
    config: WebhookConfig
    exemptions: RequestExemptions
    metrics: Metrics
    cluster: ClusterState | None
    now: Callable[[], datetime]
    synced: Callable[[], bool]
    scale_targets: ScaleTargets | None = None
    large: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        body = b""
        try:
            declared = _header(scope, b"content-length")
            if declared is None or not declared.isdigit() or int(declared) > LARGE_BODY_BYTES:
                # Large bodies: at most LARGE_BODY_SLOTS are read at once (the others wait unread, uvicorn
                # holding at most 64 KiB of each), so memory stays bounded however many connections send
                # 3 MiB; and one large review is parsed and decided at a time, so a normal review arriving
                # meanwhile waits for at most one of them, not for all.
                async with self._slots("bodies", LARGE_BODY_SLOTS):
                    body = await read_body(scope, receive, self.config)
                    async with self._slots("reviews", 1):
                        await self._review(scope, send, body, started, beside=True)
                return
            body = await read_body(scope, receive, self.config)
        except BadRequest as exc:
            await self._bad_request(scope, send, exc)
            return
        await self._review(scope, send, body, started)

    def _slots(self, name: str, size: int) -> asyncio.Semaphore:
        if name not in self.large:  # made on first use, inside the event loop
            self.large[name] = asyncio.Semaphore(size)
        return self.large[name]

    async def _bad_request(self, scope: Message, send: Send, exc: BadRequest) -> None:
        self.metrics.requests.labels("unknown", "bad_request", "false").inc()
        client = scope.get("client")
        jsonlog.log(logging.WARNING, f"bad request: {exc}", event="bad_request", reason=str(exc),
                    client=client[0] if client else None)
        await _respond(send, 400, json.dumps({"error": str(exc)}).encode())

    async def _review(self, scope: Message, send: Send, body: bytes, started: float, beside: bool = False) -> None:
        """Parse and decide ``body``. A normal review runs on the event loop, not a thread pool: it is pure
        Python that holds the GIL either way, and handing it to a thread adds GIL hand-offs of up to the
        5 ms switch interval (measured: p99 50 ms at 500 req/s through a pool, 5 ms inline;
        benchmarks/bench_webhook.py). A large one (``beside``: one at a time) runs in a thread beside the
        loop: the loop then takes the GIL back every switch interval, so a normal review arriving meanwhile
        waits milliseconds rather than for the whole large decision (~0.1 s for 20,000 containers). The
        budget interrupts a review that would outlast it, in either place (budget.py)."""
        began = time.perf_counter()  # the budget counts from here: waiting for the large-review lock is not review
        try:
            admission = await self._step(beside, began, parse, body)
            if scale.is_scale(admission):  # read the scaled workload off the event loop (scale.py)
                admission = await self._scaled(admission)
            decision = await self._step(beside, began, self._decide, admission)
        except BadRequest as exc:
            await self._bad_request(scope, send, exc)
            return
        except ReviewTimeout:
            elapsed = time.perf_counter() - began
            self.metrics.budget_exceeded.inc()
            uid = _uid_of(body)
            decision = over_budget(uid, self.config, elapsed)
            jsonlog.log(logging.ERROR, f"review {uid} stopped after {elapsed * 1000:.0f} ms: over its budget of "
                        f"{self.config.review_budget_seconds:g} s; {decision.result} (internal_error: "
                        f"{self.config.internal_error})", event="budget_exceeded", uid=uid,
                        duration_ms=round(elapsed * 1000, 3), allowed=decision.response.allowed)
            self.metrics.requests.labels("unknown", "error", "false").inc()
            await _respond(send, 200, json.dumps(response_review(decision.response), ensure_ascii=False).encode())
            return
        await _respond(send, 200, json.dumps(response_review(decision.response), ensure_ascii=False).encode())
        elapsed = time.perf_counter() - started
        count(self.metrics, admission, decision, elapsed)
        log_review(admission, decision, elapsed)

    async def _step(self, beside: bool, began: float, fn: Callable[[_In], _Out], arg: _In) -> _Out:
        """``fn(arg)`` within what is left of the review's budget: inline, or (``beside``) in a thread."""
        def run() -> _Out:
            with Budget(max(self.config.review_budget_seconds - (time.perf_counter() - began), 0.001)):
                return fn(arg)

        return await asyncio.to_thread(run) if beside else run()

    def _decide(self, admission: AdmissionRequest) -> Decision:
        self.synced()
        state = ReviewState(self.holder.current, self.config, self.exemptions, self.now().date(), self.cluster)
        return decide(admission, state)

    async def _scaled(self, request: AdmissionRequest) -> AdmissionRequest:
        """A scale request as an UPDATE of its workload; unchanged (so not judged) when that cannot be read."""
        target = scale.target_of(request)
        if target is None or self.scale_targets is None or request.operation is not Operation.UPDATE:
            return request
        try:
            workload = await asyncio.wait_for(asyncio.to_thread(
                self.scale_targets.get, target[0], request.resource.version, target[1], request.namespace,
                request.name), timeout=scale.TIMEOUT_SECONDS + 0.5)
        except Exception as exc:  # unreachable API server, 404, a timeout: the review says it could not judge
            jsonlog.log(logging.WARNING, f"cannot read {target[1]}/{request.name} to judge its scale: {exc}",
                        event="scale_target_unreadable", uid=request.uid)
            return request
        return scale.as_workload_update(request, workload) if workload is not None else request


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [_JSON_HEADERS, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Message, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def read_body(scope: Message, receive: Receive, config: WebhookConfig) -> bytes:
    content_type = _header(scope, b"content-type") or ""
    if content_type.split(";")[0].strip().lower() != JSON:
        raise BadRequest(f"Content-Type must be {JSON}, got {content_type or 'none'!r}")
    limit = config.max_body_bytes
    declared = _header(scope, b"content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(f"invalid Content-Length {declared!r}")
        if int(declared) > limit:
            raise BadRequest(f"request body of {int(declared):,} bytes exceeds the limit of {limit:,} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(config.body_timeout_seconds):  # a timer, not a task per request
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise BadRequest("the client disconnected before sending the whole body")
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise BadRequest(f"request body exceeds the limit of {limit:,} bytes")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError as exc:
        raise BadRequest(f"request body not received within {config.body_timeout_seconds:g} s") from exc
    if not size:
        raise BadRequest("empty request body; expected an AdmissionReview")
    return b"".join(chunks)


#: The levels an AdmissionReview adds above the object it carries (the review, its ``request``).
REVIEW_ENVELOPE_DEPTH = 2


def parse(body: bytes) -> AdmissionRequest:
    """The request in ``body``, parsed at any nesting depth the API server accepts (``deepjson``: 10,000
    levels in the object, the same limit ``check`` applies to files): only a malformed body is a 400.

    pydantic's own JSON parser stops at a few hundred levels, and the API server accepts objects nested up
    to 10,000: a valid object refused with a 400 would be let in unchecked under ``failurePolicy: Ignore``.
    The object under review is ``dict[str, Any]``, so validation does not descend into it.
    """
    try:
        raw = deepjson.loads(body, deepjson.API_SERVER_MAX_DEPTH + REVIEW_ENVELOPE_DEPTH)
    except deepjson.TooDeep as exc:  # deeper than the API server accepts: no object it would send
        raise BadRequest(f"the object nests more than {deepjson.API_SERVER_MAX_DEPTH:,} levels deep (the API "
                         f"server's limit), at line {exc.lineno} column {exc.colno}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {exc}") from exc
    try:
        review = AdmissionReview.model_validate(raw)
    except ValidationError as exc:
        raise BadRequest(_explain(exc)) from exc
    request = review.request
    if request is None:
        raise BadRequest("the AdmissionReview has no request")
    if request.object is None and request.operation in (Operation.CREATE, Operation.UPDATE):
        raise BadRequest(f"request.object is missing; a {request.operation.value} review needs the object")
    return request


_UID = re.compile(rb'"request"\s*:\s*\{\s*"uid"\s*:\s*"([^"\\]{1,128})"|"uid"\s*:\s*"([^"\\]{1,128})"')


def _uid_of(body: bytes) -> str:
    """The request's uid, found without parsing (a review stopped mid-parse must still be answered)."""
    found = _UID.search(body)
    if found is None:
        return ""
    return (found.group(1) or found.group(2)).decode("utf-8", "replace")


def over_budget(uid: str, config: WebhookConfig, elapsed: float) -> Decision:
    """The answer to a review stopped by its budget: ``internal_error`` decides, as for any other failure."""
    what = (f"review not finished within its budget of {config.review_budget_seconds:g} s "
            f"(stopped after {elapsed:.2f} s)")
    if config.internal_error == "closed":
        response = AdmissionResponse(uid=uid, allowed=False, status=Status(
            code=403, reason="Forbidden", message=f"policy-engine {what} (internal_error: closed, request denied)"))
    else:
        response = AdmissionResponse(uid=uid, allowed=True,
                                     warnings=[f"policy-engine: {what}; allowed (internal_error: open)"])
    return Decision(response, "error", error=what)


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


def count(metrics: Metrics, request: AdmissionRequest, decision: Decision, elapsed: float) -> None:
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


def log_review(request: AdmissionRequest, decision: Decision, elapsed: float) -> None:
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
