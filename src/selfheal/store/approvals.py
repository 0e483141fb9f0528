"""Approval requests: risky actions wait here for a human.

The decision stage asks for approval when an action's risk is above the
configured level; the loop calls :meth:`ApprovalQueue.request`, then polls
:meth:`ApprovalQueue.get` each cycle and calls :meth:`ApprovalQueue.expire`
so unanswered requests lapse. People answer through ``selfheal approve ID`` /
``selfheal deny ID``, the API or the dashboard, usually from another process.

A request is decided once: deciding one that was already approved, denied or
has expired raises :class:`~selfheal.store.db.ConflictError`. The state change
is a single conditional ``UPDATE ... WHERE status = 'pending'``, so two people
answering at once cannot both win.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from selfheal.core.clock import Clock, SystemClock
from selfheal.store.db import ConflictError, Database, NotFoundError
from selfheal.store.json_codec import canonical_json, loads
from selfheal.store.schema import ApprovalRow

PENDING = "pending"
APPROVED = "approved"
DENIED = "denied"
EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    id: int
    incident_id: str
    action: Mapping[str, Any]
    risk: float
    requested_at: float
    expires_at: float
    status: str
    decided_by: str | None = None
    decided_at: float | None = None
    reason: str = ""

    @property
    def is_pending(self) -> bool:
        return self.status == PENDING


def _request(row: ApprovalRow) -> ApprovalRequest:
    return ApprovalRequest(
        row.id,
        row.incident_id,
        loads(row.action),
        row.risk,
        row.requested_at,
        row.expires_at,
        row.status,
        row.decided_by,
        row.decided_at,
        row.reason,
    )


def _id(request_id: int | str) -> int:
    try:
        rid = int(request_id)
    except (TypeError, ValueError):
        raise NotFoundError(f"approval id must be a number, got {request_id!r}") from None
    if not 0 < rid < 2**63:  # ids are positive 64-bit integers; the database holds no other
        raise NotFoundError(f"no approval request {rid}")
    return rid


class ApprovalQueue:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock: Clock = clock or SystemClock()

    def request(
        self,
        action: Mapping[str, Any] | Any,
        incident_id: str,
        risk: float,
        expires_at: float,
        at: float | None = None,
    ) -> int:
        """Open a request; returns its id."""
        now = self.clock.now() if at is None else float(at)
        if expires_at <= now:
            raise ValueError(f"expires_at ({expires_at}) must be after now ({now})")
        with self.db.write_session() as session:
            row = ApprovalRow(
                incident_id=incident_id,
                action=canonical_json(action),
                risk=float(risk),
                requested_at=now,
                expires_at=float(expires_at),
                status=PENDING,
                reason="",
            )
            session.add(row)
            session.flush()
            return int(row.id)

    def decide(
        self,
        request_id: int | str,
        approved: bool,
        by: str,
        reason: str = "",
        at: float | None = None,
    ) -> ApprovalRequest:
        """Approve or deny a pending request. NotFoundError for an unknown id;
        ConflictError if it was decided before or has expired (it is marked
        expired then)."""
        rid = _id(request_id)
        now = self.clock.now() if at is None else float(at)
        if not by:
            raise ValueError("an approval decision must name who decided ('by')")
        with self.db.write_session() as session:
            result = session.execute(
                update(ApprovalRow)
                .where(
                    ApprovalRow.id == rid,
                    ApprovalRow.status == PENDING,
                    ApprovalRow.expires_at > now,
                )
                .values(
                    status=APPROVED if approved else DENIED,
                    decided_by=by,
                    decided_at=now,
                    reason=reason,
                )
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                row = session.get(ApprovalRow, rid)
                assert row is not None
                session.refresh(row)
                return _request(row)
        # not decided: say why (and record the expiry if that is the reason)
        self.expire(now)
        current = self.get(rid)
        if current is None:
            raise NotFoundError(f"no approval request {rid}")
        if current.status == EXPIRED:
            raise ConflictError(
                f"approval request {rid} expired at {current.expires_at}; it can no longer be decided"
            )
        raise ConflictError(
            f"approval request {rid} was already {current.status}"
            f" by {current.decided_by or 'unknown'}; it cannot be decided again"
        )

    def get(self, request_id: int | str) -> ApprovalRequest | None:
        with self.db.session() as session:
            row = session.get(ApprovalRow, _id(request_id))
            return None if row is None else _request(row)

    def pending(self, now: float | None = None) -> builtins.list[ApprovalRequest]:
        """Requests still waiting (not yet expired at ``now``, if given), oldest first."""
        query = select(ApprovalRow).where(ApprovalRow.status == PENDING)
        if now is not None:
            query = query.where(ApprovalRow.expires_at > now)
        with self.db.session() as session:
            rows = session.execute(query.order_by(ApprovalRow.id)).scalars()
            return [_request(r) for r in rows]

    def list(self, *, limit: int = 100) -> builtins.list[ApprovalRequest]:
        """Newest first, any status."""
        with self.db.session() as session:
            rows = session.execute(
                select(ApprovalRow).order_by(ApprovalRow.id.desc()).limit(limit)
            ).scalars()
            return [_request(r) for r in rows]

    def expire(self, now: float | None = None) -> builtins.list[ApprovalRequest]:
        """Mark every pending request whose deadline passed as expired; returns them."""
        when = self.clock.now() if now is None else float(now)
        with self.db.write_session() as session:
            rows = list(
                session.execute(
                    select(ApprovalRow).where(
                        ApprovalRow.status == PENDING, ApprovalRow.expires_at <= when
                    )
                ).scalars()
            )
            for row in rows:
                row.status = EXPIRED
                row.decided_at = when
                row.decided_by = None
            session.flush()
            return [_request(r) for r in rows]
