"""An audit as PolicyReports: one per namespace and one cluster-wide, written in place, never duplicated.

The results are the ``policyreport`` reporter's (the same entries ``check --format policyreport`` prints:
``pass``/``fail``/``warn``/``error`` with severity, message and the monthly cost and saving in
properties), plus ``skip`` results for what was not judged (an exemption, or an idle rule without data)
— a skip replaces the pass of the same (policy, resource). The ClusterPolicyReport is always written and
carries quota and budget findings (about a group across namespaces, e.g. ``team=nlp``). Each report is
written with server-side apply under a fixed name (``reports.name``), so a cycle updates it in place; a
report whose content did not change is not written again; a namespace that no longer has results loses
its report, and a deleted namespace takes its report with it (the API server deletes namespaced objects
with their namespace).

A namespace with more than ``max_results`` results (``reports.max_results``) gets several reports, as
Kyverno splits its own past a result count: an object must stay under the API server's size limit (about
1.5 MiB in etcd; a result is a few hundred bytes). The first part keeps the plain name, the next are
``NAME-2``, ``NAME-3``…; results are sorted, so each part holds a stable slice and is written in place, and a
part no longer needed (the namespace shrank) is deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from policy_engine.controller.audit import Audit, Skip
from policy_engine.controller.kube import Kube
from policy_engine.engine.findings import Finding, ResourceRef, Result
from policy_engine.jsonlog import FIELDS
from policy_engine.reporters import policyreport
from policy_engine.reporters.context import TOOL_NAME, ReportContext

LOG = logging.getLogger("policy_engine.controller")
MANAGED = f"app.kubernetes.io/managed-by={TOOL_NAME}"
APIS = {
    "wgpolicyk8s.io": ("wgpolicyk8s.io", "v1alpha2", "PolicyReport", "policyreports", "ClusterPolicyReport",
                       "clusterpolicyreports"),
    "openreports.io": ("openreports.io", "v1alpha1", "Report", "reports", "ClusterReport", "clusterreports"),
}


DEFAULT_MAX_RESULTS = 1000  # ~0.5 MiB of results per report, a third of the API server's limit


def part_name(name: str, part: int) -> str:
    """The name of a namespace's ``part``-th report (1-based): the first keeps the configured name."""
    return name if part == 1 else f"{name}-{part}"


def build(audit: Audit, name: str, api: str = "wgpolicyk8s.io", max_results: int = DEFAULT_MAX_RESULTS,
          actuals: Mapping[tuple[str, str, str], Mapping[str, str]] | None = None) -> Iterator[dict[str, Any]]:
    """The reports, one namespace at a time (the cluster-wide one first): a cycle over a large cluster
    holds one namespace's results in memory, not the whole cluster's. A namespace (or the cluster) with
    more than ``max_results`` results gets one report per ``max_results`` of them (``part_name``).
    ``actuals`` (``controller/actual.py``): properties added to every result about a (kind, namespace, name)."""
    group, version, kind, _, cluster_kind, _ = APIS[api]
    skipped = {(s.policy, s.resource) for s in audit.skips}
    result = audit.result
    findings: dict[str | None, list[Finding]] = defaultdict(list)
    evaluated: dict[str | None, list[tuple[str, ResourceRef]]] = defaultdict(list)
    skips: dict[str | None, list[Skip]] = defaultdict(list)
    for f in result.findings:
        findings[f.resource.namespace].append(f)
    for policy, ref in result.evaluations:
        if (policy, ref) not in skipped:
            evaluated[ref.namespace].append((policy, ref))
    for skip in audit.skips:
        skips[skip.resource.namespace].append(skip)
    ctx = ReportContext(generated_at=None)
    namespaces = set(findings) | set(evaluated) | set(skips) | {None}
    for ns in sorted(namespaces, key=lambda n: (n is not None, n or "")):
        view = Result(findings=findings.pop(ns, []), evaluations=evaluated.pop(ns, []))
        made = policyreport.reports(view, ctx)
        results = made[0]["results"] if made else []
        if ns is None:
            results.extend(_group_results(result.findings, ctx))
        results.extend(_skip(s) for s in skips.pop(ns, ()))
        results.sort(key=lambda r: (r["policy"], r["resources"][0]["kind"], r["resources"][0]["name"], r["rule"]))
        if actuals:
            for r in results:
                res = r["resources"][0]
                extra = actuals.get((res["kind"], res.get("namespace") or "", res["name"]))
                if extra:
                    r["properties"] = {**(r.get("properties") or {}), **extra}
        for part, start in enumerate(range(0, max(len(results), 1), max_results), start=1):
            chunk = results[start : start + max_results]
            meta: dict[str, Any] = {"name": part_name(name, part),
                                    "labels": {"app.kubernetes.io/managed-by": TOOL_NAME}}
            if ns:
                meta["namespace"] = ns
            summary = {k: sum(1 for r in chunk if r["result"] == k) for k in ("pass", "fail", "warn", "error", "skip")}
            yield {"apiVersion": f"{group}/{version}", "kind": kind if ns else cluster_kind, "metadata": meta,
                   "summary": summary, "results": chunk}


def _group_results(all_findings: Iterable[Finding], ctx: ReportContext) -> list[dict[str, Any]]:
    """Quota and budget findings are about a group across namespaces (``team=nlp``): the cluster report
    carries each once more, as a cluster-wide result naming the workloads that take the group over."""
    grouped = [f for f in all_findings if f.group]
    if not grouped:
        return []
    lifted = [replace(f, resource=replace(f.resource, namespace=None)) for f in grouped]
    made = policyreport.reports(Result(findings=lifted), ctx)
    entries: list[dict[str, Any]] = made[0]["results"] if made else []
    for entry, f in zip(entries, grouped, strict=True):  # the reporter keeps the findings' order
        if f.resource.namespace:
            entry["resources"][0]["namespace"] = f.resource.namespace
    return entries


def _skip(skip: Skip) -> dict[str, Any]:
    ref = skip.resource
    resource: dict[str, Any] = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
    if ref.namespace:
        resource["namespace"] = ref.namespace
    return {"source": TOOL_NAME, "policy": skip.policy, "rule": skip.rule, "result": "skip", "scored": True,
            "severity": skip.severity, "message": skip.message, "resources": [resource], "properties": {}}


class ReportWriter:
    def __init__(self, kube: Kube, name: str, api: str = "wgpolicyk8s.io") -> None:
        self.kube = kube
        self.name = name
        self.api = api
        self._written: dict[tuple[str | None, str], str] = {}  # (namespace, name) -> digest last written
        self._ours = re.compile(rf"{re.escape(name)}(-[2-9]|-[1-9][0-9]+)?")  # name and its parts' names
        self.writes = 0
        self.deletes = 0

    def write(self, reports: Iterable[dict[str, Any]]) -> None:
        group, version, _, plural, _, cluster_plural = APIS[self.api]
        current: set[tuple[str | None, str]] = set()
        for report in reports:
            key = (report["metadata"].get("namespace"), report["metadata"]["name"])
            current.add(key)
            digest = hashlib.sha256(json.dumps(report, sort_keys=True).encode()).hexdigest()
            if self._written.get(key) == digest:
                continue
            self.kube.apply(group, version, plural if key[0] else cluster_plural, key[0], key[1], report)
            self._written[key] = digest
            self.writes += 1
        self._remove_stale(current)

    def _remove_stale(self, current: set[tuple[str | None, str]]) -> None:
        """Delete our reports (and report parts) not written this cycle, in namespaces and cluster-wide."""
        group, version, _, plural, _, cluster_plural = APIS[self.api]
        for resource in (plural, cluster_plural):
            for report in self.kube.list(group, version, resource, MANAGED):
                meta = report.get("metadata") or {}
                key = (meta.get("namespace") or None, str(meta.get("name") or ""))
                if not self._ours.fullmatch(key[1]) or key in current:
                    continue
                self.kube.delete(group, version, resource, key[0], key[1])
                self._written.pop(key, None)
                self.deletes += 1
                LOG.info(f"removed report {key[1]} of {key[0] or 'the cluster'}: nothing left to report in it",
                         extra={FIELDS: {"event": "report_removed", "namespace": key[0], "report": key[1]}})
