"""A real Prometheus for tests: started on a loopback port, optionally over series backfilled with promtool.

``prometheus_over(openmetrics, tls=None, basic_auth=None)`` writes the OpenMetrics text, turns it into TSDB
blocks with ``promtool tsdb create-blocks-from openmetrics``, starts ``prometheus`` over them (HTTPS only when
``tls`` gives the CA, certificate and key; requiring basic auth when ``basic_auth`` maps users to bcrypt
hashes, Prometheus' web config ``basic_auth_users``) and yields the server. Tests that need it skip with a
stated reason where the Debian package is not installed (``.ci/run`` installs it when run as root).
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

SKIP_REASON = "prometheus is not installed (Debian package 'prometheus'; .ci/run installs it when run as root)"


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen[bytes]


def binaries() -> tuple[str, str] | None:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    return (prometheus, promtool) if prometheus and promtool else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def prometheus_over(openmetrics: str | None = None, tls: tuple[Path, Path, Path] | None = None,
                    basic_auth: dict[str, str] | None = None) -> Iterator[PrometheusServer]:
    """Prometheus over ``openmetrics`` backfilled (None: empty); with ``tls`` = (CA, certificate, key) HTTPS only."""
    found = binaries()
    if found is None:
        pytest.skip(SKIP_REASON)
    prometheus, promtool = found
    with tempfile.TemporaryDirectory(prefix="pe-prom-") as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        if openmetrics is not None:
            text = openmetrics if openmetrics.rstrip().endswith("# EOF") else openmetrics + "# EOF\n"
            (root / "data.om").write_text(text)
            subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(root / "data.om"),
                            str(root / "data")], check=True, capture_output=True, timeout=120)
        (root / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
        port = _free_port()
        extra, url, verify = [], f"http://127.0.0.1:{port}", ssl.create_default_context()
        web = ""
        if tls is not None:
            web += f"tls_server_config:\n  cert_file: {tls[1]}\n  key_file: {tls[2]}\n"
            url = f"https://127.0.0.1:{port}"
            verify = ssl.create_default_context(cafile=str(tls[0]))
        if basic_auth:
            web += "basic_auth_users:\n" + "".join(f"  {user}: '{hashed}'\n" for user, hashed in basic_auth.items())
        if web:
            (root / "web.yml").write_text(web)
            extra = [f"--web.config.file={root / 'web.yml'}"]
        proc = subprocess.Popen([prometheus, f"--config.file={root / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                                 "--storage.tsdb.retention.time=100y", "--log.level=warn", *extra],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    # /-/ready answers 401 too when basic auth is on: any answer but 503 means it serves
                    if httpx.get(f"{url}/-/ready", timeout=1.0, verify=verify).status_code in (200, 401):
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"prometheus did not start: {proc.stderr.read() if proc.stderr else b''!r}")
                time.sleep(0.1)
            yield PrometheusServer(url, proc)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stderr is not None:
                proc.stderr.close()
