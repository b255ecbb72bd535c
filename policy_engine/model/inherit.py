"""The ONE rule for taking labels from a workload's namespace (the webhook and the cluster-state cache).

For each configured key:

- an empty value is a missing value (``team: ""`` is no team);
- a key the workload's pods do not carry (or carry empty) is taken from the namespace when the namespace
  has a non-empty value;
- with ``authoritative`` keys, the namespace's non-empty value replaces whatever the pods say: a
  workload in a namespace labelled ``team=vision`` is vision's, whatever ``team`` it declares, so a
  quota cannot be dodged (``team: brand-new-team``) and spend cannot be billed to another team
  (``team: nlp``) by relabelling. Where the namespace has no value, the workload's own counts.

``inherit_labels`` applies the rule to a ``Workload`` in place (its ``labels`` and every role's pod
labels, which are what policies and showback read) and returns what it changed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from policy_engine.model.workload import Workload


def inherited(labels: Mapping[str, str], namespace_labels: Mapping[str, str] | None, keys: Sequence[str],
              authoritative: Collection[str] = ()) -> dict[str, str]:
    """The label values the namespace imposes on ``labels`` under the rule above (only the changes)."""
    if not namespace_labels:
        return {}
    out: dict[str, str] = {}
    for key in keys:
        value = namespace_labels.get(key)
        if value is None or str(value) == "":
            continue
        current = labels.get(key)
        if not current or (key in authoritative and current != str(value)):
            out[key] = str(value)
    return out


def inherit_labels(workload: Workload, namespace_labels: Mapping[str, str] | None, keys: Sequence[str],
                   authoritative: Collection[str] = ()) -> dict[str, str]:
    """Apply the namespace rule to ``workload`` in place; the changed keys and their new values."""
    taken = inherited(workload.labels, namespace_labels, keys, authoritative)
    if taken:
        workload.labels = {**workload.labels, **taken}
        workload.pod_labels = workload.labels
        for role in workload.roles:
            role.pod_labels = {**role.pod_labels, **taken}
    return taken
