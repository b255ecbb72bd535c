"""Hot reload in the layout a ConfigMap volume really has, and a broken reload keeping the last good set.

kubelet writes a ConfigMap into a timestamped directory, points ``..data`` at it and exposes each key
as ``name -> ..data/name``; an update writes a new directory and swaps ``..data`` with one rename.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from policy_engine.webhook.app import ServeSettings, load_policies
from policy_engine.webhook.metrics import Metrics
from policy_engine.webhook.reload import EngineHolder, PolicyWatcher, fingerprint
from policy_engine.webhook.review import decide
from tests.cli.test_policy_nesting import AT_LIMIT, policy_file

from .reviews import POLICIES, REVIEWS, request, state
from .server import Server, make_tls

RELAXED = POLICIES / "labels.policy"  # the set under test: rewritten per version below
BROKEN = 'policy "require-team-label" {\n  enforcement sometimes\n  require labels ["team"\n}\n'


class ConfigMapVolume:
    """A folder laid out like a mounted ConfigMap, updated the way kubelet's atomic writer does it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.version = 0
        root.mkdir(parents=True, exist_ok=True)

    def write(self, files: dict[str, str]) -> None:
        self.version += 1
        stamp = self.root / f"..2026_06_01_12_00_00.{self.version:09d}"
        stamp.mkdir()
        for name, text in files.items():
            (stamp / name).write_text(text)
        tmp = self.root / "..data_tmp"
        os.symlink(stamp.name, tmp)
        os.rename(tmp, self.root / "..data")  # the atomic swap
        for name in files:
            link = self.root / name
            if not link.is_symlink():
                os.symlink(f"..data/{name}", link)


def _library(enforcement: str = "deny") -> dict[str, str]:
    labels = RELAXED.read_text().replace("enforcement deny", f"enforcement {enforcement}")
    return {"labels.policy": labels, "gpus.policy": (POLICIES / "gpus.policy").read_text()}


@pytest.fixture
def volume(tmp_path: Path) -> ConfigMapVolume:
    v = ConfigMapVolume(tmp_path / "policies")
    v.write(_library())
    return v


def _watcher(volume: ConfigMapVolume) -> tuple[PolicyWatcher, EngineHolder, Metrics]:
    settings = ServeSettings(policies=[str(volume.root)])
    holder = EngineHolder(load_policies(settings))
    metrics = Metrics()
    return PolicyWatcher([volume.root], lambda: load_policies(settings), holder, metrics, 0), holder, metrics


def _enforcement(holder: EngineHolder) -> str:
    return holder.current.by_name["require-team-label"].enforcement.value


def test_symlink_swap_changes_the_fingerprint(volume: ConfigMapVolume) -> None:
    before = fingerprint([volume.root])
    assert [Path(stamp[0]).name for stamp in before] == ["gpus.policy", "labels.policy"]  # ..data not walked
    volume.write(_library("warn"))
    assert fingerprint([volume.root]) != before


def test_configmap_swap_is_reloaded(volume: ConfigMapVolume) -> None:
    watcher, holder, metrics = _watcher(volume)
    assert watcher.check_once() is None  # nothing changed
    assert _enforcement(holder) == "deny"
    volume.write(_library("warn"))
    assert watcher.check_once() is True
    assert _enforcement(holder) == "warn"
    assert metrics.registry.get_sample_value("policy_engine_webhook_policy_reloads_total") == 1.0
    assert metrics.registry.get_sample_value("policy_engine_webhook_policies_loaded") == 4.0


def _refused(volume: ConfigMapVolume, labels: str, caplog: pytest.LogCaptureFixture
             ) -> tuple[PolicyWatcher, EngineHolder, str]:
    """Write ``labels`` as labels.policy; the reload is refused, counted, and logged with its diagnostics."""
    watcher, holder, metrics = _watcher(volume)
    before = holder.current
    files = _library()
    files["labels.policy"] = labels
    with caplog.at_level(logging.ERROR, logger="policy_engine.webhook"):
        volume.write(files)
        assert watcher.check_once() is False
    assert holder.current is before
    assert metrics.registry.get_sample_value("policy_engine_webhook_policy_reload_failures_total") == 1.0
    record = next(r for r in caplog.records if "reload refused" in r.getMessage())
    return watcher, holder, record.fields["diagnostics"]  # type: ignore[attr-defined]


def test_broken_update_keeps_the_running_set(volume: ConfigMapVolume, caplog: pytest.LogCaptureFixture) -> None:
    watcher, holder, rendered = _refused(volume, BROKEN, caplog)
    assert re.search(r"/labels\.policy:\d+:\d+: error\[E\d+\]", rendered), rendered  # located
    assert "\n     | ^" in rendered  # with the source line and a caret
    assert watcher.check_once() is None  # reported once, not on every poll
    volume.write(_library("warn"))
    assert watcher.check_once() is True and _enforcement(holder) == "warn"


def test_a_reload_that_would_drop_every_policy_keeps_the_running_set(volume: ConfigMapVolume) -> None:
    """An emptied ConfigMap (every file empty, or only comments) must not switch enforcement off."""
    watcher, holder, metrics = _watcher(volume)
    before = holder.current
    volume.write({"labels.policy": "", "gpus.policy": "# all rules moved elsewhere\n"})
    assert watcher.check_once() is False
    assert holder.current is before and len(before.by_name) == 4
    assert metrics.registry.get_sample_value("policy_engine_webhook_policy_reload_failures_total") == 1.0


def test_a_reload_that_removes_policies_names_them_and_counts_them(
        volume: ConfigMapVolume, caplog: pytest.LogCaptureFixture) -> None:
    watcher, holder, metrics = _watcher(volume)
    removed = sorted(holder.current.by_name.keys() - {"require-team-label"})
    labels_only = {"labels.policy": _library()["labels.policy"]}
    with caplog.at_level(logging.WARNING, logger="policy_engine.webhook"):
        volume.write(labels_only)
        assert watcher.check_once() is True
    assert sorted(holder.current.by_name) != [] and removed
    record = next(r for r in caplog.records if "removed" in r.getMessage())
    assert record.levelno == logging.WARNING and all(name in record.getMessage() for name in removed)
    assert metrics.registry.get_sample_value("policy_engine_webhook_policies_removed_by_reload_total") == len(removed)


def test_a_changed_pricing_file_reaches_what_follows_the_swap(volume: ConfigMapVolume, tmp_path: Path) -> None:
    """``serve --pricing`` is watched too; the new catalog is handed on (the cluster cache reprices with it)."""
    pricing = tmp_path / "pricing.yaml"
    pricing.write_text("hours_per_month: 730\n")
    settings = ServeSettings(policies=[str(volume.root)], pricing=str(pricing))
    holder = EngineHolder(load_policies(settings))
    handed: list[float] = []
    watcher = PolicyWatcher([volume.root, pricing], lambda: load_policies(settings), holder, Metrics(), 0,
                            on_swap=lambda loaded: handed.append(loaded.engine.catalog.hours_per_month))
    pricing.write_text("hours_per_month: 720\n")
    assert watcher.check_once() is True
    assert handed == [720]
    pricing.write_text("hours_per_month: [\n")  # refused: nothing is handed on
    assert watcher.check_once() is False
    assert handed == [720] and holder.current.engine.catalog.hours_per_month == 720


def test_in_place_edit_is_reloaded(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    shutil.copytree(POLICIES, folder)
    settings = ServeSettings(policies=[str(folder)])
    holder = EngineHolder(load_policies(settings))
    watcher = PolicyWatcher([folder], lambda: load_policies(settings), holder, Metrics(), 0)
    (folder / "labels.policy").write_text(_library("audit")["labels.policy"])
    assert watcher.check_once() is True and _enforcement(holder) == "audit"


@pytest.fixture
def served(volume: ConfigMapVolume, tmp_path: Path) -> Iterator[Server]:
    config = tmp_path / "config.yaml"
    config.write_text("reload_interval_seconds: 0.1\n")
    s = Server(make_tls(tmp_path / "tls"), tmp_path / "serve.log", "--policies", str(volume.root),
               "--config", str(config), "--no-cluster")
    yield s
    s.stop()


def test_running_server_picks_up_a_configmap_update(volume: ConfigMapVolume, served: Server) -> None:
    body = json.loads((REVIEWS / "deny-pod-untagged.json").read_text())
    assert served.post(body).json()["response"]["allowed"] is False
    volume.write(_library("warn"))
    deadline = time.monotonic() + 30
    while served.post(body).json()["response"]["allowed"] is False:
        assert time.monotonic() < deadline, served.log_text()[-2000:]
        time.sleep(0.1)
    warnings = served.post(body).json()["response"]["warnings"]
    assert any(w.startswith("require-team-label: ") for w in warnings)
    assert any(r.get("event") == "reloaded" for r in served.log_records())


def test_workers_compile_one_after_the_other(tmp_path: Path) -> None:
    """Workers of one serve see a change together; their compiles must not overlap (nor block other sets)."""
    import threading

    from policy_engine.webhook.reload import one_compile_at_a_time

    spans: list[tuple[str, float, float]] = []

    def compile_as(worker: str, watched: list[Path]) -> None:
        with one_compile_at_a_time(watched):
            began = time.monotonic()
            time.sleep(0.3)
            spans.append((worker, began, time.monotonic()))

    same = [tmp_path / "policies"]
    threads = [threading.Thread(target=compile_as, args=(w, same)) for w in ("a", "b")]
    threads.append(threading.Thread(target=compile_as, args=("other", [tmp_path / "elsewhere"])))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    by_worker = {w: (b, e) for w, b, e in spans}
    (a_start, a_end), (b_start, b_end) = by_worker["a"], by_worker["b"]
    assert a_end <= b_start or b_end <= a_start, "two workers compiled the same set at once"
    other_start, _ = by_worker["other"]
    assert other_start < max(a_start, b_start), "another policy set waited on this one's lock"


def test_a_deeply_nested_update_is_refused_located_and_keeps_the_running_set(
        volume: ConfigMapVolume, caplog: pytest.LogCaptureFixture) -> None:
    """Issue #13: 1,000 nested quantifiers crashed the compile with a RecursionError that the watcher only
    logged by its type; now it is an E310 where level 101 opens, and the running set stays."""
    labels = _library()["labels.policy"]
    deep = "".join(f"all c{i} in containers: " for i in range(1_000)) + "gpus > 0"
    labels = labels.rstrip().removesuffix("}") + f"  assert {deep}\n}}\n"
    line = labels.count("\n", 0, labels.index("  assert all c0")) + 1
    column = len("  assert ") + len("".join(f"all c{i} in containers: " for i in range(100))) + 1
    _, _, rendered = _refused(volume, labels, caplog)
    assert f"/labels.policy:{line}:{column}: error[E310]: expression nested more than 100 levels deep" in rendered


def test_an_update_nested_to_the_limit_is_loaded_and_decides(volume: ConfigMapVolume) -> None:
    """The other side of the limit: a set whose expressions nest exactly 100 levels is swapped in and
    judges a review (every one of its policies denies this Pod)."""
    watcher, holder, _ = _watcher(volume)
    volume.write({"limit.policy": policy_file(AT_LIMIT)})
    assert watcher.check_once() is True
    assert sorted(holder.current.by_name) == sorted(AT_LIMIT)
    response = decide(request("deny-too-many-gpus"), state(holder.current)).response
    assert response.allowed is False and response.status is not None
    assert response.status.message.splitlines()[0].endswith(f"violates {len(AT_LIMIT)} policies:")
