"""``controller-manifests`` ships the policy set ``check`` uses, laid out as ``webhook-manifests`` lays its
set out (one function, policy_engine/webhook/layout.py): nested folders as the volume's ``items``, the
Deployment's ``--policies`` naming the given paths under the mount, a set that does not compile or is
empty refused.

End to end: the rendered ConfigMap is written out as the kubelet mounts it, the real ``policy-engine
controller`` process is started with the Deployment's own arguments (the cluster reached through a
kubeconfig for the fake API server instead of ``--in-cluster``), and the PolicyReport of its first audit
must hold exactly the policies ``check`` compiles from the source tree, with the imported library policy
re-parameterised as the importing file says.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from policy_engine.cli.main import main
from policy_engine.engine import load_engine
from policy_engine.webhook.layout import POLICY_DIR
from tests.cluster.fake_apiserver import running
from tests.configmap_mount import mount_configmap

from .scenario import cluster

TREE = Path(__file__).resolve().parents[1] / "fixtures" / "webhook" / "nested-policies"
REPORTS = "wgpolicyk8s.io/v1alpha2/policyreports"


def _render(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    status = main(["controller-manifests", *args])
    out = capsys.readouterr()
    return status, [d for d in yaml.safe_load_all(out.out) if d] if status == 0 else [], out.err


def _kubeconfig(path: Path, url: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": url}}],
        "users": [{"name": "fake", "user": {"token": "unused"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}))
    return path


def test_the_set_the_controller_runs_in_the_pod_is_the_set_check_uses(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(TREE / "teams"), str(TREE / "cost")]
    status, docs, err = _render(capsys, *(a for p in paths for a in ("--policies", p)))
    assert status == 0, err
    [configmap] = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-policies")]
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "policies"]
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    items = {i["path"]: i["key"] for i in volume["configMap"]["items"]}
    assert set(items) == {"cost/team-label.policy", "lib/max-gpus.policy", "teams/vision/gpus.policy"}
    assert set(items.values()) == set(configmap["data"]) and all("/" not in k for k in configmap["data"])
    args = pod["containers"][0]["args"]
    assert [args[i + 1] for i, a in enumerate(args) if a == "--policies"] == [f"{POLICY_DIR}/cost",
                                                                              f"{POLICY_DIR}/teams"]

    mount = tmp_path / "mount"
    mount.mkdir()
    mount_configmap(configmap, volume, mount)
    settings = tmp_path / "controller.yaml"
    settings.write_text("listen: 127.0.0.1:0\ninterval_seconds: 60\ndebounce_seconds: 0\n"
                        "leader_election:\n  enabled: false\n")
    with running() as apiserver:
        for resource, objects in cluster().items():
            apiserver.load(resource, objects)
        local = ["--kubeconfig" if a == "--in-cluster" else a.replace(POLICY_DIR, str(mount), 1) for a in args]
        local.insert(local.index("--kubeconfig") + 1, str(_kubeconfig(tmp_path / "kubeconfig", apiserver.url)))
        local[local.index("--config") + 1] = str(settings)
        log = (tmp_path / "controller.log").open("w")
        proc = subprocess.Popen([sys.executable, "-m", "policy_engine.cli.main", *local], stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
        try:
            deadline = time.monotonic() + 60
            while (report := apiserver.get(REPORTS, "ml-vision", "policy-engine-audit")) is None:
                assert proc.poll() is None, (tmp_path / "controller.log").read_text()
                assert time.monotonic() < deadline, "no PolicyReport within 60 s"
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            log.close()
    in_check = {p.name for p in load_engine(paths).policies.policies}
    assert in_check == {"team-label", "vision/max-gpus"}
    assert {r["policy"] for r in report["results"]} == in_check
    failed = {(r["policy"], r["resources"][0]["name"]) for r in report["results"] if r["result"] == "fail"}
    assert ("vision/max-gpus", "resnet-train") in failed  # 4 GPUs: the import resolved, with max_gpus = 2


def test_a_set_that_does_not_compile_or_is_empty_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.policy").write_text('policy "bad" {\n  severity hgih\n  require labels ["x"]\n}\n')
    status, _, err = _render(capsys, "--policies", str(tmp_path))
    assert status == 2
    assert f"{tmp_path / 'sub' / 'bad.policy'}:2:12: error[E105]: unknown severity 'hgih'" in err
    assert "controller-manifests: error: 1 error in the policies; nothing rendered" in err
    (tmp_path / "sub" / "bad.policy").write_text("# nothing yet\n")
    status, _, err = _render(capsys, "--policies", str(tmp_path))
    assert status == 2 and "error[E311]: no policy to enforce" in err


def test_a_flat_set_needs_no_items(capsys: pytest.CaptureFixture[str]) -> None:
    status, docs, err = _render(capsys, "--policies", str(TREE / "cost"))
    assert status == 0, err
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    assert {"name": "policies", "configMap": {"name": "policy-engine-controller-policies"}} in volumes
