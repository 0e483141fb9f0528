"""The remediation state machine: one incident's plan, rung by rung, to a verdict.

The engine hands a plan (a ladder of actions, cheapest first) to ``Remediator.begin``
once diagnosis has named a confident cause, and calls ``Remediator.drive`` for the
incident every cycle after. Each remediation moves through typed phases::

    READY ──guards──► APPROVAL ──approved──► READY
      │                  └─denied/expired──► DONE (escalated)
      ├──intent written──► RUNNING ──executed──► VERIFYING ──symptom gone──► DONE (resolved)
      │                      └─failed/skipped──► next rung      └─not gone──► ROLLING_BACK
      └─blocked: stays READY (said once)                                        └──► next rung

Before acting it asks the guards (pause, cooldown, budget, blast radius, breaker,
recurrence, approval) and writes the intent to the store, so a crash never repeats
or loses the action (``selfheal.loop.reconcile``). Blocking steps (prepare +
execute, rollback) run as jobs in the pool; their futures are read on later cycles.
An action is verified when every symptom that opened the incident is healthy and
the cause's own service is back near its pre-fault level (``verification``) for
``verify_cycles`` cycles in a row; it is rolled back when its timeout passes first, or
earlier when a stateless action's target serves again while the symptom never
eased (``verification.missed_target``). When the action on its cause healed the
cause's own symptoms while others remain, it is kept and the incident splits.
After an action that did not help, diagnosis may name a different cause (its plan
replaces the ladder), else the next rung runs; an exhausted ladder escalates.

Before an action that changes platform state (a config restore, a rollback, a
failover, a scale) the platform view is told to expect that change, so it is
never taken for the cause of the next incident. Decisions about causes stay in
diagnosis; this module only drives actions and judges them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

from selfheal.analysis import failure_type as ft
from selfheal.analysis.triage import is_rule
from selfheal.core.errors import LeadershipLost, PermanentError, ValidationRefused
from selfheal.core.platform import CHANGE_MADE_BY
from selfheal.core.types import (
    CONFIG_RESTORE_PARAMS,
    Action,
    ActionKind,
    ActionResult,
    Cause,
    Incident,
    IncidentStatus,
    Outcome,
    Plan,
    Rollback,
    SeriesKey,
    Verification,
)
from selfheal.loop import serialize as ser
from selfheal.loop import verification as check
from selfheal.loop.incidents import IncidentBook
from selfheal.loop.jobs import JobPool
from selfheal.loop.metrics import EngineMetrics
from selfheal.loop.ports import Detection, Guards, Planner, PlatformView, Prepared, Runner, Store
from selfheal.loop.settings import EngineSettings
from selfheal.loop.view import AuditTrail, CycleView


class Phase(enum.Enum):
    READY = "ready"  # the current rung may start (after the guards)
    APPROVAL = "approval"  # waiting for a human to approve the current rung
    RUNNING = "running"  # prepare + execute running in the pool
    VERIFYING = "verifying"  # executed; watching the symptom
    ROLLING_BACK = "rolling_back"  # verification failed; rollback running in the pool
    DONE = "done"  # healed, escalated, or dry-run recorded


# Phases in which something is in flight: the incident must not resolve under it.
BUSY = frozenset({Phase.APPROVAL, Phase.RUNNING, Phase.VERIFYING, Phase.ROLLING_BACK})

Tried = frozenset[tuple[str, str]]  # (service, failure type) already acted on


@dataclass(slots=True)
class Remediation:
    """One incident's plan and where its current rung stands."""

    incident_id: str
    plan: Plan
    symptoms: tuple[SeriesKey, ...]
    rung: int = 0
    phase: Phase = Phase.READY
    prepared: Prepared | None = None
    intent_id: str | None = None
    approval_id: str | None = None
    job: Future[Any] | None = None
    started_at: float = 0.0
    executed_at: float = 0.0
    deadline: float = 0.0
    healthy_cycles: int = 0
    eased: bool = False  # the symptom was gone in at least one cycle since the action
    own_healthy_since: float | None = None  # the cause's own symptoms gone, others not
    tried: Tried = frozenset()
    blocked_reason: str = ""
    failed_check: Verification | None = None
    results: list[ActionResult] = field(default_factory=list)

    @property
    def action(self) -> Action:
        return self.plan.actions[self.rung]


# Diagnosis again after an action that did not help: a new plan for a different cause
# (not in ``tried``), or None to go on with the ladder. The last argument says the
# ladder is exhausted: any confident cause not tried yet may then be taken, not only
# the top one.
Reconsider = Callable[[Incident, Tried, Cause, float, bool], Plan | None]


class Remediator:
    """Drives every open incident's remediation; see the module docstring."""

    def __init__(
        self,
        *,
        planner: Planner,
        guards: Guards,
        runner: Runner,
        store: Store,
        platform: PlatformView,
        detection: Detection,
        pool: JobPool,
        book: IncidentBook,
        view: CycleView,
        audit: AuditTrail,
        metrics: EngineMetrics,
        settings: EngineSettings,
        reconsider: Reconsider,
    ) -> None:
        self.planner = planner
        self.guards = guards
        self.runner = runner
        self.store = store
        self.platform = platform
        self.detection = detection
        self.pool = pool
        self.book = book
        self.view = view
        self.audit = audit
        self.metrics = metrics
        self.settings = settings
        self.reconsider = reconsider
        self._active: dict[str, Remediation] = {}
        book.on_close(self.forget)

    # -- the engine's questions ----------------------------------------------------------

    def get(self, incident_id: str) -> Remediation | None:
        return self._active.get(incident_id)

    def busy(self, incident_id: str) -> bool:
        rem = self._active.get(incident_id)
        return rem is not None and rem.phase in BUSY

    def in_flight(self) -> list[tuple[str, str]]:
        """(incident id, cause service) of remediations not done."""
        return [
            (incident_id, rem.plan.cause.service)
            for incident_id, rem in self._active.items()
            if rem.phase is not Phase.DONE
        ]

    def forget(self, incident_id: str) -> None:
        self._active.pop(incident_id, None)

    def describe(self, incident_id: str) -> dict[str, Any] | None:
        rem = self._active.get(incident_id)
        if rem is None:
            return None
        return {
            "strategy": rem.plan.strategy,
            "state": rem.phase.value,
            "rung": rem.rung,
            "action": ser.action(rem.action),
            "results": [ser.result(r) for r in rem.results],
        }

    # -- starting and driving ------------------------------------------------------------

    def begin(
        self, incident: Incident, plan: Plan, symptoms: tuple[SeriesKey, ...], now: float
    ) -> None:
        """Take ``plan`` on for ``incident`` and try its first rung now."""
        rem = Remediation(incident.id, plan, symptoms)
        self._active[incident.id] = rem
        incident = self.book.set_status(incident, IncidentStatus.REMEDIATING, now)
        self._drive(incident, rem, now)

    def adopt(self, incident: Incident, action: Action, intent_id: str, now: float) -> None:
        """An action interrupted by a restart: verify it, never run it again (its snapshot
        died with the process, so a failed verification cannot roll it back)."""
        cause = incident.top_cause or Cause(action.target, 1.0)
        plan = Plan(incident.id, cause, "resumed after restart", (action,), now)
        rem = Remediation(
            incident.id, plan, symptoms_of(incident), phase=Phase.VERIFYING, intent_id=intent_id
        )
        rem.started_at = rem.executed_at = now
        rem.deadline = now + action.timeout_seconds
        self._active[incident.id] = rem

    def drive(self, incident: Incident, now: float) -> None:
        rem = self._active.get(incident.id)
        if rem is not None:
            self._drive(incident, rem, now)

    def _drive(self, inc: Incident, rem: Remediation, now: float) -> None:
        if rem.phase is Phase.READY:
            self._try_start(inc, rem, now)
        elif rem.phase is Phase.APPROVAL:
            self._check_approval(inc, rem, now)
        elif rem.phase is Phase.RUNNING:
            self._check_job(inc, rem, now)
        elif rem.phase is Phase.VERIFYING:
            self._verify(inc, rem, now)
        elif rem.phase is Phase.ROLLING_BACK:
            self._check_rollback(inc, rem, now)

    def _try_start(
        self, inc: Incident, rem: Remediation, now: float, approved: bool = False
    ) -> None:
        action = rem.action
        if self.store.paused():
            self._block_once(rem, "paused: the loop takes no action while paused", action)
            return
        if not approved:
            verdict = self.guards.check(action, inc, self.view.context, now)
            if verdict.escalate:
                self._record(inc, rem, Outcome.BLOCKED, now, now, detail=verdict.reason)
                self.book.escalate(inc, verdict.reason, now)
                return
            if not verdict.allowed:
                self._block_once(rem, verdict.reason, action)
                return
            if verdict.needs_approval:
                expires = now + self.settings.approval_expiry_seconds
                rem.approval_id = self.store.request_approval(inc.id, action, now, expires)
                rem.phase = Phase.APPROVAL
                self.audit(
                    "approval_requested",
                    {
                        "incident": inc.id,
                        "approval": rem.approval_id,
                        "action": ser.action(action),
                        "reason": verdict.reason,
                        "expires_at": expires,
                    },
                )
                return
        if self.settings.dry_run:
            self._record(inc, rem, Outcome.DRY_RUN, now, now, detail="dry-run: not executed")
            rem.phase = Phase.DONE
            return
        try:
            rem.intent_id = self.store.write_intent(inc.id, action, now)
        except LeadershipLost as exc:  # another replica leads now: it will act, not this one
            if not approved:
                self.guards.cancel(action, inc)
            self._block_once(rem, f"not the leader: {exc}", action)
            return
        self.audit(
            "intent", {"incident": inc.id, "intent": rem.intent_id, "action": ser.action(action)}
        )
        rem.phase = Phase.RUNNING
        rem.started_at = now
        rem.blocked_reason = ""
        rem.healthy_cycles = 0
        self._expect_change(action, now)

        def job() -> tuple[Prepared, str]:
            prepared = self.runner.prepare(action)
            if prepared.skip_reason:
                return prepared, ""
            return prepared, self.runner.execute(prepared)

        self.audit("action_started", {"incident": inc.id, "action": ser.action(action)})
        rem.job = self.pool.submit(job)
        self._check_job(inc, rem, now)

    def _expect_change(self, action: Action, now: float) -> None:
        kind = CHANGE_MADE_BY.get(action.kind)
        if kind is not None:  # restarts, drains and cache clears change no version or config
            until = now + action.timeout_seconds + self.settings.own_change_slack_seconds
            self.platform.expect(action.target, kind, until)

    def _block_once(self, rem: Remediation, reason: str, action: Action) -> None:
        if rem.blocked_reason != reason:
            rem.blocked_reason = reason
            self.metrics.actions_total.labels(kind=action.kind.value, outcome="blocked").inc()
            self.audit(
                "guard_blocked",
                {"incident": rem.incident_id, "action": ser.action(action), "reason": reason},
            )

    def _check_approval(self, inc: Incident, rem: Remediation, now: float) -> None:
        assert rem.approval_id is not None
        status = self.store.approval_status(rem.approval_id, now)
        if status == "pending":
            return
        self.audit(f"approval_{status}", {"incident": inc.id, "approval": rem.approval_id})
        if status == "approved":
            rem.phase = Phase.READY
            self._try_start(inc, rem, now, approved=True)
        else:
            outcome = Outcome.DENIED if status == "denied" else Outcome.EXPIRED
            self._record(inc, rem, outcome, now, now, detail=f"approval {status}")
            self.book.escalate(inc, f"approval {status} for {rem.action.describe()}", now)

    def _check_job(self, inc: Incident, rem: Remediation, now: float) -> None:
        job = rem.job
        if job is None or not job.done():
            return
        rem.job = None
        try:
            prepared, detail = job.result()
        except Exception as exc:
            kind = "permanent" if isinstance(exc, PermanentError) else "error"
            # A step the platform refused before doing anything (no earlier release to roll
            # back to) changed nothing: it gives back its guard reservation and does not count
            # as a failed action for the circuit breakers.
            refused = isinstance(exc, ValidationRefused)
            self._finish(inc, rem, Outcome.FAILED, now, detail=f"{kind}: {exc}", refused=refused)
            self._next_rung(inc, rem, now)
            return
        rem.prepared = prepared
        if prepared.skip_reason:
            self._finish(inc, rem, Outcome.SKIPPED, now, detail=prepared.skip_reason)
            self._next_rung(inc, rem, now)
            return
        rem.phase = Phase.VERIFYING
        rem.executed_at = now
        rem.deadline = now + rem.action.timeout_seconds
        self.audit(
            "action_executed",
            {"incident": inc.id, "action": ser.action(rem.action), "detail": detail},
        )

    # -- verification --------------------------------------------------------------------

    def _stale_after(self) -> float:
        return 3 * self.settings.cycle_seconds

    def symptom_gone(self, rem: Remediation, now: float) -> bool:
        """The verification: every series that opened the incident is healthy again, and
        the cause's own service has recovered (all its instances). An external cause's
        health is not ours to restore (a failover routes around it): its symptoms on our
        services decide alone."""
        stale = self._stale_after()
        if not check.symptoms_gone(self.detection, rem.symptoms, rem.executed_at, now, stale):
            return False
        origin = rem.plan.cause.service
        if origin in self.view.external:
            return True
        return check.service_recovered(self.detection, origin, rem.executed_at, now, stale)

    def _verify(self, inc: Incident, rem: Remediation, now: float) -> None:
        if self.symptom_gone(rem, now):
            rem.healthy_cycles += 1
            rem.eased = True
        else:
            rem.healthy_cycles = 0
        if rem.healthy_cycles >= self.settings.verify_cycles:
            self._passed(inc, rem, now, "the symptom that opened the incident is gone")
            self.book.resolve(inc, now, healed_by=rem.plan.cause)
            return
        missed = check.missed_target(
            rem.action,
            self.view.context,
            rem.executed_at,
            rem.eased,
            now,
            self.settings.early_verdict_seconds,
        )
        origin = rem.plan.cause.service
        own_gone = check.did_its_part(
            self.detection,
            rem.symptoms,
            origin,
            self.view.graph,
            rem.executed_at,
            now,
            self._stale_after(),
            external=origin in self.view.external,
        )
        moved_on = (
            None
            if own_gone
            else check.passed_on_from(
                self.detection, rem.symptoms, origin, now, self._stale_after()
            )
        )
        own_gone = own_gone or moved_on is not None
        if not own_gone:
            rem.own_healthy_since = None
        elif rem.own_healthy_since is None:
            rem.own_healthy_since = now
        split_after = self.settings.early_verdict_seconds / 2
        parted = rem.own_healthy_since is not None and (
            now >= rem.deadline or missed or now - rem.own_healthy_since >= split_after
        )
        if parted:
            # Two faults in one incident: the action healed its cause (every symptom on
            # the cause's service gone for a while) while symptoms elsewhere remain. It is
            # not rolled back; the incident closes and what remains opens its own.
            self._passed(
                inc,
                rem,
                now,
                f"what remains on {origin} is passed on from {moved_on}, whose calls from"
                f" {origin} began failing after the decision; it is diagnosed on its own"
                if moved_on is not None
                else f"the symptoms on {origin} are gone; those on other services remain"
                " and are diagnosed on their own",
            )
            self.book.resolve(
                inc, now, healed_by=rem.plan.cause, reason="its cause healed; rest split"
            )
            return
        if now >= rem.deadline or missed:
            detail = (
                f"symptom unchanged {now - rem.executed_at:g} s after the action although"
                f" {rem.action.target} is serving again: the action did not reach the cause"
                if missed and now < rem.deadline
                else f"symptom still present {rem.action.timeout_seconds:g} s after the action"
            )
            self._failed(inc, rem, now, Verification(False, now, detail))

    def _passed(self, inc: Incident, rem: Remediation, now: float, detail: str) -> None:
        verdict = Verification(True, now, detail)
        self.audit("verification", {"incident": inc.id, "passed": True, "detail": detail})
        self._finish(inc, rem, Outcome.SUCCEEDED, now, verification=verdict)
        self.planner.record_outcome(rem.plan.strategy, True)
        rem.phase = Phase.DONE

    def _failed(self, inc: Incident, rem: Remediation, now: float, verdict: Verification) -> None:
        holding = check.what_holds(self.detection, rem.symptoms, rem.plan.cause.service)
        self.audit(
            "verification",
            {"incident": inc.id, "passed": False, "detail": verdict.detail, "holding": holding},
        )
        prepared = rem.prepared
        if prepared is None:
            # Resumed after a restart: the snapshot to roll back from is gone.
            self._finish(
                inc,
                rem,
                Outcome.FAILED,
                now,
                detail="verification failed after a restart; no snapshot to roll back",
                verification=verdict,
            )
            rem.phase = Phase.DONE
            self.book.escalate(inc, "an action resumed after a restart did not heal", now)
            return
        if undo_restores_the_cause(rem.action, rem.plan.cause):
            # Undoing it would bring back the configuration or version the diagnosis blamed
            # (a fresh push or deploy): keep the known-good state; the next rung goes on.
            back = Rollback(
                False,
                now,
                f"kept: undoing {rem.action.describe()} would bring back the "
                f"{'configuration' if rem.action.kind is ActionKind.UPDATE_CONFIGURATION else 'version'}"
                f" blamed for the incident",
            )
            self.audit("rollback", {"incident": inc.id, "restored": False, "detail": back.detail})
            self._finish(inc, rem, Outcome.FAILED, now, verification=verdict, rollback=back)
            # The blamed push (or deploy) is undone: what still fails has another cause,
            # which the next diagnosis must look for without that change in its evidence.
            self.book.undone(rem.action.target, CHANGE_MADE_BY[rem.action.kind], rem.started_at)
            context = self.view.context
            self.view.context = replace(context, changes=self.book.current_changes(context.changes))
            self._next_rung(inc, rem, now)
            return
        rem.phase = Phase.ROLLING_BACK
        self._expect_change(rem.action, now)
        rem.job = self.pool.submit(lambda: self.runner.rollback(prepared))
        rem.deadline = now
        rem.failed_check = verdict
        self._check_rollback(inc, rem, now)

    def _check_rollback(self, inc: Incident, rem: Remediation, now: float) -> None:
        job = rem.job
        if job is None or not job.done():
            return
        rem.job = None
        try:
            back = Rollback(True, now, str(job.result()))
        except Exception as exc:
            back = Rollback(False, now, f"rollback failed: {exc}")
        self.audit(
            "rollback", {"incident": inc.id, "restored": back.restored, "detail": back.detail}
        )
        self._finish(
            inc, rem, Outcome.ROLLED_BACK, now, verification=rem.failed_check, rollback=back
        )
        self._next_rung(inc, rem, now)

    def _next_rung(self, inc: Incident, rem: Remediation, now: float) -> None:
        inc = self.book.current(inc)
        tried = rem.tried | {(rem.plan.cause.service, rem.plan.cause.failure_type.value)}
        exhausted = rem.rung + 1 >= len(rem.plan.actions)
        plan = self.reconsider(inc, tried, rem.plan.cause, now, exhausted)
        if plan is not None:
            new = Remediation(inc.id, plan, rem.symptoms, tried=tried, results=rem.results)
            self._active[inc.id] = new
            self._try_start(self.book.current(inc), new, now)
            return
        if exhausted:
            self.planner.record_outcome(rem.plan.strategy, False)
            rem.phase = Phase.DONE
            self.book.escalate(inc, "the ladder is exhausted and the symptom remains", now)
            return
        rem.rung += 1
        rem.phase = Phase.READY
        rem.prepared = None
        self._try_start(self.book.current(inc), rem, now)

    # -- outcomes ------------------------------------------------------------------------

    def _record(
        self,
        inc: Incident,
        rem: Remediation,
        outcome: Outcome,
        started: float,
        now: float,
        detail: str = "",
        verification: Verification | None = None,
        rollback: Rollback | None = None,
        refused: bool = False,
    ) -> ActionResult:
        result = ActionResult(rem.action, outcome, started, now, verification, rollback, detail)
        rem.results.append(result)
        self.metrics.actions_total.labels(kind=rem.action.kind.value, outcome=outcome.value).inc()
        if refused:
            self.guards.cancel(rem.action, inc)
        else:
            self.guards.record(result, inc, now)
        self.store.record_action(inc.id, result)
        self.audit("action_result", {"incident": inc.id, **ser.result(result)})
        return result

    def _finish(
        self,
        inc: Incident,
        rem: Remediation,
        outcome: Outcome,
        now: float,
        detail: str = "",
        verification: Verification | None = None,
        rollback: Rollback | None = None,
        refused: bool = False,
    ) -> None:
        self._record(
            inc, rem, outcome, rem.started_at, now, detail, verification, rollback, refused
        )
        if rem.intent_id is not None:
            self.store.complete_intent(rem.intent_id, outcome.value, now)
            rem.intent_id = None


def symptoms_of(incident: Incident) -> tuple[SeriesKey, ...]:
    """The series of the rule anomalies that opened or grew ``incident``, in order."""
    return tuple(
        dict.fromkeys(a.series for a in incident.anomalies if is_rule(a) and a.series is not None)
    )


def undo_restores_the_cause(action: Action, cause: Cause) -> bool:
    """Whether rolling ``action`` back would re-apply what the diagnosis blamed: a config
    restore when the cause is a fresh config push, a release rollback when it is a fresh
    deploy (triage marks those causes with the ``config`` / ``version`` indicator)."""
    if action.target != cause.service:
        return False
    if action.kind is ActionKind.UPDATE_CONFIGURATION and any(
        k in action.params for k in CONFIG_RESTORE_PARAMS
    ):
        return cause.indicator == ft.CONFIG
    if action.kind is ActionKind.ROLLBACK_DEPLOYMENT:
        return cause.indicator == ft.VERSION
    return False
