"""What the front end (resolve → check → fold) hands to codegen: plain, picklable data.

These types live apart from the passes that build them so that codegen, and the compile cache that
stores a front end's output between runs (``compiler.frontend``), import neither the parser (lark) nor
the checkers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import field

from policy_engine.compiler.program import Enforcement, FailureMode, Severity
from policy_engine.diagnostics import Diagnostic, Span
from policy_engine.model.kinds_training import REPLICA_SPECS
from policy_engine.records import frozen_record, record
from policy_engine.syntax import ast

WORKLOADS = "workloads"  # the kinds group meaning every kind the workload model knows
#: Named groups of kinds a policy can write instead of the list: ``kinds training``, ``kinds [training, Job]``.
KIND_GROUPS: dict[str, frozenset[str]] = {
    "training": frozenset({*REPLICA_SPECS, "TrainJob", "HyperPodPyTorchJob", "JobSet", "RayJob", "Experiment",
                           "Trial"}),
}


def expand_kinds(names: Iterable[str]) -> frozenset[str]:
    """Kind names with each group (``training``) replaced by its kinds."""
    return frozenset(kind for name in names for kind in KIND_GROUPS.get(name, (name,)))


@frozen_record
class Constant:
    """A parameter's value after folding, with its type and where it was set."""

    type: str
    value: object
    raw: str
    span: Span


@frozen_record
class Instance:
    """One policy to compile: its AST, the parameters in force and the name it is compiled under."""

    policy: ast.Policy
    module: ast.Module
    name: str
    params: Mapping[str, Constant]
    imported_at: Span | None = None


@record
class CheckedPolicy:
    """One policy instance after type checking, with its settings read."""

    instance: Instance
    severity: Severity = Severity.MEDIUM
    enforcement: Enforcement = Enforcement.DENY
    failure_mode: FailureMode = FailureMode.OPEN
    allow_exemption: bool = False
    description: str = ""
    help: str = ""
    types: dict[int, str] = field(default_factory=dict)
    ok: bool = True  # no error was found in this policy (it can be folded even if another one failed)


@record
class FrontEnd:
    """Every file read (imports included), parsed and checked; ``folded[i]`` is ``checked[i]`` folded."""

    sources: dict[str, str]
    modules: dict[str, ast.Module]
    checked: list[CheckedPolicy]
    folded: list[ast.Policy]
    diagnostics: list[Diagnostic]

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)
