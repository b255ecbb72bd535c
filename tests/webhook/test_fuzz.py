"""Bounded fuzzing (issue #13): generated AdmissionReviews against the real server, generated files against check,
generated deep policies against the compiler and ``fmt``, deep policy test files against their loader.

Each property has a fixed, small example budget (the whole module runs in well under a minute). What must
hold for every input: no 500, no traceback, no hang; every valid object is decided (allowed or denied by
the policies, never "cannot read the object" or "internal error"); a malformed body is a 400.
"""

from __future__ import annotations

import copy
import json
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_engine.authoring.fmt import format_text
from policy_engine.authoring.testfile import load_suite
from policy_engine.cli.main import main
from policy_engine.compiler import compile_text
from policy_engine.model.documents import MAX_DEPTH, load_paths
from policy_engine.model.kinds import KNOWN_KINDS
from policy_engine.syntax.parser import MAX_NESTING

from .server import Server, Tls, make_tls

REPO = Path(__file__).resolve().parents[2]
SAMPLES = [*sorted((REPO / "tests" / "fixtures" / "model").glob("*.yaml")),
           *sorted((REPO / "examples" / "manifests").glob("*.yaml")),
           *sorted((REPO / "tests" / "fixtures" / "webhook" / "fuzz").glob("*.yaml"))]
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _valid_objects() -> list[dict[str, Any]]:
    """One readable object per known kind, from the model's fixtures and the examples."""
    from policy_engine.engine import load_engine

    engine = load_engine()
    by_kind: dict[str, dict[str, Any]] = {}
    for item in load_paths([str(p) for p in SAMPLES]):
        obj = getattr(item, "obj", None)
        if obj is None or obj.get("kind") not in KNOWN_KINDS or obj["kind"] in by_kind:
            continue
        try:
            if engine.workload(item) is None:  # type: ignore[arg-type]
                continue
        except Exception:  # a fixture that is broken on purpose (a malformed quantity...)
            continue
        by_kind[obj["kind"]] = obj
    return [by_kind[k] for k in sorted(by_kind)]


OBJECTS = _valid_objects()

JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) \
    | st.text(max_size=30)
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)
EXTRA_KEYS = st.text(alphabet=string.ascii_letters + string.digits + "-_./", min_size=1, max_size=12).map(
    lambda k: f"x-fuzz-{k}")  # keys no workload model reads: the object stays valid


def _mappings(obj: Any) -> Iterator[dict[str, Any]]:
    """Every mapping in ``obj`` (iteratively), where an extra field may go."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


@st.composite
def reviews(draw: st.DrawFn) -> dict[str, Any]:
    obj = copy.deepcopy(draw(st.sampled_from(OBJECTS)))
    places = list(_mappings(obj))
    for _ in range(draw(st.integers(0, 4))):
        target = draw(st.sampled_from(places))
        target[draw(EXTRA_KEYS)] = draw(JSON_VALUES)
    depth = draw(st.sampled_from([0, 0, 50, 2_000]))
    if depth:
        deep: Any = 1
        for _ in range(depth):
            deep = {"d": deep}
        obj.setdefault("spec", {})["x-fuzz-deep"] = deep
    meta = obj.setdefault("metadata", {})
    meta.setdefault("name", "fuzzed")
    if draw(st.booleans()):
        meta["labels"] = {**meta.get("labels", {}), "team": draw(st.text(max_size=20))}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": draw(st.uuids()).hex, "operation": draw(st.sampled_from(["CREATE", "UPDATE"])),
                        "namespace": "fuzz", "name": meta["name"], "kind": {"kind": obj["kind"]},
                        "userInfo": {"username": draw(st.text(max_size=20))}, "object": obj,
                        "dryRun": draw(st.booleans())}}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def server(tls: Tls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tls, tmp_path_factory.mktemp("log") / "serve.log", "--no-cluster")
    yield s
    s.stop()


def test_every_known_kind_has_a_fuzz_seed() -> None:
    assert {o["kind"] for o in OBJECTS} == KNOWN_KINDS


@FUZZ
@given(review=reviews())
def test_generated_reviews_of_every_kind_are_decided(server: Server, review: dict[str, Any]) -> None:
    body = json.dumps(review).encode() if review["request"]["object"].get("spec", {}).get("x-fuzz-deep") is None \
        else _dump_deep(review)
    reply = server.post(body)
    assert reply.status_code == 200, reply.text[:500]
    response = reply.json()["response"]
    assert response["uid"] == review["request"]["uid"] and isinstance(response["allowed"], bool)
    said = " ".join(response.get("warnings") or []) + response.get("status", {}).get("message", "")
    assert "internal error" not in said and "cannot read the object" not in said, said


def _dump_deep(review: dict[str, Any]) -> bytes:
    """json.dumps recurses per level; write the deep field by hand."""
    obj = review["request"]["object"]
    deep = obj["spec"].pop("x-fuzz-deep")
    levels = 0
    while isinstance(deep, dict):
        deep, levels = deep["d"], levels + 1
    obj["spec"]["x-fuzz-deep"] = "__DEEP__"
    return json.dumps(review).replace('"__DEEP__"', '{"d":' * levels + "1" + "}" * levels).encode()


@FUZZ
@given(body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode)
       | JSON_VALUES.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bodies_are_answered_not_crashed(server: Server, body: bytes) -> None:
    reply = server.post(body)
    assert reply.status_code in (200, 400), reply.text[:300]
    if reply.status_code == 400:
        assert reply.json()["error"]


def _half_of(p: Path) -> st.SearchStrategy[tuple[str, bytes]]:
    """The first half of a real manifest followed by junk bytes."""
    return st.binary(max_size=40).map(lambda junk: (p.name, p.read_bytes()[: len(p.read_bytes()) // 2] + junk))


FILES = st.one_of(
    JSON_VALUES.map(lambda v: ("x.json", json.dumps(v).encode())),
    JSON_VALUES.map(lambda v: ("x.yaml", yaml.safe_dump(v).encode())),
    st.binary(max_size=400).map(lambda b: ("x.yaml", b)),
    st.integers(1, 3_000).map(lambda n: ("deep.json", ('{"a":' * n + "1" + "}" * n).encode())),
    st.integers(1, 3_000).map(lambda n: ("deep.yaml", ("a: " + "[" * n + "]" * n + "\n").encode())),
    st.integers(1, 20_000).map(lambda n: ("wide.yaml", yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "w", "labels": {f"k{i}": "v" for i in range(n)}},
         "spec": {"containers": [{"name": "c", "image": "x"}]}}).encode())),
    st.sampled_from(SAMPLES).flatmap(lambda p: _half_of(p)),
)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(file=FILES)
def test_generated_files_get_a_report_from_check(tmp_path_factory: pytest.TempPathFactory,
                                                 file: tuple[str, bytes]) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / file[0]).write_bytes(file[1])
    out = folder / "report.json"
    code = main(["check", "--format", "junit", "--output", f"json={out}", str(folder / file[0])])
    assert code in (0, 1, 2)
    report = json.loads(out.read_text())
    assert report["verdict"] and isinstance(report["errors"], list)


# ---- policies and policy test files, nested to either side of their limits ----

#: One expression level each (the operand in parentheses, so precedence never merges two levels).
WRAPPERS = ("not ({})", "-({})", "[{}]", "{{1: {}}}", "len({})", "({}) + 1", "({}).a", "({})[0]",
            "all c in containers: ({})", "gpus > 0 and ({})", "gpus < 0 or ({})", "({}) in [1]")


@st.composite
def nested_conditions(draw: st.DrawFn) -> tuple[str, int]:
    """A condition and how many levels it nests (the comparison at its heart is one)."""
    levels = draw(st.sampled_from([1, 7, MAX_NESTING - 1, MAX_NESTING, MAX_NESTING + 1, 400, 3_000]))
    chooser = draw(st.randoms(use_true_random=False))
    text = "gpus > 0"
    for _ in range(levels - 1):
        text = chooser.choice(WRAPPERS).format(text)
        if chooser.random() < 0.1:
            text = f"({text})"  # parentheses are no level
    return text, levels


@FUZZ
@given(condition=nested_conditions())
def test_generated_deep_policies_compile_or_get_a_located_e310(condition: tuple[str, int]) -> None:
    text, levels = condition
    policy = f'policy "fuzz" {{\n  match {{\n    kinds workloads\n  }}\n  assert {text}\n}}\n'
    result = compile_text(policy, "fuzz.policy")
    codes = [d.code for d in result.diagnostics]
    assert ("E310" in codes) == (levels > MAX_NESTING), (levels, codes)
    for diagnostic in result.diagnostics:
        assert diagnostic.span.file == "fuzz.policy" and 1 <= diagnostic.span.line <= 6, diagnostic
    if levels <= MAX_NESTING and all(code != "E310" for code in codes):
        formatted = format_text(policy, "fuzz.policy")  # raises on a change of meaning
        assert [d.code for d in compile_text(formatted, "fuzz.policy").diagnostics] == codes


def _deep_value(levels: int) -> str:
    return "[" * levels + "1" + "]" * levels


#: Where a deep value goes in a test file: (its text around ``{}``, the line it is on, the levels above it).
TEST_FILE_PLACES = {
    "unknown top-level field": ("policies: [p.policy]\nresources: []\ncases: []\nextra: {}\n", 4, 1),
    "policies": ("policies: {}\nresources: []\ncases: []\n", 1, 1),
    "a case": ("policies: [p.policy]\nresources: []\ncases:\n  - {{policy: p, resource: Pod/p, expect: pass, "
               "x: {}}}\n", 4, 3),
    "an inline manifest": ("policies: [p.policy]\nresources:\n  - {{apiVersion: v1, kind: Pod, metadata: {{name: p}}, "
                           "spec: {{x: {}}}}}\ncases: []\n", 3, 4),
}


@pytest.mark.parametrize("levels", [2_000, MAX_DEPTH, MAX_DEPTH + 1])
@settings(max_examples=2, deadline=None, derandomize=True)
@given(place=st.sampled_from(sorted(TEST_FILE_PLACES)))
def test_generated_deep_test_files_load_or_get_a_located_e606(levels: int, place: str) -> None:
    template, line, above = TEST_FILE_PLACES[place]
    text = template.format(_deep_value(levels - above))
    _, errors = load_suite(text, "fuzz.test.yaml")
    too_deep = [e for e in errors if e.code == "E606"]
    if levels <= MAX_DEPTH:  # read whole: what is left is the format's own complaints, at their fields
        assert all(e.code == "E902" and "invalid YAML" not in e.message for e in errors), errors
        return
    [error] = too_deep
    first = text.splitlines()[line - 1].index("[" * 8)
    assert (error.span.line, error.span.column) == (line, first + (MAX_DEPTH - above) + 1)
