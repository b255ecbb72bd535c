"""Every ``<!-- example: … -->`` of docs/language.md: its policy, run over its manifest, finds exactly what
the page says it finds (one line per finding: policy, resource, message)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policy_engine.compiler import compile_text
from policy_engine.engine import Engine
from policy_engine.model.documents import load_paths
from policy_engine.pricing.catalog import load_catalog

ROOT = Path(__file__).resolve().parent.parent.parent
DOC = (ROOT / "docs" / "language.md").read_text()
EXAMPLES = re.findall(r"<!-- example: ([\w-]+) -->\n```\n(.*?)```\n\n```yaml\n(.*?)```\n\n```text\n(.*?)```", DOC,
                      re.DOTALL)


def test_the_page_has_its_examples() -> None:
    assert {name for name, *_ in EXAMPLES} >= {"quantifiers", "quantities", "any-kind", "pod-specs", "cel"}


@pytest.mark.parametrize(("name", "policy", "manifest", "expected"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_example_output(name: str, policy: str, manifest: str, expected: str, tmp_path: Path) -> None:
    compiled = compile_text(policy, f"{name}.policy")
    assert compiled.policy_set is not None, [d.headline() for d in compiled.diagnostics]
    path = tmp_path / f"{name}.yaml"
    path.write_text(manifest)
    result = Engine(compiled.policy_set, load_catalog()).evaluate(load_paths([str(path)]))
    lines = []
    for f in result.findings:
        namespace = f"{f.resource.namespace}/" if f.resource.namespace else ""
        lines.append(f"{f.policy}: {f.resource.kind} {namespace}{f.resource.name}: {f.message}")
    assert lines == expected.strip().splitlines()
