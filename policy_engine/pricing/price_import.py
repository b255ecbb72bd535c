"""``prices import`` as a pure function: files in, catalog YAML text and a report of what was done out.

The output is checked against the catalog schema before it is returned (a full catalog when the base is
one, else a user file for ``--pricing``), so a file this writes always loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.pricing.importers import aws, aws_spot_feed, azure, gcp, gcp_skus, opencost
from policy_engine.pricing.importers.assemble import assemble
from policy_engine.pricing.importers.common import Hardware, Imported, ImportFailure, read_json, read_text

HEADER = """\
# Pricing catalog written by `policy-engine prices import` from the files named under `sources`.
# Every figure carries the file it was read from (source / spot_source) and that file's own date
# (date / spot_date). A type with no spot figure has no spot price: its spot saving is reported unknown.
"""


@dataclass(frozen=True)
class ImportRequest:
    aws: tuple[str, ...] = ()
    aws_spot: tuple[str, ...] = ()
    azure: tuple[str, ...] = ()
    gcp: tuple[str, ...] = ()
    gcp_skus: tuple[str, ...] = ()
    opencost: str | None = None
    base: str | None = None
    only: tuple[str, ...] = ()
    include_cpu: bool = False


@dataclass
class ImportOutcome:
    text: str
    lines: list[str] = field(default_factory=list)
    instance_types: int = 0


def run_import(request: ImportRequest) -> ImportOutcome:
    """Raises ``ImportFailure`` (located diagnostics) for any file that is not in its format."""
    base = _base(request.base)
    imports: list[Imported] = []
    failures: list[Diagnostic] = []
    readers = [(aws.import_offer, request.aws), (_aws_spot, request.aws_spot),
               (azure.import_retail_prices, request.azure),
               (lambda f: gcp.import_price_table(f, include_cpu=request.include_cpu), request.gcp),
               (lambda f: gcp_skus.import_skus(f, _gcp_machines(base)), request.gcp_skus)]
    for reader, files in readers:
        for file in files:
            try:
                imports.append(reader(file))
            except ImportFailure as exc:
                failures.extend(exc.errors)
    if failures:
        raise ImportFailure(failures)
    lines: list[str] = []
    for imported in imports:
        taken = len(imported.rows)
        lines.append(f"{imported.file}: {imported.kind} dated {imported.source.date or '?'}: took {taken} "
                     f"price(s) of {len({r.name for r in imported.rows})} type(s)")
        lines.extend(f"  skipped {n} × {reason}" for reason, n in sorted(imported.skipped.items(), key=lambda i: -i[1]))
        lines.extend(f"  {note}" for note in imported.notes)
        if "modification (download) time" in (imported.source.notes or ""):
            lines.append("  dated by the file's modification time (a copy or checkout resets it): add the time "
                         "it was fetched as a top-level \"fetched_at\" (docs/cost-model.md, 'Dates')")
    assembly = assemble(imports, base, only=request.only, include_cpu=request.include_cpu)
    data = assembly.data
    if request.opencost:
        over = _with_bundled(data) if request.base is None else data
        data, notes = opencost.opencost_catalog(request.opencost, over)
        lines.append(f"{request.opencost}: OpenCost custom pricing: repriced {len(data['instance_types'])} "
                     "instance type(s) from its CPU/RAM/GPU rates")
        lines.extend(f"  {note}" for note in notes)
    for provider, n in sorted(assembly.taken.items()):
        lines.append(f"catalog: {n} {provider} instance type(s) written")
    by_count = sorted(assembly.skipped.items(), key=lambda i: -i[1])
    lines.extend(f"catalog: skipped {n} × {reason}" for reason, n in by_count)
    lines.extend(f"catalog: {note}" for note in assembly.notes)
    if "as_of" not in data:
        data["as_of"] = max((i.source.date for i in imports if i.source.date), default="")
    ordered = _tidy(_ordered(data))
    body = yaml.safe_dump(ordered, sort_keys=False, default_flow_style=None, width=100_000, allow_unicode=True)
    text = (_leading_comments(request.base) or HEADER) + body
    _check(text, full=(request.base is not None and "cpu" in data) or request.opencost is not None)
    return ImportOutcome(text, lines, len(data.get("instance_types") or {}))


def _aws_spot(file: str) -> Imported:
    """``--aws-spot``: the spot price feed (``spot.json``) or describe-spot-price-history output, by its shape."""
    text = read_text(file)
    data = read_json(file, text)
    if aws_spot_feed.is_spot_feed(data):
        return aws_spot_feed.import_spot_feed(file, text, data)
    return aws.import_spot_history(file)


def _base(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    from policy_engine.pricing.catalog_file import parse_catalog_file

    text = read_text(path)
    data, errors, _ = parse_catalog_file(text, path, partial=True)
    if errors:
        raise ImportFailure(errors, {path: text})
    return data


def _leading_comments(path: str | None) -> str:
    """The base catalog's opening comment block, kept at the top of the catalog written over it (in place of
    the generic header: the base says where its own figures, and the imported ones, come from)."""
    if path is None:
        return ""
    lines = []
    for line in read_text(path).splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else ""


def _gcp_machines(base: dict[str, Any] | None) -> dict[str, Hardware]:
    """GCP machine shapes to compose SKU prices into: the base catalog's, else the bundled catalog's (its
    priced types and those it recognises without a price, e.g. a4-highgpu-8g)."""
    data = base if base and base.get("instance_types") else _with_bundled({})
    entries = {**(data.get("unpriced_types") or {}), **(data.get("instance_types") or {})}
    return {name: Hardware(e["vcpus"], e["memory_gib"], e["gpus"], e.get("gpu_model"))
            for name, e in entries.items() if e.get("provider") == "gcp"}


def _with_bundled(data: dict[str, Any]) -> dict[str, Any]:
    from policy_engine.pricing.catalog import catalog_data, default_catalog, merge

    return merge(catalog_data(default_catalog()), data)


_ORDER = ("currency", "as_of", "hours_per_month", "notes", "sources", "cpu", "assumptions", "gpu_models",
          "unpriced_gpu_models", "attached_gpus", "instance_types", "unpriced_types")


def _ordered(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: data[k] for k in _ORDER if k in data and data[k] not in (None, {})}
    out.update({k: v for k, v in data.items() if k not in out and v not in (None, {})})
    return out


def _tidy(value: Any) -> Any:
    """Whole numbers written as integers (``gpus: 8``, not ``8.0``), recursively."""
    if isinstance(value, dict):
        return {k: _tidy(v) for k, v in value.items()}
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return value


def _check(text: str, *, full: bool) -> None:
    from policy_engine.pricing.catalog_file import parse_catalog_file

    _, errors, _ = parse_catalog_file(text, "<prices import output>", partial=not full)
    if errors:  # a bug here, not the user's input: say so with the first problem
        first = errors[0]
        raise ImportFailure([Diagnostic(Span("<prices import output>", first.span.line), "E810",
                                        f"the catalog written would not load: {first.message}")])


def write(outcome: ImportOutcome, out: str) -> None:
    Path(out).write_text(outcome.text, encoding="utf-8")
