"""Admission webhook under load: a real ``policy-engine serve`` process over TLS, driven at fixed rates.

Open loop: request i is due at ``start + i / rate`` whatever happened to earlier ones, and its latency is
measured from that due time, so a server that falls behind shows it (no coordinated omission). Requests
go over a pool of keep-alive TLS connections to 127.0.0.1 only; each run is bounded in count and time.

The bodies are real AdmissionReviews: every workload of the shared corpus (tests/fixtures/webhook
reviews when the corpus is absent) wrapped as a CREATE, evaluated against the full bundled policy
library. Halfway through every run a policy file is rewritten, so the server reloads its policies
under load; a reload must lose no request.

    .venv/bin/python benchmarks/bench_webhook.py [--rates 100 500 1000] [--workers 1 2] [--duration 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
FIXTURE_REVIEWS = REPO / "tests" / "fixtures" / "webhook" / "reviews"
HOST = "127.0.0.1"
MAX_REVIEWS = 400


def corpus_reviews() -> list[dict[str, object]]:
    """CREATE reviews of every workload document the model recognises in the corpus (or the fixtures)."""
    from policy_engine.model.documents import Document, load_paths
    from policy_engine.model.kinds import KNOWN_KINDS

    if not CORPUS.is_dir():
        print(f"corpus not found at {CORPUS}: using the test fixtures", file=sys.stderr)
        return [json.loads(p.read_text()) for p in sorted(FIXTURE_REVIEWS.glob("*.json"))]
    reviews: list[dict[str, object]] = []
    for item in load_paths([str(CORPUS)]):
        if not isinstance(item, Document) or item.kind not in KNOWN_KINDS:
            continue
        obj = item.obj
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        assert isinstance(meta, dict)
        group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
        namespace = str(meta.get("namespace") or "ml")
        uid = f"bench-{len(reviews):05d}"
        reviews.append({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": uid, "kind": {"group": group, "version": version, "kind": item.kind},
            "resource": {"group": group, "version": version, "resource": item.kind.lower() + "s"},
            "name": str(meta.get("name") or ""), "namespace": namespace, "operation": "CREATE",
            "userInfo": {"username": "bench@example.com", "groups": ["system:authenticated"]},
            "object": obj, "oldObject": None, "dryRun": False}})
        if len(reviews) >= MAX_REVIEWS:
            break
    return reviews


def engine_costs(reviews: list[dict[str, object]]) -> None:
    """In-process cost of ``decide`` over the mix, and the policies that cost the most (for attribution)."""
    from datetime import date

    from policy_engine.engine import load_engine
    from policy_engine.model.documents import Document, load_objects
    from policy_engine.webhook.admission import AdmissionReview
    from policy_engine.webhook.config import WebhookConfig
    from policy_engine.webhook.exemptions import RequestExemptions
    from policy_engine.webhook.review import LoadedEngine, ReviewState, decide

    engine = load_engine()
    config = WebhookConfig(exempt_namespaces=())
    state = ReviewState(LoadedEngine.of(engine), config, RequestExemptions.from_config(config), date.today())
    requests = [AdmissionReview.model_validate(r).request for r in reviews]
    times = []
    for req in requests:
        assert req is not None
        started = time.perf_counter()
        decide(req, state)
        times.append(time.perf_counter() - started)
    times.sort()
    by_policy: dict[str, float] = {}
    model = 0.0
    for req in requests:
        assert req is not None and req.object is not None
        doc = next(d for d in load_objects([req.object]) if isinstance(d, Document))
        started = time.perf_counter()
        try:
            w = engine.workload(doc)
        except Exception:  # an unreadable object: the webhook answers it as an internal error
            continue
        finally:
            model += time.perf_counter() - started
        if w is None:
            continue
        for policy in engine.policies.for_kind(w.kind):
            started = time.perf_counter()
            try:
                if policy.applies(w):
                    policy.violations(w)
            except Exception:  # timing only; the engine reports failures itself
                pass
            by_policy[policy.name] = by_policy.get(policy.name, 0.0) + time.perf_counter() - started
    n = len(requests)
    top = sorted(by_policy.items(), key=lambda kv: -kv[1])[:3]
    print(f"decide() in process: mean {sum(times) / n * 1000:.2f} ms, p50 {times[n // 2] * 1000:.2f} ms, "
          f"p99 {times[int(n * 0.99)] * 1000:.2f} ms, max {times[-1] * 1000:.1f} ms; workload model + pricing "
          f"{model / n * 1000:.2f} ms/request; costliest policies (ms/request): "
          + ", ".join(f"{name} {t / n * 1000:.2f}" for name, t in top))


def http_request(body: bytes) -> bytes:
    return (f"POST /validate HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@dataclass
class RunResult:
    workers: int
    rate: int
    sent: int = 0
    ok: int = 0
    errors: int = 0
    denied: int = 0
    latencies: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)  # seconds into the run (wrk only), beside latencies
    clock_zero: float = float("nan")  # when the run's schedule started, on time.monotonic()'s clock (wrk only)
    seconds: float = 0.0
    reloads: float = 0.0
    reload_failures: float = 0.0
    steal: float = float("nan")  # share of CPU time the hypervisor took during the run
    server_p99: float = float("nan")  # upper bound of the bucket holding the server-side p99, seconds
    server_cpu_s: float = float("nan")  # CPU seconds the server's processes used during the run
    client_cpu_s: float = float("nan")  # CPU seconds the load generator used during the run
    error_samples: list[str] = field(default_factory=list)

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        match = re.search(rb"(?i)content-length:\s*(\d+)", head)
        body = await self.reader.readexactly(int(match.group(1))) if match else b""
        return status, body


async def drive(port: int, context: ssl.SSLContext, bodies: list[tuple[str, bytes]], rate: int,
                duration: float, connections: int, result: RunResult, on_half: object) -> None:
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        reader, writer = await asyncio.open_connection(HOST, port, ssl=context, server_hostname=HOST)
        pool.put_nowait(Connection(reader, writer))
    total = int(rate * duration)
    tasks: list[asyncio.Task[None]] = []

    async def one(due: float, uid: str, raw: bytes) -> None:
        conn = await pool.get()
        try:
            status, body = await asyncio.wait_for(conn.exchange(raw), timeout=10)
        except Exception as exc:  # every failure is counted and one sample kept
            result.errors += 1
            if len(result.error_samples) < 5:
                result.error_samples.append(f"{type(exc).__name__}: {exc}")
            reader, writer = await asyncio.open_connection(HOST, port, ssl=context, server_hostname=HOST)
            pool.put_nowait(Connection(reader, writer))
            return
        pool.put_nowait(conn)
        result.latencies.append(time.perf_counter() - due)
        if status == 200 and f'"uid": "{uid}"'.encode() in body:
            result.ok += 1
            if b'"allowed": false' in body:
                result.denied += 1
        else:
            result.errors += 1
            if len(result.error_samples) < 5:
                result.error_samples.append(f"HTTP {status}: {body[:200]!r}")

    start = time.perf_counter()
    half_done = False
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if not half_done and i >= total // 2:
            half_done = True
            on_half()  # type: ignore[operator]
        uid, raw = bodies[i % len(bodies)]
        tasks.append(asyncio.create_task(one(due, uid, raw)))
        result.sent += 1
    await asyncio.gather(*tasks)
    result.seconds = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait().writer.close()


WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_admission.lua"


def drive_wrk(port: int, bodies_file: Path, rate: int, duration: float, connections: int, result: RunResult,
              on_half: object, work: Path, pin_cpu: int | None = None) -> None:
    """The same open-loop schedule, generated by wrk (C, LuaJIT) so the client barely uses the cores."""
    out = work / f"wrk-{result.workers}-{rate}.json"
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    children_cpu = reaped.ru_utime + reaped.ru_stime
    total = int(rate * duration)
    env = {**os.environ, "WRK_BODIES": str(bodies_file), "WRK_RATE": str(rate), "WRK_REQUESTS": str(total),
           "WRK_THREADS": str(connections), "WRK_OUT": str(out)}
    command = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{duration + 4:g}s", "--timeout", "10s",
               "-s", str(WRK_SCRIPT), f"https://{HOST}:{port}/validate"]
    if pin_cpu is not None:
        command = ["taskset", "--cpu-list", str(pin_cpu), *command]
    client = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(0.5 + duration / 2)  # the script starts its schedule 0.5 s after wrk starts
    on_half()  # type: ignore[operator]
    output, _ = client.communicate(timeout=duration + 60)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child reaped in between
    result.client_cpu_s = reaped.ru_utime + reaped.ru_stime - children_cpu
    if client.returncode != 0 or not out.exists():
        raise SystemExit(f"wrk failed ({client.returncode}): {output.decode(errors='replace')}")
    report = json.loads(out.read_text())
    result.sent = report["sent"]
    result.clock_zero = report["clock_zero_ms"] / 1000
    result.ok = report["ok"]
    unanswered = report["sent"] - report["ok"] - report["errors"]  # still in flight when wrk stopped
    result.errors = report["errors"] + report["socket_errors"] + (total - report["sent"]) + unanswered
    if unanswered:
        result.error_samples.append(f"{unanswered} request(s) unanswered {duration / 2 + 4:g} s after the last was due")
    result.denied = report["denied"]
    result.latencies = [ms / 1000 for ms in report["latencies_ms"]]
    result.sent_at = [ms / 1000 for ms in report["sent_at_ms"]]
    result.seconds = report["seconds"]
    result.error_samples += report["samples"]


def cpu_times() -> list[int]:
    """The machine's aggregate CPU times from /proc/stat (user nice system idle iowait irq softirq steal)."""
    try:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:9]]
    except OSError:
        return []


def steal_share(before: list[int], after: list[int]) -> float:
    """The share of CPU time the hypervisor took from this machine between two readings (NaN off Linux)."""
    if len(before) < 8 or len(after) < 8:
        return float("nan")
    delta = [b - a for a, b in zip(before, after, strict=True)]
    return delta[7] / sum(delta) if sum(delta) else 0.0


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by process ``root`` and every live descendant (Linux)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    total, seen, todo = 0.0, set(), [root]
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        total += stats[pid][1]
        todo.extend(child for child, (parent, _) in stats.items() if parent == pid)
    return total


def machine_pauses(seconds: float = 5.0) -> str:
    """How often a busy process on this otherwise idle machine stops running for a while, before any load.

    A lone busy loop reads the clock continuously; a jump between two readings is time it did not run
    (the hypervisor ran another guest, or the kernel ran something else). Every such pause during a run
    lands on whatever requests are in flight, whatever the server does, so it is the floor under p99.
    """
    pauses: list[float] = []
    end = time.perf_counter() + seconds
    last = time.perf_counter()
    while last < end:
        now = time.perf_counter()
        if now - last > 0.002:
            pauses.append((now - last) * 1000)
        last = now
    over = {ms: sum(1 for p in pauses if p > ms) for ms in (2, 5, 10)}
    return (f"machine pauses in {seconds:g} s idle: {over[2]} over 2 ms, {over[5]} over 5 ms, {over[10]} over "
            f"10 ms, longest {max(pauses, default=0.0):.1f} ms")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def metric(text: str, name: str) -> float:
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))


def histogram_quantile(text: str, name: str, q: float) -> float:
    """The upper bound of the histogram bucket holding quantile ``q`` (summed over label sets)."""
    buckets: dict[float, float] = {}
    for m in re.finditer(rf'^{name}_bucket{{[^}}]*le="([^"]+)"[^}}]*}} (\S+)$', text, re.M):
        bound = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
        buckets[bound] = buckets.get(bound, 0.0) + float(m.group(2))
    total = buckets.get(float("inf"), 0.0)
    for bound in sorted(buckets):
        if total and buckets[bound] >= q * total:
            return bound
    return float("nan")


def run_server(workers: int, rate: int, args: argparse.Namespace, work: Path, context: ssl.SSLContext,
               bodies: list[tuple[str, bytes]]) -> RunResult:
    import httpx

    policies = work / f"policies-{workers}-{rate}"
    from policy_engine.bundled import bundled_policies_dir

    shutil.rmtree(policies, ignore_errors=True)  # a repeated run starts from the library as shipped
    shutil.copytree(bundled_policies_dir(), policies, ignore=shutil.ignore_patterns("tests"))
    config = work / "config.yaml"
    config.write_text("reload_interval_seconds: 0.5\nexempt_namespaces: []\n")
    port = free_port()
    log = (work / f"serve-{workers}-{rate}.log").open("wb")
    command = [sys.executable, "-m", "policy_engine.cli.main", "serve", "--host", HOST, "--port", str(port),
               "--tls-cert", str(work / "tls.crt"), "--tls-key", str(work / "tls.key"), "--policies",
               str(policies), "--config", str(config), "--no-cluster", "--workers", str(workers),
               "--log-level", "info"]
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    if args.client_cpu is not None:  # the server (every worker) gets the CPUs the load generator does not
        others = sorted(os.sched_getaffinity(0) - {args.client_cpu})
        command = ["taskset", "--cpu-list", ",".join(map(str, others)), *command]
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    client = httpx.Client(base_url=f"https://{HOST}:{port}", verify=context, timeout=5)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if client.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start; see {log.name}")
            time.sleep(0.2)
        for uid, raw in bodies[: min(len(bodies), 200)]:  # warm every worker's code paths
            del uid
            client.post("/validate", content=raw.split(b"\r\n\r\n", 1)[1],
                        headers={"Content-Type": "application/json"})
        victim = sorted(policies.glob("*.policy"))[0]
        result = RunResult(workers, rate)

        def touch_policy() -> None:
            if args.reload:
                victim.write_text(victim.read_text() + f"\n# reloaded under load at {time.time()}\n")

        times = cpu_times()
        server_cpu = tree_cpu_seconds(server.pid)
        if args.client == "wrk":
            drive_wrk(port, work / "bodies.tsv", rate, args.duration, args.connections, result, touch_policy, work,
                      args.client_cpu)
        else:
            runner = asyncio.run
            try:  # the client shares the machine's two cores: uvloop keeps its own cost down
                import uvloop

                runner = uvloop.run
            except ImportError:
                pass
            runner(drive(port, context, bodies, rate, args.duration, args.connections, result, touch_policy))
        result.steal = steal_share(times, cpu_times())
        result.server_cpu_s = tree_cpu_seconds(server.pid) - server_cpu
        time.sleep(1.5)  # let every worker's poller see the change before reading the counters
        text = client.get("/metrics").text
        result.server_p99 = histogram_quantile(text, "policy_engine_webhook_request_duration_seconds", 0.99)
        result.reloads = metric(text, "policy_engine_webhook_policy_reloads_total")
        result.reload_failures = metric(text, "policy_engine_webhook_policy_reload_failures_total")
        return result
    finally:
        client.close()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per rate (default: 10)")
    parser.add_argument("--connections", type=int, default=32, help="keep-alive TLS connections")
    parser.add_argument("--no-reload", dest="reload", action="store_false",
                        help="do not rewrite a policy file halfway through each run")
    parser.add_argument("--client", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python",
                        help="load generator: wrk (C; Debian package 'wrk'; the default when installed) or the "
                             "built-in asyncio client, which competes with the server for the two cores")
    parser.add_argument("--client-cpu", type=int, metavar="CPU",
                        help="pin the load generator (wrk) to this CPU and the server to the others, as when "
                             "the API server runs on another machine (Linux taskset)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run every (workers, rate) N times, each on a fresh server, and summarise the "
                             "spread of p99: one run says little on a machine whose speed varies")
    parser.add_argument("--save-latencies", type=Path, metavar="DIR",
                        help="write every request's send time and latency per run as CSV (wrk client only)")
    args = parser.parse_args()

    from policy_engine.webhook import certs

    reviews = corpus_reviews()
    bodies = [(str(r["request"]["uid"]), http_request(json.dumps(r).encode()))  # type: ignore[index]
              for r in reviews]
    sizes = [len(b) for _, b in bodies]
    print(f"{len(bodies)} AdmissionReviews (median {statistics.median(sizes) / 1024:.1f} KiB), "
          f"{os.cpu_count()} CPUs, {args.duration:g} s per rate, {args.connections} connections, "
          f"load generator: {args.client}")
    engine_costs(reviews)
    print(machine_pauses())
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp:
        work = Path(tmp)
        certs.write(certs.generate("policy-engine-webhook", "policy-engine", days=1, localhost=True), work)
        context = ssl.create_default_context(cafile=str(work / "ca.crt"))
        (work / "bodies.tsv").write_text("".join(f"{r['request']['uid']}\t{json.dumps(r)}\n"  # type: ignore[index]
                                                 for r in reviews))
        for attempt in range(1, args.repeat + 1):
            for workers in args.workers:
                for rate in args.rates:
                    r = run_server(workers, rate, args, work, context, bodies)
                    results.append(r)
                    print(f"  run {attempt}: workers={workers} rate={rate}: {r.ok}/{r.sent} ok, {r.errors} errors, "
                          f"p99 {r.pct(0.99):.1f} ms, steal {r.steal:.0%}", flush=True)
                    for sample in r.error_samples:
                        print(f"    error: {sample}")
                    if not (args.save_latencies and r.sent_at):
                        continue
                    args.save_latencies.mkdir(parents=True, exist_ok=True)
                    run = f"-run{attempt}" if args.repeat > 1 else ""
                    target = args.save_latencies / f"latencies-{workers}w-{rate}rps{run}.csv"
                    target.write_text("sent_at_s,latency_ms\n" + "".join(
                        f"{t:.4f},{lat * 1000:.3f}\n" for t, lat in sorted(zip(r.sent_at, r.latencies, strict=True))))
    print()
    print("| workers | target req/s | achieved req/s | p50 ms | p90 ms | p99 ms | max ms | server p99 ms ≤ | "
          "errors | denied | reloads (failed) | server CPU ms/req | client CPU ms/req | CPU steal |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        achieved = r.ok / r.seconds if r.seconds else 0.0
        print(f"| {r.workers} | {r.rate} | {achieved:.0f} | {r.pct(0.5):.2f} | {r.pct(0.9):.2f} | "
              f"{r.pct(0.99):.2f} | {r.pct(1.0):.1f} | {r.server_p99 * 1000:g} | {r.errors} | "
              f"{r.denied / max(r.ok, 1):.0%} | "
              f"{r.reloads:.0f} ({r.reload_failures:.0f}) | {r.server_cpu_s * 1000 / max(r.sent, 1):.2f} | "
              f"{r.client_cpu_s * 1000 / max(r.sent, 1):.2f} | {r.steal:.0%} |")
    if args.repeat > 1:
        summarise(results)
    return 0


def summarise(results: list[RunResult]) -> None:
    """Per (workers, rate): how p99 spread over the runs, and how many met the 10 ms target."""
    print()
    print("| workers | target req/s | runs | p99 ms: min | median | max | runs with p99 ≤ 10 ms | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    groups: dict[tuple[int, int], list[RunResult]] = {}
    for r in results:
        groups.setdefault((r.workers, r.rate), []).append(r)
    for (workers, rate), runs in groups.items():
        p99 = sorted(r.pct(0.99) for r in runs)
        met = sum(1 for v in p99 if v <= 10.0)
        print(f"| {workers} | {rate} | {len(runs)} | {p99[0]:.2f} | {statistics.median(p99):.2f} | {p99[-1]:.2f} | "
              f"{met} of {len(runs)} | {sum(r.errors for r in runs)} |")


if __name__ == "__main__":
    sys.exit(main())
