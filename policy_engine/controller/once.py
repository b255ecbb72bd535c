"""One audit from outside the cluster (``policy-engine audit``): list it, evaluate once, report a piece at a time.

What the command does below its argument parsing: the inventory the controller watches, listed within a
deadline; the controller's own evaluation (``audit.run``, with the settings as the controller applies
them) at a chosen instant, idle rules judged from Prometheus; then the report written as ``check`` writes
its reports, a piece at a time (``reporters.streamer``; PolicyReports one namespace at a time, as
``reports.build`` makes them), and the verdict counted (``ReportContext.failing_count``) rather than
collected into a list of failing findings.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from policy_engine.cluster import ClusterState, Timing
from policy_engine.controller import audit, reports
from policy_engine.controller.inventory import Inventory
from policy_engine.controller.kinds import workload_resources
from policy_engine.controller.settings import ControllerSettings
from policy_engine.controller.telemetry import GpuTelemetry
from policy_engine.engine import Engine
from policy_engine.errors import ClusterNotListed
from policy_engine.reporters import ReportContext, streamer
from policy_engine.reporters.json_report import dump_pieces

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from policy_engine.cluster.state import PodObserver

#: How long to wait between looks at whether the first lists are in.
_POLL_SECONDS = 0.05


def audit_cluster(engine: Engine, api: ApiClient, settings: ControllerSettings, *, at: datetime,
                  timeout: float) -> audit.Audit:
    """List every workload once and audit it as of ``at``; ``ClusterNotListed`` when the first lists are not
    in within ``timeout`` seconds (saying what the watches last failed with)."""
    timing = Timing(backoff_max=5.0)

    def state(pod_observer: PodObserver) -> ClusterState:
        return ClusterState(api, catalog=engine.catalog, inherit_labels=settings.inherit_labels,
                            authoritative_labels=settings.authoritative_labels, timing=timing,
                            clock=lambda: at, pod_observer=pod_observer)

    inventory = Inventory(api, state, workload_resources(), timing)
    inventory.start()
    prometheus = GpuTelemetry(settings.prometheus)
    try:
        deadline = time.monotonic() + timeout
        while not inventory.synced:
            if time.monotonic() > deadline:
                raise ClusterNotListed(f"the cluster was not listed within {timeout:g} s ({_why(inventory)})")
            time.sleep(_POLL_SECONDS)
        return audit.run_as_set(engine, inventory, settings, now=at,
                                telemetry=lambda window: prometheus.fetch(window, at.timestamp()))
    finally:
        inventory.stop()
        prometheus.close()


def report(result: audit.Audit, fmt: str, ctx: ReportContext, settings: ControllerSettings) -> Iterator[str]:
    """The report in ``fmt``, a piece at a time. ``policyreport``: the PolicyReports the controller would
    write (skips included), as a YAML stream of JSON documents, one namespace's report at a time."""
    if fmt != "policyreport":
        yield from streamer(fmt)(result.result, ctx)
        return
    for made in reports.build(result, settings.reports.name, settings.reports.api, settings.reports.max_results):
        yield "---\n"
        yield from dump_pieces(made)


def _why(inventory: Inventory) -> str:
    errors = [f"{name}: {r.stats.last_error}" for name, r in {**inventory.state.reflectors,
                                                               **inventory.reflectors}.items()
              if r.stats.last_error]
    return "; ".join(errors[:3]) or "still listing"
