"""The pricing catalog: instance, GPU-model and CPU prices as data, validated once and indexed for lookups.

The catalog is loaded once per engine (CLI run, webhook start) and then read by ``price()`` for every
workload of a 10,000-document tree, so everything a price needs is a dict lookup on frozen models built
here: no YAML or validation work happens per call.

A user file (``--pricing FILE``) is merged over the bundled catalog so that a team can correct one price
or add one instance type without copying the whole file. Its problems are reported all at once, each at
the file:line of the offending field (see ``catalog_errors``).
"""

from __future__ import annotations

import datetime
import functools
import importlib.resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr

from policy_engine.syntax.diagnostics import Diagnostic, DiagnosticError

BUNDLED_CATALOG = "catalog.yaml"
#: Sections whose entries a user file replaces or adds by key.
KEYED_SECTIONS = ("instance_types", "gpu_models", "attached_gpus", "sources")
#: Sections whose fields a user file overrides one by one.
FIELD_SECTIONS = ("cpu", "assumptions")


def _date_text(value: Any) -> Any:
    """YAML reads an unquoted ``2026-11-01`` as a date; the catalog keeps dates as ISO text."""
    return value.isoformat() if isinstance(value, datetime.date) else value


DateText = Annotated[str, BeforeValidator(_date_text)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstanceType(_Strict):
    """One machine type in one region; ``gpus`` may be a fraction where the provider sells one."""

    provider: str
    region: str
    gpus: float = Field(ge=0)
    gpu_model: str | None = None
    vcpus: float = Field(gt=0)
    memory_gib: float = Field(gt=0)
    on_demand: float = Field(ge=0)
    spot: float | None = Field(default=None, ge=0)
    source: str | None = None
    notes: str | None = None

    def hourly(self, spot: bool) -> float | None:
        return self.spot if spot else self.on_demand


class GpuModelPrice(_Strict):
    """Per-GPU (per-chip) all-in price used when a workload names a model but no instance type."""

    on_demand: float = Field(ge=0)
    spot: float | None = Field(default=None, ge=0)
    accelerator: Literal["gpu", "tpu", "neuron"] = "gpu"
    source: str | None = None
    notes: str | None = None

    def hourly(self, spot: bool) -> float | None:
        return self.spot if spot else self.on_demand


class AttachedGpu(_Strict):
    """A GPU attached to a general-purpose VM (GCP N1), priced per GPU, VM billed apart."""

    provider: str
    region: str
    gpu_model: str
    on_demand: float = Field(ge=0)
    spot: float | None = Field(default=None, ge=0)
    source: str | None = None


class CpuRates(_Strict):
    vcpu_hour: float = Field(ge=0)
    memory_gib_hour: float = Field(ge=0)
    vcpu_hour_spot: float | None = Field(default=None, ge=0)
    memory_gib_hour_spot: float | None = Field(default=None, ge=0)


class Assumptions(_Strict):
    idle_fraction: float = Field(default=0.6, ge=0, le=1)
    idle_rationale: str | None = None
    idle_source: str | None = None


class Source(_Strict):
    url: str
    date: DateText
    region: str | None = None
    notes: str | None = None


class Catalog(_Strict):
    """A validated catalog. ``warnings`` holds non-fatal diagnostics (spot above on-demand, unknown model)."""

    currency: str = "USD"
    as_of: DateText
    hours_per_month: float = Field(default=730.0, gt=0)
    notes: str | None = None
    sources: dict[str, Source] = Field(default_factory=dict)
    cpu: CpuRates
    assumptions: Assumptions = Field(default_factory=Assumptions)
    gpu_models: dict[str, GpuModelPrice] = Field(default_factory=dict)
    attached_gpus: dict[str, AttachedGpu] = Field(default_factory=dict)
    instance_types: dict[str, InstanceType] = Field(default_factory=dict)

    _warnings: tuple[Diagnostic, ...] = PrivateAttr(default=())
    _gpu_model_folded: dict[str, str] = PrivateAttr(default_factory=dict)
    _cache: dict[Any, Any] = PrivateAttr(default_factory=dict)
    _pod_prices: dict[tuple[Any, ...], Any] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        self._gpu_model_folded = {k.lower(): k for k in self.gpu_models}

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return self._warnings

    def instance(self, name: str) -> InstanceType | None:
        return self.instance_types.get(name)

    def gpu_model(self, name: str) -> tuple[str, GpuModelPrice] | None:
        """The catalog key and price for a GPU model name, matched case-insensitively."""
        found = self.gpu_models.get(name)
        if found is not None:
            return name, found
        key = self._gpu_model_folded.get(name.lower())
        return (key, self.gpu_models[key]) if key is not None else None

    @property
    def pod_prices(self) -> dict[tuple[Any, ...], Any]:
        """``price_pod``'s memo: pod shape → price under this catalog (see ``policy_engine.pricing.cost``)."""
        return self._pod_prices

    def memo(self, key: Any) -> Any:
        """A per-catalog cache for derived indexes (savings look-ups); never holds per-workload data."""
        return self._cache.get(key)

    def remember(self, key: Any, value: Any) -> Any:
        self._cache[key] = value
        return value


def bundled_catalog_path() -> Path:
    return Path(str(importlib.resources.files("policy_engine.pricing") / BUNDLED_CATALOG))


@functools.lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The bundled catalog, parsed once per process."""
    from policy_engine.pricing.catalog_file import parse_catalog_file

    path = bundled_catalog_path()
    text = path.read_text(encoding="utf-8")
    raw, errors, locate = parse_catalog_file(text, str(path), partial=False)
    if errors:  # pragma: no cover - the bundled file is checked by the tests
        raise DiagnosticError(errors, {str(path): text})
    return _build(raw, str(path), locate)


def load_catalog(path: str | None = None) -> Catalog:
    """The bundled catalog, or ``path`` merged over it.

    Raises ``DiagnosticError`` with every error of the file, each located at its line and naming the field.
    """
    if path is None:
        return default_catalog()
    from policy_engine.pricing.catalog_file import parse_catalog_file

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        from policy_engine.syntax.diagnostics import Span

        unreadable = Diagnostic(Span(path, 1), "E-PRICING-READ", f"cannot read pricing file: {exc}")
        raise DiagnosticError([unreadable]) from exc
    user, errors, locate = parse_catalog_file(text, path, partial=True)
    if errors:
        raise DiagnosticError(errors, {path: text})
    merged = merge(default_catalog().model_dump(exclude_none=True), user)
    return _build(merged, path, locate)


def merge(base: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    """``user`` over ``base``: keyed sections by entry, field sections by field, scalars replaced."""
    out = dict(base)
    for key, value in user.items():
        if key in KEYED_SECTIONS or key in FIELD_SECTIONS:
            out[key] = {**base.get(key, {}), **(value or {})}
        else:
            out[key] = value
    return out


def _build(raw: dict[str, Any], file: str, locate: Any) -> Catalog:
    from policy_engine.pricing.catalog_file import consistency_warnings

    catalog = Catalog.model_validate(raw)
    catalog._warnings = tuple(consistency_warnings(catalog, file, locate))
    return catalog
