"""One error tree: every exception the package raises on purpose derives from ``PolicyEngineError`` and is
drawn, under its parent, in ``policy_engine/errors.py``'s docstring (as httpx draws its own)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import policy_engine.errors
from policy_engine.errors import PolicyEngineError

PACKAGE = Path(policy_engine.errors.__file__).resolve().parent


def _exception_classes() -> dict[str, tuple[str, list[str]]]:
    """Every class of the package whose bases name an exception: name -> (module file, base names)."""
    found: dict[str, tuple[str, list[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [b.id if isinstance(b, ast.Name) else b.attr for b in node.bases
                         if isinstance(b, ast.Name | ast.Attribute)]
                found[node.name] = (str(path.relative_to(PACKAGE)), bases)
    return found


def _tree() -> dict[str, str]:
    """The docstring's drawing: class -> its parent, read from the indentation of the box drawing."""
    doc = policy_engine.errors.__doc__ or ""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        m = re.match(r"^(\s*[│ ]*(?:[├└]── )?)([A-Z]\w+)\s{2,}", line)
        if m is None:
            continue
        depth, name = len(m.group(1)), m.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((depth, name))
    return parents


def test_every_deliberate_exception_is_in_the_tree_under_its_parent() -> None:
    classes = _exception_classes()
    in_tree = {PolicyEngineError.__name__}
    grew = True
    while grew:  # the subclasses of the tree, however deep
        new = {name for name, (_, bases) in classes.items() if name not in in_tree and set(bases) & in_tree}
        in_tree |= new
        grew = bool(new)
    drawn = _tree()
    assert len(in_tree) > 10 and PolicyEngineError.__name__ not in drawn  # the root has no parent
    missing = sorted(f"{classes[n][0]}: {n}" for n in in_tree - set(drawn) - {PolicyEngineError.__name__})
    assert not missing, f"draw these in policy_engine/errors.py's docstring: {missing}"
    wrong = sorted(f"{n}: drawn under {drawn[n]}, derives from {classes[n][1]}" for n in in_tree & set(drawn)
                   if drawn[n] not in classes[n][1])
    assert not wrong, wrong


def test_what_a_front_end_catches_of_the_package_is_in_the_tree() -> None:
    """Every package exception a command (``cli/``) catches derives from the root."""
    classes = _exception_classes()
    caught: set[str] = set()
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                types = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
                caught |= {t.id if isinstance(t, ast.Name) else t.attr for t in types
                           if isinstance(t, ast.Name | ast.Attribute)}
    ours = caught & set(classes)
    assert {"GitError", "DiagnosticError", "UnknownPolicy", "NotStoppable"} <= ours
    outside = sorted(f"{classes[n][0]}: {n}" for n in ours if not _derives(n, classes))
    assert not outside, f"derive these from PolicyEngineError (policy_engine/errors.py): {outside}"


def _derives(name: str, classes: dict[str, tuple[str, list[str]]]) -> bool:
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current == PolicyEngineError.__name__:
            return True
        if current in seen or current not in classes:
            continue
        seen.add(current)
        todo.extend(classes[current][1])
    return False
