"""The cluster-state cache: live namespaces, nodes and GPU pods, list+watched with the kubernetes client.

``ClusterState`` implements the webhook's ``ClusterState`` protocol (``synced``, ``namespace_labels``,
``usage``) and the engine's ``UsageProvider``; ``connect`` builds it for ``serve``. docs/webhook-install.md
("Cluster state") states the rules for label inheritance, periods, ``used`` and ``running``.
"""

from policy_engine.cluster.reflector import ReflectorStats, Timing
from policy_engine.cluster.state import DEFAULT_INHERIT, ClusterState, SyncInfo, connect

__all__ = ["DEFAULT_INHERIT", "ClusterState", "ReflectorStats", "SyncInfo", "Timing", "connect"]
