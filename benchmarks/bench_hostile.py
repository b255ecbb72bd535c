"""The webhook under each attack of issue #13: a normal review's latency and the server's peak memory.

Starts ``policy-engine serve`` (real TLS, the bundled policies, one worker, default limits) on loopback,
then for each attack in turn: runs the attack for ``--seconds`` while a client sends one normal review
(a small untagged Pod, denied) every 50 ms on its own keep-alive connection, and samples the server's
RSS every 50 ms. Prints, per attack, the normal review's p50/p99/max latency, how many normal reviews
failed, and the RSS peak. Every attack is bounded in connections, bytes and time, and uses 127.0.0.1 only.

    python benchmarks/bench_hostile.py                 # every attack, 10 s each
    python benchmarks/bench_hostile.py --seconds 5 --only big-reviews deep-json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from policy_engine.webhook import certs  # noqa: E402

HOST = "127.0.0.1"
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "normal", "namespace": "ml"},
       "spec": {"containers": [{"name": "c", "image": "x", "resources": {"limits": {"nvidia.com/gpu": 1}}}]}}


def review(obj: dict[str, object], uid: str = "u") -> bytes:
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": {"uid": uid, "operation": "CREATE", "namespace": "ml", "name": "x",
                                   "kind": {"kind": str(obj["kind"])}, "object": obj}}).encode()


def http_request(body: bytes) -> bytes:
    return (b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


def read_response(conn: ssl.SSLSocket) -> int:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        rest += chunk
    return int(head.split()[1])


class Endpoint:
    """Where the server listens and how to reach it over TLS (picklable: attacks run in their own process)."""

    def __init__(self, port: int, cafile: str) -> None:
        self.port = port
        self.cafile = cafile

    def connect(self, timeout: float = 10.0) -> ssl.SSLSocket:
        raw = socket.create_connection((HOST, self.port), timeout=timeout)
        return ssl.create_default_context(cafile=self.cafile).wrap_socket(raw, server_hostname=HOST)


class Target:
    def __init__(self, folder: Path) -> None:
        certs.write(certs.generate("policy-engine", "policy-engine", days=1, localhost=True), folder, overwrite=True)
        self.context = ssl.create_default_context(cafile=str(folder / "ca.crt"))
        self.cafile = str(folder / "ca.crt")
        with socket.socket() as s:
            s.bind((HOST, 0))
            self.port = s.getsockname()[1]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "policy_engine.cli.main", "serve", "--host", HOST, "--port", str(self.port),
             "--tls-cert", str(folder / "tls.crt"), "--tls-key", str(folder / "tls.key"), "--no-cluster",
             "--log-level", "error"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.connect().close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.port, self.cafile)

    def connect(self, timeout: float = 10.0) -> ssl.SSLSocket:
        raw = socket.create_connection((HOST, self.port), timeout=timeout)
        return self.context.wrap_socket(raw, server_hostname=HOST)

    def rss(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --- attacks: each runs until ``stop`` (a monotonic deadline), bounded in what it opens -------------------


def idle_connections(t: Endpoint, stop: float) -> None:
    """8,000 connections opened and left idle (TCP; beyond the cap they are closed at accept)."""
    held = []
    try:
        for _ in range(8_000):
            if time.monotonic() > stop:
                break
            try:
                held.append(socket.create_connection((HOST, t.port), timeout=2))
            except OSError:
                time.sleep(0.01)
        while time.monotonic() < stop:
            time.sleep(0.1)
    finally:
        for s in held:
            s.close()


def idle_tls(t: Endpoint, stop: float) -> None:
    """As many TLS connections as the server accepts, handshaken and then idle."""
    held = []
    try:
        for _ in range(2_000):
            if time.monotonic() > stop:
                break
            with contextlib.suppress(OSError):
                held.append(t.connect(timeout=2))
        while time.monotonic() < stop:
            time.sleep(0.1)
    finally:
        for s in held:
            s.close()


def header_flood(t: Endpoint, stop: float) -> None:
    """One connection at a time streaming header bytes without end (600 MiB grew main by 694 MB)."""
    chunk = b"a" * 65536
    while time.monotonic() < stop:
        try:
            conn = t.connect()
            conn.sendall(b"POST /validate HTTP/1.1\r\nX-Junk: ")
            sent = 0
            while time.monotonic() < stop and sent < 600 * 1024 * 1024:
                conn.sendall(chunk)
                sent += len(chunk)
        except OSError:
            time.sleep(0.05)


def slowloris(t: Endpoint, stop: float) -> None:
    """200 connections each sending a header byte every second."""
    conns = []
    for _ in range(200):
        try:
            c = t.connect(timeout=2)
            c.sendall(b"POST /validate HTTP/1.1\r\n")
            conns.append(c)
        except OSError:
            pass
    while time.monotonic() < stop:
        for c in list(conns):
            try:
                c.sendall(b"X")
            except OSError:
                conns.remove(c)
        time.sleep(1.0)
    for c in conns:
        c.close()


class Looping:
    """``connections`` clients, each sending ``body`` again as soon as the previous answer is in."""

    def __init__(self, make_body: Callable[[], bytes], connections: int) -> None:
        self.make_body = make_body
        self.connections = connections

    def __call__(self, t: Endpoint, stop: float) -> None:
        request = http_request(self.make_body())

        def one() -> None:
            while time.monotonic() < stop:
                try:
                    conn = t.connect(timeout=30)
                    while time.monotonic() < stop:
                        conn.sendall(request)
                        read_response(conn)
                except OSError:
                    time.sleep(0.05)

        threads = [threading.Thread(target=one, daemon=True) for _ in range(self.connections)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=max(stop - time.monotonic(), 0) + 30)


def big_pod() -> bytes:
    pod = json.loads(json.dumps(POD))
    pod["spec"]["containers"] = [dict(POD["spec"]["containers"][0], name=f"c{i}") for i in range(20_000)]  # type: ignore[index]
    return review(pod)


def deep_pod(levels: int = 10_000) -> bytes:
    text = review(POD).decode()
    return text.replace('"spec": {', '"spec": {"x": ' + '{"a":' * levels + "1" + "}" * levels + ", ", 1).encode()


def nothing(t: Endpoint, stop: float) -> None:
    time.sleep(max(stop - time.monotonic(), 0))


ATTACKS: dict[str, Callable[[Endpoint, float], None]] = {
    "none": nothing,
    "idle-connections": idle_connections,
    "idle-tls": idle_tls,
    "header-flood": header_flood,
    "slowloris": slowloris,
    "big-reviews": Looping(big_pod, 32),
    "deep-json": Looping(deep_pod, 8),
}


def measure(t: Target, name: str, seconds: float) -> dict[str, object]:
    """The normal client connects before the attack, as the API server keeps its connections open."""
    conn: ssl.SSLSocket | None = t.connect()
    stop = time.monotonic() + seconds
    # the attack in a process of its own: its threads must not take the measuring client's GIL
    attacker = multiprocessing.get_context("fork").Process(target=ATTACKS[name], args=(t.endpoint, stop),
                                                           daemon=True)
    attacker.start()
    time.sleep(min(1.0, seconds / 5))  # let the attack build up
    latencies: list[float] = []
    failures = 0
    peak = 0
    body = http_request(review(POD))
    while time.monotonic() < stop:
        peak = max(peak, t.rss())
        started = time.perf_counter()
        try:
            if conn is None:
                conn = t.connect()
            conn.sendall(body)
            if read_response(conn) != 200:
                failures += 1
            latencies.append(time.perf_counter() - started)
        except OSError:
            failures += 1
            conn = None
        time.sleep(0.05)
    peak = max(peak, t.rss())
    attacker.join(timeout=60)
    if attacker.is_alive():
        attacker.kill()
    if conn is not None:
        conn.close()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan")
    return {"attack": name, "reviews": len(latencies), "failed": failures,
            "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "p99_ms": round(p99 * 1000, 1), "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
            "rss_peak_mib": round(peak / 2**20, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--only", nargs="*", choices=sorted(ATTACKS), default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        target = Target(Path(folder))
        try:
            print(f"{'attack':18} {'reviews':>7} {'failed':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
                  f"{'RSS MiB':>8}")
            for name in args.only or list(ATTACKS):
                row = measure(target, name, args.seconds)
                print(f"{name:18} {row['reviews']:>7} {row['failed']:>6} {row['p50_ms']!s:>8} {row['p99_ms']!s:>8} "
                      f"{row['max_ms']!s:>8} {row['rss_peak_mib']!s:>8}", flush=True)
                time.sleep(2)  # let closed connections drain before the next attack
        finally:
            target.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
