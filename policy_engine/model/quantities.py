"""Kubernetes quantities and accelerator resource names: how many GPUs one unit of a resource is.

Quantities are parsed here rather than through ``kubernetes.utils`` because importing that module pulls
in the whole generated client (~0.7 s), a cost every CLI run and webhook start would pay.
"""

from __future__ import annotations

import re

from policy_engine.model.config import ModelConfig
from policy_engine.quantity import parse_quantity

__all__ = ["GIB", "gpu_fraction", "parse_quantity"]

GIB = 2**30

_MIG = re.compile(r"^nvidia\.com/mig-(\d+)g\.\d+gb(?:\+me)?$")
#: Accelerator resources whose one unit is one whole device.
WHOLE_DEVICE = frozenset(
    {
        "nvidia.com/gpu",
        "amd.com/gpu",
        "google.com/tpu",
        "aws.amazon.com/neuron",
        "aws.amazon.com/neurondevice",
        "gpu.intel.com/i915",
        "gpu.intel.com/xe",
        "habana.ai/gaudi",
    }
)
#: Resources that sit under an accelerator vendor's domain but count memory or cores, not devices.
NOT_A_DEVICE_COUNT = frozenset(
    {
        "nvidia.com/gpumem",
        "nvidia.com/gpucores",
        "nvidia.com/gpumem-percentage",
        "gpu.intel.com/memory.max",
        "gpu.intel.com/tiles",
    }
)
#: A Trainium/Inferentia2 Neuron device has two NeuronCores.
NEURON_CORES_PER_DEVICE = 2
MIG_SLICES_PER_GPU = 7



def gpu_fraction(resource: str, config: ModelConfig) -> float | None:
    """GPUs one unit of ``resource`` is, or None when it is not an accelerator resource.

    A MIG slice ``nvidia.com/mig-<g>g.<mem>gb`` is g/7 of a GPU (an A100/H100 has seven compute
    slices); a time-sliced ``nvidia.com/gpu.shared`` replica is ``config.shared_gpu_fraction``.
    """
    for name, fraction in config.extra_gpu_resources:
        if name == resource or (name.endswith("*") and resource.startswith(name[:-1])):
            return fraction
    if "/" not in resource:  # cpu, memory, ephemeral-storage: every accelerator below has a domain
        return None
    if resource in NOT_A_DEVICE_COUNT:
        return None
    if resource in WHOLE_DEVICE:
        return 1.0
    if resource == "nvidia.com/gpu.shared":
        return config.shared_gpu_fraction
    mig = _MIG.match(resource)
    if mig:
        return min(int(mig.group(1)), MIG_SLICES_PER_GPU) / MIG_SLICES_PER_GPU
    if resource == "aws.amazon.com/neuroncore":
        return 1.0 / NEURON_CORES_PER_DEVICE
    if resource.startswith("aws.amazon.com/neuron"):
        return 1.0
    if resource == "gpu.intel.com/millicores":
        return 0.001
    return None

