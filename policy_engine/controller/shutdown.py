"""Idle GPU auto-shutdown: notify first, stop after the notice period, never on missing data.

Per workload and cycle, from the audit's idle judgements (one per policy rule; the strongest action
wins: stop over notify over report):

- **idle**, not yet notified → notice: the ``idle-since``/``idle-notice`` annotations, an Event, the
  notification hook (the PolicyReport carries the finding anyway);
- **idle**, notified at least the notice period ago, the rule says ``stop`` → stop it through its kind's
  mechanism (``actions.stop``), at most ``max_actions_per_cycle`` stops per cycle (the rest wait);
- **busy** while notified → the notice is withdrawn (annotations removed, an Event says why);
- **no data** → nothing at all, whatever was notified before: missing telemetry is never idleness.

Exempt namespaces are never audited; an object whose exemption annotation lifts the policy is left alone.
Dry run (the default: neither ``--act`` nor the policy's ``act``) writes nothing: the notice times are
kept in memory and the log, the metrics and the returned records say what would have been done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from policy_engine.controller import actions
from policy_engine.controller.audit import Audit, IdleCase
from policy_engine.controller.idle import BUSY, IDLE
from policy_engine.controller.kube import Kube
from policy_engine.controller.metrics import Metrics
from policy_engine.engine.exemptions import DEFAULT_MAX_DAYS, object_exemption
from policy_engine.engine.exemptions import judge as judge_exemption
from policy_engine.jsonlog import FIELDS

LOG = logging.getLogger("policy_engine.controller")
_STRENGTH = {"report": 0, "notify": 1, "stop": 2}


@dataclass(frozen=True, slots=True)
class Record:
    """One thing done (or, in a dry run, that would have been done) to a workload."""

    action: str  # notify, stop, clear
    outcome: str  # done, dry-run, capped, failed, not-stoppable, exempt
    kind: str
    namespace: str
    name: str
    policy: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "outcome": self.outcome, "kind": self.kind, "namespace": self.namespace,
                "name": self.name, "policy": self.policy, "detail": self.detail}


class Shutdown:
    def __init__(self, kube: Kube, *, act: bool, max_actions: int, notify_url: str | None, identity: str,
                 require_expiry: bool = True, max_days: int = DEFAULT_MAX_DAYS,
                 metrics: Metrics | None = None) -> None:
        self.kube = kube
        self.act = act
        self.max_actions = max_actions
        self.notify_url = notify_url
        self.identity = identity
        self.require_expiry = require_expiry
        self.max_days = max_days
        self.metrics = metrics
        self._dry_notices: dict[tuple[str, str, str], datetime] = {}

    def run(self, audit: Audit, now: datetime) -> list[Record]:
        chosen: dict[tuple[str, str, str], IdleCase] = {}
        for c in audit.idle:
            if c.judgement.state not in (IDLE, BUSY):
                continue
            key = c.entry.key
            best = chosen.get(key)
            if best is None or (c.judgement.state, _STRENGTH[c.rule.action]) > (best.judgement.state,
                                                                               _STRENGTH[best.rule.action]):
                chosen[key] = c  # "idle" sorts after "busy": an idle verdict of any rule wins
        records: list[Record] = []
        budget = self.max_actions
        for key in sorted(chosen):
            c = chosen[key]
            if c.judgement.state == BUSY:
                records.extend(self._busy(c, now))
                continue
            if c.rule.action == "report":
                continue
            record, used = self._idle(c, now, budget)
            budget -= used
            if record is not None:
                records.append(record)
        for r in records:
            self._log(r)
        return records

    # -- one workload -------------------------------------------------------------------------------------

    def _active(self, c: IdleCase) -> bool:
        return self.act or c.rule.act

    def _record(self, c: IdleCase, action: str, outcome: str, detail: str) -> Record:
        kind, ns, name = c.entry.key
        if self.metrics is not None:
            self.metrics.actions.labels(action, kind, outcome).inc()
        return Record(action, outcome, kind, ns, name, c.policy.name, detail)

    def _exempt(self, c: IdleCase, today: date) -> str | None:
        exemption = object_exemption(actions.annotations_of(c.entry.obj), self.require_expiry)
        verdict = judge_exemption(exemption, c.policy, today, self.max_days)
        return verdict.note if verdict is not None and verdict.exempt else None

    def _idle(self, c: IdleCase, now: datetime, budget: int) -> tuple[Record | None, int]:
        note = self._exempt(c, now.date())
        if note:
            return self._record(c, "notify", "exempt", note), 0
        notes = actions.annotations_of(c.entry.obj)
        if actions.STOPPED_BY in notes or actions.NOTEBOOK_STOPPED in notes:
            return None, 0  # stopped already (its GPUs are going away)
        active = self._active(c)
        noticed = actions.parse_stamp(notes.get(actions.IDLE_NOTICE)) if active else self._dry_notices.get(c.entry.key)
        if noticed is None:
            return self._notify(c, now, active), 0
        if c.rule.action != "stop":
            return None, 0
        due = noticed + timedelta(seconds=c.rule.notice_seconds)
        if now < due:
            return None, 0
        since = c.judgement.idle_since
        if since is not None and since > noticed.timestamp() + 60.0:
            # busy after the notice, unseen by any cycle (the controller was down, or the data had a gap):
            # the GPUs did not stay idle through the notice period, so the owner is told again instead
            return self._notify(c, now, active), 0
        if budget <= 0:
            return self._record(c, "stop", "capped", "over max_actions_per_cycle; stops in a later cycle"), 0
        if not active:
            return self._record(c, "stop", "dry-run", f"would stop (idle, notified {actions.stamp(noticed)})"), 1
        try:
            done = actions.stop(self.kube, c.entry.resource, c.entry.obj, c.policy.name, now, c.rule.delete_pods)
        except actions.NotStoppable as exc:
            return self._record(c, "stop", "not-stoppable", str(exc)), 0
        except (ApiException, HTTPError, OSError) as exc:
            return self._record(c, "stop", "failed", f"{type(exc).__name__}: {exc}"), 0
        message = f"stopped by policy {c.policy.name} after {c.idle_hours:.1f} h of idle GPUs: {done.detail}; " \
                  f"undo with: policy-engine resume {c.entry.resource.kind}/{c.entry.namespace}/{c.entry.name}"
        self._side_effects(c, "IdleGPUStopped", message, now)
        return self._record(c, "stop", "done", done.detail), 1

    def _notify(self, c: IdleCase, now: datetime, active: bool) -> Record:
        since = datetime.fromtimestamp(c.judgement.idle_since or now.timestamp(), UTC)
        stop = (f"; it will be stopped after {actions.stamp(now + timedelta(seconds=c.rule.notice_seconds))} "
                "if its GPUs stay idle") if c.rule.action == "stop" else ""
        message = f"GPUs idle since {actions.stamp(since)} (policy {c.policy.name}): {c.judgement.reason}{stop}"
        if not active:
            self._dry_notices[c.entry.key] = now
            return self._record(c, "notify", "dry-run", message)
        try:
            actions.notice(self.kube, c.entry.resource, c.entry.obj, c.policy.name, since, now)
        except (ApiException, HTTPError, OSError) as exc:
            return self._record(c, "notify", "failed", f"{type(exc).__name__}: {exc}")
        self._side_effects(c, "IdleGPU", message, now)
        return self._record(c, "notify", "done", message)

    def _busy(self, c: IdleCase, now: datetime) -> list[Record]:
        self._dry_notices.pop(c.entry.key, None)
        if actions.IDLE_NOTICE not in actions.annotations_of(c.entry.obj) or not self._active(c):
            return []
        try:
            actions.clear_notice(self.kube, c.entry.resource, c.entry.obj)
        except (ApiException, HTTPError, OSError) as exc:
            return [self._record(c, "clear", "failed", f"{type(exc).__name__}: {exc}")]
        message = f"GPUs busy again ({c.judgement.reason}): idle notice withdrawn"
        self._side_effects(c, "IdleGPUCleared", message, now, warning=False)
        return [self._record(c, "clear", "done", message)]

    def _side_effects(self, c: IdleCase, reason: str, message: str, now: datetime, warning: bool = True) -> None:
        try:
            actions.event(self.kube, c.entry.resource, c.entry.obj, reason, message, now, self.identity, warning)
        except (ApiException, HTTPError, OSError) as exc:
            LOG.warning(f"could not record an Event: {exc}", extra={FIELDS: {"event": "event_error"}})
        kind, ns, name = c.entry.key
        actions.hook(self.notify_url, {"reason": reason, "kind": kind, "namespace": ns, "name": name,
                                       "policy": c.policy.name, "team": c.team, "message": message,
                                       "idle_hours": round(c.idle_hours, 2),
                                       "idle_waste": None if c.waste is None else round(c.waste, 2)})

    def _log(self, r: Record) -> None:
        level = logging.WARNING if r.outcome == "failed" else logging.INFO
        LOG.log(level, f"{r.action} {r.kind} {r.namespace}/{r.name}: {r.outcome}: {r.detail}",
                extra={FIELDS: {"event": "idle_action", **r.to_dict()}})
