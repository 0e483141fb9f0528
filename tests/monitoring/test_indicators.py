from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from tests.monitoring.http_fixtures import Route, serve

from selfheal.core.clock import FakeClock
from selfheal.core.types import Sample, SeriesKey
from selfheal.monitoring import indicators as ind
from selfheal.monitoring.indicators import IndicatorEngine, IndicatorSettings, indicator_name
from selfheal.monitoring.scraper import Scraper, ScrapeTarget
from selfheal.monitoring.window_store import WindowStore

NOW = 14.0
TIMES = [10.0, 11.0, 12.0, 13.0, 14.0]  # covers the 4 s window exactly: no extrapolation
SETTINGS = IndicatorSettings(window_seconds=4.0)


def _labels(service: str, instance: str, **extra: str) -> dict[str, str]:
    return {"service": service, "instance_id": instance, "instance": "127.0.0.1:1", **extra}


def _put(store: WindowStore, name: str, labels: dict[str, str], values: list[float]) -> None:
    key = SeriesKey.of(name, labels)
    store.append_many(Sample(key, t, v) for t, v in zip(TIMES, values, strict=True))


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [
        s.value
        for s in samples
        if indicator_name(s.series) == name and dict(s.series.labels) == labels
    ]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def _names(samples: list[Sample]) -> set[str]:
    return {indicator_name(s.series) for s in samples}


def test_error_ratio_and_request_rate_with_a_counter_reset() -> None:
    store = WindowStore()
    ok = _labels("cart", "cart-0", route="/cart", method="GET", status="200")
    err = _labels("cart", "cart-0", route="/cart", method="GET", status="503")
    # 200s: 100 → 130 (+30), the process restarts (reset to 4) → 10: 30 + 4 + 6 = 40
    _put(store, "http_requests_total", ok, [100, 115, 130, 4, 10])
    # 5xx: +10 over the window
    _put(store, "http_requests_total", err, [0, 2, 5, 8, 10])
    # probe traffic is not user traffic
    _put(
        store,
        "http_requests_total",
        _labels("cart", "cart-0", route="/health", status="500"),
        [0, 50, 100, 150, 200],
    )
    samples = IndicatorEngine(store, SETTINGS).compute(NOW)
    assert _value(samples, "error_ratio", service="cart") == pytest.approx(10 / 50)
    assert _value(samples, "error_ratio", service="cart", instance_id="cart-0") == pytest.approx(
        0.2
    )
    assert _value(samples, "request_rate", service="cart") == pytest.approx(50 / 4)
    assert all(s.series.name.startswith("indicator:") for s in samples)


def test_no_ratio_from_too_few_requests() -> None:
    store = WindowStore()
    _put(store, "http_requests_total", _labels("cart", "cart-0", status="500"), [0, 1, 1, 2, 2])
    samples = IndicatorEngine(store, SETTINGS).compute(NOW)
    assert "error_ratio" not in _names(samples)
    assert _value(samples, "request_rate", service="cart") == 0.5


def test_latency_quantiles_from_summed_bucket_increases() -> None:
    store = WindowStore()
    # two instances; increases per bucket over the window: le=0.1: 40+10, le=0.5: 45+45,
    # le=1: 50+50, +Inf: 50+50 → cumulative 50, 90, 100, 100
    for inst, inc in (("a-0", (40, 45, 50, 50)), ("a-1", (10, 45, 50, 50))):
        for le, n in zip(("0.1", "0.5", "1.0", "+Inf"), inc, strict=True):
            _put(
                store,
                "http_request_duration_seconds_bucket",
                _labels("api", inst, route="/x", le=le),
                [0, n / 4, n / 2, 3 * n / 4, n],
            )
    samples = IndicatorEngine(store, SETTINGS).compute(NOW)
    # p50: rank 50 → exactly the top of le=0.1
    assert _value(samples, "latency_p50_seconds", service="api") == pytest.approx(0.1)
    # p99: rank 99 → bucket (0.5, 1.0], 9 of its 10 → 0.5 + 0.5 * 0.9
    assert _value(samples, "latency_p99_seconds", service="api") == pytest.approx(0.95)
    # instance a-0 alone: 40, 45, 50, 50 → p99 rank 49.5 in (0.5, 1]: 0.5 + 0.5 * 4.5/5
    assert _value(
        samples, "latency_p99_seconds", service="api", instance_id="a-0"
    ) == pytest.approx(0.95)


def test_resources_pool_and_business_indicators() -> None:
    store = WindowStore()
    for inst, cpu, rss in (("c-0", 0.4, 100e6), ("c-1", 0.1, 300e6)):
        base = _labels("checkout", inst)
        _put(store, "process_cpu_seconds_total", base, [10 + cpu * i for i in range(5)])
        _put(store, "process_resident_memory_bytes", base, [rss] * 5)
        _put(store, "http_requests_in_flight", base, [3.0] * 5)
        _put(store, "pool_connections_max", base, [10.0] * 5)
        _put(store, "pool_connections_in_use", base, [5.0, 6, 7, 8, 9 if inst == "c-0" else 2])
        _put(store, "pool_wait_timeouts_total", base, [0, 0, 1, 2, 4])
        _put(store, "orders_total", base, [0, 5, 10, 15, 20])
        _put(store, "orders_failed_total", base, [0, 1, 2, 3, 5])
    samples = IndicatorEngine(store, SETTINGS).compute(NOW)
    assert _value(samples, "cpu_cores", service="checkout", instance_id="c-0") == pytest.approx(0.4)
    assert _value(samples, "cpu_cores", service="checkout") == pytest.approx(0.5)
    assert _value(samples, "memory_bytes", service="checkout") == 300e6
    assert _value(samples, "in_flight_requests", service="checkout") == 6.0
    assert _value(samples, "pool_saturation", service="checkout", instance_id="c-1") == 0.2
    assert _value(samples, "pool_saturation", service="checkout") == 0.9
    assert _value(samples, "pool_wait_timeouts_per_second", service="checkout") == pytest.approx(
        2.0
    )
    assert _value(samples, "order_success_ratio", service="checkout") == pytest.approx(1 - 10 / 40)


def test_upstream_edges() -> None:
    store = WindowStore()
    labels = _labels("payment", "p-0")
    _put(
        store,
        "upstream_requests_total",
        {**labels, "target": "bank", "status": "200"},
        [0, 5, 10, 15, 20],
    )
    _put(
        store,
        "upstream_requests_total",
        {**labels, "target": "bank", "status": "error"},
        [0, 1, 2, 3, 4],
    )
    _put(
        store,
        "upstream_requests_total",
        {**labels, "target": "bank", "status": "502"},
        [0, 0, 0, 0, 1],
    )
    for le, n in (("0.05", 20), ("0.25", 24), ("+Inf", 25)):
        _put(
            store,
            "upstream_request_duration_seconds_bucket",
            {**labels, "target": "bank", "le": le},
            [0, n / 2, n / 2, n / 2, n],
        )
    samples = IndicatorEngine(store, SETTINGS).compute(NOW)
    assert _value(
        samples, "upstream_error_ratio", service="payment", target="bank"
    ) == pytest.approx(5 / 25)
    assert _value(
        samples, "upstream_request_rate", service="payment", target="bank"
    ) == pytest.approx(25 / 4)
    # p99 rank 24.75 → +Inf bucket → last finite bound 0.25
    assert _value(samples, "upstream_latency_p99_seconds", service="payment", target="bank") == 0.25


def test_up_and_up_ratio_and_stale_gauges() -> None:
    store = WindowStore()
    _put(store, "up", _labels("cart", "cart-0"), [1, 1, 1, 1, 1])
    _put(store, "up", _labels("cart", "cart-1"), [1, 1, 0, 0, 0])
    _put(store, "process_resident_memory_bytes", _labels("cart", "cart-1"), [5, 5, 5, 5, math.nan])
    samples = IndicatorEngine(store, SETTINGS).compute(NOW)
    assert _value(samples, "up", service="cart", instance_id="cart-1") == 0.0
    assert _value(samples, "up_ratio", service="cart") == 0.5
    assert "memory_bytes" not in _names(samples)  # stale marker: no value


def test_update_writes_indicators_into_the_store_and_prefix_rules() -> None:
    store = WindowStore()
    _put(store, "up", _labels("cart", "cart-0"), [1] * 5)
    IndicatorEngine(store, SETTINGS).update(NOW)
    assert store.select("indicator:up", service="cart")
    with pytest.raises(ValueError, match="prefix"):
        IndicatorEngine(store, IndicatorSettings(prefix=""))
    bare = WindowStore()
    samples = IndicatorEngine(
        store, IndicatorSettings(prefix="", instance_label="instance"), bare
    ).update(NOW)
    assert SeriesKey.of("up", {"service": "cart", "instance": "cart-0"}) in {
        s.series for s in samples
    }
    assert bare.select("up")


def test_every_documented_indicator_is_listed() -> None:
    assert len(set(ind.INDICATORS)) == len(ind.INDICATORS)
    for name in ind.INDICATORS:
        assert f"``{name}``" in (ind.__doc__ or ""), name


def test_end_to_end_from_real_exposition_through_the_scraper() -> None:
    registry = CollectorRegistry()
    requests = Counter("http_requests_total", "r", ["route", "method", "status"], registry=registry)
    latency = Histogram("http_request_duration_seconds", "l", ["route"], registry=registry)
    clock = FakeClock(1000.0)
    with serve({"/metrics": Route(body=lambda: generate_latest(registry))}) as srv:
        store = WindowStore()
        target = ScrapeTarget(
            f"{srv.base_url}/metrics", {"service": "cart", "instance_id": "cart-0"}, 1.0, 0.5
        )
        with Scraper(store, targets=[target], clock=clock) as scraper:
            for second in range(5):
                requests.labels("/cart", "GET", "200").inc(8)
                if second >= 2:  # the first 5xx appear mid-window: a brand-new series
                    requests.labels("/cart", "GET", "500").inc(2)
                for _ in range(3):
                    latency.labels("/cart").observe(0.03)
                scraper.scrape_once()
                clock.advance(1.0)
    now = clock.now() - 1.0
    samples = IndicatorEngine(store, IndicatorSettings(window_seconds=4.0)).compute(now)
    # window [1000, 1004] holds scrapes at 1000..1004; 500s: 0 (injected at 1001) → 2, 4, 6
    assert _value(samples, "error_ratio", service="cart") == pytest.approx(6 / (32 + 6))
    # every observation in (0.025, 0.05]: p99 interpolates to 0.025 + 0.025 * 0.99
    p99 = _value(samples, "latency_p99_seconds", service="cart", instance_id="cart-0")
    assert p99 == pytest.approx(0.04975)
