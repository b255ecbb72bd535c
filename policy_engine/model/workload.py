"""The workload model: what any pod-controller or AI CRD will run, normalised into one shape.

Policies, the cost model, ``inspect``, ``explain`` and the webhook all read these types, never raw
manifests (except through the policy language's explicit ``object.…`` escape hatch). Instances are
built by ``policy_engine.model.build`` and priced by ``policy_engine.pricing``.
"""

from __future__ import annotations

from dataclasses import field
from decimal import Decimal
from enum import Enum
from typing import Any

from policy_engine.model.documents import Document, FieldPath
from policy_engine.records import frozen_record, record


class CapacityType(str, Enum):
    SPOT = "spot"
    ON_DEMAND = "on-demand"
    UNKNOWN = "unknown"


class RunKind(str, Enum):
    CONTINUOUS = "continuous"  # long-running kinds: run all period
    BOUNDED = "bounded"  # a job with a deadline or a declared expected duration
    SCHEDULED = "scheduled"  # runs on a schedule (CronJob, CronWorkflow): runs per period × per-run bound
    UNBOUNDED = "unbounded"  # a job with no bound: said so, never guessed


@frozen_record
class Provenance:
    """Where a fact came from, for ``explain`` and for locating findings."""

    path: FieldPath
    note: str = ""

    def describe(self, doc: Document | None) -> str:
        dotted = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in self.path).replace(".[", "[")
        where = f"{dotted}" + (f" {self.note}" if self.note else "")
        if doc is not None and doc.node is not None:
            where += f", line {doc.line_of(self.path)}"
        return where




@record
class Container:
    """One container as the model read it; read only (not frozen only because a frozen dataclass costs
    three times as much to build, and a pod may have 20,000 containers)."""

    name: str
    init: bool
    requests: dict[str, str]
    limits: dict[str, str]
    path: FieldPath = ()  # where the container sits inside the object
    raw: dict[str, Any] | None = None  # the mapping at ``path`` (None when there is none), as written


@record
class Role:
    """One kind of pod a workload runs (PyTorchJob Master/Worker, Ray head/worker group, KServe predictor…)."""

    name: str
    replicas: int
    min_replicas: int | None = None
    max_replicas: int | None = None
    gpus_per_pod: float = 0.0  # whole GPUs; a MIG slice or shared GPU counts as its fraction
    gpu_resource: str | None = None  # e.g. "nvidia.com/gpu", "nvidia.com/mig-1g.5gb"
    gpu_resources: dict[str, float] = field(default_factory=dict)  # every accelerator resource, raw count
    gpu_model: str | None = None
    instance_type: str | None = None
    instance_type_candidates: tuple[str, ...] = ()  # from an `In` affinity with several values
    capacity_type: CapacityType = CapacityType.UNKNOWN
    cpu_request: float = 0.0  # cores per pod (max(init), Σ containers — the scheduler's effective request)
    memory_request_gib: float = 0.0  # GiB per pod
    containers: tuple[Container, ...] = ()
    pod_labels: dict[str, str] = field(default_factory=dict)  # what this role's pods carry
    pod_annotations: dict[str, str] = field(default_factory=dict)
    labels_path: FieldPath = ("metadata", "labels")  # where a label goes for every pod of the role to carry it
    annotations_path: FieldPath = ("metadata", "annotations")
    #: When no field of the object puts a label on these pods (the controller sets their metadata itself):
    #: how one can get there, for the finding's fix (``labels_path`` then names the namespace).
    labels_note: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    template_path: FieldPath = ()  # path of the pod template (or pod spec holder) inside the object
    spec_path: FieldPath = ()  # path of the pod spec (containers, volumes, tolerations) inside the object
    provenance: dict[str, Provenance] = field(default_factory=dict)  # attribute name -> where it came from
    #: ResourceClaimTemplates the pods' DRA ``resourceClaims`` name (their GPUs count: ``model/dra.py``).
    claim_templates: tuple[str, ...] = ()
    #: The quantity strings of the containers' requests and limits, each parsed once by the model: what
    #: policies reading ``c.requests.cpu`` take rather than parse again (read only).
    quantities: dict[str, Decimal] = field(default_factory=dict)


@frozen_record
class RunTime:
    """How long a workload runs, per run and per month; ``reason`` explains the figure in words."""

    kind: RunKind
    hours_per_run: float | None  # None when unbounded; for continuous kinds: hours per month
    runs_per_month: float  # 1 for continuous and for a single bounded job; from the schedule for cron kinds
    reason: str
    provenance: Provenance | None = None

    @property
    def hours_per_month(self) -> float | None:
        """Hours the workload's pods run in a month (one run for a one-off job)."""
        if self.hours_per_run is None:
            return None
        return self.hours_per_run * self.runs_per_month




@frozen_record
class Cost:
    """A priced workload. ``priced`` is False with a reason when any role could not be priced — never $0."""

    priced: bool
    hourly: float | None  # all roles, all replicas running, per hour
    monthly: float | None  # hourly × hours in the month (one bounded run for one-off jobs)
    currency: str = "USD"
    unpriced_reason: str | None = None
    on_demand_monthly: float | None = None  # the same workload at on-demand prices (for spot savings)
    spot_monthly: float | None = None  # the same workload at spot prices, where the catalog knows them
    breakdown: tuple[str, ...] = ()  # the arithmetic, one line per role, for explain and docs
    #: The stated assumptions the projection used (an unbounded job's run time, a declared idle shutdown),
    #: in words naming the catalog setting; empty when the figure rests on the manifest alone.
    assumptions: tuple[str, ...] = ()
    gpu_hours: float | None = None  # projected GPU-hours per month under those assumptions




@frozen_record
class Admission:
    """What an admission request says beyond the object: the operation, the old object, who asks."""

    operation: str  # CREATE, UPDATE, ...
    old_object: dict[str, Any] | None
    user: str
    groups: tuple[str, ...]


@record
class Workload:
    """A document normalised into what it will run. ``cost`` is filled in by the pricing step."""

    kind: str
    api_version: str
    name: str
    namespace: str | None
    doc: Document
    roles: list[Role]
    labels: dict[str, str]  # what rules and cost allocation read: the labels every pod it runs carries
    annotations: dict[str, str]  # the annotations every pod it runs carries
    object_labels: dict[str, str]  # metadata.labels of the object itself
    pod_labels: dict[str, str]  # the same as ``labels`` (kept for the policy attribute of that name)
    run_time: RunTime
    idle_timeout_seconds: float | None = None  # declared idle shutdown (annotation, minReplicas 0, culling)
    idle_provenance: Provenance | None = None
    priority_class: str | None = None
    cost: Cost | None = None
    provenance: dict[str, Provenance] = field(default_factory=dict)
    admission: Admission | None = None  # set by the webhook; None in CI and audit
    #: The run-time bound the objects its controller creates carry, where it is not the workload's own: a
    #: Katib trial's job carries its trial spec's deadline, never the Experiment's expected-duration
    #: annotation. A deadline rule judges this (what admission of those objects will see); cost keeps
    #: ``run_time``. None: the same as ``run_time``.
    admitted_run_time: RunTime | None = None
    #: The kind of the object its controller creates where admission judges that object under another
    #: kind's rules than the workload's own: a KAITO tuning Workspace runs a ``Job``. A rule that matches
    #: that kind matches the workload too, so CI fails where the cluster would deny the created object.
    creates: str | None = None

    @property
    def file(self) -> str:
        return self.doc.file

    @property
    def line(self) -> int:
        return self.doc.line

    @property
    def obj(self) -> dict[str, Any]:
        return self.doc.obj

    @property
    def gpus(self) -> float:
        """GPUs held when all pods run: Σ roles replicas × GPUs per pod (read several times per workload)."""
        roles = self.roles
        if len(roles) == 1:  # (most workloads) the sum of one, as ``sum`` makes it (from 0)
            role = roles[0]
            return 0 + role.replicas * role.gpus_per_pod
        return sum(r.replicas * r.gpus_per_pod for r in roles)

    @property
    def gpu_hours_per_month(self) -> float | None:
        hours = self.run_time.hours_per_month
        return None if hours is None else self.gpus * hours

    def ref(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {ns}{self.name}"
