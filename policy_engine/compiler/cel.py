"""``cel("...")``: Kubernetes CEL through cel-python, compiled once per policy, errors located in the file.

The expression sees ``object`` (the raw manifest), as in a ValidatingAdmissionPolicy. Converting a whole
manifest to CEL values costs about 200 µs, so only the top-level fields the expression names
(``object.spec`` → ``spec``) are converted. cel-python's CompiledRunner mishandles ``&&`` when its
right side errors, so the interpreted runner is used. An evaluation error (reading a missing field
without ``has()``) makes the call null, like any other missing value.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel

from policy_engine.model.workload import Workload

logging.getLogger("celpy").setLevel(logging.CRITICAL)  # it logs every CELEvalError at ERROR level

_TOP_FIELD = re.compile(r"\bobject\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
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
    return celpy.Environment(runner_class=celpy.InterpretedRunner)


def _fields_read(text: str) -> tuple[str, ...] | None:
    """Top-level fields of ``object`` the expression reads; None when it uses ``object`` as a whole."""
    fields = _TOP_FIELD.findall(text)
    if len(fields) != len(_OBJECT.findall(text)):
        return None
    return tuple(dict.fromkeys(fields))


def _to_python(value: Any) -> Any:
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
    env = _environment()
    try:
        tree = env.compile(text)
        program = env.program(tree)
    except celpy.CELParseError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "invalid CEL"
        return CelError(int(getattr(exc, "line", 1) or 1), int(getattr(exc, "column", 1) or 1),
                        f"invalid CEL expression near {first.strip()!r}")
    except Exception as exc:  # cel-python raises several types for semantic errors
        return CelError(1, 1, f"invalid CEL expression: {exc}")
    fields = _fields_read(text)

    def evaluate(w: Workload) -> Any:
        obj = w.doc.obj
        subset = obj if fields is None else {k: obj[k] for k in fields if k in obj}
        try:
            result = program.evaluate({"object": json_to_cel(subset)})
        except celpy.CELEvalError:
            return None
        if isinstance(result, celpy.CELEvalError):
            return None
        return _to_python(result)

    return evaluate
