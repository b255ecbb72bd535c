"""``webhook-manifests`` ships exactly the policy set ``check`` uses: it finds and compiles the files the
way ``check --policies`` does, refuses a set that does not compile or is empty, and lays nested folders
out in the ConfigMap volume (``items`` with paths) so relative imports resolve in the pod.

The proof is end to end: the rendered ConfigMap is written out the way the kubelet mounts a ConfigMap
volume (timestamped folder, ``..data`` link, one link per top-level entry), ``policy-engine serve`` is
started with the Deployment's own ``--policies`` arguments pointed at that mount, and the policies in
force (``/readyz``) must be the ones ``check`` compiles from the source tree; a review that only the
imported, re-parameterised policy denies must be denied.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from policy_engine.cli.main import main
from policy_engine.engine import load_engine
from policy_engine.webhook.layout import POLICY_DIR
from tests.configmap_mount import mount_configmap
from tests.webhook.reviews import review_body
from tests.webhook.server import Server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhook"
TREE = FIXTURES / "nested-policies"


def _render(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    status = main(["webhook-manifests", *args])
    out = capsys.readouterr()
    return status, [d for d in yaml.safe_load_all(out.out) if d] if status == 0 else [], out.err


def _one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind]
    return doc


@pytest.mark.parametrize("given", [[""], ["teams", "cost"]], ids=["whole-tree", "folders-importing-outside"])
def test_the_set_in_force_in_the_pod_is_the_set_check_uses(given: list[str], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(TREE / g) if g else str(TREE) for g in given]
    status, docs, err = _render(capsys, *(a for p in paths for a in ("--policies", p)))
    assert status == 0, err
    configmap, deployment = _one(docs, "ConfigMap"), _one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "policies"]
    items = {i["path"]: i["key"] for i in volume["configMap"]["items"]}
    assert set(items) == {"cost/team-label.policy", "lib/max-gpus.policy", "teams/vision/gpus.policy"}
    assert set(items.values()) == set(configmap["data"])
    assert all("/" not in key for key in configmap["data"])

    args = pod["containers"][0]["args"]
    served = [args[i + 1] for i, a in enumerate(args) if a == "--policies"]
    expected = [POLICY_DIR] if given == [""] else [f"{POLICY_DIR}/cost", f"{POLICY_DIR}/teams"]
    assert served == expected

    mount = tmp_path / "mount"
    mount.mkdir()
    mount_configmap(configmap, volume, mount)
    local = [a.replace(POLICY_DIR, str(mount), 1) for a in served]
    server = Server(None, tmp_path / "serve.log", *(a for p in local for a in ("--policies", p)),
                    env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    try:
        ready = server.client.get("/readyz").json()
        in_check = sorted(p.name for p in load_engine(paths).policies.policies)
        assert ready["policy_names"] == in_check == ["team-label", "vision/max-gpus"]

        review = copy.deepcopy(review_body("allow-pod-tagged"))
        container = review["request"]["object"]["spec"]["containers"][0]
        container.setdefault("resources", {}).setdefault("limits", {})["nvidia.com/gpu"] = 4
        answer = server.post(review).json()["response"]
        assert answer["allowed"] is False
        assert "vision/max-gpus" in answer["status"]["message"]  # the import resolved, with max_gpus = 2
    finally:
        server.stop()


def test_a_flat_set_needs_no_items(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "a.policy").write_text('policy "a" {\n  require labels ["team"]\n}\n')
    status, docs, err = _render(capsys, "--policies", str(tmp_path))
    assert status == 0, err
    assert _one(docs, "ConfigMap")["data"] == {"a.policy": 'policy "a" {\n  require labels ["team"]\n}\n'}
    pod = _one(docs, "Deployment")["spec"]["template"]["spec"]
    assert {"name": "policies", "configMap": {"name": "policy-engine-policies"}} in pod["volumes"]


def test_a_set_that_does_not_compile_is_refused_with_located_errors(capsys: pytest.CaptureFixture[str],
                                                                    tmp_path: Path) -> None:
    (tmp_path / "ok.policy").write_text('policy "ok" {\n  require labels ["team"]\n}\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "bad.policy").write_text('policy "bad" {\n  severity hgih\n  require labels ["x"]\n}\n')
    status, _, err = _render(capsys, "--policies", str(tmp_path))
    assert status == 2
    assert f"{tmp_path / 'sub' / 'bad.policy'}:2:12: error[E105]: unknown severity 'hgih'" in err
    assert "1 error in the policies; nothing rendered" in err


@pytest.mark.parametrize("content", [None, "# only a comment\n"], ids=["no-files", "no-policies"])
def test_an_empty_set_is_refused(content: str | None, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    if content is not None:
        (tmp_path / "empty.policy").write_text(content)
    status, _, err = _render(capsys, "--policies", str(tmp_path))
    assert status == 2 and "an empty set would admit everything" in err


def test_a_missing_import_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "a.policy").write_text('import "../lib/nowhere.policy"\n')
    status, _, err = _render(capsys, "--policies", str(tmp_path))
    assert status == 2 and "error[E401]" in err
