from __future__ import annotations

import threading

import pytest

from selfheal.core.clock import FakeClock
from selfheal.store import ConflictError, NotFoundError, Store, open_store

ACTION = {"kind": "RestartService", "target": "cart"}


def test_second_record_of_a_key_is_refused(store: Store) -> None:
    assert store.intents.record_intent("inc-1:restart:cart", ACTION, "inc-1")
    assert not store.intents.record_intent("inc-1:restart:cart", {"other": 1}, "inc-2")
    intent = store.intents.get("inc-1:restart:cart")
    assert intent is not None and intent.action == ACTION and intent.incident_id == "inc-1"


def test_pending_lists_written_but_never_completed(store: Store, clock: FakeClock) -> None:
    store.intents.record_intent("a", ACTION, "inc-1")
    clock.advance(1)
    store.intents.record_intent("b", ACTION, "inc-1")
    store.intents.complete("a", "succeeded", {"verified": True})
    pending = store.intents.pending()
    assert [i.key for i in pending] == ["b"] and pending[0].is_pending
    done = store.intents.get("a")
    assert done is not None and done.outcome == "succeeded" and done.detail == {"verified": True}
    assert done.completed_at == clock.now()


def test_pending_survives_a_restart(db_url: str) -> None:
    first = open_store(db_url)
    first.intents.record_intent("k", ACTION, "inc-9")
    first.close()  # the loop crashed before completing
    second = open_store(db_url)
    assert [i.key for i in second.intents.pending()] == ["k"]
    assert not second.intents.record_intent("k", ACTION, "inc-9")  # not repeated blindly
    second.close()


def test_complete_twice_or_unknown_is_a_clear_error(store: Store) -> None:
    store.intents.record_intent("k", ACTION, "inc-1")
    store.intents.complete("k", "failed")
    with pytest.raises(ConflictError, match="already completed"):
        store.intents.complete("k", "succeeded")
    with pytest.raises(NotFoundError, match="no intent"):
        store.intents.complete("nope", "succeeded")


def test_concurrent_records_of_one_key_let_exactly_one_win(store: Store) -> None:
    wins: list[bool] = []
    barrier = threading.Barrier(6)

    def attempt() -> None:
        barrier.wait()
        wins.append(store.intents.record_intent("same", ACTION, "inc-1"))

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 5 + [True]
