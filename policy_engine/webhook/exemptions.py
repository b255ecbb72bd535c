"""Who and what the webhook lets through without (or despite) a policy.

Two levels. Request exemptions (namespaces, users, groups; globs) skip evaluation entirely: system
components and the webhook itself must never be blocked by it. Object exemptions (an annotation naming
policies, with an expiry date) are honoured only for policies that say ``allow_exemption``, so a team
cannot annotate its way out of a hard rule, and a forgotten exemption lapses on its date.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from policy_engine.compiler.program import CompiledPolicy
from policy_engine.webhook.admission import UserInfo
from policy_engine.webhook.config import WebhookConfig

EXEMPT_ANNOTATION = "policy-engine.io/exempt"
EXEMPT_UNTIL_ANNOTATION = "policy-engine.io/exempt-until"


class Globs:
    """Shell-style patterns compiled once into one regular expression per pattern."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self._compiled = tuple((p, re.compile(fnmatch.translate(p))) for p in self.patterns)

    def match(self, value: str) -> str | None:
        """The first pattern that matches ``value`` whole, or None."""
        for pattern, regex in self._compiled:
            if regex.match(value):
                return pattern
        return None


@dataclass(frozen=True, slots=True)
class RequestExemptions:
    namespaces: Globs
    users: Globs
    groups: Globs

    @staticmethod
    def from_config(config: WebhookConfig) -> RequestExemptions:
        return RequestExemptions(Globs(config.exempt_namespaces), Globs(config.exempt_users),
                                 Globs(config.exempt_groups))

    def reason(self, namespace: str, user: UserInfo) -> str | None:
        """Why a request is exempt (for the log), or None when it must be evaluated."""
        if namespace and (p := self.namespaces.match(namespace)):
            return f"namespace {namespace!r} is exempt (pattern {p!r})"
        if user.username and (p := self.users.match(user.username)):
            return f"user {user.username!r} is exempt (pattern {p!r})"
        for group in user.groups:
            if p := self.groups.match(group):
                return f"group {group!r} is exempt (pattern {p!r})"
        return None


@dataclass(frozen=True, slots=True)
class ObjectExemption:
    """What an object's exemption annotations ask for; ``problem`` says why they cannot count."""

    policies: frozenset[str]
    until: date | None
    problem: str | None = None

    def names(self, policy: str) -> bool:
        return policy in self.policies or "*" in self.policies


@dataclass(frozen=True, slots=True)
class Verdict:
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

    With ``max_days`` (``exemption_max_days``), an exemption must end within that many days of today: a
    longer one, or one without a date, is refused, so ``exempt-until: 9999-12-31`` is not "forever".
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
