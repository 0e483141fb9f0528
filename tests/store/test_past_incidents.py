from __future__ import annotations

import pytest

from selfheal.core.clock import FakeClock
from selfheal.store import Store, open_store


def test_healed_incidents_come_back_newest_first_and_survive_another_handle(
    store: Store, db_url: str, clock: FakeClock
) -> None:
    memory = store.past_incidents
    assert memory.recent() == ()
    memory.remember("inc-1", {"cart:error_ratio": 0.9}, "cart", "CodeBug")
    clock.advance(5.0)
    memory.remember(
        "inc-2",
        {"db:latency_p99_seconds": 0.6, "cart:latency_p99_seconds": 0.4},
        "db",
        "NetworkFailure",
    )
    got = memory.recent()
    assert [r.incident_id for r in got] == ["inc-2", "inc-1"]
    assert got[0].signature == {"db:latency_p99_seconds": 0.6, "cart:latency_p99_seconds": 0.4}
    assert (got[1].root_service, got[1].failure_type, got[1].resolved_at) == (
        "cart",
        "CodeBug",
        1_000.0,
    )
    assert [r.incident_id for r in memory.recent(limit=1)] == ["inc-2"]
    again = open_store(db_url)  # a restarted loop
    try:
        assert [r.incident_id for r in again.past_incidents.recent()] == ["inc-2", "inc-1"]
    finally:
        again.close()


def test_remembering_an_incident_again_replaces_it(store: Store, clock: FakeClock) -> None:
    store.past_incidents.remember("inc-1", {"cart:error_ratio": 0.9}, "cart", "CodeBug")
    clock.advance(1.0)
    store.past_incidents.remember("inc-1", {"cache:error_ratio": 1.0}, "cache", "DataCorruption")
    (only,) = store.past_incidents.recent()
    assert (only.root_service, dict(only.signature), only.resolved_at) == (
        "cache",
        {"cache:error_ratio": 1.0},
        1_001.0,
    )


@pytest.mark.parametrize(
    ("incident_id", "signature", "root", "message"),
    [
        ("", {"a:x": 0.5}, "a", "id and its root"),
        ("inc-1", {"a:x": 0.5}, "", "id and its root"),
        ("inc-1", {}, "a", "empty signature"),
        ("inc-1", {"a:x": 1.5}, "a", "not in \\[0, 1\\]"),
        ("inc-1", {"a:x": float("nan")}, "a", "not in \\[0, 1\\]"),
    ],
)
def test_a_bad_past_incident_is_refused_and_nothing_is_written(
    store: Store, incident_id: str, signature: dict[str, float], root: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        store.past_incidents.remember(incident_id, signature, root, "CodeBug")
    assert store.past_incidents.recent() == ()
    with pytest.raises(ValueError, match="limit"):
        store.past_incidents.recent(limit=0)
