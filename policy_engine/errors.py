"""The one error tree: every exception policy-engine raises on purpose derives from ``PolicyEngineError``.

Problems in what a user wrote are values first (``policy_engine.diagnostics.Diagnostic``, located, with a
stable code from ``policy_engine.codes``); an exception only carries them across an API boundary.

    PolicyEngineError                 base: catch this to catch every deliberate failure
    ├── DiagnosticError               located problems in input files, all of them (``.diagnostics``):
    │   │                             policy files, pricing catalogs, configs, test files
    │   ├── WorkloadError             one manifest field the workload model cannot read (``.diagnostic``)
    │   └── ImportFailure             ``prices import``: a file that is not what its option says it is
    ├── QuantityError                 a Kubernetes quantity that does not parse (also a ``ValueError``)
    ├── FormatError                   ``fmt`` cannot format a file (syntax errors in ``.diagnostics``)
    ├── GitError                      ``check --base``: git missing, not a repository, unknown revision
    ├── UnknownPolicy                 ``explain --policy``: no policy of that name (authoring/explain.py)
    ├── ChartsUnavailable             ``report --html`` without matplotlib (also a ``RuntimeError``)
    ├── NotStoppable                  the controller cannot stop (or resume) this workload; the reason
    ├── ClusterNotListed              ``audit``: the cluster's workloads not listed within the timeout
    ├── ManifestError                 ``webhook-manifests`` cannot be built from its inputs
    ├── BadRequest                    webhook: a body that is not an AdmissionReview (HTTP 400)
    ├── UnreadableObject              webhook: an admitted object the workload model cannot read
    ├── PrometheusError               Prometheus unreachable, credentials refused, or a query error
    │                                 (``policy_engine.prometheus``: usage history, telemetry, unit costs)
    ├── LedgerError                   ledger: a file that cannot be opened, migrated or written
    │   ├── UnknownRule               usage history cannot group by a rule's key
    │   └── NotifyError               an alert not delivered (retried next cycle)
    └── CompilerBug                   an internal invariant broke (never a user's mistake)

Layers raise only these (plus Python's own for programming errors), so a front end needs one ``except``.
Not in the tree: exceptions a module raises and catches itself (the loaders' ``TooDeep``, CEL's
``CelFailure``) and the webhook's ``ReviewTimeout``, a ``BaseException`` on purpose (``webhook/budget.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from policy_engine.diagnostics import Diagnostic, render_all

__all__ = [
    "BadRequest", "ClusterNotListed", "CompilerBug", "DiagnosticError", "FormatError", "GitError", "ManifestError",
    "PolicyEngineError", "QuantityError", "UnreadableObject", "WorkloadError",
]


class PolicyEngineError(Exception):
    """Base of every exception policy-engine raises on purpose (see the module docstring for the tree)."""


class DiagnosticError(PolicyEngineError):
    """Raised at an API boundary when a set of diagnostics holds at least one error.

    Internally diagnostics are returned as values; this exception only carries them to callers that
    prefer exceptions (library users, the CLI's top level). ``str()`` is every diagnostic rendered.
    """

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: dict[str, str] | None = None) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(sorted(diagnostics, key=Diagnostic.sort_key))
        self.sources: dict[str, str] = dict(sources or {})
        super().__init__(render_all(self.diagnostics, self.sources))

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)


class WorkloadError(DiagnosticError):
    """A document that is a workload but has a field the model cannot read (``replicas: "abc"``).

    The engine reports ``diagnostic`` as an error for that document; the other documents go on.
    """

    def __init__(self, diagnostic: Diagnostic) -> None:
        self.diagnostic = diagnostic
        super().__init__((diagnostic,))

    def __str__(self) -> str:
        return self.diagnostic.headline()

    def __reduce__(self) -> tuple[type[WorkloadError], tuple[Diagnostic]]:
        return (WorkloadError, (self.diagnostic,))


class QuantityError(PolicyEngineError, ValueError):
    """A Kubernetes quantity (``500m``, ``1.5Gi``) that does not parse."""


class FormatError(PolicyEngineError):
    """The file cannot be formatted: syntax errors (``diagnostics``), or a formatter fault."""

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(message)
        self.diagnostics = tuple(diagnostics)


class GitError(PolicyEngineError):
    """git is missing, the directory is not a repository, or the revision does not exist."""


class ClusterNotListed(PolicyEngineError):
    """``audit``: the cluster's workloads were not listed in time; the message says what the watches last
    failed with."""


class ManifestError(PolicyEngineError):
    """An input the manifests cannot be built from (unknown kind, unreadable or oversized policies)."""


class BadRequest(PolicyEngineError):
    """The body is not an AdmissionReview we can answer; the message is what the caller reads."""


class UnreadableObject(PolicyEngineError):
    """The workload model could not read the object (its own diagnostic says where and why)."""


class CompilerBug(PolicyEngineError):
    """An internal invariant broke (an expression reached codegen without passing the checker)."""
