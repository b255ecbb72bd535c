"""``cel("...")``: Kubernetes CEL compiled once per policy, errors located in the file.

The expression sees ``object`` (the raw manifest), ``oldObject`` and ``request`` (at admission; null
otherwise) and ``params`` (the policy's parameters), as in a ValidatingAdmissionPolicy. It is parsed with
cel-python's parser and compiled to closures by ``compiler.cel_compile`` (microseconds per evaluation);
a call to a function no Kubernetes CEL library declares, or an undeclared identifier, is E206 at compile
time. The few constructs that compiler leaves out (message literals, bytes) run on cel-python's
interpreter instead (``compile_cel_reference``, also the reference the differential test checks the
compiled path against): converting a whole manifest to CEL values costs about 200 µs, so only the
parts of the manifest the expression names are converted; cel-python's CompiledRunner mishandles
``&&`` when its right side errors, so the interpreted runner is used. An evaluation error (reading a
missing field without ``has()``) makes the call null, like any missing value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from policy_engine.compiler.cel_compile import CelCompileError, CelCompiler, CelFailure, Unsupported, function_names
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


def _parse(text: str) -> Any:
    """cel-python's parse tree of ``text``, or a ``CelError`` saying where it stops."""
    from celpy.celparser import CELParseError

    try:
        return _environment().compile(text)
    except CELParseError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid CEL"
        return CelError(int(getattr(exc, "line", 1) or 1), int(getattr(exc, "column", 1) or 1),
                        f"invalid CEL expression near {first.strip()!r}")
    except RecursionError:  # cel-python's parser recurses per level too
        return CelError(1, 1, "CEL expression nested too deeply to compile; split it into several conditions")
    except Exception as exc:  # cel-python raises several types for semantic errors
        return CelError(1, 1, f"invalid CEL expression: {exc}")


def compile_cel(text: str, params: Mapping[str, Any] | None = None) -> Callable[[Workload], Any] | CelError:
    """A closure evaluating ``text`` for a workload (its manifest, its admission request, ``params``), or
    where the text is wrong: a syntax error, an undeclared function or identifier (E206)."""
    tree = _parse(text)
    if isinstance(tree, CelError):
        return tree
    try:
        fn = CelCompiler().compile(tree)
    except RecursionError:  # the compiler recurses per level of cel-python's tree (about 10 per bracket)
        return CelError(1, 1, "CEL expression nested too deeply to compile; split it into several conditions")
    except CelCompileError as exc:
        return CelError(exc.line, exc.column, f"invalid CEL expression: {exc.message}")
    except Unsupported:
        unknown = function_names(tree)
        if unknown:
            name, line, column = unknown[0]
            return CelError(line, column, f"invalid CEL expression: undeclared function {name!r}")
        return compile_cel_reference(text)
    bound = dict(params or {})

    def evaluate(w: Workload) -> Any:
        review = w.admission
        activation = {"object": w.doc.obj, "params": bound, "oldObject": None, "request": None,
                      "namespaceObject": None, "variables": {}}
        if review is not None:
            activation["oldObject"] = review.old_object
            activation["request"] = {"operation": review.operation,
                                     "userInfo": {"username": review.user, "groups": list(review.groups)}}
        try:
            return _plain(fn(activation))
        except CelFailure:
            return None
        except (TypeError, ValueError, ArithmeticError, RecursionError):  # a value CEL has no overload for
            return None

    return evaluate


def _plain(value: Any) -> Any:
    """A CEL value as the policy language holds it: durations in seconds, urls as text."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if hasattr(value, "geturl"):
        return value.geturl()
    return value


def compile_cel_reference(text: str) -> Callable[[Workload], Any] | CelError:
    """The same expression on cel-python's interpreter: the fallback, and the differential test's reference."""
    from celpy.adapter import json_to_cel
    from celpy.celparser import CELParseError
    from celpy.evaluation import CELEvalError

    env = _environment()
    try:
        program = env.program(env.compile(text))
    except CELParseError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid CEL"
        return CelError(int(getattr(exc, "line", 1) or 1), int(getattr(exc, "column", 1) or 1),
                        f"invalid CEL expression near {first.strip()!r}")
    except RecursionError:  # cel-python's parser recurses per level too
        return CelError(1, 1, "CEL expression nested too deeply to compile; split it into several conditions")
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
