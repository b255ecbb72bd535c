"""The typed syntax tree of a policy file: what the parser produces and every later pass reads.

Nodes are frozen dataclasses (equality, hash and repr by fields from ``records``), each with the ``Span``
of the source it came from, so the checker, the compiler and the authoring tools (fmt, explain, validate)
locate everything without the parse tree.
Literals keep their raw text and the module root keeps every comment, because ``fmt`` must reproduce both.
"""

from __future__ import annotations

from dataclasses import dataclass

from policy_engine.diagnostics import Span
from policy_engine.records import FrozenRecord

# ---- leaves -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Comment(FrozenRecord):
    """A comment, kept for ``fmt``."""

    text: str  # including the leading '#'
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Ident(FrozenRecord):
    """A name as written where the grammar wants one (a setting's key, a function, a bound variable)."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Str(FrozenRecord):
    """A string literal: ``value`` with escapes resolved, ``raw`` exactly as written (with quotes)."""

    value: str
    raw: str
    span: Span

    @property
    def name(self) -> str:
        """The value, so a quoted kind (``kinds ["Widget"]``) reads like a named one."""
        return self.value


# ---- expressions --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Literal(FrozenRecord):
    """A constant. ``type`` is one of number, string, duration, percent, money, bool, null.

    ``value`` is normalised (durations in seconds, percentages as fractions, money as a float); ``unit``
    is the suffix of a duration as written, so the checker can reject unknown units with a located error.
    """

    type: str
    value: object
    raw: str
    span: Span
    unit: str = ""


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Name(FrozenRecord):
    """A variable in an expression: an attribute of the workload, a parameter or a quantifier's name."""

    id: str
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Field(FrozenRecord):
    """``target.name``."""

    target: Expr
    name: Ident
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Index(FrozenRecord):
    """``target[index]``."""

    target: Expr
    index: Expr
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Call(FrozenRecord):
    """``func(args)``: a built-in function, ``cel(...)`` included."""

    func: Ident
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Neg(FrozenRecord):
    """``-operand``."""

    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Not(FrozenRecord):
    """``not operand``."""

    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class BinOp(FrozenRecord):
    """Arithmetic: ``+ - * /``."""

    op: str
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Compare(FrozenRecord):
    """``== != < <= > >=``, ``in``, ``not in`` and regex match (``op`` is ``=~``; ``op_text`` as written)."""

    op: str
    left: Expr
    right: Expr
    span: Span
    op_text: str = ""


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class BoolOp(FrozenRecord):
    """``a and b and ...`` or ``a or b or ...``, flattened."""

    op: str  # "and" | "or"
    operands: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class ListExpr(FrozenRecord):
    """``[a, b, ...]``."""

    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class MapExpr(FrozenRecord):
    """``{"a": 1, "b": 2}``: keys and values in source order."""

    entries: tuple[tuple[Expr, Expr], ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Quantifier(FrozenRecord):
    """``all c in containers: body`` (``op`` is all, any, none or count); over a map one name binds its keys,
    two names (``k, v``) its entries."""

    op: str
    names: tuple[Ident, ...]
    collection: Expr
    body: Expr
    span: Span


Expr = Literal | Name | Field | Index | Call | Neg | Not | BinOp | Compare | BoolOp | ListExpr | MapExpr | Quantifier

# ---- policy contents ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Setting(FrozenRecord):
    """``description``, ``severity``, ``enforcement``, ``on_error``, ``exemptions`` or ``help``."""

    key: Ident
    value: Ident | Str
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class KindsSelector(FrozenRecord):
    """``kinds ...``: the kinds a policy applies to."""

    kinds: tuple[Ident | Str, ...]  # a Str names a kind the engine does not know (a CRD), taken as written
    bracketed: bool  # written as a list (``kinds [Job]``) rather than one name (``kinds workloads``)
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class NamespacesSelector(FrozenRecord):
    """``namespaces [...]``: namespace patterns."""

    patterns: tuple[Str, ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class LabelRequirement(FrozenRecord):
    """One label selector term: ``op`` is =, !=, in, notin, exists or absent."""

    key: Str
    op: str
    values: tuple[Str, ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class LabelsSelector(FrozenRecord):
    """``labels {...}``: label selector terms, all of which must hold."""

    requirements: tuple[LabelRequirement, ...]
    span: Span


Selector = KindsSelector | NamespacesSelector | LabelsSelector


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class MatchBlock(FrozenRecord):
    """``match { selectors }`` or ``exclude { selectors }``."""

    exclude: bool  # an ``exclude { }`` block rather than ``match { }``
    selectors: tuple[Selector, ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class When(FrozenRecord):
    """``when <condition>``: the policy applies only to workloads for which it holds."""

    condition: Expr
    span: Span


# ---- rule bodies ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RequireKeys(FrozenRecord):
    """``require labels [...]`` / ``require annotations [...]``: every key present."""

    target: str  # "labels" | "annotations"
    keys: tuple[Str, ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RequireKey(FrozenRecord):
    """``require label "k" [in [...] | matches "..."]`` (or annotation): one key, maybe constrained."""

    target: str  # "label" | "annotation"
    key: Str
    allowed: tuple[Str, ...] | None  # ``in [..]``
    pattern: Str | None  # ``matches "..."``
    span: Span
    match_text: str = "matches"


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class PatternList(FrozenRecord):
    """``allow``/``deny`` ``instance_types``/``gpu_models`` ``[patterns]``."""

    mode: str  # "allow" | "deny"
    target: str  # "instance_types" | "gpu_models"
    patterns: tuple[Str, ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RequirePinned(FrozenRecord):
    """``require pinned``: every role with GPUs pins an instance type or a GPU model."""

    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RequireSpot(FrozenRecord):
    """``require spot``: every role that decides the cost requests spot capacity."""

    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RequireIdle(FrozenRecord):
    """``require idle_timeout [<= maximum]``."""

    maximum: Expr | None
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class RequireDeadline(FrozenRecord):
    """``require deadline [<= maximum]``."""

    maximum: Expr | None
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Assert(FrozenRecord):
    """``assert`` (violation when false) or ``forbid`` (violation when true)."""

    negate: bool  # True for ``forbid``
    condition: Expr
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class LiveIdle(FrozenRecord):
    """``idle <metric> < <threshold> for <duration> [then ...]``: a live rule on telemetry."""

    metric: Ident
    threshold: Expr
    duration: Expr
    span: Span
    action: IdleAction | None = None


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class IdleAction(FrozenRecord):
    """``then notify`` / ``then stop after 30m, delete_pods, act``: what the controller does when idle."""

    verb: Ident
    notice: Expr | None
    options: tuple[Ident, ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Override(FrozenRecord):
    """``"key" = limit`` in an aggregate's ``overrides { }``."""

    key: Str
    limit: Expr
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Aggregate(FrozenRecord):
    """``quota <metric> <limit> per <period> by <key>`` or ``budget <money> … alert at <percentages>``."""

    kind: str  # "quota" | "budget"
    metric: Ident | None  # quota only
    limit: Expr | None
    period: Ident | None
    key: Expr | None
    alerts: tuple[Expr, ...]
    overrides: tuple[Override, ...]
    span: Span
    has_overrides_block: bool = False
    forecast: bool = False  # ``alert forecast``: warn when the period's projection crosses the limit
    anomaly: Expr | None = None  # ``alert anomaly <factor>``: a day over the trailing average × factor
    anomaly_window: Expr | None = None  # ``... over <duration>``: the trailing window (default 7d)


RuleBody = (
    RequireKeys | RequireKey | PatternList | RequirePinned | RequireSpot | RequireIdle | RequireDeadline
    | Assert | LiveIdle | Aggregate
)


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Rule(FrozenRecord):
    """One rule of a policy: its body, its ``if`` guard and its ``message``."""

    body: RuleBody
    guard: Expr | None  # ``if <expr>``
    message: Str | None  # ``message "..."``
    span: Span


PolicyItem = Setting | MatchBlock | When | Rule


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Policy(FrozenRecord):
    """``policy "name" { ... }``."""

    name: Str
    items: tuple[PolicyItem, ...]  # in source order, for fmt
    span: Span

    @property
    def settings(self) -> tuple[Setting, ...]:
        return tuple(i for i in self.items if isinstance(i, Setting))

    @property
    def blocks(self) -> tuple[MatchBlock, ...]:
        return tuple(i for i in self.items if isinstance(i, MatchBlock))

    @property
    def whens(self) -> tuple[When, ...]:
        return tuple(i for i in self.items if isinstance(i, When))

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(i for i in self.items if isinstance(i, Rule))


# ---- files ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Assign(FrozenRecord):
    """``name = value`` in an import's ``with { }``."""

    name: Ident
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Import(FrozenRecord):
    """``import "path" [as alias] [with { overrides }]``."""

    path: Str
    alias: Ident | None
    overrides: tuple[Assign, ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Param(FrozenRecord):
    """``param name = value``: a module-level parameter."""

    name: Ident
    value: Expr
    span: Span


Item = Import | Param | Policy


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Module(FrozenRecord):
    """One parsed ``.policy`` file."""

    file: str
    items: tuple[Item, ...]
    comments: tuple[Comment, ...]
    span: Span

    @property
    def imports(self) -> tuple[Import, ...]:
        return tuple(i for i in self.items if isinstance(i, Import))

    @property
    def params(self) -> tuple[Param, ...]:
        return tuple(i for i in self.items if isinstance(i, Param))

    @property
    def policies(self) -> tuple[Policy, ...]:
        return tuple(i for i in self.items if isinstance(i, Policy))
