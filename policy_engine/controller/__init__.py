"""``policy-engine controller``: live governance over what already runs in the cluster.

- ``inventory.py`` list+watches every workload kind the model knows (``kinds.py``), on top of the shared
  cluster-state cache (``policy_engine.cluster``), and maps pods to their workloads;
- ``audit.py`` evaluates them with the same compiled policies as ``check`` and the webhook, prices them,
  and judges the idle rules from ``telemetry.py`` (DCGM series in Prometheus) through ``idle.py``;
- ``reports.py`` writes PolicyReports; ``shutdown.py`` notifies and stops idle workloads through
  ``actions.py``; ``leader.py`` makes sure only one replica acts; ``runner.py`` is the process
  (``once.py`` the one-shot ``policy-engine audit``);
  ``manifests.py`` its install. docs/controller.md explains all of it.
"""

from __future__ import annotations

from kubernetes import client, config

#: one long watch per workload resource plus the cache's three, and room for writes: urllib3's default pool
#: of 10 would drop and reopen connections every cycle.
POOL_SIZE = 64


def api_client(kubeconfig: str | None = None, in_cluster: bool = False, context: str | None = None) -> client.ApiClient:
    """The API client ``--kubeconfig FILE`` (None: $KUBECONFIG or ~/.kube/config) or ``--in-cluster`` asks for."""
    configuration = client.Configuration()
    if in_cluster:
        config.load_incluster_config(client_configuration=configuration)
    else:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
    configuration.connection_pool_maxsize = POOL_SIZE
    return client.ApiClient(configuration)
