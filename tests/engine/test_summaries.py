"""Per-policy summaries (``evaluate.summarise``) count what the plain reading of their rules counts."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.compiler.program import Enforcement, PolicySet, Severity
from policy_engine.engine.evaluate import summarise
from policy_engine.engine.findings import Finding, PolicySummary, ResourceRef
from policy_engine.engine.packed import sort_key

POLICIES = ("a", "b", "c")
_refs = st.builds(ResourceRef, st.sampled_from(["Pod", "Job"]), st.sampled_from(["x", "y"]),
                  st.sampled_from([None, "ns"]), st.sampled_from(["f.yaml", "g.yaml"]), st.integers(1, 3))
_findings = st.builds(
    Finding, st.sampled_from([*POLICIES, "gone"]), st.sampled_from(["r", "s"]), st.just(Severity.HIGH),
    st.just(Enforcement.DENY), st.just("m"), _refs, monthly_cost=st.none() | st.sampled_from([10.0, 25.5]),
    saving=st.none() | st.sampled_from([0.0, 1.0, 7.5]), group=st.none() | st.sampled_from(["", "team=a", "team=b"]),
    facts=st.lists(st.tuples(st.sampled_from(["saving", "role"]), st.sampled_from(["unknown: x", "known", 3])),
                   max_size=2).map(tuple))


def reference(policies: PolicySet, findings: Sequence[Finding]) -> list[PolicySummary]:
    """The rules as first written, one finding at a time."""
    summaries = {p.name: PolicySummary(p.name, p.severity, p.enforcement, p.description) for p in policies.policies}
    flagged: set[object] = set()
    flagged_groups: set[object] = set()
    savings: dict[tuple[str, object], float] = {}
    unknown: set[tuple[str, object]] = set()
    for f in findings:
        s = summaries.get(f.policy)
        if s is None:
            continue
        s.findings += 1
        if f.group is not None and (f.policy, f.group) not in flagged_groups:
            flagged_groups.add((f.policy, f.group))
            if f.monthly_cost is not None:
                s.flagged_monthly_cost += f.monthly_cost
        if f.group is None and (f.policy, f.resource) not in flagged:
            flagged.add((f.policy, f.resource))
            if f.monthly_cost is None:
                s.unpriced_flagged += 1
            else:
                s.flagged_monthly_cost += f.monthly_cost
        skey = (f.policy, f.group or f.resource)
        if f.saving:
            savings[skey] = max(savings.get(skey, 0.0), f.saving)
        elif f.saving_unknown is not None:
            unknown.add(skey)
    for (name, _), value in savings.items():
        summaries[name].saving += value
    for name, _ in unknown - savings.keys():
        summaries[name].saving_unknown += 1
    return list(summaries.values())


class _Policy:
    def __init__(self, name: str) -> None:
        self.name, self.severity, self.enforcement, self.description = name, Severity.HIGH, Enforcement.DENY, ""


@settings(max_examples=200, deadline=None)
@given(findings=st.lists(_findings, max_size=30))
def test_summaries_count_what_the_rules_say(findings: list[Finding]) -> None:
    policies = PolicySet(tuple(_Policy(n) for n in POLICIES), {}, ())  # type: ignore[misc]
    findings.sort(key=sort_key)
    assert summarise(policies, findings) == reference(policies, findings)


#: Resources shared by the findings about them, as a workload's findings share its one ``ResourceRef``; two of
#: them equal but not the same object (a resource seen twice, e.g. in two units' findings merged).
_SHARED = (ResourceRef("Pod", "x", None, "f.yaml", 1), ResourceRef("Job", "y", "ns", "f.yaml", 9),
           ResourceRef("Pod", "x", None, "f.yaml", 1), ResourceRef("Pod", "x", "ns", "g.yaml", 1))


@settings(max_examples=200, deadline=None)
@given(findings=st.lists(_findings, max_size=30), refs=st.lists(st.sampled_from(_SHARED), min_size=30, max_size=30))
def test_summaries_of_findings_sharing_their_resources_in_any_order(findings: list[Finding],
                                                                     refs: list[ResourceRef]) -> None:
    """``summarise`` numbers each resource when it changes from one finding to the next: findings about one
    resource (the same object or an equal one), together or apart, in any order, count as the rules say."""
    policies = PolicySet(tuple(_Policy(n) for n in POLICIES), {}, ())  # type: ignore[misc]
    shared = [Finding(f.policy, f.rule, f.severity, f.enforcement, f.message, ref, monthly_cost=f.monthly_cost,
                      saving=f.saving, group=f.group, facts=f.facts) for f, ref in zip(findings, refs, strict=False)]
    assert summarise(policies, shared) == reference(policies, shared)
