from __future__ import annotations

import pytest

from selfheal.store import Store, open_store


def test_outcomes_add_up_and_survive_another_handle(store: Store, db_url: str) -> None:
    assert store.outcomes.all() == {}
    assert store.outcomes.record("restart-crashed", True) == (1, 0)
    assert store.outcomes.record("restart-crashed", False) == (1, 1)
    store.outcomes.record("rollback-bad-release", True)
    again = open_store(db_url)  # a restarted loop
    try:
        assert again.outcomes.all() == {"restart-crashed": (1, 1), "rollback-bad-release": (1, 0)}
        again.outcomes.record("restart-crashed", True)
    finally:
        again.close()
    assert store.outcomes.all()["restart-crashed"] == (2, 1)


def test_an_outcome_needs_a_strategy_name(store: Store) -> None:
    with pytest.raises(ValueError, match="strategy's name"):
        store.outcomes.record("", True)
