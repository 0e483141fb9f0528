"""The engine: the one place where the loop's stages meet, cycle by cycle.

Each cycle (``step``): collect (monitoring) → detect (rules + detectors) →
correlate into incidents → for each open incident, diagnose (RCA ranking,
triage, impact → a plan) or drive its remediation (guards → approval → execute
→ verify → roll back / next rung / escalate) → resolve the quiet ones. The engine
orchestrates only; each step's decisions live in the part that owns it:

- ``loop.diagnosis``: cause, failure type (through ``analysis.triage``), plan;
- ``loop.remediation``: the typed state machine of one plan's actions;
- ``loop.incidents``: status changes and resolution;
- ``loop.reconcile``: what a predecessor left (a crash, a replica that lost its lease):
  its open incidents adopted, its action in flight verified, never repeated.

With several replicas, only the one that holds the lead (``loop.leadership``) acts;
the others collect and detect every cycle, warm, and the first to find the lead
free takes over.

It talks to the stages only through the ports (``loop.ports``); every step goes
to the audit trail. Execution runs in a small worker pool so the cycle keeps
collecting while an action runs. All time comes from the injected clock: with a
``FakeClock`` and an ``InlinePool`` the whole loop runs in fake time
(tests/loop/test_engine.py). No I/O of its own; the ports do it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from selfheal.analysis.triage import is_rule
from selfheal.core.clock import Clock
from selfheal.core.types import Anomaly, Incident, IncidentStatus
from selfheal.loop import serialize as ser
from selfheal.loop.diagnosis import Diagnoser
from selfheal.loop.incidents import IncidentBook
from selfheal.loop.jobs import JobPool, ThreadPool
from selfheal.loop.leadership import Alone
from selfheal.loop.metrics import EngineMetrics
from selfheal.loop.ports import (
    Collector,
    Correlation,
    Detection,
    Guards,
    Leadership,
    Observation,
    Planner,
    PlatformView,
    Ranker,
    Runner,
    SourceUnavailable,
    Store,
)
from selfheal.loop.reconcile import reconcile
from selfheal.loop.remediation import Remediator
from selfheal.loop.settings import EngineSettings
from selfheal.loop.view import AuditTrail, BusinessLevels, CycleView

log = logging.getLogger(__name__)

#: A loop whose last cycle began longer ago than this many cycles (and at least
#: ``READY_MIN_SECONDS``) is not ready: it stopped cycling, or one cycle hangs. The floor
#: leaves room for a slow cycle (scrape timeouts, platform calls bounded by their timeouts).
READY_STALE_CYCLES = 5
READY_MIN_SECONDS = 30.0
# A standby tries this long after the lease it saw expires (the store compares times
# strictly: at the very moment of expiry the lease still holds).
WAKE_AFTER_EXPIRY_SECONDS = 0.05


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
        detection: Detection,
        correlator: Correlation,
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
        leadership: Leadership | None = None,
    ) -> None:
        self.collector = collector
        self.platform = platform
        self.detection = detection
        self.correlator = correlator
        self.ranker = ranker
        self.runner = runner
        self.store = store
        self.clock = clock
        self.settings = settings or EngineSettings()
        self.metrics = metrics or EngineMetrics()
        self.pool = pool or ThreadPool(2)
        self.leadership: Leadership = leadership or Alone()
        self.view = CycleView()
        self.audit = AuditTrail(store, clock, on_event)
        self.business = BusinessLevels()
        self.book = IncidentBook(
            correlator,
            store,
            guards,
            ranker,
            self.audit,
            settle_seconds=self.settings.settle_seconds,
            resolve_after_seconds=self.settings.resolve_after_seconds,
        )
        self.diagnosis = Diagnoser(
            ranker=ranker,
            planner=planner,
            detection=detection,
            book=self.book,
            view=self.view,
            business=self.business,
            audit=self.audit,
            settings=self.settings,
            in_flight=lambda: self.remediation.in_flight(),
        )
        self.remediation = Remediator(
            planner=planner,
            guards=guards,
            runner=runner,
            store=store,
            platform=platform,
            detection=detection,
            pool=self.pool,
            book=self.book,
            view=self.view,
            audit=self.audit,
            metrics=self.metrics,
            settings=self.settings,
            reconsider=self.diagnosis.reconsider,
        )
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cycles = 0
        self._last_cycle_at: float | None = None
        self._last_error: str = ""
        self._leading = False  # led in the last cycle (the predecessor's work was taken over)

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
        if self._leading:
            self.leadership.release(self.clock.now())
            self._leading = False

    def run_forever(self) -> None:
        while not self._stop.is_set():
            began = self.clock.now()
            self.step()
            self._stop.wait(self._until_next_cycle(began))

    def _until_next_cycle(self, began: float) -> float:
        """Seconds to the next cycle: one cycle after the last began; a standby wakes
        earlier, just after the lease it saw would expire, to take over at once."""
        now = self.clock.now()
        wait = self.settings.cycle_seconds - (now - began)
        wake = self.leadership.wake_at()
        if wake is not None:
            wait = min(wait, wake + WAKE_AFTER_EXPIRY_SECONDS - now)
        return max(0.0, wait)

    def pause(self, by: str = "") -> None:
        self.store.set_paused(True, self.clock.now(), by)
        self.audit("engine_paused", {"by": by})

    def resume(self, by: str = "") -> None:
        self.store.set_paused(False, self.clock.now(), by)
        self.audit("engine_resumed", {"by": by})

    # -- the cycle -----------------------------------------------------------------------------

    def step(self) -> CycleReport:
        """One cycle. A failing stage is logged and counted; the loop goes on (a metrics
        source that gives no view skips the cycle: nothing is judged on it). A replica
        that does not lead only watches (collects and detects, so it is warm to take
        over); one that just took the lead first adopts what its predecessor left."""
        with self._lock:
            began = self.clock.now()
            try:
                leading = self._lead(began)
                report = self._cycle(began) if leading else self._watch(began)
            except SourceUnavailable as exc:  # logged by the collector, once per change
                self._last_error = str(exc)
                self.metrics.source_unavailable_total.inc()
                report = CycleReport(began, 0, (), ())
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

    def _lead(self, now: float) -> bool:
        try:
            leading = self.leadership.lead(now)
        except Exception:  # unsure whether it leads: it must not act
            log.exception("leadership check failed: standing by")
            leading = False
        self.metrics.leader.set(1 if leading else 0)
        if leading and not self._leading:
            # Raising here fails the cycle; the next one takes over again.
            reconcile(self.store, self.book, self.remediation, self.audit, now)
            self._leading = True
        elif not leading and self._leading:
            self._leading = False
            self.book.hand_over(now)  # the successor owns the incidents now
        return leading

    def _watch(self, now: float) -> CycleReport:
        """A standby's cycle: the same collection and detection, nothing decided."""
        obs = self.collector.collect(now)
        self._see(obs, now)
        self.detection.observe(obs.samples)
        self.business.observe(obs.samples)
        return CycleReport(now, 0, (), ())

    def _cycle(self, now: float) -> CycleReport:
        obs = self.collector.collect(now)
        self._see(obs, now)
        found = self.detection.observe(obs.samples)
        self.business.observe(obs.samples)
        anomalies = [*found, *obs.signals]
        self._count(anomalies, obs)
        update = self.correlator.add(anomalies, now, obs.graph)
        for inc in update.opened:
            self.metrics.incidents_total.inc()
            self.book.opened(inc, now)
        for inc in update.grown:
            self.book.grown(inc)
        self.book.note_rule_hits(anomalies, now)
        for inc in list(self.book.open_incidents):
            self._advance(inc, now)
        resolved = self.book.resolve_quiet(now, busy=self.remediation.busy)
        self.metrics.incidents_open.set(len(self.book.open_incidents))
        return CycleReport(now, len(anomalies), tuple(i.id for i in update.opened), resolved)

    def _see(self, obs: Observation, now: float) -> None:
        """This cycle's call graph and platform; a change already answered by a heal, or
        undone by the loop, is history: neither a cause nor a reason for the planner to
        restore it again."""
        context = self.platform.context(now)
        changes = self.book.current_changes(context.changes)
        self.view.graph = obs.graph
        self.view.context = replace(context, changes=changes)

    def _count(self, anomalies: list[Anomaly], obs: Observation) -> None:
        for a in anomalies:
            source = "rule" if is_rule(a) else ("signal" if a in obs.signals else "detector")
            self.metrics.anomalies_total.labels(source=source).inc()

    def _advance(self, inc: Incident, now: float) -> None:
        if inc.status in (IncidentStatus.RESOLVED, IncidentStatus.ESCALATED):
            return
        if self.remediation.get(inc.id) is not None:
            self.remediation.drive(inc, now)
            return
        # One more cycle of evidence before the first diagnosis: symptoms that the same
        # fault causes elsewhere arrive a scrape later. Symptoms already gone (e.g. an echo
        # of a fault another incident healed): nothing to act on; it resolves once quiet.
        quiet = self.book.quiet_for(inc, now) > 1.5 * self.settings.cycle_seconds
        if now - inc.opened_at < self.settings.diagnose_after_seconds or quiet:
            return
        decided = self.diagnosis.diagnose(inc, now)
        if decided is not None:
            self.remediation.begin(self.book.current(inc), decided.plan, decided.symptoms, now)

    # -- views ---------------------------------------------------------------------------------

    def readiness(self) -> tuple[bool, str]:
        """Whether the loop runs its cycles: at least one finished, and the last one began
        within ``max(READY_STALE_CYCLES × cycle_seconds, READY_MIN_SECONDS)``. Lock-free
        (it reads two fields), so a probe answers at once even in the middle of a cycle."""
        cycles, last = self._cycles, self._last_cycle_at
        if cycles == 0 or last is None:
            return False, "no cycle finished yet"
        stale_after = max(READY_STALE_CYCLES * self.settings.cycle_seconds, READY_MIN_SECONDS)
        age = self.clock.now() - last
        if age > stale_after:
            return False, f"the last cycle began {age:.0f} s ago (more than {stale_after:g} s)"
        return True, f"{cycles} cycles, the last began {max(age, 0.0):.1f} s ago"

    def service_graph(self) -> list[tuple[str, str]]:
        """The call graph of the last cycle, as (caller, callee) edges."""
        graph = self.view.graph  # replaced whole each cycle, never changed after
        return [(str(u), str(v)) for u, v in graph.edges()]

    def status(self) -> dict[str, Any]:
        """A JSON-able picture of the engine for the API and the dashboard."""
        health = getattr(self.collector, "health", None)
        with self._lock:
            return {
                "cycles": self._cycles,
                "last_cycle_at": self._last_cycle_at,
                "cycle_seconds": self.settings.cycle_seconds,
                "paused": self.store.paused(),
                "leader": self._leading,
                "dry_run": self.settings.dry_run,
                "series": self.detection.series_count,
                "last_error": self._last_error,
                "metrics_source": health() if callable(health) else None,
                "open_incidents": [
                    {**ser.incident(i), "remediation": self.remediation.describe(i.id)}
                    for i in self.book.open_incidents
                ],
            }
