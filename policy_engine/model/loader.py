"""The YAML loader behind ``documents``: PyYAML's CSafeLoader, building exactly what it builds, faster.

libyaml parses and composes in C, but for every node the composer calls back into Python to resolve the
node's tag, and PyYAML then constructs each document in Python through a generic, memoised,
generator-based dispatch. Together they cost twice what the C part does. Two shortcuts, each exact:

* a plain scalar's implicit tag depends on its text alone (SafeLoader has no path resolvers), so it is
  resolved once per distinct text and remembered; the composer's two other calls per node (descend into
  and ascend from a node, for path resolvers) do nothing without path resolvers, so they are C callables
  that do nothing (together, a seventh of the composition's time);
* a manifest is almost all string-keyed mappings, sequences and string scalars, with some plain ints,
  bools and nulls: those are built here directly, and every other node (other forms of ints, floats,
  timestamps, merge keys, unknown tags, non-string keys) goes to the loader's own ``construct_object``,
  so its value, and any error it raises, is PyYAML's. Only a stream without anchors is built this way
  (the caller checks the text has no ``&``): an alias makes PyYAML share one object between places,
  which a tree walk would not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_INT = "tag:yaml.org,2002:int"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
#: What SafeConstructor makes of a bool's text, lowercased (``construct_yaml_bool``).
_BOOLS: dict[str, bool] = dict(yaml.constructor.SafeConstructor.bool_values)
#: Distinct plain scalars remembered per process (labels, names, images, quantities repeat across a tree).
_MAX_REMEMBERED = 100_000
_plain_tags: dict[str, str] = {}

if TYPE_CHECKING:
    _Base = yaml.SafeLoader
else:
    _Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


#: What the composer's per-node ``descend_resolver(parent, index)`` and ``ascend_resolver()`` become without
#: path resolvers (PyYAML's methods then return at once): C callables that take those arguments, do nothing
#: and are not Python frames (``_NOTHING`` stays empty).
_NOTHING: dict[Any, Any] = {}
_IGNORE_TWO = _NOTHING.get
_IGNORE_NONE = ().__len__


class Loader(_Base):
    """CSafeLoader (SafeLoader without libyaml) with plain-scalar resolution remembered by text."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        if not self.yaml_path_resolvers:  # the per-node callbacks as cheap as they can be (module docstring)
            self.__dict__.update(descend_resolver=_IGNORE_TWO, ascend_resolver=_IGNORE_NONE, resolve=_resolve)

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


def _resolve(kind: type[Node], value: Any, implicit: Any) -> str:
    """``Loader.resolve`` without path resolvers, as a plain function (no bound method made per node)."""
    if kind is ScalarNode:
        if not implicit[0]:
            return _STR
        tag = _plain_tags.get(value)
        if tag is None:
            tag = str(Resolver.resolve(_PLAIN, kind, value, implicit))
            if len(_plain_tags) < _MAX_REMEMBERED:
                _plain_tags[value] = tag
        return tag
    return _MAP if kind is MappingNode else _SEQ


#: Resolves a plain scalar's tag as any SafeLoader does: from its text alone, by Resolver's implicit
#: resolvers (the ones every SafeLoader, C or Python, has).
_PLAIN = Resolver()


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
        obj = _construct(node, loader)
    except BaseException:
        _reset(loader)
        raise
    if loader.constructed_objects:  # PyYAML built some node (only what it remembers is left after a success)
        _reset(loader)
    return obj


def _reset(loader: Any) -> None:
    """Leave the loader as ``construct_document`` does."""
    loader.constructed_objects = {}
    loader.recursive_objects = {}
    loader.state_generators = []
    loader.deep_construct = False


def _construct(node: Node, loader: Any) -> Any:
    cls = node.__class__
    if cls is ScalarNode:
        tag = node.tag
        if tag == _STR:
            return node.value
        # the other scalars of a manifest (replicas, ports, flags, nulls), built as SafeConstructor builds
        # them when their text is the plain form: a decimal without sign, underscore or leading zero, a bool
        # word, a null; any other form (0x1F, 1_000, 0o17, 1:30, !!bool maybe) goes to PyYAML below
        if tag == _INT:
            text = node.value
            if text.isdigit() and text.isascii() and (text[0] != "0" or text == "0"):
                return int(text)
        elif tag == _BOOL:
            flag = _BOOLS.get(node.value.lower())
            if flag is not None:
                return flag
        elif tag == _NULL:
            return None
    elif cls is MappingNode:
        if node.tag == _MAP:
            out: dict[str, Any] = {}
            for key, value in node.value:
                if key.__class__ is not ScalarNode or key.tag != _STR:
                    break  # a merge key, a non-string or tagged key: PyYAML's rules, for the whole mapping
                # a string value (most are) taken here rather than in a call of its own
                out[key.value] = value.value if value.__class__ is ScalarNode and value.tag == _STR \
                    else _construct(value, loader)
            else:
                if len(out) != len(node.value):
                    raise _duplicate(node)
                return out
    elif cls is SequenceNode and node.tag == _SEQ:
        return [child.value if child.__class__ is ScalarNode and child.tag == _STR else _construct(child, loader)
                for child in node.value]
    return loader.construct_object(node, deep=True)


def _duplicate(node: Node) -> DuplicateKey:
    seen: set[str] = set()
    for key, _ in node.value:
        if key.value in seen:
            return DuplicateKey(key.value, key)
        seen.add(key.value)
    raise AssertionError("no duplicate key")


#: How deep libyaml nests (its ``max_nest_level``, 1,000 in libyaml 0.2.5): a stream deeper than this
#: (up to the API server's 10,000 levels) is read by PyYAML's Python parser and ``compose_deep``.
LIBYAML_MAX_DEPTH = 1000

_NO_KEY = object()


class DeepLoader(yaml.SafeLoader):
    """PyYAML's pure-Python safe loader (no depth limit: its scanner and parser keep explicit stacks), for
    streams deeper than libyaml goes. Its scanner keeps one possible simple key per open flow level and
    walks all of them at every token, quadratic in the depth; they are kept in the order they were saved
    (lowest index first), so the nearest is the first and the stale ones a prefix: the same answers in
    constant time per token."""

    def next_possible_simple_key(self) -> int | None:
        for key in self.possible_simple_keys.values():
            return int(key.token_number)
        return None

    def stale_possible_simple_keys(self) -> None:
        keys = self.possible_simple_keys
        stale = []
        for level, key in keys.items():
            if key.line == self.line and self.index - key.index <= 1024:
                break
            if key.required:
                raise yaml.scanner.ScannerError("while scanning a simple key", key.mark,
                                                "could not find expected ':'", self.get_mark())
            stale.append(level)
        for level in stale:
            del keys[level]


def compose_deep(loader: yaml.SafeLoader) -> Iterator[Node]:
    """The node tree of each non-empty document of ``loader``'s stream, composed from its events with an
    explicit stack, with anchors, aliases and tags as ``Composer.compose_node`` makes them.

    ``loader`` is PyYAML's pure-Python ``SafeLoader``: its scanner and parser keep explicit stacks (no
    depth limit, no recursion); its composer recurses once per level, so it is not used."""
    if loader.check_event(yaml.StreamStartEvent):
        loader.get_event()
    while not loader.check_event(yaml.StreamEndEvent):
        root = _compose_document(loader)
        if root is not None:
            yield root
    loader.get_event()


def _compose_document(loader: yaml.SafeLoader) -> Node | None:
    loader.get_event()  # DocumentStartEvent
    anchors: dict[str, Node] = {}
    stack: list[Node] = []
    keys: list[Any] = []  # per open mapping: its key waiting for a value (_NO_KEY when none)
    root: Node | None = None
    while True:
        event: Any = loader.get_event()
        start: Any = event.start_mark
        end: Any = event.end_mark
        node: Node
        if isinstance(event, yaml.DocumentEndEvent):
            return root
        if isinstance(event, yaml.CollectionEndEvent):
            node = stack.pop()
            node.end_mark = end
            if isinstance(node, MappingNode):
                keys.pop()
            continue
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise yaml.composer.ComposerError(None, None, f"found undefined alias {event.anchor!r}",
                                                  start)
            node = anchors[event.anchor]
        elif isinstance(event, yaml.ScalarEvent):
            tag = event.tag if event.tag not in (None, "!") else loader.resolve(ScalarNode, event.value,
                                                                                 event.implicit)
            node = ScalarNode(tag, event.value, start, end, style=event.style)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            kind = SequenceNode if isinstance(event, yaml.SequenceStartEvent) else MappingNode
            tag = event.tag if event.tag not in (None, "!") else loader.resolve(kind, None, event.implicit)
            node = kind(tag, [], start, None, flow_style=event.flow_style)
        else:
            raise yaml.composer.ComposerError(None, None, f"unexpected {type(event).__name__}", start)
        anchor = getattr(event, "anchor", None) if not isinstance(event, yaml.AliasEvent) else None
        if anchor is not None:
            anchors[anchor] = node
        if not stack:
            root = node
        elif isinstance(stack[-1], SequenceNode):
            stack[-1].value.append(node)
        elif keys[-1] is _NO_KEY:
            keys[-1] = node
        else:
            stack[-1].value.append((keys[-1], node))
            keys[-1] = _NO_KEY
        if isinstance(event, yaml.CollectionStartEvent):
            stack.append(node)
            if isinstance(node, MappingNode):
                keys.append(_NO_KEY)
