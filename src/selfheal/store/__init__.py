"""Store: the loop's durable state (SQLAlchemy; SQLite by default, PostgreSQL too).

Beside the stages, below monitoring: the audit trail (hash chain), the intent
journal (exactly-once actions), incidents, approval requests and the pause flag.
Imports only ``selfheal.core``.
"""

from selfheal.store.approvals import ApprovalQueue, ApprovalRequest
from selfheal.store.audit import AuditEntry, AuditLog, AuditVerification
from selfheal.store.control import ControlFlag, ControlState
from selfheal.store.db import ConflictError, Database, NotFoundError, StoreError
from selfheal.store.incidents import ActionRecord, IncidentRecord, IncidentStore
from selfheal.store.intents import Intent, IntentJournal
from selfheal.store.state import Store, open_store

__all__ = [
    "ActionRecord", "ApprovalQueue", "ApprovalRequest", "AuditEntry", "AuditLog",
    "AuditVerification", "ConflictError", "ControlFlag", "ControlState", "Database",
    "Intent", "IntentJournal", "IncidentRecord", "IncidentStore", "NotFoundError", "Store",
    "StoreError", "open_store",
]  # fmt: skip
