"""Decision and execution together against the fake platform over real HTTP:
plan a cause, pass each rung through the guards, run it, climb the ladder when
verification fails — the path the loop drives for every incident."""

from __future__ import annotations

from collections.abc import Callable

from fake_local_platform import FakePlatform

from selfheal.core.clock import FakeClock
from selfheal.core.config import ApprovalConfig, GuardsConfig
from selfheal.core.platform import ChangeEvent, ChangeKind, PlanningContext, ServiceState
from selfheal.core.types import Action, Cause, FailureType, Incident, Outcome
from selfheal.decision import (
    Guards,
    Planner,
    Playbook,
)
from selfheal.decision.guards import Verdict
from selfheal.execution import ActionRunner, LocalExecutor

NOW = 1_700_000_000.0


def context_of(ex: LocalExecutor, changes: tuple[ChangeEvent, ...] = ()) -> PlanningContext:
    services = {}
    for s in ex.status()["services"]:
        services[s["name"]] = ServiceState(
            name=s["name"],
            instances=tuple(i["id"] for i in s["instances"]),
            unready=frozenset(i["id"] for i in s["instances"] if not i["ready"] or i["drained"]),
            version=s["version"],
            config_revision=s["config_revision"],
            dependencies=s["dependencies"],
            external=s["external"],
        )
    return PlanningContext(services=services, changes=changes)


def heal(
    platform: FakePlatform,
    cause: Cause,
    healed: Callable[[], bool],
    changes: tuple[ChangeEvent, ...] = (),
    approvals: list[str] | None = None,
) -> list[tuple[Action, Outcome]]:
    """The loop's inner path, in fake time: plan, guard, run each rung, verify, roll
    back what did not heal, until one heals. A rung the guards send to a human is
    approved if ``approvals`` is given (its kind is added there); otherwise the test
    fails on it."""
    clock = FakeClock(NOW)
    incident = Incident("inc-1", NOW, (), frozenset({cause.service}), (cause,))
    guards = Guards(GuardsConfig(), clock, approval=ApprovalConfig())
    results = []
    with LocalExecutor(platform.url, timeout_seconds=5) as ex:
        ctx = context_of(ex, changes)
        plan = Planner(Playbook.default(), clock).plan(incident, cause, ctx)
        runner = ActionRunner(ex, clock)
        for action in plan.actions:
            ctx = context_of(ex, changes)
            verdict = guards.check(action, incident_id=incident.id, context=ctx, cause=cause)
            if verdict.verdict is Verdict.PENDING_APPROVAL and approvals is not None:
                approvals.append(action.kind.value)  # the loop asks, and a human approves
                verdict = guards.check(
                    action, incident_id=incident.id, context=ctx, cause=cause, approved=True
                )
            assert verdict.allowed, verdict.reason
            token = guards.started(action, incident_id=incident.id, context=ctx)
            prepared = runner.prepare(action)
            if prepared.skip_reason:
                outcome = Outcome.SKIPPED
            else:
                runner.execute(prepared)
                if healed():
                    outcome = Outcome.SUCCEEDED
                else:
                    runner.rollback(prepared)
                    outcome = Outcome.ROLLED_BACK
            guards.finished(token, outcome)
            results.append((action, outcome))
            if outcome in (Outcome.SUCCEEDED, Outcome.SKIPPED):
                break
    return results


def test_bad_release_is_rolled_back(platform: FakePlatform) -> None:
    platform.deploy("checkout", "v2")
    changes = (ChangeEvent("checkout", ChangeKind.DEPLOY, NOW - 30, "v1", "v2"),)
    results = heal(
        platform,
        Cause("checkout", 0.9, FailureType.CODE_BUG, indicator="error_ratio"),
        healed=lambda: platform.services["checkout"].versions[-1] == "v1",
        changes=changes,
    )
    assert [outcome for _, outcome in results] == [Outcome.SUCCEEDED]
    assert platform.services["checkout"].versions == ["v1", "v2", "v1"]


def test_bank_outage_fails_payment_over_once_a_human_approves(platform: FakePlatform) -> None:
    approvals: list[str] = []
    results = heal(
        platform,
        Cause("bank", 0.9, FailureType.EXTERNAL_DEPENDENCY),
        healed=lambda: platform.config("payment")["config"]["dependencies"]["bank"] == "bank-b",
        approvals=approvals,
    )
    assert approvals == ["Failover"]  # a failover always waits for a human by default
    assert [(a.kind.value, outcome) for a, outcome in results] == [("Failover", Outcome.SUCCEEDED)]


def test_ladder_climbs_after_a_rung_fails_and_leaves_no_trace(platform: FakePlatform) -> None:
    """Neither restarting nor draining the instance fixes it; the drain is undone and the
    service-wide restart (the only rung that touches the sibling instance) heals it."""
    restarts = platform.services["cart"].restarts
    results = heal(
        platform,
        Cause("cart", 0.9, FailureType.NETWORK_FAILURE, instance="cart-1", indicator="latency"),
        healed=lambda: restarts.get("cart-0", 0) > 0,
    )
    assert [(a.kind.value, outcome) for a, outcome in results] == [
        ("RestartContainer", Outcome.ROLLED_BACK),
        ("DrainTraffic", Outcome.ROLLED_BACK),
        ("RestartService", Outcome.SUCCEEDED),
    ]
    assert platform.services["cart"].drained == set()
    assert restarts == {"cart-0": 1, "cart-1": 2, "cart-2": 1}


def test_bad_config_push_is_restored(platform: FakePlatform) -> None:
    good = platform.config("payment")
    bad = platform.push_config("payment", {**good["config"], "dependencies": {"bank": "nowhere"}})
    # the tracker saw the push a cycle later, on the loop's clock
    changes = (ChangeEvent("payment", ChangeKind.CONFIG, NOW - 5, str(good["revision"]), str(bad)),)
    results = heal(
        platform,
        Cause("payment", 0.9, FailureType.CONFIGURATION_ERROR),
        healed=lambda: platform.config("payment")["config"] == good["config"],
        changes=changes,
    )
    assert [outcome for _, outcome in results] == [Outcome.SUCCEEDED]
    assert platform.config("payment")["config"] == good["config"]
