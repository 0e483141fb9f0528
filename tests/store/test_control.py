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


def test_in_memory_store_is_usable_from_several_threads() -> None:
    import threading

    store = open_store("sqlite://")
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(20):
                store.audit.append("signal", {"t": i, "j": j}, at=float(j))
                store.control.state()
                store.intents.record_intent(f"{i}-{j}", {}, "inc")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and store.audit.verify().checked == 80
    assert len(store.intents.pending()) == 80
    store.close()
