"""Who and what the webhook lets through without (or despite) a policy.

Two levels. Request exemptions (namespaces, users, groups; globs) skip evaluation entirely: system
components and the webhook itself must never be blocked by it. Object exemptions (an annotation naming
policies, with an expiry date) are the one rule ``check`` and the audit use too (``engine/exemptions.py``):
honoured only for policies that say ``allow_exemption``, so a team cannot annotate its way out of a hard
rule, and a forgotten exemption lapses on its date.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass

from policy_engine.webhook.admission import UserInfo
from policy_engine.webhook.config import WebhookConfig


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
