"""The list/watch protocol as the fake API server sees it: resume points, 410 Gone, bookmarks, errors, stop."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import pytest

from policy_engine.cluster import ClusterState, Timing
from policy_engine.engine import Engine

from .fake_apiserver import FakeApiServer, fixture
from .helpers import FAST, Clock, make_state, rule, wait_for


def _pod(name: str) -> dict[str, object]:
    found = next(p for p in fixture("pods.json")["items"] if p["metadata"]["name"] == name)
    return {"kind": "Pod", "apiVersion": "v1", **copy.deepcopy(found)}


def _watching(server: FakeApiServer, resource: str, count: int) -> None:
    wait_for(lambda: len(server.watch_requests(resource)) >= count and server.open_watches(resource) >= 1,
             f"watch #{count} of {resource}")


def test_lists_then_watches_from_the_list_resource_version(server: FakeApiServer, state: ClusterState) -> None:
    _watching(server, "pods", 1)
    first = server.watch_requests("pods")[0]
    assert first.query["resourceVersion"] == state.reflectors["pods"].stats.resource_version
    assert first.query["allowWatchBookmarks"].lower() == "true"
    assert int(first.query["timeoutSeconds"]) > 0


def test_disconnect_rewatches_from_the_last_event(server: FakeApiServer, state: ClusterState) -> None:
    _watching(server, "pods", 1)
    rv = server.apply("pods", "MODIFIED", _pod("llm-serve-7d9f8b6c5-h2x4p"))
    wait_for(lambda: state.reflectors["pods"].stats.resource_version == str(rv), "the event")
    server.close_watches("pods")
    _watching(server, "pods", 2)
    assert server.watch_requests("pods")[1].query["resourceVersion"] == str(rv)
    assert len(server.list_requests("pods")) == 1  # resumed, not listed again
    assert state.sync_info().watch_restarts >= 1


def test_bookmark_moves_the_resume_point(server: FakeApiServer, state: ClusterState) -> None:
    _watching(server, "nodes", 1)
    server.apply("pods", "MODIFIED", _pod("llm-serve-7d9f8b6c5-h2x4p"))  # moves the global resourceVersion
    rv = server.bookmark("nodes")
    wait_for(lambda: state.reflectors["nodes"].stats.bookmarks == 1, "the bookmark")
    server.close_watches("nodes")
    _watching(server, "nodes", 2)
    assert server.watch_requests("nodes")[1].query["resourceVersion"] == str(rv)


@pytest.mark.parametrize("as_status", [False, True], ids=["error-event", "http-status"])
def test_gone_relists_and_sees_missed_changes(server: FakeApiServer, state: ClusterState, engine: Engine,
                                              as_status: bool) -> None:
    """The worker pod is deleted while history is compacted: resuming gets 410, the relist finds it gone."""
    quota = rule(engine, "gpu-hours-per-day")
    _watching(server, "pods", 1)
    server.gone_as_status = as_status
    server.apply_unseen("pods", "DELETED", _pod("resnet-train-worker-0"))
    assert state.usage(quota, "vision").running > 0  # type: ignore[union-attr]
    server.close_watches("pods")
    wait_for(lambda: state.reflectors["pods"].stats.relists == 1, "the relist")
    assert state.reflectors["pods"].stats.gone == 1
    assert len(server.list_requests("pods")) == 2
    wait_for(lambda: state.usage(quota, "vision").running == 0, "the missed deletion")  # type: ignore[union-attr]
    usage = state.usage(quota, "vision")
    assert usage is not None and usage.used == pytest.approx(48.0)  # it ran all morning: still counted
    _watching(server, "pods", 3)
    assert server.watch_requests("pods")[-1].query["resourceVersion"] == state.reflectors["pods"].stats.resource_version


def test_errors_back_off_and_recover(server: FakeApiServer, state: ClusterState) -> None:
    _watching(server, "namespaces", 1)
    server.fail_next["namespaces"] = 500
    server.close_watches("namespaces")
    wait_for(lambda: state.reflectors["namespaces"].stats.errors == 1, "the failed watch")
    assert "500" in (state.reflectors["namespaces"].stats.last_error or "")
    _watching(server, "namespaces", 3)  # the failed one, then a successful one
    assert state.synced
    ns = next(n for n in fixture("namespaces.json")["items"] if n["metadata"]["name"] == "ml-nlp")
    ns["metadata"]["labels"]["team"] = "language"
    server.apply("namespaces", "MODIFIED", {"kind": "Namespace", "apiVersion": "v1", **ns})
    wait_for(lambda: (state.namespace_labels("ml-nlp") or {}).get("team") == "language", "events after recovery")


def test_failed_first_list_is_retried(server: FakeApiServer, clock: Clock) -> None:
    server.fail_next["nodes"] = 503
    st = make_state(server, clock)
    st.start()
    try:
        wait_for(lambda: st.synced, "sync after a failed list")
        assert st.reflectors["nodes"].stats.errors == 1
        assert len(server.list_requests("nodes")) == 2
    finally:
        st.stop()


def test_paged_list(server: FakeApiServer, clock: Clock) -> None:
    st = make_state(server, clock, Timing(page_size=2, backoff_initial=0.05))
    st.start()
    try:
        wait_for(lambda: st.synced, "sync")
        pages = server.list_requests("pods")
        assert [p.query.get("continue") for p in pages] == [None, "2", "4"]
        assert st.sync_info().gpu_pods == 4
    finally:
        st.stop()


def test_periodic_resync_relists(server: FakeApiServer, clock: Clock) -> None:
    st = make_state(server, clock, Timing(watch_timeout_seconds=1, resync_seconds=0.0, backoff_initial=0.05))
    st.start()
    try:
        wait_for(lambda: st.sync_info().relists >= 3, "resync lists")
    finally:
        st.stop()


@pytest.fixture
def started(server: FakeApiServer, clock: Clock) -> Iterator[ClusterState]:
    st = make_state(server, clock, FAST)
    st.start()
    wait_for(lambda: st.synced, "sync")
    yield st


def test_stop_ends_every_thread_and_stream(server: FakeApiServer, started: ClusterState) -> None:
    for resource in ("namespaces", "nodes", "pods"):
        _watching(server, resource, 1)
    started.stop(timeout=5)
    assert not any(r._thread.is_alive() for r in started.reflectors.values())
    wait_for(lambda: all(server.open_watches(r) == 0 for r in ("namespaces", "nodes", "pods")),
             "the server to see the streams close")


def test_an_event_that_fails_to_apply_is_delivered_again(server: FakeApiServer, state: ClusterState,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug while applying an event must neither kill the thread nor lose the event: the watch resumes
    from the resourceVersion before it, so the server sends it again."""
    _watching(server, "namespaces", 1)
    real = state.store.apply
    failures: list[str] = []

    def flaky(resource: str, event: str, obj: dict[str, object], now: object) -> None:
        if not failures:
            failures.append(event)
            raise RuntimeError("a bug")
        real(resource, event, obj, now)  # type: ignore[arg-type]

    monkeypatch.setattr(state.store, "apply", flaky)
    ns = next(n for n in fixture("namespaces.json")["items"] if n["metadata"]["name"] == "ml-nlp")
    ns["metadata"]["labels"]["team"] = "language"
    server.apply("namespaces", "MODIFIED", {"kind": "Namespace", "apiVersion": "v1", **ns})
    wait_for(lambda: (state.namespace_labels("ml-nlp") or {}).get("team") == "language", "the event, again")
    assert failures == ["MODIFIED"]
    assert state.reflectors["namespaces"].stats.errors == 1
    assert "RuntimeError" in (state.reflectors["namespaces"].stats.last_error or "")
