"""The REST API over a real SQLite store and a stand-in engine view, through real HTTP."""

from __future__ import annotations

import httpx

from selfheal.core.types import Incident, IncidentStatus
from selfheal.store.state import Store

from .api_server import bearer


def test_incidents_list_and_detail(client: httpx.Client, store: Store) -> None:
    store.incidents.save(
        Incident("inc-1", 10.0, (), frozenset({"cart"}), status=IncidentStatus.RESOLVED)
    )
    listed = client.get("/incidents", headers=bearer("viewer")).json()["incidents"]
    assert [i["id"] for i in listed] == ["inc-1"]
    detail = client.get("/incidents/inc-1", headers=bearer("viewer")).json()
    assert detail["status"] == "resolved"


def test_unknown_incident_is_a_clear_404(client: httpx.Client) -> None:
    response = client.get("/incidents/nope", headers=bearer("viewer"))
    assert response.status_code == 404
    assert "nope" in response.json()["error"]


def test_bad_query_is_a_400_naming_the_parameter(client: httpx.Client) -> None:
    response = client.get("/incidents?status=bogus", headers=bearer("viewer"))
    assert response.status_code == 400
    assert "status" in response.json()["error"]


def test_integers_beyond_64_bits_are_a_400_not_a_500(client: httpx.Client) -> None:
    huge = str(2**64)
    audit = client.get(f"/audit?after_seq={huge}", headers=bearer("viewer"))
    assert audit.status_code == 400 and "after_seq" in audit.json()["error"]
    decide = client.post(f"/approvals/{huge}/approve", headers=bearer("approver"))
    assert decide.status_code == 400 and "approval_id" in decide.json()["error"]


def test_approve_then_second_decision_conflicts(client: httpx.Client, store: Store) -> None:
    rid = store.approvals.request({"kind": "RestartService"}, "inc-1", 0.8, expires_at=4e9)
    pending = client.get("/approvals?pending=true", headers=bearer("viewer")).json()
    assert [a["id"] for a in pending["approvals"]] == [rid]
    ok = client.post(f"/approvals/{rid}/approve", json={}, headers=bearer("approver"))
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    again = client.post(f"/approvals/{rid}/deny", headers=bearer("approver"))
    assert again.status_code == 409
    assert client.post("/approvals/999/approve", headers=bearer("admin")).status_code == 404
    assert client.post("/approvals/abc/approve", headers=bearer("admin")).status_code == 400


def test_the_actor_is_the_token_name_whatever_the_body_says(
    client: httpx.Client, store: Store
) -> None:
    rid = store.approvals.request({"kind": "Failover"}, "inc-1", 0.8, expires_at=4e9)
    body = {"by": "somebody-else", "reason": "bank is down, standby is healthy"}
    decided = client.post(f"/approvals/{rid}/approve", json=body, headers=bearer("approver"))
    assert decided.json()["decided_by"] == "holder-approver"
    (entry,) = [e for e in store.audit.entries() if e.kind == "approval_decided"]
    assert entry.payload == {
        "approval": rid,
        "incident": "inc-1",
        "status": "approved",
        "by": "holder-approver",
        "reason": "bank is down, standby is healthy",
    }
    client.post("/pause", json={"by": "mallory"}, headers=bearer("operator"))
    paused = [e for e in store.audit.entries() if e.kind == "engine_paused"]
    assert [e.payload["by"] for e in paused] == ["holder-operator"]
    assert store.control.state().by == "holder-operator"


def test_pause_resume_and_audit_verify(client: httpx.Client, store: Store) -> None:
    assert client.post("/pause", headers=bearer("operator")).json() == {"paused": True}
    assert client.get("/status", headers=bearer("viewer")).json()["paused"] is True
    assert client.post("/resume", headers=bearer("admin")).json() == {"paused": False}
    entries = client.get("/audit", headers=bearer("viewer")).json()["entries"]
    assert [e["kind"] for e in entries] == ["engine_paused", "engine_resumed"]
    verdict = client.get("/audit/verify", headers=bearer("viewer")).json()
    assert verdict["ok"] is True and verdict["checked"] == 2


def test_metrics_and_health_are_open_to_probes(client: httpx.Client) -> None:
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "selfheal_cycles_total 3.0" in metrics.text
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_whoami_names_the_caller(client: httpx.Client) -> None:
    me = client.get("/whoami", headers=bearer("approver")).json()
    assert me == {"name": "holder-approver", "role": "approver", "tokens_configured": True}


def test_without_tokens_the_api_reads_but_refuses_every_change(
    open_client: httpx.Client, store: Store
) -> None:
    rid = store.approvals.request({"kind": "Failover"}, "inc-1", 0.8, expires_at=4e9)
    assert open_client.get("/status").status_code == 200
    assert open_client.get("/whoami").json()["tokens_configured"] is False
    for path in ("/pause", "/resume", f"/approvals/{rid}/approve", f"/approvals/{rid}/deny"):
        refused = open_client.post(path, json={})
        assert refused.status_code == 401, path
        assert "api.tokens" in refused.json()["error"]
    assert not store.control.paused
    assert store.approvals.get(rid).status == "pending"  # type: ignore[union-attr]
    assert store.audit.count() == 0


def test_openapi_promises_the_statuses_the_api_answers(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert "422" not in statuses, (method, path)
            if operation.get("parameters") or "requestBody" in operation:
                assert "400" in statuses, (method, path)
            if path not in ("/metrics", "/healthz", "/readyz"):
                assert "401" in statuses, (method, path)
            if method == "post":
                assert "403" in statuses, (method, path)
    served = client.get("/metrics").headers["content-type"]
    assert served in schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert "bearer" in str(schema["components"]["securitySchemes"]).lower()
