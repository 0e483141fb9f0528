"""De-conflicting the plans of concurrent incidents.

Two incidents can blame the same service (a symptom incident and a cause
incident, or two detectors' views of one fault). The loop passes the plans of
one cycle through ``merge_plans``, which folds duplicate actions into the plan
of the more confident cause, and holds a ``TargetLocks`` lease on a service
while one incident acts on it, so two incidents never act on the same service
(or its instances) at once. Leases expire, so a crashed run cannot hold a
service forever. Pure bookkeeping with an injected clock; no I/O.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from selfheal.core.clock import Clock
from selfheal.core.types import Action, Plan


@dataclass(frozen=True, slots=True)
class Folded:
    """An action left out of one plan because another plan already has it."""

    incident_id: str
    action: Action
    kept_by: str  # the incident whose plan keeps the action


@dataclass(frozen=True, slots=True)
class MergeResult:
    plans: tuple[Plan, ...]  # most confident cause first; no action appears twice
    folded: tuple[Folded, ...]


def _identity(a: Action) -> tuple[object, ...]:
    return (a.kind, a.target, a.instance, tuple(sorted((k, repr(v)) for k, v in a.params.items())))


def merge_plans(plans: Sequence[Plan]) -> MergeResult:
    """Order plans by cause confidence and fold actions that an earlier plan already takes.

    >>> from selfheal.core.types import ActionKind, Cause
    >>> a = Action(ActionKind.RESTART_SERVICE, "cart")
    >>> p1 = Plan("i1", Cause("cart", 0.9), "s", (a,), 0.0)
    >>> p2 = Plan("i2", Cause("cart", 0.8), "s", (a,), 0.0)
    >>> r = merge_plans([p2, p1])
    >>> [p.incident_id for p in r.plans], [len(p.actions) for p in r.plans]
    (['i1', 'i2'], [1, 0])
    """
    ordered = sorted(plans, key=lambda p: (-p.cause.confidence, p.created_at, p.incident_id))
    owner: dict[tuple[object, ...], str] = {}
    merged: list[Plan] = []
    folded: list[Folded] = []
    for plan in ordered:
        kept: list[Action] = []
        for action in plan.actions:
            key = _identity(action)
            if key in owner and owner[key] != plan.incident_id:
                folded.append(Folded(plan.incident_id, action, owner[key]))
                continue
            owner.setdefault(key, plan.incident_id)
            kept.append(action)
        risk = max((a.risk for a in kept), default=0.0)
        merged.append(dataclasses.replace(plan, actions=tuple(kept), risk=risk))
    return MergeResult(tuple(merged), tuple(folded))


@dataclass(frozen=True, slots=True)
class Lease:
    service: str
    incident_id: str
    expires_at: float


class TargetLocks:
    """One incident at a time per service; leases expire after ``ttl_seconds``."""

    def __init__(self, clock: Clock, ttl_seconds: float = 300.0) -> None:
        self._clock = clock
        self._ttl = ttl_seconds
        self._leases: dict[str, Lease] = {}
        self._lock = threading.Lock()

    def acquire(self, service: str, incident_id: str) -> bool:
        """Take (or renew) the lease on ``service`` for ``incident_id``; False if another holds it."""
        with self._lock:
            now = self._clock.now()
            lease = self._leases.get(service)
            if lease is not None and lease.expires_at > now and lease.incident_id != incident_id:
                return False
            self._leases[service] = Lease(service, incident_id, now + self._ttl)
            return True

    def release(self, service: str, incident_id: str) -> None:
        """Give the lease back (a no-op unless ``incident_id`` holds it)."""
        with self._lock:
            lease = self._leases.get(service)
            if lease is not None and lease.incident_id == incident_id:
                del self._leases[service]

    def release_all(self, incident_id: str) -> None:
        with self._lock:
            for service in [s for s, le in self._leases.items() if le.incident_id == incident_id]:
                del self._leases[service]

    def holder(self, service: str) -> str | None:
        with self._lock:
            lease = self._leases.get(service)
            if lease is None or lease.expires_at <= self._clock.now():
                return None
            return lease.incident_id
