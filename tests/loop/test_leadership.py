"""Two replicas on one store: one leads and acts, the other watches; when the leader
dies mid-action the standby takes over within a few cycles and verifies that action
instead of repeating it. Real SQLite store and leases, fake world, fake time."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfheal.analysis.correlation import Correlator
from selfheal.analysis.rules import LiveDetection
from selfheal.core.clock import FakeClock
from selfheal.core.types import IncidentStatus
from selfheal.loop.engine import Engine
from selfheal.loop.jobs import InlinePool
from selfheal.loop.leadership import LeaseLeadership
from selfheal.loop.settings import EngineSettings
from selfheal.loop.stages import StoreAdapter
from selfheal.store import Store, open_store

from .fakes import FakeGuards, FakePlanner, FakePlatform, FakeRanker, FakeRunner, World

TTL = 3.0


def replica(name: str, world: World, store: Store) -> Engine:
    leadership = LeaseLeadership(store.leases, "loop", name, ttl_seconds=TTL)
    return Engine(
        collector=world,
        platform=FakePlatform(world),
        detection=LiveDetection(warmup_samples=3, detector_factory=None),
        correlator=Correlator(window_seconds=60, max_hops=3),
        ranker=FakeRanker(),
        planner=FakePlanner(timeout=20.0),
        guards=FakeGuards(),
        runner=FakeRunner(world),
        store=StoreAdapter(store, fence=leadership.fence),
        clock=world.clock,
        settings=EngineSettings(cycle_seconds=1.0, resolve_after_seconds=5.0),
        pool=InlinePool(),
        leadership=leadership,
    )


def test_a_standby_takes_over_a_dead_leaders_action_and_never_repeats_it(tmp_path: Path) -> None:
    clock = FakeClock()
    world = World(clock)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    store_a, store_b = open_store(url, clock), open_store(url, clock)
    a, b = replica("a", world, store_a), replica("b", world, store_b)

    def cycle(*engines: Engine) -> None:
        for e in engines:
            e.step()
        clock.advance(1.0)

    for _ in range(10):
        cycle(a, b)
    assert a.status()["leader"] and not b.status()["leader"]
    world.broken["cache"] = "RestartService"
    for _ in range(20):
        cycle(a, b)
        if world.executed:
            break
    assert len(world.executed) == 1  # the leader acted; the standby did not
    assert store_a.intents.pending()  # ... and died while verifying it
    died_at = clock.now()
    cycles = 0
    while not b.status()["leader"]:
        cycle(b)
        cycles += 1
        assert cycles <= TTL + 2, "the standby never took over"
    for _ in range(15):
        cycle(b)
    assert len(world.executed) == 1  # verified by the successor, never repeated
    assert not store_b.intents.pending()
    (record,) = store_b.incidents.list()
    assert record.status == IncidentStatus.RESOLVED
    kinds = [e.kind for e in store_b.audit.entries()]
    assert "intent_reconciled" in kinds
    assert clock.now() - died_at >= TTL  # it waited for the lease to expire
    # the old leader comes back: it stands by and does nothing
    for _ in range(5):
        cycle(a, b)
    assert b.status()["leader"] and not a.status()["leader"]
    assert len(world.executed) == 1
    store_a.close()
    store_b.close()


def test_a_replica_whose_lease_another_holds_stands_by(tmp_path: Path) -> None:
    clock = FakeClock()
    world = World(clock)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    store_a, store_b = open_store(url, clock), open_store(url, clock)
    a = replica("a", world, store_a)
    for _ in range(10):
        a.step()
        clock.advance(1.0)
    # another replica takes the lease while "a" is paused (a long GC, a partition)
    clock.advance(TTL + 1)
    assert store_b.leases.acquire("loop", "b", clock.now(), TTL) is not None
    world.broken["cache"] = "RestartService"
    for _ in range(10):
        assert store_b.leases.acquire("loop", "b", clock.now(), TTL) is not None  # b renews
        a.step()
        clock.advance(1.0)
    assert world.executed == []
    assert not a.status()["leader"]
    assert "leadership_lost" in [e.kind for e in store_a.audit.entries()]
    store_a.close()
    store_b.close()


def test_a_single_replica_built_from_config_writes_its_intents_unfenced(tmp_path: Path) -> None:
    """Without ``ha.enabled`` the one replica always leads and may act: its intents are
    written without a lease (a fence would refuse every one of them)."""
    from selfheal.core.config import parse_config
    from selfheal.core.types import Action, ActionKind
    from selfheal.loop.wiring import build

    cfg = {
        "scrape": {"targets": ["127.0.0.1:9"], "timeout_seconds": 0.2},
        "store": {"url": f"sqlite:///{tmp_path}/selfheal.db"},
        "otlp": {"enabled": False},
        "executor": {"type": "local", "local": {"control_url": "http://127.0.0.1:9"}},
    }
    runtime = build(parse_config(cfg, "test"))
    try:
        action = Action(kind=ActionKind.RESTART_CONTAINER, target="svc", instance="svc-0")
        key = runtime.engine.store.write_intent("inc-1", action, 100.0)
        assert [k for k, _, _ in runtime.engine.store.pending_intents()] == [key]
    finally:
        runtime.close()


def test_a_standby_wakes_when_the_lease_it_saw_expires(tmp_path: Path) -> None:
    """The standby's next try is the moment the leader's lease runs out, not a whole
    cycle later: takeover about ``ttl`` after the leader's last renewal."""
    from selfheal.loop.engine import WAKE_AFTER_EXPIRY_SECONDS

    clock = FakeClock()
    world = World(clock)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    store_a, store_b = open_store(url, clock), open_store(url, clock)
    a, b = replica("a", world, store_a), replica("b", world, store_b)
    a.step()
    renewed = clock.now()
    b.step()
    assert b.leadership.wake_at() == pytest.approx(renewed + TTL)
    assert a.leadership.wake_at() is None  # the leader has no one to wait for
    # the leader lives: its lease ends beyond the next cycle, the standby keeps its cadence
    assert b._until_next_cycle(clock.now()) == pytest.approx(1.0)
    # the leader stopped renewing; two cycles later its lease ends within the next one
    clock.advance(2.6)
    began = clock.now()
    b.step()
    assert not b.status()["leader"]
    wait = b._until_next_cycle(began)
    assert wait == pytest.approx(0.4 + WAKE_AFTER_EXPIRY_SECONDS)
    clock.advance(wait)
    b.step()
    assert b.status()["leader"]
    assert clock.now() - renewed == pytest.approx(TTL + WAKE_AFTER_EXPIRY_SECONDS)
    store_a.close()
    store_b.close()


def test_an_intent_refused_for_a_lost_lease_gives_the_guards_back_their_reservation(
    tmp_path: Path,
) -> None:
    """The guards reserved budget and cooldown when they allowed the action; the intent
    is then refused (the lease it is fenced with is gone): the reservation is returned."""
    from selfheal.store.leases import Lease

    clock = FakeClock()
    world = World(clock)
    store = open_store(f"sqlite:///{tmp_path / 'one.db'}", clock)
    stale = Lease("loop", "a", epoch=1, expires_at=0.0)  # nobody holds this any more
    guards = FakeGuards()
    engine = Engine(
        collector=world,
        platform=FakePlatform(world),
        detection=LiveDetection(warmup_samples=3, detector_factory=None),
        correlator=Correlator(window_seconds=60, max_hops=3),
        ranker=FakeRanker(),
        planner=FakePlanner(timeout=20.0),
        guards=guards,
        runner=FakeRunner(world),
        store=StoreAdapter(store, fence=lambda: stale),
        clock=clock,
        settings=EngineSettings(cycle_seconds=1.0, resolve_after_seconds=5.0),
        pool=InlinePool(),
    )
    for _ in range(10):
        engine.step()
        clock.advance(1.0)
    world.broken["cache"] = "RestartService"
    for _ in range(10):
        engine.step()
        clock.advance(1.0)
    assert world.executed == []
    assert guards.cancelled and guards.cancelled[0].target == "cache"
    assert "not the leader" in str([e.payload for e in store.audit.entries()])
    store.close()
