"""Ledger figures for a month of a large cluster: 1,000 quota groups (teams) x 50,000 GPU pods.

Writes the month the way the controller does (one transaction per cycle, here one cycle per simulated
hour holding the pods that started or ended in it), then measures:
- the ledger file's size after the month (targets: < 50 MiB);
- ``policy-engine usage`` end to end as a user runs it (a new process: start-up, policy compile from the
  start-up cache, the report) for the quota/budget view and for ``--by team,model`` (target: <= 1 s);
- the webhook's background snapshot refresh, and its quota lookup ``usage(rule, key)`` (target: < 50 us).

    .venv/bin/python benchmarks/bench_ledger.py [--pods 50000] [--groups 1000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from policy_engine.engine import load_engine  # noqa: E402
from policy_engine.ledger.observe import Observation, ledger_rules  # noqa: E402
from policy_engine.ledger.snapshot import LedgerHistory, SnapshotUsage  # noqa: E402
from policy_engine.ledger.store import Ledger  # noqa: E402

POLICIES = REPO / "tests" / "fixtures" / "ledger" / "quotas.policy"
MONTH = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
INSTANCES = [("p4d.24xlarge", 8, "A100", 21.9576 / 8, 9.8809 / 8), ("g5.12xlarge", 4, "A10G", 5.672 / 4, 2.2 / 4),
             ("p5.48xlarge", 8, "H100", 98.32 / 8, 55.04 / 8)]


def observations(count: int, groups: int, rng: random.Random) -> list[Observation]:
    out = []
    for i in range(count):
        team = f"team-{rng.randrange(groups):04d}"
        itype, _, model, od, spot = rng.choice(INSTANCES)
        capacity = rng.choice(("on-demand", "spot"))
        gpus = rng.choice((1, 1, 2, 4, 8))
        start = MONTH + timedelta(seconds=rng.uniform(0, (NOW - MONTH).total_seconds()))
        hours = 10 ** rng.uniform(0, 2.4)  # 1 hour to ~10 days
        end = start + timedelta(hours=hours)
        ended = end if end < NOW and rng.random() > 0.05 else None
        name = f"job-{i}-0"
        labels = {"team": team, "model": rng.choice(("llama", "mistral", "bert")), "cost-center": f"cc-{i % 97}",
                  "app.kubernetes.io/name": f"job-{i}", "batch.kubernetes.io/job-name": f"job-{i}"}
        source = {"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": name, "namespace": team, "labels": labels,
                               "ownerReferences": [{"kind": "Job", "name": f"job-{i}", "controller": True}]},
                  "spec": {"nodeName": f"node-{i % 400}", "containers": [
                      {"name": "main", "resources": {
                          "requests": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": str(gpus)},
                          "limits": {"nvidia.com/gpu": str(gpus)}}}],
                           "nodeSelector": {"node.kubernetes.io/instance-type": itype,
                                            "karpenter.sh/capacity-type": capacity}}}
        out.append(Observation(
            uid=f"uid-{i:08d}", namespace=team, name=name, workload=f"Job/job-{i}", kind="Job", node=f"node-{i % 400}",
            instance_type=itype, capacity_type=capacity, model=model, gpus=float(gpus),
            hourly=gpus * (spot if capacity == "spot" else od), started=start, ended=ended, deadline=None,
            labels=labels, source=source, keys={'labels["team"]': team}))
    return out


def write_month(path: Path, obs: list[Observation], rules: list) -> tuple[list[float], int]:  # type: ignore[type-arg]
    """One cycle per simulated hour: the pods that started or ended in it. Returns cycle seconds."""
    events: dict[int, list[Observation]] = {}
    for o in obs:
        assert o.started is not None
        events.setdefault(int((o.started - MONTH).total_seconds() // 3600), []).append(o)
        if o.ended is not None:
            events.setdefault(int((o.ended - MONTH).total_seconds() // 3600), []).append(o)
    times = []
    with Ledger(path) as ledger:
        ledger.sync_rules(rules)
        for hour in sorted(events):
            now = MONTH + timedelta(hours=hour + 1)
            batch = [o if o.ended is not None and o.ended < now else _open(o) for o in events[hour]]
            started = time.perf_counter()
            ledger.record(batch, min(now, NOW))
            times.append(time.perf_counter() - started)
        ledger.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pods = ledger.pods()
    return times, pods


def _open(o: Observation) -> Observation:
    from dataclasses import replace

    return replace(o, ended=None)


# as a user's install runs: with byte code (pip compiles it on install; a PYTHONDONTWRITEBYTECODE left in
# the environment would make every run compile ~70 modules again, ~0.4 s of CPU)
AS_INSTALLED = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cli(args: list[str], repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds (user + system of the child) of each run: on a shared machine the wall time
    includes waiting for a core, the CPU time does not."""
    wall, cpu = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "usage", *args], check=True,
                       stdout=subprocess.DEVNULL, cwd=REPO, env=AS_INSTALLED)
        wall.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pods", type=int, default=50_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", metavar="DIR", help="write the ledger here and keep it")
    args = parser.parse_args()
    rng = random.Random(15)
    engine = load_engine([POLICIES])
    rules = ledger_rules(engine.policies)
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "ledger.db"
    path.unlink(missing_ok=True)

    obs = observations(args.pods, args.groups, rng)
    started = time.perf_counter()
    cycles, pods = write_month(path, obs, rules)
    print(f"month written: {pods:,} pods, {args.groups:,} groups, {len(cycles)} cycles in "
          f"{time.perf_counter() - started:.1f} s (cycle p50 {1000 * statistics.median(cycles):.1f} ms, "
          f"max {1000 * max(cycles):.1f} ms)")
    size = path.stat().st_size
    print(f"ledger file: {size / 2**20:.1f} MiB ({size / pods:.0f} bytes per pod)")

    base = ["--ledger", str(path), "--policies", str(POLICIES), "--at", NOW.isoformat(), "--format", "json"]
    cli(base, 1)  # fill the start-up cache, as any second run finds it
    for label, extra in (("usage (quota/budget groups)", []), ("usage --by team,model", ["--by", "team,model"])):
        wall, cpu = cli(base + extra, args.repeat)
        print(f"{label}: wall median {statistics.median(wall):.2f} s (max {max(wall):.2f}), CPU median "
              f"{statistics.median(cpu):.2f} s over {len(wall)} runs (a new process each)")
    out = subprocess.run([sys.executable, "-m", "policy_engine.cli.main", "usage", *base], check=True,
                         capture_output=True, text=True, cwd=REPO).stdout
    print(f"  groups reported: {len(json.loads(out)['groups']):,}")

    with Ledger(path, readonly=True) as ledger:
        usage = SnapshotUsage(LedgerHistory(ledger), lambda: engine.policies, clock=lambda: NOW)
        refresh = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            assert usage.refresh()
            refresh.append(time.perf_counter() - started)
        print(f"webhook snapshot refresh (background): median {1000 * statistics.median(refresh):.0f} ms")
        rule = rules[0].rule
        keys = [f"team-{rng.randrange(args.groups):04d}" for _ in range(1000)]
        n = 200_000
        started = time.perf_counter()
        for i in range(n):
            usage.usage(rule, keys[i % 1000])
        per = (time.perf_counter() - started) / n
        print(f"webhook quota lookup usage(rule, key): {per * 1e6:.2f} us per call ({n:,} calls)")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if not args.keep:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
