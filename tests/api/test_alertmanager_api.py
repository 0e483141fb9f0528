"""``POST /alertmanager``: Alertmanager's webhook receiver on the API, over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from selfheal.monitoring.alertmanager import AlertInbox
from selfheal.store.state import Store

from .api_server import bearer


def note(status: str, fingerprint: str = "f1", **labels: str) -> dict[str, Any]:
    alert = {"status": status, "labels": labels, "fingerprint": fingerprint}
    return {"version": "4", "status": status, "receiver": "selfheal", "alerts": [alert]}


def test_a_firing_alert_is_taken_once_and_resolved(
    client: httpx.Client, alerts: AlertInbox
) -> None:
    firing = note("firing", service="svc", instance="svc-1", alertname="QueueStuck")
    first = client.post("/alertmanager", json=firing, headers=bearer("operator"))
    assert first.status_code == 200
    assert first.json() == {"firing": 1, "new": 1, "resolved": 0, "refused": 0, "active": 1}
    # re-sent (the repeat interval, the second member of an HA pair): folded
    again = client.post("/alertmanager", json=firing, headers=bearer("admin"))
    assert again.json() == {"firing": 1, "new": 0, "resolved": 0, "refused": 0, "active": 1}
    [sample] = alerts.samples(1e12 - 1)  # far later: still firing until resolved
    assert str(sample.series) == (
        'alert_firing{alertname="QueueStuck",instance="svc-1",service="svc"}'
    )
    assert sample.value == 1.0
    resolved = note("resolved", service="svc", instance="svc-1", alertname="QueueStuck")
    done = client.post("/alertmanager", json=resolved, headers=bearer("operator"))
    assert done.json() == {"firing": 0, "new": 0, "resolved": 1, "refused": 0, "active": 0}


def test_a_bad_body_is_one_clear_400_and_changes_nothing(
    client: httpx.Client, alerts: AlertInbox, store: Store
) -> None:
    for body, message in (
        ({"alerts": [{"status": "burning", "labels": {}}]}, "alerts.0.status"),
        ({"status": "firing"}, "alerts: Field required"),
        ([1, 2], "(body)"),
    ):
        answer = client.post("/alertmanager", json=body, headers=bearer("operator"))
        assert answer.status_code == 400, body
        error = answer.json()["error"]
        assert error.startswith("not an Alertmanager notification: ") and message in error
        assert "\n" not in error
    not_json = client.post(
        "/alertmanager",
        content=b"{nope",
        headers={**bearer("operator"), "Content-Type": "application/json"},
    )
    assert not_json.status_code == 400
    assert not_json.json()["error"].startswith("bad request: ")
    assert alerts.firing == 0 and alerts.received_total == 0


def test_an_alert_naming_no_service_is_refused_and_counted(
    client: httpx.Client, alerts: AlertInbox
) -> None:
    answer = client.post(
        "/alertmanager", json=note("firing", alertname="Orphan"), headers=bearer("operator")
    )
    assert answer.json()["refused"] == 1
    assert alerts.refused_total == 1 and alerts.firing == 0


def test_with_the_receiver_off_the_route_says_so(store: Store) -> None:
    from selfheal.api.auth import TokenBook

    from .api_server import TOKENS, serve

    server = serve(store, TokenBook(TOKENS), alerts=None)
    try:
        answer = httpx.post(
            f"{server.url}/alertmanager",
            json=note("firing", service="svc"),
            headers=bearer("admin"),
            timeout=10,
        )
    finally:
        server.stop()
    assert answer.status_code == 404
    assert answer.json()["error"] == (
        "the Alertmanager receiver is off (alertmanager.enabled: false)"
    )
