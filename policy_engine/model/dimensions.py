"""The ONE definition of each showback dimension (team, cost center, environment, model, …).

A dimension is read from the labels every pod of a workload carries (``Workload.labels``: what Kubecost
and OpenCost allocate by and what the webhook sees on each pod), trying its keys in order; an empty value
is no value. Spend without a value is reported under ``UNTAGGED`` everywhere (check, cost, inspect,
explain, the webhook). The keys are configurable in the pricing catalog's ``assumptions`` section
(``team_labels``, ``cost_center_labels``, ``environment_labels``; ``Assumptions.dimensions()``), so every
front end that reads the same ``--pricing`` file reads the same dimension; docs/cost-model.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from policy_engine.records import frozen_record

#: How spend without a value for a dimension is reported, in every report.
UNTAGGED = "(untagged)"


@frozen_record
class Dimension:
    """A showback dimension (team, cost-center, environment) and the label keys that give it."""

    name: str
    keys: tuple[str, ...]  # label keys tried in order; the first non-empty value wins

    def value(self, labels: Mapping[str, str]) -> str | None:
        for key in self.keys:
            found = labels.get(key)
            if found:
                return str(found)
        return None

    def display(self, labels: Mapping[str, str]) -> str:
        return self.value(labels) or UNTAGGED


@frozen_record
class Dimensions:
    """The three showback dimensions, as the pricing catalog's assumptions name their keys."""

    team: Dimension = Dimension("team", ("team",))
    cost_center: Dimension = Dimension("cost-center", ("cost-center",))
    environment: Dimension = Dimension("environment", ("environment",))

    def get(self, name: str) -> Dimension | None:
        for d in (self.team, self.cost_center, self.environment):
            if d.name == name:
                return d
        return None


DEFAULT_DIMENSIONS = Dimensions()
