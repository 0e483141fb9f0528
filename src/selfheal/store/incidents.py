"""Incidents and the actions taken for them, kept for people and for history.

The loop saves each incident (from ``selfheal.core.types.Incident``) whenever it
changes — opened, diagnosed, remediating, resolved or escalated — and adds one
row per action outcome. ``selfheal incidents``, the API and the dashboard list
and show them; historical incident matching in root-cause analysis may read
them back. Causes, impact and anomalies are stored as JSON documents.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from selfheal.core.types import Incident, IncidentStatus
from selfheal.store.db import Database, NotFoundError
from selfheal.store.json_codec import canonical_json, loads, to_jsonable
from selfheal.store.schema import IncidentActionRow, IncidentRow


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    id: str
    opened_at: float
    updated_at: float
    status: str
    services: tuple[str, ...]
    causes: Sequence[Mapping[str, Any]]
    impact: Mapping[str, Any]
    anomalies: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True, slots=True)
class ActionRecord:
    id: int
    incident_id: str
    at: float
    action: Mapping[str, Any]
    outcome: str
    detail: Mapping[str, Any]


def _record(row: IncidentRow) -> IncidentRecord:
    return IncidentRecord(
        row.id,
        row.opened_at,
        row.updated_at,
        row.status,
        tuple(loads(row.services)),
        loads(row.causes),
        loads(row.impact),
        loads(row.anomalies) or [],
    )


def _action(row: IncidentActionRow) -> ActionRecord:
    return ActionRecord(
        row.id, row.incident_id, row.at, loads(row.action), row.outcome, loads(row.detail)
    )


class IncidentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, incident: Incident) -> IncidentRecord:
        """Insert or update from the loop's ``Incident`` value."""
        return self.upsert(
            incident.id,
            opened_at=incident.opened_at,
            updated_at=incident.updated_at or incident.opened_at,
            status=incident.status,
            services=incident.services,
            causes=incident.causes,
            impact=incident.impact,
            anomalies=incident.anomalies,
        )

    def upsert(
        self,
        incident_id: str,
        *,
        opened_at: float,
        updated_at: float,
        status: IncidentStatus | str,
        services: Iterable[str],
        causes: Any = (),
        impact: Any = None,
        anomalies: Any = (),
    ) -> IncidentRecord:
        status_text = status.value if isinstance(status, IncidentStatus) else str(status)
        values = {
            "opened_at": float(opened_at),
            "updated_at": float(updated_at),
            "status": status_text,
            "services": canonical_json(sorted(services)),
            "causes": canonical_json(causes),
            "impact": canonical_json(impact if impact is not None else {}),
            "anomalies": canonical_json(anomalies),
        }
        with self.db.write_session() as session:
            row = session.get(IncidentRow, incident_id)
            if row is None:
                row = IncidentRow(id=incident_id, **values)
                session.add(row)
            else:
                for name, value in values.items():
                    setattr(row, name, value)
            session.flush()
            return _record(row)

    def set_status(
        self, incident_id: str, status: IncidentStatus | str, at: float
    ) -> IncidentRecord:
        with self.db.write_session() as session:
            row = session.get(IncidentRow, incident_id)
            if row is None:
                raise NotFoundError(f"no incident {incident_id!r}")
            row.status = status.value if isinstance(status, IncidentStatus) else str(status)
            row.updated_at = float(at)
            session.flush()
            return _record(row)

    def get(self, incident_id: str) -> IncidentRecord | None:
        with self.db.session() as session:
            row = session.get(IncidentRow, incident_id)
            return None if row is None else _record(row)

    def list(
        self, *, status: IncidentStatus | str | None = None, limit: int = 100
    ) -> builtins.list[IncidentRecord]:
        """Newest first."""
        query = select(IncidentRow).order_by(IncidentRow.opened_at.desc(), IncidentRow.id)
        if status is not None:
            wanted = status.value if isinstance(status, IncidentStatus) else str(status)
            query = query.where(IncidentRow.status == wanted)
        with self.db.session() as session:
            return [_record(r) for r in session.execute(query.limit(limit)).scalars()]

    def add_action(
        self,
        incident_id: str,
        action: Any,
        outcome: str,
        at: float,
        detail: Mapping[str, Any] | None = None,
    ) -> ActionRecord:
        """Record one action outcome (``action`` may be a core ``Action`` or a dict)."""
        plain_outcome = to_jsonable(outcome)
        with self.db.write_session() as session:
            if session.get(IncidentRow, incident_id) is None:
                raise NotFoundError(f"no incident {incident_id!r}")
            row = IncidentActionRow(
                incident_id=incident_id,
                at=float(at),
                action=canonical_json(action),
                outcome=str(plain_outcome),
                detail=canonical_json(detail or {}),
            )
            session.add(row)
            session.flush()
            return _action(row)

    def actions(self, incident_id: str) -> builtins.list[ActionRecord]:
        """Oldest first."""
        with self.db.session() as session:
            rows = session.execute(
                select(IncidentActionRow)
                .where(IncidentActionRow.incident_id == incident_id)
                .order_by(IncidentActionRow.id)
            ).scalars()
            return [_action(r) for r in rows]
