"""The YAML loader behind ``documents``: PyYAML's CSafeLoader, building exactly what it builds, faster.

libyaml parses and composes in C, but for every node the composer calls back into Python to resolve the
node's tag, and PyYAML then constructs each document in Python through a generic, memoised,
generator-based dispatch. Together they cost twice what the C part does. Two shortcuts, each exact:

* a plain scalar's implicit tag depends on its text alone (SafeLoader has no path resolvers), so it is
  resolved once per distinct text and remembered;
* a manifest is almost all string-keyed mappings, sequences and string scalars: those are built here
  directly, and every other node (ints, bools, nulls, floats, timestamps, merge keys, explicit or unknown
  tags, non-string keys) goes to the loader's own ``construct_object``, so its value, and any error it
  raises, is PyYAML's. Only a stream without anchors is built this way (the caller checks the text has
  no ``&``): an alias makes PyYAML share one object between places, which a tree walk would not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
#: Distinct plain scalars remembered per process (labels, names, images, quantities repeat across a tree).
_MAX_REMEMBERED = 100_000
_plain_tags: dict[str, str] = {}

if TYPE_CHECKING:
    _Base = yaml.SafeLoader
else:
    _Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_Base):
    """CSafeLoader (SafeLoader without libyaml) with plain-scalar resolution remembered by text."""

    def resolve(self, kind: type[Node], value: Any, implicit: Any) -> str:
        """What ``Resolver.resolve`` returns: called from C for every node, so the common cases come first."""
        if self.yaml_path_resolvers:
            return str(Resolver.resolve(self, kind, value, implicit))
        if kind is ScalarNode:
            if not implicit[0]:  # quoted, or plain with a "!" tag
                return _STR
            tag = _plain_tags.get(value)
            if tag is None:
                tag = Resolver.resolve(self, kind, value, implicit)
                if len(_plain_tags) < _MAX_REMEMBERED:
                    _plain_tags[value] = tag
            return tag
        return _MAP if kind is MappingNode else _SEQ


class DuplicateKey(Exception):
    """A mapping names the same key twice (kubectl refuses such a file; PyYAML would keep the last)."""

    def __init__(self, key: str, node: Node) -> None:
        super().__init__(key)
        self.key = key
        self.node = node


def find_duplicate_key(root: Node) -> DuplicateKey | None:
    """The first duplicate string key under ``root``, walked iteratively (for streams with anchors)."""
    stack = [root]
    seen_nodes: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:  # an alias points back at a node already walked
            continue
        seen_nodes.add(id(node))
        if isinstance(node, MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.tag == _STR and key.value != "<<":
                    if key.value in keys:
                        return DuplicateKey(key.value, key)
                    keys.add(key.value)
                stack.append(value)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    return None


def construct_document(node: Node, loader: Any) -> Any:
    """The document's object, as ``loader.construct_document(node)`` builds it for an anchor-free stream."""
    try:
        return _construct(node, loader)
    finally:  # leave the loader as construct_document does
        loader.constructed_objects = {}
        loader.recursive_objects = {}
        loader.state_generators = []
        loader.deep_construct = False


def _construct(node: Node, loader: Any) -> Any:
    cls = node.__class__
    if cls is ScalarNode:
        if node.tag == _STR:
            return node.value
    elif cls is MappingNode:
        if node.tag == _MAP:
            out: dict[str, Any] = {}
            for key, value in node.value:
                if key.__class__ is not ScalarNode or key.tag != _STR:
                    break  # a merge key, a non-string or tagged key: PyYAML's rules, for the whole mapping
                out[key.value] = _construct(value, loader)
            else:
                if len(out) != len(node.value):
                    raise _duplicate(node)
                return out
    elif cls is SequenceNode and node.tag == _SEQ:
        return [_construct(child, loader) for child in node.value]
    return loader.construct_object(node, deep=True)


def _duplicate(node: Node) -> DuplicateKey:
    seen: set[str] = set()
    for key, _ in node.value:
        if key.value in seen:
            return DuplicateKey(key.value, key)
        seen.add(key.value)
    raise AssertionError("no duplicate key")
