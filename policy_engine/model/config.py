"""Knobs of the workload model that a deployment may change (extra accelerator resource names, hours)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import TYPE_CHECKING

from policy_engine.records import frozen_record

if TYPE_CHECKING:
    from policy_engine.model.documents import Document

#: Hours in the reference month (365 x 24 / 12); the pricing catalog may declare its own.
HOURS_PER_MONTH = 730.0
#: A time-sliced ``nvidia.com/gpu.shared`` replica counts as this fraction of a GPU unless configured:
#: the NVIDIA device plugin's sharing examples advertise each GPU as 4 replicas.
DEFAULT_SHARED_GPU_FRACTION = 0.25


@frozen_record
class ModelConfig:
    """``extra_gpu_resources`` maps a resource name (or a prefix ending in ``*``) to the GPUs one unit is."""

    extra_gpu_resources: tuple[tuple[str, float], ...] = ()
    shared_gpu_fraction: float = DEFAULT_SHARED_GPU_FRACTION
    hours_per_month: float = HOURS_PER_MONTH
    #: The documents of the scanned set that workloads name — Kubeflow Trainer runtimes (the bundled
    #: upstream ones are looked up after these), ResourceClaimTemplates — by (kind, name, namespace)
    #: (``references.py``).
    references: Mapping[tuple[str, str, str], Document] = field(default_factory=dict)


DEFAULT_CONFIG = ModelConfig()
