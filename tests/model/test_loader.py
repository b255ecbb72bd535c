"""The fast loader builds exactly what PyYAML's CSafeLoader builds, values and errors alike."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_engine.model.documents import Document, load_text
from policy_engine.model.loader import DuplicateKey, Loader, construct_document


def construct_all(text: str, fast: bool) -> list[Any]:
    """Every document's object (or the error that stopped the stream), built one way or the other."""
    loader = Loader(text) if fast else yaml.CSafeLoader(text)
    out: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            assert node is not None  # check_node() said there is one
            out.append(construct_document(node, loader) if fast else loader.construct_document(node))
            # and the loader left as PyYAML leaves it (nothing remembered from one document to the next)
            out.append((len(loader.constructed_objects), len(loader.recursive_objects),
                        len(loader.state_generators), loader.deep_construct))
    except Exception as exc:  # YAML's errors and the others (a bad timestamp) must be the same too
        out.append(("raised", type(exc).__name__, str(exc)))
    finally:
        loader.dispose()
    return out


def same(text: str) -> None:
    fast, generic = construct_all(text, fast=True), construct_all(text, fast=False)
    assert repr(fast) == repr(generic)  # repr: 1 and 1.0 and True are equal but not the same value


@pytest.mark.parametrize("text", [
    "kind: Pod\nmetadata: {name: a, labels: {on: yes, 'off': no, n: 1, f: 1.5, z: ~, e: ''}}\n",
    "kind: Pod\nspec: {replicas: 0x1F, ratio: .5, big: 1_000, inf: .inf, octal: 0o17, sexa: 1:30}\n",
    "kind: Job\nwhen: 2024-01-02\nat: 2024-01-02T03:04:05Z\nbad: !!str 12\n",
    "kind: Pod\n1: one\ntrue: yes\nnull: nothing\n? [a, b]\n: unhashable\n",
    "kind: Pod\nbase: {a: 1}\nmerged: {<<: {b: 2}, c: 3}\n=: value key\n",
    "kind: Pod\ntagged: !!map {a: b}\nset: !!set {a, b}\nomap: !!omap [{a: 1}, {b: 2}]\n",
    "kind: Pod\nbinary: !!binary aGVsbG8=\nlist: [1, 'two', [3, {four: 4}]]\n",
    "kind: Pod\ncustom: !Ref something\n",
    "kind: Pod\nnonspecific: ! 12\nquoted: '12'\ndouble: \"true\"\nseq: ! [1]\nmap: ! {a: 1}\n",
    "kind: Pod\nbad_date: 2024-13-45\n",
    "--- !!map\nkind: Pod\n---\n- a list\n---\nplain\n---\n!!str 1\n---\n{a: [b, {c: !!int '3'}]}\n",
    "kind: Pod\nlevel: " + "[" * 200 + "]" * 200 + "\n",
    # the plain ints, bools and nulls built without PyYAML's constructor, beside the forms that are not
    "kind: Pod\nn: [0, 7, 10, 007, 00, -5, +3, 1_0, 0b11, '12', !!int '12', !!int '012', !!int '\u0663', 12e0]\n",
    "kind: Pod\nb: [true, True, TRUE, yes, Off, 'on', !!bool 'ON', !!bool 'True']\n",
    "kind: Pod\nz: [~, null, Null, NULL, !!null x, '']\n",
    "kind: Pod\nbad: !!bool maybe\n",
    "kind: Pod\nbad: !!int ''\n",
    "kind: Pod\nbad: !!int 'x1'\n",
])
def test_hand_picked_documents(text: str) -> None:
    same(text)


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=False),
    st.dates(), st.datetimes(timezones=st.just(datetime.UTC)),
    st.text(max_size=12),
    st.sampled_from(["on", "off", "yes", "no", "~", "null", "0x1f", "1e3", "1:20", "<<", "=", "2024-01-02",
                     "-", "", " ", "a: b", "- x", "#c", "&a", "*a", "!t", "'", '"', "\t", "é", "\u2028"]),
)
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=8), _scalars), inner, max_size=4),
), max_leaves=25)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.dictionaries(st.text(max_size=8), _values, max_size=5), flow=st.booleans())
def test_any_document_yaml_can_write(body: dict[Any, Any], flow: bool) -> None:
    try:
        text = yaml.safe_dump({"kind": "Pod", **body}, default_flow_style=flow, allow_unicode=True)
    except yaml.YAMLError:
        return
    same(text)


def composed(text: str, fast: bool) -> list[Any]:
    """Every node of every document as (class, tag, value, where): what the composer made, callbacks and all."""
    loader = Loader(text) if fast else yaml.CSafeLoader(text)
    out: list[Any] = []
    try:
        while loader.check_node():
            stack = [loader.get_node()]
            while stack:
                node = stack.pop()
                if node is None:
                    continue
                where = (node.start_mark.line, node.start_mark.column, node.end_mark.line, node.end_mark.column)
                if isinstance(node, yaml.ScalarNode):
                    out.append(("scalar", node.tag, node.value, node.style, where))
                else:
                    style = getattr(node, "flow_style", None)
                    out.append((type(node).__name__, node.tag, len(node.value), style, where))
                    stack.extend(n for pair in node.value for n in (pair if isinstance(pair, tuple) else (pair,)))
    except yaml.YAMLError as exc:
        out.append(("raised", type(exc).__name__, str(exc)))
    finally:
        loader.dispose()
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.dictionaries(st.text(max_size=8), _values, max_size=5), flow=st.booleans())
def test_the_fast_callbacks_compose_the_nodes_libyaml_composes(body: dict[Any, Any], flow: bool) -> None:
    """The composer's per-node callbacks (resolve, and the path-resolver hooks that do nothing) are C
    callables and a plain function in ``Loader``: every node's tag, value, style and place are CSafeLoader's."""
    try:
        text = yaml.safe_dump({"kind": "Pod", **body}, default_flow_style=flow, allow_unicode=True)
    except yaml.YAMLError:
        return
    for extra in ("", "---\n!!str 1\n---\n! 12\n--- {a: !!int '3', b: ! [1], c: !custom x}\n"):
        assert composed(text + extra, fast=True) == composed(text + extra, fast=False)


def test_a_loader_with_path_resolvers_keeps_pyyaml_s_callbacks() -> None:
    class WithPaths(Loader):
        pass

    WithPaths.add_path_resolver("!special", ["spec"], yaml.ScalarNode)
    loader = WithPaths("kind: Pod\nspec: hello\n")
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    assert node is not None and [v.tag for _, v in node.value] == ["tag:yaml.org,2002:str", "!special"]


def test_load_text_builds_without_anchors_what_it_builds_with_them() -> None:
    text = "kind: Pod\nspec: {replicas: 2, on: yes, when: 2024-01-02, tags: [a, 1, null]}\n"
    plain = [d.obj for d in load_text(text, "t.yaml") if isinstance(d, Document)]
    anchored = [d.obj for d in load_text(text + "x: &a 1\n", "t.yaml") if isinstance(d, Document)]
    assert repr(plain) == repr([{k: v for k, v in o.items() if k != "x"} for o in anchored])


def test_a_duplicate_key_is_refused_where_pyyaml_would_keep_the_last_value() -> None:
    loader = Loader("kind: Pod\ndup: 1\ndup: 2\n")
    try:
        with pytest.raises(DuplicateKey) as caught:
            node = loader.get_single_node()
            assert node is not None
            construct_document(node, loader)
    finally:
        loader.dispose()
    assert caught.value.key == "dup" and caught.value.node.start_mark.line == 2
