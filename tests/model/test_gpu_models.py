"""Provider accelerator label values normalise to the pricing catalog's model keys."""

from __future__ import annotations

import pytest

from policy_engine.model.gpu_models import normalise_gpu_model


@pytest.mark.parametrize(
    ("raw", "model"),
    [
        ("nvidia-tesla-a100", "A100"),
        ("nvidia-a100-80gb", "A100-80GB"),
        ("NVIDIA-A100-SXM4-80GB", "A100-80GB"),
        ("NVIDIA-A100-SXM4-40GB-MIG-1g.5gb", "A100"),
        ("nvidia-l4", "L4"),
        ("l40s", "L40S"),
        ("a10g", "A10G"),
        ("nvidia-tesla-t4", "T4"),
        ("Tesla-V100-SXM2-16GB", "V100"),
        ("Tesla-V100-SXM2-32GB", "V100-32GB"),
        ("nvidia-h100-80gb", "H100"),
        ("nvidia-h100-mega-80gb", "H100"),
        ("NVIDIA-H100-80GB-HBM3", "H100"),
        ("nvidia-h200-141gb", "H200"),
        ("tpu-v5-lite-podslice", "TPU-v5e"),
        ("tpu-v5p-slice", "TPU-v5p"),
        ("tpu-v6e-slice", "TPU-v6e"),
        ("unknown-accelerator", None),
        ("", None),
    ],
)
def test_normalise(raw: str, model: str | None) -> None:
    assert normalise_gpu_model(raw) == model
