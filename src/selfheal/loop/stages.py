"""Adapters that fit the real stages to the engine's ports (``selfheal.loop.ports``).

- ``StoreAdapter``: the state store (``selfheal.store``): audit chain, intent
  journal, incidents, approvals, pause flag.
- ``PlannerAdapter`` / ``GuardsAdapter``: the decision layer's planner and guards.
- ``RankerAdapter``: the RCA ranker (``selfheal.analysis.rca.rank``) fed from the
  indicator history.

Each adapter only translates; the logic stays in its stage.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import networkx as nx

from selfheal.analysis.rca import live
from selfheal.core.errors import LeadershipLost
from selfheal.core.platform import PlanningContext
from selfheal.core.telemetry import CallSample, LogRecord, SpanRecord
from selfheal.core.types import (
    Action,
    ActionResult,
    Cause,
    Incident,
    IncidentStatus,
    Outcome,
    Plan,
)
from selfheal.decision.guards import Guards
from selfheal.decision.guards import Verdict as GuardVerdict
from selfheal.decision.planner import Planner
from selfheal.loop import serialize as ser
from selfheal.loop.ports import Verdict
from selfheal.monitoring.log_window import LogWindow
from selfheal.monitoring.span_window import SpanWindow, calls_of
from selfheal.monitoring.window_store import WindowStore
from selfheal.store.incidents import IncidentRecord
from selfheal.store.leases import Lease
from selfheal.store.outcomes import StrategyOutcomes
from selfheal.store.past_incidents import PastIncidents
from selfheal.store.state import Store

if TYPE_CHECKING:  # the RCA engine itself is imported on first diagnosis
    from selfheal.analysis.rca import PastIncident


class StoreAdapter:
    """``ports.Store`` over ``selfheal.store.Store``."""

    def __init__(self, store: Store, fence: Callable[[], Lease | None] | None = None) -> None:
        """``fence``: the lease every intent is written under (``LeaseLeadership.fence``);
        without one, intents are not fenced (a single replica)."""
        self.store = store
        self._fence = fence
        self._seq = itertools.count(1)

    def audit(self, kind: str, payload: Mapping[str, Any], at: float) -> None:
        self.store.audit.append(kind, dict(payload), at)

    def write_intent(self, incident_id: str, action: Action, at: float) -> str:
        key = f"{incident_id}:{action.describe()}:{at:.3f}:{next(self._seq)}"
        fence = self._fence() if self._fence is not None else None
        if self._fence is not None and fence is None:
            raise LeadershipLost("this replica holds no lease: it does not act")
        self.store.intents.record_intent(key, ser.action(action), incident_id, at, fence=fence)
        return key

    def complete_intent(self, intent_id: str, outcome: str, at: float) -> None:
        self.store.intents.complete(intent_id, outcome, at=at)

    def pending_intents(self) -> list[tuple[str, str, Action]]:
        found = []
        for intent in self.store.intents.pending():
            try:
                action = ser.action_from(dict(intent.action))
            except (KeyError, ValueError, TypeError):
                continue
            found.append((intent.key, intent.incident_id, action))
        return found

    def save_incident(self, incident: Incident) -> None:
        self.store.incidents.upsert(
            incident.id,
            opened_at=incident.opened_at,
            updated_at=incident.updated_at or incident.opened_at,
            status=incident.status,
            services=incident.services,
            causes=[ser.cause(c) for c in incident.causes],
            impact=ser.impact(incident.impact),
            anomalies=[ser.anomaly(a) for a in incident.anomalies[:50]],
        )

    def load_incident(self, incident_id: str) -> Incident | None:
        record = self.store.incidents.get(incident_id)
        return None if record is None else self._incident(record)

    def open_incidents(self) -> list[Incident]:
        found = []
        for status in (IncidentStatus.OPEN, IncidentStatus.REMEDIATING):
            for record in self.store.incidents.list(status=status, limit=1000):
                incident = self._incident(record)
                if incident is not None:
                    found.append(incident)
        return sorted(found, key=lambda i: (i.opened_at, i.id))

    @staticmethod
    def _incident(record: IncidentRecord) -> Incident | None:
        try:
            return ser.incident_from(
                {
                    "id": record.id,
                    "opened_at": record.opened_at,
                    "updated_at": record.updated_at,
                    "status": record.status,
                    "services": record.services,
                    "causes": record.causes,
                    "impact": record.impact,
                    "anomalies": record.anomalies,
                }
            )
        except (KeyError, ValueError, TypeError):
            return None  # written by another version: not resumable, reconciled as lost

    def record_action(self, incident_id: str, result: ActionResult) -> None:
        self.store.incidents.add_action(
            incident_id,
            ser.action(result.action),
            result.outcome.value,
            result.finished_at,
            ser.result(result),
        )

    def request_approval(
        self, incident_id: str, action: Action, at: float, expires_at: float
    ) -> str:
        return str(
            self.store.approvals.request(
                ser.action(action), incident_id, action.risk, expires_at, at
            )
        )

    def approval_status(self, approval_id: str, now: float) -> str:
        self.store.approvals.expire(now)
        request = self.store.approvals.get(approval_id)
        return "expired" if request is None else str(request.status)

    def paused(self) -> bool:
        return self.store.control.paused

    def set_paused(self, paused: bool, at: float, by: str = "") -> None:
        if paused:
            self.store.control.pause(by=by, at=at)
        else:
            self.store.control.resume(by=by, at=at)


class PlannerAdapter:
    """``ports.Planner`` over the decision layer's planner; with ``outcomes`` (the
    store), what the planner learned is restored at start and every outcome saved."""

    def __init__(self, planner: Planner, outcomes: StrategyOutcomes | None = None) -> None:
        self.planner = planner
        self.outcomes = outcomes
        if outcomes is not None:
            planner.playbook.restore_outcomes(outcomes.all())

    def plan(
        self, incident: Incident, cause: Cause, context: PlanningContext, now: float
    ) -> Plan | None:
        plan = self.planner.decide(incident, cause, context).plan
        return plan if plan.actions else None

    def record_outcome(self, strategy: str, success: bool) -> None:
        try:
            self.planner.record_outcome(strategy, success)
        except KeyError:
            return  # not in this playbook (e.g. a plan resumed after a playbook change)
        if self.outcomes is not None:
            self.outcomes.record(strategy, success)


class GuardsAdapter:
    """``ports.Guards`` over the decision layer's ``Guards`` (tokens kept here)."""

    def __init__(self, guards: Guards) -> None:
        self.guards = guards
        self._tokens: dict[tuple[str, str], int] = {}
        self._context = PlanningContext()

    def check(
        self, action: Action, incident: Incident, context: PlanningContext, now: float
    ) -> Verdict:
        self._context = context
        decision = self.guards.check(
            action, incident_id=incident.id, context=context, cause=incident.top_cause
        )
        if decision.verdict is GuardVerdict.ALLOW:
            key = (incident.id, action.describe())
            self._tokens[key] = self.guards.started(
                action, incident_id=incident.id, context=context
            )
            return Verdict(True, decision.reason)
        if decision.verdict is GuardVerdict.PENDING_APPROVAL:
            return Verdict(True, decision.reason, needs_approval=True)
        if decision.verdict is GuardVerdict.ESCALATE:
            return Verdict(False, f"{decision.guard}: {decision.reason}", escalate=True)
        return Verdict(False, f"{decision.guard}: {decision.reason}")

    def cancel(self, action: Action, incident: Incident) -> None:
        token = self._tokens.pop((incident.id, action.describe()), None)
        if token is not None:
            self.guards.cancel(token)

    def record(self, result: ActionResult, incident: Incident, now: float) -> None:
        token = self._tokens.pop((incident.id, result.action.describe()), None)
        if token is None and result.outcome in (
            Outcome.SUCCEEDED,
            Outcome.FAILED,
            Outcome.ROLLED_BACK,
        ):
            token = self.guards.started(
                result.action, incident_id=incident.id, context=self._context
            )
        if token is not None:
            self.guards.finished(token, result.outcome)

    def record_resolution(self, incident: Incident, healed_by_action: bool, now: float) -> None:
        if healed_by_action and incident.top_cause is not None:
            self.guards.healed(incident.top_cause)


class RankerAdapter:
    """``ports.Ranker`` over ``selfheal.analysis.rca.rank`` with the indicator history.

    The RCA reads each service's (and each call edge's) indicator series under its
    own name (``upstream_error_ratio:<target>`` for an edge); per-instance series and
    the business success ratios (a journey's outcome, counted at whichever service
    happens to count it) are left out.

    With ``memory`` (the store's past incidents), each healed incident's symptom
    signature is stored with the cause that healed it, and every ranking reads the
    ``max_past`` most recent back (the RCA's history signal); without it they are
    kept in this process only."""

    def __init__(
        self,
        history: WindowStore,
        baseline_seconds: float = live.METRIC_BASELINE_SECONDS,
        logs: LogWindow | None = None,
        log_baseline_seconds: float = live.LOG_BASELINE_SECONDS,
        max_log_lines: int = live.MAX_LOG_LINES,
        spans: SpanWindow | None = None,
        span_baseline_seconds: float = live.SPAN_BASELINE_SECONDS,
        max_spans: int = live.MAX_SPANS,
        memory: PastIncidents | None = None,
        max_past: int = 200,
        max_causes: int = 10,
    ) -> None:
        if max_causes < 1:
            raise ValueError(f"max_causes must be >= 1, got {max_causes}")
        self.history = history
        self.max_causes = max_causes
        self.baseline_seconds = baseline_seconds
        self.logs = logs
        # Template mining runs on the loop's thread: a short baseline and a cap on the
        # lines keep one diagnosis within a fraction of a cycle.
        self.log_baseline_seconds = log_baseline_seconds
        self.max_log_lines = max_log_lines
        # Spans (from the OTLP receiver): half the cap for the stretch before the
        # incident, half for the incident itself.
        self.spans = spans
        self.span_baseline_seconds = span_baseline_seconds
        self.max_spans = max_spans
        self.memory = memory
        self.max_past = max_past
        self._past: list[PastIncident] | None = None  # newest first
        # Signature of each incident's latest diagnosis, until it is healed or forgotten.
        self._signatures: dict[str, dict[str, float]] = {}

    def _past_incidents(self) -> tuple[PastIncident, ...]:
        if self._past is None:
            from selfheal.analysis.rca import PastIncident
            from selfheal.core.types import FailureType

            stored = self.memory.recent(self.max_past) if self.memory is not None else ()
            self._past = []
            for r in stored:
                try:
                    kind = FailureType(r.failure_type)
                except ValueError:  # written by a version with other failure types
                    kind = FailureType.UNKNOWN
                self._past.append(PastIncident(dict(r.signature), r.root_service, kind))
        return tuple(self._past)

    def learn(self, incident: Incident, cause: Cause, now: float) -> None:
        from selfheal.analysis.rca import PastIncident

        signature = self._signatures.pop(incident.id, None)
        if not signature:
            return  # never diagnosed here, or nothing moved: nothing to match later
        if self.memory is not None:
            self.memory.remember(incident.id, signature, cause.service, cause.failure_type.value)
            self._past = None  # read back from the store (which replaces a re-learned one)
            return
        past = PastIncident(signature, cause.service, cause.failure_type)
        self._past = [past, *self._past_incidents()][: self.max_past]

    def rank(self, incident: Incident, graph: nx.DiGraph, now: float) -> tuple[Cause, ...]:
        from selfheal.analysis.rca import MetricSeries, RCAInput, rank
        from selfheal.analysis.rca import RCAConfig as RankerConfig

        start = min(incident.opened_at, now)
        since = start - self.baseline_seconds
        metrics = []
        for key in self.history.keys():  # noqa: SIM118 - a store, not a dict
            service = key.label("service")
            indicator = live.live_indicator(key.name, key.label("instance"), key.label("target"))
            if service is None or indicator is None:
                continue
            ts, values = self.history.window(key, since=since)
            if ts.size == 0 or all(math.isnan(v) for v in values):
                continue
            metrics.append(MetricSeries(service, indicator, ts, values))
        # Rule anomalies only: the statistical detectors' evidence is too noisy on a
        # busy host to steer the ranking (it stays on the incident for humans).
        logs, baseline_logs = self._logs(start, max(now, start))
        spans, calls = self._traces(start, max(now, start))
        data = RCAInput(
            start=start,
            end=max(now, start),
            graph=graph,
            metrics=tuple(metrics),
            anomalies=tuple(a for a in incident.anomalies if a.detector.startswith("rule:")),
            logs=logs,
            baseline_logs=baseline_logs,
            calls=calls,
            spans=spans,
            past_incidents=self._past_incidents(),
        )
        from selfheal.analysis.rca.signals_history import incident_signature

        self._signatures[incident.id] = incident_signature(data)
        while len(self._signatures) > 4 * self.max_past:
            self._signatures.pop(next(iter(self._signatures)))
        return rank(data, RankerConfig(max_causes=self.max_causes)).causes

    def _traces(
        self, start: float, end: float
    ) -> tuple[tuple[SpanRecord, ...], tuple[CallSample, ...]]:
        """The spans around the incident (for trace patterns) and the calls they
        hold, per edge (for the trace-edge signal)."""
        window = self.spans
        if window is None:
            return (), ()
        half = self.max_spans // 2
        before = window.between(start - self.span_baseline_seconds, start - 1e-6, limit=half)
        kept = before + window.between(start, end, limit=half)
        return tuple(kept), calls_of(kept)

    def _logs(
        self, start: float, end: float
    ) -> tuple[tuple[LogRecord, ...], tuple[LogRecord, ...]]:
        """The incident's log lines and those of the stretch before it."""
        window = self.logs
        if window is None:
            return (), ()
        half = self.max_log_lines // 2
        before = start - self.log_baseline_seconds
        return (
            tuple(window.between(start, end, limit=half)),
            tuple(window.between(before, start - 1e-6, limit=half)),
        )
