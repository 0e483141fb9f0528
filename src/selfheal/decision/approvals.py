"""Approval requests for risky actions, with expiry.

When the guards answer ``PENDING_APPROVAL`` the loop files a request here (or
in the store, which persists the same lifecycle); a human approves or denies
it by id (``selfheal approve ID`` / ``selfheal deny ID``), and a request nobody
answers expires after ``ttl_seconds``. In-memory and clock-driven; it never
acts itself. Re-requesting the same action of the same incident returns the
open request instead of filing a duplicate.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import threading
from dataclasses import dataclass

from selfheal.core.clock import Clock
from selfheal.core.errors import SelfHealError
from selfheal.core.types import Action, Outcome


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"

    @property
    def outcome(self) -> Outcome | None:
        """The action outcome this status implies (None while it may still run)."""
        return {
            ApprovalStatus.PENDING: Outcome.PENDING_APPROVAL,
            ApprovalStatus.APPROVED: None,
            ApprovalStatus.DENIED: Outcome.DENIED,
            ApprovalStatus.EXPIRED: Outcome.EXPIRED,
        }[self]


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    id: str
    incident_id: str
    action: Action
    requested_at: float
    expires_at: float
    status: ApprovalStatus = ApprovalStatus.PENDING
    decided_by: str | None = None
    decided_at: float | None = None
    note: str = ""


class ApprovalError(SelfHealError):
    """Unknown request id, or a decision on a request that is no longer pending."""


class ApprovalBook:
    """Open and decided approval requests."""

    def __init__(self, clock: Clock, ttl_seconds: float = 900.0) -> None:
        self._clock = clock
        self._ttl = ttl_seconds
        self._requests: dict[str, ApprovalRequest] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def request(self, incident_id: str, action: Action) -> ApprovalRequest:
        """File (or return the open) request for ``action`` of ``incident_id``."""
        with self._lock:
            self._expire()
            for r in self._requests.values():
                if (
                    r.incident_id == incident_id
                    and r.action == action
                    and r.status in (ApprovalStatus.PENDING, ApprovalStatus.APPROVED)
                ):
                    return r
            now = self._clock.now()
            req = ApprovalRequest(
                id=f"apr-{next(self._ids)}",
                incident_id=incident_id,
                action=action,
                requested_at=now,
                expires_at=now + self._ttl,
            )
            self._requests[req.id] = req
            return req

    def approve(self, request_id: str, by: str, note: str = "") -> ApprovalRequest:
        return self._decide(request_id, ApprovalStatus.APPROVED, by, note)

    def deny(self, request_id: str, by: str, note: str = "") -> ApprovalRequest:
        return self._decide(request_id, ApprovalStatus.DENIED, by, note)

    def get(self, request_id: str) -> ApprovalRequest:
        with self._lock:
            self._expire()
            try:
                return self._requests[request_id]
            except KeyError:
                raise ApprovalError(f"no approval request {request_id!r}") from None

    def pending(self) -> tuple[ApprovalRequest, ...]:
        with self._lock:
            self._expire()
            return tuple(r for r in self._requests.values() if r.status == ApprovalStatus.PENDING)

    def _decide(
        self, request_id: str, status: ApprovalStatus, by: str, note: str
    ) -> ApprovalRequest:
        with self._lock:
            self._expire()
            req = self._requests.get(request_id)
            if req is None:
                raise ApprovalError(f"no approval request {request_id!r}")
            if req.status != ApprovalStatus.PENDING:
                raise ApprovalError(f"approval request {request_id} is already {req.status.value}")
            decided = dataclasses.replace(
                req, status=status, decided_by=by, decided_at=self._clock.now(), note=note
            )
            self._requests[request_id] = decided
            return decided

    def _expire(self) -> None:
        now = self._clock.now()
        for rid, r in list(self._requests.items()):
            if r.status == ApprovalStatus.PENDING and now >= r.expires_at:
                self._requests[rid] = dataclasses.replace(
                    r, status=ApprovalStatus.EXPIRED, decided_at=r.expires_at
                )
