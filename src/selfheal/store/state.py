"""One handle on the whole state store: database plus every journal on it.

The loop, the API and the CLI each call :func:`open_store` with the configured
URL and use its parts; they may run in different processes on the same
database. A human's decision on an approval goes through
:meth:`Store.decide_approval`, which also writes who decided to the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass

from selfheal.core.clock import Clock, SystemClock
from selfheal.store.approvals import ApprovalQueue, ApprovalRequest
from selfheal.store.audit import AuditLog
from selfheal.store.control import ControlFlag
from selfheal.store.db import Database
from selfheal.store.incidents import IncidentStore
from selfheal.store.intents import IntentJournal
from selfheal.store.leases import Leases
from selfheal.store.outcomes import StrategyOutcomes
from selfheal.store.past_incidents import PastIncidents


@dataclass(frozen=True, slots=True)
class Store:
    db: Database
    audit: AuditLog
    intents: IntentJournal
    incidents: IncidentStore
    approvals: ApprovalQueue
    control: ControlFlag
    outcomes: StrategyOutcomes
    past_incidents: PastIncidents
    leases: Leases

    def close(self) -> None:
        self.db.dispose()

    def decide_approval(
        self, request_id: int | str, approved: bool, by: str, reason: str = ""
    ) -> ApprovalRequest:
        """Approve or deny a pending request as ``by`` (the API's token name, or the
        local user), and record that decision with its actor in the audit trail.
        Raises like :meth:`ApprovalQueue.decide`, recording nothing then."""
        request = self.approvals.decide(request_id, approved, by=by, reason=reason)
        self.audit.append(
            "approval_decided",
            {
                "approval": request.id,
                "incident": request.incident_id,
                "status": request.status,
                "by": by,
                "reason": reason,
            },
            request.decided_at if request.decided_at is not None else self.approvals.clock.now(),
        )
        return request


def open_store(url: str = "sqlite:///selfheal.db", clock: Clock | None = None) -> Store:
    """Open (and create if needed) the store at ``url``."""
    clock = clock or SystemClock()
    db = Database(url)
    return Store(
        db=db,
        audit=AuditLog(db),
        intents=IntentJournal(db, clock),
        incidents=IncidentStore(db),
        approvals=ApprovalQueue(db, clock),
        control=ControlFlag(db, clock),
        outcomes=StrategyOutcomes(db, clock),
        past_incidents=PastIncidents(db, clock),
        leases=Leases(db),
    )
