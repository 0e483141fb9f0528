"""Adapters between the engine's ports and the real stages."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfheal.core.types import Action, ActionKind, Incident, IncidentStatus
from selfheal.loop.stages import StoreAdapter
from selfheal.store.state import open_store

ACTION = Action(ActionKind.SCALE_SERVICE, "cart", params={"delta": 1})


def test_store_adapter_keeps_intents_across_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    first = StoreAdapter(open_store(url))
    first.save_incident(Incident("inc-1", 1.0, (), frozenset({"cart"}), status=IncidentStatus.OPEN))
    key = first.write_intent("inc-1", ACTION, 2.0)
    first.audit("intent", {"incident": "inc-1"}, 2.0)
    first.store.close()
    second = StoreAdapter(open_store(url))
    (pending,) = second.pending_intents()
    assert pending == (key, "inc-1", ACTION)
    second.complete_intent(key, "interrupted", 3.0)
    assert second.pending_intents() == []
    assert second.store.audit.verify().ok
    second.store.close()


def test_a_saved_incident_reads_back_from_sqlite_for_a_restarted_loop(tmp_path: Path) -> None:
    from selfheal.core.types import (
        Action,
        ActionKind,
        Anomaly,
        Cause,
        FailureType,
        Incident,
        IncidentStatus,
        SeriesKey,
    )
    from selfheal.loop.stages import StoreAdapter
    from selfheal.store.state import open_store

    store = open_store(f"sqlite:///{tmp_path}/s.db")
    try:
        adapter = StoreAdapter(store)
        key = SeriesKey.of("error_ratio", {"service": "cart", "instance": "cart-0"})
        inc = Incident(
            "inc-9",
            5.0,
            (
                Anomaly(
                    "cart",
                    5.0,
                    0.8,
                    "rule:error_ratio>0.05",
                    indicator="error_ratio",
                    value=0.4,
                    instance="cart-0",
                    series=key,
                ),
            ),
            frozenset({"cart"}),
            (Cause("cart", 0.9, FailureType.CODE_BUG, "cart-0"),),
            status=IncidentStatus.REMEDIATING,
            updated_at=6.0,
        )
        adapter.save_incident(inc)
        intent = adapter.write_intent(
            "inc-9", Action(ActionKind.RESTART_CONTAINER, "cart", "cart-0"), 6.0
        )
        back = adapter.load_incident("inc-9")
        assert back is not None
        assert back.anomalies[0].series == key and back.causes == inc.causes
        assert back.status is IncidentStatus.REMEDIATING
        assert adapter.load_incident("nope") is None
        ((pending_id, incident_id, action),) = adapter.pending_intents()
        assert (pending_id, incident_id, action.instance) == (intent, "inc-9", "cart-0")
    finally:
        store.close()


def test_what_the_planner_learned_survives_a_restart(tmp_path: Path) -> None:
    from selfheal.decision.planner import Planner
    from selfheal.loop.stages import PlannerAdapter
    from selfheal.store import open_store

    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = open_store(url)
    first = PlannerAdapter(Planner(), store.outcomes)
    name = first.planner.playbook.entries[0].name
    prior = first.planner.playbook.success_probability(name)
    first.record_outcome(name, False)
    first.record_outcome(name, False)
    first.record_outcome("not-in-this-playbook", True)  # ignored, not stored
    learned = first.planner.playbook.success_probability(name)
    assert learned < prior
    store.close()
    store = open_store(url)  # the loop restarts with a fresh planner
    try:
        second = PlannerAdapter(Planner(), store.outcomes)
        assert second.planner.playbook.success_probability(name) == pytest.approx(learned)
        assert store.outcomes.all() == {name: (0, 2)}
    finally:
        store.close()
