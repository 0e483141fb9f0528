"""Taking over: what a predecessor left is adopted; its action in flight never repeated.

The engine calls ``reconcile`` when it starts leading: at its first cycle (after a
crash or a restart) and whenever it takes over from another replica. The intent to act is
written to the store before an action starts and completed after; an intent still
pending at start means the process died mid-action. Such an action is never run
again. When its incident is in the store and still open, the incident is taken
over and the action verified like any other (``Remediator.adopt``): the symptom
must be gone within the action's timeout; its snapshot died with the process, so
a failed verification cannot roll it back and the incident goes to a human.
Without an open incident the intent is closed as "interrupted". The
predecessor's other open incidents are adopted as open: diagnosed again while
their symptoms last, resolved once quiet. Each case is audited. No I/O of its
own: the store port does it.
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
        held = remediator.get(incident_id)
        if held is not None and held.intent_id == intent_id:
            continue  # adopted by an earlier, interrupted takeover: being verified
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
    for inc in store.open_incidents():
        if book.correlation.get(inc.id) is not None:
            continue  # adopted above with its action, or never left this replica
        book.adopted(replace(inc, status=IncidentStatus.OPEN, updated_at=now), now)
        audit("incident_adopted", {"incident": inc.id, "status": inc.status.value})
