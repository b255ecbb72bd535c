"""The pairs evaluated and the findings, joined resource by resource as they are read (JUnit, PolicyReport).

A report that says "pass" for every (policy, resource) pair without a finding must know, for each pair,
whether a finding names it. ``check`` gives both in the order of the resources' places in the input: the
pairs a resource at a time, resources by (file, line); the findings sorted by file and line, each at or
after its resource's line. ``joined`` walks both at once and so keeps nothing per resource: one resource's
policies at a time. When the input is not in that order (a workload judged after the others because it
names a document of another unit, an audit's cluster objects, a hand-built result), it raises
``OutOfOrder`` before anything is written, and the reporter keeps a mask per resource instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from policy_engine.engine.findings import Finding, ResourceRef

#: (finding, the resource its pairs are about, their policies): a finding with the resource of the pairs
#: it is about (None, () when no pair names its resource); then (None, resource, policies) once that
#: resource's findings are all out.
Joined = tuple[Finding | None, ResourceRef | None, tuple[str, ...]]


class OutOfOrder(Exception):  # a signal inside the reporters, never raised past them
    """The pairs or the findings are not in resource order (see the module docstring)."""


def runs(evaluations: Iterable[tuple[str, ResourceRef]]) -> Iterator[tuple[ResourceRef, tuple[str, ...]]]:
    """Each resource's pairs: the resource and its policies, each once, in the order first evaluated.
    ``OutOfOrder`` when a resource's (file, line) is not past the previous resource's."""
    ref: ResourceRef | None = None
    policies: dict[str, None] = {}
    for policy, r in evaluations:
        if r is not ref and r != ref:
            if ref is not None:
                yield ref, tuple(policies)
                if (r.file, r.line) <= (ref.file, ref.line):
                    raise OutOfOrder(f"{r.display()} evaluated after {ref.display()}")
            ref, policies = r, {}
        policies[policy] = None
    if ref is not None:
        yield ref, tuple(policies)


def joined(evaluations: Iterable[tuple[str, ResourceRef]], findings: Iterable[Finding]) -> Iterator[Joined]:
    """The findings in their order, each with the resource whose pairs it is about (see ``Joined``), and after
    each resource's findings the resource itself. ``OutOfOrder`` when the pairs or findings are not in
    resource order: raised before a finding that would come too late."""
    it = iter(findings)
    finding = next(it, None)
    last: tuple[str, int] | None = None

    def take(upto: tuple[str, int] | None) -> Iterator[Finding]:
        nonlocal finding, last
        while finding is not None:
            key = (finding.resource.file, finding.resource.line)
            if upto is not None and key > upto:
                return
            if last is not None and key < last:
                raise OutOfOrder(f"a finding on {finding.resource.display()} after one on a later resource")
            last = key
            yield finding
            finding = next(it, None)

    for ref, policies in runs(evaluations):
        for f in take((ref.file, ref.line)):
            yield (f, ref, policies) if f.resource == ref else (f, None, ())
        yield None, ref, policies
    for f in take(None):
        yield f, None, ()
