"""In-memory siblings of the engine's ports: a scripted world, a runner that
changes it, a store in dicts. Used by the fake-time engine tests."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from selfheal.core.clock import FakeClock
from selfheal.core.errors import PermanentError, ValidationRefused
from selfheal.core.platform import ChangeEvent, ChangeKind, PlanningContext, ServiceState
from selfheal.core.types import (
    Action,
    ActionKind,
    ActionResult,
    Cause,
    FailureType,
    Incident,
    IncidentStatus,
    Plan,
    Sample,
    SeriesKey,
)
from selfheal.loop.ports import Observation, Prepared, Verdict


@dataclass
class World:
    """A tiny shop: error ratio per service, broken until the right action fixes it."""

    clock: FakeClock
    services: tuple[str, ...] = ("frontend", "cart", "cache")
    broken: dict[str, str] = field(default_factory=dict)  # service -> fixing action kind
    executed: list[Action] = field(default_factory=list)
    rolled_back: list[Action] = field(default_factory=list)
    fail_kinds: set[ActionKind] = field(default_factory=set)
    refuse_kinds: set[ActionKind] = field(default_factory=set)  # validation refuses these
    echoes: dict[str, str] = field(default_factory=dict)  # service -> the broken one it calls
    edges: tuple[tuple[str, str], ...] = (("frontend", "cart"), ("cart", "cache"))
    # services whose instance stops answering its scrape (``up`` 0) while broken
    hangs: frozenset[str] = frozenset()

    def collect(self, now: float) -> Observation:
        samples = []
        for svc in self.services:
            sick = svc in self.broken or self.echoes.get(svc, "") in self.broken
            value = 0.5 if sick else 0.001
            samples.append(Sample(SeriesKey.of("error_ratio", {"service": svc}), now, value))
            if svc in self.hangs:
                up = 0.0 if svc in self.broken else 1.0
                samples.append(Sample(SeriesKey.of("up", {"service": svc}), now, up))
        graph = nx.DiGraph(list(self.edges))
        return Observation(now, tuple(samples), (), graph)


class FakePlatform:
    def __init__(self, world: World) -> None:
        self.world = world
        self.expected: list[tuple[str, ChangeKind, float]] = []  # what the loop said it changes

    def context(self, now: float) -> PlanningContext:
        return PlanningContext(
            services={s: ServiceState(s, instances=(f"{s}-0",)) for s in self.world.services}
        )

    def expect(self, service: str, kind: ChangeKind, until: float) -> None:
        self.expected.append((service, kind, until))


class ChangedPlatform(FakePlatform):
    """The fake platform reporting ``changes`` (deploys, config pushes) beside its services."""

    def __init__(self, world: World, *changes: ChangeEvent) -> None:
        super().__init__(world)
        self.changes = changes

    def context(self, now: float) -> PlanningContext:
        return PlanningContext(super().context(now).services, changes=self.changes)


class FakeRanker:
    def __init__(self, confidence: float = 0.9) -> None:
        self.confidence = confidence
        self.learned: list[tuple[str, str]] = []  # (incident id, cause service)

    def learn(self, incident: Incident, cause: Cause, now: float) -> None:
        self.learned.append((incident.id, cause.service))

    def rank(self, incident: Incident, graph: nx.DiGraph, now: float) -> tuple[Cause, ...]:
        # The deepest anomalous service in the call graph is the cause.
        services = sorted(incident.services, key=lambda s: -len(nx.ancestors(graph, s)))
        return tuple(
            Cause(s, self.confidence - 0.1 * i, FailureType.RESOURCE_EXHAUSTION)
            for i, s in enumerate(services)
        )


class WrongFirstRanker:
    """Names ``first`` as the cause for its first ``calls`` rankings, then the truth."""

    def __init__(self, first: str, truth: str, calls: int = 1) -> None:
        self.first, self.truth, self.calls = first, truth, calls

    def learn(self, incident: Incident, cause: Cause, now: float) -> None:
        pass  # this ranker's answers are scripted

    def rank(self, incident: Incident, graph: nx.DiGraph, now: float) -> tuple[Cause, ...]:
        self.calls -= 1
        top, other = (self.first, self.truth) if self.calls >= 0 else (self.truth, self.first)
        return (
            Cause(top, 0.9, FailureType.RESOURCE_EXHAUSTION),
            Cause(other, 0.5, FailureType.RESOURCE_EXHAUSTION),
        )


class FakePlanner:
    def __init__(
        self, ladder: tuple[ActionKind, ...] = (ActionKind.RESTART_SERVICE,), timeout: float = 10.0
    ) -> None:
        self.ladder = ladder
        self.timeout = timeout
        self.outcomes: list[tuple[str, bool]] = []

    def record_outcome(self, strategy: str, success: bool) -> None:
        self.outcomes.append((strategy, success))

    def plan(
        self, incident: Incident, cause: Cause, context: PlanningContext, now: float
    ) -> Plan | None:
        actions = tuple(Action(k, cause.service, timeout_seconds=self.timeout) for k in self.ladder)
        return Plan(incident.id, cause, "fake", actions, now, risk=0.1)


class FakeGuards:
    def __init__(self, approval: bool = False, allow: bool = True) -> None:
        self.approval = approval
        self.allow = allow
        self.recorded: list[ActionResult] = []
        self.resolutions: list[tuple[str, bool]] = []
        self.cancelled: list[Action] = []

    def check(
        self, action: Action, incident: Incident, context: PlanningContext, now: float
    ) -> Verdict:
        if not self.allow:
            return Verdict(False, "budget exhausted")
        return Verdict(True, "ok", needs_approval=self.approval)

    def cancel(self, action: Action, incident: Incident) -> None:
        self.cancelled.append(action)

    def record(self, result: ActionResult, incident: Incident, now: float) -> None:
        self.recorded.append(result)

    def record_resolution(self, incident: Incident, healed_by_action: bool, now: float) -> None:
        self.resolutions.append((incident.id, healed_by_action))


class FakeRunner:
    def __init__(self, world: World) -> None:
        self.world = world

    def prepare(self, action: Action) -> Prepared:
        if action.kind in self.world.refuse_kinds:
            raise ValidationRefused(f"validation refused {action.describe()}: not possible")
        return Prepared(action, snapshot={"broken": dict(self.world.broken)})

    def execute(self, prepared: Prepared) -> str:
        action = prepared.action
        if action.kind in self.world.fail_kinds:
            raise PermanentError(f"{action.kind.value} not possible")
        self.world.executed.append(action)
        if self.world.broken.get(action.target) == action.kind.value:
            del self.world.broken[action.target]
        return "done"

    def rollback(self, prepared: Prepared) -> str:
        self.world.rolled_back.append(prepared.action)
        return "restored"


class MemoryStore:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.intents: dict[str, dict[str, Any]] = {}
        self.incidents: dict[str, Incident] = {}
        self.approvals: dict[str, dict[str, Any]] = {}
        self.actions: list[tuple[str, ActionResult]] = []
        self._paused = False
        self._ids = itertools.count(1)

    def audit(self, kind: str, payload: Mapping[str, Any], at: float) -> None:
        self.events.append((kind, dict(payload)))

    def kinds(self) -> list[str]:
        return [k for k, _ in self.events]

    def write_intent(self, incident_id: str, action: Action, at: float) -> str:
        iid = f"intent-{next(self._ids)}"
        self.intents[iid] = {"incident": incident_id, "action": action, "outcome": None}
        return iid

    def complete_intent(self, intent_id: str, outcome: str, at: float) -> None:
        self.intents[intent_id]["outcome"] = outcome

    def pending_intents(self) -> list[tuple[str, str, Action]]:
        return [
            (i, d["incident"], d["action"]) for i, d in self.intents.items() if d["outcome"] is None
        ]

    def save_incident(self, incident: Incident) -> None:
        self.incidents[incident.id] = incident

    def load_incident(self, incident_id: str) -> Incident | None:
        return self.incidents.get(incident_id)

    def open_incidents(self) -> list[Incident]:
        return [
            i
            for i in self.incidents.values()
            if i.status in (IncidentStatus.OPEN, IncidentStatus.REMEDIATING)
        ]

    def record_action(self, incident_id: str, result: ActionResult) -> None:
        self.actions.append((incident_id, result))

    def request_approval(
        self, incident_id: str, action: Action, at: float, expires_at: float
    ) -> str:
        aid = f"appr-{next(self._ids)}"
        self.approvals[aid] = {"status": "pending", "expires_at": expires_at}
        return aid

    def approval_status(self, approval_id: str, now: float) -> str:
        entry = self.approvals[approval_id]
        if entry["status"] == "pending" and now >= entry["expires_at"]:
            entry["status"] = "expired"
        return str(entry["status"])

    def paused(self) -> bool:
        return self._paused

    def set_paused(self, paused: bool, at: float, by: str = "") -> None:
        self._paused = paused
