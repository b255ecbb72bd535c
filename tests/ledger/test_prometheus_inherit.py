"""The namespace-label rule in Prometheus history: a real Prometheus over backfilled kube_pod_labels and
kube_namespace_labels groups the same pods into the same groups as the ledger written through the
cluster-state cache (``model/inherit.py``: empty means missing, a missing label comes from the namespace,
an authoritative namespace label wins)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from policy_engine.compiler.program import Period
from policy_engine.engine import Engine
from policy_engine.ledger.observe import ledger_rules
from policy_engine.ledger.prometheus import PrometheusHistory
from policy_engine.ledger.store import NO_VALUE, Ledger

from .cluster import HOUR, T0, Cache, SimPod, engine, write_ledger
from .ksm import STEP, served

KEYS = ("team", "cost-center")
NAMESPACES: list[dict[str, Any]] = [
    {"metadata": {"name": "ml-shared", "labels": {"team": "search", "cost-center": "cc-7"}}},
    {"metadata": {"name": "ml-open", "labels": {"env": "dev"}}},
    {"metadata": {"name": "ml-empty", "labels": {"team": ""}}},
]


def pod(name: str, ns: str, labels: dict[str, str], gpus: int = 1, start: int = 1, end: int | None = None,
        deleted: bool = False, node: str = "gpu-a") -> SimPod:
    return SimPod(name, "?", gpus, node, T0 + start * HOUR, T0 + end * HOUR if end else None, deleted,
                  namespace_name=ns, own_labels=tuple(labels.items()))


PODS = [
    pod("relabelled-0", "ml-shared", {"team": "nlp"}, gpus=2),  # authoritative: search, not nlp
    pod("empty-0", "ml-shared", {"team": ""}, start=2, end=9),  # empty is missing: search
    pod("bare-0", "ml-shared", {}, gpus=4, start=3, end=7, deleted=True, node="gpu-b"),  # search, deleted
    pod("billed-0", "ml-shared", {"team": "search", "cost-center": "cc-1"}, start=5),  # cost-center cc-7
    pod("own-0", "ml-open", {"team": "vision"}, gpus=2, node="gpu-b"),  # no namespace value: its own
    pod("untagged-0", "ml-open", {}, start=4, end=12),  # no team anywhere: in no team group
    pod("kept-0", "ml-empty", {"team": "nlp"}, gpus=3),  # the namespace's empty value imposes nothing
    pod("nothing-0", "ml-empty", {"team": ""}, start=6),  # empty on both: no team
]
NOW = T0 + 30 * HOUR
EXPECTED = {"search": {"relabelled-0", "empty-0", "bare-0", "billed-0"}, "vision": {"own-0"}, "nlp": {"kept-0"}}


@pytest.fixture(scope="module")
def eng() -> Engine:
    return engine()


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(PODS, T0, NOW, tmp_path_factory.mktemp("prom-ns"), NAMESPACES) as url:
        yield url


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory, eng: Engine) -> Iterator[Ledger]:
    """The ledger as the controller writes it: the cluster-state cache with the same rule and keys."""
    path = tmp_path_factory.mktemp("ns") / "ledger.db"
    write_ledger(path, PODS, 31, Cache(eng.catalog, NAMESPACES, inherit=KEYS, authoritative=KEYS))
    with Ledger(path, readonly=True) as led:
        yield led


def hours(names: set[str]) -> float:
    return sum(p.gpus * p.hours(T0, NOW) for p in PODS if p.name in names)


@pytest.fixture()
def history(prom: str, eng: Engine) -> Iterator[PrometheusHistory]:
    with PrometheusHistory(prom, catalog=eng.catalog, step=STEP, inherit_labels=KEYS, authoritative_labels=KEYS) as h:
        yield h


def test_same_groups_for_the_same_pods(history: PrometheusHistory, ledger: Ledger, eng: Engine) -> None:
    for rule in ledger_rules(eng.policies):
        from_prom = history.group_figures(rule, NOW)
        from_ledger = ledger.group_usage(rule.id, rule.rule.period, NOW)
        assert set(from_prom) == set(from_ledger) == set(EXPECTED)
        for team, names in EXPECTED.items():
            p, led = from_prom[team], from_ledger[team]
            assert p.pods == led.pods == len(names), team
            assert p.gpu_hours == pytest.approx(led.gpu_hours) == pytest.approx(hours(names)), team
            assert p.cost == pytest.approx(led.cost) and p.cost_running == pytest.approx(led.cost_running), team
            assert p.gpu_rate == led.gpu_rate, team
    # --by over both inherited keys: the same rows, pods without a value under NO_VALUE in both
    rows = {f.key: f for f in history.usage_by(["team", "cost-center"], Period.MONTH, NOW)}
    expected = {f.key: f for f in ledger.usage_by(["team", "cost-center"], Period.MONTH, NOW)}
    assert set(rows) == set(expected) == {("search", "cc-7"), ("vision", NO_VALUE), ("nlp", NO_VALUE),
                                          (NO_VALUE, NO_VALUE)}
    for key, f in rows.items():
        assert f.gpu_hours == pytest.approx(expected[key].gpu_hours) and f.cost == pytest.approx(expected[key].cost)
    assert rows[(NO_VALUE, NO_VALUE)].gpu_hours == pytest.approx(hours({"untagged-0", "nothing-0"}))


def test_without_the_rule_the_pods_own_labels_decide(prom: str, eng: Engine) -> None:
    """What the rule changes: read as labelled, the relabelled pod would bill nlp and the unlabelled ones no one."""
    rule = ledger_rules(eng.policies)[0]
    with PrometheusHistory(prom, catalog=eng.catalog, step=STEP, inherit_labels=()) as history:
        figures = history.group_figures(rule, NOW)
    assert figures["nlp"].gpu_hours == pytest.approx(hours({"relabelled-0", "kept-0"}))
    assert figures["search"].gpu_hours == pytest.approx(hours({"billed-0"}))
    # inherited but not authoritative: the pod's own team stands, the unlabelled ones take the namespace's
    with PrometheusHistory(prom, catalog=eng.catalog, step=STEP, inherit_labels=KEYS,
                           authoritative_labels=()) as history:
        figures = history.group_figures(rule, NOW)
    assert figures["nlp"].gpu_hours == pytest.approx(hours({"relabelled-0", "kept-0"}))
    assert figures["search"].gpu_hours == pytest.approx(hours({"empty-0", "bare-0", "billed-0"}))
