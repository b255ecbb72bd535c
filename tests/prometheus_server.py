"""A real Prometheus for tests: started on a loopback port, optionally over series backfilled with promtool.

``prometheus_over(workdir, openmetrics)`` writes the OpenMetrics text, turns it into TSDB blocks with
``promtool tsdb create-blocks-from openmetrics``, starts ``prometheus`` over them and yields its URL. Tests
that need it skip with a stated reason where the Debian package is not installed (``.ci/run`` installs it
when run as root).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
SKIP_REASON = "prometheus is not installed (Debian package 'prometheus'; .ci/run installs it when run as root)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def prometheus_over(workdir: Path, openmetrics: str | None = None) -> Iterator[str]:
    if PROMETHEUS is None or PROMTOOL is None:
        pytest.skip(SKIP_REASON)
    data = workdir / "tsdb"
    data.mkdir(parents=True)
    if openmetrics is not None:
        source = workdir / "series.om"
        source.write_text(openmetrics if openmetrics.endswith("# EOF\n") else openmetrics + "# EOF\n")
        subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
                       check=True, capture_output=True, timeout=120)
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={data}",
                             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y",
                             "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, "prometheus exited at start-up"
            assert time.monotonic() < deadline, "prometheus did not become ready in 30 s"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
