"""How a compiled policy set is shipped to a pod: one ConfigMap, mounted as a folder.

The webhook (``webhook-manifests``) and the controller (``controller-manifests``) ship their policies the
same way, with these functions: every file of the compiled set (imports included) under one root, a
ConfigMap key per file (keys cannot hold ``/``), a volume whose ``items`` put each key back at its path
when the set is nested, and ``--policies`` arguments naming exactly the paths ``check --policies`` was
given, under the mount. So relative imports resolve in the pod as they did for ``check``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policy_engine.errors import ManifestError

POLICY_DIR = "/etc/policy-engine/policies"
CONFIGMAP_LIMIT = 1024 * 1024  # the API server refuses a ConfigMap over 1 MiB


@dataclass(frozen=True, slots=True)
class PolicyLayout:
    """A compiled policy set as the pod sees it: files by their path under ``POLICY_DIR`` (nested folders
    kept, so relative imports resolve as they did for ``check``) and the ``--policies`` arguments that
    name exactly the paths ``check --policies`` was given."""

    files: dict[str, str]  # POSIX path relative to POLICY_DIR -> text
    serve_paths: tuple[str, ...] = (POLICY_DIR,)

    @property
    def nested(self) -> bool:
        return any("/" in path for path in self.files)


_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def configmap_key(path: str) -> str:
    """A ConfigMap key for a nested path (keys cannot hold ``/``); the volume's ``items`` map it back."""
    return path.replace("/", "__")


def policy_layout(given: Sequence[str | Path], sources: Mapping[str, str]) -> PolicyLayout:
    """Lay out a compiled set's files (``CompileResult.sources``: the files discovered under ``given`` and
    every file they import) under one root: the deepest folder holding all of them and the given paths.

    Raises ``ManifestError`` for a set that does not fit a ConfigMap (over 1 MiB, a file name that is
    not a valid key) or names no file.
    """
    if not sources:
        raise ManifestError("no policy files to ship")
    real = {os.path.realpath(f): text for f, text in sources.items()}
    anchors = [os.path.realpath(p) if os.path.isdir(p) else os.path.dirname(os.path.realpath(p)) for p in given]
    root = os.path.commonpath([*anchors, *(os.path.dirname(f) for f in real)])
    files = {Path(os.path.relpath(f, root)).as_posix(): text for f, text in sorted(real.items())}
    serve = tuple(sorted({POLICY_DIR if os.path.realpath(p) == root
                          else f"{POLICY_DIR}/{Path(os.path.relpath(os.path.realpath(p), root)).as_posix()}"
                          for p in given}))
    keys: dict[str, str] = {}
    for path in files:
        key = configmap_key(path)
        if not _KEY.match(key) or any(part.startswith(".") for part in path.split("/")):
            raise ManifestError(f"{path}: a ConfigMap key must be letters, digits, '-', '_' or '.', and a "
                                f"mounted file cannot be hidden; rename the file")
        if key in keys:
            raise ManifestError(f"{path} and {keys[key]} would share the ConfigMap key {key}; rename one")
        keys[key] = path
    size = sum(len(t.encode()) + len(k) for k, t in files.items())
    if size > CONFIGMAP_LIMIT:
        raise ManifestError(f"policies take {size:,} bytes; a ConfigMap holds at most {CONFIGMAP_LIMIT:,}")
    return PolicyLayout(files, serve)


def configmap_data(layout: PolicyLayout) -> dict[str, str]:
    """The ConfigMap's ``data``: one key per file."""
    return {configmap_key(path): text for path, text in sorted(layout.files.items())}


def policies_volume(configmap: str, layout: PolicyLayout | None) -> dict[str, Any]:
    """The ConfigMap as the pod's ``policies`` volume; a nested set lists its files as ``items`` so each
    lands at its path (a flat set needs none)."""
    source: dict[str, Any] = {"name": configmap}
    if layout is not None and layout.nested:
        source["items"] = [{"key": configmap_key(path), "path": path} for path in sorted(layout.files)]
    return {"name": "policies", "configMap": source}


def policies_args(layout: PolicyLayout | None) -> list[str]:
    """``--policies`` arguments for the container: the given paths under the mount."""
    paths = layout.serve_paths if layout is not None else (POLICY_DIR,)
    return [arg for path in paths for arg in ("--policies", path)]
