"""The demo's judge: credits the loop's steps to the faults it plays and decides,
from outside, whether each fault was detected, diagnosed on the right service,
acted on the right target and healed.

The judge may know the topology (it is the testbed's side, like the faults);
the loop may not. Per fault it records:

- ``detected``: while the fault was live, an incident opened on its service or a
  service whose requests reach it, or a decision — or a rediagnosis after an action
  that did not help — named a cause for it;
- ``root_cause``: the cause of the first decision (or rediagnosis) credited to it; the
  actions that follow a decision are credited to the fault it was made for while
  that fault is live (even when a later fault sits on the action's target);
- ``wrong_target_actions``: actions whose target is neither the faulty service
  nor, for a failover or a restart on the caller's side, a direct caller of it;
- ``healed``: after an action succeeded and before the fault could expire, the
  fault's effect is gone (the testbed says it no longer acts, or — for an outage
  — no caller uses the provider any more, or the one slow instance is drained),
  its service's instances are healthy and ready, and the journeys that pass
  through it are back at their pre-fault success (and payments too), twice in a
  row. Journey failures whose suspects name another live fault's service but not
  this one are left out, so overlapping faults do not mask each other's heals.

Actions started while no fault was live are false actions. Used by ``cli/demo``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from selfheal.cli.scenario import ScenarioStep

CALLER_SIDE_ACTIONS = frozenset({"Failover", "RestartContainer", "RestartService"})
"""Actions that may rightly target a direct caller of the faulty service."""
DECISIONS = frozenset({"decision", "incident_rediagnosed"})
"""Engine events that name a cause and the plan for it: the first decision, and the
cause a rediagnosis names after an action that did not help."""
INSTANCE_FAULTS = frozenset({"crash", "hang", "latency", "errors", "memory_leak", "cpu_hog"})
"""Faults that live in one instance's process: draining that instance routes around them."""
WINDOW_SECONDS = 4.0
"""Journeys judged for recovery: those that ended in the last this many seconds."""
TOLERANCE = 0.05
"""How far below its pre-fault level a success ratio may stay and count as recovered."""
OVERALL, PAYMENTS = "(all journeys)", "(payments)"
"""Baseline keys besides the journeys' names (which cannot hold parentheses)."""


@dataclass
class FaultRecord:
    step: ScenarioStep
    fault_id: str = ""
    injected_at: float | None = None
    expires_at: float | None = None
    detected_at: float | None = None
    root_cause: str | None = None
    failure_type: str | None = None
    actions: list[dict[str, str]] = field(default_factory=list)
    wrong_target_actions: int = 0
    first_success_at: float | None = None
    recovered_at: float | None = None
    ended_at: float | None = None
    incidents: set[str] = field(default_factory=set)
    error: str = ""

    @property
    def detected(self) -> bool:
        return self.detected_at is not None

    @property
    def healed(self) -> bool:
        if self.recovered_at is None or self.first_success_at is None:
            return False
        if self.first_success_at > self.recovered_at + 5.0:
            return False
        return self.expires_at is None or self.recovered_at < self.expires_at

    def summary(self) -> dict[str, Any]:
        return {
            "fault": self.step.fault,
            "service": self.step.service,
            "instance": self.step.instance,
            "injected_at": self.injected_at,
            "detected_at": self.detected_at,
            "detected": self.detected,
            "root_cause": self.root_cause,
            "failure_type": self.failure_type,
            "actions": self.actions,
            "wrong_target_actions": self.wrong_target_actions,
            "recovered_at": self.recovered_at,
            "healed": self.healed,
        }


class Judge:
    """Attributes the loop's events to faults and measures recovery from outside."""

    def __init__(
        self,
        control_url: str,
        load: Any,
        t0: float,
        topology: Any = None,
        client: httpx.Client | None = None,
    ) -> None:
        if topology is None:
            from selfheal.testbed.topology_file import find_topology

            topology = find_topology()
        self.topology = topology
        self.control_url = control_url
        self.load = load
        self.t0 = t0
        self.records: list[FaultRecord] = []
        self.false_actions = 0
        self.baseline: dict[str, float] = {}
        """Journey name (and ``OVERALL``, ``PAYMENTS``) → success ratio before any fault."""
        self._lock = threading.Lock()
        self._client = client or httpx.Client(timeout=3.0)
        self.log: list[str] = []
        self._by_incident: dict[str, FaultRecord] = {}
        self._decided_for: dict[str, FaultRecord] = {}  # incident → its last decision's fault

    # -- attributing the loop's steps -----------------------------------------------
    def live(self, at: float) -> list[FaultRecord]:
        return [
            r
            for r in self.records
            if r.injected_at is not None
            and r.injected_at <= at
            and (r.ended_at is None or at <= r.ended_at)
            and (r.expires_at is None or at <= r.expires_at + 3.0)  # expired: not active
        ]

    def active(self, at: float) -> FaultRecord | None:
        live = self.live(at)
        return live[-1] if live else None

    def owner(self, at: float, incident: str, services: set[str]) -> FaultRecord | None:
        """The fault a step belongs to: among the faults active at ``at``, the one on a
        service the step names (the oldest not yet detected, else the newest), else the
        one its incident was credited to, else one whose symptoms can show on a service
        the step names (a caller of it, however far up), else the latest (so overlapping
        faults are told apart)."""
        live = self.live(at)
        if not live:
            return None
        named = [r for r in live if r.step.service in services]
        if named:
            fresh = [r for r in named if r.detected_at is None]
            return fresh[0] if fresh else named[-1]
        credited = self._by_incident.get(incident)
        if credited is not None and credited in live:
            return credited
        related = [r for r in live if self.related(r, services)]
        if related:
            fresh = [r for r in related if r.detected_at is None]
            return fresh[0] if fresh else related[-1]
        return live[-1]

    def related(self, record: FaultRecord, services: set[str]) -> bool:
        """Whether a fault's symptoms can show on one of ``services``: its own service or
        any service whose requests reach it."""
        return bool(services & self.topology.above(record.step.service))

    def right_target(self, record: FaultRecord, kind: str, target: str) -> bool:
        """Whether an action of ``kind`` on ``target`` aims at ``record``'s fault."""
        service = record.step.service
        if target == service:
            return True
        return kind in CALLER_SIDE_ACTIONS and target in self.topology.callers(service)

    def on_event(self, kind: str, payload: dict[str, Any]) -> None:
        """Credit the loop's steps to the fault they belong to (see ``owner``)."""
        now = time.time()
        with self._lock:
            incident = str(payload.get("incident", ""))
            decided = self._decided_for.get(incident)
            if kind.startswith("action_") and decided is not None and decided in self.live(now):
                # An action carries out its incident's decision: it belongs to the fault
                # that decision was made for, even when a fault that started after the
                # decision sits on the action's target.
                owner: FaultRecord | None = decided
            else:
                owner = self.owner(now, incident, _services_of(kind, payload))
            if owner is not None and incident:
                if kind == "incident_opened":
                    self._by_incident.setdefault(incident, owner)
                elif kind in DECISIONS:
                    # The steps that follow carry out this decision: they belong to the
                    # fault it was made for (a fault that joined an incident first
                    # credited to another gets the actions planned for it).
                    self._by_incident[incident] = owner
                    self._decided_for[incident] = owner
            if kind == "incident_opened" and owner is not None:
                owner.incidents.add(incident)
                # An incident on services the fault cannot reach does not detect it.
                related = self.related(owner, _services_of(kind, payload))
                if owner.detected_at is None and related:
                    owner.detected_at = now
            elif kind in DECISIONS and owner is not None and owner.root_cause is None:
                cause = _cause_of(kind, payload)
                owner.root_cause = cause["service"]
                owner.failure_type = cause["failure_type"]
                if owner.detected_at is None:  # the fault joined an incident already open
                    owner.detected_at = now
            elif kind == "action_started" and owner is None:
                self.false_actions += 1
            elif kind == "action_result" and owner is not None:
                action = payload["action"]
                target = action["target"] + (
                    f"/{action['instance']}" if action.get("instance") else ""
                )
                owner.actions.append(
                    {"action": action["kind"], "target": target, "status": payload["outcome"]}
                )
                if not self.right_target(owner, str(action["kind"]), str(action["target"])):
                    owner.wrong_target_actions += 1
                if payload["outcome"] == "succeeded" and owner.first_success_at is None:
                    owner.first_success_at = now
            self.log.append(f"{now - self.t0:6.1f}s {kind} {_brief(payload)}")

    # -- recovery, seen from outside ------------------------------------------------
    def set_baseline(self, stats: Any) -> None:
        """The pre-fault success of every journey, of all of them and of payments."""
        self.baseline = {name: j.success_ratio for name, j in stats.journeys.items()}
        self.baseline[OVERALL] = stats.success_ratio
        self.baseline[PAYMENTS] = stats.payment.success_ratio

    def _status(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = self._client.get(f"{self.control_url}/platform/status").json()
        except (httpx.HTTPError, ValueError):
            return None
        return data

    def service_healthy(self, service: str, status: dict[str, Any] | None = None) -> bool:
        status = status if status is not None else self._status()
        for s in (status or {}).get("services", []):
            if s["name"] == service:
                if s.get("external"):
                    # A third party is not ours to restore; routing around it (failover)
                    # is the remedy, so the shop's success rates alone tell recovery.
                    return True
                return all(i.get("healthy") and i.get("ready") for i in s.get("instances", []))
        return False

    def effect_gone(self, record: FaultRecord, status: dict[str, Any] | None) -> bool:
        """The fault no longer acts, or the platform routes around it."""
        try:
            fault = self._client.get(f"{self.control_url}/faults/{record.fault_id}").json()
        except (httpx.HTTPError, ValueError):
            return False
        if not fault.get("active", True):
            return True
        services = (status or {}).get("services", [])
        step = record.step
        if step.fault == "dependency_outage":
            return not any(step.service in s.get("dependencies", {}).values() for s in services)
        if step.fault in INSTANCE_FAULTS and step.instance:
            return any(
                i["id"] == step.instance and i.get("drained")
                for s in services
                if s["name"] == step.service
                for i in s.get("instances", [])
            )
        return False

    def business_ok(self, record: FaultRecord) -> bool:
        """The journeys through the fault's service (and payments) are back at their
        pre-fault success, not counting failures another live fault explains."""
        service = record.step.service
        others = {r.step.service for r in self.live(time.time()) if r is not record}

        def elsewhere(journey: str, suspects: frozenset[str]) -> bool:
            return bool(suspects & others) and service not in suspects

        stats = self.load.stats(WINDOW_SECONDS, elsewhere)
        if stats.overall.total < 3:
            return False
        checks = [(stats.journeys[j], j) for j in self.topology.journeys_through(service)]
        checks.append((stats.payment, PAYMENTS))
        for got, name in checks:
            base = self.baseline.get(name, 1.0)
            floor = min(0.95, base - TOLERANCE) if name == PAYMENTS else base - TOLERANCE
            if got.total >= 2 and got.success_ratio < floor:
                return False
        return True

    def recovered(self, record: FaultRecord) -> bool:
        status = self._status()
        return (
            status is not None
            and self.effect_gone(record, status)
            and self.service_healthy(record.step.service, status)
            and self.business_ok(record)
        )

    def watch(self, record: FaultRecord, stop: threading.Event) -> None:
        """Poll, once an action succeeded or the fault expired, until it has recovered
        (twice in a row)."""
        good = 0
        time.sleep(2.0)
        while not stop.is_set() and record.recovered_at is None:
            expired = record.expires_at is not None and time.time() >= record.expires_at
            if record.first_success_at is not None or expired:
                good = good + 1 if self.recovered(record) else 0
                if good >= 2:
                    record.recovered_at = time.time()
                    record.ended_at = record.recovered_at + 3.0  # verification may still finish
                    return
            stop.wait(1.0)

    def close(self) -> None:
        self._client.close()


def _cause_of(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The cause a decision (or a rediagnosis) names."""
    cause: dict[str, Any] = payload["inputs"]["cause"] if kind == "decision" else payload["cause"]
    return cause


def _services_of(kind: str, payload: dict[str, Any]) -> set[str]:
    """The services an engine event names: its signals', its cause's, its action's."""
    if kind == "incident_opened":
        return {str(s["service"]) for s in payload.get("signals", [])}
    if kind in DECISIONS:
        return {str(_cause_of(kind, payload)["service"])}
    action = payload.get("action")
    if isinstance(action, dict) and "target" in action:
        return {str(action["target"])}
    return set()


def _brief(payload: dict[str, Any]) -> str:
    if "action" in payload and isinstance(payload["action"], dict):
        return f"{payload['action'].get('describe', '')} {payload.get('outcome', '')}".strip()
    if "inputs" in payload:
        c = payload["inputs"]["cause"]
        return f"cause {c['service']} ({c['failure_type']}, {c['confidence']:.2f}) → {payload['strategy']}"
    if "reason" in payload:
        return str(payload["reason"])
    if "signals" in payload:
        return ", ".join(sorted({s["service"] + ":" + s["indicator"] for s in payload["signals"]}))[
            :80
        ]
    return str(payload.get("incident", ""))
