from __future__ import annotations

import pytest
from decision_shop import NOW

from selfheal.core.clock import FakeClock
from selfheal.core.types import Action, ActionKind, Outcome
from selfheal.decision.approvals import ApprovalBook, ApprovalError, ApprovalStatus

FAILOVER = Action(ActionKind.FAILOVER, "payment", params={"dependency": "bank"}, risk=0.7)


def test_request_is_idempotent_per_incident_and_action() -> None:
    book = ApprovalBook(FakeClock(NOW))
    a = book.request("i1", FAILOVER)
    assert book.request("i1", FAILOVER).id == a.id
    assert book.request("i2", FAILOVER).id != a.id
    assert len(book.pending()) == 2


def test_approve_and_deny_record_who_and_when() -> None:
    clock = FakeClock(NOW)
    book = ApprovalBook(clock)
    a = book.request("i1", FAILOVER)
    clock.advance(5)
    done = book.approve(a.id, by="alice")
    assert (done.status, done.decided_by, done.decided_at) == (
        ApprovalStatus.APPROVED,
        "alice",
        NOW + 5,
    )
    b = book.request("i2", FAILOVER)
    assert book.deny(b.id, by="bob").status.outcome == Outcome.DENIED


def test_requests_expire_and_can_no_longer_be_decided() -> None:
    clock = FakeClock(NOW)
    book = ApprovalBook(clock, ttl_seconds=60)
    a = book.request("i1", FAILOVER)
    clock.advance(60)
    assert book.get(a.id).status == ApprovalStatus.EXPIRED
    assert book.get(a.id).status.outcome == Outcome.EXPIRED
    with pytest.raises(ApprovalError, match="already expired"):
        book.approve(a.id, by="alice")
    assert book.request("i1", FAILOVER).id != a.id  # a fresh request after expiry


def test_unknown_id_is_an_error() -> None:
    with pytest.raises(ApprovalError, match="no approval request"):
        ApprovalBook(FakeClock(NOW)).approve("apr-404", by="x")
