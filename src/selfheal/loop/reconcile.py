"""Crash reconciliation: intents written before a crash are never run again, nor lost.

The engine calls ``reconcile`` once, before its first cycle. The intent to act is
written to the store before an action starts and completed after; an intent still
pending at start means the process died mid-action. Such an action is never run
again. When its incident is in the store and still open, the incident is taken
over and the action verified like any other (``Remediator.adopt``): the symptom
must be gone within the action's timeout; its snapshot died with the process, so
a failed verification cannot roll it back and the incident goes to a human.
Without an open incident the intent is closed as "interrupted". Each case is
audited. No I/O of its own: the store port does it.
"""

from __future__ import annotations

from dataclasses import replace

from selfheal.core.types import IncidentStatus
from selfheal.loop import serialize as ser
from selfheal.loop.incidents import IncidentBook
from selfheal.loop.ports import Store
from selfheal.loop.remediation import Remediator
from selfheal.loop.view import AuditTrail

CLOSED = (IncidentStatus.RESOLVED, IncidentStatus.ESCALATED)


def reconcile(
    store: Store, book: IncidentBook, remediator: Remediator, audit: AuditTrail, now: float
) -> None:
    """Adopt or close every intent left pending by a crash (see the module docstring)."""
    for intent_id, incident_id, action in store.pending_intents():
        inc = store.load_incident(incident_id)
        if inc is None or inc.status in CLOSED or remediator.get(inc.id) is not None:
            store.complete_intent(intent_id, "interrupted", now)
            audit(
                "intent_reconciled",
                {
                    "intent": intent_id,
                    "incident": incident_id,
                    "action": ser.action(action),
                    "detail": "interrupted by a restart; not repeated (incident not open)",
                },
            )
            continue
        remediator.adopt(inc, action, intent_id, now)
        book.adopted(replace(inc, status=IncidentStatus.REMEDIATING, updated_at=now), now)
        audit(
            "intent_reconciled",
            {
                "intent": intent_id,
                "incident": incident_id,
                "action": ser.action(action),
                "detail": "interrupted by a restart; not repeated, verified now",
            },
        )
