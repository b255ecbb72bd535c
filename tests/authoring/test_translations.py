"""Everyday policies of Kyverno's, Gatekeeper's and Polaris' public libraries, translated natively, give the
same verdicts on test resources in the style of their published ones; and explain's interpreter agrees
with the compiled closures on every one of them (quantifiers, containers, quantities, any kind)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from policy_engine.authoring.explain import explain
from policy_engine.authoring.testing import run_tests

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "tests" / "fixtures" / "translations"
LIBRARIES = sorted(p.name for p in TRANSLATIONS.iterdir() if p.is_dir())


@pytest.mark.parametrize("library", LIBRARIES)
def test_translations_give_the_published_verdicts(library: str) -> None:
    result = run_tests([str(TRANSLATIONS / library)])
    assert result.all_errors == []
    cases = sum(len(yaml.safe_load(p.read_text())["cases"]) for p in (TRANSLATIONS / library).glob("*.test.yaml"))
    assert (result.passed, result.failed) == (cases, 0)


def _suites() -> list[tuple[Path, str]]:
    out = []
    bundled = sorted((ROOT / "policies" / "tests").rglob("*.test.yaml"))
    for test in [*sorted(TRANSLATIONS.rglob("*.test.yaml")), *bundled]:
        suite = yaml.safe_load(test.read_text())
        if not all(isinstance(r, str) for r in suite["resources"]):
            continue  # inline resources: covered by the test runner itself
        for policy in dict.fromkeys(c["policy"] for c in suite["cases"]):
            out.append((test, policy))
    return out


@pytest.mark.parametrize(("test", "policy"), _suites(), ids=lambda x: x if isinstance(x, str) else x.parent.name)
def test_explain_agrees_with_the_compiled_policy(test: Path, policy: str) -> None:
    suite = yaml.safe_load(test.read_text())
    policies = [str((test.parent / p).resolve()) for p in suite["policies"]]
    manifests = [str(test.parent / r) for r in suite["resources"]]
    explained = explain(manifests, policy, policies)
    assert explained.errors == []
    assert explained.agrees, [w.resource for w in explained.workloads if w.trace and not w.trace.agrees]
