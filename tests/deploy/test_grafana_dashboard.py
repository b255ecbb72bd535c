"""deploy/grafana: every query names a metric the code exports, and real Prometheus accepts every query.

The exported metrics are read from the components' own registries (not from a list kept by hand), so a
renamed or removed metric fails here before a dashboard silently shows "No data".
"""

from __future__ import annotations

import importlib
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from tests.prometheus_server import prometheus_over

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "policy-engine-dashboard.json"
#: Each component that serves /metrics: "module:attribute" of a class whose instances have ``.registry``.
EXPORTERS = ["policy_engine.webhook.metrics:Metrics", "policy_engine.controller.metrics:Metrics"]
METRIC = re.compile(r"\bpolicy_engine_[A-Za-z0-9_]+")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",),
            "summary": ("_sum", "_count", "")}


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


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    with prometheus_over() as server:
        yield server.url


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
