"""Indicators derived from scraped counters, gauges and histograms."""

from __future__ import annotations

import math

from selfheal.core.types import Sample, SeriesKey
from selfheal.loop.live_indicators import IndicatorDeriver, _p99
from selfheal.monitoring.window_store import WindowStore


def put(
    store: WindowStore, name: str, labels: dict[str, str], points: list[tuple[float, float]]
) -> None:
    key = SeriesKey.of(name, labels)
    store.append_many(Sample(key, t, v) for t, v in points)


def values(samples: list[Sample]) -> dict[str, float]:
    return {str(s.series): s.value for s in samples}


def test_error_ratio_per_service_and_instance_from_counter_increase() -> None:
    raw = WindowStore()
    base = {"service": "cart", "instance_id": "cart-0", "route": "/cart"}
    put(
        raw,
        "http_requests_total",
        base | {"status": "200"},
        [(0, 100), (1, 110), (2, 120), (3, 130)],
    )
    put(raw, "http_requests_total", base | {"status": "500"}, [(0, 5), (1, 5), (2, 15), (3, 25)])
    samples, _ = IndicatorDeriver(window_seconds=3).derive(raw, 3.0)
    got = values(samples)
    assert got['error_ratio{service="cart"}'] == 20 / 50
    assert got['error_ratio{instance="cart-0",service="cart"}'] == 20 / 50
    assert math.isclose(got['request_rate{service="cart"}'], 50 / 3)


def test_counter_reset_after_restart_counts_from_zero() -> None:
    raw = WindowStore()
    labels = {"service": "cart", "instance_id": "cart-0", "route": "/cart", "status": "200"}
    put(raw, "http_requests_total", labels, [(0, 100), (1, 110), (2, 4), (3, 10)])
    samples, _ = IndicatorDeriver(window_seconds=3).derive(raw, 3.0)
    assert values(samples)['request_rate{service="cart"}'] == (10 + 4 + 6) / 3


def test_too_few_requests_give_no_ratio() -> None:
    raw = WindowStore()
    labels = {"service": "cart", "instance_id": "cart-0", "route": "/cart", "status": "500"}
    put(raw, "http_requests_total", labels, [(0, 0), (3, 2)])
    samples, _ = IndicatorDeriver(window_seconds=3).derive(raw, 3.0)
    assert not any(s.series.name == "error_ratio" for s in samples)


def test_upstream_series_give_edges_and_edge_errors() -> None:
    raw = WindowStore()
    ok = {"service": "payment", "instance_id": "payment-0", "target": "bank", "status": "200"}
    bad = ok | {"status": "error"}
    put(raw, "upstream_requests_total", ok, [(0, 0), (3, 5)])
    put(raw, "upstream_requests_total", bad, [(0, 0), (3, 15)])
    samples, graph = IndicatorDeriver(window_seconds=3).derive(raw, 3.0)
    assert list(graph.edges) == [("payment", "bank")]
    assert values(samples)['upstream_error_ratio{service="payment",target="bank"}'] == 0.75


def test_p99_interpolates_inside_the_bucket() -> None:
    assert _p99({0.1: 0.0, 0.5: 100.0, math.inf: 100.0}) == 0.1 + 0.4 * 0.99
    assert math.isnan(_p99({}))


def test_instance_level_gauges() -> None:
    raw = WindowStore()
    labels = {"service": "cart", "instance_id": "cart-1"}
    put(raw, "up", labels, [(3, 0.0)])
    put(raw, "process_resident_memory_bytes", labels, [(3, 5e8)])
    put(raw, "process_cpu_seconds_total", labels, [(0, 10.0), (3, 13.0)])
    put(raw, "pool_connections_in_use", labels, [(3, 4.0)])
    put(raw, "pool_connections_max", labels, [(3, 4.0)])
    samples, _ = IndicatorDeriver(window_seconds=3).derive(raw, 3.0)
    got = values(samples)
    where = '{instance="cart-1",service="cart"}'
    assert got["up" + where] == 0.0
    assert got["memory_bytes" + where] == 5e8
    assert got["cpu_cores" + where] == 1.0
    assert got["pool_saturation" + where] == 1.0


def test_slow_instance_stands_out_from_its_peers() -> None:
    raw = WindowStore()
    for inst, slow in (("catalog-0", True), ("catalog-1", False)):
        labels = {"service": "catalog", "instance_id": inst, "route": "/items"}
        put(raw, "http_requests_total", labels | {"status": "200"}, [(0, 0), (3, 30)])
        fast_le, slow_le = ("0.1", "1.0")
        put(
            raw,
            "http_request_duration_seconds_bucket",
            labels | {"le": fast_le},
            [(0, 0), (3, 0 if slow else 30)],
        )
        put(
            raw, "http_request_duration_seconds_bucket", labels | {"le": slow_le}, [(0, 0), (3, 30)]
        )
        put(raw, "http_request_duration_seconds_bucket", labels | {"le": "+Inf"}, [(0, 0), (3, 30)])
    samples, _ = IndicatorDeriver(window_seconds=3).derive(raw, 3.0)
    got = values(samples)
    assert got['latency_p99_vs_peers{instance="catalog-0",service="catalog"}'] > 4.0
    assert got['latency_p99_vs_peers{instance="catalog-1",service="catalog"}'] == 1.0


def _edge(raw: WindowStore, inst: str, fast: int, slow: int) -> None:
    labels = {"service": "checkout", "instance_id": inst, "target": "payment"}
    calls = fast + slow
    put(raw, "upstream_requests_total", labels | {"status": "200"}, [(0, 0), (3, calls)])
    for le, n in (("0.05", fast), ("0.25", fast), ("0.5", calls), ("+Inf", calls)):
        put(raw, "upstream_request_duration_seconds_bucket", labels | {"le": le}, [(0, 0), (3, n)])


def test_a_moderately_slow_call_edge_stands_out_from_the_same_edge_of_its_peers() -> None:
    raw = WindowStore()
    _edge(raw, "checkout-0", fast=0, slow=3)  # every call ~0.4 s: a 300 ms network delay
    _edge(raw, "checkout-1", fast=4, slow=0)
    samples, _ = IndicatorDeriver(window_seconds=3).derive(raw, 3.0)
    got = values(samples)
    key = 'upstream_latency_p99_vs_peers{instance="checkout-0",service="checkout",target="payment"}'
    assert got[key] > 4.0
    assert got[key.replace("checkout-0", "checkout-1")] == 1.0


def test_an_edge_with_a_single_call_is_not_compared_with_its_peers() -> None:
    raw = WindowStore()
    _edge(raw, "checkout-0", fast=0, slow=1)  # one slow call says nothing
    _edge(raw, "checkout-1", fast=4, slow=0)
    samples, _ = IndicatorDeriver(window_seconds=3).derive(raw, 3.0)
    assert not any(s.series.name == "upstream_latency_p99_vs_peers" for s in samples)
