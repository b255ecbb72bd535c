"""``Ledger``: GPU pods' lifetimes in SQLite, and usage per quota/budget group and period computed from them.

Accumulation is idempotent by construction: a pod is one row keyed by its uid, holding its start, end
and rate, and every figure is computed from those rows for the period asked. Recording the same pod
twice (a restart re-lists the cluster, a cycle is replayed after SIGKILL) changes nothing; a cycle
killed half-way leaves the last committed cycle intact (one transaction per cycle). Deleted pods keep
their rows until they end before the retention horizon, so their hours stay counted.

The counting rule, for one group, one period [start, end) and the time ``now`` (the same as the
cluster-state cache's, docs/usage.md):
    used    = Σ rate × hours the pod ran inside [start, now]   (until its deadline, if sooner)
    running = Σ over pods holding GPUs now of rate × hours from now to the period's end (or deadline)
with rate = GPUs (quotas) or the hourly price that applied on its node (budgets; unpriced pods counted
apart).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from policy_engine.compiler.program import Period
from policy_engine.engine.aggregate import period_bounds
from policy_engine.ledger.db import LedgerError, connect
from policy_engine.ledger.observe import LedgerRule, Observation, pack_source, rebuild_workload
from policy_engine.model.dimensions import UNTAGGED

HOUR = 3600.0
NO_VALUE = UNTAGGED  # the one name of spend without a value (model/dimensions.py), in every report
BUILT_IN = {"namespace": "namespace", "model": "model", "kind": "kind", "workload": "workload",
            "instance_type": "instance_type", "capacity_type": "capacity_type", "node": "node"}


def ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def from_ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True, slots=True)
class Figures:
    """One group's usage in one period, in both metrics."""

    key: tuple[str, ...]
    pods: int  # pods that ran (or hold GPUs) in the period
    gpu_hours: float  # used since the period began
    gpu_hours_running: float  # committed by pods holding GPUs now, until the period ends
    cost: float  # used, priced pods only
    cost_running: float
    unpriced: int  # pods without a price (left out of cost)
    gpu_rate: float = 0.0  # GPUs held now (GPU-hours per hour)
    cost_rate: float = 0.0  # spend per hour of the pods holding GPUs now

    def rate(self, metric: str) -> float:
        return self.gpu_rate if metric == "gpu_hours" else self.cost_rate

    def used(self, metric: str) -> float:
        return self.gpu_hours if metric == "gpu_hours" else self.cost

    def running(self, metric: str) -> float:
        return self.gpu_hours_running if metric == "gpu_hours" else self.cost_running


@dataclass(frozen=True, slots=True)
class PodSpan:
    """One pod's life as the ledger knows it (unix times; ``ended`` None while it runs)."""

    namespace: str
    name: str
    workload: str
    kind: str
    gpus: float
    hourly: float | None
    started: float
    ended: float | None
    deadline: float | None = None  # past its deadline a pod is counted as gone, as the ledger's sums count it

    def hours_within(self, start: float, end: float) -> float:
        """Hours of the pod's life inside ``[start, end]`` (the counting rule of the ledger's sums)."""
        stop = min(end, self.ended if self.ended is not None else end, self.deadline if self.deadline else end)
        return max(0.0, stop - max(self.started, start)) / 3600


# The one SQL form of the counting rule (parameters :ps period start, :now, :pe period end).
_USED_HOURS = ("CASE WHEN p.started IS NULL THEN 0.0 ELSE max(0.0, min(coalesce(p.ended, :now), :now, "
               "coalesce(p.deadline, :now)) - max(p.started, :ps)) / 3600.0 END")
_LEFT_HOURS = ("CASE WHEN p.ended IS NULL AND p.node IS NOT NULL THEN max(0.0, min(:pe, coalesce(p.deadline, "
               ":pe)) - max(:now, coalesce(p.started, :now))) / 3600.0 ELSE 0.0 END")
_IN_PERIOD = "(p.ended IS NULL OR p.ended > :ps) AND (p.started IS NULL OR p.started < :now)"
_HOLDS = "(p.ended IS NULL AND p.node IS NOT NULL AND (p.deadline IS NULL OR p.deadline > :now))"
_SUMS = (f"count(*), sum(p.gpus * {_USED_HOURS}), sum(p.gpus * {_LEFT_HOURS}), "
         f"coalesce(sum(p.hourly * {_USED_HOURS}), 0.0), coalesce(sum(p.hourly * {_LEFT_HOURS}), 0.0), "
         f"sum(p.hourly IS NULL), sum(p.gpus * {_HOLDS}), coalesce(sum(p.hourly * {_HOLDS}), 0.0)")


class Ledger:
    """One ledger file. Writes come from one writer (the controller); any number of processes read."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self.conn = connect(self.path, readonly=readonly)
        self._lock = threading.Lock()  # one connection, shared by a reader thread and the writer's cycle
        self._rule_ids: dict[str, int] = {}

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------------------

    def sync_rules(self, rules: Sequence[LedgerRule], horizon: datetime | None = None) -> int:
        """Register the group keys of the rules in force; key every stored pod a key has no value for yet
        (a new rule) from its stored source. Returns how many pod keys were added."""
        self._writable()
        added = 0
        with self._lock, self._transaction():
            for r in {r.id: r for r in rules}.values():
                row = self.conn.execute("SELECT id FROM rules WHERE name = ?", (r.id,)).fetchone()
                if row is None:
                    rule_id = int(self.conn.execute("INSERT INTO rules (name, key_label) VALUES (?, ?)",
                                                    (r.id, r.key_label)).lastrowid or 0)
                else:
                    rule_id = int(row[0])
                self._rule_ids[r.id] = rule_id
                missing = self.conn.execute(
                    "SELECT p.id, s.source, p.labels FROM pods p JOIN pod_sources s ON s.pod = p.id WHERE "
                    "(p.ended IS NULL OR p.ended >= ?) AND NOT EXISTS "
                    "(SELECT 1 FROM pod_keys k WHERE k.rule = ? AND k.pod = p.id)",
                    (ts(horizon) or 0.0, rule_id)).fetchall()
                rows = []
                for pod_id, source, labels in missing:
                    workload = rebuild_workload(source, labels)
                    key = r.rule.key(workload) if workload is not None else None
                    if key is not None:
                        rows.append((rule_id, pod_id, key))
                self.conn.executemany("INSERT OR IGNORE INTO pod_keys (rule, pod, key) VALUES (?, ?, ?)", rows)
                added += len(rows)
        return added

    def record(self, observations: Iterable[Observation], now: datetime, *, complete: bool = False) -> int:
        """Record one cycle atomically; returns pods written.

        ``complete``: the observations are the whole cluster (a list), so a pod still open in the ledger but
        absent here went while nobody watched: it is closed at ``now``, as the cache closes it.
        """
        self._writable()
        written = 0
        seen: list[str] = []
        with self._lock, self._transaction():
            for o in observations:
                self._upsert(o)
                seen.append(o.uid)
                written += 1
            if complete:
                self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS seen (uid TEXT PRIMARY KEY) WITHOUT ROWID")
                self.conn.execute("DELETE FROM temp.seen")
                self.conn.executemany("INSERT OR IGNORE INTO temp.seen VALUES (?)", ((u,) for u in seen))
                self.conn.execute("UPDATE pods SET ended = ? WHERE ended IS NULL AND uid NOT IN "
                                  "(SELECT uid FROM temp.seen)", (ts(now),))
            self._set_state("last_cycle", now.isoformat())
        return written

    def _upsert(self, o: Observation) -> None:
        # started: the pod's own startTime; ended: once known it stays (a late event does not revive a pod);
        # hourly: the price that applied when first priced stays (a later catalog does not rewrite history).
        row = self.conn.execute(
            "INSERT INTO pods (uid, namespace, name, workload, kind, node, instance_type, capacity_type, model, "
            "gpus, hourly, started, ended, deadline, labels) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uid) DO UPDATE SET "
            "node = coalesce(excluded.node, node), instance_type = coalesce(instance_type, excluded.instance_type), "
            "capacity_type = coalesce(capacity_type, excluded.capacity_type), model = excluded.model, "
            "gpus = excluded.gpus, hourly = coalesce(hourly, excluded.hourly), "
            "started = coalesce(started, excluded.started), ended = coalesce(ended, excluded.ended), "
            "deadline = coalesce(excluded.deadline, deadline), labels = excluded.labels RETURNING id",
            (o.uid, o.namespace, o.name, o.workload, o.kind, o.node, o.instance_type, o.capacity_type, o.model,
             o.gpus, o.hourly, ts(o.started), ts(o.ended), ts(o.deadline),
             json.dumps(dict(o.labels), sort_keys=True, separators=(",", ":")))).fetchone()
        pod_id = int(row[0])
        self.conn.execute("INSERT INTO pod_sources (pod, source) VALUES (?, ?) ON CONFLICT (pod) DO UPDATE SET "
                          "source = excluded.source", (pod_id, pack_source(o.source)))
        for rule_name, key in o.keys.items():
            rule_id = self._rule_ids.get(rule_name)
            if rule_id is None:
                continue  # not registered through sync_rules: keyed when it is
            self.conn.execute("INSERT INTO pod_keys (rule, pod, key) VALUES (?, ?, ?) ON CONFLICT (rule, pod) "
                              "DO UPDATE SET key = excluded.key", (rule_id, pod_id, key))

    def prune(self, before: datetime) -> int:
        """Forget pods that ended before ``before`` (the retention horizon); returns how many."""
        self._writable()
        with self._lock, self._transaction():
            cur = self.conn.execute("DELETE FROM pods WHERE ended IS NOT NULL AND ended < ?", (ts(before),))
            self.conn.execute("DELETE FROM alerts WHERE period_start < ?", (ts(before) or 0.0,))
            return cur.rowcount

    # -- alerts remembered --------------------------------------------------------------------------------

    def fired(self, rule: str, key: str, period_start: datetime, alert: str) -> bool:
        with self._lock:
            return self.conn.execute("SELECT 1 FROM alerts WHERE rule = ? AND key = ? AND period_start = ? AND "
                                     "alert = ?", (rule, key, ts(period_start), alert)).fetchone() is not None

    def mark_fired(self, rule: str, key: str, period_start: datetime, alert: str, now: datetime,
                   summary: str) -> bool:
        """Remember that an alert went out; False if it already had (another writer got there first)."""
        self._writable()
        with self._lock, self._transaction():
            cur = self.conn.execute("INSERT OR IGNORE INTO alerts VALUES (?, ?, ?, ?, ?, ?)",
                                    (rule, key, ts(period_start), alert, ts(now), summary))
            return cur.rowcount == 1

    def fired_alerts(self) -> list[tuple[str, str, datetime, str, str]]:
        with self._lock:
            rows = self.conn.execute("SELECT rule, key, period_start, alert, summary FROM alerts "
                                     "ORDER BY fired_at, rule, key, alert").fetchall()
        return [(r[0], r[1], from_ts(r[2]), r[3], r[4]) for r in rows]

    # -- reading ------------------------------------------------------------------------------------------

    def last_cycle(self) -> datetime | None:
        with self._lock:
            row = self.conn.execute("SELECT value FROM state WHERE name = 'last_cycle'").fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def rule_names(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self.conn.execute("SELECT name FROM rules ORDER BY name")]

    def knows(self, rule: str) -> bool:
        """Whether the writer keys pods by this group key (a rule it has never seen has no figures)."""
        with self._lock:
            return self.conn.execute("SELECT 1 FROM rules WHERE name = ?", (rule,)).fetchone() is not None

    def group_usage(self, rule: str, period: Period, now: datetime) -> dict[str, Figures]:
        """Usage of every group of one rule (its group key expression) in the period holding ``now``."""
        start, end = period_bounds(period, now)
        return self.usage_between(rule, start, end, now)

    def usage_between(self, rule: str, start: datetime, end: datetime, now: datetime) -> dict[str, Figures]:
        """Usage of every group of one rule in [start, end) as seen at ``now`` (start <= now <= end)."""
        params = {"ps": ts(start), "pe": ts(end), "now": ts(now), "rule": rule}
        sql = (f"SELECT k.key, {_SUMS} FROM pod_keys k JOIN rules r ON r.id = k.rule AND r.name = :rule "
               f"JOIN pods p ON p.id = k.pod WHERE {_IN_PERIOD} GROUP BY k.key")
        with self._lock:
            rows = self.conn.execute(sql, params).fetchall()
        return {row[0]: _figures((row[0],), row[1:]) for row in rows}

    def usage_by(self, dimensions: Sequence[str], period: Period, now: datetime) -> list[Figures]:
        """Usage per combination of dimension values (labels, or namespace/model/kind/workload/...)."""
        start, end = period_bounds(period, now)
        params: dict[str, object] = {"ps": ts(start), "pe": ts(end), "now": ts(now)}
        columns, _ = self._group_columns(dimensions, params)
        select = ", ".join(columns) or "'total'"
        group = ", ".join(str(i + 1) for i in range(max(len(columns), 1)))
        sql = f"SELECT {select}, {_SUMS} FROM pods p WHERE {_IN_PERIOD} GROUP BY {group}"
        with self._lock:
            rows = self.conn.execute(sql, params).fetchall()
        width = max(len(columns), 1)
        return [_figures(tuple(str(v) for v in row[:width]), row[width:]) for row in rows]

    def pod_figures(self, period: Period, now: datetime, *, rule: str | None = None,
                    dimensions: Sequence[str] = ()) -> list[tuple[str, str, tuple[str, ...], float, float]]:
        """Per pod in the period: (namespace, name, group, GPU-hours used, cost used), grouped by one rule's
        key or by dimensions: what the used/idle split by GPU utilisation needs."""
        start, end = period_bounds(period, now)
        params: dict[str, object] = {"ps": ts(start), "pe": ts(end), "now": ts(now), "rule": rule}
        columns, joins = self._group_columns(dimensions, params)
        if rule is not None:
            columns = ["k.key"]
            joins = "JOIN pod_keys k ON k.pod = p.id JOIN rules r ON r.id = k.rule AND r.name = :rule"
        select = ", ".join(columns) or "'total'"
        sql = (f"SELECT p.namespace, p.name, {select}, p.gpus * {_USED_HOURS}, coalesce(p.hourly * {_USED_HOURS}, "
               f"0.0) FROM pods p {joins} WHERE {_IN_PERIOD}")
        width = max(len(columns), 1)
        with self._lock:
            rows = self.conn.execute(sql, params).fetchall()
        return [(r[0], r[1], tuple(str(v) for v in r[2:2 + width]), float(r[-2]), float(r[-1])) for r in rows]

    @staticmethod
    def _group_columns(dimensions: Sequence[str], params: dict[str, object]) -> tuple[list[str], str]:
        columns = []
        for i, d in enumerate(dimensions):
            if d in BUILT_IN:
                columns.append(f"coalesce(p.{BUILT_IN[d]}, '{NO_VALUE}')")
            else:
                params[f"d{i}"] = "$." + json.dumps(d)
                # an empty label is a missing one (model/inherit.py), here as everywhere
                columns.append(f"coalesce(nullif(json_extract(p.labels, :d{i}), ''), '{NO_VALUE}')")
        return columns, ""

    def workloads(self, rule: str, key: str, period: Period, now: datetime, limit: int = 5) -> list[Figures]:
        """A group's top workloads by spend (then GPU-hours) in the period."""
        start, end = period_bounds(period, now)
        params = {"ps": ts(start), "pe": ts(end), "now": ts(now), "rule": rule, "key": key, "limit": limit}
        sql = (f"SELECT p.namespace || '/' || p.workload, {_SUMS} FROM pod_keys k JOIN rules r ON r.id = k.rule "
               f"AND r.name = :rule JOIN pods p ON p.id = k.pod WHERE k.key = :key AND {_IN_PERIOD} "
               f"GROUP BY 1 ORDER BY 5 DESC, 3 DESC, 1 LIMIT :limit")
        with self._lock:
            rows = self.conn.execute(sql, params).fetchall()
        return [_figures((row[0],), row[1:]) for row in rows]

    def daily(self, rule: str, key: str, days: int, now: datetime) -> list[Figures]:
        """A group's usage per UTC day for the ``days`` days before today and today so far (oldest first)."""
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        out = []
        for back in range(days, -1, -1):
            day = today - timedelta(days=back)
            end = day + timedelta(days=1)
            figures = self.usage_between(rule, day, end, min(end, now)).get(key)
            out.append(figures or Figures((day.date().isoformat(),), 0, 0.0, 0.0, 0.0, 0.0, 0))
        return out

    def pod_spans(self, start: datetime, end: datetime) -> list[PodSpan]:
        """Pods alive at some time in ``[start, end)`` with their workload, GPUs, price and lifetime (an open
        pod's ``ended`` is None): what unit costs (per token, per training run) are computed from."""
        sql = ("SELECT namespace, name, workload, kind, gpus, hourly, started, ended, deadline FROM pods "
               "WHERE started IS NOT NULL AND started < :end AND (ended IS NULL OR ended > :start)")
        with self._lock:
            rows = self.conn.execute(sql, {"start": ts(start), "end": ts(end)}).fetchall()
        return [PodSpan(*row) for row in rows]

    def pods(self) -> int:
        with self._lock:
            return int(self.conn.execute("SELECT count(*) FROM pods").fetchone()[0])

    # -- plumbing -----------------------------------------------------------------------------------------

    def _writable(self) -> None:
        if self.readonly:
            raise LedgerError(f"{self.path}: opened read-only")

    def _set_state(self, name: str, value: str) -> None:
        self.conn.execute("INSERT INTO state (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET "
                          "value = excluded.value", (name, value))

    def _transaction(self) -> _Transaction:
        return _Transaction(self.conn)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _figures(key: tuple[str, ...], row: Sequence[Any]) -> Figures:
    pods, gh, ghr, cost, costr, unpriced, gpu_rate, cost_rate = row
    return Figures(key, int(pods or 0), float(gh or 0.0), float(ghr or 0.0), float(cost or 0.0),
                   float(costr or 0.0), int(unpriced or 0), float(gpu_rate or 0.0), float(cost_rate or 0.0))
