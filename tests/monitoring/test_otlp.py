from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from selfheal.core.clock import FakeClock
from selfheal.core.telemetry import SpanRecord
from selfheal.monitoring.otlp import OtlpReceiver
from selfheal.monitoring.service_graph import ServiceGraph

PROPAGATOR = TraceContextTextMapPropagator()


def _provider(service: str, endpoint: str, gzip_body: bool = False) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.instance.id": f"{service}-0"})
    )
    exporter = OTLPSpanExporter(
        endpoint=endpoint, compression=Compression.Gzip if gzip_body else Compression.NoCompression
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def test_real_sdk_exporter_builds_the_call_graph() -> None:
    received: list[SpanRecord] = []
    graph = ServiceGraph(FakeClock(0.0))
    with OtlpReceiver(graph, on_spans=received.extend) as receiver:
        checkout = _provider("checkout", receiver.endpoint)
        payment = _provider("payment", receiver.endpoint, gzip_body=True)
        for i in range(3):
            with (
                checkout.get_tracer("t").start_as_current_span(
                    "POST /checkout", kind=SpanKind.SERVER
                ),
                checkout.get_tracer("t").start_as_current_span(
                    "POST payment", kind=SpanKind.CLIENT, attributes={"peer.service": "payment"}
                ) as client,
            ):
                headers: dict[str, str] = {}
                PROPAGATOR.inject(headers)  # W3C traceparent, as over HTTP
                with payment.get_tracer("t").start_as_current_span(
                    "POST /pay", kind=SpanKind.SERVER, context=PROPAGATOR.extract(headers)
                ) as server:
                    if i == 2:
                        server.set_status(Status(StatusCode.ERROR, "declined"))
                if i == 2:
                    client.set_status(Status(StatusCode.ERROR, "HTTP 502"))
        assert checkout.force_flush(5000) and payment.force_flush(5000)
        checkout.shutdown()
        payment.shutdown()
        assert receiver.spans_total == 9 and receiver.rejected_total == 0
    (edge,) = graph.edges()
    assert (edge.caller, edge.callee, edge.calls, edge.errors) == ("checkout", "payment", 3, 1)
    services = {r.service for r in received}
    assert services == {"checkout", "payment"}
    assert {r.instance for r in received} == {"checkout-0", "payment-0"}


def _json_body() -> dict[str, object]:
    def s(span_id: str, parent: str, kind: int, code: int = 0) -> dict[str, object]:
        return {
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": span_id,
            "parentSpanId": parent,
            "name": "call",
            "kind": kind,
            "startTimeUnixNano": "1000000000",
            "endTimeUnixNano": "1040000000",
            "status": {"code": code},
            "attributes": [{"key": "peer.service", "value": {"stringValue": "cache"}}],
        }

    def rs(service: str, spans: list[dict[str, object]]) -> dict[str, object]:
        return {
            "resource": {
                "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
            },
            "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}],
        }

    return {
        "resourceSpans": [
            rs("cart", [s("eee19b7ec3c1b174", "", 3, code=2)]),
            rs("cache", [s("eee19b7ec3c1b175", "eee19b7ec3c1b174", 2)]),
        ]
    }


def test_otlp_json_with_hex_ids_and_gzip() -> None:
    graph = ServiceGraph(FakeClock(0.0))
    with OtlpReceiver(graph) as receiver:
        body = gzip.compress(json.dumps(_json_body()).encode())
        response = httpx.post(
            receiver.endpoint,
            content=body,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        assert (
            response.status_code == 200 and response.headers["content-type"] == "application/json"
        )
        assert response.json() == {}
    (edge,) = graph.edges()
    assert (edge.caller, edge.callee, edge.errors) == ("cart", "cache", 1)
    assert edge.latency_p50_seconds == pytest.approx(0.04)


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"\xff\xff\xff garbage", {"Content-Type": "application/x-protobuf"}, 400),
        (b"{not json", {"Content-Type": "application/json"}, 400),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "zz"}]}]}]}',
            {"Content-Type": "application/json"},
            400,
        ),
        (b"not gzip", {"Content-Type": "application/json", "Content-Encoding": "gzip"}, 400),
        (b"{}", {"Content-Type": "text/plain"}, 415),
    ],
)
def test_garbage_gets_a_client_error_and_the_server_survives(
    body: bytes, headers: dict[str, str], status: int
) -> None:
    with OtlpReceiver(ServiceGraph(FakeClock(0.0))) as receiver:
        response = httpx.post(receiver.endpoint, content=body, headers=headers)
        assert response.status_code == status
        assert "error" in response.json()
        ok = httpx.post(
            receiver.endpoint, content=b"", headers={"Content-Type": "application/x-protobuf"}
        )
        assert ok.status_code == 200


def test_other_paths_and_methods() -> None:
    with OtlpReceiver(ServiceGraph(FakeClock(0.0))) as receiver:
        base = receiver.endpoint.removesuffix("/v1/traces")
        assert httpx.post(base + "/v1/metrics", content=b"x").status_code == 404
        assert httpx.get(receiver.endpoint).status_code == 405


def test_endpoint_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = OtlpReceiver(ServiceGraph()).endpoint


def test_gzip_bomb_is_refused() -> None:
    with OtlpReceiver(ServiceGraph(FakeClock(0.0)), max_body_bytes=1024) as receiver:
        bomb = gzip.compress(b"\x00" * 1_000_000)  # ~1 KB compressed, 1 MB inflated
        response = httpx.post(
            receiver.endpoint,
            content=bomb,
            headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
        )
        assert response.status_code == 400 and "inflates beyond" in response.json()["error"]


def test_chunked_body_is_read_and_missing_length_is_refused() -> None:
    graph = ServiceGraph(FakeClock(0.0))
    with OtlpReceiver(graph) as receiver:
        body = json.dumps(_json_body()).encode()

        def chunks() -> Iterator[bytes]:  # a generator body: httpx sends it chunked
            yield body[:100]
            yield body[100:]

        response = httpx.post(
            receiver.endpoint, content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 200
        assert [(e.caller, e.callee) for e in graph.edges()] == [("cart", "cache")]
        host, port = receiver.endpoint.split("//")[1].split("/")[0].split(":")
        with socket.create_connection((host, int(port))) as raw:
            raw.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n"
            )
            assert raw.recv(100).startswith(b"HTTP/1.1 411")
