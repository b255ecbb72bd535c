"""docs/cost-model.md's worked examples: each manifest re-priced gives the page's breakdown and monthly figure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from policy_engine.model.build import build_workload
from policy_engine.model.config import ModelConfig
from policy_engine.model.documents import Document, load_paths
from policy_engine.pricing.catalog import load_catalog
from policy_engine.pricing.cost import price

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "cost-model.md"
PATH_LINE = re.compile(r"^(Manifest|Pricing): `([^`]+)`")
MONTHLY = re.compile(r"Monthly: \*\*(.+?)\*\*")
REASON = re.compile(r"^Reason: `(.+)`$")


@dataclass
class Example:
    title: str
    manifest: str
    pricing: str | None
    breakdown: list[str] = field(default_factory=list)
    reason: str | None = None
    monthly: str = ""


def examples() -> list[Example]:
    text = DOC.read_text(encoding="utf-8").split("## Worked examples", 1)[1]
    found: list[Example] = []
    title, pricing, current, in_block = "", None, None, False
    for line in text.splitlines():
        if line.startswith("### "):
            title, pricing, current = line[4:], None, None
        elif line.startswith("```"):
            in_block = not in_block and line.strip() == "```text"
        elif in_block and current is not None:
            current.breakdown.append(line)
        elif m := PATH_LINE.match(line):
            if m.group(1) == "Pricing":
                pricing = m.group(2)
            else:
                current = Example(title, m.group(2), pricing)
        elif current is not None and (m := REASON.match(line)):
            current.reason = m.group(1)
        elif current is not None and (m := MONTHLY.search(line)):
            current.monthly = m.group(1)
            found.append(current)
            current, pricing = None, None
    return found


ALL = examples()


def test_the_page_has_every_kind_of_example() -> None:
    titles = " ".join(e.title for e in ALL).lower()
    for kind in ("spot", "on-demand", "pytorchjob", "cronjob", "mig", "unknown instance", "user catalog", "cpu-only"):
        assert kind in titles, kind
    assert len(ALL) >= 9


@pytest.mark.parametrize("example", ALL, ids=[f"{e.title}:{Path(e.manifest).stem}" for e in ALL])
def test_worked_example_matches_the_engine(example: Example) -> None:
    catalog = load_catalog(str(ROOT / example.pricing) if example.pricing else None)
    config = ModelConfig(hours_per_month=catalog.hours_per_month)
    (doc,) = [d for d in load_paths([str(ROOT / example.manifest)]) if isinstance(d, Document)]
    workload = build_workload(doc, config)
    assert workload is not None
    cost = price(workload, catalog)
    if example.monthly == "not priced":
        assert not cost.priced and cost.monthly is None
        assert cost.unpriced_reason == example.reason
        return
    assert cost.priced and cost.monthly is not None
    assert list(cost.breakdown) == example.breakdown
    assert f"${cost.monthly:,.2f}" == example.monthly
