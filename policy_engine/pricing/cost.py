"""Workload → projected spend: per role, per pod, per hour, then over the workload's run time.

The rules (docs/cost-model.md has worked examples of each):

- a GPU pod on a known instance type costs the instance's price x pod GPUs / instance GPUs — a MIG slice
  or time-sliced share is the fraction ``Role.gpus_per_pod`` already holds;
- several candidate instance types (an ``In`` affinity): the cheapest one that fits is assumed, and said;
- no instance type: the per-GPU (per-chip, for TPUs) price of the GPU model x GPUs;
- a CPU-only pod: its requests x the catalog's vCPU and memory rates; on a pinned instance type, its
  dominant share of that instance (max of its vCPU share and its memory share); a pod with no template on a
  pinned instance (KAITO preset) holds the whole instance;
- spot capacity uses the spot price; unknown capacity uses on-demand, and the breakdown says so;
- a pod pinned to a region (``topology.kubernetes.io/region`` in its nodeSelector, a required affinity or
  its node's labels) pays the instance type's price in that region when the catalog has one, else the
  entry's default region, said in the breakdown;
- anything that cannot be priced makes the whole workload ``priced=False`` with the reason, never $0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from policy_engine.diagnostics import Diagnostic
from policy_engine.errors import WorkloadError
from policy_engine.model.build import build_workload
from policy_engine.model.config import ModelConfig
from policy_engine.model.documents import Document, LoadError
from policy_engine.model.references import scanned_references
from policy_engine.model.runtime import EXPECTED_DURATION_ANNOTATION
from policy_engine.model.training_runtimes import resolve_train_job
from policy_engine.model.workload import (
    CapacityType,
    Container,
    Cost,
    Provenance,
    Role,
    RunKind,
    RunTime,
    Workload,
)
from policy_engine.pricing.catalog import Catalog, InstanceType
from policy_engine.records import frozen_record

X = "\N{MULTIPLICATION SIGN}"  # the breakdown's times sign
POD_PRICE_MEMO = 50_000
#: Node labels that name a pod's region, newest first.
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")


@frozen_record
class PodPrice:
    """One pod's hourly price at both capacities and at the one it runs on, with the arithmetic in words."""

    on_demand: float
    spot: float | None
    effective: float
    basis: str


@frozen_record
class Unpriced:
    """Why a pod could not be priced."""

    reason: str


def price(workload: Workload, catalog: Catalog) -> Cost:
    """The workload's projected cost under ``catalog``; see the module docstring for the rules."""
    unresolved = workload.provenance.get("runtime_unresolved")
    if unresolved is not None and not any(r.gpus_per_pod or r.cpu_request for r in workload.roles):
        return Cost(False, None, None, catalog.currency, f"{unresolved.note}; scan the runtime with the TrainJob")
    hours, hours_text = _hours(workload.run_time, catalog)
    hourly = on_demand = 0.0
    spot: float | None = 0.0
    problems: list[str] = []
    lines: list[str] = []
    for role in workload.roles:
        if role.replicas <= 0:
            lines.append(f"{role.name}: 0 pods = $0")
            continue
        pod = price_pod(role, catalog)
        if isinstance(pod, Unpriced):
            problems.append(f"{role.name}: {pod.reason}")
            continue
        n = role.replicas
        hourly += n * pod.effective
        on_demand += n * pod.on_demand
        spot = None if spot is None or pod.spot is None else spot + n * pod.spot
        monthly_text = f" {X} {hours_text} = {_money(n * pod.effective * hours)}" if hours is not None else ""
        lines.append(f"{role.name}: {n} {X} ({pod.basis}){monthly_text}")
    currency = catalog.currency
    if problems:
        return Cost(False, None, None, currency, "; ".join(problems), breakdown=tuple(lines))
    hours, assumed = _assumed_hours(workload, catalog, hours)
    if assumed:
        lines.append(f"{assumed[0]}: {_money(hourly)}/h {X} {hours:g} h = {_money(hourly * hours)}")
    return Cost(True, hourly, hourly * hours, currency, None, on_demand * hours,
                None if spot is None else spot * hours, tuple(lines), assumed, workload.gpus * hours)


def _assumed_hours(workload: Workload, catalog: Catalog, hours: float | None) -> tuple[float, tuple[str, ...]]:
    """The hours a month's projection uses, and the stated assumption behind them when the manifest alone
    does not say (docs/cost-model.md, *Assumptions*):

    - an **unbounded** job (no deadline, no expected duration) runs ``assumptions.unbounded_run_fraction`` of
      the month (default: all of it), so the headline leaves no spend out;
    - a long-running workload with a **declared idle shutdown** holds its pods ``1 - idle_fraction`` of the
      month (the same idle assumption that prices an idle-shutdown policy's saving).
    """
    a = catalog.assumptions
    if hours is None:
        fraction = a.unbounded_run_fraction
        hours = catalog.hours_per_month * fraction
        return hours, (f"assumed {fraction:.0%} of the month ({hours:g} h): {workload.run_time.reason}; bound "
                       f"it with a deadline or the {EXPECTED_DURATION_ANNOTATION} annotation "
                       f"(assumptions.unbounded_run_fraction)",)
    if workload.run_time.kind is RunKind.CONTINUOUS and workload.idle_timeout_seconds is not None:
        active = 1.0 - a.idle_fraction
        if active < 1.0:
            return hours * active, (f"assumed active {active:.0%} of the month ({hours * active:g} h): idle "
                                    f"shutdown declared (1 - assumptions.idle_fraction)",)
    return hours, ()


def price_pod(role: Role, catalog: Catalog) -> PodPrice | Unpriced:
    """One pod of ``role``: on its instance type(s), else its GPU model, else its CPU/memory requests.

    Pods repeat across a tree (the same instance type, GPUs and capacity), so prices are memoised per
    catalog on what they depend on; the memo is bounded so a long-running webhook cannot grow it forever.
    """
    key = (role.instance_type, role.instance_type_candidates, role.gpus_per_pod, role.gpu_model,
           role.capacity_type, role.cpu_request, role.memory_request_gib, not role.containers, region_of(role))
    memo = catalog.pod_prices
    found = memo.get(key)
    if found is None:
        if len(memo) >= POD_PRICE_MEMO:
            memo.clear()
        found = memo[key] = _price_pod(role, catalog)
    return found


def _price_pod(role: Role, catalog: Catalog) -> PodPrice | Unpriced:
    if role.instance_type or role.instance_type_candidates:
        return _on_instances(role, catalog)
    if role.gpus_per_pod > 0:
        return _by_gpu_model(role, catalog)
    return _by_requests(role, catalog)


def region_of(role: Role) -> str | None:
    """The region the role's pods are pinned to, if any (nodeSelector, required affinity or node labels)."""
    for label in REGION_LABELS:
        region = role.node_selector.get(label)
        if region:
            return region
    return None


def gpu_model_of(role: Role, catalog: Catalog) -> str | None:
    """The role's GPU model: its own, else its instance type's (or the one all its candidates share)."""
    if role.gpu_model:
        found = catalog.gpu_model(role.gpu_model)
        return found[0] if found else role.gpu_model
    names = (role.instance_type,) if role.instance_type else role.instance_type_candidates
    models = {i.gpu_model for n in names
              if (i := catalog.instance_types.get(n) or catalog.unpriced_types.get(n)) is not None}
    return models.pop() if len(models) == 1 else None


def _on_instances(role: Role, catalog: Catalog) -> PodPrice | Unpriced:
    names = (role.instance_type,) if role.instance_type else role.instance_type_candidates
    known = [(n, catalog.instance_types[n]) for n in names if n in catalog.instance_types]
    if not known:
        recognised = [(n, catalog.unpriced_types[n]) for n in names if n in catalog.unpriced_types]
        if recognised:  # known hardware, no published price: said so, never priced from a guess
            n, u = recognised[0]
            gpus = f"{u.gpus:g} {X} {u.gpu_model}" if u.gpu_model else _gpus(u.gpus)
            return Unpriced(f"no published price in the catalog for instance type '{n}' ({gpus}, "
                            f"{u.vcpus:g} vCPU, {u.memory_gib:g} GiB): {u.reason}; add its price under "
                            "instance_types in a --pricing file or import a price file (policy-engine prices import)")
        listed = ", ".join(f"'{n}'" for n in names)
        what = "instance type" if len(names) == 1 else "candidate instance types"
        return Unpriced(f"{what} {listed} not in the pricing catalog; add it under instance_types in a "
                        "--pricing file")
    if role.gpu_model and (same := [k for k in known if _same_model(k[1], role.gpu_model, catalog)]):
        known = same
    fits = [(n, i) for n, i in known if _fits(role, i)]
    if not fits:
        n, i = known[0]
        return Unpriced(f"the pod needs {_gpus(role.gpus_per_pod)}, {role.cpu_request:g} vCPU and "
                        f"{role.memory_request_gib:g} GiB but {n} has {_gpus(i.gpus)}, {i.vcpus:g} vCPU and "
                        f"{i.memory_gib:g} GiB")
    region = region_of(role)
    priced = [_on_instance(role, n, i, region) for n, i in fits]
    best = min(priced, key=lambda p: p.effective)
    if len(names) > 1:
        unknown = [n for n in names if n not in catalog.instance_types and n not in catalog.unpriced_types]
        no_price = [n for n in names if n not in catalog.instance_types and n in catalog.unpriced_types]
        note = f"; cheapest fitting of {len(names)} candidates"
        note += f" (not in catalog: {', '.join(unknown)})" if unknown else ""
        note += f" (no published price: {', '.join(no_price)})" if no_price else ""
        return PodPrice(best.on_demand, best.spot, best.effective, best.basis + note)
    return best


def _on_instance(role: Role, name: str, inst: InstanceType, region: str | None = None) -> PodPrice:
    regional = inst.in_region(region)
    where = ""
    if region is not None and region != inst.region:
        where = (f"; {region} price" if regional is not None else
                 f"; no {region} price in the catalog: priced at {inst.region}, its default region")
    inst = regional or inst
    if role.gpus_per_pod > 0:
        share = role.gpus_per_pod / inst.gpus
        what = f"{name}/{_gpus(inst.gpus)} {X} {_gpus(role.gpus_per_pod)}"
    elif not role.containers and role.cpu_request == 0 and role.memory_request_gib == 0:
        share = 1.0
        what = f"whole {name}"
    else:
        share = max(role.cpu_request / inst.vcpus, role.memory_request_gib / inst.memory_gib)
        what = f"{name} {X} {share:.4g} (dominant share of {inst.vcpus:g} vCPU / {inst.memory_gib:g} GiB)"
    spot = None if inst.spot is None else inst.spot * share
    return _at_capacity(role, inst.on_demand * share, spot, what, inst.on_demand, inst.spot, inst.spot_date, where)


def _by_gpu_model(role: Role, catalog: Catalog) -> PodPrice | Unpriced:
    if not role.gpu_model:
        return Unpriced(f"{_gpus(role.gpus_per_pod)} of unknown model and no instance type; pin one with a "
                        "node selector (node.kubernetes.io/instance-type or an accelerator label such as "
                        "cloud.google.com/gke-accelerator)")
    found = catalog.gpu_model(role.gpu_model)
    if found is None:
        known = catalog.unpriced_gpu_model(role.gpu_model)
        if known is not None:
            return Unpriced(f"no published price in the catalog for GPU model '{known[0]}': {known[1].reason}; "
                            "add it under gpu_models in a --pricing file")
        return Unpriced(f"GPU model '{role.gpu_model}' is not in the pricing catalog; add it under "
                        "gpu_models in a --pricing file")
    key, model = found
    unit = "chip" if model.accelerator == "tpu" else "GPU"
    n = role.gpus_per_pod
    spot = None if model.spot is None else model.spot * n
    what = f"{key} per {unit} {X} {n:g}"
    return _at_capacity(role, model.on_demand * n, spot, what, model.on_demand, model.spot)


def _by_requests(role: Role, catalog: Catalog) -> PodPrice:
    rates = catalog.cpu
    cpu, mem = role.cpu_request, role.memory_request_gib
    on_demand = cpu * rates.vcpu_hour + mem * rates.memory_gib_hour
    spot = None
    if rates.vcpu_hour_spot is not None and rates.memory_gib_hour_spot is not None:
        spot = cpu * rates.vcpu_hour_spot + mem * rates.memory_gib_hour_spot
    if cpu == 0 and mem == 0:
        return PodPrice(0.0, 0.0, 0.0, "no CPU or memory requests (best effort) = $0/h")
    use_spot = role.capacity_type is CapacityType.SPOT and spot is not None
    rate_cpu = rates.vcpu_hour_spot if use_spot else rates.vcpu_hour
    rate_mem = rates.memory_gib_hour_spot if use_spot else rates.memory_gib_hour
    effective = spot if use_spot and spot is not None else on_demand
    what = f"{cpu:g} vCPU {X} ${rate_cpu}/h + {mem:g} GiB {X} ${rate_mem}/h = {_money(effective, 4)}/h"
    return PodPrice(on_demand, spot, effective, what + _capacity_note(role, spot))


def _at_capacity(role: Role, on_demand: float, spot: float | None, what: str, unit_on_demand: float,
                 unit_spot: float | None, spot_date: str | None = None, where: str = "") -> PodPrice:
    use_spot = role.capacity_type is CapacityType.SPOT and spot is not None
    effective = spot if use_spot and spot is not None else on_demand
    unit = unit_spot if use_spot and unit_spot is not None else unit_on_demand
    label = ("spot" + (f" as of {spot_date}" if spot_date else "")) if use_spot else "on-demand"
    basis = f"{what} {X} {_money(unit, 4)}/h {label} = {_money(effective, 4)}/h{where}{_capacity_note(role, spot)}"
    return PodPrice(on_demand, spot, effective, basis)


def _capacity_note(role: Role, spot: float | None) -> str:
    if role.capacity_type is CapacityType.UNKNOWN:
        return "; capacity unknown: priced on-demand"
    if role.capacity_type is CapacityType.SPOT and spot is None:
        return "; no spot price in the catalog: priced on-demand"
    return ""


def _fits(role: Role, inst: InstanceType) -> bool:
    if role.gpus_per_pod > 0:
        return inst.gpus + 1e-9 >= role.gpus_per_pod
    return inst.vcpus + 1e-9 >= role.cpu_request and inst.memory_gib + 1e-9 >= role.memory_request_gib


def _same_model(inst: InstanceType, model: str, catalog: Catalog) -> bool:
    if inst.gpu_model is None:
        return False
    found = catalog.gpu_model(model)
    return (found[0] if found else model).lower() == inst.gpu_model.lower()


def _hours(run_time: RunTime, catalog: Catalog) -> tuple[float | None, str]:
    """Hours the workload's pods run in a month, and how that reads in a breakdown line."""
    if run_time.kind is RunKind.CONTINUOUS:
        return catalog.hours_per_month, f"{catalog.hours_per_month:g} h"
    if run_time.kind is RunKind.UNBOUNDED or run_time.hours_per_run is None:
        return None, ""
    per_run, runs = run_time.hours_per_run, run_time.runs_per_month
    if run_time.kind is RunKind.BOUNDED and runs == 1:
        return per_run, f"{per_run:g} h (one run)"
    return per_run * runs, f"{runs:g} runs {X} {per_run:g} h"


def _gpus(n: float) -> str:
    return f"{n:g} GPU" + ("" if n == 1 else "s")


def _money(value: float, places: int = 2) -> str:
    return f"${value:,.{places}f}"


def model_config(catalog: Catalog) -> ModelConfig:
    """The workload model's settings a catalog implies (its hours per month)."""
    return ModelConfig(hours_per_month=float(catalog.hours_per_month))


def priced_workload(doc: Document, catalog: Catalog, config: ModelConfig | None = None) -> Workload | None:
    """THE document → priced workload path (engine, inspect, cost, the cluster cache): the workload model
    with the catalog's hours per month, then ``price``. None when the document is not a workload;
    ``WorkloadError`` when a field is malformed."""
    config = config or model_config(catalog)
    workload = build_workload(doc, config)
    if workload is not None:
        if workload.kind == "TrainJob":  # its pods come from the runtime it names
            resolve_train_job(workload, config)
        elif workload.kind == "Workspace":
            _kaito_preset(workload, catalog)
        workload.cost = price(workload, catalog)
    return workload


def _kaito_preset(workload: Workload, catalog: Catalog) -> None:
    """A KAITO preset's pod asks for every GPU of its node (the instance type's GPU count, from the
    catalog), in one container with no CPU, memory or memory limit: what the policies and the webhook see."""
    for role in workload.roles:
        inst = catalog.instance_types.get(role.instance_type) if role.instance_type else None
        if role.containers or role.gpus_per_pod or inst is None or not inst.gpus:
            continue
        count = f"{inst.gpus:g}"
        role.gpus_per_pod, role.gpu_resource = float(inst.gpus), "nvidia.com/gpu"
        role.gpu_resources = {"nvidia.com/gpu": float(inst.gpus)}
        role.containers = (Container(workload.name, False, {"nvidia.com/gpu": count}, {"nvidia.com/gpu": count},
                                     ("inference",)),)
        role.provenance["gpus"] = Provenance(("resource", "instanceType"), f"KAITO preset: the {count} GPU(s) of "
                                                                           f"{role.instance_type} (pricing catalog)")


def priced_workloads(
    items: Iterable[Document | LoadError], catalog: Catalog
) -> tuple[list[Workload], list[Diagnostic]]:
    """Every workload of ``items``, modelled and priced, and the located errors of the rest (inspect, cost)."""
    config = model_config(catalog)
    workloads: list[Workload] = []
    errors: list[Diagnostic] = []
    documents: list[Document] = []
    for item in items:
        if not isinstance(item, Document):
            errors.append(item.diagnostic)
        else:
            documents.append(item)
    references = scanned_references(documents)
    if references:  # a TrainJob's runtime, a pod's ResourceClaimTemplate: wherever they are in the set
        config = replace(config, references=references)
    for item in documents:
        try:
            workload = priced_workload(item, catalog, config)
        except WorkloadError as exc:
            errors.append(exc.diagnostic)
            continue
        if workload is not None:
            workloads.append(workload)
    return workloads, errors

