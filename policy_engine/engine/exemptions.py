"""Object exemptions: THE rule by which an object's annotations lift a policy, in CI, at admission, in audit.

An object asks to be exempted from named policies with ``policy-engine.io/exempt`` (names, comma-separated;
``*``: all) and ``policy-engine.io/exempt-until`` (the last day it holds, UTC, ``YYYY-MM-DD``), read where
label rules read labels: on what every pod carries (``Workload.annotations``), so a Deployment, its
ReplicaSet and its Pods are exempt together or not at all. It is honoured only for a policy that says
``exemptions allowed``; it needs a date unless ``require_expiry`` is off, lapses after that day, and may
lie at most ``max_days`` ahead of today (``DEFAULT_MAX_DAYS``; 0 lifts the cap). ``check`` (``Options
.exemptions``), the webhook (``exemption_max_days``, ``require_exemption_expiry``) and the controller's
audit all decide through ``ExemptionRule``; an exempted finding is a warning at admission, an ``audit``
finding in CI (reported, never failing the run), a skip in a PolicyReport.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import field, replace
from datetime import date

from policy_engine.compiler.program import CompiledPolicy, Enforcement
from policy_engine.engine.findings import Finding
from policy_engine.records import frozen_record, record

EXEMPT_ANNOTATION = "policy-engine.io/exempt"
EXEMPT_UNTIL_ANNOTATION = "policy-engine.io/exempt-until"
#: Longest an exemption may run from today unless configured (the webhook's ``exemption_max_days``,
#: ``check --exemption-max-days``, the controller's ``exemption_max_days``).
DEFAULT_MAX_DAYS = 90


@frozen_record
class ObjectExemption:
    """What an object's exemption annotations ask for; ``problem`` says why they cannot count."""

    policies: frozenset[str]
    until: date | None
    problem: str | None = None

    def names(self, policy: str) -> bool:
        return policy in self.policies or "*" in self.policies


@frozen_record
class Verdict:
    """Whether an object's exemption lifts a policy, and the note saying why (or why not)."""

    exempt: bool
    note: str


def object_exemption(annotations: Mapping[str, object], require_expiry: bool) -> ObjectExemption | None:
    """The exemption an object's annotations request, or None when it carries none."""
    raw = annotations.get(EXEMPT_ANNOTATION)
    if not isinstance(raw, str) or not raw.strip():
        return None
    policies = frozenset(p.strip() for p in raw.split(",") if p.strip())
    until_raw = annotations.get(EXEMPT_UNTIL_ANNOTATION)
    if until_raw is None or (isinstance(until_raw, str) and not until_raw.strip()):
        problem = f"it has no {EXEMPT_UNTIL_ANNOTATION} date" if require_expiry else None
        return ObjectExemption(policies, None, problem)
    try:
        until = date.fromisoformat(str(until_raw).strip())
    except ValueError:
        return ObjectExemption(policies, None,
                               f"{EXEMPT_UNTIL_ANNOTATION} {until_raw!r} is not a date (YYYY-MM-DD)")
    return ObjectExemption(policies, until)


def judge(exemption: ObjectExemption | None, policy: CompiledPolicy | None, today: date,
          max_days: int = 0) -> Verdict | None:
    """Whether an object exemption lifts ``policy``'s findings today; None when it does not name it.

    With ``max_days``, an exemption must end within that many days of today: a longer one, or one
    without a date, is refused, so ``exempt-until: 9999-12-31`` is not "forever".
    """
    if exemption is None or policy is None or not exemption.names(policy.name):
        return None
    if not policy.allow_exemption:
        return Verdict(False, f"exemption annotation ignored: policy {policy.name} does not allow exemptions")
    if exemption.problem:
        return Verdict(False, f"exemption annotation ignored: {exemption.problem}")
    if max_days and exemption.until is None:
        return Verdict(False, f"exemption annotation ignored: it has no {EXEMPT_UNTIL_ANNOTATION} date and "
                              f"exemptions last at most {max_days} days")
    if max_days and exemption.until is not None and (exemption.until - today).days > max_days:
        latest = date.fromordinal(today.toordinal() + max_days).isoformat()
        return Verdict(False, f"exemption annotation ignored: {EXEMPT_UNTIL_ANNOTATION} "
                              f"{exemption.until.isoformat()} is more than {max_days} days away "
                              f"(exemption_max_days); the latest allowed today is {latest}")
    if exemption.until is not None and exemption.until < today:
        return Verdict(False, f"exemption expired on {exemption.until.isoformat()}; renew "
                              f"{EXEMPT_UNTIL_ANNOTATION} or fix the object")
    until = f" until {exemption.until.isoformat()}" if exemption.until else ""
    return Verdict(True, f"exempted by annotation{until}")


@record
class Sorted:
    """A workload's findings split by its exemption: ``notes`` say, per policy named, what was decided."""

    kept: list[Finding] = field(default_factory=list)
    exempted: list[str] = field(default_factory=list)  # policies lifted, in order of their first finding
    lifted: list[Finding] = field(default_factory=list)  # the findings they lifted
    notes: dict[str, str] = field(default_factory=dict)


@frozen_record
class ExemptionRule:
    """The settings of the one exemption rule; ``today`` is the UTC date the front end decides on."""

    today: date
    max_days: int = DEFAULT_MAX_DAYS
    require_expiry: bool = True

    def sort(self, findings: Iterable[Finding], annotations: Mapping[str, object],
             policy_of: Callable[[str], CompiledPolicy | None]) -> Sorted:
        out = Sorted()
        exemption = object_exemption(annotations, self.require_expiry)
        for f in findings:
            verdict = judge(exemption, policy_of(f.policy), self.today, self.max_days)
            if verdict is not None:
                out.notes.setdefault(f.policy, verdict.note)
            if verdict is not None and verdict.exempt:
                if f.policy not in out.exempted:
                    out.exempted.append(f.policy)
                out.lifted.append(f)
            else:
                out.kept.append(f)
        return out

    def in_ci(self, findings: list[Finding], annotations: Mapping[str, object],
              policy_of: Callable[[str], CompiledPolicy | None]) -> list[Finding]:
        """``check``'s view: a lifted finding stays in the report as ``audit`` (never failing the run), and
        every finding whose exemption was refused says why, as the webhook's messages do."""
        if not findings or object_exemption(annotations, self.require_expiry) is None:
            return findings
        decided = self.sort(findings, annotations, policy_of)
        lifted = {id(f) for f in decided.lifted}
        out = []
        for f in findings:
            note = decided.notes.get(f.policy)
            if note is None:
                out.append(f)
            elif id(f) in lifted:
                out.append(replace(f, enforcement=Enforcement.AUDIT, message=with_note(f.message, note),
                                   facts=(*f.facts, ("exempted", note))))
            else:
                out.append(replace(f, message=with_note(f.message, note)))
        return out


def with_note(message: str, note: str | None) -> str:
    return f"{message} [{note}]" if note else message
