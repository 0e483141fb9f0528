"""The loop's ranker remembers healed incidents and recognises them when they recur."""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from selfheal.core import indicators as ind
from selfheal.core.clock import FakeClock
from selfheal.core.types import (
    Anomaly,
    Cause,
    EvidenceKind,
    FailureType,
    Incident,
    Sample,
    SeriesKey,
)
from selfheal.loop.stages import RankerAdapter
from selfheal.monitoring.window_store import WindowStore
from selfheal.store import open_store

GRAPH = nx.DiGraph([("frontend", "cart"), ("frontend", "catalog")])


def _history(fault_at: float, until: float, healed_at: float = float("inf")) -> WindowStore:
    """cart's error ratio jumps at ``fault_at`` (until ``healed_at``); frontend inherits
    part of it."""
    store = WindowStore()
    t = 0.0
    while t <= until:
        broken = fault_at <= t < healed_at or t >= fault_at + 200.0
        for service, healthy, faulty in (("cart", 0.0, 0.6), ("frontend", 0.0, 0.3)):
            key = SeriesKey.of(ind.ERROR_RATIO, {"service": service})
            noise = 0.002 * (int(t) % 3)
            store.append(Sample(key, t, (faulty if broken else healthy) + noise))
        key = SeriesKey.of(ind.LATENCY_P99, {"service": "catalog"})
        store.append(Sample(key, t, 0.05 + 0.001 * (int(t) % 4)))
        t += 1.0
    return store


def _incident(incident_id: str, at: float) -> Incident:
    anomaly = Anomaly("frontend", at, 0.9, "rule:error_ratio>0.05", indicator=ind.ERROR_RATIO)
    return Incident(incident_id, at, (anomaly,), frozenset({"frontend"}))


def test_a_healed_incident_is_remembered_and_recognised_after_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = open_store(url, FakeClock(500.0))
    try:
        ranker = RankerAdapter(_history(100.0, 110.0), memory=store.past_incidents)
        first = ranker.rank(_incident("inc-1", 100.0), GRAPH, 110.0)
        assert not any(
            e.kind is EvidenceKind.HISTORY for c in first for e in c.evidence
        )  # nothing known yet
        ranker.learn(_incident("inc-1", 100.0), Cause("cart", 0.9, FailureType.CODE_BUG), 120.0)
        (kept,) = store.past_incidents.recent()
        assert kept.root_service == "cart" and kept.failure_type == "CodeBug"
        assert kept.signature.get("cart:error_ratio", 0.0) > 0.5
    finally:
        store.close()
    # a restarted loop, the same fault again later
    store = open_store(url, FakeClock(900.0))
    try:
        ranker = RankerAdapter(_history(300.0, 310.0), memory=store.past_incidents)
        causes = ranker.rank(_incident("inc-2", 300.0), GRAPH, 310.0)
        cart = next(c for c in causes if c.service == "cart")
        assert any(e.failure_type is FailureType.CODE_BUG for e in cart.evidence)
        assert not any(
            e.kind is EvidenceKind.HISTORY
            for c in causes
            if c.service != "cart"
            for e in c.evidence
        )
    finally:
        store.close()


def test_an_incident_never_diagnosed_here_teaches_nothing(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}", FakeClock(0.0))
    try:
        ranker = RankerAdapter(WindowStore(), memory=store.past_incidents)
        ranker.learn(_incident("inc-9", 10.0), Cause("cart", 0.9, FailureType.CODE_BUG), 20.0)
        assert store.past_incidents.recent() == ()
    finally:
        store.close()


def test_without_a_store_what_was_learned_lasts_for_the_process() -> None:
    ranker = RankerAdapter(_history(100.0, 310.0, healed_at=130.0))  # back at 300
    ranker.rank(_incident("inc-1", 100.0), GRAPH, 110.0)
    ranker.learn(_incident("inc-1", 100.0), Cause("cart", 0.9, FailureType.CODE_BUG), 120.0)
    causes = ranker.rank(_incident("inc-2", 300.0), GRAPH, 310.0)
    cart = next(c for c in causes if c.service == "cart")
    assert any(e.failure_type is FailureType.CODE_BUG for e in cart.evidence)


def test_the_ranking_keeps_at_most_max_causes() -> None:
    history = _history(100.0, 110.0)
    assert len(RankerAdapter(history).rank(_incident("inc-1", 100.0), GRAPH, 110.0)) == 3  # all
    causes = RankerAdapter(history, max_causes=1).rank(_incident("inc-1", 100.0), GRAPH, 110.0)
    assert [c.service for c in causes] == ["cart"]
