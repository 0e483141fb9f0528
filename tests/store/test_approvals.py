from __future__ import annotations

import pytest

from selfheal.core.clock import FakeClock
from selfheal.core.types import Action, ActionKind
from selfheal.store import ConflictError, NotFoundError, Store


def test_request_then_approve(store: Store, clock: FakeClock) -> None:
    action = Action(ActionKind.ROLLBACK_DEPLOYMENT, "payment", risk=0.8)
    rid = store.approvals.request(action, "inc-1", 0.8, expires_at=clock.now() + 60)
    assert [r.id for r in store.approvals.pending()] == [rid]
    clock.advance(5)
    decided = store.approvals.decide(rid, True, by="alice", reason="looks right")
    assert decided.status == "approved" and decided.decided_by == "alice"
    assert decided.decided_at == clock.now() and decided.reason == "looks right"
    assert decided.action["kind"] == "RollbackDeployment"
    assert store.approvals.pending() == []


def test_deny_and_no_second_decision(store: Store, clock: FakeClock) -> None:
    rid = store.approvals.request({"kind": "Failover"}, "inc-1", 0.9, clock.now() + 60)
    assert store.approvals.decide(str(rid), False, by="bob").status == "denied"
    with pytest.raises(ConflictError, match="already denied by bob"):
        store.approvals.decide(rid, True, by="alice")


def test_expired_request_cannot_be_decided(store: Store, clock: FakeClock) -> None:
    rid = store.approvals.request({"kind": "Failover"}, "inc-1", 0.9, clock.now() + 60)
    clock.advance(61)
    with pytest.raises(ConflictError, match="expired"):
        store.approvals.decide(rid, True, by="alice")
    current = store.approvals.get(rid)
    assert current is not None and current.status == "expired"


def test_expire_marks_only_overdue_requests(store: Store, clock: FakeClock) -> None:
    short = store.approvals.request({"a": 1}, "inc-1", 0.8, clock.now() + 10)
    long = store.approvals.request({"a": 2}, "inc-1", 0.8, clock.now() + 100)
    clock.advance(10)
    expired = store.approvals.expire()
    assert [r.id for r in expired] == [short]
    assert [r.id for r in store.approvals.pending()] == [long]
    assert store.approvals.expire() == []


def test_unknown_or_malformed_id(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no approval request 42"):
        store.approvals.decide(42, True, by="alice")
    with pytest.raises(NotFoundError, match="must be a number"):
        store.approvals.decide("abc", True, by="alice")


def test_request_must_expire_in_the_future(store: Store, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="expires_at"):
        store.approvals.request({}, "inc-1", 0.9, clock.now())
