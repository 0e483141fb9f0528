"""The engine's readiness (``/readyz``): ready while it runs its cycles, not before, not after."""

from __future__ import annotations

from selfheal.core.clock import FakeClock
from selfheal.loop.engine import READY_MIN_SECONDS, READY_STALE_CYCLES

from .fakes import World
from .test_engine import make_engine, run


def test_ready_only_once_a_cycle_ran_and_while_cycles_keep_coming() -> None:
    clock = FakeClock()
    world = World(clock)
    engine, _, _ = make_engine(world)
    ready, why = engine.readiness()
    assert not ready and why == "no cycle finished yet"

    run(engine, clock, 3)
    ready, why = engine.readiness()
    assert ready and why.startswith("3 cycles")

    # cycle_seconds is 1 s here: the floor, not five cycles, decides
    stale_after = max(READY_STALE_CYCLES * 1.0, READY_MIN_SECONDS)
    clock.advance(stale_after - 1.5)  # the last cycle began 1 s before run() advanced
    assert engine.readiness()[0]
    clock.advance(1.0)
    ready, why = engine.readiness()
    assert not ready and "more than 30 s" in why

    run(engine, clock, 1)  # cycling again: ready again
    assert engine.readiness()[0]


def test_the_service_graph_is_the_last_cycles_call_graph() -> None:
    clock = FakeClock()
    world = World(clock)
    engine, _, _ = make_engine(world)
    assert engine.service_graph() == []
    run(engine, clock, 1)
    edges = engine.service_graph()
    assert edges and set(edges) == set(world.edges)
