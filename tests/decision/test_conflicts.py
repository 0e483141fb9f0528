from __future__ import annotations

from decision_shop import NOW

from selfheal.core.clock import FakeClock
from selfheal.core.types import Action, ActionKind, Cause, Plan
from selfheal.decision.conflicts import TargetLocks, merge_plans

RESTART_CART = Action(ActionKind.RESTART_SERVICE, "cart", risk=0.3)
SCALE_CART = Action(ActionKind.SCALE_SERVICE, "cart", params={"delta": 1}, risk=0.2)


def plan(iid: str, confidence: float, *actions: Action) -> Plan:
    return Plan(iid, Cause("cart", confidence), "s", actions, NOW)


def test_duplicate_actions_stay_with_the_most_confident_cause() -> None:
    r = merge_plans([plan("low", 0.7, RESTART_CART, SCALE_CART), plan("high", 0.9, RESTART_CART)])
    assert [p.incident_id for p in r.plans] == ["high", "low"]
    assert r.plans[0].actions == (RESTART_CART,)
    assert r.plans[1].actions == (SCALE_CART,)
    assert r.plans[1].risk == 0.2
    assert [(f.incident_id, f.kept_by) for f in r.folded] == [("low", "high")]


def test_distinct_actions_are_all_kept() -> None:
    r = merge_plans([plan("a", 0.8, RESTART_CART), plan("b", 0.8, SCALE_CART)])
    assert sum(len(p.actions) for p in r.plans) == 2
    assert r.folded == ()


def test_one_incident_per_service_at_a_time() -> None:
    clock = FakeClock(NOW)
    locks = TargetLocks(clock, ttl_seconds=100)
    assert locks.acquire("cart", "i1")
    assert not locks.acquire("cart", "i2")
    assert locks.acquire("cart", "i1")  # renew
    assert locks.acquire("checkout", "i2")
    locks.release("cart", "i2")  # not the holder: no effect
    assert locks.holder("cart") == "i1"
    locks.release("cart", "i1")
    assert locks.acquire("cart", "i2")


def test_leases_expire() -> None:
    clock = FakeClock(NOW)
    locks = TargetLocks(clock, ttl_seconds=100)
    locks.acquire("cart", "i1")
    clock.advance(100)
    assert locks.holder("cart") is None
    assert locks.acquire("cart", "i2")


def test_release_all_frees_every_service_of_an_incident() -> None:
    locks = TargetLocks(FakeClock(NOW))
    locks.acquire("cart", "i1")
    locks.acquire("checkout", "i1")
    locks.release_all("i1")
    assert locks.holder("cart") is None and locks.holder("checkout") is None
