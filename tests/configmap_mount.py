"""A ConfigMap volume written out the way the kubelet mounts it, so a test can start the real process on the
files a pod would see (tests/webhook/test_manifests_layout.py, tests/controller/test_manifests_layout.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def mount_configmap(configmap: dict[str, Any], volume: dict[str, Any], mount: Path) -> None:
    """What the kubelet writes for a ConfigMap volume: the files in a timestamped hidden folder, ``..data``
    linking to it, and each top-level entry of the volume a link through ``..data``."""
    data: dict[str, str] = configmap["data"]
    items = volume["configMap"].get("items") or [{"key": k, "path": k} for k in data]
    stamp = mount / "..2026_11_29_22_00_00.000000001"
    for item in items:
        target = stamp / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(data[item["key"]])
    os.symlink(stamp.name, mount / "..data")
    for top in sorted({item["path"].split("/")[0] for item in items}):
        os.symlink(f"..data/{top}", mount / top)
