"""Malformed fields become located WorkloadErrors with stable codes, naming the field."""

from __future__ import annotations

import pytest

from policy_engine.errors import WorkloadError
from policy_engine.model.build import build_workload

from .manifests import fixture_documents

CASES = {
    "malformed_replicas.yaml": ("E702", 5, "spec.replicas"),
    "malformed_quantity.yaml": ("E704", 10, "resources.requests.cpu"),
    "malformed_quantity_repeated.yaml": ("E704", 22, "containers[2].resources.limits.memory"),
    "placeholder.yaml": ("E709", 7, "Worker.replicas"),
    "cronjob_bad_tz.yaml": ("E707", 6, "spec.timeZone"),
    "cronjob_bad_schedule.yaml": ("E706", 5, "spec.schedule"),
    "resource_name_not_a_string.yaml": ("E701", 12, "containers[0].resources.requests"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_field_is_located(name: str) -> None:
    code, line, field = CASES[name]
    (doc,) = fixture_documents(name)
    with pytest.raises(WorkloadError) as info:
        build_workload(doc)
    diagnostic = info.value.diagnostic
    assert (diagnostic.code, diagnostic.span.line) == (code, line)
    assert diagnostic.span.file.endswith(name)
    assert field in diagnostic.message


def test_placeholder_error_tells_the_user_to_render_the_template() -> None:
    (doc,) = fixture_documents("placeholder.yaml")
    with pytest.raises(WorkloadError) as info:
        build_workload(doc)
    assert info.value.diagnostic.hint is not None and "Render" in info.value.diagnostic.hint
