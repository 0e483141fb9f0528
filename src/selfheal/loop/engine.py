"""The engine: the one place where the loop's stages meet.

Each cycle (``step``): collect → detect (rules + detectors) → correlate into
incidents → diagnose (RCA ranking, failure-type classification, impact) → plan →
guards → approval → execute → verify → roll back / escalate → resolve. Every step
goes to the audit trail. Execution runs in a small worker pool so that the cycle
keeps collecting while an action runs; verification is done here, cycle by cycle:
an action succeeded when the symptom that opened the incident is gone for
``verify_cycles`` consecutive cycles before the action's timeout, else it is
rolled back. A restart or cache clear whose target serves again while the symptom
has not eased once in ``early_verdict_seconds`` is given up before its timeout.
After an action that did not help, the evidence is ranked again: a different
cause, not tried yet, gets its own plan; otherwise the next rung of the ladder is
tried.

The intent to act is written to the store before an action starts and completed
after; at start the engine reconciles intents left pending by a crash: it does
not run them again; it takes over their incident from the store and verifies
them like any other action (so an action is neither repeated nor lost).

All time comes from the injected clock; with a ``FakeClock`` and an inline job
pool the whole loop runs in fake time (see tests/loop/test_engine.py). This
module does no I/O of its own; the ports do.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import networkx as nx

from selfheal.analysis import classification, impact
from selfheal.analysis.correlation import Correlator
from selfheal.analysis.rules import LiveDetection
from selfheal.core import indicators as ind
from selfheal.core.clock import Clock
from selfheal.core.errors import PermanentError
from selfheal.core.platform import PlanningContext
from selfheal.core.types import (
    Action,
    ActionKind,
    ActionResult,
    Anomaly,
    Cause,
    FailureType,
    Incident,
    IncidentStatus,
    Outcome,
    Plan,
    Rollback,
    SeriesKey,
    Verification,
)
from selfheal.loop import serialize as ser
from selfheal.loop.metrics import EngineMetrics
from selfheal.loop.ports import (
    Collector,
    Guards,
    Observation,
    Planner,
    PlatformView,
    Prepared,
    Ranker,
    Runner,
    Store,
)

log = logging.getLogger(__name__)


class JobPool(Protocol):
    def submit(self, fn: Callable[[], Any]) -> Future[Any]: ...

    def shutdown(self, wait: bool = True) -> None: ...


class InlinePool:
    """Runs each job at once in the caller's thread (fake-time tests)."""

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn())
        except BaseException as exc:  # the engine reads it from the future
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True) -> None:
        return None


class ThreadPool:
    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="selfheal-action")

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        return self._pool.submit(fn)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class EngineSettings:
    cycle_seconds: float = 2.0
    rca_threshold: float = 0.7
    approval_expiry_seconds: float = 900.0
    dry_run: bool = False
    verify_cycles: int = 2  # consecutive healthy cycles that prove the symptom gone
    resolve_after_seconds: float = 10.0
    diagnose_attempts: int = 10  # cycles to wait for a confident cause before escalating
    diagnose_after_seconds: float = 0.0  # evidence gathered before the first diagnosis
    settle_seconds: float = 8.0  # after a heal, its echoes elsewhere are left to fade
    change_window_seconds: float = 900.0
    # A restart or cache clear whose target is healthy again while the symptom has not
    # eased once for this long did not reach the cause: give up on it before its timeout
    # (0 disables). Actions whose rollback restores state always wait for their timeout.
    early_verdict_seconds: float = 12.0


@dataclass(slots=True)
class _Remediation:
    incident_id: str
    plan: Plan
    symptoms: tuple[SeriesKey, ...]
    rung: int = 0
    state: str = "ready"  # ready | approval | running | verifying | rolling_back | done
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
    tried: frozenset[tuple[str, str]] = frozenset()  # (service, failure type) acted on
    blocked_reason: str = ""
    failed_check: Verification | None = None
    results: list[ActionResult] = field(default_factory=list)

    @property
    def action(self) -> Action:
        return self.plan.actions[self.rung]


@dataclass(frozen=True, slots=True)
class CycleReport:
    at: float
    anomalies: int
    opened: tuple[str, ...]
    resolved: tuple[str, ...]


class Engine:
    """Drives the loop; see the module docstring."""

    def __init__(
        self,
        *,
        collector: Collector,
        platform: PlatformView,
        detection: LiveDetection,
        correlator: Correlator,
        ranker: Ranker,
        planner: Planner,
        guards: Guards,
        runner: Runner,
        store: Store,
        clock: Clock,
        settings: EngineSettings | None = None,
        metrics: EngineMetrics | None = None,
        pool: JobPool | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.collector = collector
        self.platform = platform
        self.detection = detection
        self.correlator = correlator
        self.ranker = ranker
        self.planner = planner
        self.guards = guards
        self.runner = runner
        self.store = store
        self.clock = clock
        self.settings = settings or EngineSettings()
        self.metrics = metrics or EngineMetrics()
        self.pool = pool or ThreadPool(2)
        self._on_event = on_event
        self._remediations: dict[str, _Remediation] = {}
        self._diagnose_tries: dict[str, int] = {}
        self._evidence_seen: dict[str, int] = {}
        self._waiting: dict[str, str] = {}  # incident id -> the incident it waits behind
        self._healed_at: dict[str, float] = {}  # service -> when an action last healed it
        self._settling: dict[str, tuple[str, float]] = {}  # incident -> (cause service, healed)
        self._last_rule_hit: dict[str, float] = {}  # incident id -> last rule anomaly time
        self._graph: nx.DiGraph = nx.DiGraph()
        self._context = PlanningContext()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cycles = 0
        self._last_cycle_at: float | None = None
        self._last_error: str = ""
        self._resolved: list[Incident] = []
        self._reconciled = False
        self._business_series: dict[str, SeriesKey] = {}
        # (service, change kind, from, to): platform changes our own actions made
        self._touches: list[tuple[str, str, float, float]] = []
        self._business_last: dict[str, float] = {}

    # -- control -------------------------------------------------------------------------------

    def start(self) -> None:
        """Run cycles in a background thread until ``stop``."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run_forever, name="selfheal-engine", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.pool.shutdown(wait=False)

    def run_forever(self) -> None:
        while not self._stop.is_set():
            began = self.clock.now()
            self.step()
            elapsed = self.clock.now() - began
            self._stop.wait(max(0.0, self.settings.cycle_seconds - elapsed))

    def pause(self, by: str = "") -> None:
        self.store.set_paused(True, self.clock.now(), by)
        self._audit("engine_paused", {"by": by})

    def resume(self, by: str = "") -> None:
        self.store.set_paused(False, self.clock.now(), by)
        self._audit("engine_resumed", {"by": by})

    # -- the cycle -----------------------------------------------------------------------------

    def step(self) -> CycleReport:
        """One cycle. A failing stage is logged and counted; the loop goes on."""
        with self._lock:
            began = self.clock.now()
            if not self._reconciled:
                self._reconcile()
            try:
                report = self._cycle(began)
            except Exception as exc:  # one bad cycle must not kill the loop
                log.exception("engine cycle failed")
                self._last_error = f"{type(exc).__name__}: {exc}"
                self.metrics.cycle_errors_total.inc()
                report = CycleReport(began, 0, (), ())
            self._cycles += 1
            self._last_cycle_at = began
            self.metrics.cycles_total.inc()
            self.metrics.cycle_seconds.observe(max(0.0, self.clock.now() - began))
            self.metrics.paused.set(1 if self.store.paused() else 0)
            self.metrics.series.set(self.detection.series_count)
            return report

    def _cycle(self, now: float) -> CycleReport:
        obs = self.collector.collect(now)
        self._graph = obs.graph
        context = self.platform.context(now)
        # A change already answered by a heal is history: neither a cause nor a reason
        # for the planner to restore a configuration again.
        self._context = replace(
            context,
            changes=tuple(
                c for c in context.changes if c.at > self._healed_at.get(c.service, float("-inf"))
            ),
        )
        found = self.detection.observe(obs.samples)
        for sample in obs.samples:
            if sample.series.name in ind.BUSINESS_INDICATORS:
                self._business_series[sample.series.name] = sample.series
                self._business_last[sample.series.name] = sample.value
        anomalies = [*found, *obs.signals]
        for a in anomalies:
            source = "rule" if _is_rule(a) else ("signal" if a in obs.signals else "detector")
            self.metrics.anomalies_total.labels(source=source).inc()
        update = self.correlator.add(anomalies, now, obs.graph)
        for inc in update.opened:
            self.metrics.incidents_total.inc()
            self._last_rule_hit[inc.id] = now
            self.store.save_incident(inc)
            self._audit(
                "incident_opened",
                {"incident": inc.id, "signals": [ser.anomaly(a) for a in inc.anomalies]},
            )
        for inc in update.grown:
            self.store.save_incident(inc)
        self._note_rule_hits(anomalies, now)
        for inc in list(self.correlator.open_incidents):
            self._advance(inc, obs, now)
        resolved = self._resolve_quiet(now)
        self.metrics.incidents_open.set(len(self.correlator.open_incidents))
        return CycleReport(now, len(anomalies), tuple(i.id for i in update.opened), resolved)

    def _note_rule_hits(self, anomalies: list[Anomaly], now: float) -> None:
        for inc in self.correlator.open_incidents:
            fps = {a.fingerprint for a in inc.anomalies}
            if any(_is_rule(a) and a.fingerprint in fps for a in anomalies):
                self._last_rule_hit[inc.id] = now

    # -- per incident --------------------------------------------------------------------------

    def _advance(self, inc: Incident, obs: Observation, now: float) -> None:
        if inc.status in (IncidentStatus.RESOLVED, IncidentStatus.ESCALATED):
            return
        rem = self._remediations.get(inc.id)
        if rem is None:
            # One more cycle of evidence before the first diagnosis: symptoms that the
            # same fault causes elsewhere arrive a scrape later.
            quiet = now - self._last_rule_hit.get(inc.id, now) > 1.5 * self.settings.cycle_seconds
            # Symptoms already gone (e.g. an echo of a fault another incident healed):
            # nothing to act on; it resolves once quiet long enough.
            if now - inc.opened_at >= self.settings.diagnose_after_seconds and not quiet:
                self._diagnose(inc, now)
            return
        self._drive(inc, rem, now)

    def _diagnose(self, inc: Incident, now: float) -> None:
        # Count only diagnoses that saw no new evidence: while symptoms keep arriving the
        # picture is still forming, and escalating then would be premature.
        seen = self._evidence_seen.get(inc.id, -1)
        tries = 1 if len(inc.anomalies) > seen else self._diagnose_tries.get(inc.id, 0) + 1
        self._evidence_seen[inc.id] = len(inc.anomalies)
        self._diagnose_tries[inc.id] = tries
        causes = self._rank(inc, now)
        external = self.platform.external()
        business = self._business_levels()
        hurt = impact.assess(inc.anomalies, business, len(self._context.services))
        inc = replace(inc, causes=tuple(causes), impact=hurt, updated_at=now)
        self.correlator.update(inc)
        self.store.save_incident(inc)
        self._audit(
            "incident_diagnosed",
            {
                "incident": inc.id,
                "attempt": tries,
                "causes": [ser.cause(c) for c in causes[:5]],
                "impact": ser.impact(hurt),
            },
        )
        confident = [c for c in causes if c.confidence >= self.settings.rca_threshold]
        if not confident:
            if tries >= self.settings.diagnose_attempts:
                self._escalate(inc, "no cause reached the confidence threshold", now)
            return
        cause = confident[0]
        upstream_of = self._consequence_of(inc, cause)
        if upstream_of is None and inc.id in self._waiting:
            # It waited behind another fault that is now healed and settled: it was that
            # fault's echo. Close it; symptoms that remain open a fresh incident next cycle.
            blocker = self._waiting[inc.id]
            self._resolve(inc, now, healed_by_action=False, reason=f"echo of {blocker}")
            return
        if upstream_of is not None:
            # Another incident's remediation is already working on a service this one
            # calls: its symptoms are likely that fault's echo. Wait, do not pile on.
            self._diagnose_tries[inc.id] = 0
            self.correlator.freeze(inc.id)  # a new fault elsewhere must not hide in here
            if self._waiting.get(inc.id) != upstream_of:
                self._waiting[inc.id] = upstream_of
                self._audit(
                    "incident_waiting",
                    {"incident": inc.id, "behind": upstream_of, "cause": ser.cause(cause)},
                )
            return
        plan = self.planner.plan(inc, cause, self._context, now)
        if plan is None or not plan.actions:
            self._escalate(
                inc, f"no strategy fits {cause.failure_type.value} on {cause.service}", now
            )
            return
        symptoms = tuple(
            dict.fromkeys(a.series for a in inc.anomalies if _is_rule(a) and a.series is not None)
        )
        # An external dependency's own health is not ours to restore (a failover routes
        # around it): verify on our services' symptoms when there are any.
        ours = tuple(k for k in symptoms if k.label("service") not in external)
        symptoms = ours or symptoms
        self._remediations[inc.id] = _Remediation(inc.id, plan, symptoms)
        self._set_status(inc, IncidentStatus.REMEDIATING, now)
        self._audit(
            "decision",
            {
                "incident": inc.id,
                "inputs": {
                    "cause": ser.cause(cause),
                    "impact": ser.impact(hurt),
                    "symptoms": [str(s) for s in symptoms],
                },
                "strategy": plan.strategy,
                "plan": [ser.action(a) for a in plan.actions],
                "risk": plan.risk,
            },
        )
        self._drive(self.correlator.get(inc.id) or inc, self._remediations[inc.id], now)

    def _rank(self, inc: Incident, now: float) -> list[Cause]:
        """The ranker's causes, classified and ordered by hard facts (``_with_facts``)."""
        ranked = self.ranker.rank(inc, self._graph, now)
        changes = [
            classification.Change(c.service, c.kind.value, c.at)
            for c in self._context.changes
            if not getattr(c, "by_selfheal", False)
            and not self._made_by_us(c.service, c.kind.value, c.at)
            # (changes already answered by a heal were dropped from the context in _cycle)
        ]
        since = inc.opened_at - self.settings.change_window_seconds
        return self._with_facts(list(ranked), inc, changes, self.platform.external(), since)

    def _rediagnose(self, inc: Incident, rem: _Remediation, now: float) -> bool:
        """After an action that did not help: does the evidence now name another cause?

        An SRE whose fix failed looks at the evidence again before reaching for the next,
        bigger hammer. When the top confident cause is now a different service or failure
        type, not tried yet, the ladder is replaced by that cause's plan; otherwise the
        ladder goes on. Returns whether a new plan took over.
        """
        tried = rem.tried | {(rem.plan.cause.service, rem.plan.cause.failure_type.value)}
        causes = self._rank(inc, now)
        confident = [c for c in causes if c.confidence >= self.settings.rca_threshold]
        if not confident:
            return False
        cause = confident[0]
        if (cause.service, cause.failure_type.value) in tried:
            return False
        plan = self.planner.plan(inc, cause, self._context, now)
        if plan is None or not plan.actions:
            return False
        inc = replace(inc, causes=tuple(causes), updated_at=now)
        self.correlator.update(inc)
        self.store.save_incident(inc)
        self._audit(
            "incident_rediagnosed",
            {
                "incident": inc.id,
                "previous": ser.cause(rem.plan.cause),
                "cause": ser.cause(cause),
                "reason": "the action on the previous cause did not remove the symptom",
                "strategy": plan.strategy,
                "plan": [ser.action(a) for a in plan.actions],
                "risk": plan.risk,
            },
        )
        new = _Remediation(inc.id, plan, rem.symptoms, tried=tried, results=rem.results)
        self._remediations[inc.id] = new
        self._try_start(inc, new, now)
        return True

    def _consequence_of(self, inc: Incident, cause: Cause) -> str | None:
        """The id of another incident under remediation (or healed moments ago, while its
        echoes settle) whose cause this one depends on."""
        now = self.clock.now()
        origins = [
            (other_id, rem.plan.cause.service)
            for other_id, rem in self._remediations.items()
            if other_id != inc.id and rem.state != "done"
        ]
        grace = self.settings.settle_seconds
        self._settling = {k: v for k, v in self._settling.items() if now - v[1] <= grace}
        origins += [(other_id, origin) for other_id, (origin, _) in self._settling.items()]
        for other_id, origin in origins:
            if origin == cause.service:
                return other_id
            if origin in self._graph and any(
                s in self._graph and nx.has_path(self._graph, s, origin) for s in inc.services
            ):
                return other_id
        return None

    def _made_by_us(self, service: str, kind: str, at: float) -> bool:
        """Whether a platform change is the loop's own doing (an action or its rollback)."""
        return any(
            svc == service and k == kind and start <= at <= end
            for svc, k, start, end in self._touches
        )

    def _touch(self, action: Action, start: float, now: float) -> None:
        kind = _CHANGE_OF.get(action.kind)
        if kind is None:
            return  # restarts, drains and cache clears change no version or config
        # The platform view sees the change on the next cycle: allow a few cycles.
        end = now + 3 * self.settings.cycle_seconds + 2.0
        self._touches = [t for t in self._touches if t[3] > now - 3600]
        self._touches.append((action.target, kind, start - 2.0, end))

    def _with_facts(
        self,
        ranked: list[Cause],
        inc: Incident,
        changes: list[classification.Change],
        external: frozenset[str],
        since: float,
    ) -> list[Cause]:
        """Classify every cause; put causes backed by a hard fact first.

        A hard fact is a change on the service just before the incident (deploy,
        config push), a dead instance, a failing external dependency, or a resource
        rule (memory, CPU, pool) broken on the service itself: what an SRE checks
        first ("what changed? what is down? what is full?"). Such a cause gets
        at least the confidence threshold, and joins the list if the ranker missed it.
        """
        known = {c.service for c in ranked}
        # Services the incident's failing calls go to are candidates too, before their
        # own symptoms arrive (a callee's error ratio needs more requests to show).
        for service in sorted(inc.services | _failing_callees(inc)):
            if service not in known:
                ranked.append(Cause(service, 0.0))
                known.add(service)
        out: list[tuple[int, Cause]] = []
        # Rule evidence only: a statistical detector flagging a flat memory series on a
        # busy host must not turn a network delay into "memory exhausted".
        evidence = [a for a in inc.anomalies if _is_rule(a)]
        for c in ranked:
            callees = list(self._graph.successors(c.service)) if c.service in self._graph else []
            found = classification.classify(c, evidence, changes, external, since, callees)
            fact = self._fact_rank(c, found, inc, external)
            # The live evidence is more specific than a ranker's guess from names.
            if found.reason != "no rule matched" or c.failure_type is FailureType.UNKNOWN:
                c = classification.apply(c, found)
            elif found.instance and not c.instance:
                c = replace(c, instance=found.instance)
            if fact:
                floor = min(1.0, self.settings.rca_threshold + 0.05 * fact)
                c = replace(c, confidence=max(c.confidence, floor))
            out.append((fact, c))
        # Equal evidence: the service deeper in the call graph (called by more of the
        # incident's services) is the likelier origin; symptoms travel up to callers.
        depth = {
            c.service: len(nx.ancestors(self._graph, c.service) & inc.services)
            if c.service in self._graph
            else 0
            for _, c in out
        }
        out.sort(key=lambda fc: (-fc[0], -depth[fc[1].service], -fc[1].confidence))
        merged: dict[str, Cause] = {}
        for _, c in out:
            merged.setdefault(c.service, c)
        return list(merged.values())

    def _fact_rank(
        self,
        c: Cause,
        found: classification.Classification,
        inc: Incident,
        external: frozenset[str],
    ) -> int:
        """How hard the evidence for ``c`` is: 0 none … 5 a change just before the incident."""
        own = [a for a in inc.anomalies if a.service == c.service and _is_rule(a)]
        if not own and c.service not in _failing_callees(inc):
            return 0  # a fact about a service with no symptom of its own proves nothing
        if found.indicator in ("version", "config"):
            return 5  # failing calls toward it count as its symptom here
        if not own:
            return 0
        if found.indicator == ind.UP:
            return 4
        if any(a.indicator in (ind.CPU, ind.MEMORY) for a in own):
            return 3  # the process itself is sick
        failing = {a.instance for a in own if a.indicator == ind.ERROR_RATIO and a.instance}
        state = self._context.service(c.service)
        passed_on = any(a.indicator == ind.UPSTREAM_ERROR_RATIO for a in own)
        callees = set(self._graph.successors(c.service)) if c.service in self._graph else set()
        callee_errs = any(
            a.service in callees and a.indicator == ind.ERROR_RATIO and _is_rule(a)
            for a in inc.anomalies
        )
        if (
            len(failing) == 1
            and not passed_on
            and not callee_errs
            and state is not None
            and state.instances_total >= 2
        ):
            # One instance fails while its siblings serve and nothing it calls fails (a
            # failing callee would be the likelier origin): that process is sick.
            return 3
        slower = {
            a.instance
            for a in own
            if a.indicator in (ind.LATENCY_VS_PEERS, ind.UPSTREAM_LATENCY_VS_PEERS) and a.instance
        }
        if len(slower) == 1 and state is not None and state.instances_total >= 2:
            # One instance (or its calls) much slower than its siblings under the same
            # load: that process or its network path is sick.
            return 2
        if found.failure_type is FailureType.EXTERNAL_DEPENDENCY and (
            (found.service or c.service) in external
        ):
            return 2
        if found.failure_type is FailureType.DATA_CORRUPTION and found.service:
            return 2
        if any(a.indicator in classification.RESOURCE_INDICATORS for a in own):
            return 1  # a full pool is often a slow callee's symptom: weakest
        return 0

    def _drive(self, inc: Incident, rem: _Remediation, now: float) -> None:
        if rem.state == "ready":
            self._try_start(inc, rem, now)
        elif rem.state == "approval":
            self._check_approval(inc, rem, now)
        elif rem.state == "running":
            self._check_job(inc, rem, now)
        elif rem.state == "verifying":
            self._verify(inc, rem, now)
        elif rem.state == "rolling_back":
            self._check_rollback(inc, rem, now)

    def _try_start(
        self, inc: Incident, rem: _Remediation, now: float, approved: bool = False
    ) -> None:
        action = rem.action
        if self.store.paused():
            self._block_once(rem, "paused: the loop takes no action while paused", action, now)
            return
        if not approved:
            verdict = self.guards.check(action, inc, self._context, now)
            if verdict.escalate:
                self._record(inc, rem, Outcome.BLOCKED, now, now, detail=verdict.reason)
                self._escalate(inc, verdict.reason, now)
                return
            if not verdict.allowed:
                self._block_once(rem, verdict.reason, action, now)
                return
            if verdict.needs_approval:
                expires = now + self.settings.approval_expiry_seconds
                rem.approval_id = self.store.request_approval(inc.id, action, now, expires)
                rem.state = "approval"
                self._audit(
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
            rem.state = "done"
            return
        rem.intent_id = self.store.write_intent(inc.id, action, now)
        self._audit(
            "intent", {"incident": inc.id, "intent": rem.intent_id, "action": ser.action(action)}
        )
        rem.state = "running"
        rem.started_at = now
        rem.blocked_reason = ""
        rem.healthy_cycles = 0

        def job() -> tuple[Prepared, str]:
            prepared = self.runner.prepare(action)
            if prepared.skip_reason:
                return prepared, ""
            return prepared, self.runner.execute(prepared)

        self._audit("action_started", {"incident": inc.id, "action": ser.action(action)})
        rem.job = self.pool.submit(job)
        self._check_job(inc, rem, now)

    def _block_once(self, rem: _Remediation, reason: str, action: Action, now: float) -> None:
        if rem.blocked_reason != reason:
            rem.blocked_reason = reason
            self.metrics.actions_total.labels(kind=action.kind.value, outcome="blocked").inc()
            self._audit(
                "guard_blocked",
                {"incident": rem.incident_id, "action": ser.action(action), "reason": reason},
            )

    def _check_approval(self, inc: Incident, rem: _Remediation, now: float) -> None:
        assert rem.approval_id is not None
        status = self.store.approval_status(rem.approval_id, now)
        if status == "pending":
            return
        self._audit(f"approval_{status}", {"incident": inc.id, "approval": rem.approval_id})
        if status == "approved":
            rem.state = "ready"
            self._try_start(inc, rem, now, approved=True)
        else:
            outcome = Outcome.DENIED if status == "denied" else Outcome.EXPIRED
            self._record(inc, rem, outcome, now, now, detail=f"approval {status}")
            self._escalate(inc, f"approval {status} for {rem.action.describe()}", now)

    def _check_job(self, inc: Incident, rem: _Remediation, now: float) -> None:
        job = rem.job
        if job is None or not job.done():
            return
        rem.job = None
        try:
            prepared, detail = job.result()
        except Exception as exc:
            kind = "permanent" if isinstance(exc, PermanentError) else "error"
            self._finish(inc, rem, Outcome.FAILED, now, detail=f"{kind}: {exc}")
            self._next_rung(inc, rem, now)
            return
        rem.prepared = prepared
        if prepared.skip_reason:
            self._finish(inc, rem, Outcome.SKIPPED, now, detail=prepared.skip_reason)
            self._next_rung(inc, rem, now)
            return
        self._touch(rem.action, rem.started_at, now)
        rem.state = "verifying"
        rem.executed_at = now
        rem.deadline = now + rem.action.timeout_seconds
        self._audit(
            "action_executed",
            {"incident": inc.id, "action": ser.action(rem.action), "detail": detail},
        )

    def symptom_gone(self, rem: _Remediation, now: float) -> bool:
        """The verification: every series that opened the incident is healthy again."""
        return self._healthy(rem.symptoms, rem, now)

    def _healthy(self, keys: tuple[SeriesKey, ...], rem: _Remediation, now: float) -> bool:
        stale_after = 3 * self.settings.cycle_seconds
        for key in keys:
            seen = self.detection.last_seen(key)
            if seen <= rem.executed_at:
                if now - rem.executed_at < stale_after:
                    return False
                # The series vanished (instance replaced / removed): not a symptom any more.
                continue
            if not self.detection.warm(key) and key.name != ind.UP:
                return False  # a loop restarted moments ago cannot judge it yet
            if self.detection.breaching(key):
                return False
        return True

    def _verify(self, inc: Incident, rem: _Remediation, now: float) -> None:
        if self.symptom_gone(rem, now):
            rem.healthy_cycles += 1
            rem.eased = True
        else:
            rem.healthy_cycles = 0
        if rem.healthy_cycles >= self.settings.verify_cycles:
            check = Verification(True, now, "the symptom that opened the incident is gone")
            self._audit(
                "verification", {"incident": inc.id, "passed": True, "detail": check.detail}
            )
            self._finish(inc, rem, Outcome.SUCCEEDED, now, verification=check)
            self.planner.record_outcome(rem.plan.strategy, True)
            rem.state = "done"
            self._resolve(inc, now, healed_by_action=True)
            return
        missed = self._missed_target(rem, now)
        if self._did_its_part(rem, now):
            if rem.own_healthy_since is None:
                rem.own_healthy_since = now
        else:
            rem.own_healthy_since = None
        split_after = self.settings.early_verdict_seconds / 2
        parted = rem.own_healthy_since is not None and (
            now >= rem.deadline or missed or now - rem.own_healthy_since >= split_after
        )
        if parted:
            # Two faults in one incident: the action healed its cause (every symptom on
            # the cause's service gone for a while) while symptoms elsewhere remain. It is
            # not rolled back; the incident closes and what remains opens its own.
            origin = rem.plan.cause.service
            check = Verification(
                True,
                now,
                f"the symptoms on {origin} are gone; those on other services remain"
                " and are diagnosed on their own",
            )
            self._audit(
                "verification", {"incident": inc.id, "passed": True, "detail": check.detail}
            )
            self._finish(inc, rem, Outcome.SUCCEEDED, now, verification=check)
            self.planner.record_outcome(rem.plan.strategy, True)
            rem.state = "done"
            self._resolve(inc, now, healed_by_action=True, reason="its cause healed; rest split")
            return
        if now >= rem.deadline or missed:
            detail = (
                f"symptom unchanged {now - rem.executed_at:g} s after the action although"
                f" {rem.action.target} is serving again: the action did not reach the cause"
                if missed and now < rem.deadline
                else f"symptom still present {rem.action.timeout_seconds:g} s after the action"
            )
            check = Verification(False, now, detail)
            self._audit(
                "verification", {"incident": inc.id, "passed": False, "detail": check.detail}
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
                    verification=check,
                )
                rem.state = "done"
                self._escalate(inc, "an action resumed after a restart did not heal", now)
                return
            rem.state = "rolling_back"
            rem.job = self.pool.submit(lambda: self.runner.rollback(prepared))
            rem.deadline = now
            rem.failed_check = check
            self._check_rollback(inc, rem, now)

    def _did_its_part(self, rem: _Remediation, now: float) -> bool:
        """Whether the symptoms nearest the cause — on its own service, or on its direct
        callers when it shows none itself (a corrupt cache shows only in its callers'
        errors) — are gone while others remain."""
        origin = rem.plan.cause.service
        near = {origin}
        if origin in self._graph and not any(k.label("service") == origin for k in rem.symptoms):
            near.update(self._graph.predecessors(origin))
        own = tuple(k for k in rem.symptoms if k.label("service") in near)
        rest = tuple(k for k in rem.symptoms if k.label("service") not in near)
        return bool(own) and bool(rest) and self._healthy(own, rem, now)

    def _missed_target(self, rem: _Remediation, now: float) -> bool:
        """The early verdict: a stateless action whose target serves again (every instance
        ready) while the symptom has not eased once in ``early_verdict_seconds``."""
        early = self.settings.early_verdict_seconds
        if early <= 0 or rem.eased or rem.action.kind not in _STATELESS:
            return False
        if now - rem.executed_at < early:
            return False
        state = self._context.service(rem.action.target)
        return state is not None and state.instances_total > 0 and not state.unready

    def _check_rollback(self, inc: Incident, rem: _Remediation, now: float) -> None:
        job = rem.job
        if job is None or not job.done():
            return
        rem.job = None
        try:
            detail = str(job.result())
            back = Rollback(True, now, detail)
        except Exception as exc:
            back = Rollback(False, now, f"rollback failed: {exc}")
        self._touch(rem.action, rem.deadline, now)
        self._audit(
            "rollback", {"incident": inc.id, "restored": back.restored, "detail": back.detail}
        )
        self._finish(
            inc, rem, Outcome.ROLLED_BACK, now, verification=rem.failed_check, rollback=back
        )
        self._next_rung(inc, rem, now)

    def _next_rung(self, inc: Incident, rem: _Remediation, now: float) -> None:
        inc = self.correlator.get(inc.id) or inc
        if self._rediagnose(inc, rem, now):
            return
        if rem.rung + 1 >= len(rem.plan.actions):
            self.planner.record_outcome(rem.plan.strategy, False)
            rem.state = "done"
            self._escalate(inc, "the ladder is exhausted and the symptom remains", now)
            return
        rem.rung += 1
        rem.state = "ready"
        rem.prepared = None
        self._try_start(self.correlator.get(inc.id) or inc, rem, now)

    # -- outcomes ------------------------------------------------------------------------------

    def _record(
        self,
        inc: Incident,
        rem: _Remediation,
        outcome: Outcome,
        started: float,
        now: float,
        detail: str = "",
        verification: Verification | None = None,
        rollback: Rollback | None = None,
    ) -> ActionResult:
        result = ActionResult(rem.action, outcome, started, now, verification, rollback, detail)
        rem.results.append(result)
        self.metrics.actions_total.labels(kind=rem.action.kind.value, outcome=outcome.value).inc()
        self.guards.record(result, inc, now)
        self.store.record_action(inc.id, result)
        self._audit("action_result", {"incident": inc.id, **ser.result(result)})
        return result

    def _finish(
        self,
        inc: Incident,
        rem: _Remediation,
        outcome: Outcome,
        now: float,
        detail: str = "",
        verification: Verification | None = None,
        rollback: Rollback | None = None,
    ) -> None:
        self._record(inc, rem, outcome, rem.started_at, now, detail, verification, rollback)
        if rem.intent_id is not None:
            self.store.complete_intent(rem.intent_id, outcome.value, now)
            rem.intent_id = None

    def _set_status(self, inc: Incident, status: IncidentStatus, now: float) -> Incident:
        current = self.correlator.get(inc.id) or inc
        updated = replace(current, status=status, updated_at=now)
        self.correlator.update(updated)
        self.store.save_incident(updated)
        return updated

    def _escalate(self, inc: Incident, reason: str, now: float) -> None:
        self._set_status(inc, IncidentStatus.ESCALATED, now)
        self._audit("incident_escalated", {"incident": inc.id, "reason": reason})

    def _resolve(self, inc: Incident, now: float, healed_by_action: bool, reason: str = "") -> None:
        done = self._set_status(inc, IncidentStatus.RESOLVED, now)
        rem = self._remediations.get(inc.id)
        if healed_by_action and rem is not None:
            origin = rem.plan.cause.service
            self._healed_at[origin] = now
            self._settling[inc.id] = (origin, now)
        self.correlator.close(inc.id)
        self.guards.record_resolution(done, healed_by_action, now)
        self._resolved.append(done)
        self._resolved = self._resolved[-200:]
        self._remediations.pop(inc.id, None)
        self._diagnose_tries.pop(inc.id, None)
        self._evidence_seen.pop(inc.id, None)
        self._waiting.pop(inc.id, None)
        self._last_rule_hit.pop(inc.id, None)
        self._audit(
            "incident_resolved",
            {"incident": inc.id, "healed_by_action": healed_by_action, "reason": reason},
        )
        if healed_by_action and rem is not None:
            try:
                self.ranker.learn(done, rem.plan.cause, now)
            except Exception:  # the incident is resolved either way
                log.exception("remembering healed incident %s failed", inc.id)

    def _resolve_quiet(self, now: float) -> tuple[str, ...]:
        """Close incidents whose symptoms stopped with nothing in flight."""
        closed: list[str] = []
        for inc in list(self.correlator.open_incidents):
            rem = self._remediations.get(inc.id)
            if rem is not None and rem.state in (
                "running",
                "verifying",
                "rolling_back",
                "approval",
            ):
                continue
            last = self._last_rule_hit.get(inc.id, inc.opened_at)
            if now - last < self.settings.resolve_after_seconds:
                continue
            if inc.status is IncidentStatus.ESCALATED:
                self.correlator.close(inc.id)
                self._remediations.pop(inc.id, None)
                self._audit("incident_closed", {"incident": inc.id, "status": "escalated"})
            else:
                self._resolve(inc, now, healed_by_action=False)
            closed.append(inc.id)
        return tuple(closed)

    # -- restart safety ------------------------------------------------------------------------

    def _reconcile(self) -> None:
        """Intents written but never completed: the process died mid-action.

        Such an action is never run again. When its incident is in the store, the
        incident is taken over and the action verified like any other (the symptom gone
        within the action's timeout); its snapshot died with the process, so a failed
        verification cannot roll it back and the incident goes to a human. Without its
        incident the intent is closed as "interrupted" and the audit trail says so.
        """
        self._reconciled = True
        now = self.clock.now()
        for intent_id, incident_id, action in self.store.pending_intents():
            inc = self.store.load_incident(incident_id)
            resumable = (
                inc is not None
                and inc.status not in (IncidentStatus.RESOLVED, IncidentStatus.ESCALATED)
                and inc.id not in self._remediations
            )
            if inc is None or not resumable:
                self.store.complete_intent(intent_id, "interrupted", now)
                self._audit(
                    "intent_reconciled",
                    {
                        "intent": intent_id,
                        "incident": incident_id,
                        "action": ser.action(action),
                        "detail": "interrupted by a restart; not repeated (incident not open)",
                    },
                )
                continue
            cause = inc.top_cause or Cause(action.target, 1.0)
            plan = Plan(inc.id, cause, "resumed after restart", (action,), now)
            symptoms = tuple(
                dict.fromkeys(
                    a.series for a in inc.anomalies if _is_rule(a) and a.series is not None
                )
            )
            rem = _Remediation(inc.id, plan, symptoms, state="verifying", intent_id=intent_id)
            rem.started_at = rem.executed_at = now
            rem.deadline = now + action.timeout_seconds
            self._remediations[inc.id] = rem
            inc = replace(inc, status=IncidentStatus.REMEDIATING, updated_at=now)
            self.correlator.adopt(inc, now)
            self._last_rule_hit[inc.id] = now
            self.store.save_incident(inc)
            self._audit(
                "intent_reconciled",
                {
                    "intent": intent_id,
                    "incident": incident_id,
                    "action": ser.action(action),
                    "detail": "interrupted by a restart; not repeated, verified now",
                },
            )

    # -- views ---------------------------------------------------------------------------------

    def _business_levels(self) -> dict[str, tuple[float, float]]:
        levels: dict[str, tuple[float, float]] = {}
        for name in ind.BUSINESS_INDICATORS:
            key = self._business_series.get(name)
            if key is None:
                continue
            base = self.detection.baseline(key)
            current = self._business_last.get(name)
            if base is not None and current is not None:
                levels[name] = (current, base)
        return levels

    def status(self) -> dict[str, Any]:
        """A JSON-able picture of the engine for the API and the dashboard."""
        with self._lock:
            return {
                "cycles": self._cycles,
                "last_cycle_at": self._last_cycle_at,
                "cycle_seconds": self.settings.cycle_seconds,
                "paused": self.store.paused(),
                "dry_run": self.settings.dry_run,
                "series": self.detection.series_count,
                "last_error": self._last_error,
                "open_incidents": [
                    {
                        **ser.incident(i),
                        "remediation": self._remediation_view(self._remediations.get(i.id)),
                    }
                    for i in self.correlator.open_incidents
                ],
            }

    @staticmethod
    def _remediation_view(rem: _Remediation | None) -> dict[str, Any] | None:
        if rem is None:
            return None
        return {
            "strategy": rem.plan.strategy,
            "state": rem.state,
            "rung": rem.rung,
            "action": ser.action(rem.action),
            "results": [ser.result(r) for r in rem.results],
        }

    def _audit(self, kind: str, payload: dict[str, Any]) -> None:
        self.store.audit(kind, payload, self.clock.now())
        if self._on_event is not None:
            try:
                self._on_event(kind, payload)
            except Exception:
                log.exception("event listener failed")


# Actions with nothing to restore on rollback: a wrong one may be given up early.
_STATELESS = frozenset(
    {ActionKind.RESTART_CONTAINER, ActionKind.RESTART_SERVICE, ActionKind.CLEAR_CACHE}
)

_CHANGE_OF = {
    ActionKind.UPDATE_CONFIGURATION: "config",
    ActionKind.FAILOVER: "config",
    ActionKind.ROLLBACK_DEPLOYMENT: "deploy",
    ActionKind.SCALE_SERVICE: "scale",
}


def _failing_callees(inc: Incident) -> set[str]:
    """Services that calls in the incident fail toward (rule ``upstream_error_ratio``)."""
    return {
        target
        for a in inc.anomalies
        if a.indicator == ind.UPSTREAM_ERROR_RATIO
        and _is_rule(a)
        and a.series is not None
        and (target := a.series.label("target")) is not None
    }


def _is_rule(a: Anomaly) -> bool:
    return a.detector.startswith("rule:")
