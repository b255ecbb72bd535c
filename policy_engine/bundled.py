"""Where the bundled grammar and policy library are, installed or in a source checkout.

In a wheel they ship as ``policy_engine.grammar`` and ``policy_engine.policies``; in a checkout (or an
editable install, whose import of ``policy_engine`` resolves to the source tree) they are the top-level
``grammar/`` and ``policies/`` folders the design fixes.
"""

from __future__ import annotations

from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _locate(package: str, folder: str) -> Path:
    candidate = _REPO_ROOT / folder
    if candidate.is_dir():
        return candidate
    import importlib.resources  # an installed package only: a checkout needs neither (start-up time)
    import importlib.util

    try:
        # grammar/ and policies/ have no __init__.py: installed, they are namespace packages, whose
        # ``files()`` is a MultiplexedPath (its str() is not a path), so take the spec's directory.
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            return Path(next(iter(spec.submodule_search_locations)))
        return Path(str(importlib.resources.files(package)))
    except ModuleNotFoundError as exc:  # pragma: no cover - a broken install
        raise FileNotFoundError(f"the bundled {folder}/ folder is missing from this installation") from exc


def grammar_path() -> Path:
    return _locate("policy_engine.grammar", "grammar") / "policy.lark"


def bundled_policies_dir() -> Path:
    return _locate("policy_engine.policies", "policies")
