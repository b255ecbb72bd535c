"""The controller's settings (``controller --config FILE``): cycle, reports, Prometheus, idle actions, lease.

Read from YAML and checked strictly by pydantic (an unknown key is an error, not ignored); every problem
comes back as a located diagnostic (file, line of the offending key), all at once, like ``serve --config``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.engine.exemptions import DEFAULT_MAX_DAYS
from policy_engine.errors import DiagnosticError
from policy_engine.ledger.settings import LedgerSettings
from policy_engine.prometheus import Endpoint
from policy_engine.webhook.config import _document as located_mapping
from policy_engine.webhook.config import own_namespace

CODE = "E905"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrometheusSettings(_Strict):
    url: str | None = None
    """Base URL of the Prometheus holding the DCGM exporter's series, e.g. http://prometheus:9090.
    None: no telemetry, so nothing is ever judged idle (the idle rules report why)."""
    bearer_token_file: str | None = None
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    timeout_seconds: float = Field(default=15.0, gt=0)
    step_seconds: float = Field(default=60.0, gt=0)
    """Resolution of the range queries; a gap between samples longer than ``stale_seconds`` is missing data."""
    stale_seconds: float = Field(default=300.0, gt=0)
    """A GPU series with no sample for this long (at the end or anywhere in the window) is not idle data."""

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    def endpoint(self) -> Endpoint:
        """Where and how the one Prometheus client (``policy_engine.prometheus``) connects."""
        return Endpoint(self.url or "", bearer_token_file=self.bearer_token_file, username=self.username,
                        password_file=self.password_file, ca_file=self.ca_file,
                        insecure_skip_verify=self.insecure_skip_verify, timeout_seconds=self.timeout_seconds)

    @model_validator(mode="after")
    def _one_auth(self) -> PrometheusSettings:
        if self.bearer_token_file and self.username:
            raise ValueError("use bearer_token_file or username/password_file, not both")
        if bool(self.username) != bool(self.password_file):
            raise ValueError("username and password_file go together")
        return self


class IdleSettings(_Strict):
    act: bool = False
    """Carry actions out (same as ``--act``). Off: dry run, the controller reports what it would do."""
    max_actions_per_cycle: int = Field(default=5, ge=0)
    """Stops (and pod deletions) per cycle at most; the rest wait for the next cycle, and are counted."""
    notify_url: str | None = None
    """Optional HTTP endpoint POSTed a JSON message for every notice and action (chat webhook, pager)."""

    @field_validator("notify_url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class ReportSettings(_Strict):
    enabled: bool = True
    api: Literal["wgpolicyk8s.io", "openreports.io"] = "wgpolicyk8s.io"
    """``wgpolicyk8s.io/v1alpha2`` PolicyReport (Kyverno, Policy Reporter) or ``openreports.io/v1alpha1`` Report."""
    name: str = "policy-engine-audit"
    max_results: int = Field(default=1000, gt=0)
    """Results per report: a namespace with more gets several (``NAME``, ``NAME-2``…) under the API
    server's object size limit."""


class LeaderSettings(_Strict):
    enabled: bool = True
    lease_name: str = "policy-engine-controller"
    namespace: str = Field(default_factory=own_namespace)
    lease_duration_seconds: float = Field(default=15.0, gt=0)
    renew_deadline_seconds: float = Field(default=10.0, gt=0)
    retry_period_seconds: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> LeaderSettings:
        if not self.retry_period_seconds < self.renew_deadline_seconds < self.lease_duration_seconds:
            raise ValueError("need retry_period_seconds < renew_deadline_seconds < lease_duration_seconds")
        return self


class ControllerSettings(_Strict):
    interval_seconds: float = Field(default=300.0, gt=0)
    """A full audit every this many seconds."""
    debounce_seconds: float = Field(default=15.0, ge=0)
    """After a change in the cluster, audit again after this quiet time (at most this often)."""
    exempt_namespaces: tuple[str, ...] = Field(default_factory=lambda: ("kube-system", own_namespace()))
    """Namespaces (globs) never audited and never acted on."""
    require_exemption_expiry: bool = True
    exemption_max_days: int = Field(default=DEFAULT_MAX_DAYS, ge=0)
    """An exemption annotation may end at most this many days ahead (0: no cap), as the webhook's."""
    inherit_labels: tuple[str, ...] = ("team", "cost-center")
    """Label keys a workload takes from its namespace when its pods do not carry them (as the webhook)."""
    authoritative_labels: tuple[str, ...] = ("team", "cost-center")
    """Of those, keys where the namespace's value wins over the pods' own (as the webhook)."""
    listen: str = "0.0.0.0:8080"
    """Address of /healthz, /readyz and /metrics."""
    reports: ReportSettings = Field(default_factory=ReportSettings)
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)
    idle: IdleSettings = Field(default_factory=IdleSettings)
    leader_election: LeaderSettings = Field(default_factory=LeaderSettings)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    """The usage ledger the leader writes and the budget alerts it sends (docs/usage.md); off without a path."""

    @field_validator("exempt_namespaces", "inherit_labels", "authoritative_labels")
    @classmethod
    def _no_empty_entries(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not v.strip() for v in value):
            raise ValueError("entries must be non-empty strings")
        return value

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        _host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("must be HOST:PORT, e.g. 0.0.0.0:8080")
        return value


def load_settings(path: str | Path | None) -> ControllerSettings:
    """The settings in ``path`` (defaults when None); ``DiagnosticError`` with every problem located."""
    if path is None:
        return ControllerSettings()
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DiagnosticError([Diagnostic(Span(name, 1), CODE, f"cannot read settings file: {exc}")]) from exc
    return parse_settings(text, name)


def parse_settings(text: str, name: str) -> ControllerSettings:
    doc = located_mapping(text, name)
    if doc is None:
        return ControllerSettings()
    try:
        return ControllerSettings.model_validate(doc.obj)
    except ValidationError as exc:
        diagnostics = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            where = ".".join(str(p) for p in loc) or "(top level)"
            message = str(err["msg"]).removeprefix("Value error, ")
            diagnostics.append(Diagnostic(Span(name, doc.line_of(loc)), CODE, f"{where}: {message}"))
        raise DiagnosticError(diagnostics, {name: text}) from exc
