"""``cel("...")``: Kubernetes CEL through cel-python, compiled once per policy, errors located in the file.

The expression sees ``object`` (the raw manifest), as in a ValidatingAdmissionPolicy. Converting a whole
manifest to CEL values costs about 200 µs, so only the parts of the manifest the expression names
(``object.spec.template.spec.containers.all(…)`` → that list) are converted. cel-python's
CompiledRunner mishandles ``&&`` when its right side errors, so the interpreted runner is used. An
evaluation error (reading a missing field without ``has()``) makes the call null, like any missing value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from policy_engine.model.workload import Workload

if TYPE_CHECKING:
    import celpy

# cel-python is imported on first use: most policy sets use no CEL, and it costs ~80 ms of start-up.

_CHAIN = re.compile(r"\bobject((?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)+)(\s*\()?")
_OBJECT = re.compile(r"\bobject\b")


@dataclass(frozen=True, slots=True)
class CelError:
    """Where in the expression text (1-based line and column) the CEL parser stopped, and why."""

    line: int
    column: int
    message: str


@lru_cache(maxsize=1)
def _environment() -> celpy.Environment:
    """One environment for the process (creating one also raises the recursion limit, each time)."""
    import logging

    import celpy

    logging.getLogger("celpy").setLevel(logging.CRITICAL)  # it logs every CELEvalError at ERROR level
    return celpy.Environment(runner_class=celpy.InterpretedRunner)


def _paths_read(text: str) -> tuple[tuple[str, ...], ...] | None:
    """The field paths of ``object`` the expression reads (``object.spec.template.spec.containers.all(…)``
    reads ``spec.template.spec.containers``); None when it uses ``object`` otherwise (whole, indexed)."""
    paths: list[tuple[str, ...]] = []
    chains = list(_CHAIN.finditer(text))
    if len(chains) != len(_OBJECT.findall(text)):
        return None
    for chain in chains:
        path = tuple(part.strip() for part in chain.group(1).split(".")[1:])
        if chain.group(2):  # the last name is a method or macro: .all(...), .size()
            path = path[:-1]
        if not path:
            return None
        paths.append(path)
    minimal: list[tuple[str, ...]] = []
    for path in sorted(set(paths), key=len):
        if not any(path[: len(p)] == p for p in minimal):
            minimal.append(path)
    return tuple(minimal)


def _pruned(obj: dict[str, Any], paths: tuple[tuple[str, ...], ...]) -> dict[str, Any]:
    """Only the parts of the manifest at ``paths`` (absent ones stay absent, so ``has()`` still works)."""
    out: dict[str, Any] = {}
    for path in paths:
        node: Any = obj
        for key in path:
            if not isinstance(node, dict) or key not in node:
                break
            node = node[key]
        else:
            cursor = out
            for key in path[:-1]:
                cursor = cursor.setdefault(key, {})
            cursor[path[-1]] = node
    return out


def _to_python(value: Any) -> Any:
    from celpy import celtypes

    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    return value


def compile_cel(text: str) -> Callable[[Workload], Any] | CelError:
    """A closure evaluating ``text`` against a workload's manifest, or where the text is wrong."""
    from celpy.adapter import json_to_cel
    from celpy.celparser import CELParseError
    from celpy.evaluation import CELEvalError

    env = _environment()
    try:
        tree = env.compile(text)
        program = env.program(tree)
    except CELParseError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid CEL"
        return CelError(int(getattr(exc, "line", 1) or 1), int(getattr(exc, "column", 1) or 1),
                        f"invalid CEL expression near {first.strip()!r}")
    except Exception as exc:  # cel-python raises several types for semantic errors
        return CelError(1, 1, f"invalid CEL expression: {exc}")
    paths = _paths_read(text)

    def evaluate(w: Workload) -> Any:
        obj = w.doc.obj
        subset = obj if paths is None else _pruned(obj, paths)
        try:
            result = program.evaluate({"object": json_to_cel(subset)})
        except CELEvalError:
            return None
        if isinstance(result, CELEvalError):
            return None
        return _to_python(result)

    return evaluate
