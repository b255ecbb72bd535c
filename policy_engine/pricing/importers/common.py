"""What every price importer returns, and the located errors they raise.

An importer reads one file a user downloaded from a provider (nothing here touches the network) and
returns an ``Imported``: price rows keyed as the bundled catalog is, the file's own date, and a count of
what it skipped and why. A file that is not in the expected format at all is an error located at the file
and line (``ImportFailure``, exit 2); a row that is merely not a price we want (a Windows licence, a
reserved term, a dedicated host) is skipped and counted, never silently dropped.
"""

from __future__ import annotations

import datetime
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.errors import DiagnosticError

#: Each provider's reference region: an imported type's price there becomes its entry's default.
DEFAULT_REGIONS = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}


@dataclass(frozen=True, slots=True)
class Hardware:
    vcpus: float
    memory_gib: float
    gpus: float
    gpu_model: str | None = None


@dataclass(frozen=True, slots=True)
class PriceRow:
    """One machine type's price in one region, from one file."""

    provider: str
    name: str
    region: str
    source: str
    date: str
    on_demand: float | None = None
    spot: float | None = None
    hardware: Hardware | None = None
    notes: str | None = None


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """The ``sources`` entry an import adds: the file, its date and what it is."""

    key: str
    url: str
    date: str
    region: str | None = None
    notes: str | None = None


@dataclass
class Imported:
    file: str
    kind: str
    source: SourceInfo
    rows: list[PriceRow] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    #: Whole-catalog fields (OpenCost custom pricing: the CPU and memory rates).
    cpu: dict[str, Any] | None = None
    gpu_rate: tuple[float, float | None] | None = None
    #: ``attached_gpus`` entries the file determines (GCP: solved from a price table), by GKE label.
    attached: dict[str, Any] = field(default_factory=dict)
    #: ``gpu_models`` entries the file prices directly (Cloud TPU per chip-hour), by model key.
    gpu_models: dict[str, Any] = field(default_factory=dict)
    #: What the file could not give and why (said in the import report under the file's line).
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n


class ImportFailure(DiagnosticError):
    """A file that is not what its option says it is; every problem located at its file and line."""


def fail(file: str, line: int, message: str, hint: str | None = None, column: int = 1) -> ImportFailure:
    return ImportFailure([Diagnostic(Span(file, line, column), "E809", message, hint=hint)])


def read_text(file: str) -> str:
    try:
        return Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailure([Diagnostic(Span(file, 1), "E401", f"cannot read the file: {exc}")]) from exc


def read_json(file: str, text: str | None = None) -> Any:
    text = read_text(file) if text is None else text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(file, exc.lineno, f"not JSON: {exc.msg}", column=exc.colno) from exc


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first occurrence of ``needle`` (a JSON key or value), or 1."""
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


def number(value: Any) -> float | None:
    """A price or size as the providers write it (``"1.0060000000"``, ``"16 GiB"``, ``4``), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(",", "").split(" ")[0]
        try:
            return float(text)
        except ValueError:
            return None
    return None


def iso_date(value: str) -> str:
    """``2025-11-20T18:07:32Z`` → ``2025-11-20``; a date string is kept as it is."""
    return value[:10]


def file_date(file: str) -> str:
    """The file's modification date (UTC): the download date, for formats that carry no date of their own."""
    stamp = os.stat(file).st_mtime
    return datetime.datetime.fromtimestamp(stamp, tz=datetime.UTC).date().isoformat()


def fetched_date(file: str, text: str, data: Any, what: str) -> tuple[str, str]:
    """The one way an undated format is dated: ``(YYYY-MM-DD, how)``.

    The AWS spot feed, Azure Retail Prices pages and Cloud Billing SKU pages carry no date of their own. A
    saved file is dated by its top-level ``fetched_at`` (an ISO date or date-time the saver adds, e.g.
    ``jq '. + {fetched_at: (now | todate)}' page.json``), so the date travels with the file through copies
    and checkouts; without one, by the file's modification time (``curl -o`` sets it to the download time),
    which a copy or checkout resets, and the ``how`` says so.
    """
    fetched = data.get("fetched_at") if isinstance(data, dict) else None
    if fetched is None:
        return file_date(file), (f"the file's modification (download) time: {what} carries no date "
                                 "(add a top-level fetched_at)")
    try:
        when = datetime.datetime.fromisoformat(str(fetched).replace("Z", "+00:00"))
    except ValueError as exc:
        raise fail(file, line_of(text, '"fetched_at"'), f"fetched_at {fetched!r} is not an ISO date or date-time",
                   hint="e.g. 2026-08-10T06:54:02Z or 2026-08-10") from exc
    return when.date().isoformat(), f"its fetched_at {fetched}"


def rounded(value: float) -> float:
    """Prices keep the providers' precision but not binary noise (0.1 + 0.2)."""
    return round(value, 8)
