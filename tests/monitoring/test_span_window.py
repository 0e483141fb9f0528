"""The span window keeps recent spans for the RCA and finds the calls among them."""

from __future__ import annotations

import pytest

from selfheal.core.clock import FakeClock
from selfheal.core.telemetry import KIND_CLIENT, KIND_INTERNAL, KIND_SERVER, SpanRecord
from selfheal.monitoring.span_window import SpanWindow, calls_of


def _span(
    span_id: str,
    parent: str | None,
    service: str,
    kind: int,
    start: float,
    seconds: float = 0.01,
    error: bool = False,
) -> SpanRecord:
    return SpanRecord(span_id, parent, service, f"op-{span_id}", start, kind, seconds, error)


def test_between_selects_by_span_start_and_keeps_the_latest_under_a_limit() -> None:
    window = SpanWindow(FakeClock(1000.0))
    window.add([_span(str(i), None, "front", KIND_SERVER, 100.0 + i) for i in (3, 1, 2, 0)])
    assert [s.span_id for s in window.between(101.0, 103.0)] == ["1", "2", "3"]
    assert [s.span_id for s in window.between(0.0, 1e9, limit=2)] == ["2", "3"]
    first = window.between(100.0, 100.0)[0]
    assert (first.service, first.operation, first.duration_seconds) == ("front", "op-0", 0.01)


def test_old_and_surplus_spans_are_dropped() -> None:
    clock = FakeClock(0.0)
    window = SpanWindow(clock, keep_seconds=10.0, max_spans=3)
    window.add([_span("a", None, "s", KIND_SERVER, 1.0)])
    clock.advance(11.0)
    window.add([_span(x, None, "s", KIND_SERVER, 2.0) for x in "bcde"])
    assert [s.span_id for s in window.between(0, 1e9)] == ["c", "d", "e"]
    assert window.spans_total == 5 and len(window) == 3


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        SpanWindow(keep_seconds=0)


def test_calls_pair_client_and_server_spans_across_services_per_edge() -> None:
    spans = [
        _span("root", None, "front", KIND_SERVER, 10.0, 0.5),
        _span("cli", "root", "front", KIND_CLIENT, 10.1, 0.3, error=True),
        _span("srv", "cli", "cart", KIND_SERVER, 10.15, 0.2),
        _span("int", "srv", "cart", KIND_INTERNAL, 10.16, 0.1),  # same service: no call
        # a server span whose parent is the caller's own server span (no client span)
        _span("srv2", "root", "ads", KIND_SERVER, 10.2, 0.05),
        _span("lost", "root", "front", KIND_CLIENT, 10.3, 0.1),  # its callee is untraced
        # a second, earlier call to the cart, listed later
        _span("cli0", "root", "front", KIND_CLIENT, 10.05, 0.02),
        _span("srv0", "cli0", "cart", KIND_SERVER, 10.06, 0.01),
    ]
    window = SpanWindow(FakeClock(0.0))
    window.add(spans)
    calls = calls_of(window.between(0, 100))
    assert [(c.caller, c.callee) for c in calls] == [("front", "ads"), ("front", "cart")]
    ads, cart = calls
    assert list(cart.timestamps) == pytest.approx([10.05, 10.1])  # in time order
    assert list(cart.latency_seconds) == pytest.approx([0.02, 0.3])
    assert cart.server_latency_seconds is not None
    assert list(cart.server_latency_seconds) == pytest.approx([0.01, 0.2])
    assert list(cart.error) == [0.0, 1.0]
    assert list(ads.latency_seconds) == pytest.approx([0.05]) and list(ads.error) == [0.0]
    assert ads.server_latency_seconds is None  # no client span: one span measured both
