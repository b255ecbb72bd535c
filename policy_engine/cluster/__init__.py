"""The cluster-state cache: live namespaces, nodes and GPU pods, list+watched with the kubernetes client.

Used by the webhook (quota usage, namespace labels) and the controller (which adds a ``PodObserver`` to
see every pod). ``ClusterState`` implements the webhook's ``ClusterState`` protocol (``synced``, ``namespace_labels``,
``usage``) and the engine's ``UsageProvider``; ``connect`` builds it for ``serve``. docs/webhook-install.md
("Cluster state") states the rules for label inheritance, periods, ``used`` and ``running``.
"""

from policy_engine.cluster.reflector import ReflectorStats, Timing
from policy_engine.cluster.state import DEFAULT_INHERIT, ClusterState, PodObserver, SyncInfo, connect

__all__ = ["DEFAULT_INHERIT", "ClusterState", "PodObserver", "ReflectorStats", "SyncInfo", "Timing", "connect"]
