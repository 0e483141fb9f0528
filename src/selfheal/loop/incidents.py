"""The incident book: the open incidents' lives, from opened to resolved or escalated.

The engine records here what correlation opened and grew each cycle and which
incidents rule anomalies still speak for; diagnosis and remediation change an
incident's status through it (remediating, escalated, resolved). Resolution is
the one place that tells the guards (recurrence counting) and the ranker (what
healed, remembered for next time) how an incident ended, and remembers for a
short while which service a heal answered, so its echoes elsewhere are not taken
for faults of their own. It persists each change through the ``Store`` port and
audits it; it decides nothing about causes or actions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace

from selfheal.analysis.triage import is_rule
from selfheal.core.platform import ChangeEvent, ChangeKind
from selfheal.core.types import Anomaly, Cause, Incident, IncidentStatus
from selfheal.loop import serialize as ser
from selfheal.loop.ports import Correlation, Guards, Ranker, Store
from selfheal.loop.view import AuditTrail

log = logging.getLogger(__name__)

HEALED_MEMORY_SECONDS = 3600.0  # how long ``healed`` remembers an incident an action healed


class IncidentBook:
    """Status changes and resolution of the open incidents (see the module docstring)."""

    def __init__(
        self,
        correlation: Correlation,
        store: Store,
        guards: Guards,
        ranker: Ranker,
        audit: AuditTrail,
        settle_seconds: float,
        resolve_after_seconds: float,
    ) -> None:
        self.correlation = correlation
        self.store = store
        self.guards = guards
        self.ranker = ranker
        self.audit = audit
        self.settle_seconds = settle_seconds
        self.resolve_after_seconds = resolve_after_seconds
        self._last_rule_hit: dict[str, float] = {}  # incident id -> last rule anomaly time
        self._healed_at: dict[str, float] = {}  # service -> when an action last healed it
        # (service, kind) -> the loop undid that service's changes of that kind made up to then
        self._undone: dict[tuple[str, ChangeKind], float] = {}
        self._settling: dict[str, tuple[str, float]] = {}  # incident -> (cause service, healed)
        self._healed: dict[str, float] = {}  # incident id -> when an action healed it
        self._closers: list[Callable[[str], None]] = []

    def on_close(self, forget: Callable[[str], None]) -> None:
        """Call ``forget(incident_id)`` whenever an incident leaves the book."""
        self._closers.append(forget)

    @property
    def open_incidents(self) -> list[Incident]:
        return self.correlation.open_incidents

    def current(self, incident: Incident) -> Incident:
        """The latest value of ``incident`` (correlation may have grown it)."""
        return self.correlation.get(incident.id) or incident

    # -- what each cycle brings ----------------------------------------------------------

    def opened(self, incident: Incident, now: float) -> None:
        self._last_rule_hit[incident.id] = now
        self.store.save_incident(incident)
        self.audit(
            "incident_opened",
            {"incident": incident.id, "signals": [ser.anomaly(a) for a in incident.anomalies]},
        )

    def grown(self, incident: Incident) -> None:
        self.store.save_incident(incident)

    def note_rule_hits(self, anomalies: Iterable[Anomaly], now: float) -> None:
        """Incidents that a rule anomaly of this cycle still speaks for stay alive."""
        fresh = [a for a in anomalies if is_rule(a)]
        for inc in self.correlation.open_incidents:
            fps = {a.fingerprint for a in inc.anomalies}
            if any(a.fingerprint in fps for a in fresh):
                self._last_rule_hit[inc.id] = now

    def adopted(self, incident: Incident, now: float) -> None:
        """An incident taken over from the store after a restart."""
        self.correlation.adopt(incident, now)
        self._last_rule_hit[incident.id] = now
        self.store.save_incident(incident)

    def hand_over(self, now: float) -> None:
        """This replica stopped leading: its open incidents are its successor's now (read
        back from the store); forget them here without closing them there."""
        handed = [inc.id for inc in self.correlation.open_incidents]
        for incident_id in handed:
            self.correlation.close(incident_id)
            self._forget(incident_id)
        self.audit("leadership_lost", {"handed_over": handed})

    def quiet_for(self, incident: Incident, now: float) -> float:
        """Seconds since a rule anomaly last spoke for ``incident``."""
        return now - self._last_rule_hit.get(incident.id, incident.opened_at)

    # -- status --------------------------------------------------------------------------

    def save(self, incident: Incident) -> None:
        """Store a new value of an open incident (causes, impact)."""
        self.correlation.update(incident)
        self.store.save_incident(incident)

    def set_status(self, incident: Incident, status: IncidentStatus, now: float) -> Incident:
        updated = replace(self.current(incident), status=status, updated_at=now)
        self.save(updated)
        return updated

    def freeze(self, incident_id: str) -> None:
        """Fix an open incident's scope: it absorbs only its own services' symptoms."""
        self.correlation.freeze(incident_id)

    def split(
        self, incident: Incident, services: frozenset[str], reason: str, now: float
    ) -> Incident | None:
        """Give the symptoms of ``services`` an incident of their own (opened and audited
        as any other, naming the one it came from); the rest stay in ``incident``."""
        new = self.correlation.split(incident.id, services, now)
        if new is None:
            return None
        self._last_rule_hit[new.id] = self._last_rule_hit.get(incident.id, now)
        self.store.save_incident(self.current(incident))
        self.store.save_incident(new)
        self.audit(
            "incident_opened",
            {
                "incident": new.id,
                "split_from": incident.id,
                "reason": reason,
                "signals": [ser.anomaly(a) for a in new.anomalies],
            },
        )
        return new

    def escalate(self, incident: Incident, reason: str, now: float) -> None:
        self.set_status(incident, IncidentStatus.ESCALATED, now)
        self.audit("incident_escalated", {"incident": incident.id, "reason": reason})

    def resolve(
        self, incident: Incident, now: float, healed_by: Cause | None = None, reason: str = ""
    ) -> None:
        """Close ``incident`` as resolved; ``healed_by`` is the cause whose action healed it
        (``None``: its symptoms went away on their own)."""
        done = self.set_status(incident, IncidentStatus.RESOLVED, now)
        if healed_by is not None:
            self._healed_at[healed_by.service] = now
            self._settling[incident.id] = (healed_by.service, now)
            self._healed[incident.id] = now
        self.correlation.close(incident.id)
        self.guards.record_resolution(done, healed_by is not None, now)
        self._forget(incident.id)
        self.audit(
            "incident_resolved",
            {"incident": incident.id, "healed_by_action": healed_by is not None, "reason": reason},
        )
        if healed_by is not None:
            try:
                self.ranker.learn(done, healed_by, now)
            except Exception:  # the incident is resolved either way
                log.exception("remembering healed incident %s failed", incident.id)

    def resolve_quiet(self, now: float, busy: Callable[[str], bool]) -> tuple[str, ...]:
        """Close incidents whose symptoms stopped, unless ``busy`` (an action in flight or
        waiting for approval). An escalated one closes without counting as resolved."""
        closed: list[str] = []
        for inc in list(self.correlation.open_incidents):
            if busy(inc.id) or self.quiet_for(inc, now) < self.resolve_after_seconds:
                continue
            if inc.status is IncidentStatus.ESCALATED:
                self.correlation.close(inc.id)
                self._forget(inc.id)
                self.audit("incident_closed", {"incident": inc.id, "status": "escalated"})
            else:
                self.resolve(inc, now)
            closed.append(inc.id)
        return tuple(closed)

    def _forget(self, incident_id: str) -> None:
        self._last_rule_hit.pop(incident_id, None)
        for forget in self._closers:
            forget(incident_id)

    # -- what heals left behind ----------------------------------------------------------

    def healed(self, incident_id: str, now: float) -> bool:
        """Whether an action healed ``incident_id`` (remembered for an hour)."""
        self._healed = {k: t for k, t in self._healed.items() if now - t <= HEALED_MEMORY_SECONDS}
        return incident_id in self._healed

    def healed_at(self, service: str) -> float:
        """When an action last healed ``service`` (``-inf`` if never)."""
        return self._healed_at.get(service, float("-inf"))

    def undone(self, service: str, kind: ChangeKind, up_to: float) -> None:
        """The loop restored ``service``'s configuration (or rolled back its release) and
        kept it: its changes of ``kind`` up to ``up_to`` are no longer in effect."""
        self._undone[(service, kind)] = max(up_to, self._undone.get((service, kind), up_to))

    def current_changes(self, changes: Iterable[ChangeEvent]) -> tuple[ChangeEvent, ...]:
        """``changes`` that may still explain a symptom: not answered by a heal of their
        service, nor undone by the loop (a restore kept though its verification failed —
        the push it undid is history; what remains has another cause)."""
        return tuple(
            c
            for c in changes
            if c.at > self.healed_at(c.service)
            and (c.by_selfheal or c.at > self._undone.get((c.service, c.kind), float("-inf")))
        )

    def settling(self, now: float) -> list[tuple[str, str]]:
        """(incident id, healed service) of heals younger than ``settle_seconds``."""
        self._settling = {
            k: v for k, v in self._settling.items() if now - v[1] <= self.settle_seconds
        }
        return [(incident_id, origin) for incident_id, (origin, _) in self._settling.items()]
