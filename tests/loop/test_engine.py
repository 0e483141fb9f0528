"""The engine in fake time, with a scripted world and in-memory ports."""

from __future__ import annotations

from dataclasses import replace

import networkx as nx

from selfheal.analysis.correlation import Correlator
from selfheal.analysis.rules import LiveDetection
from selfheal.core.clock import FakeClock
from selfheal.core.types import (
    ActionKind,
    Cause,
    FailureType,
    Incident,
    IncidentStatus,
    Sample,
    SeriesKey,
)
from selfheal.loop.engine import Engine
from selfheal.loop.jobs import InlinePool
from selfheal.loop.ports import Observation, Ranker
from selfheal.loop.settings import EngineSettings

from .fakes import (
    ChangedPlatform,
    FakeGuards,
    FakePlanner,
    FakePlatform,
    FakeRanker,
    FakeRunner,
    MemoryStore,
    World,
    WrongFirstRanker,
)


def make_engine(
    world: World,
    store: MemoryStore | None = None,
    planner: FakePlanner | None = None,
    guards: FakeGuards | None = None,
    dry_run: bool = False,
    ranker: Ranker | None = None,
    platform: FakePlatform | None = None,
) -> tuple[Engine, MemoryStore, FakeGuards]:
    store = store or MemoryStore()
    guards = guards or FakeGuards()
    engine = Engine(
        collector=world,
        platform=platform or FakePlatform(world),
        detection=LiveDetection(warmup_samples=3, detector_factory=None),
        correlator=Correlator(window_seconds=60, max_hops=3),
        ranker=ranker or FakeRanker(),
        planner=planner or FakePlanner(),
        guards=guards,
        runner=FakeRunner(world),
        store=store,
        clock=world.clock,
        settings=EngineSettings(cycle_seconds=1.0, resolve_after_seconds=5.0, dry_run=dry_run),
        pool=InlinePool(),
    )
    return engine, store, guards


def run(engine: Engine, clock: FakeClock, cycles: int) -> None:
    for _ in range(cycles):
        engine.step()
        clock.advance(1.0)


def test_healthy_world_opens_no_incident_and_takes_no_action() -> None:
    clock = FakeClock()
    world = World(clock)
    engine, store, _ = make_engine(world)
    run(engine, clock, 30)
    assert store.incidents == {}
    assert world.executed == []


def test_fault_is_detected_diagnosed_healed_verified_and_audited_in_order() -> None:
    clock = FakeClock()
    world = World(clock)
    engine, store, guards = make_engine(world)
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 10)
    assert [a.describe() for a in world.executed] == ["RestartService(cache)"]
    (incident,) = store.incidents.values()
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.top_cause is not None and incident.top_cause.service == "cache"
    kinds = store.kinds()
    chain = [
        "incident_opened",
        "incident_diagnosed",
        "decision",
        "intent",
        "action_started",
        "action_executed",
        "verification",
        "action_result",
        "incident_resolved",
    ]
    positions = [kinds.index(k) for k in chain]
    assert positions == sorted(positions)
    # the latency facts the diagnosis read are recorded with it (this world has none)
    diagnosed = next(p for k, p in store.events if k == "incident_diagnosed")
    assert diagnosed["latency"] == {"serving_as_usual": [], "slower": {}}
    assert all(i["outcome"] == "succeeded" for i in store.intents.values())
    assert guards.resolutions == [(incident.id, True)]
    # the healed incident is remembered for the RCA, with the cause whose fix healed it
    assert engine.ranker.learned == [(incident.id, "cache")]  # type: ignore[attr-defined]


def test_failed_verification_rolls_back_then_next_rung_heals() -> None:
    clock = FakeClock()
    world = World(clock)
    planner = FakePlanner((ActionKind.SCALE_SERVICE, ActionKind.RESTART_SERVICE))
    engine, store, _ = make_engine(world, planner=planner)
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 30)
    assert [a.kind for a in world.executed] == [
        ActionKind.SCALE_SERVICE,
        ActionKind.RESTART_SERVICE,
    ]
    assert [a.kind for a in world.rolled_back] == [ActionKind.SCALE_SERVICE]
    outcomes = [p["outcome"] for k, p in store.events if k == "action_result"]
    assert outcomes == ["rolled_back", "succeeded"]
    assert planner.outcomes == [("fake", True)]  # the strategy learns that it healed


def test_exhausted_ladder_escalates_and_stops_acting() -> None:
    clock = FakeClock()
    world = World(clock)
    planner = FakePlanner((ActionKind.SCALE_SERVICE,))
    engine, store, _ = make_engine(world, planner=planner)
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 60)
    assert len(world.executed) == 1
    assert planner.outcomes == [("fake", False)]
    (incident,) = store.incidents.values()
    assert incident.status is IncidentStatus.ESCALATED


def test_pause_blocks_new_actions_and_resume_lets_them_run() -> None:
    clock = FakeClock()
    world = World(clock)
    engine, store, _ = make_engine(world)
    run(engine, clock, 10)
    engine.pause(by="test")
    world.broken["cache"] = "RestartService"
    run(engine, clock, 5)
    assert world.executed == []
    assert "guard_blocked" in store.kinds()
    engine.resume(by="test")
    run(engine, clock, 5)
    assert len(world.executed) == 1


def test_dry_run_records_the_decision_but_executes_nothing() -> None:
    clock = FakeClock()
    world = World(clock)
    engine, store, _ = make_engine(world, dry_run=True)
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 10)
    assert world.executed == []
    outcomes = [p["outcome"] for k, p in store.events if k == "action_result"]
    assert outcomes == ["dry_run"]


def test_risky_action_waits_for_approval_then_runs() -> None:
    clock = FakeClock()
    world = World(clock)
    engine, store, _ = make_engine(world, guards=FakeGuards(approval=True))
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 5)
    assert world.executed == []
    (approval_id,) = store.approvals
    store.approvals[approval_id]["status"] = "approved"
    run(engine, clock, 5)
    assert len(world.executed) == 1
    assert "approval_approved" in store.kinds()


def test_denied_approval_escalates_without_acting() -> None:
    clock = FakeClock()
    world = World(clock)
    engine, store, _ = make_engine(world, guards=FakeGuards(approval=True))
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 3)
    (approval_id,) = store.approvals
    store.approvals[approval_id]["status"] = "denied"
    run(engine, clock, 3)
    assert world.executed == []
    (incident,) = store.incidents.values()
    assert incident.status is IncidentStatus.ESCALATED


def test_restart_reconciles_pending_intents_without_repeating_them() -> None:
    clock = FakeClock()
    world = World(clock)
    store = MemoryStore()
    from selfheal.core.types import Action

    store.write_intent("inc-old", Action(ActionKind.RESTART_SERVICE, "cart"), clock.now())
    engine, _, _ = make_engine(world, store=store)
    run(engine, clock, 3)
    assert store.pending_intents() == []
    assert world.executed == []
    assert "intent_reconciled" in store.kinds()
    assert [i["outcome"] for i in store.intents.values()] == ["interrupted"]


def _crash_mid_action(world: World, store: MemoryStore, clock: FakeClock) -> None:
    """Run a loop until its action executed, then lose the process: the intent stays
    pending (the runner did the work but the loop never completed the intent)."""
    engine, _, _ = make_engine(world, store=store)
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    for _ in range(10):
        engine.step()
        clock.advance(1.0)
        if world.executed:
            break
    assert len(world.executed) == 1 and len(store.pending_intents()) == 1


def test_a_restarted_loop_verifies_the_interrupted_action_and_does_not_repeat_it() -> None:
    clock = FakeClock()
    world = World(clock)
    store = MemoryStore()
    _crash_mid_action(world, store, clock)
    engine, _, _ = make_engine(world, store=store)  # the new process, same store
    run(engine, clock, 15)
    assert len(world.executed) == 1  # not repeated
    assert store.pending_intents() == []
    assert [i["outcome"] for i in store.intents.values()] == ["succeeded"]
    (incident,) = store.incidents.values()
    assert incident.status is IncidentStatus.RESOLVED


def test_a_resumed_action_that_did_not_heal_goes_to_a_human_without_a_blind_rollback() -> None:
    clock = FakeClock()
    world = World(clock)
    store = MemoryStore()
    _crash_mid_action(world, store, clock)
    world.broken["cache"] = "ScaleService"  # the fault is still there after the restart
    engine, _, _ = make_engine(world, store=store)
    run(engine, clock, 20)
    assert len(world.executed) == 1 and world.rolled_back == []
    assert [i["outcome"] for i in store.intents.values()] == ["failed"]
    (incident,) = store.incidents.values()
    assert incident.status is IncidentStatus.ESCALATED


def test_duplicate_signals_fold_into_one_incident() -> None:
    clock = FakeClock()
    world = World(clock)
    engine, store, _ = make_engine(world, guards=FakeGuards(allow=False))
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 20)
    assert len(store.incidents) == 1
    (incident,) = store.incidents.values()
    assert len(incident.anomalies) == 1
    assert store.kinds().count("guard_blocked") == 1


def test_engine_metrics_count_cycles_and_actions() -> None:
    from prometheus_client import generate_latest

    clock = FakeClock()
    world = World(clock)
    engine, _, _ = make_engine(world)
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 10)
    text = generate_latest(engine.metrics.registry).decode()
    assert "selfheal_cycles_total 20.0" in text
    assert 'selfheal_actions_total{kind="RestartService",outcome="succeeded"} 1.0' in text
    assert "selfheal_cycle_seconds_bucket" in text


class Relaying(World):
    """A broken service's calls to an unwatched dependency fail too: its errors may be
    passed on, so the evidence names no origin and only the ranker can tell."""

    def collect(self, now: float) -> Observation:
        obs = super().collect(now)
        edges = [
            Sample(
                SeriesKey.of("upstream_error_ratio", {"service": s, "target": "db"}),
                now,
                0.5 if s in self.broken else 0.0,
            )
            for s in self.services
        ]
        return replace(obs, samples=(*obs.samples, *edges))


def test_no_confident_cause_escalates_only_after_quiet_diagnoses() -> None:
    clock = FakeClock()
    world = Relaying(clock)
    engine, store, _ = make_engine(world, ranker=FakeRanker(confidence=0.3))  # never confident
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 5)
    (incident,) = store.incidents.values()
    assert incident.status is IncidentStatus.OPEN
    run(engine, clock, 10)
    (incident,) = store.incidents.values()
    assert incident.status is IncidentStatus.ESCALATED
    assert world.executed == []


def test_indecision_is_bounded_even_while_new_evidence_keeps_arriving() -> None:
    from selfheal.core.types import Anomaly

    class Chatty(Relaying):
        """Each broken cycle brings one more, never-seen signal about the fault."""

        def collect(self, now: float) -> Observation:
            obs = super().collect(now)
            if not self.broken:
                return obs
            fresh = Anomaly("cache", now, 0.6, "log", indicator=f"log:template-{now:.0f}")
            return replace(obs, signals=(fresh,))

    clock = FakeClock()
    world = Chatty(clock)
    engine, store, _ = make_engine(world, ranker=FakeRanker(confidence=0.3))
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 40)
    incident = next(iter(store.incidents.values()))  # the first; signals may open more
    assert incident.status is IncidentStatus.ESCALATED
    reason = next(p for k, p in store.events if k == "incident_escalated")["reason"]
    assert "no cause reached the confidence threshold" in reason and "best: cache" in reason
    assert world.executed == []


def test_an_echo_of_a_fault_under_remediation_waits_instead_of_acting() -> None:
    clock = FakeClock()
    world = World(clock)
    planner = FakePlanner((ActionKind.SCALE_SERVICE, ActionKind.RESTART_SERVICE))
    engine, store, _ = make_engine(world, planner=planner)
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 4)  # the cache incident is remediating (first rung verifying)
    world.echoes["frontend"] = "cache"
    run(engine, clock, 40)
    assert {a.target for a in world.executed} == {"cache"}
    assert "incident_waiting" in store.kinds()
    assert all(i.status is IncidentStatus.RESOLVED for i in store.incidents.values())


def test_a_dead_process_behind_a_fault_under_remediation_is_no_echo() -> None:
    """A caller whose own instance stops answering while its callee is being remediated
    has a fault of its own: no callee's trouble passes that on. It is decided at once,
    not left waiting behind the callee's action."""
    clock = FakeClock()
    world = World(clock, hangs=frozenset({"frontend"}))
    planner = FakePlanner((ActionKind.SCALE_SERVICE, ActionKind.RESTART_SERVICE), timeout=40.0)
    engine, store, _ = make_engine(world, planner=planner)
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 4)  # the cache incident is remediating (a 40 s scale-out verifying)
    world.broken["frontend"] = "RestartService"  # frontend hangs: errors and up 0
    run(engine, clock, 6)
    assert [a.describe() for a in world.executed] == [
        "ScaleService(cache)",
        "ScaleService(frontend)",
    ]
    assert "incident_waiting" not in store.kinds()


def test_a_service_changed_just_before_its_symptoms_is_no_echo() -> None:
    """A caller whose config was pushed just before it began failing, while its callee is
    being remediated: the push is its own fault, decided at once, not waited out."""
    from selfheal.core.platform import ChangeEvent, ChangeKind

    clock = FakeClock()
    world = World(clock)
    push = ChangeEvent("frontend", ChangeKind.CONFIG, clock.now() + 13.0)

    planner = FakePlanner((ActionKind.SCALE_SERVICE, ActionKind.RESTART_SERVICE), timeout=40.0)
    engine, store, _ = make_engine(world, planner=planner, platform=ChangedPlatform(world, push))
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 4)  # the cache incident is remediating (a 40 s scale-out verifying)
    world.broken["frontend"] = "RestartService"  # pushed at 13 s, failing from 14 s
    run(engine, clock, 6)
    assert [a.describe() for a in world.executed] == [
        "ScaleService(cache)",
        "ScaleService(frontend)",
    ]
    assert "incident_waiting" not in store.kinds()


def test_a_fix_that_does_not_help_is_given_up_early_and_the_cause_reconsidered() -> None:
    clock = FakeClock()
    # cart and cache both fail on their own, side by side: nothing but the ranker tells
    # them apart, and its first answer is wrong
    world = World(clock, edges=(("frontend", "cart"), ("frontend", "cache")))
    # A long timeout: only the early verdict can end the wrong restart in time.
    engine, store, _ = make_engine(
        world,
        planner=FakePlanner(timeout=120.0),
        ranker=WrongFirstRanker(first="cart", truth="cache"),
    )
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    world.echoes["cart"] = "cache"
    run(engine, clock, 30)
    assert [a.target for a in world.executed] == ["cart", "cache"]
    (incident,) = store.incidents.values()
    assert incident.status is IncidentStatus.RESOLVED
    checks = [p for k, p in store.events if k == "verification"]
    assert checks[0]["passed"] is False and "did not reach the cause" in checks[0]["detail"]
    (again,) = [p for k, p in store.events if k == "incident_rediagnosed"]
    assert again["previous"]["service"] == "cart" and again["cause"]["service"] == "cache"
    outcomes = [p["outcome"] for k, p in store.events if k == "action_result"]
    assert outcomes == ["rolled_back", "succeeded"]


class TwoConfidentRanker:
    """Always ``first`` then ``second``, both over the confidence threshold."""

    def __init__(self, first: str, second: str) -> None:
        self.first, self.second = first, second

    def learn(self, incident: Incident, cause: Cause, now: float) -> None:
        pass

    def rank(self, incident: Incident, graph: nx.DiGraph, now: float) -> tuple[Cause, ...]:
        return (
            Cause(self.first, 0.9, FailureType.RESOURCE_EXHAUSTION),
            Cause(self.second, 0.8, FailureType.RESOURCE_EXHAUSTION),
        )


def test_an_exhausted_ladder_moves_to_the_next_confident_cause_before_escalating() -> None:
    clock = FakeClock()
    world = World(clock, edges=(("frontend", "cart"), ("frontend", "cache")))
    engine, store, _ = make_engine(
        world, planner=FakePlanner(timeout=120.0), ranker=TwoConfidentRanker("cart", "cache")
    )
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    world.echoes["cart"] = "cache"
    run(engine, clock, 40)
    # the one rung on cart did not help; the evidence still names cache: it is tried
    assert [a.target for a in world.executed] == ["cart", "cache"]
    (again,) = [p for k, p in store.events if k == "incident_rediagnosed"]
    assert again["previous"]["service"] == "cart" and again["cause"]["service"] == "cache"
    (incident,) = store.incidents.values()
    assert incident.status is IncidentStatus.RESOLVED


def test_a_step_the_platform_refuses_is_not_a_failure_for_the_guards() -> None:
    """A rung that validation refuses (no earlier release to roll back to) changed
    nothing: it gives its reservation back instead of feeding the circuit breakers, and
    the ladder goes on to the next rung."""
    clock = FakeClock()
    world = World(clock, refuse_kinds={ActionKind.ROLLBACK_DEPLOYMENT})
    planner = FakePlanner((ActionKind.ROLLBACK_DEPLOYMENT, ActionKind.RESTART_SERVICE))
    engine, store, guards = make_engine(world, planner=planner)
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 20)
    assert [a.kind for a in guards.cancelled] == [ActionKind.ROLLBACK_DEPLOYMENT]
    assert [(r.action.kind, r.outcome.value) for r in guards.recorded] == [
        (ActionKind.RESTART_SERVICE, "succeeded")
    ]
    outcomes = [p["outcome"] for k, p in store.events if k == "action_result"]
    assert outcomes == ["failed", "succeeded"]  # the audit trail still shows the refusal


def test_early_verdict_never_cuts_short_an_action_that_restores_state() -> None:
    clock = FakeClock()
    world = World(clock)
    planner = FakePlanner((ActionKind.SCALE_SERVICE, ActionKind.RESTART_SERVICE), timeout=40.0)
    engine, store, _ = make_engine(world, planner=planner)
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 30)
    # The scale-out (rolled back by scaling in) gets its whole 40 s.
    assert [a.kind for a in world.executed] == [ActionKind.SCALE_SERVICE]
    run(engine, clock, 20)
    assert [a.kind for a in world.executed] == [
        ActionKind.SCALE_SERVICE,
        ActionKind.RESTART_SERVICE,
    ]


def test_a_cause_already_tried_is_not_chosen_again_by_rediagnosis() -> None:
    clock = FakeClock()
    world = World(clock, edges=(("frontend", "cart"), ("frontend", "cache")))  # side by side
    planner = FakePlanner((ActionKind.RESTART_SERVICE, ActionKind.SCALE_SERVICE), timeout=120.0)
    engine, store, _ = make_engine(
        world, planner=planner, ranker=WrongFirstRanker(first="cart", truth="cart", calls=100)
    )
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    world.echoes["cart"] = "cache"
    run(engine, clock, 30)
    # Same cause after the failed restart: the ladder goes on to its next rung.
    assert [a.kind for a in world.executed] == [
        ActionKind.RESTART_SERVICE,
        ActionKind.SCALE_SERVICE,
    ]
    assert "incident_rediagnosed" not in store.kinds()


def test_a_change_answered_by_a_heal_is_hidden_from_the_planner_afterwards() -> None:
    from selfheal.core.platform import ChangeEvent, ChangeKind, PlanningContext

    clock = FakeClock()
    world = World(clock)
    seen: list[PlanningContext] = []

    class Recording(FakePlanner):
        def plan(self, incident, cause, context, now):  # type: ignore[no-untyped-def]
            seen.append(context)
            return super().plan(incident, cause, context, now)

    push = ChangeEvent("cache", ChangeKind.CONFIG, clock.now() + 5.0)

    engine, _, _ = make_engine(world, planner=Recording(), platform=ChangedPlatform(world, push))
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 15)  # healed: the push happened before the heal
    assert push in seen[0].changes
    world.broken["cache"] = "RestartService"
    run(engine, clock, 15)
    assert len(seen) == 2 and push not in seen[1].changes


def test_an_action_that_heals_its_cause_in_a_two_fault_incident_is_kept_and_the_rest_split() -> (
    None
):
    clock = FakeClock()
    world = World(clock)
    engine, store, _ = make_engine(world, planner=FakePlanner(timeout=10.0))
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    world.broken["frontend"] = "RestartService"  # a second, unrelated fault at once
    run(engine, clock, 60)
    assert [a.target for a in world.executed] == ["cache", "frontend"]
    assert world.rolled_back == []
    first = store.events[[k for k, _ in store.events].index("incident_resolved")][1]
    assert first["healed_by_action"] is True and "split" in first["reason"]
    assert all(i.status is IncidentStatus.RESOLVED for i in store.incidents.values())
    assert world.broken == {}


def test_before_a_state_changing_action_the_platform_is_told_to_expect_its_change() -> None:
    from selfheal.core.platform import ChangeKind

    clock = FakeClock()
    world = World(clock)
    platform = FakePlatform(world)
    ladder = (ActionKind.RESTART_SERVICE, ActionKind.UPDATE_CONFIGURATION)
    planner = FakePlanner(ladder=ladder, timeout=10.0)
    engine, _, _ = make_engine(world, planner=planner, platform=platform)
    run(engine, clock, 10)
    world.broken["cache"] = "UpdateConfiguration"
    run(engine, clock, 40)
    assert [a.kind for a in world.executed] == list(ladder)
    # the restart changes nothing the platform reports; the config restore does
    assert [(s, k) for s, k, _ in platform.expected] == [("cache", ChangeKind.CONFIG)]
    (_, _, until) = platform.expected[0]
    assert until >= clock.now() - 30 + 10.0  # covers at least the action's timeout


def test_the_loops_own_platform_changes_are_never_a_cause() -> None:
    from selfheal.core.platform import ChangeEvent, ChangeKind

    def diagnosed_type(own: bool) -> str:
        clock = FakeClock()
        world = World(clock)
        push = ChangeEvent("cache", ChangeKind.CONFIG, clock.now() + 5.0, by_selfheal=own)

        engine, store, _ = make_engine(world, platform=ChangedPlatform(world, push))
        run(engine, clock, 10)
        world.broken["cache"] = "RestartService"
        run(engine, clock, 5)
        diagnosed = next(p for k, p in store.events if k == "incident_diagnosed")
        return str(diagnosed["causes"][0]["failure_type"])

    assert diagnosed_type(own=False) == "ConfigurationError"  # a push just before: a cause
    assert diagnosed_type(own=True) != "ConfigurationError"  # the loop's own: no fact


def test_an_echo_waiting_behind_a_fault_the_loop_could_not_heal_goes_to_the_human_too() -> None:
    # the cache needs a failover the ladder does not hold: its incident escalates; the
    # frontend's echo, waiting behind it, is not closed as a healed fault's echo nor acted
    # on, but handed over with it
    clock = FakeClock()
    world = World(clock)
    planner = FakePlanner((ActionKind.RESTART_SERVICE,))
    engine, store, _ = make_engine(world, planner=planner)
    run(engine, clock, 10)
    world.broken["cache"] = "Failover"
    run(engine, clock, 4)
    world.echoes["frontend"] = "cache"
    run(engine, clock, 60)
    assert {a.target for a in world.executed} == {"cache"}
    assert "incident_waiting" in store.kinds()
    reasons = [p["reason"] for k, p in store.events if k == "incident_escalated"]
    assert any("could not heal" in r for r in reasons), reasons
    resolved = [p for k, p in store.events if k == "incident_resolved"]
    assert not any(p["reason"].startswith("echo of") for p in resolved)


def test_a_fault_elsewhere_does_not_wait_behind_a_remediation_its_callers_also_reach() -> None:
    # the cache is being remediated (a scale-out first, which does not help); then the
    # bank fails, and the frontend, which calls both the cart (→ cache) and the bank,
    # shows the bank's errors. The bank's incident is the bank's fault, not an echo of
    # the cache's: it is acted on at once, not after the cache heals
    clock = FakeClock()
    world = World(
        clock,
        services=("frontend", "cart", "cache", "bank"),
        edges=(("frontend", "cart"), ("cart", "cache"), ("frontend", "bank")),
    )
    planner = FakePlanner((ActionKind.SCALE_SERVICE, ActionKind.RESTART_SERVICE))
    engine, store, _ = make_engine(world, planner=planner)
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 4)
    world.broken["bank"] = "ScaleService"
    world.echoes["frontend"] = "bank"
    run(engine, clock, 6)
    assert "bank" in {a.target for a in world.executed}
    assert "cache" in world.broken  # the cache's ladder is still on its first rung
    run(engine, clock, 40)
    assert not world.broken
    assert not any(
        p["reason"].startswith("echo of") for k, p in store.events if k == "incident_resolved"
    )


def test_an_echo_keeps_waiting_while_the_remediation_it_waits_behind_is_in_flight() -> None:
    # the frontend and the ledger (its sibling under the gateway) show the cache's fault;
    # their incident waits behind the cache's remediation (a scale-out first, which does
    # not help). While that runs, the best cause the evidence names for the echo moves
    # to the ledger, which does not call the cache — transient evidence while a remediation takes
    # instances out. The echo is neither acted on nor handed to a human as waiting
    # behind a fault "the loop could not heal": it waits for the cache's verdict, and
    # closes when the cache heals.
    class Drifting(FakeRanker):
        def __init__(self) -> None:
            super().__init__()
            self.echo_rankings = 0

        def rank(self, incident: Incident, graph: nx.DiGraph, now: float) -> tuple[Cause, ...]:
            if "frontend" not in incident.services:
                return super().rank(incident, graph, now)
            self.echo_rankings += 1
            if self.echo_rankings <= 2:
                return (Cause("frontend", 0.9, FailureType.RESOURCE_EXHAUSTION),)
            return (
                Cause("ledger", 0.9, FailureType.RESOURCE_EXHAUSTION),
                Cause("frontend", 0.5, FailureType.RESOURCE_EXHAUSTION),
            )

    clock = FakeClock()
    world = World(
        clock,
        services=("gateway", "frontend", "cart", "cache", "ledger"),
        edges=(
            ("gateway", "frontend"),
            ("gateway", "ledger"),
            ("frontend", "cart"),
            ("cart", "cache"),
        ),
    )
    planner = FakePlanner((ActionKind.SCALE_SERVICE, ActionKind.RESTART_SERVICE))
    ranker = Drifting()
    engine, store, _ = make_engine(world, planner=planner, ranker=ranker)
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"
    run(engine, clock, 4)
    world.echoes["frontend"] = "cache"
    world.echoes["ledger"] = "cache"
    run(engine, clock, 60)
    assert ranker.echo_rankings > 2  # the drift happened while it waited
    assert {a.target for a in world.executed} == {"cache"}
    assert "incident_waiting" in store.kinds()
    assert "incident_escalated" not in store.kinds()
    assert all(i.status is IncidentStatus.RESOLVED for i in store.incidents.values())


def test_a_push_the_loop_undid_is_no_longer_the_cause_it_looks_for() -> None:
    """A restore of a freshly pushed config that does not remove the symptom is kept (the
    push stays undone), and the push leaves the evidence: the next diagnosis looks for
    another cause instead of naming the undone push again (shop-s21: a bank outage
    behind a timeout pushed on its caller got the caller restarted, never a failover)."""
    from selfheal.analysis import failure_type as ft
    from selfheal.core.platform import ChangeEvent, ChangeKind, PlanningContext
    from selfheal.core.types import Action, Plan

    clock = FakeClock()
    world = World(clock)
    push = ChangeEvent("cache", ChangeKind.CONFIG, clock.now() + 9.0)

    class RestoresPushes(FakePlanner):
        def plan(
            self, incident: Incident, cause: Cause, context: PlanningContext, now: float
        ) -> Plan | None:
            restore = Action(
                ActionKind.UPDATE_CONFIGURATION,
                cause.service,
                params={"revision": 1},
                timeout_seconds=5,
            )
            restart = Action(ActionKind.RESTART_SERVICE, cause.service, timeout_seconds=5)
            pushed = cause.indicator == ft.CONFIG
            return Plan(
                incident.id, cause, "fake", (restore, restart) if pushed else (restart,), now
            )

    platform = ChangedPlatform(world, push)
    engine, store, _ = make_engine(world, planner=RestoresPushes(), platform=platform)
    run(engine, clock, 10)
    world.broken["cache"] = "RestartService"  # whatever the push did, a restart fixes it
    run(engine, clock, 30)
    (decision,) = [p for k, p in store.events if k == "decision"]
    assert decision["inputs"]["cause"]["failure_type"] == "ConfigurationError"
    (kept,) = [p for k, p in store.events if k == "rollback"]
    assert kept["restored"] is False and world.rolled_back == []
    (failed,) = [p for k, p in store.events if k == "verification" and not p["passed"]]
    assert failed["holding"]["symptoms"] == ['error_ratio{service="cache"}']
    (again,) = [p for k, p in store.events if k == "incident_rediagnosed"]
    assert again["previous"]["failure_type"] == "ConfigurationError"
    assert again["cause"]["service"] == "cache"
    assert again["cause"]["failure_type"] != "ConfigurationError"
    assert [a.describe() for a in world.executed][-1] == "RestartService(cache)"
    assert engine.view.context.changes == ()
