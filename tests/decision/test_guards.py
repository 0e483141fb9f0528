from __future__ import annotations

import dataclasses

import pytest
from decision_shop import NOW, cause, shop
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.core.clock import FakeClock
from selfheal.core.config import ApprovalConfig, GuardsConfig, MaintenanceWindow
from selfheal.core.platform import PlanningContext
from selfheal.core.types import Action, ActionKind, FailureType, Outcome
from selfheal.decision.guards import BreakerState, Guards, Verdict
from selfheal.decision.risk import ROLLING

RESTART_CART_0 = Action(ActionKind.RESTART_CONTAINER, "cart", "cart-0")


def make(clock: FakeClock | None = None, **kw) -> tuple[Guards, FakeClock]:
    clock = clock or FakeClock(NOW)
    return Guards(GuardsConfig(**kw), clock), clock


def run_one(g: Guards, action: Action, outcome: Outcome, iid: str = "i1", ctx=None) -> None:
    token = g.started(action, incident_id=iid, context=ctx or shop())
    g.finished(token, outcome)


def test_allows_a_plain_action() -> None:
    g, _ = make()
    d = g.check(RESTART_CART_0, incident_id="i1", context=shop())
    assert d.allowed and d.outcome is None


def test_pause_blocks_everything_until_resumed() -> None:
    g, _ = make()
    g.pause()
    d = g.check(RESTART_CART_0, incident_id="i1", context=shop())
    assert (d.verdict, d.guard, d.outcome) == (Verdict.BLOCK, "pause", Outcome.BLOCKED)
    g.resume()
    assert g.check(RESTART_CART_0, incident_id="i1", context=shop()).allowed


def test_outside_pause_flag_is_honoured() -> None:
    flag = {"paused": True}
    g = Guards(GuardsConfig(), FakeClock(NOW), is_paused=lambda: flag["paused"])
    assert g.check(RESTART_CART_0, incident_id="i1", context=shop()).guard == "pause"
    flag["paused"] = False
    assert g.check(RESTART_CART_0, incident_id="i1", context=shop()).allowed


def test_maintenance_window_blocks_its_services_only_while_open() -> None:
    window = MaintenanceWindow(start_seconds=NOW, end_seconds=NOW + 60, services={"cart"})
    g, clock = make(maintenance_windows=(window,))
    d = g.check(RESTART_CART_0, incident_id="i1", context=shop())
    assert d.guard == "maintenance" and d.retry_after_seconds == 60
    other = Action(ActionKind.RESTART_SERVICE, "checkout")
    assert g.check(other, incident_id="i1", context=shop()).allowed
    clock.advance(60)
    assert g.check(RESTART_CART_0, incident_id="i1", context=shop()).allowed


def test_cooldown_blocks_other_incidents_and_repeats_but_not_the_next_rung() -> None:
    g, clock = make(cooldown_seconds=60)
    run_one(g, RESTART_CART_0, Outcome.ROLLED_BACK, "i1")
    # another incident on the same target waits
    d = g.check(RESTART_CART_0, incident_id="i2", context=shop())
    assert d.guard == "cooldown" and d.retry_after_seconds == 60
    # the same action again for the same incident waits too
    assert g.check(RESTART_CART_0, incident_id="i1", context=shop()).guard == "cooldown"
    # the ladder's next rung (another kind, same target) passes
    drain = Action(ActionKind.DRAIN_TRAFFIC, "cart", "cart-0")
    assert g.check(drain, incident_id="i1", context=shop()).allowed
    clock.advance(61)
    assert g.check(RESTART_CART_0, incident_id="i2", context=shop()).allowed


def test_a_cancelled_start_gives_back_budget_cooldown_and_blast_radius() -> None:
    g, _ = make(budget_actions=1, budget_window_seconds=100, cooldown_seconds=60)
    token = g.started(RESTART_CART_0, incident_id="i1", context=shop())
    assert g.check(RESTART_CART_0, incident_id="i2", context=shop()).guard == "budget"
    assert g.in_flight_out("cart") == 1
    g.cancel(token)  # the intent was refused: the action never ran
    assert g.actions_in_window() == 0 and g.in_flight_out("cart") == 0
    assert g.check(RESTART_CART_0, incident_id="i2", context=shop()).allowed
    g.cancel(token)  # twice: nothing more to give back
    assert g.actions_in_window() == 0


def test_a_cancelled_start_restores_the_cooldown_it_replaced() -> None:
    g, clock = make(cooldown_seconds=60, budget_actions=10)
    run_one(g, RESTART_CART_0, Outcome.ROLLED_BACK, "i1")
    clock.advance(61)
    token = g.started(RESTART_CART_0, incident_id="i2", context=shop())
    g.cancel(token)
    # i1's earlier touch is back: long over, so i2 may act; it did not start a new cooldown
    assert g.check(RESTART_CART_0, incident_id="i3", context=shop()).allowed


def test_budget_refuses_beyond_its_window_then_recovers() -> None:
    g, clock = make(budget_actions=2, budget_window_seconds=100, cooldown_seconds=0)
    for i in range(2):
        run_one(g, Action(ActionKind.RESTART_SERVICE, f"s{i}"), Outcome.SUCCEEDED)
        clock.advance(10)
    d = g.check(Action(ActionKind.RESTART_SERVICE, "s9"), incident_id="i", context=shop())
    assert d.guard == "budget" and d.retry_after_seconds == pytest.approx(80)
    clock.advance(81)
    assert g.check(
        Action(ActionKind.RESTART_SERVICE, "s9"), incident_id="i", context=shop()
    ).allowed


def test_breaker_opens_after_consecutive_failures_then_half_opens() -> None:
    g, clock = make(breaker_failures=2, breaker_cooloff_seconds=100, cooldown_seconds=0)
    run_one(g, Action(ActionKind.RESTART_SERVICE, "a"), Outcome.FAILED)
    assert g.breaker_state == BreakerState.CLOSED
    run_one(g, Action(ActionKind.RESTART_SERVICE, "b"), Outcome.ROLLED_BACK)
    assert g.breaker_state == BreakerState.OPEN
    assert g.check(RESTART_CART_0, incident_id="i", context=shop()).guard == "circuit_breaker"
    clock.advance(100)
    assert g.breaker_state == BreakerState.HALF_OPEN
    assert g.check(RESTART_CART_0, incident_id="i", context=shop()).allowed
    token = g.started(RESTART_CART_0, incident_id="i", context=shop())
    # only one probe at a time
    other = Action(ActionKind.RESTART_SERVICE, "checkout")
    assert g.check(other, incident_id="j", context=shop()).guard == "circuit_breaker"
    g.finished(token, Outcome.SUCCEEDED)
    assert g.breaker_state == BreakerState.CLOSED


def test_failed_probe_reopens_the_breaker() -> None:
    g, clock = make(breaker_failures=1, breaker_cooloff_seconds=50, cooldown_seconds=0)
    run_one(g, Action(ActionKind.RESTART_SERVICE, "a"), Outcome.FAILED)
    clock.advance(50)
    run_one(g, Action(ActionKind.RESTART_SERVICE, "b"), Outcome.FAILED)
    assert g.breaker_state == BreakerState.OPEN


def test_success_resets_the_failure_count() -> None:
    g, _ = make(breaker_failures=2, cooldown_seconds=0)
    run_one(g, Action(ActionKind.RESTART_SERVICE, "a"), Outcome.FAILED)
    run_one(g, Action(ActionKind.RESTART_SERVICE, "b"), Outcome.SUCCEEDED)
    run_one(g, Action(ActionKind.RESTART_SERVICE, "c"), Outcome.FAILED)
    assert g.breaker_state == BreakerState.CLOSED


def test_blast_radius_counts_unready_and_in_flight_instances() -> None:
    g, _ = make(blast_radius_fraction=0.34)  # cart has 3 instances: 1 may be out
    ctx = shop()
    g.started(RESTART_CART_0, incident_id="i1", context=ctx)
    second = Action(ActionKind.RESTART_CONTAINER, "cart", "cart-1")
    d = g.check(second, incident_id="i2", context=ctx)
    assert d.guard == "blast_radius"
    assert "2 of 3" in d.reason


def test_acting_on_an_instance_that_is_already_down_adds_nothing() -> None:
    g, _ = make()
    ctx = shop(unready={"cache": frozenset({"cache-0"})})
    crashed = Action(ActionKind.RESTART_CONTAINER, "cache", "cache-0")
    assert g.check(crashed, incident_id="i", context=ctx).allowed


def test_a_rolling_operation_takes_the_instance_already_down_first() -> None:
    # one of two instances is out (a bad release fails its readiness): the rollback
    # replaces that one first, so it never leaves both out; a restart of the serving
    # instance alone still would
    g, _ = make()
    ctx = shop(unready={"checkout": frozenset({"checkout-0"})})
    for kind in (ActionKind.RESTART_SERVICE, ActionKind.ROLLBACK_DEPLOYMENT):
        d = g.check(Action(kind, "checkout"), incident_id="i", context=ctx)
        assert d.verdict is Verdict.ALLOW, d.reason
    other = Action(ActionKind.RESTART_CONTAINER, "checkout", "checkout-1")
    d = g.check(other, incident_id="i", context=ctx)
    assert d.guard == "blast_radius" and "2 of 2" in d.reason


def test_a_service_with_every_instance_down_may_be_restarted() -> None:
    # nothing serves: a rolling restart takes nothing more down, and refusing it would
    # leave a dead service dead
    g, _ = make()
    ctx = shop(unready={"checkout": frozenset({"checkout-0", "checkout-1"})})
    d = g.check(Action(ActionKind.RESTART_SERVICE, "checkout"), incident_id="i", context=ctx)
    assert d.verdict is Verdict.ALLOW, d.reason


def test_floor_lets_a_single_instance_service_restart() -> None:
    g, _ = make()
    assert g.check(
        Action(ActionKind.RESTART_SERVICE, "cache"), incident_id="i", context=shop()
    ).allowed
    g0, _ = make(blast_radius_floor_instances=0)
    d = g0.check(Action(ActionKind.RESTART_SERVICE, "cache"), incident_id="i", context=shop())
    assert d.guard == "blast_radius"


def test_recurrence_escalates_after_n_heals_within_the_window() -> None:
    g, clock = make(recurrence_limit=2, recurrence_window_seconds=600)
    c = cause("cart", FailureType.RESOURCE_EXHAUSTION)
    g.healed(c)
    assert g.check(RESTART_CART_0, incident_id="i", context=shop(), cause=c).allowed
    g.healed(c)
    d = g.check(RESTART_CART_0, incident_id="i", context=shop(), cause=c)
    assert (d.verdict, d.guard) == (Verdict.ESCALATE, "recurrence")
    other = cause("cart", FailureType.CODE_BUG)
    assert g.check(RESTART_CART_0, incident_id="i", context=shop(), cause=other).allowed
    clock.advance(601)
    assert g.check(RESTART_CART_0, incident_id="i", context=shop(), cause=c).allowed


def test_risky_actions_wait_for_approval_unless_approved() -> None:
    g = Guards(GuardsConfig(), FakeClock(NOW), approval=ApprovalConfig(risk_level=0.5))
    risky = dataclasses.replace(RESTART_CART_0, risk=0.6)
    d = g.check(risky, incident_id="i", context=shop())
    assert (d.verdict, d.outcome) == (Verdict.PENDING_APPROVAL, Outcome.PENDING_APPROVAL)
    assert g.check(risky, incident_id="i", context=shop(), approved=True).allowed
    at_the_level = dataclasses.replace(RESTART_CART_0, risk=0.5)
    assert g.check(at_the_level, incident_id="i", context=shop()).guard == "approval"
    calm = dataclasses.replace(RESTART_CART_0, risk=0.4)
    assert g.check(calm, incident_id="i", context=shop()).allowed


def test_the_default_approval_level_is_the_configurations() -> None:
    g, _ = make()
    assert g.approval.risk_level == ApprovalConfig().risk_level == 0.7
    d = g.check(dataclasses.replace(RESTART_CART_0, risk=0.7), incident_id="i", context=shop())
    assert d.guard == "approval"


# -- properties --------------------------------------------------------------------------

_steps = st.lists(
    st.tuples(
        st.sampled_from(["start", "finish", "tick"]),
        st.integers(0, 5),  # which action / which in-flight token
        st.floats(0, 50),  # time advance
        st.sampled_from([Outcome.SUCCEEDED, Outcome.FAILED, Outcome.ROLLED_BACK]),
    ),
    max_size=60,
)


@settings(max_examples=100, deadline=None)
@given(steps=_steps, budget=st.integers(1, 6), window=st.floats(10, 200))
def test_budget_is_never_exceeded_in_any_window(steps, budget, window) -> None:
    g, clock = make(
        budget_actions=budget,
        budget_window_seconds=window,
        cooldown_seconds=0,
        breaker_failures=1000,
        breaker_target_failures=1000,
    )
    starts: list[float] = []
    tokens: list[int] = []
    for op, n, dt, outcome in steps:
        clock.advance(dt)
        action = Action(ActionKind.RESTART_SERVICE, f"svc{n}")
        if op == "start":
            if g.check(action, incident_id=f"i{n}", context=PlanningContext()).allowed:
                tokens.append(g.started(action, incident_id=f"i{n}", context=PlanningContext()))
                starts.append(clock.now())
        elif op == "finish" and tokens:
            g.finished(tokens.pop(n % len(tokens)), outcome)
    for t in starts:
        in_window = [s for s in starts if t - window < s <= t]
        assert len(in_window) <= budget


@settings(max_examples=100, deadline=None)
@given(
    steps=_steps,
    share=st.floats(0, 1, exclude_min=True),
    floor=st.integers(0, 2),
    down=st.sets(st.integers(0, 2), max_size=2),
)
def test_blast_radius_is_never_exceeded(steps, share, floor, down) -> None:
    g, clock = make(
        blast_radius_fraction=share,
        blast_radius_floor_instances=floor,
        cooldown_seconds=0,
        breaker_failures=1000,
        breaker_target_failures=1000,
        budget_actions=1000,
    )
    ctx = shop(unready={"cart": frozenset(f"cart-{i}" for i in down)})
    limit = max(len(down), g.allowed_unavailable(3))
    candidates = [
        Action(ActionKind.RESTART_CONTAINER, "cart", "cart-0"),
        Action(ActionKind.RESTART_CONTAINER, "cart", "cart-1"),
        Action(ActionKind.DRAIN_TRAFFIC, "cart", "cart-2"),
        Action(ActionKind.RESTART_SERVICE, "cart"),
        Action(ActionKind.ROLLBACK_DEPLOYMENT, "cart"),
        Action(ActionKind.SCALE_SERVICE, "cart", params={"replicas": 1}),
    ]
    running: dict[int, set[str] | int] = {}
    for i, (op, n, dt, outcome) in enumerate(steps):
        clock.advance(dt)
        if op == "start":
            action = candidates[n]
            if g.check(action, incident_id=f"i{i}", context=ctx).allowed:
                token = g.started(action, incident_id=f"i{i}", context=ctx)
                if action.instance is not None:
                    running[token] = {action.instance}
                elif action.kind in ROLLING and down:
                    running[token] = {f"cart-{min(down)}"}  # the instance out goes first
                elif action.kind == ActionKind.SCALE_SERVICE:
                    running[token] = 2
                else:
                    running[token] = 1
        elif op == "finish" and running:
            token = sorted(running)[n % len(running)]
            del running[token]
            g.finished(token, outcome)
        named = {f"cart-{i}" for i in down}
        anonymous = 0
        for v in running.values():
            if isinstance(v, set):
                named |= v
            else:
                anonymous += v
        assert len(named) + anonymous <= limit


def test_in_flight_out_counts_each_instance_once() -> None:
    g, _ = make(blast_radius_fraction=1.0)
    ctx = shop()
    g.started(RESTART_CART_0, incident_id="i1", context=ctx)
    g.started(RESTART_CART_0, incident_id="i2", context=ctx)
    g.started(Action(ActionKind.RESTART_SERVICE, "cart"), incident_id="i3", context=ctx)
    g.started(Action(ActionKind.CLEAR_CACHE, "cart"), incident_id="i4", context=ctx)
    assert g.in_flight_out("cart") == 2


def test_target_breaker_stops_acting_on_a_service_that_keeps_failing() -> None:
    g, clock = make(breaker_target_failures=2, breaker_cooloff_seconds=100, cooldown_seconds=0)
    run_one(g, Action(ActionKind.RESTART_CONTAINER, "cart", "cart-0"), Outcome.ROLLED_BACK)
    run_one(g, Action(ActionKind.RESTART_SERVICE, "cart"), Outcome.FAILED)
    d = g.check(Action(ActionKind.SCALE_SERVICE, "cart"), incident_id="i1", context=shop())
    assert d.guard == "circuit_breaker" and "for cart" in d.reason
    assert g.check(
        Action(ActionKind.RESTART_SERVICE, "checkout"), incident_id="i2", context=shop()
    ).allowed
    clock.advance(100)
    assert g.check(
        Action(ActionKind.SCALE_SERVICE, "cart"), incident_id="i1", context=shop()
    ).allowed
    run_one(g, Action(ActionKind.SCALE_SERVICE, "cart"), Outcome.FAILED)
    assert g.check(RESTART_CART_0, incident_id="i1", context=shop()).guard == "circuit_breaker"
    clock.advance(100)
    run_one(g, Action(ActionKind.SCALE_SERVICE, "cart"), Outcome.SUCCEEDED)
    assert g.check(RESTART_CART_0, incident_id="i9", context=shop()).allowed


def test_a_repeating_maintenance_window_blocks_every_occurrence() -> None:
    window = MaintenanceWindow(
        start_seconds=NOW, end_seconds=NOW + 3600, every_seconds=86400, reason="nightly backup"
    )
    g, clock = make(maintenance_windows=(window,))
    clock.advance(86400 + 600)  # the next day, 10 minutes into the window
    d = g.check(RESTART_CART_0, incident_id="i", context=shop())
    assert d.guard == "maintenance" and "nightly backup" in d.reason
    assert d.retry_after_seconds == pytest.approx(3000)
    clock.advance(3000)
    assert g.check(RESTART_CART_0, incident_id="i", context=shop()).allowed


def test_storm_of_services_escalates_instead_of_acting() -> None:
    g, clock = make(storm_services=3, storm_window_seconds=60)
    for name in ("a", "b", "c"):
        assert g.check(
            Action(ActionKind.RESTART_SERVICE, name), incident_id=name, context=shop()
        ).allowed
    d = g.check(Action(ActionKind.RESTART_SERVICE, "d"), incident_id="d", context=shop())
    assert (d.verdict, d.guard) == (Verdict.ESCALATE, "storm")
    # asking again for the same services does not grow the storm; time heals it
    clock.advance(61)
    assert g.check(Action(ActionKind.RESTART_SERVICE, "a"), incident_id="a", context=shop()).allowed
