"""The one table that turns a provider's accelerator label value into the pricing catalog's model key.

Inputs look like ``nvidia-tesla-a100`` (GKE), ``nvidia-h100-80gb``, ``a10g`` (Karpenter),
``NVIDIA-A100-SXM4-80GB`` (GPU feature discovery) or ``tpu-v5-lite-podslice`` (GKE TPU); outputs are the
catalog keys ``A100``, ``A100-80GB``, ``H100``, ``A10G``, ``TPU-v5e``… A value that names no known model
stays unnormalised (``None``) rather than guessed.
"""

from __future__ import annotations

import re

#: Family tokens, longest first so that ``A10G`` wins over ``A10`` and ``L40S`` over ``L40`` and ``L4``.
_NVIDIA_FAMILIES = (
    "GB300",
    "GB200",
    "B300",
    "B200",
    "B100",
    "H200",
    "H100",
    "H20",
    "GH200",
    "A100",
    "A10G",
    "A10",
    "A30",
    "A40",
    "A16",
    "L40S",
    "L40",
    "L4",
    "T4G",
    "T4",
    "V100",
    "P100",
    "P40",
    "P4",
    "K80",
    "M60",
    "RTX6000",
    "RTXPRO6000",
)
_AMD_FAMILIES = ("MI355X", "MI325X", "MI300X", "MI300A", "MI250X", "MI250", "MI210", "MI100")
_TPU = {
    "v4": "TPU-v4",
    "v5-lite": "TPU-v5e",
    "v5e": "TPU-v5e",
    "v5litepod": "TPU-v5e",
    "v5p": "TPU-v5p",
    "v6e": "TPU-v6e",
    "7x": "TPU-v7",
    "v7": "TPU-v7",
    "v3": "TPU-v3",
    "v2": "TPU-v2",
}
_AWS_CHIPS = {
    "inferentia": "Inferentia",
    "inferentia2": "Inferentia2",
    "trainium": "Trainium",
    "trainium2": "Trainium2",
}
_TOKEN_SPLIT = re.compile(r"[-_ .]+")
_MEMORY = re.compile(r"(\d+)GB")


def normalise_gpu_model(raw: str) -> str | None:
    """The catalog key for an accelerator label value, or None when it names no model we know."""
    value = raw.strip()
    if not value:
        return None
    lower = value.lower()
    if lower.startswith("tpu"):
        return _tpu(lower)
    if lower in _AWS_CHIPS:
        return _AWS_CHIPS[lower]
    tokens = [t for t in _TOKEN_SPLIT.split(value.upper()) if t]
    joined = "".join(t for t in tokens if t not in {"NVIDIA", "TESLA", "AMD", "INSTINCT", "GEFORCE"})
    for family in _AMD_FAMILIES:
        if family in tokens or joined.startswith(family):
            return family
    for family in _NVIDIA_FAMILIES:
        if family in tokens:
            return _with_memory(family, value.upper())
    for family in _NVIDIA_FAMILIES:
        if joined.startswith(family):
            return _with_memory(family, value.upper())
    return None


def _with_memory(family: str, upper: str) -> str:
    """The A100 (40/80 GB) and V100 (16/32 GB) are priced apart by size; other models have one size."""
    # MIG profiles name the slice memory (…-MIG-1g.10gb); the card size is the largest figure.
    sizes = [int(m) for m in _MEMORY.findall(upper)]
    if family == "A100" and sizes and max(sizes) >= 80:
        return "A100-80GB"
    if family == "V100" and sizes and max(sizes) >= 32:
        return "V100-32GB"
    if family == "RTXPRO6000":
        return "RTX-PRO-6000"
    return family


def _tpu(lower: str) -> str | None:
    rest = lower[3:].lstrip("-_")
    for key in sorted(_TPU, key=len, reverse=True):
        if rest.startswith(key):
            return _TPU[key]
    return None
