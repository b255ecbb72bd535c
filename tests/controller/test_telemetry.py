"""The controller's PromQL against a real Prometheus over backfilled DCGM series, with an injected "now"."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from policy_engine.cluster.pods import PodRecord, build_record
from policy_engine.compiler.program import LiveIdleRule
from policy_engine.controller.idle import BUSY, IDLE, NO_DATA, judge
from policy_engine.controller.settings import PrometheusSettings
from policy_engine.controller.telemetry import ENGINE, UTIL, GpuTelemetry
from tests.prometheus_server import PrometheusServer, binaries, prometheus_over

from .scenario import T0, cluster, openmetrics

RULE = LiveIdleRule(0.10, 7200.0, action="stop", notice_seconds=1800.0)
NOW = T0.timestamp()


def records() -> dict[str, PodRecord]:
    out = {}
    for obj in cluster()["pods"]:
        rec = build_record(obj, None, (), T0)
        if rec is not None:
            out[rec.name] = rec
    return out


def fetch(url: str, now: float = NOW, window: float = 7200.0):  # type: ignore[no-untyped-def]
    client = GpuTelemetry(PrometheusSettings(url=url, step_seconds=60))
    try:
        return client.fetch(window, now)
    finally:
        client.close()


def test_one_query_per_metric_maps_both_label_conventions(prometheus: PrometheusServer) -> None:
    tel = fetch(prometheus.url)
    assert tel.error is None
    # namespace/pod labels (the notebook) and exported_namespace/exported_pod (the training job's 4 GPUs)
    assert set(tel.gpus("ml-vision", "alice-nb-0")) == {"GPU-a0"}
    assert set(tel.gpus("ml-vision", "resnet-train-worker-0")) == {"GPU-r0", "GPU-r1", "GPU-r2", "GPU-r3"}
    assert ("gpu-operator", "dcgm-exporter-x7k2p") not in tel.pods  # the exporter's own pod holds no GPU
    assert set(tel.gpus("ml-nlp", "sentiment-predictor-5d4f8-abcde")["GPU-s0"]) == {UTIL, ENGINE}
    util = tel.gpus("ml-vision", "alice-nb-0")["GPU-a0"][UTIL]
    assert min(v for _, v in util) >= 0 and max(v for _, v in util) < 0.03  # 0–100 scaled to a fraction
    assert tel.series == 9 + 1  # 8 GPU series of the utilisation metric + bob's, and one engine-active series


def test_judgements(prometheus: PrometheusServer) -> None:
    tel = fetch(prometheus.url)
    pods = records()
    verdict = {name: judge([pods[name]], tel, RULE, NOW, 300.0) for name in pods}
    assert verdict["alice-nb-0"].state == IDLE
    assert verdict["alice-nb-0"].idle_since is not None
    assert verdict["alice-nb-0"].idle_since <= NOW - 7200
    assert verdict["resnet-train-worker-0"].state == BUSY
    assert verdict["resnet-train-worker-0"].peak is not None and verdict["resnet-train-worker-0"].peak > 0.8
    # busy until an hour ago: not idle for the whole 2 h window
    assert verdict["sentiment-predictor-5d4f8-abcde"].state == BUSY
    assert verdict["debug-gpu"].state == NO_DATA
    assert "no DCGM series for pod debug-gpu" in verdict["debug-gpu"].reason
    assert verdict["bob-nb-0"].state == NO_DATA and "too young" in verdict["bob-nb-0"].reason
    both = judge([pods["llm-api-5d4f8-aaaaa"], pods["llm-api-5d4f8-bbbbb"]], tel, RULE, NOW, 300.0)
    assert both.state == IDLE and both.gpus == 2


def test_the_endpoint_is_idle_for_a_shorter_window(prometheus: PrometheusServer) -> None:
    pods = records()
    short = LiveIdleRule(0.10, 1800.0)
    tel = fetch(prometheus.url, window=1800.0)
    assert judge([pods["sentiment-predictor-5d4f8-abcde"]], tel, short, NOW, 300.0).state == IDLE


def test_stale_series_and_a_window_before_the_data_are_no_data(prometheus: PrometheusServer) -> None:
    pods = records()
    later = (T0 + timedelta(hours=1)).timestamp()  # the samples stop at T0 + 5m
    verdict = judge([pods["alice-nb-0"]], fetch(prometheus.url, now=later), RULE, later, 300.0)
    assert verdict.state == NO_DATA and "stale" in verdict.reason
    early = (T0 - timedelta(hours=5)).timestamp()  # the window starts before the first sample
    pods["alice-nb-0"].started = T0 - timedelta(hours=9)
    verdict = judge([pods["alice-nb-0"]], fetch(prometheus.url, now=early), RULE, early, 300.0)
    assert verdict.state == NO_DATA


def test_prometheus_down_is_no_data() -> None:
    tel = fetch("http://127.0.0.1:9")  # nothing listens on the discard port
    assert tel.error is not None and "did not answer" in tel.error
    verdict = judge([records()["alice-nb-0"]], tel, RULE, NOW, 300.0)
    assert verdict.state == NO_DATA and "no telemetry" in verdict.reason


def test_tls_from_the_settings(tmp_path: Path) -> None:
    """Prometheus serving HTTPS: the controller trusts it through ``ca_file``, and refuses it without."""
    if binaries() is None:
        pytest.skip("prometheus and promtool are not installed (Debian package `prometheus`)")
    from policy_engine.cli.main import main

    assert main(["certs", "--out", str(tmp_path), "--localhost"]) == 0
    with prometheus_over(openmetrics(), tls=(tmp_path / "ca.crt", tmp_path / "tls.crt", tmp_path / "tls.key")) as srv:
        assert srv.url.startswith("https://")
        trusted = GpuTelemetry(PrometheusSettings(url=srv.url, ca_file=str(tmp_path / "ca.crt")))
        untrusted = GpuTelemetry(PrometheusSettings(url=srv.url))
        try:
            tel = trusted.fetch(7200.0, NOW)
            assert tel.error is None and set(tel.gpus("ml-vision", "alice-nb-0")) == {"GPU-a0"}
            refused = untrusted.fetch(7200.0, NOW)
            assert refused.error is not None and "CERTIFICATE_VERIFY_FAILED" in refused.error.upper().replace(" ", "_")
        finally:
            trusted.close()
            untrusted.close()


def test_bearer_token_file_is_read_at_every_request(tmp_path: Path) -> None:
    """Projected service-account tokens rotate: the header follows the file (Prometheus behind a proxy that
    checks tokens is stood in for by a loopback endpoint answering the query API's empty matrix)."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    token = tmp_path / "token"
    client = GpuTelemetry(PrometheusSettings(url=f"http://127.0.0.1:{server.server_address[1]}",
                                           bearer_token_file=str(token)))
    try:
        token.write_text("first\n")
        assert client.fetch(3600.0, NOW).error is None
        token.write_text("second\n")
        assert client.fetch(3600.0, NOW).error is None
    finally:
        client.close()
        server.shutdown()
        server.server_close()
    assert seen == ["Bearer first"] * 2 + ["Bearer second"] * 2  # one query per metric per cycle
