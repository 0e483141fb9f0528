"""The intent journal: exactly-once remediation actions across crashes.

Before the execution stage touches anything, the loop records an intent under
an idempotency key (e.g. ``incident id + action + rung``). :meth:`IntentJournal.record_intent`
returns False when the key already exists, so a duplicate signal or a restarted
loop never runs the same action twice; :meth:`IntentJournal.complete` records how
it ended. After a crash, :meth:`IntentJournal.pending` lists the intents that
were written but never completed: the loop must reconcile each one (look at
the platform: did the action happen?) instead of repeating it blindly. This is
the write-ahead idea of database recovery (Mohan et al., "ARIES", ACM TODS
1992) applied to side effects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from selfheal.core.clock import Clock, SystemClock
from selfheal.store.db import ConflictError, Database, NotFoundError
from selfheal.store.json_codec import canonical_json, loads
from selfheal.store.leases import Lease, Leases
from selfheal.store.schema import IntentRow


@dataclass(frozen=True, slots=True)
class Intent:
    key: str
    incident_id: str
    action: Mapping[str, Any]
    created_at: float
    completed_at: float | None = None
    outcome: str | None = None
    detail: Mapping[str, Any] | None = None

    @property
    def is_pending(self) -> bool:
        return self.completed_at is None


def _intent(row: IntentRow) -> Intent:
    return Intent(
        row.key,
        row.incident_id,
        loads(row.action),
        row.created_at,
        row.completed_at,
        row.outcome,
        loads(row.detail),
    )


class IntentJournal:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()

    def record_intent(
        self,
        key: str,
        action: Mapping[str, Any],
        incident_id: str,
        at: float | None = None,
        fence: Lease | None = None,
    ) -> bool:
        """Write the intent; False (and nothing written) if ``key`` was recorded before.
        With ``fence``, only while that lease still holds (``LeaseLost`` otherwise, and
        nothing written): a replica that lost the lead never starts an action."""
        if not key:
            raise ValueError("an intent needs a non-empty idempotency key")
        row = IntentRow(
            key=key,
            incident_id=incident_id,
            action=canonical_json(action),
            created_at=self.clock.now() if at is None else float(at),
        )
        try:
            with self.db.write_session() as session:
                if fence is not None:
                    Leases.holds(session, fence, row.created_at)
                if session.get(IntentRow, key) is not None:
                    return False
                session.add(row)
        except IntegrityError:  # another process recorded it between our read and insert
            return False
        return True

    def complete(
        self,
        key: str,
        outcome: str,
        detail: Mapping[str, Any] | None = None,
        at: float | None = None,
    ) -> Intent:
        """Record how the intent's action ended. NotFoundError for an unknown key,
        ConflictError if it was completed already."""
        when = self.clock.now() if at is None else float(at)
        with self.db.write_session() as session:
            result = session.execute(
                update(IntentRow)
                .where(IntentRow.key == key, IntentRow.completed_at.is_(None))
                .values(completed_at=when, outcome=outcome, detail=canonical_json(detail or {}))
            )
            row = session.get(IntentRow, key)
            if row is None:
                raise NotFoundError(f"no intent with key {key!r}")
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise ConflictError(
                    f"intent {key!r} was already completed ({row.outcome!r} at {row.completed_at})"
                )
            session.refresh(row)
            return _intent(row)

    def get(self, key: str) -> Intent | None:
        with self.db.session() as session:
            row = session.get(IntentRow, key)
            return None if row is None else _intent(row)

    def pending(self) -> list[Intent]:
        """Intents written but never completed, oldest first."""
        with self.db.session() as session:
            rows = session.execute(
                select(IntentRow)
                .where(IntentRow.completed_at.is_(None))
                .order_by(IntentRow.created_at, IntentRow.key)
            ).scalars()
            return [_intent(r) for r in rows]

    def for_incident(self, incident_id: str) -> list[Intent]:
        with self.db.session() as session:
            rows = session.execute(
                select(IntentRow)
                .where(IntentRow.incident_id == incident_id)
                .order_by(IntentRow.created_at, IntentRow.key)
            ).scalars()
            return [_intent(r) for r in rows]
