from __future__ import annotations

from selfheal.store import Store, open_store


def test_not_paused_by_default(store: Store) -> None:
    assert not store.control.paused
    assert store.control.state().reason == ""


def test_pause_from_another_handle_is_seen(store: Store, db_url: str) -> None:
    other = open_store(db_url)  # e.g. the `selfheal pause` process
    other.control.pause("deploy freeze", by="alice", at=5.0)
    other.close()
    state = store.control.state()
    assert state.paused and state.reason == "deploy freeze" and state.by == "alice"
    assert state.at == 5.0
    store.control.resume(by="bob")
    assert not store.control.paused and store.control.state().by == "bob"
