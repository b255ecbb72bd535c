"""Sources → documents: every object keeps its file:line, every bad input is a located error."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.model.documents import (
    HELM_HINT,
    Document,
    LoadError,
    _scan_depth,
    _shallow,
    load_objects,
    load_paths,
    load_text,
)
from policy_engine.model.loader import LIBYAML_MAX_DEPTH, Loader

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "documents"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


def _load(name: str) -> list[Document | LoadError]:
    return list(load_paths([str(FIXTURES / name)]))


def test_multi_document_stream_keeps_start_lines_and_skips_empty_documents() -> None:
    docs = _load("multi.yaml")
    assert [(d.kind, d.line, d.index) for d in docs if isinstance(d, Document)] == [
        ("Namespace", 2, 0), ("Deployment", 8, 2),
    ]


def test_line_of_points_at_the_named_field_and_falls_back_to_the_deepest_present() -> None:
    deployment = [d for d in _load("multi.yaml") if isinstance(d, Document)][1]
    assert deployment.line_of(("metadata", "labels")) == 12
    assert deployment.line_of(("spec", "template", "spec", "nodeSelector")) == 17
    assert deployment.line_of(("spec", "template", "spec", "containers", 0, "image")) == 21
    # a field that is absent: the line of its deepest present ancestor
    assert deployment.line_of(("spec", "template", "spec", "tolerations")) == 16
    assert deployment.line_of(("spec", "template", "spec", "containers", 5)) == 19


def test_invalid_yaml_keeps_the_documents_before_it_and_reports_the_line() -> None:
    items = _load("invalid.yaml")
    assert isinstance(items[0], Document) and items[0].obj["metadata"]["name"] == "ok"
    err = items[1]
    assert isinstance(err, LoadError)
    assert err.diagnostic.code == "E601"
    assert err.line == 10
    assert err.file.endswith("invalid.yaml")


@pytest.mark.parametrize(("name", "code", "words"), [
    ("not_mapping.yaml", "E603", "not a Kubernetes object"),
    ("no_kind.yaml", "E604", "no 'kind'"),
    ("binary.yaml", "E403", "binary file"),
    ("bomb.yaml", "E605", "aliases"),
    ("bad.json", "E602", "invalid JSON"),
])
def test_bad_inputs_are_located_errors(name: str, code: str, words: str) -> None:
    items = _load(name)
    errors = [i for i in items if isinstance(i, LoadError)]
    assert len(errors) == 1, items
    assert errors[0].diagnostic.code == code
    assert words in errors[0].message
    assert errors[0].line >= 1


def test_bad_json_points_at_the_offending_line() -> None:
    (err,) = _load("bad.json")
    assert isinstance(err, LoadError) and err.line == 2


def test_list_documents_are_expanded_with_each_items_line() -> None:
    docs = _load("list.yaml")
    assert [(d.obj["metadata"]["name"], d.line) for d in docs if isinstance(d, Document)] == [
        ("first", 4), ("second", 8),
    ]


def test_json_manifest() -> None:
    (doc,) = _load("object.json")
    assert isinstance(doc, Document) and doc.obj["metadata"]["name"] == "from-json"


def test_missing_path_is_an_error_not_silence() -> None:
    (err,) = list(load_paths([str(FIXTURES / "does-not-exist.yaml")]))
    assert isinstance(err, LoadError) and err.diagnostic.code == "E401"


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: piped\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    (doc,) = list(load_paths(["-"]))
    assert isinstance(doc, Document) and doc.file == "<stdin>" and doc.obj["metadata"]["name"] == "piped"


def test_objects_from_memory_have_no_node_and_report_line_one() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    (doc,) = list(load_objects([pod], "<admission>"))
    assert isinstance(doc, Document)
    assert doc.line_of(("metadata", "labels")) == 1


def test_a_tab_trailing_a_value_loads_like_libyaml_does() -> None:
    # The corpus notes libyaml accepts a trailing TAB that the pure-Python loader rejects; we use libyaml.
    items = list(load_text("apiVersion: v1\nkind: Service\nspec:\n  type: LoadBalancer\t\n", "tab.yaml"))
    assert isinstance(items[0], Document)


def test_every_corpus_file_loads_without_error() -> None:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent (it ships with CI, not with a user's clone)")
    items = list(load_paths([str(CORPUS)]))
    errors = {(str(Path(i.file).relative_to(CORPUS)), i.line, i.diagnostic.code)
              for i in items if isinstance(i, LoadError)}
    # real duplicate keys (kubectl refuses these files): a second `annotations` / `selector` mapping
    assert errors == {("argoproj__argo-workflows/examples/k8s-patch-json-workflow.yaml", 13, "E607"),
                      *((f"kubernetes__examples/_archived/openshift-origin/{name}.yaml", 12, "E607")
                        for name in ("etcd-controller", "etcd-discovery-controller", "openshift-controller"))}
    assert sum(isinstance(i, Document) for i in items) >= 2176  # the four with duplicate keys are refused


def test_ordinary_anchors_and_shell_ampersands_load() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: anchors}\n"
        "data:\n  base: &base {a: '1'}\n  copy: *base\n  cmd: sh -c 'make && make test'\n"
    )
    (doc,) = list(load_text(text, "anchors.yaml"))
    assert isinstance(doc, Document) and doc.obj["data"]["copy"] == {"a": "1"}


@pytest.mark.parametrize(("name", "line", "key"), [("replicas-twice.yaml", 10, "replicas"),
                                                    ("anchored.yaml", 11, "image"),
                                                    ("kind-twice.json", 6, "kind")])
def test_a_duplicate_key_is_a_located_error(name: str, line: int, key: str) -> None:
    path = Path(__file__).resolve().parents[1] / "fixtures" / "documents" / "duplicates" / name
    items = list(load_paths([str(path)]))
    errors = [i for i in items if isinstance(i, LoadError)]
    assert [(e.line, e.diagnostic.code) for e in errors] == [(line, "E607")]
    assert f"key '{key}' appears twice" in errors[0].message
    if name == "replicas-twice.yaml":  # the documents after the bad one are still read
        assert [d.kind for d in items if isinstance(d, Document)] == ["ConfigMap"]


def test_a_repository_root_skips_non_manifests_with_a_note_and_reports_empty_files(tmp_path: Path) -> None:
    """The issue's reproduction: Chart.yaml, values*.yaml, kustomization.yaml and CI configs at a repository
    root failed the run with a no-kind error; an empty file counted as nothing."""
    (tmp_path / "chart" / "templates").mkdir(parents=True)
    (tmp_path / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: x\nversion: 1.0.0\n")
    (tmp_path / "chart" / "values.yaml").write_text("replicas: 2\n")
    (tmp_path / "chart" / "values-prod.yaml").write_text("replicas: 3\n")
    (tmp_path / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (tmp_path / ".gitlab-ci.yml").write_text("test: {script: [make]}\n")
    (tmp_path / "empty.yaml").write_text("# nothing yet\n---\n")
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    (tmp_path / "chart" / "templates" / "dep.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: {{ .Values.replicas }}\n")
    items = list(load_paths([str(tmp_path)]))
    found = {(Path(i.file).name, i.diagnostic.code, i.diagnostic.is_error) for i in items if isinstance(i, LoadError)}
    assert found == {("Chart.yaml", "W602", False), ("values.yaml", "W602", False),
                     ("values-prod.yaml", "W602", False), ("kustomization.yaml", "W602", False),
                     (".gitlab-ci.yml", "W602", False), ("empty.yaml", "W601", False), ("dep.yaml", "E601", True)}
    helm = next(i for i in items if isinstance(i, LoadError) and i.diagnostic.code == "E601")
    assert "helm template" in (helm.diagnostic.hint or "")  # unquoted {{ }}: the render-first hint
    assert [d.kind for d in items if isinstance(d, Document)] == ["ConfigMap"]
    # a file named explicitly is read whatever its name
    assert any(isinstance(i, LoadError) and i.diagnostic.code == "E604"
               for i in load_paths([str(tmp_path / "chart" / "values.yaml")]))


def _original_shallow(text: str) -> bool:
    """The bound ``_shallow`` refines: the whole text's brackets and its longest line."""
    return text.count("[") + text.count("{") + max(map(len, text.splitlines()), default=0) <= LIBYAML_MAX_DEPTH


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.tuples(st.integers(0, 1500), st.integers(0, 40), st.sampled_from(["\n", "\r\n", "\r"])),
                      max_size=30))
def test_the_depth_bound_is_the_line_and_bracket_bound_for_one_document(lines: list[tuple[int, int, str]]) -> None:
    """Without a ``---`` line, the quick look at blocks of characters decides as measuring every line does."""
    text = "".join("x" * length + "[" * brackets + end for length, brackets, end in lines)
    assert _shallow(text) == _original_shallow(text)


def test_brackets_spread_over_many_documents_are_not_one_deep_nesting() -> None:
    """Helm output: thousands of `{}` and `[a, b]`, a few per document: no libyaml pre-scan of the text."""
    stream = "".join(f"---\nkind: ConfigMap\nmetadata: {{name: c{i}}}\ndata: {{a: '[x]'}}\n" for i in range(600))
    assert stream.count("{") > LIBYAML_MAX_DEPTH and _shallow(stream)
    assert _scan_depth(Loader(stream))[0] <= LIBYAML_MAX_DEPTH


@pytest.mark.parametrize("levels", [LIBYAML_MAX_DEPTH, LIBYAML_MAX_DEPTH + 1, 1500])
def test_one_deep_document_among_many_shallow_ones_is_still_read_deep(levels: int) -> None:
    shallow = "".join(f"---\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n" for i in range(400))
    deep = f"---\nkind: Pod\nmetadata: {{name: deep}}\nspec: {'[' * (levels - 2)}1{']' * (levels - 2)}\n"
    text = shallow + deep + shallow
    assert not _shallow(text) or _scan_depth(Loader(text))[0] <= LIBYAML_MAX_DEPTH
    docs = list(load_text(text, "s.yaml"))
    assert all(isinstance(d, Document) for d in docs) and len(docs) == 801
    assert [d.line for d in docs if isinstance(d, Document) and d.kind == "Pod"] == [1202]


def test_the_render_first_hint_goes_to_every_error_of_a_templated_text_and_only_to_those() -> None:
    """Whether a text holds ``{{`` is asked once, at its first error: every error of such a text carries the
    hint (the second too), an error in a text without it never does, and a text without error is not searched."""
    templated = "kind: A\nx: {{ .Values.a }}\n---\nkind: B\ny: [{{ .Values.b }}\n---\n- not an object\n"
    hints = [(i.diagnostic.code, i.diagnostic.hint) for i in load_text(templated, "t.yaml") if isinstance(i, LoadError)]
    assert [code for code, _ in hints] == ["E601", "E601", "E603"]
    assert all(hint == HELM_HINT for _, hint in hints)
    plain = "kind: A\nx: [1\n---\n- not an object\n"
    assert [(i.diagnostic.code, i.diagnostic.hint) for i in load_text(plain, "p.yaml") if isinstance(i, LoadError)] \
        == [("E601", None), ("E603", None)]
