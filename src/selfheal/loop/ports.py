"""The seams the engine drives, one small protocol per stage.

``selfheal.loop.engine`` and its parts (diagnosis, remediation, incident book,
reconciliation) talk only to these protocols; ``selfheal.loop.wiring`` fills
them with the real stages (monitoring's scraper and indicators, the live
detection and the correlator, the RCA ranker, the decision planner and guards,
the execution runner, the store) and the tests fill them with in-memory fakes.
Each protocol has one job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import networkx as nx

from selfheal.analysis.correlation import CorrelationUpdate
from selfheal.core.errors import SelfHealError
from selfheal.core.platform import ChangeKind, PlanningContext
from selfheal.core.types import (
    Action,
    ActionResult,
    Anomaly,
    Cause,
    Incident,
    Plan,
    Sample,
    SeriesKey,
)
from selfheal.execution.runner import Prepared

# ``Prepared`` is the execution layer's; it is named here because the ``Runner`` port
# hands it between the engine's calls.
__all__ = [
    "Collector",
    "Correlation",
    "Detection",
    "Guards",
    "Observation",
    "Planner",
    "PlatformView",
    "Prepared",
    "Ranker",
    "Runner",
    "SourceUnavailable",
    "Store",
    "Verdict",
]


@dataclass(frozen=True, slots=True)
class Observation:
    """What one collection gives the engine.

    ``samples`` are indicator samples (series name = indicator, labels ``service``
    and optionally ``instance``/``target``); ``signals`` are anomalies found
    upstream (e.g. log bursts, new log templates); ``graph`` is the call graph.
    """

    at: float
    samples: tuple[Sample, ...] = ()
    signals: tuple[Anomaly, ...] = ()
    graph: nx.DiGraph = field(default_factory=nx.DiGraph)


class SourceUnavailable(SelfHealError):
    """The collector's metrics source gave no view this cycle (unreachable, slow, a bad
    answer); the message says why. The engine skips the cycle and keeps its last view."""


class Collector(Protocol):
    """Monitoring: one cycle's indicators, upstream signals and call graph. Raises
    ``SourceUnavailable`` when its source gives no view; may also offer ``health()``, a
    JSON-able picture of its source for ``/status``."""

    def collect(self, now: float) -> Observation: ...


class PlatformView(Protocol):
    """What the platform looks like now (instances, versions, changes, dependencies,
    external providers)."""

    def context(self, now: float) -> PlanningContext: ...

    def expect(self, service: str, kind: ChangeKind, until: float) -> None:
        """The loop is about to change ``service`` itself: changes of ``kind`` seen on it
        up to ``until`` are the loop's own (``ChangeEvent.by_selfheal``), never a cause."""
        ...


class Detection(Protocol):
    """Analysis: rules and detectors over each cycle's indicator samples, and what they
    know of each series (baseline, breaching now, warmed up, last seen)."""

    @property
    def series_count(self) -> int: ...

    def observe(self, samples: Iterable[Sample]) -> list[Anomaly]: ...

    def baseline(self, series: SeriesKey) -> float | None: ...

    def breaching(self, series: SeriesKey) -> bool:
        """Whether a rule's condition held on the latest sample of ``series``."""
        ...

    def warm(self, series: SeriesKey) -> bool:
        """Whether ``series`` is past its warm-up, so that its rules judge it."""
        ...

    def last_seen(self, series: SeriesKey) -> float:
        """Time of the latest sample of ``series`` (``-inf`` if never seen)."""
        ...

    def latest(self, series: SeriesKey) -> float | None:
        """The latest value of ``series`` (``None`` if never seen)."""
        ...

    def series_of(self, service: str) -> tuple[SeriesKey, ...]:
        """Every series of ``service`` (label ``service``) the detection follows."""
        ...


class Correlation(Protocol):
    """Analysis: anomalies folded into incidents; the open incidents' current values."""

    @property
    def open_incidents(self) -> list[Incident]: ...

    def add(
        self, anomalies: Iterable[Anomaly], now: float, graph: nx.DiGraph | None = None
    ) -> CorrelationUpdate: ...

    def get(self, incident_id: str) -> Incident | None: ...

    def update(self, incident: Incident) -> None:
        """Replace the stored value of an open incident (causes, status, impact)."""
        ...

    def freeze(self, incident_id: str) -> None:
        """Fix an open incident's scope: it absorbs only its own services' symptoms."""
        ...

    def split(self, incident_id: str, services: frozenset[str], now: float) -> Incident | None:
        """Move the symptoms of ``services`` into a new incident; the new one, or None."""
        ...

    def close(self, incident_id: str) -> Incident | None: ...

    def adopt(self, incident: Incident, last_seen: float) -> None:
        """Take over an incident restored from the store after a restart."""
        ...


class Ranker(Protocol):
    """RCA: ranked causes of an incident, most likely first (all of them, any confidence)."""

    def rank(self, incident: Incident, graph: nx.DiGraph, now: float) -> tuple[Cause, ...]: ...

    def learn(self, incident: Incident, cause: Cause, now: float) -> None:
        """Feedback: a remediation of ``cause`` healed ``incident`` (remembered, so a
        similar incident later points at the same cause)."""
        ...


class Planner(Protocol):
    """Decision: the plan (ladder) for a cause, or ``None`` when no strategy fits."""

    def plan(
        self, incident: Incident, cause: Cause, context: PlanningContext, now: float
    ) -> Plan | None: ...

    def record_outcome(self, strategy: str, success: bool) -> None:
        """Feedback: whether the strategy's plan healed its incident (learned odds)."""
        ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """A guard's answer for one action."""

    allowed: bool
    reason: str = ""
    needs_approval: bool = False
    escalate: bool = False  # stop acting on this incident; a human must look (recurrence, breaker)


class Guards(Protocol):
    """Decision: may this action run now?"""

    def check(
        self, action: Action, incident: Incident, context: PlanningContext, now: float
    ) -> Verdict: ...

    def cancel(self, action: Action, incident: Incident) -> None:
        """An allowed action did not start after all: give back what ``check`` took."""
        ...

    def record(self, result: ActionResult, incident: Incident, now: float) -> None:
        """Tell the guards an action ran (cooldowns, budgets, breaker)."""
        ...

    def record_resolution(self, incident: Incident, healed_by_action: bool, now: float) -> None:
        """Tell the guards an incident resolved (recurrence counting)."""
        ...


class Runner(Protocol):
    """Execution: validate+snapshot, execute, roll back one action (blocking calls)."""

    def prepare(self, action: Action) -> Prepared: ...

    def execute(self, prepared: Prepared) -> str:
        """Do it; return a detail line. Raises ``TemporaryError``/``PermanentError``."""
        ...

    def rollback(self, prepared: Prepared) -> str:
        """Undo it from the snapshot; return a detail line. Raises on failure."""
        ...


class Leadership(Protocol):
    """Coordination: whether this replica leads (acts) or stands by (watches)."""

    def lead(self, now: float) -> bool:
        """Renew or take the lead; whether this replica leads now. Raising counts as
        not leading."""
        ...

    def release(self, now: float) -> None:
        """Let the lead go (a clean shutdown), so a standby takes over at once."""
        ...

    def wake_at(self) -> float | None:
        """For a standby: when the lead it saw held expires (the moment to try again,
        rather than a cycle later); ``None`` when it leads or knows no such moment."""
        ...


class Store(Protocol):
    """State: audit trail, intents, incidents, approvals, the pause flag."""

    def audit(self, kind: str, payload: Mapping[str, Any], at: float) -> None: ...

    def write_intent(self, incident_id: str, action: Action, at: float) -> str:
        """Record the intent to act; raises ``LeadershipLost`` when this replica no
        longer leads (nothing written)."""
        ...

    def complete_intent(self, intent_id: str, outcome: str, at: float) -> None: ...

    def pending_intents(self) -> list[tuple[str, str, Action]]:
        """(intent id, incident id, action) of intents written but never completed."""
        ...

    def save_incident(self, incident: Incident) -> None: ...

    def load_incident(self, incident_id: str) -> Incident | None:
        """An incident as last saved (after a restart), or None when unknown."""
        ...

    def open_incidents(self) -> list[Incident]:
        """Incidents saved as neither resolved nor escalated (a predecessor's, after a
        restart or a takeover)."""
        ...

    def record_action(self, incident_id: str, result: ActionResult) -> None: ...

    def request_approval(
        self, incident_id: str, action: Action, at: float, expires_at: float
    ) -> str: ...

    def approval_status(self, approval_id: str, now: float) -> str:
        """'pending' | 'approved' | 'denied' | 'expired'."""
        ...

    def paused(self) -> bool: ...

    def set_paused(self, paused: bool, at: float, by: str = "") -> None: ...
