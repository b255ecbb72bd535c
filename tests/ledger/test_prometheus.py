"""Prometheus history: a month of kube-state-metrics series, backfilled with promtool into a real Prometheus,
gives the same GPU-hours and spend per group as the ledger that watched the same pods."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from policy_engine.compiler.program import Period
from policy_engine.engine import Engine
from policy_engine.ledger.observe import ledger_rules
from policy_engine.ledger.prometheus import PrometheusError, PrometheusHistory
from policy_engine.ledger.report import UnknownRule
from policy_engine.ledger.snapshot import LedgerHistory, build_snapshot
from policy_engine.ledger.store import Ledger
from policy_engine.prometheus import Endpoint

from .cluster import HOUR, T0, TEAMS, engine, fleet, per_gpu_hour, write_ledger
from .ksm import STEP, UTIL, served

# every pod starts an hour after the month does (a sample exactly at the period's start is the edge case
# of the subquery's closed range), lifetimes on the hour as in the ledger tests
PODS = [replace(p, start=p.start + HOUR, end=p.end + HOUR if p.end else None) for p in fleet(30)]
NOW = T0 + 40 * HOUR


@pytest.fixture(scope="module")
def eng() -> Engine:
    return engine()


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(PODS, T0, NOW, tmp_path_factory.mktemp("prom")) as url:
        yield url


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory, eng: Engine) -> Iterator[Ledger]:
    path = tmp_path_factory.mktemp("pl") / "ledger.db"
    write_ledger(path, PODS, 41)
    with Ledger(path, readonly=True) as led:
        yield led


@pytest.fixture()
def history(prom: str, eng: Engine) -> Iterator[PrometheusHistory]:
    with PrometheusHistory(prom, catalog=eng.catalog, step=STEP) as h:
        yield h


def test_gpu_hours_and_spend_per_team_match_the_ledger(history: PrometheusHistory, ledger: Ledger, eng: Engine) -> None:
    for r in ledger_rules(eng.policies):
        from_prom = history.group_figures(r, NOW)
        from_ledger = ledger.group_usage(r.id, r.rule.period, NOW)
        assert set(from_prom) == set(TEAMS) == set(from_ledger)
        for team in TEAMS:
            p, led = from_prom[team], from_ledger[team]
            assert p.gpu_hours == pytest.approx(led.gpu_hours), team
            assert p.gpu_hours_running == pytest.approx(led.gpu_hours_running), team
            assert p.cost == pytest.approx(led.cost), team
            assert p.cost_running == pytest.approx(led.cost_running), team
            assert p.gpu_rate == led.gpu_rate and p.pods == led.pods
            # and both are what the pods did, deleted ones included
            assert p.gpu_hours == pytest.approx(sum(x.gpus * x.hours(T0, NOW) for x in PODS if x.team == team))
    # replicas reading Prometheus decide on the same numbers as the ledger's
    snap_p = build_snapshot(history, eng.policies, NOW)
    snap_l = build_snapshot(LedgerHistory(ledger), eng.policies, NOW)
    for rule_id, (_, groups) in snap_p.by_rule.items():
        other = snap_l.by_rule[rule_id][1]
        for key, usage in groups.items():
            assert usage.used == pytest.approx(other[key].used)
            assert usage.running == pytest.approx(other[key].running)


def test_by_capacity_type_and_utilisation(history: PrometheusHistory, ledger: Ledger) -> None:
    rows = {f.key: f for f in history.usage_by(["team", "capacity_type"], Period.MONTH, NOW)}
    expected = {f.key: f for f in ledger.usage_by(["team", "capacity_type"], Period.MONTH, NOW)}
    assert set(rows) == set(expected)
    for key, f in rows.items():
        assert f.cost == pytest.approx(expected[key].cost)
    util = history.utilisation(Period.MONTH, NOW)
    assert util[("team-nlp", PODS[0].name)] == pytest.approx(UTIL[0] / 100)
    assert util[("team-vision", PODS[1].name)] == pytest.approx(UTIL[1] / 100)


def test_usage_cli_from_prometheus_splits_actual_cost(prom: str, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from policy_engine.cli.main import main

    from .cluster import POLICIES

    code = main(["usage", "--prometheus", prom, "--prometheus-step", str(STEP), "--policies", str(POLICIES),
                 "--at", NOW.isoformat(), "--format", "json"])
    out = capsys.readouterr().out
    assert code == 0, out
    doc = json.loads(out)
    assert doc["utilisation"] is True
    nlp = next(g for g in doc["groups"] if g["policy"] == "team-spend" and g["key"] == "nlp")
    actual = nlp["actual"]
    assert actual["used"] + actual["idle"] + actual["unmeasured"] == pytest.approx(nlp["used"])
    catalog = engine().catalog
    per_pod = [(p, p.gpus * p.hours(T0, NOW) * per_gpu_hour(p.node, catalog)) for p in PODS if p.team == "nlp"]
    assert actual["used"] == pytest.approx(sum(c * UTIL[PODS.index(p) % 3] / 100 for p, c in per_pod))
    code = main(["usage", "--prometheus", prom, "--prometheus-step", str(STEP), "--policies", str(POLICIES),
                 "--at", NOW.isoformat(), "--by", "team"])
    text = capsys.readouterr().out
    assert code == 0 and "actual used" in text and "idle %" in text and "source: prometheus" in text


def test_unsupported_keys_and_errors_are_said(history: PrometheusHistory, eng: Engine) -> None:
    rule = ledger_rules(eng.policies)[0]
    odd = replace(rule, rule=replace(rule.rule, key_label="gpu_model"))
    with pytest.raises(UnknownRule, match="pod labels"):
        history.group_figures(odd, NOW)
    with pytest.raises(PrometheusError, match=r"parse error|bad_data"):
        history.query("sum(", NOW)
    with PrometheusHistory(Endpoint("http://127.0.0.1:9", timeout_seconds=1), catalog=eng.catalog) as dead, \
            pytest.raises(PrometheusError):
        dead.group_figures(rule, NOW - timedelta(hours=1))
