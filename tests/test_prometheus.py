"""The one Prometheus client (policy_engine/prometheus.py) against a real Prometheus requiring basic auth
(web config ``basic_auth_users``): ``username`` + ``password_file`` accepted, a wrong or missing password
refused with an error that says so."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from policy_engine.controller.settings import PrometheusSettings
from policy_engine.controller.telemetry import GpuTelemetry
from policy_engine.prometheus import Endpoint, Prometheus, PrometheusError
from tests.controller.scenario import T0, openmetrics
from tests.prometheus_server import PrometheusServer, prometheus_over

USER, PASSWORD = "policy-engine", "correct horse battery"
# bcrypt of PASSWORD at cost 4 (Prometheus checks every request's password against it; a low cost keeps
# the test fast and is what its own tests use); made once with Python's crypt module, METHOD_BLOWFISH
HASH = "$2b$04$pjh9YeAIj53jf.OmTlxBV.zlasgSNSJw92dVobtQxn8yOh9.WyfeK"


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    with prometheus_over(openmetrics(), basic_auth={USER: HASH}) as server:
        yield server


def _password(tmp_path: Path, text: str) -> str:
    path = tmp_path / "password"
    path.write_text(text + "\n")  # a trailing newline, as `echo … > file` and Secrets mounted from files have
    return str(path)


def test_basic_auth_accepted(prometheus: PrometheusServer, tmp_path: Path) -> None:
    endpoint = Endpoint(prometheus.url, username=USER, password_file=_password(tmp_path, PASSWORD))
    with Prometheus(endpoint) as client:
        samples = client.query("count(DCGM_FI_DEV_GPU_UTIL)", T0.timestamp())
    assert len(samples) == 1 and samples[0][1] > 0


@pytest.mark.parametrize("password", ["wrong", None], ids=["wrong-password", "no-credentials"])
def test_basic_auth_refused(prometheus: PrometheusServer, tmp_path: Path, password: str | None) -> None:
    endpoint = (Endpoint(prometheus.url, username=USER, password_file=_password(tmp_path, password))
                if password is not None else Endpoint(prometheus.url))
    with Prometheus(endpoint) as client, pytest.raises(PrometheusError) as refused:
        client.query("up", time.time())
    given = f"basic auth as '{USER}'" if password is not None else "no credentials"
    assert str(refused.value).startswith(f"Prometheus at {prometheus.url}: HTTP 401: refused {given}"), refused


def test_controller_settings_use_basic_auth(prometheus: PrometheusServer, tmp_path: Path) -> None:
    """The controller's ``prometheus.username`` / ``password_file`` settings reach the client: the idle
    notebook's series are read; with the wrong password the cycle has no telemetry and says why."""
    good = GpuTelemetry(PrometheusSettings(url=prometheus.url, username=USER,
                                           password_file=_password(tmp_path, PASSWORD)))
    try:
        tel = good.fetch(7200.0, T0.timestamp())
        assert tel.error is None and tel.gpus("ml-vision", "alice-nb-0")
    finally:
        good.close()
    (tmp_path / "bad").mkdir()
    bad = GpuTelemetry(PrometheusSettings(url=prometheus.url, username=USER,
                                          password_file=_password(tmp_path / "bad", "wrong")))
    try:
        tel = bad.fetch(7200.0, T0.timestamp())
        assert tel.error is not None and "HTTP 401" in tel.error and not tel.pods
    finally:
        bad.close()


def test_usage_history_reads_through_the_same_client(prometheus: PrometheusServer, tmp_path: Path) -> None:
    """``ledger/prometheus.py`` (``usage``/``serve --prometheus``, the controller's actual cost) sends its
    queries through this client: the credentials reach Prometheus, a refusal is the same PrometheusError."""
    from policy_engine.compiler.program import Period
    from policy_engine.ledger.prometheus import PrometheusHistory
    from policy_engine.pricing.catalog import load_catalog

    endpoint = Endpoint(prometheus.url, username=USER, password_file=_password(tmp_path, PASSWORD))
    with PrometheusHistory(endpoint, catalog=load_catalog()) as history:
        util = history.utilisation(Period.MONTH, T0)
    assert util[("ml-vision", "alice-nb-0")] < 0.05  # idle notebook
    assert util[("ml-vision", "resnet-train-worker-0")] > 0.8  # series labelled exported_namespace/exported_pod
    with PrometheusHistory(Endpoint(prometheus.url), catalog=load_catalog()) as refused, \
            pytest.raises(PrometheusError, match="HTTP 401: refused no credentials"):
        refused.utilisation(Period.MONTH, T0)
