"""deploy/grafana: every query names a metric the code exports, and real Prometheus accepts every query.

The exported metrics are read from the components' own registries (not from a list kept by hand), so a
renamed or removed metric fails here before a dashboard silently shows "No data".
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "policy-engine-dashboard.json"
#: Each component that serves /metrics: "module:attribute" of a class whose instances have ``.registry``.
EXPORTERS = ["policy_engine.webhook.metrics:Metrics"]
METRIC = re.compile(r"\bpolicy_engine_[A-Za-z0-9_]+")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",),
            "summary": ("_sum", "_count", "")}
PROMETHEUS = shutil.which("prometheus")


def exported_series() -> set[str]:
    names: set[str] = set()
    for spec in EXPORTERS:
        module, attr = spec.split(":")
        registry: CollectorRegistry = getattr(importlib.import_module(module), attr)().registry
        for family in registry.collect():
            names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def queries() -> list[tuple[str, str]]:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [(p["title"], t["expr"]) for p in data["panels"] for t in p.get("targets", [])]


def test_dashboard_is_a_grafana_dashboard_with_a_datasource_variable() -> None:
    data = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert data["uid"] and data["title"] and data["schemaVersion"] >= 36
    assert [v["name"] for v in data["templating"]["list"] if v["type"] == "datasource"] == ["datasource"]
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in data["panels"]:
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, p["title"]
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
            assert p["targets"], f"panel {p['title']!r} has no query"


def test_every_query_names_an_exported_metric() -> None:
    exported = exported_series()
    assert "policy_engine_webhook_requests_total" in exported  # the reader of the registries works
    for title, expr in queries():
        named = METRIC.findall(expr)
        assert named, f"panel {title!r}: query names no policy-engine metric: {expr}"
        unknown = sorted(set(named) - exported)
        assert not unknown, f"panel {title!r} queries metrics nothing exports: {unknown}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if PROMETHEUS is None:
        pytest.skip("prometheus is not installed (Debian package 'prometheus'; .ci/run installs it as root)")
    work = tmp_path_factory.mktemp("prometheus")
    (work / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n")
    port = _free_port()
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={work / 'prometheus.yml'}",
                             f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, "prometheus exited at start-up"
            assert time.monotonic() < deadline, "prometheus did not become ready in 30 s"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_prometheus_parses_every_query(prometheus: str) -> None:
    for title, expr in queries():
        query = expr.replace("$__rate_interval", "5m").replace("$__range", "1h")
        body = urllib.parse.urlencode({"query": query}).encode()
        try:
            with urllib.request.urlopen(f"{prometheus}/api/v1/query", data=body, timeout=10) as r:
                answer = json.load(r)
        except urllib.error.HTTPError as exc:
            answer = json.load(exc)
        assert answer["status"] == "success", f"panel {title!r}: {answer.get('error')}: {expr}"
