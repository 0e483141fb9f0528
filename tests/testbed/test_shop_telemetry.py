"""The shop is discoverable and every instance emits the contract's telemetry:
Prometheus metrics, JSON log lines, OTLP traces that join into one trace."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from testbed_helpers import OtlpReceiver, metric_sum, scrape, wait_until

from selfheal.testbed import ControlClient, LoadGenerator, Shop, find_topology

SERVICE_NAMES = find_topology("shop").names

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loaded(shop: Shop) -> Iterator[LoadGenerator]:
    """Three seconds of shoppers, so every service has served requests."""
    with LoadGenerator(shop.frontend_url, rate=20, seed=1) as load:
        time.sleep(3.0)
        yield load


def test_status_lists_every_service_with_ready_instances(client: ControlClient) -> None:
    status = client.status()
    names = [s["name"] for s in status["services"]]
    assert names == list(SERVICE_NAMES)
    replicas = {s["name"]: s["replicas"] for s in status["services"]}
    assert replicas["frontend"] == replicas["cart"] == 2 and replicas["payment"] == 1
    for svc in status["services"]:
        assert svc["version"] == "v1" and svc["config_revision"] == 1
        assert svc["lb_url"].startswith("http://127.0.0.1:")
        assert len(svc["instances"]) == svc["replicas"]
        for inst in svc["instances"]:
            assert inst["healthy"] and inst["ready"] and not inst["drained"]
            assert isinstance(inst["pid"], int)
            assert inst["id"].startswith(svc["name"] + "-")
    payment = next(s for s in status["services"] if s["name"] == "payment")
    assert payment["dependencies"] == {"bank": "bank"}
    roles = {s["name"]: s["role"] for s in status["services"]}
    assert roles["frontend"] == "entry" and roles["cache"] == "cache"
    assert roles["bank"] == roles["bank-b"] == "external" and roles["payment"] == "service"
    assert payment["criticality"] == 0.9
    assert "criticality" not in next(s for s in status["services"] if s["name"] == "shipping")


def test_every_instance_is_a_separate_live_process(client: ControlClient) -> None:
    pids = [i["pid"] for s in client.status()["services"] for i in s["instances"]]
    assert len(pids) == len(set(pids)) == 14
    for svc in client.status()["services"]:
        for inst in svc["instances"]:
            assert httpx.get(inst["url"] + "/health", timeout=5).json()["instance_id"] == inst["id"]


def test_targets_and_logs_follow_the_discovery_contract(client: ControlClient) -> None:
    targets = client.targets()
    assert len(targets) == 14
    for t in targets:
        assert set(t["labels"]) == {"service", "instance_id", "version"}
        (address,) = t["targets"]
        assert address.startswith("127.0.0.1:")
    files = client.logs()["files"]
    assert {f["instance_id"] for f in files} == {t["labels"]["instance_id"] for t in targets}


def test_every_instance_serves_the_contract_metrics(
    client: ControlClient, loaded: LoadGenerator
) -> None:
    for svc in client.status()["services"]:
        for inst in svc["instances"]:
            m = scrape(inst["url"])
            for name in (
                "http_requests_in_flight",
                "process_cpu_seconds_total",
                "process_resident_memory_bytes",
                "pool_connections_in_use",
                "pool_connections_max",
                "pool_wait_timeouts_total",
            ):
                assert name in m, (inst["id"], name)
            assert m["app_info{version=v1}"] == 1.0
            if svc["name"] != "bank-b":  # the standby serves nothing until a failover
                assert metric_sum(m, "http_requests_total") > 0, inst["id"]
                assert metric_sum(m, "http_request_duration_seconds_count") > 0
            if svc["dependencies"]:
                assert metric_sum(m, "upstream_requests_total", status="200") > 0, inst["id"]
                assert metric_sum(m, "upstream_request_duration_seconds_count") > 0
            if svc["name"] == "checkout":
                assert "orders_total" in m and "orders_failed_total" in m
            if svc["name"] == "payment":
                assert m["payments_total"] > 0 and "payments_failed_total" in m
            if svc["name"] == "cache":
                assert "cache_entries" in m


def test_every_instance_writes_json_log_lines(client: ControlClient, loaded: LoadGenerator) -> None:
    for f in client.logs()["files"]:
        with open(f["path"], encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh if line.strip()]
        assert records, f["instance_id"]
        for r in records:
            assert {"ts", "level", "service", "instance_id", "msg"} <= set(r)
            assert r["level"] in ("INFO", "WARNING", "ERROR")
            assert r["instance_id"] == f["instance_id"] and r["service"] == f["service"]
        served = [r for r in records if "route" in r and "status" in r]
        if f["service"] not in ("bank-b",):
            assert served and all(len(r["trace_id"]) == 32 for r in served), f["instance_id"]


def test_traces_arrive_over_otlp_and_join_across_services(
    otlp: OtlpReceiver, loaded: LoadGenerator
) -> None:
    def services_seen() -> set[str]:
        return {s.service for s in otlp.snapshot()}

    expected = set(SERVICE_NAMES) - {"bank-b"}
    assert wait_until(lambda: expected <= services_seen(), timeout=10), services_seen()
    spans = otlp.snapshot()
    by_id = {s.span_id: s for s in spans}
    # A checkout trace: frontend SERVER → frontend CLIENT → checkout SERVER → ... → bank SERVER.
    traces: dict[str, set[str]] = {}
    for s in spans:
        traces.setdefault(s.trace_id, set()).add(s.service)
    assert any({"frontend", "checkout", "payment", "bank"} <= svcs for svcs in traces.values())
    children = [
        s for s in spans
        if s.kind == Span.SPAN_KIND_SERVER and s.parent_span_id in by_id
        and by_id[s.parent_span_id].kind == Span.SPAN_KIND_CLIENT
    ]  # fmt: skip
    assert children, "no SERVER span has a CLIENT parent from another process"
    assert all(by_id[c.parent_span_id].trace_id == c.trace_id for c in children)
    assert any(by_id[c.parent_span_id].service != c.service for c in children)
    assert {s.instance_id for s in spans if s.service == "cart"} == {"cart-0", "cart-1"}
    assert all(s.status_code != Status.STATUS_CODE_ERROR for s in spans if s.service == "bank")
