"""Incidents the loop healed, remembered for the root-cause analysis.

When a remediation heals an incident, the loop stores the incident's symptom
signature (``"service:indicator" -> strength in [0, 1]``, as the RCA computed it
when it diagnosed the incident) with the cause that the healing remediation
targeted. The RCA's history signal (``analysis.rca.signals_history``) compares a
new incident's signature with the most recent of these, so a fault that healed
once is recognised when it comes back, also after a restart. Several processes
may share the database; one incident is one row (remembering it again replaces it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from selfheal.core.clock import Clock, SystemClock
from selfheal.store.db import Database
from selfheal.store.json_codec import canonical_json
from selfheal.store.schema import PastIncidentRow


@dataclass(frozen=True, slots=True)
class RememberedIncident:
    incident_id: str
    signature: Mapping[str, float]
    root_service: str
    failure_type: str
    resolved_at: float


class PastIncidents:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()

    def remember(
        self,
        incident_id: str,
        signature: Mapping[str, float],
        root_service: str,
        failure_type: str,
    ) -> RememberedIncident:
        """Store (or replace) a healed incident; ``ValueError`` on an empty id, root
        or signature, or a strength outside [0, 1]. Nothing is written then."""
        if not incident_id or not root_service:
            raise ValueError("a past incident needs its id and its root service")
        if not signature:
            raise ValueError(f"incident {incident_id}: an empty signature matches nothing")
        clean: dict[str, float] = {}
        for key, value in signature.items():
            strength = float(value)
            if not (math.isfinite(strength) and 0.0 <= strength <= 1.0):
                raise ValueError(
                    f"incident {incident_id}: signature {key!r} is {value!r}, not in [0, 1]"
                )
            clean[str(key)] = strength
        at = self.clock.now()
        with self.db.write_session() as session:
            row = session.get(PastIncidentRow, incident_id)
            if row is None:
                row = PastIncidentRow(incident_id=incident_id)
                session.add(row)
            row.root_service = root_service
            row.failure_type = failure_type
            row.signature = canonical_json(clean)
            row.resolved_at = at
        return RememberedIncident(incident_id, clean, root_service, failure_type, at)

    def recent(self, limit: int = 200) -> tuple[RememberedIncident, ...]:
        """The ``limit`` most recently healed incidents, newest first."""
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        with self.db.session() as session:
            rows = (
                session.query(PastIncidentRow)
                .order_by(PastIncidentRow.resolved_at.desc(), PastIncidentRow.incident_id)
                .limit(limit)
                .all()
            )
            return tuple(
                RememberedIncident(
                    r.incident_id,
                    {str(k): float(v) for k, v in json.loads(r.signature).items()},
                    r.root_service,
                    r.failure_type,
                    r.resolved_at,
                )
                for r in rows
            )
