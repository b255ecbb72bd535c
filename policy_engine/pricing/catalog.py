"""The pricing catalog: instance, GPU-model and CPU prices as data, validated once and indexed for lookups.

The catalog is loaded once per engine (CLI run, webhook start) and then read by ``price()`` for every
workload of a 10,000-document tree, so everything a price needs is a dict lookup on frozen dataclasses
built here: no YAML or validation work happens per call. Validation (pydantic, ``catalog_schema``) runs
only when a file is read, and its result is kept in the start-up cache (``policy_engine.cache``).

A user file (``--pricing FILE``) is merged over the bundled catalog so that a team can correct one price
or add one instance type without copying the whole file. Its problems are reported all at once, each at
the file:line of the offending field (see ``catalog_file``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import field, fields, replace
from pathlib import Path
from typing import Any, Literal

from policy_engine.diagnostics import Diagnostic, Level, Span
from policy_engine.errors import DiagnosticError
from policy_engine.model.dimensions import Dimension, Dimensions
from policy_engine.records import frozen_record

BUNDLED_CATALOG = "catalog.yaml"
#: Sections whose entries a user file replaces or adds by key.
KEYED_SECTIONS = ("instance_types", "gpu_models", "attached_gpus", "sources", "unpriced_types",
                  "unpriced_gpu_models")
#: Sections whose fields a user file overrides one by one.
FIELD_SECTIONS = ("cpu", "assumptions")
#: The cache namespace of validated catalogs (``policy_engine.cache``).
CACHE_NAMESPACE = "catalog"
#: ``locate(path)`` → (line, column, whether the whole path exists in the file): ``catalog_file``'s locator.
Locator = Callable[[tuple[str | int, ...]], tuple[int, int, bool]]


@frozen_record
class RegionalPrice:
    """A machine type's price in a region other than its entry's default ``region``."""

    on_demand: float
    spot: float | None = None
    source: str | None = None
    date: str | None = None
    spot_source: str | None = None
    spot_date: str | None = None


@frozen_record
class InstanceType:
    """One machine type, priced in its default ``region`` (and in ``regions`` where the catalog has them).

    ``gpus`` may be a fraction where the provider sells one. ``date``/``spot_date`` say when the figure
    was taken and ``source``/``spot_source`` from what; ``spot`` is None where no real spot price is known.
    """

    provider: str
    region: str
    gpus: float
    vcpus: float
    memory_gib: float
    on_demand: float
    gpu_model: str | None = None
    spot: float | None = None
    source: str | None = None
    notes: str | None = None
    date: str | None = None
    spot_source: str | None = None
    spot_date: str | None = None
    regions: Mapping[str, RegionalPrice] | None = None

    def hourly(self, spot: bool) -> float | None:
        return self.spot if spot else self.on_demand

    def in_region(self, region: str | None) -> InstanceType | None:
        """This machine type priced in ``region`` (its default region included); None if not priced there."""
        if region is None or region == self.region:
            return self
        found = (self.regions or {}).get(region)
        if found is None:
            return None
        return replace(self, region=region, on_demand=found.on_demand, spot=found.spot, source=found.source,
                       date=found.date, spot_source=found.spot_source, spot_date=found.spot_date, regions=None)


@frozen_record
class GpuModelPrice:
    """Per-GPU (per-chip) all-in price used when a workload names a model but no instance type."""

    on_demand: float
    spot: float | None = None
    accelerator: Literal["gpu", "tpu", "neuron"] = "gpu"
    source: str | None = None
    notes: str | None = None
    date: str | None = None

    def hourly(self, spot: bool) -> float | None:
        return self.spot if spot else self.on_demand


@frozen_record
class AttachedGpu:
    """A GPU attached to a general-purpose VM (GCP N1), priced per GPU, VM billed apart."""

    provider: str
    region: str
    gpu_model: str
    on_demand: float
    spot: float | None = None
    source: str | None = None
    date: str | None = None


@frozen_record
class UnpricedType:
    """A machine type known by its hardware but with no published price in the catalog, and why."""

    provider: str
    gpus: float
    vcpus: float
    memory_gib: float
    reason: str
    region: str | None = None
    gpu_model: str | None = None
    source: str | None = None


@frozen_record
class UnpricedGpuModel:
    """A GPU model key with no published all-in price per GPU in the catalog, and why."""

    reason: str
    accelerator: Literal["gpu", "tpu", "neuron"] = "gpu"


@frozen_record
class CpuRates:
    """The price of a vCPU-hour and a GiB-hour of memory, on demand and spot."""

    vcpu_hour: float
    memory_gib_hour: float
    vcpu_hour_spot: float | None = None
    memory_gib_hour_spot: float | None = None
    source: str | None = None


@frozen_record
class Assumptions:
    """What pricing assumes where a manifest does not say (idle fraction, run time, dimensions)."""

    idle_fraction: float = 0.6
    idle_rationale: str | None = None
    idle_source: str | None = None
    #: An unbounded job (no deadline, no expected duration) is priced as running this fraction of the
    #: period (1.0: the whole month) and marked as assumed, so the headline leaves no spend out.
    unbounded_run_fraction: float = 1.0
    #: The label keys of each showback dimension, tried in order (model/dimensions.py).
    team_labels: tuple[str, ...] = ("team",)
    cost_center_labels: tuple[str, ...] = ("cost-center",)
    environment_labels: tuple[str, ...] = ("environment",)

    def dimensions(self) -> Dimensions:
        """The one definition of team, cost center and environment every report uses."""
        return Dimensions(Dimension("team", tuple(self.team_labels)),
                          Dimension("cost-center", tuple(self.cost_center_labels)),
                          Dimension("environment", tuple(self.environment_labels)))


@frozen_record
class Source:
    """Where a price came from: the page, its date, the region."""

    url: str
    date: str
    region: str | None = None
    notes: str | None = None


@frozen_record
class Catalog:
    """A validated catalog: plain frozen data, built only from what ``catalog_schema`` has validated.

    ``warnings`` holds non-fatal diagnostics (spot above on-demand, unknown model). Run-time types are
    dataclasses, not pydantic models, so that pricing a workload (and loading a cached catalog) never
    imports pydantic; validation lives in ``catalog_schema`` and runs only when a file is read.
    """

    as_of: str
    cpu: CpuRates
    currency: str = "USD"
    hours_per_month: float = 730.0
    notes: str | None = None
    sources: Mapping[str, Source] = field(default_factory=dict)
    assumptions: Assumptions = field(default_factory=Assumptions)
    gpu_models: Mapping[str, GpuModelPrice] = field(default_factory=dict)
    attached_gpus: Mapping[str, AttachedGpu] = field(default_factory=dict)
    instance_types: Mapping[str, InstanceType] = field(default_factory=dict)
    unpriced_types: Mapping[str, UnpricedType] = field(default_factory=dict)
    unpriced_gpu_models: Mapping[str, UnpricedGpuModel] = field(default_factory=dict)
    warnings: tuple[Diagnostic, ...] = field(default=(), compare=False)
    _gpu_model_folded: dict[str, str] = field(init=False, repr=False, compare=False)
    _cache: dict[Any, Any] = field(init=False, repr=False, compare=False)
    _pod_prices: dict[tuple[Any, ...], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_gpu_model_folded", {k.lower(): k for k in self.gpu_models})
        object.__setattr__(self, "_cache", {})
        object.__setattr__(self, "_pod_prices", {})

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (the start-up cache) without the memos: they are rebuilt empty."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        self.__post_init__()

    def instance(self, name: str) -> InstanceType | None:
        return self.instance_types.get(name)

    def gpu_model(self, name: str) -> tuple[str, GpuModelPrice] | None:
        """The catalog key and price for a GPU model name, matched case-insensitively."""
        found = self.gpu_models.get(name)
        if found is not None:
            return name, found
        key = self._gpu_model_folded.get(name.lower())
        return (key, self.gpu_models[key]) if key is not None else None

    def unpriced_gpu_model(self, name: str) -> tuple[str, UnpricedGpuModel] | None:
        """A GPU model the catalog knows has no published price (matched case-insensitively), and why."""
        folded = name.lower()
        return next(((k, v) for k, v in self.unpriced_gpu_models.items() if k.lower() == folded), None)

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

    def with_warnings(self, warnings: tuple[Diagnostic, ...]) -> Catalog:
        return replace(self, warnings=warnings)


#: Entry classes of the keyed sections, and section classes of the field sections.
ENTRY_TYPES: dict[str, type] = {"instance_types": InstanceType, "gpu_models": GpuModelPrice,
                                "attached_gpus": AttachedGpu, "sources": Source, "unpriced_types": UnpricedType,
                                "unpriced_gpu_models": UnpricedGpuModel}
SECTION_TYPES: dict[str, type] = {"cpu": CpuRates, "assumptions": Assumptions}


def catalog_from_data(data: Mapping[str, Any]) -> Catalog:
    """A ``Catalog`` from validated data (``catalog_schema``'s output, ``None`` fields dropped)."""
    values = dict(data)
    for key, entry_type in ENTRY_TYPES.items():
        values[key] = {name: entry_type(**entry) for name, entry in (data.get(key) or {}).items()}
    values["instance_types"] = {name: _with_regions(entry) for name, entry in values["instance_types"].items()}
    for key, section_type in SECTION_TYPES.items():
        if key in data:
            values[key] = section_type(**data[key])
    return Catalog(**values)


def catalog_data(catalog: Catalog) -> dict[str, Any]:
    """The inverse of ``catalog_from_data``: plain data with ``None`` fields dropped (for merging)."""
    out = _plain(catalog, skip=("warnings",))
    for key in ENTRY_TYPES:
        out[key] = {name: _plain(entry) for name, entry in out[key].items()}
    for entry in out["instance_types"].values():
        if "regions" in entry:
            entry["regions"] = {region: _plain(price) for region, price in entry["regions"].items()}
    for key in SECTION_TYPES:
        out[key] = _plain(out[key])
    return out


def _with_regions(entry: InstanceType) -> InstanceType:
    if not entry.regions:
        return entry
    regions = {name: p if isinstance(p, RegionalPrice) else RegionalPrice(**p) for name, p in entry.regions.items()}
    return replace(entry, regions=regions)


def _plain(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {f.name: value for f in fields(obj)
            if f.init and f.name not in skip and (value := getattr(obj, f.name)) is not None}


def bundled_catalog_path() -> Path:
    return Path(__file__).resolve().parent / BUNDLED_CATALOG  # package data, installed beside this module


@functools.lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    """The bundled catalog, validated once per process (and taken from the start-up cache when it can be)."""
    path = bundled_catalog_path()
    text = path.read_text(encoding="utf-8")
    return _validated(text, str(path), partial=False)


def load_catalog(path: str | None = None) -> Catalog:
    """The bundled catalog, or ``path`` merged over it.

    Raises ``DiagnosticError`` with every error of the file, each located at its line and naming the field.
    """
    if path is None:
        return default_catalog()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        unreadable = Diagnostic(Span(path, 1), "E401", f"cannot read pricing file: {exc}")
        raise DiagnosticError([unreadable]) from exc
    from policy_engine.pricing.importers.opencost import looks_like_opencost

    if looks_like_opencost(text):
        return _from_opencost(path)
    return _validated(text, path, partial=True)


def _from_opencost(path: str) -> Catalog:
    """OpenCost/Kubecost custom pricing (``default.json`` rates) applied to the bundled catalog's hardware."""
    from policy_engine.pricing.catalog_schema import CatalogSchema
    from policy_engine.pricing.importers.opencost import opencost_catalog

    data, _ = opencost_catalog(path, catalog_data(default_catalog()))
    validated = CatalogSchema.model_validate(data).model_dump(exclude_none=True)
    return catalog_from_data(validated)


def _validated(text: str, file: str, *, partial: bool) -> Catalog:
    """Validate a catalog file (``partial``: a user file merged over the bundled catalog).

    Validation imports pydantic, which alone costs more than a small ``check`` run; its result (never
    its errors) is cached by the file's text, the bundled catalog and the code (``policy_engine.cache``).
    """
    from policy_engine.cache import DiskCache, code_fingerprint, digest

    cache = DiskCache.default()
    key = ""
    if cache is not None:  # a user file's result also depends on the bundled catalog it is merged over
        bundled = bundled_catalog_path().read_text(encoding="utf-8") if partial else ""
        key = digest(code_fingerprint(), file, text, bundled)
        hit = cache.get(CACHE_NAMESPACE, key, _codec())
        if isinstance(hit, Catalog):
            return hit
    catalog = _validate(text, file, default_catalog() if partial else None)
    if cache is not None:
        cache.put(CACHE_NAMESPACE, key, catalog, _codec())
    return catalog


@functools.lru_cache(maxsize=1)
def _codec() -> Any:
    """The records a cached catalog is made of (``policy_engine.cache.Codec``: data only, never pickle)."""
    import sys

    from policy_engine import cache, diagnostics

    return cache.Codec(sys.modules[__name__], diagnostics)


def _validate(text: str, file: str, base: Catalog | None) -> Catalog:
    from policy_engine.pricing.catalog_file import parse_catalog_file

    raw, errors, locate = parse_catalog_file(text, file, partial=base is not None)
    if errors:
        raise DiagnosticError(errors, {file: text})
    data = merge(catalog_data(base), raw) if base is not None else raw
    catalog = catalog_from_data(data)
    return catalog.with_warnings(tuple(consistency_warnings(catalog, file, locate)))


def merge(base: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    """``user`` over ``base``: keyed sections by entry, field sections by field, scalars replaced."""
    out = dict(base)
    for key, value in user.items():
        if key in KEYED_SECTIONS or key in FIELD_SECTIONS:
            out[key] = {**base.get(key, {}), **(value or {})}
        else:
            out[key] = value
    return out


def consistency_warnings(catalog: Catalog, file: str, locate: Locator | None) -> Iterator[Diagnostic]:
    """Warnings for entries written in ``file`` (inherited bundled entries are not re-reported)."""
    from policy_engine.pricing.catalog_file import did_you_mean

    if locate is None:
        return
    for section, entries in (("instance_types", catalog.instance_types), ("gpu_models", catalog.gpu_models),
                             ("attached_gpus", catalog.attached_gpus)):
        for name, entry in entries.items():
            found = locate((section, name))[2]
            if not found:
                continue
            spot = getattr(entry, "spot", None)
            if spot is not None and spot > entry.on_demand:
                sline, scol, _ = locate((section, name, "spot"))
                message = f'{section}["{name}"].spot ${spot}/h is above its on-demand ${entry.on_demand}/h'
                yield Diagnostic(Span(file, sline, scol), "W807", message,
                                 Level.WARNING, hint="spot capacity is normally cheaper; check the figure")
            model = getattr(entry, "gpu_model", None)
            if section != "gpu_models" and model and catalog.gpu_model(model) is None:
                mline, mcol, _ = locate((section, name, "gpu_model"))
                hint = did_you_mean(model, catalog.gpu_models) or (
                    "add a gpu_models entry so workloads naming only this model can be priced")
                yield Diagnostic(Span(file, mline, mcol), "W808",
                                 f'{section}["{name}"].gpu_model "{model}" has no gpu_models entry',
                                 Level.WARNING, hint=hint)
