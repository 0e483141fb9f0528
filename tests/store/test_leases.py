"""Leases: one leader, a successor once it stops renewing, and fenced intents."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from selfheal.store import Store, open_store
from selfheal.store.leases import LeaseLost

LEASE = "loop"


def test_the_first_to_ask_leads_and_renews_while_others_wait(store: Store) -> None:
    a = store.leases.acquire(LEASE, "a", now=100.0, ttl_seconds=5.0)
    assert a is not None and (a.holder, a.epoch, a.expires_at) == ("a", 1, 105.0)
    assert store.leases.acquire(LEASE, "b", now=103.0, ttl_seconds=5.0) is None
    renewed = store.leases.acquire(LEASE, "a", now=104.0, ttl_seconds=5.0)
    assert renewed is not None and (renewed.epoch, renewed.expires_at) == (1, 109.0)
    assert store.leases.acquire(LEASE, "b", now=108.9, ttl_seconds=5.0) is None


def test_a_standby_takes_over_once_the_leader_stops_renewing(store: Store) -> None:
    store.leases.acquire(LEASE, "a", now=100.0, ttl_seconds=5.0)
    b = store.leases.acquire(LEASE, "b", now=105.1, ttl_seconds=5.0)
    assert b is not None and (b.holder, b.epoch) == ("b", 2)
    assert store.leases.acquire(LEASE, "a", now=105.2, ttl_seconds=5.0) is None
    assert store.leases.current(LEASE) == b


def test_taking_an_expired_lease_is_a_new_epoch_even_under_the_same_name(store: Store) -> None:
    store.leases.acquire(LEASE, "a", now=100.0, ttl_seconds=5.0)
    again = store.leases.acquire(LEASE, "a", now=106.0, ttl_seconds=5.0)  # a restarted "a"
    assert again is not None and again.epoch == 2


def test_a_clean_release_lets_a_standby_lead_at_once(store: Store) -> None:
    store.leases.acquire(LEASE, "a", now=100.0, ttl_seconds=60.0)
    assert not store.leases.release(LEASE, "b", now=101.0)  # not b's to release
    assert store.leases.release(LEASE, "a", now=101.0)
    b = store.leases.acquire(LEASE, "b", now=101.0, ttl_seconds=60.0)
    assert b is not None and b.epoch == 2


def test_an_intent_is_written_only_under_a_lease_that_still_holds(store: Store) -> None:
    old = store.leases.acquire(LEASE, "a", now=100.0, ttl_seconds=5.0)
    assert old is not None
    assert store.intents.record_intent("k1", {"kind": "restart"}, "inc-1", at=101.0, fence=old)
    new = store.leases.acquire(LEASE, "b", now=106.0, ttl_seconds=5.0)
    assert new is not None
    # the old leader wakes up after its successor took over: nothing is written
    with pytest.raises(LeaseLost, match="held by b"):
        store.intents.record_intent("k2", {"kind": "restart"}, "inc-1", at=106.5, fence=old)
    assert store.intents.get("k2") is None
    # an expired lease nobody took yet does not hold either
    with pytest.raises(LeaseLost, match="expired"):
        store.intents.record_intent("k3", {"kind": "restart"}, "inc-1", at=120.0, fence=new)
    assert [i.key for i in store.intents.pending()] == ["k1"]


def test_two_processes_racing_for_a_free_lease_get_one_leader(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    open_store(url).close()  # the schema, once
    winners: list[str] = []
    start = threading.Barrier(8)

    def contend(name: str) -> None:
        s = open_store(url)
        try:
            start.wait()
            if s.leases.acquire(LEASE, name, now=100.0, ttl_seconds=10.0) is not None:
                winners.append(name)
        finally:
            s.close()

    threads = [threading.Thread(target=contend, args=(f"r{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_advance_mirrors_an_outside_lock_and_never_goes_back_an_epoch(store: Store) -> None:
    """A lock held elsewhere (a Kubernetes Lease) advances the row to its epoch: a newer
    epoch takes it, the same holder at the same epoch renews, an older epoch or another
    holder at the same epoch changes nothing."""
    first = store.leases.advance(LEASE, "a", 0, expires_at=105.0, now=100.0)
    assert first is not None and (first.holder, first.epoch, first.expires_at) == ("a", 0, 105.0)
    renewed = store.leases.advance(LEASE, "a", 0, expires_at=107.0, now=102.0)
    assert renewed is not None and (renewed.epoch, renewed.expires_at) == (0, 107.0)
    assert store.leases.advance(LEASE, "b", 0, expires_at=110.0, now=105.0) is None
    taken = store.leases.advance(LEASE, "b", 1, expires_at=113.0, now=108.0)
    assert taken is not None and (taken.holder, taken.epoch) == ("b", 1)
    assert store.leases.advance(LEASE, "a", 0, expires_at=115.0, now=110.0) is None  # stale
    assert store.leases.current(LEASE) == taken
    # the overtaken holder's fenced intent is refused; the new one's is written
    with pytest.raises(LeaseLost, match="held by b"):
        store.intents.record_intent("k1", {"kind": "restart"}, "inc-1", at=109.0, fence=renewed)
    assert store.intents.record_intent("k2", {"kind": "restart"}, "inc-1", at=109.0, fence=taken)
