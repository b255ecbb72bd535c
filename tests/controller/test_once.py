"""``policy-engine audit`` (``controller/once.py``): the report written a piece at a time as ``check`` writes
its reports, the settings applied as the controller applies them, and a cluster that cannot be listed
reported within the timeout. Against the fake API server (the API's wire format; no kube-apiserver here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from policy_engine.cli.main import main
from tests.cluster.fake_apiserver import FakeApiServer

from .scenario import FIXTURES, T0

DEPLOY = "apps/v1/deployments"
AT = T0.isoformat().replace("+00:00", "Z")


class Writes:
    """A stdout that keeps each write apart."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def write(self, text: str) -> int:
        self.pieces.append(text)
        return len(text)

    def writelines(self, lines: object) -> None:
        for line in lines:  # type: ignore[attr-defined]
            self.write(line)

    def flush(self) -> None:
        return

    def isatty(self) -> bool:
        return False


def _kubeconfig(server: str, tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "fake", "user": {"token": "unused"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}]}))
    return str(path)


def _policies(tmp_path: Path) -> str:
    """The controller's test policies, the team label rule open to exemptions."""
    text = (FIXTURES / "policies" / "idle.policy").read_text(encoding="utf-8")
    (tmp_path / "idle.policy").write_text(
        text.replace('enforcement warn\n\n  match {\n    kinds workloads\n  }\n\n  require labels',
                     'enforcement warn\n  exemptions allowed\n\n  match {\n    kinds workloads\n  }\n\n'
                     '  require labels', 1), encoding="utf-8")
    return str(tmp_path / "idle.policy")


def _untagged_exempted_web(apiserver: FakeApiServer) -> None:
    """ml-nlp/web moved to a namespace without a team label, exempted from team-label for 38 days."""
    web = apiserver.get(DEPLOY, "ml-nlp", "web")
    assert web is not None
    web["metadata"]["namespace"] = "default"
    web["spec"]["template"]["metadata"]["annotations"] = {  # on the pods, as admission reads them
        "policy-engine.io/exempt": "team-label", "policy-engine.io/exempt-until": "2026-12-31"}
    apiserver.load(DEPLOY, [web])


@pytest.mark.parametrize("fmt", ["json", "policyreport"])  # check's streamers; the controller's PolicyReports
def test_audit_writes_its_report_a_piece_at_a_time(apiserver: FakeApiServer, tmp_path: Path, fmt: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Never the whole report as one string: a large cluster's report streams out as ``check``'s does
    (pieces of about ``reporters.pieces.PIECE_CHARS``); here 1,200 untagged Deployments."""
    web = apiserver.get(DEPLOY, "ml-nlp", "web")
    assert web is not None
    many = []
    for n in range(1200):
        copy = json.loads(json.dumps(web))
        copy["metadata"].update(namespace=f"apps-{n % 4}", name=f"web-{n}", uid=f"uid-web-{n}")
        many.append(copy)
    apiserver.load(DEPLOY, many)
    out = Writes()
    monkeypatch.setattr(sys, "stdout", out)
    code = main(["audit", "--kubeconfig", _kubeconfig(apiserver.url, tmp_path), "--policies",
                 str(FIXTURES / "policies"), "-f", fmt, "--at", AT, "--fail-on", "warn"])
    text = "".join(out.pieces)
    assert code == 1 and "web-1199" in text  # the untagged ones fail the run when warn findings do
    assert len(out.pieces) > 2 and max(map(len, out.pieces)) < len(text) / 2, [len(p) for p in out.pieces]
    if fmt == "policyreport":  # one report per namespace, the cluster-wide one first
        reports = [json.loads(doc) for doc in text.split("---\n") if doc]
        assert reports[0]["kind"] == "ClusterPolicyReport"
        assert {r["metadata"].get("namespace") for r in reports} >= {"apps-0", "apps-3", "ml-nlp", "ml-vision"}


def test_audit_applies_the_settings_exemption_lifetime_as_the_controller_does(
        apiserver: FakeApiServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _untagged_exempted_web(apiserver)
    args = ["audit", "--kubeconfig", _kubeconfig(apiserver.url, tmp_path), "--policies", _policies(tmp_path),
            "-f", "json", "--at", AT, "--fail-on", "warn"]

    def team_label_on_web() -> list[str]:
        return [f["message"] for f in json.loads(capsys.readouterr().out)["findings"]
                if f["policy"] == "team-label" and f["resource"]["name"] == "web"]

    main(args)
    assert team_label_on_web() == []  # exempt until 2026-12-31: within the default 90 days
    (tmp_path / "settings.yaml").write_text("exemption_max_days: 7\n", encoding="utf-8")
    assert main([*args, "--config", str(tmp_path / "settings.yaml")]) == 1
    assert team_label_on_web()  # 38 days ahead is past the settings' 7: not honoured, as in the controller


def test_a_cluster_not_listed_in_time_is_an_error_saying_why(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["audit", "--kubeconfig", _kubeconfig("http://127.0.0.1:9", tmp_path), "--timeout", "0.5",
                 "--policies", str(FIXTURES / "policies")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "policy-engine audit: the cluster was not listed within 0.5 s" in err
