"""How long a workload runs: all month, one bounded run, N scheduled runs, or unbounded (said so).

Rules (docs/workloads.md restates them):
- long-running kinds run ``hours_per_month`` (730 by default, the pricing catalog may say otherwise);
- a job's run is bounded by its deadline (``activeDeadlineSeconds`` and the CRD equivalents bound the
  WHOLE job, every wave of completions included, so waves never multiply it) or by the annotation
  ``policy-engine.io/expected-duration``; with both, the smaller wins (a job cannot outlive its deadline);
- a scheduled kind runs (a reference year's runs / 12: a 30.4-day month on average)
  x its per-run bound;
- a job with no bound is UNBOUNDED with the reason, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from policy_engine.model import fields
from policy_engine.model.config import ModelConfig
from policy_engine.model.cron import is_cron, runs_per_year
from policy_engine.model.documents import Document, FieldPath
from policy_engine.model.field_errors import dotted, field_error
from policy_engine.model.workload import Provenance, RunKind, RunTime

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

EXPECTED_DURATION_ANNOTATION = "policy-engine.io/expected-duration"
IDLE_TIMEOUT_ANNOTATION = "policy-engine.io/idle-timeout"
REFERENCE_MONTH_DAYS = 30.4
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_EVERY = re.compile(r"^@every\s+(.+)$")


def parse_duration(text: str) -> float | None:
    """Seconds in ``6h``, ``1h30m``, ``90s``, ``2d``, or a bare number of seconds; None if malformed."""
    value = text.strip()
    if not value:
        return None
    try:
        return float(value) if float(value) >= 0 else None
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(value):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    return total if pos == len(value) else None


def annotation_seconds(
    doc: Document, annotations_path: FieldPath, name: str
) -> tuple[float, FieldPath] | None:
    """A duration annotation as seconds, or a located error when it is malformed."""
    raw = fields.get(doc.obj, (*annotations_path, name))
    if raw is None:
        return None
    path = (*annotations_path, name)
    seconds = parse_duration(str(raw))
    if seconds is None:
        raise field_error(doc, path, "E705", f"{raw!r} is not a duration (e.g. 6h, 90m, 1h30m)")
    return seconds, path


def continuous(config: ModelConfig, why: str) -> RunTime:
    return RunTime(RunKind.CONTINUOUS, config.hours_per_month, 1.0, why, None)


def per_run_bound(
    doc: Document, deadline_paths: Sequence[FieldPath], annotation_paths: Sequence[FieldPath]
) -> tuple[float | None, str, Provenance | None]:
    """Hours one run takes at most: min(first deadline present, expected-duration annotation)."""
    deadline: tuple[float, FieldPath] | None = None
    for path in deadline_paths:
        seconds = fields.number(doc, path)
        if seconds is not None:
            deadline = (seconds, path)
            break
    expected: tuple[float, FieldPath] | None = None
    for path in annotation_paths:
        expected = annotation_seconds(doc, path, EXPECTED_DURATION_ANNOTATION)
        if expected is not None:
            break
    if deadline is None and expected is None:
        return None, "", None
    if expected is not None and (deadline is None or expected[0] <= deadline[0]):
        seconds, path = expected
        why = f"declared {EXPECTED_DURATION_ANNOTATION} of {_hours(seconds)}"
        if deadline is not None:
            why += f" (within the {dotted(deadline[1])} deadline of {_hours(deadline[0])})"
    else:
        assert deadline is not None
        seconds, path = deadline
        why = f"bounded by {dotted(path)} = {seconds:g}s ({_hours(seconds)}), the deadline of the whole job"
    return seconds / 3600.0, why, Provenance(path, "")


def bounded_job(
    doc: Document, deadline_paths: Sequence[FieldPath], annotation_paths: Sequence[FieldPath]
) -> RunTime:
    hours, why, provenance = per_run_bound(doc, deadline_paths, annotation_paths)
    if hours is None:
        fields_named = ", ".join(dotted(p) for p in deadline_paths) or "no deadline field"
        return RunTime(
            RunKind.UNBOUNDED,
            None,
            1.0,
            f"unbounded: no deadline ({fields_named}) and no {EXPECTED_DURATION_ANNOTATION} annotation",
        )
    return RunTime(RunKind.BOUNDED, hours, 1.0, f"one run, {why}", provenance)


def scheduled(
    doc: Document,
    schedule_paths: Sequence[FieldPath],
    timezone_path: FieldPath | None,
    deadline_paths: Sequence[FieldPath],
    annotation_paths: Sequence[FieldPath],
) -> RunTime:
    runs = 0.0
    described: list[str] = []
    tz = _timezone(doc, timezone_path)
    first_path: FieldPath | None = None
    for path in schedule_paths:
        value = fields.get(doc.obj, path)
        for i, schedule in enumerate(
            value if isinstance(value, list) else [value] if value is not None else []
        ):
            where = (*path, i) if isinstance(value, list) else path
            first_path = first_path or where
            runs += runs_per_month(doc, where, str(schedule), tz)
            described.append(str(schedule))
    if first_path is None:
        raise field_error(doc, schedule_paths[0], "E706", "a scheduled workload needs a schedule")
    hours, why, provenance = per_run_bound(doc, deadline_paths, annotation_paths)
    runs_text = f"{runs:g} runs per {REFERENCE_MONTH_DAYS}-day month from schedule {', '.join(described)}"
    if hours is None:
        return RunTime(
            RunKind.UNBOUNDED,
            None,
            runs,
            f"unbounded: {runs_text}, but no per-run deadline or {EXPECTED_DURATION_ANNOTATION}",
            Provenance(first_path),
        )
    return RunTime(
        RunKind.SCHEDULED, hours, runs, f"{runs_text}, each {why}", provenance or Provenance(first_path)
    )


def runs_per_month(doc: Document, path: FieldPath, schedule: str, tz: ZoneInfo | None) -> float:
    """Runs of a cron schedule in the reference month (``@daily``, ``CRON_TZ=…``, ``@every 2h``)."""
    text = schedule.strip()
    for prefix in ("CRON_TZ=", "TZ="):
        if text.startswith(prefix):
            zone, _, text = text.partition(" ")
            tz = _zone(doc, path, zone[len(prefix) :])
            text = text.strip()
    every = _EVERY.match(text)
    if every:
        seconds = parse_duration(every.group(1))
        if not seconds:
            raise field_error(
                doc, path, "E706", f"{schedule!r}: @every needs a positive duration"
            )
        return REFERENCE_MONTH_DAYS * 86400 / seconds
    if not is_cron(text):
        raise field_error(doc, path, "E706", f"{schedule!r} is not a cron schedule")
    return runs_per_year(text, tz) / 12.0


def _timezone(doc: Document, path: FieldPath | None) -> ZoneInfo | None:
    if path is None:
        return None
    value = fields.get(doc.obj, path)
    return None if value in (None, "") else _zone(doc, path, str(value))


def _zone(doc: Document, path: FieldPath, name: str) -> ZoneInfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # ~2 ms of start-up: only a time zone set pays

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise field_error(doc, path, "E707", f"{name!r} is not an IANA time zone") from None


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:g}h"
