"""The webhook's own settings (``serve --config FILE``): exemptions, label inheritance, limits, failure modes.

Read from YAML and checked by pydantic; every problem comes back as a located diagnostic (file, line of
the offending key) so an operator fixing a ConfigMap sees all of them at once.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.engine.exemptions import DEFAULT_MAX_DAYS
from policy_engine.errors import DiagnosticError
from policy_engine.model.documents import Document

#: The API server refuses request bodies above 3 MiB, so a bigger AdmissionReview is not a real one.
DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024
DEFAULT_OWN_NAMESPACE = "policy-engine"


def own_namespace() -> str:
    """The namespace the webhook runs in: ``POD_NAMESPACE`` (the downward API) or the default install's."""
    return os.environ.get("POD_NAMESPACE") or DEFAULT_OWN_NAMESPACE


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    exempt_namespaces: tuple[str, ...] = Field(default_factory=lambda: ("kube-system", own_namespace()))
    """Namespaces (globs) whose requests are allowed without evaluation; the webhook's own by default."""
    exempt_users: tuple[str, ...] = ()
    """``userInfo.username`` globs, e.g. ``system:serviceaccount:kube-system:*``."""
    exempt_groups: tuple[str, ...] = ()
    """``userInfo.groups`` globs, e.g. ``system:masters``."""
    inherit_labels: tuple[str, ...] = ("team", "cost-center")
    """Label keys a workload takes from its namespace when its pods do not carry them (or carry them empty)."""
    authoritative_labels: tuple[str, ...] = ("team", "cost-center")
    """Inherited keys whose namespace value, where the namespace has one, replaces the workload's own: a
    quota cannot be dodged, nor spend billed to another team, by relabelling (docs/webhook.md)."""
    unread_gpu_kinds: Literal["warn", "deny"] = "warn"
    """An object of a kind the workload model does not read that asks for GPUs: warn (default) or deny,
    as ``check --unread-gpu-kinds`` does in CI."""
    known_teams: tuple[str, ...] | None = None
    """When set, a workload whose team (after inheritance) is not in this list is denied, naming the list."""
    controller_annotations: tuple[str, ...] = (
        "deployment.kubernetes.io/*", "batch.kubernetes.io/*", "control-plane.alpha.kubernetes.io/*",
        "kubernetes.io/change-cause", "notebooks.kubeflow.org/last-activity*",
        "notebooks.kubeflow.org/last_activity*", "ray.io/*", "kueue.x-k8s.io/*", "leaderworkerset.sigs.k8s.io/*",
        "jobset.sigs.k8s.io/*", "workflows.argoproj.io/*", "serving.kserve.io/*")
    """Object annotations (globs) controllers write: an UPDATE that changes only these, status, finalizers,
    ownerReferences, managed fields or the deletion timestamp is allowed without being judged again."""
    require_exemption_expiry: bool = True
    """Per-object exemption annotations count only with a ``policy-engine.io/exempt-until`` date."""
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)
    body_timeout_seconds: float = Field(default=10.0, gt=0)
    """A request body not fully received within this time is refused (400), never waited on forever."""
    reload_interval_seconds: float = Field(default=5.0, ge=0)
    """How often the policy directory is polled for changes; 0 turns hot reload off."""
    internal_error: Literal["open", "closed"] = "open"
    """What an error outside any policy (unreadable object, a bug, an overrun budget) does: allow with a
    warning, or deny."""
    review_budget_seconds: float = Field(default=2.0, gt=0)
    """Time one review may take from its first body byte to its decision; past it the review stops and
    ``internal_error`` decides (kept well under the API server's ``timeoutSeconds``)."""
    max_connections: int = Field(default=256, gt=0)
    """Open connections per process; beyond it a new connection is closed at accept, before TLS."""
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    """Request line plus headers; more gets 431 and the connection closed."""
    max_headers: int = Field(default=100, gt=0)
    """Header fields per request; more gets 431 and the connection closed."""
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    """TLS handshake, and request line plus headers from their first byte, must each finish within this."""
    idle_timeout_seconds: float = Field(default=30.0, gt=0)
    """A connection with no request in flight is closed after this long."""
    exemption_max_days: int = Field(default=DEFAULT_MAX_DAYS, ge=0)
    """Longest an object exemption may run from today (``exempt-until``); 0 lifts the cap."""

    @field_validator("exempt_namespaces", "exempt_users", "exempt_groups", "inherit_labels",
                     "authoritative_labels", "controller_annotations")
    @classmethod
    def _no_empty_entries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not v.strip() for v in value):
            raise ValueError("entries must be non-empty strings")
        return value


def load_config(path: str | Path | None) -> WebhookConfig:
    """The settings in ``path`` (defaults when None); ``DiagnosticError`` with every problem located."""
    if path is None:
        return WebhookConfig()
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        diagnostic = Diagnostic(Span(name, 1), "E901", f"cannot read config file: {exc}")
        raise DiagnosticError([diagnostic]) from exc
    return parse_config(text, name)


def parse_config(text: str, name: str) -> WebhookConfig:
    doc = _document(text, name)
    if doc is None:
        return WebhookConfig()
    try:
        return WebhookConfig.model_validate(doc.obj)
    except ValidationError as exc:
        diagnostics = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = ".".join(str(p) for p in loc) or "(top level)"
            hint = None
            if err["type"] == "extra_forbidden" and len(loc) == 1:  # a misspelt top-level key
                close = difflib.get_close_matches(str(loc[0]), list(WebhookConfig.model_fields), n=1, cutoff=0.6)
                message = f"{where}: unknown setting"
                hint = f"did you mean '{close[0]}'?" if close else (
                    f"settings: {', '.join(sorted(WebhookConfig.model_fields))}")
            else:
                message = f"{where}: {err['msg']}"
            diagnostics.append(Diagnostic(Span(name, doc.line_of(loc)), "E901", message, hint=hint))
        raise DiagnosticError(diagnostics, {name: text}) from exc


def _document(text: str, name: str) -> Document | None:
    """The config as a located mapping (``load_text`` wants a ``kind``, so the node is composed here)."""
    loader = yaml.CSafeLoader(text) if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        obj = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = Span(name, mark.line + 1 if mark else 1, mark.column + 1 if mark else 1)
        raise DiagnosticError([Diagnostic(span, "E901", f"invalid YAML: {exc.problem or exc.context}")],
                              {name: text}) from exc
    except yaml.YAMLError as exc:
        raise DiagnosticError([Diagnostic(Span(name, 1), "E901", f"invalid YAML: {exc}")]) from exc
    finally:
        loader.dispose()
    if obj is None:
        return None
    if not isinstance(obj, dict):
        raise DiagnosticError([Diagnostic(Span(name, node.start_mark.line + 1), "E901",
                                          f"the config must be a mapping, not a {type(obj).__name__}")],
                              {name: text})
    return Document(obj, name, node.start_mark.line + 1, 0, node)

