"""The admission decision as a pure function: ``decide(request, state) -> Decision``.

Everything it needs arrives in ``ReviewState`` (the engine in force, the settings, the cluster-state
view, today's date), and it does nothing but compute: no I/O, no metrics, no logging. The HTTP route wraps
it and does those from the ``Decision`` (``.response`` is the AdmissionResponse), so every branch is testable without a
server and the same request always gets the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from policy_engine.compiler.program import AggregateRule, CompiledPolicy, Enforcement
from policy_engine.engine.evaluate import ADMISSION
from policy_engine.engine.exemptions import ExemptionRule, with_note
from policy_engine.errors import UnreadableObject
from policy_engine.model.documents import Document, LoadError, load_objects
from policy_engine.model.inherit import inherit_labels
from policy_engine.model.workload import Admission
from policy_engine.webhook.admission import AdmissionRequest, AdmissionResponse, Operation, Status
from policy_engine.webhook.config import WebhookConfig
from policy_engine.webhook.exemptions import Globs, RequestExemptions

if TYPE_CHECKING:
    from policy_engine.engine import Engine, Finding, Usage
    from policy_engine.model.workload import Workload

ADMISSION_FILE = "<admission>"
WARNING_LIMIT = 120  # kubectl prints each warning on one line; longer ones are cut with an ellipsis


class ClusterState(Protocol):
    """What the webhook reads from the live cluster (the cluster-state cache implements it)."""

    @property
    def synced(self) -> bool: ...

    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        """The namespace's labels; None when the namespace is unknown (or the cache has not synced)."""
        ...

    def usage(self, rule: AggregateRule, key: str) -> Usage | None:
        """Live usage of one quota/budget group; None when not synced (the policy's failure mode decides)."""
        ...


@dataclass(frozen=True, slots=True)
class LoadedEngine:
    """An engine plus what the webhook looks up per request, computed once per (re)load."""

    engine: Engine
    by_name: Mapping[str, CompiledPolicy]

    @staticmethod
    def of(engine: Engine) -> LoadedEngine:
        return LoadedEngine(engine, {p.name: p for p in engine.policies.policies})


@dataclass(frozen=True, slots=True)
class ReviewState:
    loaded: LoadedEngine
    config: WebhookConfig
    exemptions: RequestExemptions
    today: date
    cluster: ClusterState | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The response plus what the route logs and counts."""

    response: AdmissionResponse
    result: str  # allowed | denied | error (an error outside any policy, whatever the failure mode decided)
    kind: str = ""
    namespace: str = ""
    name: str = ""
    findings: tuple[Finding, ...] = ()  # after object exemptions
    exempted: tuple[str, ...] = ()  # policies lifted by a valid exemption annotation
    skipped: str | None = None  # why nothing was evaluated (operation, request exemption, not a workload)
    exempt: bool = False  # skipped because a namespace, user or group is exempt
    inherited: Mapping[str, str] = field(default_factory=dict)  # labels taken from the namespace
    error: str | None = None


def decide(request: AdmissionRequest, state: ReviewState) -> Decision:
    """Evaluate one admission request; an unexpected error follows ``config.internal_error``, never raises."""
    obj = request.object
    kind = str(obj.get("kind") or request.kind.kind) if isinstance(obj, dict) else request.kind.kind
    namespace = request.namespace
    name = request.name
    try:
        if request.operation not in (Operation.CREATE, Operation.UPDATE):
            return _allow(request, kind, namespace, name, f"{request.operation.value} is not reviewed")
        if obj is None:
            return _allow(request, kind, namespace, name, "the request carries no object")
        reason = state.exemptions.reason(namespace, request.user_info)
        if reason:
            return _allow(request, kind, namespace, name, reason, exempt=True)
        if request.sub_resource == "scale":  # the endpoint turns a readable one into an UPDATE of its workload
            raise UnreadableObject(f"a scale of {request.resource.resource}/{name} can only be judged with the "
                                   f"{request.resource.resource.rstrip('s')} it scales, which could not be read "
                                   f"(serve needs --in-cluster or --kubeconfig)")
        unchanged = controller_update(request, state.config)
        if unchanged:
            return _allow(request, kind, namespace, name, unchanged)
        obj = _with_identity(obj, namespace, name)
        name = obj["metadata"].get("name", name)
        workload = _workload(obj, state)
        if workload is None:
            unread = _unread_gpu(obj, state)
            if unread:
                return _respond_unread(request, kind, namespace, name, unread)
            return _allow(request, kind, namespace, name, f"{kind or 'the object'} is not a workload")
        inherited = _inherit_labels(workload, namespace, state)
        workload.admission = Admission(request.operation.value, request.old_object, request.user_info.username,
                                       tuple(request.user_info.groups))
        usage = state.cluster if state.cluster is not None else None
        result = state.loaded.engine.evaluate([workload], usage=usage, options=ADMISSION)
        findings = list(result.findings) + _unknown_team(workload, state)
        return _respond(request, state, workload, findings, inherited)
    except Exception as exc:  # a bug or an unreadable object must not take the API server's request down
        return _internal_error(request, state, kind, namespace, name, exc)


def _allow(request: AdmissionRequest, kind: str, namespace: str, name: str, why: str,
           exempt: bool = False) -> Decision:
    return Decision(AdmissionResponse(uid=request.uid, allowed=True), "allowed", kind, namespace, name,
                    skipped=why, exempt=exempt)


def _with_identity(obj: dict[str, Any], namespace: str, name: str) -> dict[str, Any]:
    """The object with the namespace and name the API server knows (a CREATE may carry neither)."""
    meta = obj.get("metadata")
    meta = dict(meta) if isinstance(meta, dict) else {}
    if namespace and not meta.get("namespace"):
        meta["namespace"] = namespace
    if not meta.get("name"):
        meta["name"] = name or (str(meta["generateName"]) + "*" if meta.get("generateName") else "(unnamed)")
    out = dict(obj)
    out["metadata"] = meta
    return out



def _workload(obj: dict[str, Any], state: ReviewState) -> Workload | None:
    items = list(load_objects([obj], file=ADMISSION_FILE))
    if not items:
        return None
    item = items[0]
    if isinstance(item, LoadError):
        raise UnreadableObject(item.message)
    assert isinstance(item, Document)
    try:
        return state.loaded.engine.subject(item)
    except Exception as exc:
        diagnostic = getattr(exc, "diagnostic", None)
        raise UnreadableObject(getattr(diagnostic, "message", None) or str(exc)) from exc


def _unread_gpu(obj: dict[str, Any], state: ReviewState) -> list[Finding]:
    """The engine's built-in finding for a kind the model does not read that asks for GPUs (as in CI)."""
    items = list(load_objects([obj], file=ADMISSION_FILE))
    if not items or not isinstance(items[0], Document):
        return []
    enforcement = Enforcement(state.config.unread_gpu_kinds)
    return state.loaded.engine.unread_gpu_findings(items[0], enforcement)


def _respond_unread(request: AdmissionRequest, kind: str, namespace: str, name: str,
                    findings: list[Finding]) -> Decision:
    denies = [f for f in findings if f.enforcement is Enforcement.DENY]
    status = None
    if denies:
        ref = denies[0].resource.display()
        status = Status(code=403, reason="Forbidden", message=f"{ref} violates 1 policy:\n- {denies[0].policy}: "
                                                              f"{denies[0].message}")
    warnings = [_warning(f.policy, f.message) for f in findings if f.enforcement is Enforcement.WARN]
    response = AdmissionResponse(uid=request.uid, allowed=not denies, status=status, warnings=warnings or None)
    return Decision(response, "denied" if denies else "allowed", kind, namespace, name, tuple(findings))


def _inherit_labels(workload: Workload, namespace: str, state: ReviewState) -> dict[str, str]:
    """The one namespace rule (``model/inherit.py``) applied to what the workload's pods carry."""
    config = state.config
    if state.cluster is None or not config.inherit_labels or not namespace:
        return {}
    return inherit_labels(workload, state.cluster.namespace_labels(namespace), config.inherit_labels,
                          config.authoritative_labels)


#: Object fields a controller (or the API server) writes and that no policy reads.
_CONTROLLER_METADATA = ("resourceVersion", "generation", "managedFields", "finalizers", "deletionTimestamp",
                        "deletionGracePeriodSeconds", "ownerReferences", "uid", "creationTimestamp", "selfLink")


def controller_update(request: AdmissionRequest, config: WebhookConfig) -> str | None:
    """Why an UPDATE needs no new judgement (None when it does): the object is being deleted, or nothing
    a policy reads changed — only status, finalizers, ownerReferences, managed fields or annotations that
    controllers write (``controller_annotations``). Tightening a policy must never leave a Job's pods
    stuck in Terminating because the job controller cannot remove its finalizer."""
    if request.operation is not Operation.UPDATE or request.old_object is None or request.object is None:
        return None
    meta = request.object.get("metadata")
    if isinstance(meta, dict) and meta.get("deletionTimestamp"):
        return "an UPDATE of an object being deleted is not reviewed"
    globs = Globs(config.controller_annotations)
    if _policy_view(request.object, globs) == _policy_view(request.old_object, globs):
        return "the UPDATE changes nothing a policy reads (status, finalizers or controller annotations)"
    return None


def _policy_view(obj: Mapping[str, Any], controller_annotations: Globs) -> dict[str, Any]:
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        kept: dict[str, Any] = {k: v for k, v in meta.items() if k not in _CONTROLLER_METADATA}
        kept.setdefault("annotations", None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            kept["annotations"] = {k: v for k, v in annotations.items()
                                   if controller_annotations.match(str(k)) is None} or None
        out["metadata"] = kept
    return out


def _respond(request: AdmissionRequest, state: ReviewState, workload: Workload, findings: list[Finding],
             inherited: dict[str, str]) -> Decision:
    # read where labels are read: what every pod carries, so the whole controller chain is exempt or none of it
    rule = ExemptionRule(state.today, state.config.exemption_max_days, state.config.require_exemption_expiry)
    decided = rule.sort(findings, workload.annotations, state.loaded.by_name.get)
    kept, exempted, notes = decided.kept, decided.exempted, decided.notes
    denies = [f for f in kept if f.enforcement is Enforcement.DENY]
    warnings = [_warning(f.policy, with_note(f.message, notes.get(f.policy)))
                for f in kept if f.enforcement is Enforcement.WARN]
    warnings += [_warning(p, notes[p]) for p in exempted]
    status = None
    if denies:
        message = _deny_message(workload, denies, notes, state, _removed_labels(request, state, workload))
        status = Status(code=403, message=message, reason="Forbidden")
    response = AdmissionResponse(uid=request.uid, allowed=not denies, status=status,
                                 warnings=warnings or None)
    return Decision(response, "denied" if denies else "allowed", workload.kind, workload.namespace or "",
                    workload.name, tuple(kept), tuple(exempted), inherited=inherited)


def _annotations(obj: dict[str, Any] | None) -> Mapping[str, object]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    return annotations if isinstance(annotations, dict) else {}


def _labels(obj: dict[str, Any] | None) -> Mapping[str, object]:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return labels if isinstance(labels, dict) else {}


def _removed_labels(request: AdmissionRequest, state: ReviewState, workload: Workload) -> list[str]:
    """Label keys the previous version's pods carried and this one's do not (what a rule reads)."""
    if request.operation is not Operation.UPDATE or request.old_object is None:
        return []
    try:
        old = _workload(_with_identity(request.old_object, request.namespace, request.name), state)
    except UnreadableObject:
        return []
    before = old.labels if old is not None else _labels(request.old_object)
    return sorted(k for k in before if k not in workload.labels)


def _unknown_team(workload: Workload, state: ReviewState) -> list[Finding]:
    """With ``known_teams`` configured, a team outside the list is a clear denial (not a new quota group)."""
    known = state.config.known_teams
    if known is None:
        return []
    from policy_engine.compiler.program import Severity
    from policy_engine.engine import Finding, ResourceRef

    team = state.loaded.engine.catalog.assumptions.dimensions().team
    value = team.value(workload.labels)
    if value is not None and value in known:
        return []
    what = f"team {value!r} is not a known team" if value else "no team label"
    return [Finding(policy="known-teams", rule="labels", severity=Severity.HIGH, enforcement=Enforcement.DENY,
                    message=f"{what}; set label {team.keys[0]} to one of: {', '.join(known)}",
                    resource=ResourceRef.of(workload))]


def _deny_message(workload: Workload, denies: Sequence[Finding], notes: Mapping[str, str], state: ReviewState,
                  removed: Sequence[str]) -> str:
    """One line per violated policy: what is wrong and how to fix it, as ``kubectl`` will print it."""
    by_policy: dict[str, list[str]] = {}
    for f in denies:
        messages = by_policy.setdefault(f.policy, [])
        if f.message not in messages:
            messages.append(f.message)
    count = len(by_policy)
    lines = [f"{workload.ref()} violates {count} {'policy' if count == 1 else 'policies'}:"]
    for policy_name, messages in by_policy.items():
        policy = state.loaded.by_name.get(policy_name)
        line = f"- {policy_name}: " + "; ".join(messages)
        if policy is not None and policy.help:
            line += f" (fix: {policy.help.strip()})"
        lines.append(with_note(line, notes.get(policy_name)))
    if removed:
        lines.append(f"note: this UPDATE removes label(s) {', '.join(removed)} that the previous version "
                     f"(oldObject) had")
    return "\n".join(lines)


def _warning(policy: str, message: str) -> str:
    text = " ".join(f"{policy}: {message}".split())
    return text if len(text) <= WARNING_LIMIT else text[: WARNING_LIMIT - 1].rstrip() + "…"


def _internal_error(request: AdmissionRequest, state: ReviewState, kind: str, namespace: str, name: str,
                    exc: Exception) -> Decision:
    what = (f"cannot read the object: {exc}" if isinstance(exc, UnreadableObject)
            else f"internal error: {type(exc).__name__}: {exc}")
    closed = state.config.internal_error == "closed"
    if closed:
        message = f"policy-engine {what} (internal_error: closed, request denied)"
        response = AdmissionResponse(uid=request.uid, allowed=False,
                                     status=Status(code=403, reason="Forbidden", message=message))
    else:
        warning = _warning("policy-engine", f"{what}; allowed (internal_error: open)")
        response = AdmissionResponse(uid=request.uid, allowed=True, warnings=[warning])
    return Decision(response, "error", kind, namespace, name, error=what)
