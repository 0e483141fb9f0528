"""The shipped defaults send a human what an SRE wants to see first, and nothing else.

Irreversible or wide actions (a failover, a scale-down, a node drain, a rollback of a
critical service, new config values, anything wider than the blast radius on its own)
wait for approval at the configuration's default ``approval.risk_level``; cheap,
reversible actions on one instance, rolling restarts and cache clears do not.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfheal.core.clock import FakeClock
from selfheal.core.config import Config
from selfheal.core.platform import PlanningContext, ServiceState
from selfheal.core.types import Action, ActionKind
from selfheal.decision.guards import Guards, Verdict
from selfheal.decision.risk import assess

SHIPPED = Config()
LEVEL = SHIPPED.approval.risk_level


def context(criticality: float, instances: int = 2, name: str = "svc") -> PlanningContext:
    state = ServiceState(
        name, tuple(f"{name}-{i}" for i in range(instances)), criticality=criticality
    )
    return PlanningContext(services={name: state})


def shipped_guards() -> Guards:
    """Guards with the shipped configuration's limits, as the loop's wiring builds them."""
    return Guards(SHIPPED.guards, FakeClock(1000.0), approval=SHIPPED.approval)


def scored(action: Action, ctx: PlanningContext) -> Action:
    return Action(
        action.kind, action.target, action.instance, action.params, risk=assess(action, ctx).risk
    )


FAILOVER = Action(ActionKind.FAILOVER, "svc", params={"dependency": "bank"})
SCALE_DOWN = Action(ActionKind.SCALE_SERVICE, "svc", params={"delta": -1})
NODE_DRAIN = Action(ActionKind.DRAIN_TRAFFIC, "svc", params={"node": "node-3"})
ROLLBACK = Action(ActionKind.ROLLBACK_DEPLOYMENT, "svc", params={"version": "previous"})
CONFIG_PATCH = Action(ActionKind.UPDATE_CONFIGURATION, "svc", params={"patch": {"pool": 4}})
CONFIG_RESTORE = Action(ActionKind.UPDATE_CONFIGURATION, "svc", params={"restore": "last_good"})
RESTART_ONE = Action(ActionKind.RESTART_CONTAINER, "svc", "svc-0")
RESTART_ALL = Action(ActionKind.RESTART_SERVICE, "svc")
CLEAR_CACHE = Action(ActionKind.CLEAR_CACHE, "svc")
DRAIN_ONE = Action(ActionKind.DRAIN_TRAFFIC, "svc", "svc-0")
SCALE_UP = Action(ActionKind.SCALE_SERVICE, "svc", params={"delta": 1})


@pytest.mark.parametrize(
    ("action", "criticality"),
    [
        (FAILOVER, 0.0),
        (FAILOVER, 0.5),
        (SCALE_DOWN, 0.0),
        (NODE_DRAIN, 0.0),
        (ROLLBACK, 0.6),
        (ROLLBACK, 0.9),
        (CONFIG_PATCH, 0.5),
        (CONFIG_RESTORE, 0.95),
    ],
)
def test_shipped_defaults_ask_a_human_first(action: Action, criticality: float) -> None:
    ctx = context(criticality)
    assert assess(action, ctx).risk >= LEVEL
    decision = shipped_guards().check(scored(action, ctx), incident_id="i", context=ctx)
    assert decision.verdict is Verdict.PENDING_APPROVAL, decision.reason


@pytest.mark.parametrize(
    ("action", "criticality"),
    [
        (RESTART_ONE, 1.0),
        (RESTART_ALL, 1.0),
        (CLEAR_CACHE, 1.0),
        (DRAIN_ONE, 1.0),
        (SCALE_UP, 1.0),
        (ROLLBACK, 0.5),
        (CONFIG_RESTORE, 0.9),
    ],
)
def test_shipped_defaults_let_cheap_reversible_actions_run(
    action: Action, criticality: float
) -> None:
    ctx = context(criticality)
    assert assess(action, ctx).risk < LEVEL
    assert shipped_guards().check(scored(action, ctx), incident_id="i", context=ctx).allowed


@given(criticality=st.floats(0, 1), instances=st.integers(1, 20))
def test_the_classes_hold_for_every_service(criticality: float, instances: int) -> None:
    ctx = context(criticality, instances)
    for action in (RESTART_ONE, RESTART_ALL, CLEAR_CACHE, DRAIN_ONE, SCALE_UP):
        assert assess(action, ctx).risk < LEVEL, action
    for action in (FAILOVER, NODE_DRAIN):
        assert assess(action, ctx).risk >= LEVEL, action
    if instances > 1:
        assert assess(SCALE_DOWN, ctx).risk >= LEVEL


@given(low=st.floats(0, 1), high=st.floats(0, 1), kind=st.sampled_from(list(ActionKind)))
def test_risk_never_falls_as_criticality_rises(low: float, high: float, kind: ActionKind) -> None:
    low, high = sorted((low, high))
    action = Action(kind, "svc")
    assert assess(action, context(low)).risk <= assess(action, context(high)).risk


def test_an_action_wider_than_the_blast_radius_waits_for_a_human_not_for_time() -> None:
    ctx = context(0.0, instances=4)
    halve = scored(Action(ActionKind.SCALE_SERVICE, "svc", params={"replicas": 1}), ctx)
    wide = shipped_guards().check(halve, incident_id="i", context=ctx)
    assert (wide.verdict, wide.guard) == (Verdict.PENDING_APPROVAL, "blast_radius")
    assert "3 of 4" in wide.reason
    # two instances already down: one more restart must wait, not ask
    down = PlanningContext(
        services={
            "svc": ServiceState(
                "svc", ("svc-0", "svc-1", "svc-2", "svc-3"), unready=frozenset({"svc-0", "svc-1"})
            )
        }
    )
    busy = shipped_guards().check(
        scored(Action(ActionKind.RESTART_CONTAINER, "svc", "svc-2"), down),
        incident_id="i",
        context=down,
    )
    assert (busy.verdict, busy.guard) == (Verdict.BLOCK, "blast_radius")
