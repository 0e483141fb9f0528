from __future__ import annotations

import pytest

from selfheal.core.types import (
    Action,
    ActionKind,
    Anomaly,
    Cause,
    FailureType,
    Impact,
    Incident,
    IncidentStatus,
)
from selfheal.store import NotFoundError, Store


def _incident(status: IncidentStatus = IncidentStatus.OPEN, opened: float = 10.0) -> Incident:
    return Incident(
        id=f"inc-{opened:g}",
        opened_at=opened,
        anomalies=(Anomaly("cart", opened, 0.9, "rule", indicator="error_ratio", value=0.4),),
        services=frozenset({"cart", "checkout"}),
        causes=(Cause("cart", 0.85, FailureType.CODE_BUG, path=("cart", "checkout")),),
        impact=Impact(("checkout",), {"order_success_ratio": 0.3}, 0.5),
        status=status,
        updated_at=opened + 1,
    )


def test_save_and_get_round_trip(store: Store) -> None:
    record = store.incidents.save(_incident())
    got = store.incidents.get("inc-10")
    assert got == record
    assert got.services == ("cart", "checkout") and got.status == "open"
    assert got.causes[0]["failure_type"] == "CodeBug" and got.causes[0]["path"] == [
        "cart",
        "checkout",
    ]
    assert got.impact["business"] == {"order_success_ratio": 0.3}
    assert got.anomalies[0]["indicator"] == "error_ratio"


def test_save_updates_in_place_and_list_filters(store: Store) -> None:
    store.incidents.save(_incident(opened=10.0))
    store.incidents.save(_incident(opened=20.0))
    store.incidents.save(_incident(IncidentStatus.RESOLVED, opened=10.0))
    assert [r.id for r in store.incidents.list()] == ["inc-20", "inc-10"]
    assert [r.id for r in store.incidents.list(status=IncidentStatus.RESOLVED)] == ["inc-10"]
    updated = store.incidents.set_status("inc-20", "escalated", at=30.0)
    assert updated.status == "escalated" and updated.updated_at == 30.0


def test_actions_are_kept_per_incident_in_order(store: Store) -> None:
    store.incidents.save(_incident())
    store.incidents.add_action(
        "inc-10", Action(ActionKind.RESTART_SERVICE, "cart"), "rolled_back", 11.0
    )
    store.incidents.add_action(
        "inc-10", {"kind": "RollbackDeployment"}, "succeeded", 12.0, {"v": "v1"}
    )
    actions = store.incidents.actions("inc-10")
    assert [a.outcome for a in actions] == ["rolled_back", "succeeded"]
    assert actions[0].action["kind"] == "RestartService" and actions[1].detail == {"v": "v1"}


def test_unknown_incident_is_a_clear_error(store: Store) -> None:
    assert store.incidents.get("nope") is None
    with pytest.raises(NotFoundError, match="no incident 'nope'"):
        store.incidents.add_action("nope", {}, "succeeded", 1.0)
