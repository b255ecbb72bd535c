"""The bundled catalog is what `make catalog` writes: `prices import` over the base catalog and the
provider-format excerpts — so every AWS, GCP and Azure figure in it was read from a file with the file's own date."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policy_engine.pricing.catalog import bundled_catalog_path
from policy_engine.pricing.price_import import ImportRequest, run_import

ROOT = Path(__file__).resolve().parents[2]
EXCERPTS = ROOT / "policy_engine" / "pricing" / "excerpts"


def _make_target() -> ImportRequest:
    """The inputs the Makefile's `catalog` target names (one list of them: the Makefile's)."""
    recipe = (ROOT / "Makefile").read_text(encoding="utf-8").split("\ncatalog:", 1)[1].split("\n\n", 1)[0]
    recipe = recipe.replace("\\\n", " ").replace("$(EXCERPTS)", "policy_engine/pricing/excerpts")
    options: dict[str, list[str]] = {}
    for option, value in re.findall(r"--([a-z-]+) (\S+)", recipe):
        options.setdefault(option.replace("-", "_"), []).append(value)
    assert {"base", "aws", "gcp", "azure", "aws_spot", "out"} <= set(options), recipe
    files = {"aws", "aws_spot", "azure", "gcp", "gcp_skus"}
    assert set(options) <= files | {"base", "out"}, options  # every option the recipe gives is one read here
    return ImportRequest(base=options["base"][0], aws=tuple(options.get("aws", ())),
                         aws_spot=tuple(options.get("aws_spot", ())), azure=tuple(options.get("azure", ())),
                         gcp=tuple(options.get("gcp", ())), gcp_skus=tuple(options.get("gcp_skus", ())))


def test_the_bundled_catalog_is_exactly_what_the_import_of_the_excerpts_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the sources' urls are the paths as `make catalog` gives them, from the top
    outcome = run_import(_make_target())
    assert outcome.text == bundled_catalog_path().read_text(encoding="utf-8"), (
        "policy_engine/pricing/catalog.yaml is stale: run `make catalog`")
    report = "\n".join(outcome.lines)
    assert "aws offer dated 2026-01-19: took 55 price(s) of 55 type(s)" in report
    assert "gcp price table dated 2026-02-12: took 28 price(s) of 22 type(s)" in report
    assert "aws spot feed dated 2026-08-10: took 86 price(s) of 86 type(s)" in report
    assert "azure retail prices dated 2023-12-18: took 23 price(s) of 23 type(s)" in report
    assert "azure retail prices dated 2026-09-06: took 8 price(s) of 4 type(s)" in report
    assert "Standard_NC40ads_H100_v5: priced by the import (was listed unpriced in the base catalog)" in report


def test_every_excerpt_is_named_by_the_makefile_and_described_in_the_readme() -> None:
    readme = (EXCERPTS / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for path in EXCERPTS.iterdir():
        if path.name != "README.md":
            assert path.name in readme and path.name in makefile, path.name
