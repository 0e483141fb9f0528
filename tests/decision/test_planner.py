from __future__ import annotations

import dataclasses

import pytest
from decision_shop import NOW, cause, config_push, deploy, incident, shop

from selfheal.core.clock import FakeClock
from selfheal.core.platform import PlanningContext
from selfheal.core.types import ActionKind, FailureType
from selfheal.decision.planner import Planner, dependency_pairs
from selfheal.decision.playbook import Playbook

K = ActionKind
F = FailureType


@pytest.fixture
def planner() -> Planner:
    return Planner(Playbook.default(), FakeClock(NOW))


def first(planner: Planner, c, ctx: PlanningContext | None = None):
    plan = planner.plan(incident(), c, ctx or shop())
    assert plan.actions, "expected at least one action"
    return plan.actions[0], plan


@pytest.mark.parametrize("ftype", [F.UNKNOWN, F.RESOURCE_EXHAUSTION, F.NETWORK_FAILURE, F.CODE_BUG])
@pytest.mark.parametrize("indicator", ["up", "instance_down", "health_check", "hang"])
def test_crashed_or_hung_instance_is_restarted(planner: Planner, ftype, indicator) -> None:
    action, plan = first(planner, cause("cart", ftype, "cart-1", indicator))
    assert (action.kind, action.target, action.instance) == (K.RESTART_CONTAINER, "cart", "cart-1")
    assert plan.strategy == "restart-dead-instance"


@pytest.mark.parametrize("ftype", [F.UNKNOWN, F.RESOURCE_EXHAUSTION, F.CODE_BUG])
def test_a_service_whose_instances_are_all_down_is_restarted_whole(planner, ftype) -> None:
    # no one instance to restart (several hang): a rolling restart of the service first,
    # not one instance restarted and 30 s waited for while the others stay dead
    action, plan = first(planner, cause("cart", ftype, None, "up"))
    assert (action.kind, action.target, action.instance) == (K.RESTART_SERVICE, "cart", None)
    assert plan.strategy == "restart-dead-service"


@pytest.mark.parametrize(
    "indicator",
    ["process_resident_memory_bytes", "process_cpu_seconds_total", "latency_p99_seconds"],
)
def test_exhausted_instance_is_restarted_then_service_then_scaled(planner, indicator) -> None:
    plan = planner.plan(
        incident(), cause("cart", F.RESOURCE_EXHAUSTION, "cart-2", indicator), shop()
    )
    kinds = [a.kind for a in plan.actions]
    assert kinds[:3] == [K.RESTART_CONTAINER, K.RESTART_SERVICE, K.SCALE_SERVICE]
    assert plan.actions[0].instance == "cart-2"
    assert plan.actions[2].params == {"delta": 1}


def test_errors_on_one_instance_without_change_restart_that_instance(planner) -> None:
    action, plan = first(planner, cause("checkout", F.CODE_BUG, "checkout-1", "error_ratio"))
    assert (action.kind, action.instance) == (K.RESTART_CONTAINER, "checkout-1")
    assert plan.strategy == "restart-faulty-instance"


def test_bad_release_is_rolled_back_to_the_version_before_the_deploy(planner) -> None:
    ctx = shop(changes=(deploy("checkout", NOW - 40, before="v1", after="v2"),))
    action, plan = first(planner, cause("checkout", F.CODE_BUG, None, "error_ratio"), ctx)
    assert action.kind == K.ROLLBACK_DEPLOYMENT
    assert action.params == {"version": "v1"}
    assert plan.strategy == "roll-back-bad-release"


def test_bad_release_wins_over_instance_evidence(planner) -> None:
    ctx = shop(changes=(deploy("checkout", NOW - 40),))
    action, _ = first(planner, cause("checkout", F.CODE_BUG, "checkout-0", "error_ratio"), ctx)
    assert action.kind == K.ROLLBACK_DEPLOYMENT


def test_old_deploy_outside_the_change_window_is_ignored(planner) -> None:
    ctx = shop(changes=(deploy("checkout", NOW - 10_000),))
    action, _ = first(planner, cause("checkout", F.CODE_BUG, None, "error_ratio"), ctx)
    assert action.kind == K.ROLLBACK_DEPLOYMENT
    assert action.params == {}  # platform default: the previous version


@pytest.mark.parametrize("ftype", [F.CONFIGURATION_ERROR, F.CODE_BUG, F.UNKNOWN])
def test_bad_config_restores_the_revision_before_the_first_push(planner, ftype) -> None:
    ctx = shop(
        changes=(config_push("cart", NOW - 50, "2", "3"), config_push("cart", NOW - 20, "3", "4"))
    )
    action, plan = first(planner, cause("cart", ftype, None, "error_ratio"), ctx)
    assert action.kind == K.UPDATE_CONFIGURATION
    assert action.params == {"revision": 2}
    assert plan.strategy == "restore-last-good-config"


def test_config_error_without_known_push_restores_previous_revision(planner) -> None:
    action, _ = first(planner, cause("cart", F.CONFIGURATION_ERROR))
    assert (action.kind, action.params) == (K.UPDATE_CONFIGURATION, {"restore": "previous"})


def test_dependency_outage_fails_payment_over(planner) -> None:
    action, plan = first(planner, cause("bank", F.EXTERNAL_DEPENDENCY, None, "availability"))
    assert (action.kind, action.target, action.params) == (
        K.FAILOVER,
        "payment",
        {"dependency": "bank"},
    )
    assert plan.strategy == "fail-over-dependency"


def test_dependency_outage_blamed_on_the_caller_fails_it_over(planner) -> None:
    action, _ = first(planner, cause("payment", F.EXTERNAL_DEPENDENCY, None, "upstream:bank"))
    assert (action.kind, action.target, action.params) == (
        K.FAILOVER,
        "payment",
        {"dependency": "bank"},
    )


def test_external_dependency_with_no_known_dependency_escalates(planner) -> None:
    decision = planner.decide(incident(), cause("cart", F.EXTERNAL_DEPENDENCY), shop())
    assert decision.escalate
    assert decision.plan.actions == ()
    assert any("dependency_known" in r for r in decision.reasons)


def test_cache_corruption_clears_the_cache(planner) -> None:
    action, _ = first(planner, cause("cache", F.DATA_CORRUPTION, None, "cache_entries"))
    assert (action.kind, action.target) == (K.CLEAR_CACHE, "cache")


def test_corrupt_data_on_a_service_that_is_no_cache_and_reads_none_clears_nothing(planner) -> None:
    # checkout holds no cache and calls none: there is nothing to clear, so no plan (the
    # incident goes to a human) rather than a clear the platform would refuse
    plan = planner.plan(incident(), cause("checkout", F.DATA_CORRUPTION), shop())
    assert plan is None or not plan.actions
    # a platform that names no roles leaves the service's own cache to its executor
    ctx = shop()
    plain = {n: dataclasses.replace(s, role="") for n, s in ctx.services.items()}
    plan = planner.plan(
        incident(), cause("checkout", F.DATA_CORRUPTION), PlanningContext(services=plain)
    )
    assert plan is not None and (plan.actions[0].kind, plan.actions[0].target) == (
        K.CLEAR_CACHE,
        "checkout",
    )


def test_network_delay_restarts_the_instance_first_then_drains_it(planner) -> None:
    plan = planner.plan(incident(), cause("cart", F.NETWORK_FAILURE, "cart-1", "latency"), shop())
    assert [(a.kind, a.instance) for a in plan.actions[:2]] == [
        (K.RESTART_CONTAINER, "cart-1"),
        (K.DRAIN_TRAFFIC, "cart-1"),
    ]


def test_drain_is_left_out_when_no_other_instance_is_ready(planner) -> None:
    ctx = shop(unready={"checkout": frozenset({"checkout-0"})})
    decision = planner.decide(
        incident(), cause("checkout", F.NETWORK_FAILURE, "checkout-1", "latency"), ctx
    )
    assert decision.plan.actions[0].kind == K.RESTART_CONTAINER
    assert any("no other ready instance" in r for r in decision.reasons)


def test_pool_exhaustion_scales_out_then_raises_pool_size(planner) -> None:
    plan = planner.plan(
        incident(),
        cause("payment", F.RESOURCE_EXHAUSTION, "payment-0", "pool_wait_timeouts_total"),
        shop(),
    )
    assert plan.strategy == "relieve-pool-exhaustion"
    assert plan.actions[0].kind == K.SCALE_SERVICE
    assert plan.actions[1].kind == K.UPDATE_CONFIGURATION
    assert plan.actions[1].params == {"multiply": {"pool_size": 2}}


@pytest.mark.parametrize("indicator", ["cpu_cores", "memory_bytes"])
def test_a_whole_service_exhausted_is_restarted_before_it_is_scaled(planner, indicator) -> None:
    # every instance hogs or leaks: a rolling restart removes the cause; capacity only if
    # the restart does not help (a scale-out that does not help waits its whole timeout)
    plan = planner.plan(incident(), cause("cart", F.RESOURCE_EXHAUSTION, None, indicator), shop())
    kinds = [a.kind for a in plan.actions]
    assert kinds.index(K.RESTART_SERVICE) < kinds.index(K.SCALE_SERVICE)
    assert plan.actions[0].kind == K.RESTART_SERVICE


def test_unknown_instance_is_left_out(planner) -> None:
    decision = planner.decide(
        incident(), cause("cart", F.RESOURCE_EXHAUSTION, "cart-9", "memory_bytes"), shop()
    )
    assert all(a.instance != "cart-9" for a in decision.plan.actions)
    assert decision.plan.actions[0].kind == K.RESTART_SERVICE


def test_every_action_carries_its_risk_and_plan_risk_is_the_max(planner) -> None:
    decision = planner.decide(
        incident(), cause("cart", F.RESOURCE_EXHAUSTION, "cart-1", "memory_bytes"), shop()
    )
    risks = [a.risk for a in decision.plan.actions]
    assert all(0 < r < 1 for r in risks)
    assert decision.plan.risk == max(risks)
    assert [a.risk for a in decision.assessments] == risks


def test_plans_are_capped_and_free_of_duplicates() -> None:
    planner = Planner(Playbook.default(), FakeClock(NOW), max_actions=2)
    plan = planner.plan(incident(), cause("cart", F.RESOURCE_EXHAUSTION, "cart-1", "up"), shop())
    assert len(plan.actions) == 2
    assert len({a.describe() for a in plan.actions}) == 2


def test_fallback_strategies_extend_the_ladder(planner) -> None:
    plan = planner.plan(incident(), cause("cart", F.RESOURCE_EXHAUSTION, "cart-1", "up"), shop())
    # restart-dead-instance's two rungs, then restart-exhausted-instance adds scaling
    assert [a.kind for a in plan.actions] == [
        K.RESTART_CONTAINER,
        K.RESTART_SERVICE,
        K.SCALE_SERVICE,
    ]


def test_a_strategy_that_keeps_failing_is_passed_over(planner) -> None:
    c = cause("cart", F.NETWORK_FAILURE, "cart-1", "latency")
    assert planner.plan(incident(), c, shop()).strategy == "isolate-bad-instance"
    for _ in range(20):
        planner.record_outcome("isolate-bad-instance", success=False)
    decision = planner.decide(incident(), c, shop())
    assert decision.plan.strategy != "isolate-bad-instance"
    assert any("passed over" in r for r in decision.reasons)


def test_created_at_comes_from_the_clock(planner) -> None:
    plan = planner.plan(incident(), cause("cache", F.DATA_CORRUPTION), shop())
    assert plan.created_at == NOW
    assert plan.incident_id == "inc-1"


def test_an_internal_service_is_never_failed_over_from(planner) -> None:
    # payment is checkout's dependency, but internal: the failover is payment's, to bank-b
    assert dependency_pairs(cause("payment", F.EXTERNAL_DEPENDENCY), shop()) == [
        ("payment", "bank")
    ]


def test_without_external_flags_leaves_of_the_call_graph_are_external() -> None:
    ctx = shop()
    plain = {n: dataclasses.replace(s, external=False) for n, s in ctx.services.items()}
    ctx = PlanningContext(services=plain)
    assert dependency_pairs(cause("bank", F.EXTERNAL_DEPENDENCY), ctx) == [("payment", "bank")]
    assert dependency_pairs(cause("payment", F.EXTERNAL_DEPENDENCY), ctx) == [("payment", "bank")]


def test_dependency_pairs_follow_the_current_target() -> None:
    ctx = shop()
    payment = ctx.services["payment"]
    moved = dataclasses.replace(payment, dependencies={"bank": "bank-b"})
    ctx2 = PlanningContext(services={**ctx.services, "payment": moved})
    assert dependency_pairs(cause("bank-b", F.EXTERNAL_DEPENDENCY), ctx2) == [("payment", "bank")]


def test_corrupt_cache_blamed_on_its_caller_clears_the_cache(planner) -> None:
    ctx = shop()
    cart = dataclasses.replace(ctx.services["cart"], dependencies={"cache": "cache"})
    ctx = PlanningContext(services={**ctx.services, "cart": cart})
    action, _ = first(planner, cause("cart", F.DATA_CORRUPTION, None, "error_ratio"), ctx)
    assert (action.kind, action.target) == (K.CLEAR_CACHE, "cache")


def test_pool_shrunk_by_a_config_push_restores_the_config_first(planner) -> None:
    ctx = shop(changes=(config_push("payment", NOW - 30),))
    c = cause("payment", F.RESOURCE_EXHAUSTION, "payment-0", "pool_wait_timeouts_total")
    action, plan = first(planner, c, ctx)
    assert plan.strategy == "restore-config-after-pool-shrink"
    assert (action.kind, action.params) == (K.UPDATE_CONFIGURATION, {"revision": 2})


def test_the_loops_own_changes_are_not_taken_for_a_cause(planner) -> None:
    own = dataclasses.replace(config_push("payment", NOW - 30), by_selfheal=True)
    c = cause("payment", F.RESOURCE_EXHAUSTION, "payment-0", "pool_wait_timeouts_total")
    _, plan = first(planner, c, shop(changes=(own,)))
    assert plan.strategy == "relieve-pool-exhaustion"


def test_a_push_without_a_known_revision_restores_by_time(planner) -> None:
    ctx = shop(changes=(config_push("cart", NOW - 50, before="?"),))
    action, _ = first(planner, cause("cart", F.CONFIGURATION_ERROR), ctx)
    assert action.params == {"restore_before": NOW - 50}


def test_service_wide_network_trouble_restarts_first_then_fails_over(planner) -> None:
    plan = planner.plan(incident(), cause("payment", F.NETWORK_FAILURE, None, "network"), shop())
    assert [(a.kind, a.target) for a in plan.actions[:2]] == [
        (K.RESTART_SERVICE, "payment"),
        (K.FAILOVER, "payment"),
    ]


def test_network_trouble_on_an_internal_leaf_never_fails_over(planner) -> None:
    plan = planner.plan(incident(), cause("cache", F.NETWORK_FAILURE, None, "network"), shop())
    assert all(a.kind != K.FAILOVER for a in plan.actions)


def test_the_cache_to_clear_is_found_by_role_not_by_name(planner) -> None:
    ctx = shop()
    services = dict(ctx.services)
    services["kv"] = dataclasses.replace(services.pop("cache"), name="kv")
    services["cart"] = dataclasses.replace(services["cart"], dependencies={"kv": "kv"})
    renamed = dataclasses.replace(ctx, services=services)
    action, _ = first(planner, cause("cart", F.DATA_CORRUPTION), renamed)
    assert (action.kind, action.target) == (K.CLEAR_CACHE, "kv")
