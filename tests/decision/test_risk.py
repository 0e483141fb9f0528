from __future__ import annotations

from decision_shop import shop
from hypothesis import given
from hypothesis import strategies as st

from selfheal.core.types import Action, ActionKind
from selfheal.decision.risk import assess, instances_taken_out


def test_one_instance_restart_is_less_risky_than_a_service_restart() -> None:
    ctx = shop()
    one = assess(Action(ActionKind.RESTART_CONTAINER, "cart", "cart-0"), ctx)
    all_ = assess(Action(ActionKind.RESTART_SERVICE, "cart"), ctx)
    assert one.risk < all_.risk
    assert one.blast_share == 1 / 3
    assert not one.reversible


def test_criticality_raises_risk() -> None:
    a = Action(ActionKind.FAILOVER, "payment", params={"dependency": "bank"})
    assert assess(a, shop(criticality=1.0)).risk > assess(a, shop(criticality=0.0)).risk


def test_scale_down_and_config_patch_are_riskier_than_their_norm() -> None:
    ctx = shop()
    up = assess(Action(ActionKind.SCALE_SERVICE, "cart", params={"delta": 1}), ctx)
    down = assess(Action(ActionKind.SCALE_SERVICE, "cart", params={"replicas": 1}), ctx)
    assert down.risk > up.risk
    assert down.instances_out == 2
    restore = assess(Action(ActionKind.UPDATE_CONFIGURATION, "cart", params={"revision": 2}), ctx)
    patch = assess(Action(ActionKind.UPDATE_CONFIGURATION, "cart", params={"patch": {"x": 1}}), ctx)
    assert patch.risk > restore.risk


def test_rolling_actions_take_one_instance_out_at_a_time() -> None:
    assert instances_taken_out(Action(ActionKind.RESTART_SERVICE, "cart"), 3) == 1
    assert instances_taken_out(Action(ActionKind.CLEAR_CACHE, "cache"), 1) == 0


@given(
    kind=st.sampled_from(list(ActionKind)),
    criticality=st.floats(0, 1),
    instance=st.sampled_from([None, "cart-0"]),
)
def test_risk_is_a_probability(kind, criticality, instance) -> None:
    a = assess(Action(kind, "cart", instance), shop(criticality=criticality))
    assert 0.0 <= a.risk <= 1.0
