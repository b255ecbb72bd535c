"""The typed syntax tree of a policy file: what the parser produces and every later pass reads.

Nodes are values (``records.frozen_record``: dataclasses, equal and hashed by their fields, read-only to
the type checker), each with the ``Span`` of the source it came from, so the checker, the compiler and the
authoring tools (fmt, explain, validate) locate everything without the parse tree.
Literals keep their raw text and the module root keeps every comment, because ``fmt`` must reproduce both.
"""

from __future__ import annotations

from policy_engine.diagnostics import Span
from policy_engine.records import frozen_record

# ---- leaves -------------------------------------------------------------------------------------------


@frozen_record
class Comment:
    """A comment, kept for ``fmt``."""

    text: str  # including the leading '#'
    span: Span


@frozen_record
class Ident:
    """A name as written where the grammar wants one (a setting's key, a function, a bound variable)."""

    name: str
    span: Span


@frozen_record
class Str:
    """A string literal: ``value`` with escapes resolved, ``raw`` exactly as written (with quotes)."""

    value: str
    raw: str
    span: Span

    @property
    def name(self) -> str:
        """The value, so a quoted kind (``kinds ["Widget"]``) reads like a named one."""
        return self.value


# ---- expressions --------------------------------------------------------------------------------------


@frozen_record
class Literal:
    """A constant. ``type`` is one of number, string, duration, percent, money, bool, null.

    ``value`` is normalised (durations in seconds, percentages as fractions, money as a float); ``unit``
    is the suffix of a duration as written, so the checker can reject unknown units with a located error.
    """

    type: str
    value: object
    raw: str
    span: Span
    unit: str = ""


@frozen_record
class Name:
    """A variable in an expression: an attribute of the workload, a parameter or a quantifier's name."""

    id: str
    span: Span


@frozen_record
class Field:
    """``target.name``."""

    target: Expr
    name: Ident
    span: Span


@frozen_record
class Index:
    """``target[index]``."""

    target: Expr
    index: Expr
    span: Span


@frozen_record
class Call:
    """``func(args)``: a built-in function, ``cel(...)`` included."""

    func: Ident
    args: tuple[Expr, ...]
    span: Span


@frozen_record
class Neg:
    """``-operand``."""

    operand: Expr
    span: Span


@frozen_record
class Not:
    """``not operand``."""

    operand: Expr
    span: Span


@frozen_record
class BinOp:
    """Arithmetic: ``+ - * /``."""

    op: str
    left: Expr
    right: Expr
    span: Span


@frozen_record
class Compare:
    """``== != < <= > >=``, ``in``, ``not in`` and regex match (``op`` is ``=~``; ``op_text`` as written)."""

    op: str
    left: Expr
    right: Expr
    span: Span
    op_text: str = ""


@frozen_record
class BoolOp:
    """``a and b and ...`` or ``a or b or ...``, flattened."""

    op: str  # "and" | "or"
    operands: tuple[Expr, ...]
    span: Span


@frozen_record
class ListExpr:
    """``[a, b, ...]``."""

    items: tuple[Expr, ...]
    span: Span


@frozen_record
class MapExpr:
    """``{"a": 1, "b": 2}``: keys and values in source order."""

    entries: tuple[tuple[Expr, Expr], ...]
    span: Span


@frozen_record
class Quantifier:
    """``all c in containers: body`` (``op`` is all, any, none or count); over a map one name binds its keys,
    two names (``k, v``) its entries."""

    op: str
    names: tuple[Ident, ...]
    collection: Expr
    body: Expr
    span: Span


Expr = Literal | Name | Field | Index | Call | Neg | Not | BinOp | Compare | BoolOp | ListExpr | MapExpr | Quantifier

# ---- policy contents ----------------------------------------------------------------------------------


@frozen_record
class Setting:
    """``description``, ``severity``, ``enforcement``, ``on_error``, ``exemptions`` or ``help``."""

    key: Ident
    value: Ident | Str
    span: Span


@frozen_record
class KindsSelector:
    """``kinds ...``: the kinds a policy applies to."""

    kinds: tuple[Ident | Str, ...]  # a Str names a kind the engine does not know (a CRD), taken as written
    bracketed: bool  # written as a list (``kinds [Job]``) rather than one name (``kinds workloads``)
    span: Span


@frozen_record
class NamespacesSelector:
    """``namespaces [...]``: namespace patterns."""

    patterns: tuple[Str, ...]
    span: Span


@frozen_record
class LabelRequirement:
    """One label selector term: ``op`` is =, !=, in, notin, exists or absent."""

    key: Str
    op: str
    values: tuple[Str, ...]
    span: Span


@frozen_record
class LabelsSelector:
    """``labels {...}``: label selector terms, all of which must hold."""

    requirements: tuple[LabelRequirement, ...]
    span: Span


Selector = KindsSelector | NamespacesSelector | LabelsSelector


@frozen_record
class MatchBlock:
    """``match { selectors }`` or ``exclude { selectors }``."""

    exclude: bool  # an ``exclude { }`` block rather than ``match { }``
    selectors: tuple[Selector, ...]
    span: Span


@frozen_record
class When:
    """``when <condition>``: the policy applies only to workloads for which it holds."""

    condition: Expr
    span: Span


# ---- rule bodies ----------------------------------------------------------------------------------------


@frozen_record
class RequireKeys:
    """``require labels [...]`` / ``require annotations [...]``: every key present."""

    target: str  # "labels" | "annotations"
    keys: tuple[Str, ...]
    span: Span


@frozen_record
class RequireKey:
    """``require label "k" [in [...] | matches "..."]`` (or annotation): one key, maybe constrained."""

    target: str  # "label" | "annotation"
    key: Str
    allowed: tuple[Str, ...] | None  # ``in [..]``
    pattern: Str | None  # ``matches "..."``
    span: Span
    match_text: str = "matches"


@frozen_record
class PatternList:
    """``allow``/``deny`` ``instance_types``/``gpu_models`` ``[patterns]``."""

    mode: str  # "allow" | "deny"
    target: str  # "instance_types" | "gpu_models"
    patterns: tuple[Str, ...]
    span: Span


@frozen_record
class RequirePinned:
    """``require pinned``: every role with GPUs pins an instance type or a GPU model."""

    span: Span


@frozen_record
class RequireSpot:
    """``require spot``: every role that decides the cost requests spot capacity."""

    span: Span


@frozen_record
class RequireIdle:
    """``require idle_timeout [<= maximum]``."""

    maximum: Expr | None
    span: Span


@frozen_record
class RequireDeadline:
    """``require deadline [<= maximum]``."""

    maximum: Expr | None
    span: Span


@frozen_record
class Assert:
    """``assert`` (violation when false) or ``forbid`` (violation when true)."""

    negate: bool  # True for ``forbid``
    condition: Expr
    span: Span


@frozen_record
class LiveIdle:
    """``idle <metric> < <threshold> for <duration> [then ...]``: a live rule on telemetry."""

    metric: Ident
    threshold: Expr
    duration: Expr
    span: Span
    action: IdleAction | None = None


@frozen_record
class IdleAction:
    """``then notify`` / ``then stop after 30m, delete_pods, act``: what the controller does when idle."""

    verb: Ident
    notice: Expr | None
    options: tuple[Ident, ...]
    span: Span


@frozen_record
class Override:
    """``"key" = limit`` in an aggregate's ``overrides { }``."""

    key: Str
    limit: Expr
    span: Span


@frozen_record
class Aggregate:
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


@frozen_record
class Rule:
    """One rule of a policy: its body, its ``if`` guard and its ``message``."""

    body: RuleBody
    guard: Expr | None  # ``if <expr>``
    message: Str | None  # ``message "..."``
    span: Span


PolicyItem = Setting | MatchBlock | When | Rule


@frozen_record
class Policy:
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


@frozen_record
class Assign:
    """``name = value`` in an import's ``with { }``."""

    name: Ident
    value: Expr
    span: Span


@frozen_record
class Import:
    """``import "path" [as alias] [with { overrides }]``."""

    path: Str
    alias: Ident | None
    overrides: tuple[Assign, ...]
    span: Span


@frozen_record
class Param:
    """``param name = value``: a module-level parameter."""

    name: Ident
    value: Expr
    span: Span


Item = Import | Param | Policy


@frozen_record
class Module:
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
