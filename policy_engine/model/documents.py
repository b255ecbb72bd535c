"""Text → documents: the text of a manifest file or of stdin becomes mappings that know their file:line.

(Which files a list of paths names, and reading each, is ``model/sources.py``; ``load_paths`` joins the two.)

``yaml.load_all`` with libyaml's CSafeLoader is composition (C) followed by construction (Python). We do
exactly those two steps ourselves, one document at a time, and keep the composed node: the document's
start line then costs nothing, and the line of any field (for a finding that names one) is found by
walking the node only when a finding asks for it.

Nothing is skipped silently: every file or document that cannot become a Kubernetes object yields a
``LoadError`` with file, line and reason, and the remaining files are still read. Invalid YAML loses only
the text up to the next ``---`` line: loading resumes there, so a stream cut at its ``---`` lines (for
parallel work, ``policy_engine.model.segments``) loads into exactly what it loads whole.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

import yaml

from policy_engine.model import deepjson
from policy_engine.model.load_errors import LoadError, error, note, printable
from policy_engine.model.loader import (
    LIBYAML_MAX_DEPTH,
    DeepLoader,
    DuplicateKey,
    Loader,
    compose_deep,
    construct_document,
    find_duplicate_key,
)
from policy_engine.model.sources import MANIFEST_SUFFIXES, STDIN, STDIN_NAME, decode, discover, read_source

__all__ = [  # with the names of sources and load_errors that callers import from here
    "DOCUMENT_START", "HELM_HINT", "MANIFEST_SUFFIXES", "MAX_DEPTH", "MAX_EXPANDED_NODES", "STDIN", "STDIN_NAME",
    "TOO_DEEP", "Document", "FieldPath", "LoadError", "PathElement", "TooDeep", "compose_single", "decode",
    "discover", "load_objects", "load_paths", "load_text", "read_source",
]

HELM_HINT = "a Helm template? Render it first (helm template CHART | policy-engine check -)"
#: A document whose alias-expanded size exceeds this many nodes is refused (a "billion laughs" bomb).
MAX_EXPANDED_NODES = 1_000_000
#: YAML and JSON nested deeper than this are refused with the line and column where they pass it: the API
#: server's own limit, so ``check`` and the webhook accept the same objects. (libyaml's composer recurses
#: in C and crashes the process around 100,000 levels, so YAML is scanned for depth first; JSON past the
#: C parser's ~1,000 levels is parsed iteratively, ``deepjson``, as the webhook parses what it reviews.)
MAX_DEPTH = deepjson.API_SERVER_MAX_DEPTH
#: What E606 says, for manifests and every other YAML or JSON file held to ``MAX_DEPTH``.
TOO_DEEP = f"nested more than {MAX_DEPTH:,} levels deep (the API server's limit); not read"

#: A line that starts a YAML document: where a stream can be cut, and where loading resumes after an error.
DOCUMENT_START = re.compile(r"^---(?=[ \t\r\n]|$)", re.M)

#: An anchor (``&name``) and an alias (``*name``) at the start of a node: only a stream with both can be a bomb.
_ANCHOR = re.compile(r"(?:^|[\s\[{,])&[^\s&,\[\]{}]")
_ALIAS = re.compile(r"(?:^|[\s\[{,])\*[^\s,\[\]{}]")

PathElement = str | int
FieldPath = tuple[PathElement, ...]


@dataclass(slots=True, eq=False)
class Document:
    """One Kubernetes object and where it came from."""

    obj: dict[str, Any]
    file: str
    line: int
    index: int = 0  # position among the documents of the text it was loaded from
    node: yaml.Node | None = field(default=None, repr=False)
    line_offset: int = 0  # lines of the file before the text ``node`` was composed from (a cut stream)

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind") or "")

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion") or "")

    def line_of(self, path: FieldPath) -> int:
        """Line of the deepest element of ``path`` present in the source (the document line if none)."""
        node = self.node
        line = self.line
        if node is None:
            return line
        base = self.line_offset + 1
        for element in path:
            if isinstance(node, yaml.MappingNode) and isinstance(element, str):
                for key_node, value_node in node.value:
                    if key_node.value == element:
                        line = key_node.start_mark.line + base
                        node = value_node
                        break
                else:
                    return line
            elif isinstance(node, yaml.SequenceNode) and isinstance(element, int):
                if not 0 <= element < len(node.value):
                    return line
                node = node.value[element]
                line = node.start_mark.line + base
            else:
                return line
        return line


def load_paths(paths: Sequence[str], exclude: Sequence[str] = (), *, follow_symlinks: bool = False,
               max_bytes: int | None = None) -> Iterator[Document | LoadError]:
    """Every document of every manifest file under ``paths``, streamed file by file."""
    found = False
    problems: list[LoadError] = []
    for path in discover(paths, exclude, follow_symlinks=follow_symlinks, problems=problems):
        yield from problems
        problems.clear()
        found = True
        text, err = read_source(path, max_bytes)
        if err is not None:
            yield err
            continue
        assert text is not None
        yield from load_text(text, STDIN_NAME if path == STDIN else path)
    yield from problems
    if not found and paths:
        for raw in paths:
            if raw != STDIN and not os.path.exists(raw):
                yield error(raw, 1, "E401", "no such file or directory")


def load_text(text: str, file: str, first_line: int = 1, *,
              report_empty: bool = True) -> Iterator[Document | LoadError]:
    """Documents of one YAML (or JSON) stream that starts at line ``first_line`` of ``file``.

    Invalid YAML is an error at its line; loading resumes at the next ``---`` line after it, so an error
    loses only the document it is in (and any it runs into), never the rest of the stream. A stream with
    no document at all is reported (W601, unless ``report_empty`` is False: a piece cut from a larger
    stream), never counted as nothing; an error in a file that holds Helm's
    ``{{ }}`` carries the render-first hint.
    """
    templated: bool | None = None  # looked for at the first error (a search through the whole text)
    empty = True
    for item in _load_text(text, file, first_line):
        empty = False
        if isinstance(item, LoadError) and item.diagnostic.code in ("E601", "E603", "E604") \
                and item.diagnostic.hint is None:
            if templated is None:
                templated = "{{" in text
            if templated:
                item = LoadError(replace(item.diagnostic, hint=HELM_HINT))
        yield item
    if empty and report_empty and not any(
            line.strip() and not line.lstrip().startswith("#") and line.strip() not in ("---", "...")
            for line in text.splitlines()):
        yield note(file, "W601", "empty file: no document in it (nothing was checked)")


def _load_text(text: str, file: str, first_line: int = 1) -> Iterator[Document | LoadError]:
    if file.endswith(".json") and text.lstrip().startswith(("{", "[")):
        yield from _load_json(text, file)
        return
    offset = first_line - 1
    depth, too_deep = _depth(text)
    if depth > LIBYAML_MAX_DEPTH and text.lstrip().startswith(("{", "[")):
        # deeper than libyaml goes, and maybe JSON (`kubectl get -o json`): the iterative JSON parser is
        # linear where PyYAML's Python scanner is not (it rechecks every open flow level at each token)
        items = list(_load_json(text, file, offset))
        if not (len(items) == 1 and isinstance(items[0], LoadError) and items[0].diagnostic.code == "E602"):
            yield from items
            return
    if depth > LIBYAML_MAX_DEPTH and too_deep is None:
        too_deep = _scan_depth(DeepLoader(text))[1]  # PyYAML's Python parser has no depth limit
    if too_deep is not None:
        yield error(file, too_deep[0] + offset, "E606", TOO_DEEP, too_deep[1])
        return
    while text:
        resume = yield from _load_yaml(text, file, offset, deep=depth > LIBYAML_MAX_DEPTH)
        if resume is None:
            return
        offset += text.count("\n", 0, resume)
        text = text[resume:]


def _load_yaml(text: str, file: str, offset: int, deep: bool = False) -> Generator[Document | LoadError, None,
                                                                                  int | None]:
    """Documents until the end of ``text`` (None) or until invalid YAML (where to resume: a ``---`` line).

    ``deep``: the stream nests deeper than libyaml goes; PyYAML's Python parser reads it instead, composed
    and constructed without recursion (slower, and only for such streams)."""
    loader: yaml.SafeLoader = DeepLoader(text) if deep else Loader(text)
    index = 0
    line = 1 + offset
    anchored = "&" in text  # without an anchor there is no alias: the fast constructor builds the same objects
    aliased = anchored and bool(_ANCHOR.search(text)) and bool(_ALIAS.search(text))
    last_end = -1  # (0-based) line where the last document composed ended; -1: none yet
    try:
        for node in compose_deep(loader) if deep else _nodes(loader):
            line = node.start_mark.line + 1 + offset
            last_end = node.end_mark.line
            if aliased and _expanded_size(node, {}) > MAX_EXPANDED_NODES:
                yield error(file, line, "E605",
                             f"document expands to more than {MAX_EXPANDED_NODES:,} nodes through YAML aliases")
                index += 1
                continue
            try:
                try:
                    obj = None if anchored or deep else construct_document(node, loader)
                except RecursionError:  # deeper than the fast constructor goes (the depth scan allowed it)
                    obj = None
                if obj is None:  # PyYAML's own constructor: iterative, at any depth
                    duplicate = find_duplicate_key(node)
                    if duplicate is not None:
                        raise duplicate
                    obj = loader.construct_document(node)
            except DuplicateKey as dup:
                mark = dup.node.start_mark
                yield _duplicate_key(file, mark.line + 1 + offset, mark.column + 1, dup.key)
                index += 1
                continue
            kind = obj.get("kind") if type(obj) is dict else None
            if type(kind) is str and kind and not kind.endswith("List"):  # (most documents) one object
                yield Document(obj, file, line, index, node, offset)
            else:
                yield from _objects(obj, file, line, index, node, offset)
            index += 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line if mark else 0
        column = mark.column + 1 if mark else 1
        problem = exc.problem or exc.context or "invalid YAML"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        yield error(file, line + 1 + offset, "E601", f"invalid YAML: {problem}{context}", column)
        return _resume_at(text, last_end, line)
    except yaml.YAMLError as exc:
        yield error(file, 1 + offset, "E601", f"invalid YAML: {exc}")
    except RecursionError:  # nesting built through aliases, which the depth scan does not follow
        yield error(file, line, "E606", "nested too deeply (through aliases); not read")
    finally:
        loader.dispose()
    return None


def _nodes(loader: yaml.SafeLoader) -> Iterator[yaml.Node]:
    """The node of each non-empty document of ``loader``'s stream (libyaml composes them)."""
    while loader.check_node():
        node = loader.get_node()
        if node is not None:
            yield node


def _resume_at(text: str, last_end: int, error_line: int) -> int | None:
    """The offset of the ``---`` line where loading resumes after invalid YAML at ``error_line`` (0-based).

    The failing document starts at the first ``---`` from where the last document composed ended
    (``last_end``; -1: none was, it is the first). An error found on a later ``---`` line is the failing
    document running into the next one, which is intact: resume there; otherwise at the first ``---``
    after the error.
    """
    line = 0
    position = 0
    failing = 0 if last_end < 0 else None
    for match in DOCUMENT_START.finditer(text):
        line += text.count("\n", position, match.start())
        position = match.start()
        if failing is None and line >= last_end:
            failing = line
        if line > error_line or (line == error_line and line != failing):
            return position if position > 0 else None
    return None


def _depth(text: str) -> tuple[int, tuple[int, int] | None]:
    """How deep the YAML stream nests, up to ``MAX_DEPTH`` (0 when it cannot pass libyaml's limit), and the
    line and column where it nests past ``MAX_DEPTH`` (None when it does not).

    Block nesting needs a column per level and flow nesting a bracket per level, so a text whose longest
    line and bracket count together stay under libyaml's limit is not scanned (``_shallow``). The rest is
    scanned event by event by libyaml (its parser keeps an explicit stack; it does not recurse); past
    libyaml's own limit the depth is that limit + 1 and the caller scans with PyYAML's Python parser.
    """
    if _shallow(text):
        return 0, None
    return _scan_depth(Loader(text))


def _shallow(text: str) -> bool:
    """Whether ``text`` cannot nest past libyaml's limit: its longest line and the brackets of each of its
    documents together stay under it (a flow collection cannot cross a ``---`` line: libyaml stops there).

    Usually the brackets of the whole text are few: then it is enough to know that no line is longer than
    the rest of the limit, which a look at every ``step``-th block of characters tells without cutting the
    text into lines (a line longer than ``2 * step - 1`` holds a whole block with no line break); only when
    a block has none are the lines measured.
    """
    brackets = text.count("[") + text.count("{")
    limit = LIBYAML_MAX_DEPTH - brackets
    if limit >= _MIN_STEP:
        step = limit // 2 + 1
        find = text.find
        if all(find("\n", start, start + step) >= 0 for start in range(0, len(text) - step + 1, step)):
            return True  # (a text shorter than a block: no line in it is longer than the limit)
    longest = max(map(len, text.splitlines()), default=0)
    if brackets + longest <= LIBYAML_MAX_DEPTH:
        return True
    budget = LIBYAML_MAX_DEPTH - longest  # for each document's brackets
    if budget < 0:
        return False
    cuts = [0, *(m.start() for m in DOCUMENT_START.finditer(text)), len(text)]
    return all(text.count("[", a, b) + text.count("{", a, b) <= budget for a, b in pairwise(cuts))


#: ``_shallow`` looks at blocks of at least this many characters (below, it measures the lines).
_MIN_STEP = 64


def _scan_depth(loader: yaml.SafeLoader) -> tuple[int, tuple[int, int] | None]:
    """``_depth`` by one parser (libyaml gives up past its own limit: then it says just that)."""
    depth = deepest = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    return depth, (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
                deepest = max(deepest, depth)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # libyaml's own limit, below MAX_DEPTH
            return LIBYAML_MAX_DEPTH + 1, None
        return deepest, None  # the loader reports it, with its own location
    finally:
        loader.dispose()
    return deepest, None


class TooDeep(yaml.YAMLError):
    """A YAML text nested past ``MAX_DEPTH``, at the line and column where the level too many opens."""

    def __init__(self, line: int, column: int) -> None:
        super().__init__(TOO_DEEP)
        self.line = line
        self.column = column


def compose_single(text: str) -> yaml.Node | None:
    """The node tree of a one-document YAML text (a policy test file), under the rule manifests follow: up
    to ``MAX_DEPTH`` levels (past libyaml's own 1,000 by PyYAML's Python parser, without recursion), and
    ``TooDeep`` past them. Invalid YAML, or a second document, raises what ``yaml.compose`` raises."""
    depth, too_deep = _depth(text)
    if depth > LIBYAML_MAX_DEPTH and too_deep is None:
        too_deep = _scan_depth(DeepLoader(text))[1]
    if too_deep is not None:
        raise TooDeep(*too_deep)
    if depth <= LIBYAML_MAX_DEPTH:
        return yaml.compose(text, Loader=Loader)
    loader = DeepLoader(text)
    try:
        documents = compose_deep(loader)
        first, second = next(documents, None), next(documents, None)
    finally:
        loader.dispose()
    if first is not None and second is not None:
        raise yaml.composer.ComposerError("expected a single document in the stream", first.start_mark,
                                          "but found another document", second.start_mark)
    return first


def _load_json(text: str, file: str, offset: int = 0) -> Iterator[Document | LoadError]:
    try:
        obj = json.loads(text, object_pairs_hook=_unique_pairs)
    except _JsonDuplicate as dup:
        line, column = _json_key_position(text, dup.key)
        yield _duplicate_key(file, line + offset, column, dup.key)
        return
    except RecursionError:  # nested past the stdlib's recursion limit: read like the API server would
        try:
            obj = deepjson.loads(text, MAX_DEPTH)  # (duplicate keys are not looked for at such depths)
        except deepjson.TooDeep as exc:
            yield error(file, exc.lineno + offset, "E606", TOO_DEEP, exc.colno)
            return
        except json.JSONDecodeError as exc:
            yield error(file, exc.lineno + offset, "E602", f"invalid JSON: {exc.msg}", exc.colno)
            return
    except json.JSONDecodeError as exc:
        yield error(file, exc.lineno + offset, "E602", f"invalid JSON: {exc.msg}", exc.colno)
        return
    yield from _objects(obj, file, 1 + offset, 0, None)


class _JsonDuplicate(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _JsonDuplicate(key)
            seen.add(key)
    return out


def _json_key_position(text: str, key: str) -> tuple[int, int]:
    """Line and column of the second ``"key":`` in the text (where the duplicate most likely is)."""
    found = [m.start() for m in re.finditer(re.escape(json.dumps(key)) + r"\s*:", text)]
    at = found[1] if len(found) > 1 else found[0] if found else 0
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1


def _duplicate_key(file: str, line: int, column: int, key: str) -> LoadError:
    return error(file, line, "E607", f"key {printable(key, 60)!r} appears twice in one mapping; kubectl "
                  f"refuses such a file (a YAML or JSON parser would silently keep the last value)", column)


def _objects(obj: Any, file: str, line: int, index: int, node: yaml.Node | None,
             offset: int = 0) -> Iterator[Document | LoadError]:
    if obj is None:
        return
    if not isinstance(obj, dict):
        yield error(file, line, "E603",
                     f"this document is a {type(obj).__name__}, not a Kubernetes object (a mapping)")
        return
    kind = obj.get("kind")
    if not kind or not isinstance(kind, str):
        yield error(file, line, "E604", "this document has no 'kind' field; not a Kubernetes object")
        return
    if kind.endswith("List") and isinstance(obj.get("items"), list):
        items_node = _child(node, "items")
        for i, item in enumerate(obj["items"]):
            item_node = items_node.value[i] if isinstance(items_node, yaml.SequenceNode) else None
            item_line = item_node.start_mark.line + 1 + offset if item_node is not None else line
            yield from _objects(item, file, item_line, index, item_node, offset)
        return
    yield Document(obj, file, line, index, node, offset)


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if k.value == key and isinstance(v, yaml.Node):
                return v
    return None


def _expanded_size(root: yaml.Node, memo: dict[int, int]) -> int:
    """Node count with aliases expanded, in time linear in the distinct nodes (memoised on identity), and
    without recursion: a document may nest as deep as ``MAX_DEPTH``."""
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            memo[id(node)] = 1 + sum(memo[id(child)] for child in _children(node))
            continue
        if id(node) in memo:
            continue
        memo[id(node)] = 1  # guards against recursive anchors
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in memo)
    return memo[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def load_objects(objects: Iterable[dict[str, Any]], file: str = "<memory>") -> Iterator[Document | LoadError]:
    """Documents from already-parsed objects (an AdmissionReview's object, the cluster API)."""
    for i, obj in enumerate(objects):
        yield from _objects(obj, file, 1, i, None)
