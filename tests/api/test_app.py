"""The REST API over a real SQLite store and a stand-in engine view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from selfheal.api import Server, create_app
from selfheal.core.types import Incident, IncidentStatus
from selfheal.store.state import Store, open_store


class EngineView:
    def __init__(self, store: Store) -> None:
        self.store = store

    def status(self) -> dict[str, Any]:
        return {"cycles": 3, "paused": self.store.control.paused, "open_incidents": []}

    def pause(self, by: str = "") -> None:
        self.store.control.pause(by=by)
        self.store.audit.append("engine_paused", {"by": by}, 1.0)

    def resume(self, by: str = "") -> None:
        self.store.control.resume(by=by)
        self.store.audit.append("engine_resumed", {"by": by}, 2.0)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = open_store(f"sqlite:///{tmp_path}/api.db")
    yield s
    s.close()


@pytest.fixture
def client(store: Store) -> httpx.Client:
    registry = CollectorRegistry()
    Counter("selfheal_cycles_total", "cycles", registry=registry).inc(3)
    server = Server(create_app(EngineView(store), store, registry)).start()
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c
    server.stop()


def test_incidents_list_and_detail(client: httpx.Client, store: Store) -> None:
    store.incidents.save(
        Incident("inc-1", 10.0, (), frozenset({"cart"}), status=IncidentStatus.RESOLVED)
    )
    listed = client.get("/incidents").json()["incidents"]
    assert [i["id"] for i in listed] == ["inc-1"]
    assert client.get("/incidents/inc-1").json()["status"] == "resolved"


def test_unknown_incident_is_a_clear_404(client: httpx.Client) -> None:
    response = client.get("/incidents/nope")
    assert response.status_code == 404
    assert "nope" in response.json()["error"]


def test_bad_query_is_a_400_naming_the_parameter(client: httpx.Client) -> None:
    response = client.get("/incidents?status=bogus")
    assert response.status_code == 400
    assert "status" in response.json()["error"]


def test_approve_then_second_decision_conflicts(client: httpx.Client, store: Store) -> None:
    rid = store.approvals.request({"kind": "RestartService"}, "inc-1", 0.8, expires_at=4e9)
    assert [a["id"] for a in client.get("/approvals?pending=true").json()["approvals"]] == [rid]
    ok = client.post(f"/approvals/{rid}/approve", json={"by": "alice"})
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    again = client.post(f"/approvals/{rid}/deny", json={"by": "bob"})
    assert again.status_code == 409
    assert client.post("/approvals/999/approve").status_code == 404
    assert client.post("/approvals/abc/approve").status_code == 400


def test_pause_resume_and_audit_verify(client: httpx.Client, store: Store) -> None:
    assert client.post("/pause", json={"by": "alice"}).json() == {"paused": True}
    assert client.get("/status").json()["paused"] is True
    assert client.post("/resume").json() == {"paused": False}
    kinds = [e["kind"] for e in client.get("/audit").json()["entries"]]
    assert kinds == ["engine_paused", "engine_resumed"]
    verdict = client.get("/audit/verify").json()
    assert verdict["ok"] is True and verdict["checked"] == 2


def test_metrics_are_prometheus_text(client: httpx.Client) -> None:
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert "selfheal_cycles_total 3.0" in response.text
