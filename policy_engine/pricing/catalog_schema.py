"""The catalog file's schema (pydantic): what ``catalog_file`` validates before ``catalog`` builds data.

The run-time types in ``catalog`` are plain dataclasses with the same fields (a test keeps the two in
step), so only reading a file pays for pydantic. A bundled or user entry is validated whole: an entry
replaces the bundled one of the same name, so it must be complete; a user file's sections and scalars
are optional (``CatalogPatch``).
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _date_text(value: Any) -> Any:
    """YAML reads an unquoted ``2026-11-01`` as a date; the catalog keeps dates as ISO text."""
    return value.isoformat() if isinstance(value, datetime.date) else value


DateText = Annotated[str, BeforeValidator(_date_text)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionalPriceSchema(_Strict):
    """The same machine type's price in another region (``instance_types.<name>.regions.<region>``)."""

    on_demand: float = Field(ge=0)
    spot: float | None = Field(default=None, ge=0)
    source: str | None = None
    date: DateText | None = None
    spot_source: str | None = None
    spot_date: DateText | None = None


class InstanceTypeSchema(_Strict):
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
    date: DateText | None = None
    spot_source: str | None = None
    spot_date: DateText | None = None
    regions: dict[str, RegionalPriceSchema] | None = None


class GpuModelPriceSchema(_Strict):
    on_demand: float = Field(ge=0)
    spot: float | None = Field(default=None, ge=0)
    accelerator: Literal["gpu", "tpu", "neuron"] = "gpu"
    source: str | None = None
    notes: str | None = None
    date: DateText | None = None


class UnpricedTypeSchema(_Strict):
    """A machine type known by its hardware whose price no file the catalog was built from publishes.

    A workload on it is reported unpriced with ``reason`` (never priced from a guess); a priced entry of
    the same name under ``instance_types`` (a user file, an import) takes precedence.
    """

    provider: str
    region: str | None = None
    gpus: float = Field(ge=0)
    gpu_model: str | None = None
    vcpus: float = Field(gt=0)
    memory_gib: float = Field(gt=0)
    reason: str = Field(min_length=1)
    source: str | None = None


class UnpricedGpuModelSchema(_Strict):
    """A GPU model key with no published all-in price per GPU in the catalog, and why."""

    reason: str = Field(min_length=1)
    accelerator: Literal["gpu", "tpu", "neuron"] = "gpu"


class AttachedGpuSchema(_Strict):
    provider: str
    region: str
    gpu_model: str
    on_demand: float = Field(ge=0)
    spot: float | None = Field(default=None, ge=0)
    source: str | None = None
    date: DateText | None = None


class CpuRatesSchema(_Strict):
    vcpu_hour: float = Field(ge=0)
    memory_gib_hour: float = Field(ge=0)
    vcpu_hour_spot: float | None = Field(default=None, ge=0)
    memory_gib_hour_spot: float | None = Field(default=None, ge=0)
    source: str | None = None


class AssumptionsSchema(_Strict):
    idle_fraction: float = Field(default=0.6, ge=0, le=1)
    idle_rationale: str | None = None
    idle_source: str | None = None
    unbounded_run_fraction: float = Field(default=1.0, gt=0, le=1)
    team_labels: tuple[str, ...] = Field(default=("team",), min_length=1)
    cost_center_labels: tuple[str, ...] = Field(default=("cost-center",), min_length=1)
    environment_labels: tuple[str, ...] = Field(default=("environment",), min_length=1)


class SourceSchema(_Strict):
    url: str
    date: DateText
    region: str | None = None
    notes: str | None = None


class CatalogSchema(_Strict):
    """A whole catalog (the bundled file)."""

    currency: str = "USD"
    as_of: DateText
    hours_per_month: float = Field(default=730.0, gt=0)
    notes: str | None = None
    sources: dict[str, SourceSchema] = Field(default_factory=dict)
    cpu: CpuRatesSchema
    assumptions: AssumptionsSchema = Field(default_factory=AssumptionsSchema)
    gpu_models: dict[str, GpuModelPriceSchema] = Field(default_factory=dict)
    attached_gpus: dict[str, AttachedGpuSchema] = Field(default_factory=dict)
    instance_types: dict[str, InstanceTypeSchema] = Field(default_factory=dict)
    unpriced_types: dict[str, UnpricedTypeSchema] = Field(default_factory=dict)
    unpriced_gpu_models: dict[str, UnpricedGpuModelSchema] = Field(default_factory=dict)


class _CpuPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vcpu_hour: float | None = Field(default=None, ge=0)
    memory_gib_hour: float | None = Field(default=None, ge=0)
    vcpu_hour_spot: float | None = Field(default=None, ge=0)
    memory_gib_hour_spot: float | None = Field(default=None, ge=0)
    source: str | None = None


class _AssumptionsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    idle_fraction: float | None = Field(default=None, ge=0, le=1)
    idle_rationale: str | None = None
    idle_source: str | None = None
    unbounded_run_fraction: float | None = Field(default=None, gt=0, le=1)
    team_labels: tuple[str, ...] | None = Field(default=None, min_length=1)
    cost_center_labels: tuple[str, ...] | None = Field(default=None, min_length=1)
    environment_labels: tuple[str, ...] | None = Field(default=None, min_length=1)


class CatalogPatch(BaseModel):
    """A user file: every top-level field optional, every entry complete (entries replace by key)."""

    model_config = ConfigDict(extra="forbid")
    currency: str | None = None
    as_of: DateText | None = None
    hours_per_month: float | None = Field(default=None, gt=0)
    notes: str | None = None
    sources: dict[str, SourceSchema] | None = None
    cpu: _CpuPatch | None = None
    assumptions: _AssumptionsPatch | None = None
    gpu_models: dict[str, GpuModelPriceSchema] | None = None
    attached_gpus: dict[str, AttachedGpuSchema] | None = None
    instance_types: dict[str, InstanceTypeSchema] | None = None
    unpriced_types: dict[str, UnpricedTypeSchema] | None = None
    unpriced_gpu_models: dict[str, UnpricedGpuModelSchema] | None = None


#: The schema of each keyed section's entries and of each field section (for "did you mean" hints).
ENTRY_SCHEMAS: dict[str, type[BaseModel]] = {
    "instance_types": InstanceTypeSchema,
    "gpu_models": GpuModelPriceSchema,
    "attached_gpus": AttachedGpuSchema,
    "sources": SourceSchema,
    "unpriced_types": UnpricedTypeSchema,
    "unpriced_gpu_models": UnpricedGpuModelSchema,
}
SECTION_SCHEMAS: dict[str, type[BaseModel]] = {"cpu": CpuRatesSchema, "assumptions": _AssumptionsPatch}
