"""Stopping an idle workload through its kind's own mechanism, and undoing it (``policy-engine resume``).

Every stop records what it changed in annotations on the object itself, so a resume (by any replica,
after any restart) restores exactly that: ``policy-engine.io/previous-replicas`` (scale subresource),
``policy-engine.io/previous-min-replicas`` (KServe), ``policy-engine.io/previous-suspend`` (suspend).
Notices leave ``policy-engine.io/idle-since`` and ``policy-engine.io/idle-notice`` on the object, an
Event (``events.k8s.io/v1``) and, when configured, a POST to the notification hook.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from policy_engine.controller.kinds import KSERVE, NONE, NOTEBOOK, POD, SCALE, SUSPEND, Resource
from policy_engine.controller.kube import Kube
from policy_engine.errors import PolicyEngineError
from policy_engine.jsonlog import FIELDS

LOG = logging.getLogger("policy_engine.controller")
PREFIX = "policy-engine.io/"
IDLE_SINCE = PREFIX + "idle-since"
IDLE_NOTICE = PREFIX + "idle-notice"  # when the owner was told; the stop comes a notice period later
IDLE_POLICY = PREFIX + "idle-policy"
STOPPED_BY = PREFIX + "stopped-by"
STOPPED_AT = PREFIX + "stopped-at"
PREVIOUS_REPLICAS = PREFIX + "previous-replicas"
PREVIOUS_MIN_REPLICAS = PREFIX + "previous-min-replicas"
PREVIOUS_SUSPEND = PREFIX + "previous-suspend"
NOTEBOOK_STOPPED = "kubeflow-resource-stopped"
OURS = (IDLE_SINCE, IDLE_NOTICE, IDLE_POLICY, STOPPED_BY, STOPPED_AT, PREVIOUS_REPLICAS, PREVIOUS_MIN_REPLICAS,
        PREVIOUS_SUSPEND)
#: training-operator jobs keep ``suspend`` under ``runPolicy``; every other suspendable kind at ``spec.suspend``.
RUN_POLICY_KINDS = frozenset({"PyTorchJob", "TFJob", "MPIJob", "XGBoostJob", "PaddleJob", "JAXJob", "MXJob"})


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def annotations_of(obj: dict[str, Any]) -> dict[str, str]:
    raw = (obj.get("metadata") or {}).get("annotations")
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


class NotStoppable(PolicyEngineError):
    """This workload cannot be stopped (by this policy): the reason is the message."""


@dataclass(frozen=True, slots=True)
class Done:
    action: str  # "scale", "annotate", "min-replicas", "suspend", "delete"
    detail: str


def _suspend_path(kind: str) -> tuple[str, ...]:
    return ("spec", "runPolicy", "suspend") if kind in RUN_POLICY_KINDS else ("spec", "suspend")


def _nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out: Any = value
    for part in reversed(path):
        out = {part: out}
    result: dict[str, Any] = out
    return result


def _get(obj: dict[str, Any], path: tuple[str, ...]) -> Any:
    cur: Any = obj
    for part in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def stop(kube: Kube, r: Resource, obj: dict[str, Any], policy: str, now: datetime, delete_pods: bool) -> Done:
    """Stop the workload; raises ``NotStoppable`` with the reason when its kind (or policy) allows no stop."""
    meta = obj.get("metadata") or {}
    ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    ours = {STOPPED_BY: policy, STOPPED_AT: stamp(now)}
    if r.stop == SCALE:
        replicas = _get(obj, ("spec", "replicas"))
        replicas = 1 if replicas is None else int(replicas)
        if replicas == 0:
            raise NotStoppable("already scaled to 0")
        kube.merge(r, ns, name, {"metadata": {"annotations": {**ours, PREVIOUS_REPLICAS: str(replicas)}}})
        kube.scale(r, ns, name, 0)
        return Done("scale", f"scaled from {replicas} to 0 replicas (scale subresource)")
    if r.stop == NOTEBOOK:
        if NOTEBOOK_STOPPED in annotations_of(obj):
            raise NotStoppable("already stopped (kubeflow-resource-stopped)")
        kube.merge(r, ns, name, {"metadata": {"annotations": {**ours, NOTEBOOK_STOPPED: stamp(now)}}})
        return Done("annotate", f"annotated {NOTEBOOK_STOPPED}: the notebook controller scales it to 0")
    if r.stop == KSERVE:
        current = _get(obj, ("spec", "predictor", "minReplicas"))
        current = 1 if current is None else int(current)
        if current == 0:
            raise NotStoppable("already scales to zero (minReplicas 0)")
        kube.merge(r, ns, name, {"metadata": {"annotations": {**ours, PREVIOUS_MIN_REPLICAS: str(current)}},
                                 "spec": {"predictor": {"minReplicas": 0}}})
        return Done("min-replicas", f"predictor minReplicas {current} → 0: scales to zero when idle")
    if r.stop == SUSPEND:
        path = _suspend_path(r.kind)
        if _get(obj, path) is True:
            raise NotStoppable("already suspended")
        kube.merge(r, ns, name, {"metadata": {"annotations": {**ours, PREVIOUS_SUSPEND: "false"}},
                                 **_nest(path, True)})
        return Done("suspend", f"{'.'.join(path)}: true")
    if r.stop == POD:
        if not delete_pods:
            raise NotStoppable("a bare Pod is only deleted when the policy says `delete_pods`")
        kube.delete_pod(ns, name)
        return Done("delete", "bare Pod deleted (not reversible: recreate it from its manifest)")
    assert r.stop == NONE
    raise NotStoppable(f"{r.kind} has no stop the controller uses (notified only)")


def resume(kube: Kube, r: Resource, obj: dict[str, Any]) -> Done:
    """Undo ``stop`` from the annotations it left; clears the idle notice too. ``NotStoppable`` if nothing to undo."""
    meta = obj.get("metadata") or {}
    ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    notes = annotations_of(obj)
    clear: dict[str, Any] = {k: None for k in OURS if k in notes}
    if r.stop == SCALE and PREVIOUS_REPLICAS in notes:
        replicas = int(notes[PREVIOUS_REPLICAS])
        kube.scale(r, ns, name, replicas)
        kube.merge(r, ns, name, {"metadata": {"annotations": clear}})
        return Done("scale", f"scaled back to {replicas} replicas")
    if r.stop == NOTEBOOK and NOTEBOOK_STOPPED in notes:
        kube.merge(r, ns, name, {"metadata": {"annotations": {**clear, NOTEBOOK_STOPPED: None}}})
        return Done("annotate", f"removed {NOTEBOOK_STOPPED}: the notebook controller starts it again")
    if r.stop == KSERVE and PREVIOUS_MIN_REPLICAS in notes:
        value = int(notes[PREVIOUS_MIN_REPLICAS])
        kube.merge(r, ns, name, {"metadata": {"annotations": clear}, "spec": {"predictor": {"minReplicas": value}}})
        return Done("min-replicas", f"predictor minReplicas back to {value}")
    if r.stop == SUSPEND and PREVIOUS_SUSPEND in notes:
        path = _suspend_path(r.kind)
        kube.merge(r, ns, name, {"metadata": {"annotations": clear}, **_nest(path, False)})
        return Done("suspend", f"{'.'.join(path)}: false")
    if clear:
        kube.merge(r, ns, name, {"metadata": {"annotations": clear}})
        return Done("annotate", "cleared the idle notice (it was not stopped)")
    raise NotStoppable(f"{r.kind} {ns}/{name} carries no record of a stop by policy-engine")


def notice(kube: Kube, r: Resource, obj: dict[str, Any], policy: str, idle_since: datetime, now: datetime) -> None:
    meta = obj.get("metadata") or {}
    kube.merge(r, str(meta.get("namespace") or ""), str(meta.get("name") or ""),
               {"metadata": {"annotations": {IDLE_SINCE: stamp(idle_since), IDLE_NOTICE: stamp(now),
                                             IDLE_POLICY: policy}}})


def clear_notice(kube: Kube, r: Resource, obj: dict[str, Any]) -> None:
    meta = obj.get("metadata") or {}
    kube.merge(r, str(meta.get("namespace") or ""), str(meta.get("name") or ""),
               {"metadata": {"annotations": {IDLE_SINCE: None, IDLE_NOTICE: None, IDLE_POLICY: None}}})


def event(kube: Kube, r: Resource, obj: dict[str, Any], reason: str, note: str, now: datetime,
          instance: str, warning: bool = True) -> None:
    """An ``events.k8s.io/v1`` Event on the workload (what ``kubectl describe`` and dashboards show)."""
    meta = obj.get("metadata") or {}
    ns = str(meta.get("namespace") or "default")
    body = {
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"generateName": f"{meta.get('name')}.", "namespace": ns},
        "eventTime": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "reportingController": "policy-engine.io/controller", "reportingInstance": instance[:128],
        "action": reason, "reason": reason, "type": "Warning" if warning else "Normal", "note": note[:1024],
        "regarding": {"apiVersion": r.api_version, "kind": r.kind, "namespace": ns, "name": meta.get("name"),
                      "uid": meta.get("uid")},
    }
    kube.create("events.k8s.io", "v1", "events", ns, body)


def hook(url: str | None, payload: dict[str, Any]) -> None:
    """POST the notice or action to the notification hook; a failing hook is logged, never fatal."""
    if not url:
        return
    try:
        httpx.post(url, json=payload, timeout=5.0, trust_env=False).raise_for_status()
    except httpx.HTTPError as exc:
        LOG.warning(f"notification hook failed: {exc}", extra={FIELDS: {"event": "hook_error"}})
