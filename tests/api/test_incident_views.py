"""An incident's graph, series and timeline, and /readyz, through real HTTP over a real store."""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import pytest

from selfheal.api.auth import TokenBook
from selfheal.api.incident_views import MAX_SERIES
from selfheal.core.types import (
    Anomaly,
    Cause,
    FailureType,
    Impact,
    Incident,
    IncidentStatus,
    Sample,
    SeriesKey,
)
from selfheal.monitoring.window_store import WindowStore
from selfheal.store.state import Store

from .api_server import TOKENS, EngineView, bearer, serve

OPENED = 1000.0
Served = tuple[httpx.Client, EngineView, WindowStore]


def _incident(store: Store) -> None:
    key = SeriesKey.of("error_ratio", {"service": "orders"})
    store.incidents.save(
        Incident(
            "inc-7",
            OPENED,
            (
                Anomaly(
                    "orders", OPENED, 0.9, "rule:error_ratio", indicator="error_ratio", series=key
                ),
                Anomaly(
                    "gateway", OPENED + 2, 0.6, "rule:latency", indicator="latency_p99_seconds"
                ),
            ),
            frozenset({"orders", "gateway"}),
            causes=(Cause("ledger", 0.88, FailureType.CODE_BUG),),
            impact=Impact(services=("gateway", "orders", "web")),
            status=IncidentStatus.RESOLVED,
            updated_at=OPENED + 60,
        )
    )
    action = {
        "kind": "RollbackDeployment",
        "target": "ledger",
        "describe": "RollbackDeployment(ledger)",
    }
    store.incidents.add_action(
        "inc-7", action, "succeeded", OPENED + 30, {"started_at": OPENED + 20}
    )
    audit = store.audit
    audit.append(
        "incident_opened",
        {"incident": "inc-7", "signals": [{"service": "orders", "indicator": "error_ratio"}]},
        OPENED,
    )
    audit.append(
        "incident_diagnosed",
        {
            "incident": "inc-7",
            "causes": [{"service": "ledger", "failure_type": "CodeBug", "confidence": 0.88}],
        },
        OPENED + 5,
    )
    audit.append("intent", {"incident": "inc-7", "action": action}, OPENED + 19)
    audit.append("action_started", {"incident": "inc-7", "action": action}, OPENED + 20)
    audit.append(
        "verification", {"incident": "inc-7", "passed": True, "detail": "healthy"}, OPENED + 30
    )
    audit.append("incident_opened", {"incident": "inc-8", "signals": []}, OPENED + 31)
    audit.append("incident_resolved", {"incident": "inc-7", "reason": "healed"}, OPENED + 60)


@pytest.fixture
def served(store: Store) -> Iterator[Served]:
    history = WindowStore(max_points_per_series=600)
    engine = EngineView(store)
    server = serve(store, TokenBook(TOKENS), engine=engine, history=history)
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c, engine, history
    server.stop()


def test_graph_marks_the_root_cause_and_the_affected_services(served: Served, store: Store) -> None:
    client, engine, _ = served
    _incident(store)
    engine.edges = [
        ("web", "gateway"),
        ("gateway", "orders"),
        ("orders", "ledger"),
        ("web", "search"),
    ]
    body = client.get("/incidents/inc-7/graph", headers=bearer("viewer")).json()
    marks = {n["id"]: n["mark"] for n in body["nodes"]}
    assert body["root_cause"] == "ledger"
    assert marks == {
        "ledger": "root_cause",
        "orders": "affected",
        "gateway": "affected",
        "web": "affected",  # the impact names it
        "search": "none",
    }
    assert {(e["source"], e["target"]) for e in body["edges"]} == set(engine.edges)


def test_series_are_the_symptoms_around_the_incident_with_its_actions(
    served: Served, store: Store
) -> None:
    client, _, history = served
    _incident(store)
    orders = SeriesKey.of("error_ratio", {"service": "orders"})
    history.append_many(Sample(orders, OPENED - 300 + t, 0.01) for t in range(0, 500, 10))
    history.append(Sample(orders, OPENED + 205, math.nan))  # within the window, stale
    history.append_many(
        Sample(SeriesKey.of("error_ratio", {"service": "ledger"}), OPENED + t, 0.5)
        for t in range(5)
    )  # not a symptom of this incident
    body = client.get(
        "/incidents/inc-7/series?before_seconds=60&after_seconds=150", headers=bearer("viewer")
    ).json()
    assert body["since"] == OPENED - 60 and body["until"] == OPENED + 60 + 150
    (line,) = body["series"]  # the gateway's latency has no history: no line
    assert (line["service"], line["indicator"]) == ("orders", "error_ratio")
    times = [t for t, _ in line["points"]]
    assert times[0] >= OPENED - 60 and times[-1] == OPENED + 205
    assert line["points"][-1][1] is None  # NaN is JSON null
    assert body["actions"] == [
        {"at": OPENED + 20, "finished_at": OPENED + 30,
         "describe": "RollbackDeployment(ledger)", "outcome": "succeeded"}
    ]  # fmt: skip


def test_timeline_lists_the_incidents_steps_in_order(served: Served, store: Store) -> None:
    client, _, _ = served
    _incident(store)
    steps = client.get("/incidents/inc-7/timeline", headers=bearer("viewer")).json()["steps"]
    assert [s["step"] for s in steps] == [
        "opened", "diagnosed", "action started", "verified", "resolved"
    ]  # fmt: skip
    assert steps[1]["detail"] == "ledger · CodeBug · 0.88"
    assert steps[2]["detail"] == "RollbackDeployment(ledger)"
    assert [s["at"] for s in steps] == sorted(s["at"] for s in steps)


def test_the_views_need_a_token_and_a_known_incident(served: Served, store: Store) -> None:
    client, _, _ = served
    _incident(store)
    for view in ("graph", "series", "timeline"):
        assert client.get(f"/incidents/inc-7/{view}").status_code == 401
        missing = client.get(f"/incidents/nope/{view}", headers=bearer("viewer"))
        assert missing.status_code == 404 and "nope" in missing.json()["error"]
    bad = client.get("/incidents/inc-7/series?before_seconds=-1", headers=bearer("viewer"))
    assert bad.status_code == 400 and "before_seconds" in bad.json()["error"]


def test_readyz_is_open_and_says_why_it_is_not_ready(served: Served) -> None:
    client, engine, _ = served
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    engine.ready = (False, "no cycle finished yet")
    refused = client.get("/readyz")
    assert refused.status_code == 503
    assert refused.json() == {"error": "not ready: no cycle finished yet"}


def test_openapi_documents_the_views_shapes(served: Served) -> None:
    client, _, _ = served
    schema = client.get("/openapi.json").json()
    for view, model in (
        ("graph", "IncidentGraph"),
        ("series", "IncidentSeries"),
        ("timeline", "IncidentTimeline"),
    ):
        ok = schema["paths"][f"/incidents/{{incident_id}}/{view}"]["get"]["responses"]["200"]
        assert ok["content"]["application/json"]["schema"]["$ref"].endswith(model)
    components = schema["components"]["schemas"]
    assert set(components["GraphNode"]["properties"]) == {"id", "mark"}
    assert set(components["TimelineStep"]["properties"]) >= {"at", "step", "detail"}
    assert "503" in schema["paths"]["/readyz"]["get"]["responses"]


def test_an_open_incidents_series_run_to_now_and_are_capped(served: Served, store: Store) -> None:
    client, _, history = served
    services = [f"svc{i:02d}" for i in range(MAX_SERIES + 3)]
    anomalies = tuple(
        Anomaly(s, OPENED, 0.5 + i / 100, "rule:x", indicator="error_ratio")
        for i, s in enumerate(services)
    )
    store.incidents.save(Incident("inc-9", OPENED, anomalies, frozenset(services)))
    for s in services:  # two instances each: one series per instance
        for instance in ("a", "b"):
            key = SeriesKey.of("error_ratio", {"service": s, "instance": instance})
            history.append_many(Sample(key, OPENED + t, 0.1) for t in range(0, 900, 100))
    body = client.get("/incidents/inc-9/series", headers=bearer("viewer")).json()
    assert body["until"] is None  # open: up to now
    assert len(body["series"]) == MAX_SERIES
    # the highest-scoring symptoms first, each instance its own line
    first = body["series"][0]
    assert first["service"] == services[-1] and first["labels"]["instance"] == "a"
    assert first["points"][-1][0] == OPENED + 800
