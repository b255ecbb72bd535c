"""fmt lays out the language's newer constructs: quantifiers (broken before and/or when long), map
literals, quoted CRD kinds; formatting is idempotent and keeps the meaning (the AST is unchanged)."""

from __future__ import annotations

from policy_engine.authoring.fmt import format_text
from policy_engine.syntax.ast import Assert, Policy
from policy_engine.syntax.parser import parse

SOURCE = '''param caps={"a":1,"b":2}
policy "p" {
  match { kinds [HorizontalPodAutoscaler,"Widget"] }
  assert all c in containers:c.limits.memory!=null and c.requests.cpu!=null and c.requests.memory!=null LIMIT
  assert (count k,v in labels: v=="x")<=1 and gpus<=caps["a"]
  forbid not any c in containers: c.tag=="latest"
}
'''

EXPECTED = '''param caps = {"a": 1, "b": 2}

policy "p" {
  match {
    kinds [HorizontalPodAutoscaler, "Widget"]
  }
  assert all c in containers: c.limits.memory != null and c.requests.cpu != null
    and c.requests.memory != null and c.limits.cpu <= 2
  assert (count k, v in labels: v == "x") <= 1 and gpus <= caps["a"]
  forbid not (any c in containers: c.tag == "latest")
}
'''


SOURCE = SOURCE.replace("LIMIT", "and c.limits.cpu<=2")


def _shape(text: str) -> str:
    module = parse(text).module
    assert module is not None
    return repr([(type(i).__name__, [r.body.__class__.__name__ for r in i.rules] if isinstance(i, Policy) else None)
                  for i in module.items])


def test_new_constructs_are_laid_out_canonically() -> None:
    formatted = format_text(SOURCE, "p.policy")
    assert formatted == EXPECTED
    assert format_text(formatted, "p.policy") == formatted


def test_formatting_keeps_the_meaning() -> None:
    from policy_engine.syntax.unparse import unparse

    before = parse(SOURCE).module
    after = parse(format_text(SOURCE, "p.policy")).module
    assert before is not None and after is not None
    conditions = []
    for policy in (before.policies[0], after.policies[0]):
        bodies = [r.body for r in policy.rules]
        assert all(isinstance(b, Assert) for b in bodies), bodies
        conditions.append([unparse(b.condition) for b in bodies if isinstance(b, Assert)])
    assert conditions[0] == conditions[1]
