"""The ledger's counting: GPU-hours and spend per group from pod lifetimes, the same figures the live cache
computes, kept across restarts, deleted pods included, nothing counted twice."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from policy_engine.cluster.usage import group_usage
from policy_engine.compiler.program import Period
from policy_engine.engine import Engine
from policy_engine.ledger.db import SCHEMA_VERSION, LedgerError, connect
from policy_engine.ledger.observe import ledger_rules
from policy_engine.ledger.store import Ledger
from policy_engine.ledger.writer import LedgerWriter
from policy_engine.model.dimensions import UNTAGGED

from .cluster import HOUR, T0, Cache, SimPod, engine, fleet, per_gpu_hour


@pytest.fixture(scope="module")
def eng() -> Engine:
    return engine()


def _writer(ledger: Ledger, cache: Cache, eng: Engine, clock: dict[str, datetime]) -> LedgerWriter:
    return LedgerWriter(ledger, cache, lambda: eng.policies, lambda: eng.catalog, clock=lambda: clock["now"])


def _run(ledger: Ledger, pods: list[SimPod], eng: Engine, cycles: range) -> Cache:
    cache = Cache(eng.catalog)
    clock = {"now": T0}
    writer = _writer(ledger, cache, eng, clock)
    for k in cycles:
        clock["now"] = T0 + k * HOUR
        cache.list_at(pods, clock["now"])
        writer.cycle()
    return cache


def _expected(pods: list[SimPod], now: datetime, team: str) -> tuple[float, float]:
    hours = cost = 0.0
    for p in pods:
        if p.team == team:
            h = p.gpus * p.hours(T0, now)
            hours += h
            cost += h * per_gpu_hour(p.node, engine().catalog)
    return hours, cost


def test_figures_are_the_pods_lifetimes_and_match_the_live_cache(tmp_path: Path, eng: Engine) -> None:
    pods = fleet(60)
    with Ledger(tmp_path / "l.db") as ledger:
        cache = _run(ledger, pods, eng, range(0, 30))
        now = T0 + 29 * HOUR
        quota = next(r for r in ledger_rules(eng.policies) if r.policy == "team-gpu-hours")
        budget = next(r for r in ledger_rules(eng.policies) if r.policy == "team-spend")
        gpu = ledger.group_usage(quota.id, Period.MONTH, now)
        for team in ("nlp", "vision", "search"):
            hours, cost = _expected(pods, now, team)
            assert gpu[team].gpu_hours == pytest.approx(hours)
            assert gpu[team].cost == pytest.approx(cost)
            # the live cache's own counting over its records gives the same used and running
            records = [r for r in cache.pod_records() if r.workload.labels.get("team") == team]
            live = group_usage(records, "gpu_hours", Period.MONTH, now).usage
            assert gpu[team].gpu_hours == pytest.approx(live.used)
            assert gpu[team].gpu_hours_running == pytest.approx(live.running)
            live_cost = group_usage(records, "cost", Period.MONTH, now).usage
            assert ledger.group_usage(budget.id, Period.MONTH, now)[team].cost_running == pytest.approx(
                live_cost.running)
        running = sum(p.gpus for p in pods if p.team == "nlp" and p.end is None)
        assert gpu["nlp"].gpu_hours_running == pytest.approx(running * ((T0.replace(month=12) - now) / HOUR))


def test_deleted_pods_stay_counted_after_a_restart(tmp_path: Path, eng: Engine) -> None:
    pods = fleet(30)
    path = tmp_path / "l.db"
    with Ledger(path) as ledger:
        _run(ledger, pods, eng, range(0, 40))  # every deleted pod has gone by hour 40
    # a new process: its cache has never seen the deleted pods, the ledger has
    with Ledger(path) as ledger:
        _run(ledger, pods, eng, range(40, 45))
        now = T0 + 44 * HOUR
        rule = ledger_rules(eng.policies)[0].id
        deleted = [p for p in pods if p.deleted]
        assert deleted and all(p.end is not None and p.end <= T0 + 40 * HOUR for p in deleted)
        for team in ("nlp", "vision", "search"):
            assert ledger.group_usage(rule, Period.MONTH, now)[team].gpu_hours == pytest.approx(
                _expected(pods, now, team)[0])


def test_recording_the_same_cycle_twice_changes_nothing(tmp_path: Path, eng: Engine) -> None:
    pods = fleet(30)
    with Ledger(tmp_path / "l.db") as ledger:
        _run(ledger, pods, eng, range(0, 12))
        rule = ledger_rules(eng.policies)[0].id
        now = T0 + 11 * HOUR
        before = ledger.group_usage(rule, Period.MONTH, now)
        _run(ledger, pods, eng, range(11, 12))  # a replayed cycle, from a fresh cache
        assert ledger.group_usage(rule, Period.MONTH, now) == before
        assert ledger.pods() == sum(1 for p in pods if p.start <= now)


def test_a_pod_gone_while_no_writer_watched_is_closed_at_the_relist(tmp_path: Path, eng: Engine) -> None:
    pod = SimPod("gone-0", "nlp", 2, "gpu-a", T0, T0 + 10 * HOUR, deleted=True)
    with Ledger(tmp_path / "l.db") as ledger:
        _run(ledger, [pod], eng, range(0, 3))
        _run(ledger, [pod], eng, range(12, 13))  # the writer was down from hour 3 to hour 12
        rule = ledger_rules(eng.policies)[0].id
        figures = ledger.group_usage(rule, Period.MONTH, T0 + 20 * HOUR)["nlp"]
        assert figures.gpu_hours == pytest.approx(2 * 12)  # closed when the relist missed it: counted, never lost
        assert figures.gpu_hours_running == 0


def test_a_rule_added_later_keys_pods_that_ended_before_it(tmp_path: Path, eng: Engine) -> None:
    from policy_engine.engine import load_engine

    pods = fleet(12)
    path = tmp_path / "l.db"
    with Ledger(path) as ledger:
        _run(ledger, pods, eng, range(0, 30))
    extra = tmp_path / "ns.policy"
    extra.write_text('policy "ns-quota" {\n  match {\n    kinds workloads\n  }\n'
                     '  quota gpu_hours 100 per month by namespace\n}\n')
    both = load_engine([Path(__file__).resolve().parents[1] / "fixtures" / "ledger" / "quotas.policy", extra])
    with Ledger(path) as ledger:
        ledger.sync_rules(ledger_rules(both.policies))
        now = T0 + 29 * HOUR
        by_ns = ledger.group_usage("namespace", Period.MONTH, now)
        assert by_ns["team-nlp"].gpu_hours == pytest.approx(_expected(pods, now, "nlp")[0])


def test_usage_by_dimensions(tmp_path: Path, eng: Engine) -> None:
    pods = fleet(24)
    with Ledger(tmp_path / "l.db") as ledger:
        _run(ledger, pods, eng, range(0, 25))
        now = T0 + 24 * HOUR
        rows = {f.key: f for f in ledger.usage_by(["team", "capacity_type"], Period.MONTH, now)}
        spot = sum(p.gpus * p.hours(T0, now) for p in pods if p.team == "nlp" and p.node == "gpu-b")
        assert rows[("nlp", "spot")].gpu_hours == pytest.approx(spot)
        assert rows[("nlp", "spot")].cost == pytest.approx(spot * per_gpu_hour("gpu-b", eng.catalog))
        assert {f.key[0] for f in ledger.usage_by(["cost-center"], Period.MONTH, now)} == {UNTAGGED}


def test_schema_is_migrated_and_a_newer_one_refused(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    conn = sqlite3.connect(old)
    from policy_engine.ledger.db import MIGRATIONS

    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version=1")
    conn.close()
    with pytest.raises(LedgerError, match="needs migrating"):
        connect(old, readonly=True)
    migrated = connect(old)
    assert migrated.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert migrated.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    migrated.execute("SELECT * FROM alerts").fetchall()
    migrated.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    migrated.close()
    with pytest.raises(LedgerError, match="newer than this release"):
        connect(old)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(LedgerError, match="not a usable ledger"):
        connect(garbage)
    with pytest.raises(LedgerError, match="no ledger here"):
        Ledger(tmp_path / "missing.db", readonly=True)


def test_prune_forgets_only_pods_that_ended_before_the_horizon(tmp_path: Path, eng: Engine) -> None:
    pods = fleet(12)
    with Ledger(tmp_path / "l.db") as ledger:
        _run(ledger, pods, eng, range(0, 30))
        ended = sum(1 for p in pods if p.end is not None)
        assert ledger.prune(T0 + 29 * HOUR + timedelta(days=1)) == ended
        assert ledger.pods() == len(pods) - ended
