"""``wgpolicyk8s.io/v1alpha2`` PolicyReports (the Policy WG format Kyverno and Policy Reporter read).

One PolicyReport per namespace and one ClusterPolicyReport for cluster-scoped resources, as a YAML
stream ready for ``kubectl apply -f -``. Every (policy, resource) pair evaluated is a result: ``pass``
when nothing was found, ``fail`` for deny, ``warn`` for warn and audit, ``error`` when the policy failed.

``stream`` writes them a piece at a time: the pairs and the findings are read together a resource at a
time (``pairs.joined``), each result encoded as it is read and filed under its namespace (``spool``: on
disk past a budget), with the summary counted as it goes; then each report is written, its summary
first. Memory does not grow with the resources, findings or pairs of a run; where they do not come in
resource order (``pairs.OutOfOrder``), the policies each resource has a result of are kept instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from itertools import chain
from typing import Any

from policy_engine.compiler.program import Enforcement
from policy_engine.engine.findings import Finding, ResourceRef, Result
from policy_engine.reporters.context import TOOL_NAME, ReportContext
from policy_engine.reporters.json_report import dump_pieces, encode
from policy_engine.reporters.pairs import OutOfOrder, joined
from policy_engine.reporters.spool import Spool

API_VERSION = "wgpolicyk8s.io/v1alpha2"
REPORT_NAME = "policy-engine-check"
_OUTCOMES = ("pass", "fail", "warn", "error", "skip")


def render(result: Result, ctx: ReportContext) -> str:
    """A YAML stream whose documents are written in JSON (a subset of YAML that ``kubectl apply`` reads):
    PyYAML's representer takes ~10 s for a 10,000-document tree, the JSON encoder half a second."""
    return "".join(stream(result, ctx))


def stream(result: Result, ctx: ReportContext) -> Iterator[str]:
    """``render`` a piece at a time, the same text: the findings' results first, then the passes, by namespace."""
    with ExitStack() as stack:
        results = stack.enter_context(Spool[tuple[str | None, bool]]())
        filed = _Filed(ctx, results)
        try:
            filed.joined(result)
        except OutOfOrder:  # not in resource order: what each resource has a result of is kept instead
            results.close()
            results = stack.enter_context(Spool[tuple[str | None, bool]]())
            filed = _Filed(ctx, results)
            filed.by_resource(result)
        for ns in sorted(filed.summaries, key=lambda n: (n is not None, n or "")):
            yield "---\n"
            yield from dump_pieces(_report(ns, filed.summaries[ns],
                                           chain(results.read((ns, False)), results.read((ns, True)))))


class _Filed:
    """Each result encoded as it is read and filed under (its namespace, whether it is a pass): a namespace's
    report lists the findings' results in their order, then the passes in the order evaluated; the
    summaries are counted as they go."""

    def __init__(self, ctx: ReportContext, results: Spool[tuple[str | None, bool]]) -> None:
        self.ctx, self.results = ctx, results
        self.summaries: dict[str | None, dict[str, int]] = {}

    def file(self, ns: str | None, entry: dict[str, Any], *, passed: bool = False) -> None:
        summary = self.summaries.get(ns)
        if summary is None:
            summary = self.summaries[ns] = dict.fromkeys(_OUTCOMES, 0)
        summary[entry["result"]] += 1
        self.results.add((ns, passed), encode(entry))

    def passes(self, policy: str, ref: ResourceRef) -> None:
        self.file(ref.namespace, _entry(self.ctx, policy, "evaluated", "pass", ref,
                                        f"{ref.display()} complies with {policy}", None, {}), passed=True)

    def joined(self, result: Result) -> None:
        """Pairs and findings read together a resource at a time (``pairs.joined``): nothing kept per resource."""
        flagged: set[str] = set()  # the current resource's policies with a finding
        for f, ref, policies in joined(result.evaluations, result.findings):
            if f is not None:
                self.file(f.resource.namespace, _finding(f, self.ctx))
                if ref is not None:
                    flagged.add(f.policy)
                continue
            assert ref is not None
            for policy in policies:
                if policy not in flagged:
                    self.passes(policy, ref)
            flagged.clear()

    def by_resource(self, result: Result) -> None:
        """Pairs and findings in any order: per resource, the policies (bits) it has a result of."""
        done: dict[ResourceRef, int] = {}
        bits: dict[str, int] = {}
        for f in result.findings:
            b = bits.setdefault(f.policy, 1 << len(bits))
            done[f.resource] = done.get(f.resource, 0) | b
            self.file(f.resource.namespace, _finding(f, self.ctx))
        for policy, ref in result.evaluations:
            b = bits.setdefault(policy, 1 << len(bits))
            held = done.get(ref, 0)
            if not held & b:  # not flagged, nor passed already
                done[ref] = held | b
                self.passes(policy, ref)


def reports(result: Result, ctx: ReportContext) -> list[dict[str, Any]]:
    by_ns: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    flagged: set[tuple[str, ResourceRef]] = set()
    for f in result.findings:
        flagged.add((f.policy, f.resource))
        by_ns[f.resource.namespace].append(_finding(f, ctx))
    for policy, ref in dict.fromkeys(result.evaluations):
        if (policy, ref) not in flagged:
            by_ns[ref.namespace].append(_entry(ctx, policy, "evaluated", "pass", ref,
                                               f"{ref.display()} complies with {policy}", None, {}))
    out = []
    for ns in sorted(by_ns, key=lambda n: (n is not None, n or "")):
        results = by_ns[ns]
        summary = {k: sum(1 for r in results if r["result"] == k) for k in _OUTCOMES}
        out.append(_report(ns, summary, results))
    return out


def _report(ns: str | None, summary: dict[str, int], results: Any) -> dict[str, Any]:
    """A namespace's report; ``results``: a list of entries, or an iterator of them encoded (``dump_pieces``)."""
    meta: dict[str, Any] = {"name": REPORT_NAME if ns else f"{REPORT_NAME}-cluster",
                            "labels": {"app.kubernetes.io/managed-by": TOOL_NAME}}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": API_VERSION, "kind": "PolicyReport" if ns else "ClusterPolicyReport",
            "metadata": meta, "summary": summary, "results": results}


def _finding(f: Finding, ctx: ReportContext) -> dict[str, Any]:
    outcome = "error" if f.error else "fail" if f.enforcement is Enforcement.DENY else "warn"
    props = {"enforcement": f.enforcement.value, "line": str(f.line), "fingerprint": f.fingerprint()}
    if f.monthly_cost is not None:
        props["monthlyCost"] = f"{f.monthly_cost:.2f}"
    if f.saving is not None:
        props["monthlySaving"] = f"{f.saving:.2f}"
    elif f.saving_unknown is not None:
        props["monthlySaving"] = "unknown"
    if f.group:
        props["group"] = f.group
    entry = _entry(ctx, f.policy, f.rule, outcome, f.resource, f.message, f.severity.value, props)
    entry["resources"].extend(_object_ref(r) for r in f.related if r != f.resource)
    return entry


def _entry(ctx: ReportContext, policy: str, rule: str, outcome: str, ref: ResourceRef, message: str,
           severity: str | None, props: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"source": TOOL_NAME, "policy": policy, "rule": rule, "result": outcome,
                             "scored": True, "message": message, "resources": [_object_ref(ref)]}
    if severity:
        entry["severity"] = severity
    if ctx.generated_at is not None:
        entry["timestamp"] = {"seconds": int(ctx.generated_at), "nanos": 0}
    entry["properties"] = {"file": ctx.relative(ref.file), **({"line": str(ref.line)} if "line" not in props
                                                                 else {}), **props}
    return entry


def _object_ref(ref: ResourceRef) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
    if ref.namespace:
        out["namespace"] = ref.namespace
    return out
