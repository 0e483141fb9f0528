"""Correlation: fold each cycle's anomalies into incidents.

The loop calls ``Correlator.add`` with the anomalies of one cycle, the service
graph (caller → callee edges from traces) and the time. An anomaly joins an open
incident when it arrived within ``window_seconds`` of that incident's latest
anomaly and its service is within ``max_hops`` of one of the incident's services
in the graph (either direction: symptoms travel up the call chain); otherwise it
opens a new incident. A repeat of a signal already in the incident (same
fingerprint: service, instance, indicator, detector) is folded — it refreshes the
incident's last-seen time but adds nothing, so duplicate signals cannot open or
grow incidents. Once an incident is being remediated or waits behind another, it
absorbs only its own services' symptoms, and on services other than its cause's
only the kinds of symptom (service, indicator) it already holds; once escalated to
a human, only the kinds it was escalated with, and only while they continue —
anything new, or a symptom that went quiet and came back, opens an incident of its
own, so one incident never blinds the loop. Time-window plus topology grouping is
the usual alert-correlation scheme (e.g. Salah et al., "A survey of alarm correlation", 2013).

Only anomalies that ``opens`` accepts may open an incident (the loop passes rule
anomalies); others only join one. No I/O here; incidents leave as ``core`` values.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import networkx as nx

from selfheal.core.types import Anomaly, Incident, IncidentStatus


@dataclass(slots=True)
class _Open:
    incident: Incident
    last_seen: float
    fingerprints: dict[tuple[str, str | None, str, str], float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CorrelationUpdate:
    """What one ``add`` call changed."""

    opened: tuple[Incident, ...] = ()
    grown: tuple[Incident, ...] = ()  # incidents that gained new anomalies
    folded: int = 0  # duplicate signals folded into existing incidents


def _default_id(counter: itertools.count[int]) -> Callable[[float], str]:
    def make(now: float) -> str:
        return f"inc-{int(now)}-{next(counter)}"

    return make


class Correlator:
    """Groups anomalies into incidents by time window and service-graph distance."""

    def __init__(
        self,
        window_seconds: float = 60.0,
        max_hops: int = 3,
        new_id: Callable[[float], str] | None = None,
        opens: Callable[[Anomaly], bool] = lambda a: True,
        continuing_seconds: float = 10.0,
    ) -> None:
        """``continuing_seconds``: the longest gap after which a symptom an escalated
        incident held is taken as continuing rather than coming back (rules repeat their
        anomaly every cycle while they hold: a few cycles)."""
        self._window = window_seconds
        self._continuing = continuing_seconds
        self._hops = max_hops
        self._new_id = new_id or _default_id(itertools.count(1))
        self._opens = opens
        self._open: dict[str, _Open] = {}
        self._frozen: set[str] = set()

    @property
    def open_incidents(self) -> list[Incident]:
        return [o.incident for o in self._open.values()]

    def last_seen(self, incident_id: str) -> float | None:
        entry = self._open.get(incident_id)
        return None if entry is None else entry.last_seen

    def get(self, incident_id: str) -> Incident | None:
        entry = self._open.get(incident_id)
        return None if entry is None else entry.incident

    def update(self, incident: Incident) -> None:
        """Replace the stored value of an open incident (new causes, status, impact)."""
        entry = self._open.get(incident.id)
        if entry is not None:
            entry.incident = incident

    def freeze(self, incident_id: str) -> None:
        """Fix an open incident's scope: it absorbs only its own services' symptoms."""
        self._frozen.add(incident_id)

    def close(self, incident_id: str) -> Incident | None:
        self._frozen.discard(incident_id)
        entry = self._open.pop(incident_id, None)
        return None if entry is None else entry.incident

    def adopt(self, incident: Incident, last_seen: float) -> None:
        """Take over an incident restored from the store after a restart."""
        entry = _Open(incident, last_seen)
        for a in incident.anomalies:
            entry.fingerprints[a.fingerprint] = a.timestamp
        self._open[incident.id] = entry

    def split(self, incident_id: str, services: frozenset[str], now: float) -> Incident | None:
        """Move the anomalies of ``services`` out of an open incident into a new one (two
        faults grouped by time and topology, found apart by diagnosis); returns the new
        incident, or ``None`` when that would leave either side empty."""
        entry = self._open.get(incident_id)
        if entry is None:
            return None
        inc = entry.incident
        moved = tuple(a for a in inc.anomalies if a.service in services)
        kept = tuple(a for a in inc.anomalies if a.service not in services)
        if not moved or not kept:
            return None
        entry.incident = replace(
            inc,
            anomalies=kept,
            services=frozenset(a.service for a in kept),
            updated_at=now,
        )
        prints = {a.fingerprint for a in moved}
        taken = {fp: t for fp, t in entry.fingerprints.items() if fp in prints}
        for fp in taken:
            del entry.fingerprints[fp]
        opened_at = min(a.timestamp for a in moved)
        new = Incident(
            id=self._new_id(now),
            opened_at=opened_at,
            anomalies=moved,
            services=frozenset(a.service for a in moved),
            status=IncidentStatus.OPEN,
            updated_at=now,
        )
        self._open[new.id] = _Open(new, max(taken.values(), default=opened_at), taken)
        return new

    def add(
        self, anomalies: Iterable[Anomaly], now: float, graph: nx.DiGraph | None = None
    ) -> CorrelationUpdate:
        graph = graph if graph is not None else nx.DiGraph()
        undirected = graph.to_undirected(as_view=True)
        opened: dict[str, Incident] = {}
        grown: dict[str, Incident] = {}
        folded = 0
        # Rule anomalies first, so that a cycle's evidence can join the incident they open.
        ordered = sorted(anomalies, key=lambda a: (not self._opens(a), a.timestamp))
        for anomaly in ordered:
            entry = self._find(anomaly, undirected)
            if entry is not None:
                fp = anomaly.fingerprint
                entry.last_seen = max(entry.last_seen, anomaly.timestamp)
                if fp in entry.fingerprints:
                    entry.fingerprints[fp] = anomaly.timestamp
                    folded += 1
                    continue
                entry.fingerprints[fp] = anomaly.timestamp
                inc = entry.incident
                entry.incident = replace(
                    inc,
                    anomalies=(*inc.anomalies, anomaly),
                    services=inc.services | {anomaly.service},
                    updated_at=now,
                )
                if inc.id not in opened:
                    grown[inc.id] = entry.incident
                else:
                    opened[inc.id] = entry.incident
                continue
            if not self._opens(anomaly):
                continue
            incident = Incident(
                id=self._new_id(now),
                opened_at=anomaly.timestamp,
                anomalies=(anomaly,),
                services=frozenset({anomaly.service}),
                status=IncidentStatus.OPEN,
                updated_at=now,
            )
            new = _Open(incident, anomaly.timestamp, {anomaly.fingerprint: anomaly.timestamp})
            self._open[incident.id] = new
            opened[incident.id] = incident
        return CorrelationUpdate(
            opened=tuple(self._open[i].incident for i in opened if i in self._open),
            grown=tuple(grown.values()),
            folded=folded,
        )

    def _find(self, anomaly: Anomaly, graph: nx.Graph) -> _Open | None:
        best: tuple[int, float, _Open] | None = None
        for entry in self._open.values():
            if entry.incident.status is IncidentStatus.RESOLVED:
                continue
            # Once diagnosed (remediating) or handed to a human (escalated), an incident's
            # scope is fixed: it keeps absorbing symptoms of its own services (no new
            # incident per cycle) but no other service's, so a new problem is not hidden
            # behind a remediation in flight or a human's queue.
            scoped = (
                entry.incident.status is not IncidentStatus.OPEN
                or entry.incident.id in self._frozen
            )
            if scoped and anomaly.service not in entry.incident.services:
                continue
            # ... and on a service other than its cause's, only the kinds of symptom
            # (service, indicator) it already holds: a new kind there — a CPU hog on a
            # callee of the service being restarted, errors of its own on a service that
            # so far only showed an echo's latency — is a fault of its own, which must be
            # seen and diagnosed as one, not ride on this incident's verification. The
            # cause's own service may show its fault in new ways (a leak ending in a crash).
            cause = entry.incident.top_cause
            if (
                scoped
                and cause is not None
                and anomaly.service != cause.service
                and (anomaly.service, anomaly.indicator) not in _kinds(entry)
            ):
                continue
            # Handed to a human, an incident keeps only the symptoms it was handed over
            # with: a new kind of symptom on one of its services is a new problem, and the
            # loop must see it as one instead of filing it behind a human's queue.
            # A symptom it held that went quiet and came back is new too (a flap before the
            # escalation must not hide a real failure of the same kind after it).
            if entry.incident.status is IncidentStatus.ESCALATED:
                if (anomaly.service, anomaly.indicator) not in _kinds(entry):
                    continue
                seen = entry.fingerprints.get(anomaly.fingerprint)
                if seen is None or anomaly.timestamp - seen > self._continuing:
                    continue
            if anomaly.timestamp - entry.last_seen > self._window:
                continue
            hops = _distance(graph, anomaly.service, entry.incident.services)
            if hops is None or hops > self._hops:
                continue
            rank = (hops, -entry.last_seen, entry)
            if best is None or rank[:2] < best[:2]:
                best = rank
        return None if best is None else best[2]


def _kinds(entry: _Open) -> set[tuple[str, str]]:
    """The kinds of symptom (service, indicator) an open incident holds."""
    return {(service, indicator) for service, _, indicator, _ in entry.fingerprints}


def _distance(graph: nx.Graph, service: str, services: frozenset[str]) -> int | None:
    if service in services:
        return 0
    if service not in graph:
        return None
    lengths = nx.single_source_shortest_path_length(graph, service)
    found = [lengths[s] for s in services if s in lengths]
    return min(found) if found else None
