"""GPUs asked for by a kind the model does not read: found wherever they are, and only there."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.model import unread
from policy_engine.model.config import DEFAULT_CONFIG
from policy_engine.model.unread import gpu_requests

_leaves = st.one_of(st.none(), st.integers(0, 3), st.sampled_from(["0", "1", "", "500m", "a"]))
_names = st.sampled_from(["requests", "limits", "nvidia.com/gpu", "cpu", "amd.com/gpu", "google.com/tpu",
                          "deviceClassName", "gpu.nvidia.com", "count", "spec", "x", "example.com/fpga"])
_objects = st.recursive(_leaves | _names, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(_names, inner, max_size=4)), max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(obj=st.dictionaries(_names, _objects, max_size=5))
def test_the_quick_look_finds_something_exactly_when_the_walk_does(obj: dict[str, Any]) -> None:
    """``gpu_requests`` first walks without building paths (``_asks``): it must never miss what the full
    walk finds, nor send it looking where there is nothing."""
    assert unread._asks(obj, DEFAULT_CONFIG) == bool(unread.gpu_requests(obj, DEFAULT_CONFIG))


def test_requests_are_found_with_their_paths_in_document_order() -> None:
    obj = {"kind": "GPUTrainer", "spec": {"workers": [
        {"resources": {"limits": {"cpu": "1"}}},
        {"resources": {"requests": {"nvidia.com/gpu": 2}, "limits": {"nvidia.com/gpu": "0"}}},
        {"claim": {"deviceClassName": "gpu.nvidia.com", "count": 4}},
    ]}}
    assert [(r.path, r.resource, r.amount) for r in gpu_requests(obj)] == [
        (("spec", "workers", 1, "resources", "requests", "nvidia.com/gpu"), "nvidia.com/gpu", "2"),
        (("spec", "workers", 2, "claim", "deviceClassName"), "DRA device class gpu.nvidia.com", "4"),
    ]
    assert gpu_requests({"kind": "Service", "spec": {"ports": [{"port": 80}], "selector": {"app": "a"}}}) == []


def test_both_walks_stop_at_the_same_bound() -> None:
    """A request past the first ``_MAX_NODES`` mappings and lists is not looked for, by either walk."""
    filler = [{"n": i} for i in range(unread._MAX_NODES)]
    late = {"spec": {"a": filler, "b": {"requests": {"nvidia.com/gpu": "1"}}}}
    early = {"spec": {"b": {"requests": {"nvidia.com/gpu": "1"}}, "a": filler}}
    assert gpu_requests(late) == [] and not unread._asks(late, DEFAULT_CONFIG)
    assert len(gpu_requests(early)) == 1 and unread._asks(early, DEFAULT_CONFIG)
