"""Prometheus metrics of the webhook, one registry per app so tests and several apps do not collide.

With several uvicorn workers each process counts its own requests; ``serve --workers N`` sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start, and ``/metrics`` then merges every worker's
files (prometheus-client's multiprocess mode), so one scrape sees the whole server.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

PREFIX = "policy_engine_webhook"
#: Down to half a millisecond: the target is single-digit milliseconds, so coarse buckets would hide it.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = multiprocess()
        # In multiprocess mode values live in files shared by the workers; the registry below is only a
        # home for the metric objects, and exposition reads the files through a fresh collector.
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(f"{PREFIX}_requests", "Admission requests by operation and result "
                                "(allowed, denied, error, bad_request) and whether they were dry runs",
                                ["operation", "result", "dry_run"], registry=r)
        self.latency = Histogram(f"{PREFIX}_request_duration_seconds",
                                 "Time from request received to response ready, per operation",
                                 ["operation"], buckets=LATENCY_BUCKETS, registry=r)
        self.findings = Counter(f"{PREFIX}_findings", "Findings in admitted or denied requests (dry runs "
                                "excluded) by policy and enforcement", ["policy", "enforcement"], registry=r)
        self.policy_errors = Counter(f"{PREFIX}_policy_errors", "Policies that failed internally on a "
                                     "request (their failure mode decided)", ["policy"], registry=r)
        self.exemptions = Counter(f"{PREFIX}_exemptions", "Requests or findings let through by an exemption",
                                  ["scope"], registry=r)
        self.reloads = Counter(f"{PREFIX}_policy_reloads", "Policy reloads that took effect", registry=r)
        self.reload_failures = Counter(f"{PREFIX}_policy_reload_failures",
                                       "Policy reloads refused because the new files did not compile "
                                       "(the previous set stays in force)", registry=r)
        self.policies_removed = Counter(f"{PREFIX}_policies_removed_by_reload",
                                        "Policies a reload took out of force (each is named in a warning log)",
                                        registry=r)
        self.policies_loaded = Gauge(f"{PREFIX}_policies_loaded", "Policies in force",
                                     multiprocess_mode="livemostrecent", registry=r)
        self.cache_synced = Gauge(f"{PREFIX}_cluster_cache_synced", "1 when the cluster-state cache has "
                                  "synced (or no cluster is configured), else 0",
                                  multiprocess_mode="livemin", registry=r)
        self.budget_exceeded = Counter(f"{PREFIX}_review_budget_exceeded", "Reviews stopped at their time "
                                       "budget and answered as internal_error says", registry=r)
        self.connections_refused = Counter(f"{PREFIX}_connections_refused", "Connections closed by a server "
                                           "limit (max_connections, header size/count, header timeout)",
                                           ["reason"], registry=r)
        self.open_connections = Gauge(f"{PREFIX}_open_connections", "Client connections open now",
                                      multiprocess_mode="livesum", registry=r)
        self.tls_reloads = Counter(f"{PREFIX}_tls_reloads", "Serving certificate reloads from disk by result",
                                   ["result"], registry=r)
        self.usage_snapshot_age = Gauge(f"{PREFIX}_usage_snapshot_age_seconds", "Age of the usage snapshot "
                                        "quota decisions read (ledger or Prometheus history; -1 before the "
                                        "first one)", multiprocess_mode="livemax", registry=r)
        self.usage_snapshot_errors = Gauge(f"{PREFIX}_usage_snapshot_errors", "Usage snapshot refreshes that "
                                           "failed (the last snapshot stayed in force)",
                                           multiprocess_mode="livesum", registry=r)

    def exposition(self) -> bytes:
        if self.multiprocess:
            from prometheus_client import multiprocess as mp

            registry = CollectorRegistry()
            mp.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
