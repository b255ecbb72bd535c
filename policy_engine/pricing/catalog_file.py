"""Reading a catalog file: YAML → data, every schema error located at the line of the field it names.

pydantic reports an error at a ``loc`` (a path of keys); the composed YAML node of the same file maps that
path back to a line and column, the way ``policy_engine.model.documents`` locates manifest fields. All
errors of a file are collected before anything is raised, so a user fixes their catalog in one pass.

Decisions (documented in docs/cost-model.md):
- a negative price, a non-positive vCPU/memory/hours figure, an idle fraction outside 0..1: errors;
- an unknown key anywhere: an error, with the closest known key as a hint;
- a spot price above the on-demand price: a warning (priced as written: AWS caps spot at on-demand, but a
  user may record a real spike elsewhere); a ``gpu_model`` the catalog has no ``gpu_models`` entry for: a
  warning (the instance still prices; only the per-model fallback is missing).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.pricing.catalog_schema import ENTRY_SCHEMAS, SECTION_SCHEMAS, CatalogPatch, CatalogSchema

Path_ = tuple[str | int, ...]
#: ``locate(path)`` → (line, column, whether the whole path exists in the file).
Locator = Callable[[Path_], tuple[int, int, bool]]


def parse_catalog_file(
    text: str, file: str, *, partial: bool
) -> tuple[dict[str, Any], list[Diagnostic], Locator]:
    """The file's data (validated, ``None`` fields dropped), its errors, and a locator for later warnings."""
    loader = yaml.CSafeLoader(text) if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = Span(file, mark.line + 1 if mark else 1, mark.column + 1 if mark else 1)
        problem = f"invalid YAML: {exc.problem or exc.context}"
        return {}, [Diagnostic(span, "E801", problem)], _nowhere
    finally:
        loader.dispose()
    locate = _locator(node)
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        shape = Diagnostic(Span(file, 1), "E802", f"a pricing catalog is a mapping, not {found}",
                           hint="start from the bundled catalog.yaml; see docs/cost-model.md")
        return {}, [shape], locate
    errors = list(_duplicate_keys(node, file)) if node is not None else []
    model: type[BaseModel] = CatalogPatch if partial else CatalogSchema
    try:
        validated = model.model_validate(data)
    except ValidationError as exc:
        errors.extend(_located(e, file, locate) for e in exc.errors())
        return {}, errors, locate
    if errors:
        return {}, errors, locate
    return validated.model_dump(exclude_none=True, exclude_unset=partial), [], locate


def _located(error: Any, file: str, locate: Locator) -> Diagnostic:
    loc = tuple(error["loc"])
    line, column, _ = locate(loc)
    field = _dotted(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        return Diagnostic(Span(file, line, column), "E803", f"unknown key {field}",
                          hint=did_you_mean(str(loc[-1]), _allowed(loc[:-1])))
    if kind == "missing":
        return Diagnostic(Span(file, line, column), "E804", f"{field} is required",
                          hint="an entry replaces the bundled one of the same name whole: give every field")
    return Diagnostic(Span(file, line, column), "E805", f"{field}: {error['msg']}",
                      hint=None if not isinstance(error.get("input"), str | int | float)
                      else f"got {error['input']!r}")


def _allowed(parent: Path_) -> list[str]:
    if not parent:
        return list(CatalogSchema.model_fields)
    if len(parent) == 1 and parent[0] in SECTION_SCHEMAS:
        return list(SECTION_SCHEMAS[str(parent[0])].model_fields)
    if len(parent) == 2 and parent[0] in ENTRY_SCHEMAS:
        return list(ENTRY_SCHEMAS[str(parent[0])].model_fields)
    return []


def did_you_mean(word: str, known: Any) -> str | None:
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _dotted(loc: Path_) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i > 0 and loc[0] in ENTRY_SCHEMAS and i == 1:
            out += f'["{part}"]'
        else:
            out += ("." if out else "") + str(part)
    return out


def _locator(root: yaml.Node | None) -> Locator:
    def locate(path: Path_) -> tuple[int, int, bool]:
        node = root
        if node is None:
            return 1, 1, False
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        for element in path:
            if not isinstance(node, yaml.MappingNode):
                return line, column, False
            for key_node, value_node in node.value:
                if key_node.value == str(element):
                    line, column = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                    node = value_node
                    break
            else:
                return line, column, False
        return line, column, True

    return locate


def _nowhere(path: Path_) -> tuple[int, int, bool]:
    return 1, 1, False


def _duplicate_keys(node: yaml.Node, file: str) -> Iterator[Diagnostic]:
    """YAML keeps the last of two equal keys silently; a price written twice is an error here."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                span = Span(file, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                yield Diagnostic(span, "E806",
                                 f"key '{key}' is written twice (first at line {seen[key]})")
            else:
                seen[key] = key_node.start_mark.line + 1
            yield from _duplicate_keys(value_node, file)
    elif isinstance(node, yaml.SequenceNode):
        for child in node.value:
            yield from _duplicate_keys(child, file)
