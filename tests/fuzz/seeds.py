"""Valid inputs for every fuzz target: where coverage-guided fuzzing starts mutating.

Each seed is a well-formed input of its kind (a real scrape body, a real OTLP export
in protobuf and in JSON, log lines as the shop writes them, a full configuration, the
shipped playbook, a scenario), in the byte layout its target in ``targets.py`` reads.
"""

from __future__ import annotations

import base64
import functools
import json
from importlib import resources

import yaml
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


def _exposition() -> list[bytes]:
    registry = CollectorRegistry()
    Counter("http_requests", "requests", ["code"], registry=registry).labels("200").inc(7)
    Gauge("pool_in_use", "pool", registry=registry).set(3)
    Histogram("latency_seconds", "latency", registry=registry).observe(0.2)
    return [
        generate_latest(registry),
        b'# TYPE up gauge\nup{job="a",instance="h:1"} 1 1700000000000\n',
        b'x{a="q\\"uote",b="new\\nline"} NaN\ny +Inf\n',
    ]


def _spans() -> ExportTraceServiceRequest:
    def attr(key: str, value: str) -> KeyValue:
        return KeyValue(key=key, value=AnyValue(string_value=value))

    parent = Span(
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
        name="GET /checkout",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_000_050_000_000,
    )
    child = Span(
        trace_id=bytes(range(16)),
        span_id=bytes(range(8, 16)),
        parent_span_id=bytes(range(8)),
        name="POST /pay",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=1_700_000_000_010_000_000,
        end_time_unix_nano=1_700_000_000_040_000_000,
        attributes=[attr("peer.service", "payment")],
        status=Status(code=Status.STATUS_CODE_ERROR),
    )
    resource = Resource(
        attributes=[attr("service.name", "checkout"), attr("service.instance.id", "checkout-0")]
    )
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=[parent, child])])
        ]
    )


def _otlp() -> list[bytes]:
    request = _spans()
    document = json_format.MessageToDict(request)
    for rs in document["resourceSpans"]:  # OTLP JSON writes ids as hex, not base64
        for span in rs["scopeSpans"][0]["spans"]:
            for key in ("traceId", "spanId", "parentSpanId"):
                if key in span:
                    span[key] = base64.b64decode(span[key]).hex()
    as_json = json.dumps(document).encode()
    # first byte: 0 protobuf, 1 JSON, 2 another type; +4 gzip-encoded, +8 wrapped in gzip
    return [b"\x00" + request.SerializeToString(), b"\x01" + as_json, b"\x0d" + as_json, b"\x02{}"]


def _logs() -> list[bytes]:
    lines = [
        {"ts": 1700000000.5, "service": "cart", "instance_id": "cart-0", "level": "error",
         "msg": "GET /cart failed: upstream cache timeout after 800 ms", "span_id": "0a1b2c3d4e5f6071"},
        {"ts": 1700000001, "service": "cart", "level": "info", "msg": "GET /cart 200 12 ms"},
    ]  # fmt: skip
    text = "\n".join(json.dumps(line) for line in lines)
    return [text.encode() + b"\n2024-01-01T00:00:00Z WARN pool exhausted (32/32)\n"]


def _config() -> list[bytes]:
    config = {
        "scrape": {"discovery_url": "http://127.0.0.1:9/platform/targets", "interval_seconds": 1},
        "loop": {"cycle_seconds": 1, "max_concurrent_actions": 2},
        "detection": {"rules": [{"indicator": "error_ratio", "above": 0.1, "for_samples": 2}]},
        "guards": {"cooldown_seconds": 10, "blast_radius_fraction": 0.5},
        "approval": {"risk_level": 0.7, "expiry_seconds": 900},
        "api": {"port": 0, "tokens": [{"name": "ops", "role": "operator", "token_env": "T"}]},
        "executor": {"type": "local", "local": {"control_url": "http://127.0.0.1:9"}},
        "platform": {"services": [{"name": "checkout", "criticality": 0.9}]},
        "logs": {"globs": ["/var/log/*.log"]},
    }
    return [yaml.safe_dump(config).encode(), b"{}\n"]


def _playbook() -> list[bytes]:
    """Small playbooks cut from the shipped one (two strategies each): a mutated 11 kB
    file parses at a few inputs a second, these at hundreds."""
    shipped = resources.files("selfheal.decision").joinpath("default_playbook.yaml")
    strategies = yaml.safe_load(shipped.read_text(encoding="utf-8"))["strategies"]
    return [
        yaml.safe_dump(
            {"version": 1, "strategies": strategies[i : i + 2]}, sort_keys=False
        ).encode()
        for i in range(0, len(strategies), 2)
    ]


def _scenario() -> list[bytes]:
    steps = [
        {"at_seconds": 5, "fault": "crash", "service": "cart", "instance": "cart-0"},
        {"at_seconds": 20, "fault": "latency", "service": "catalog", "params": {"delay_ms": 800},
         "duration": 30},
    ]  # fmt: skip
    return [yaml.safe_dump(steps).encode()]


SEEDS = {
    "exposition": _exposition,
    "otlp": _otlp,
    "logs": _logs,
    "config": _config,
    "playbook": _playbook,
    "scenario": _scenario,
}


@functools.cache
def seeds(target: str) -> tuple[bytes, ...]:
    """The seed inputs of ``target`` (a name of ``targets.TARGETS``), made once per
    process (a scrape body carries creation times: the same seeds every time)."""
    return tuple(SEEDS[target]())
