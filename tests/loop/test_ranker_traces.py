"""The loop's ranker hands the spans around an incident to the RCA engine, which
reads code faults (a step a service stopped taking) and slow callees from them."""

from __future__ import annotations

import networkx as nx

from selfheal.core.clock import FakeClock
from selfheal.core.telemetry import KIND_CLIENT, KIND_SERVER, SpanRecord
from selfheal.core.types import Anomaly, Cause, EvidenceKind, Incident
from selfheal.loop.stages import RankerAdapter
from selfheal.monitoring.span_window import SpanWindow
from selfheal.monitoring.window_store import WindowStore

START = 1_000.0


def _request(i: int, at: float, calls_cart: bool, cart_seconds: float) -> list[SpanRecord]:
    spans = [SpanRecord(f"r{i}", None, "front", "GET /", at, KIND_SERVER, 0.05)]
    if calls_cart:
        waited = cart_seconds + 0.002  # the caller's wait: the callee's time and the network
        spans.append(
            SpanRecord(f"c{i}", f"r{i}", "front", "GET cart", at + 1e-9, KIND_CLIENT, waited)
        )
        spans.append(
            SpanRecord(f"s{i}", f"c{i}", "cart", "GET /cart", at + 2e-9, KIND_SERVER, cart_seconds)
        )
    return spans


def _rank(window: SpanWindow) -> list[Cause]:
    anomaly = Anomaly("front", START, 0.9, "rule:latency>0.5", indicator="latency_p99_seconds")
    incident = Incident("inc-1", START, (anomaly,), frozenset({"front"}))
    graph = nx.DiGraph([("front", "cart")])
    return list(RankerAdapter(WindowStore(), spans=window).rank(incident, graph, START + 30.0))


def test_a_request_path_cut_short_points_at_the_service_that_cut_it() -> None:
    window = SpanWindow(FakeClock(START))
    for i in range(180):
        at = START - 60.0 + i * 0.5  # 60 s before the incident, 30 s into it
        # after the fault, front returns before calling the cart in 3 of 4 requests
        window.add(_request(i, at, calls_cart=at < START or i % 4 == 0, cart_seconds=0.01))
    top = _rank(window)[0]
    assert top.service == "front"
    assert any(e.text == "GET / -> GET cart" for e in top.evidence), top.evidence


def test_a_slow_callee_is_named_from_its_call_spans() -> None:
    window = SpanWindow(FakeClock(START))
    for i in range(180):
        at = START - 60.0 + i * 0.5
        window.add(_request(i, at, calls_cart=True, cart_seconds=0.01 if at < START else 0.4))
    top = _rank(window)[0]
    assert top.service == "cart"
    assert any(e.kind is EvidenceKind.TRACE_LATENCY for e in top.evidence), top.evidence


def test_without_spans_the_rca_sees_no_traces() -> None:
    causes = _rank(SpanWindow(FakeClock(START)))
    assert [c.service for c in causes] == ["front"]
    assert not any(e.kind.value.startswith("trace") for e in causes[0].evidence)
