"""The one indicator path: the shipped table over a small shop's real exposition, the
semantics the loop depends on, configured indicators, and errors that name the key."""

from __future__ import annotations

import gc
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from tests.monitoring.http_fixtures import Route, serve

from selfheal.core import indicators as ind
from selfheal.core.clock import FakeClock
from selfheal.core.config import parse_config_text
from selfheal.core.errors import ConfigError
from selfheal.core.types import Sample, SeriesKey
from selfheal.monitoring.indicator_table import DEFAULT_INDICATORS, IndicatorDef
from selfheal.monitoring.indicators import IndicatorSet, window_seconds
from selfheal.monitoring.promql_eval import PromQLError
from selfheal.monitoring.scraper import Scraper, ScrapeTarget
from selfheal.monitoring.window_store import WindowStore

DEMO = IndicatorSet(window_seconds=window_seconds(1.0))  # the demo's 1 s scrapes: 4 s
WIDE = IndicatorSet(window_seconds=4.0)  # (-1, 3]: hand-written points at 0..3 all count


def p99(lower: float, upper: float, below: float, inside: float) -> float:
    """histogram_quantile(0.99) when the rank falls in (lower, upper]."""
    total = below + inside
    return lower + (upper - lower) * (0.99 * total - below) / inside


@dataclass
class Instance:
    """One shop instance's registry with steady traffic per second."""

    service: str
    instance: str
    served: float = 0.0  # 200s per second
    failed: float = 0.0  # 5xx per second
    latency: float = 0.02  # every served request takes this long
    calls: tuple[tuple[str, float, float, float], ...] = ()  # (target, ok/s, errors/s, seconds)
    cpu: float = 0.1  # cores
    memory: float = 100e6
    pool: tuple[float, float] = (2.0, 16.0)
    business: tuple[str, float, float] | None = None  # (counter prefix, total/s, failed/s)

    def __post_init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("http_requests", "", ["route", "method", "status"], registry=r)
        self.durations = Histogram("http_request_duration_seconds", "", ["route"], registry=r)
        self.upstream = Counter("upstream_requests", "", ["target", "status"], registry=r)
        self.upstream_s = Histogram("upstream_request_duration_seconds", "", ["target"], registry=r)
        self.cpu_total = Counter("process_cpu_seconds", "", registry=r)
        Gauge("process_resident_memory_bytes", "", registry=r).set(self.memory)
        Gauge("pool_connections_in_use", "", registry=r).set(self.pool[0])
        Gauge("pool_connections_max", "", registry=r).set(self.pool[1])
        self.timeouts = Counter("pool_wait_timeouts", "", registry=r)
        if self.business is not None:
            prefix = self.business[0]
            self.total = Counter(f"{prefix}", "", registry=r)
            self.failures = Counter(f"{prefix}_failed", "", registry=r)

    def second(self) -> None:
        """One second of traffic."""
        for _ in range(int(self.served)):
            self.requests.labels("/items", "GET", "200").inc()
            self.durations.labels("/items").observe(self.latency)
        for _ in range(int(self.failed)):
            self.requests.labels("/items", "GET", "500").inc()
            self.durations.labels("/items").observe(self.latency)
        self.requests.labels("/health", "GET", "500").inc(50)  # probes are not traffic
        for target, ok, errors, seconds in self.calls:
            self.upstream.labels(target, "200").inc(ok)
            if errors:
                self.upstream.labels(target, "error").inc(errors)
            for _ in range(int(ok + errors)):
                self.upstream_s.labels(target).observe(seconds)
        self.cpu_total.inc(self.cpu)
        self.timeouts.inc(0.5 if self.service == "checkout" else 0.0)
        if self.business is not None:
            self.total.inc(self.business[1])
            self.failures.inc(self.business[2])


SHOP = [
    Instance("frontend", "frontend-0", served=20, calls=(("checkout", 12, 0, 0.03),)),
    Instance("frontend", "frontend-1", served=20, calls=(("checkout", 12, 0, 0.03),)),
    Instance(
        "checkout", "checkout-0", served=10, failed=2, latency=0.8, cpu=0.6, pool=(16.0, 16.0),
        calls=(("payment", 4, 1, 0.4),), business=("orders", 4, 0),
    ),
    Instance(
        "checkout", "checkout-1", served=10, latency=0.02, calls=(("payment", 5, 0, 0.02),),
        business=("orders", 4, 0),
    ),
    Instance(
        "payment", "payment-0", served=5, calls=(("bank", 5, 0, 0.015),),
        business=("payments", 5, 1),
    ),
]  # fmt: skip


def scrape_shop(interval: float = 1.0, scrapes: int = 6) -> tuple[WindowStore, float]:
    """The shop's exposition through the real scraper and parser; returns the raw store
    and an evaluation time just after the last scrape. ``inventory`` answers 503."""
    registries = {f"{i.instance}:9100": i for i in SHOP}

    def serve(request: httpx.Request) -> httpx.Response:
        found = registries.get(request.url.netloc.decode())
        if found is None:
            return httpx.Response(503)
        return httpx.Response(200, content=generate_latest(found.registry))

    targets = [
        ScrapeTarget(
            f"http://{host}/metrics", {"service": i.service, "instance_id": i.instance}, interval
        )
        for host, i in registries.items()
    ] + [ScrapeTarget("http://inv:9100/metrics", {"service": "inventory", "instance_id": "inv-0"})]
    clock = FakeClock(1000.0)
    store = WindowStore(max_points_per_series=8)
    with (
        httpx.Client(transport=httpx.MockTransport(serve)) as client,
        Scraper(store, targets=targets, clock=clock, client=client, max_workers=1) as scraper,
    ):
        for _ in range(scrapes):
            for _ in range(round(interval)):
                for i in SHOP:
                    i.second()
            scraper.scrape_once()
            clock.advance(interval)
    return store, clock.now() - interval + 0.05


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.series == SeriesKey.of(name, labels)]
    assert len(found) == 1, (
        name,
        labels,
        [str(s.series) for s in samples if s.series.name == name],
    )
    return found[0]


@pytest.fixture(scope="module")
def shop() -> tuple[list[Sample], list[tuple[str, str]], list[str]]:
    store, at = scrape_shop()
    samples, graph = DEMO.evaluate(store, at)
    return samples, sorted(graph.edges), sorted(graph.nodes)


def test_every_indicator_of_the_table_is_there_with_its_labels(
    shop: tuple[list[Sample], list[tuple[str, str]], list[str]],
) -> None:
    samples, _, _ = shop
    label_sets: dict[str, set[tuple[str, ...]]] = {}
    for s in samples:
        label_sets.setdefault(s.series.name, set()).add(tuple(k for k, _ in s.series.labels))
    assert label_sets == {
        ind.UP: {("instance", "service")},
        ind.CPU: {("instance", "service")},
        ind.MEMORY: {("instance", "service")},
        ind.SATURATION: {("instance", "service")},
        ind.REQUEST_RATE: {("service",)},
        ind.ERROR_RATIO: {("service",), ("instance", "service")},
        ind.LATENCY_P99: {("service",), ("instance", "service")},
        ind.LATENCY_VS_PEERS: {("instance", "service")},
        ind.UPSTREAM_ERROR_RATIO: {("service", "target")},
        ind.UPSTREAM_LATENCY: {("service", "target"), ("instance", "service", "target")},
        ind.UPSTREAM_LATENCY_VS_PEERS: {("instance", "service", "target")},
        ind.POOL_TIMEOUTS: {("service",)},
        ind.ORDER_SUCCESS: {("service",)},
        ind.PAYMENT_SUCCESS: {("service",)},
    }
    assert {d.name for d in DEFAULT_INDICATORS} == set(label_sets)


def test_instance_indicators(shop: tuple[list[Sample], list[tuple[str, str]], list[str]]) -> None:
    samples, _, _ = shop
    c0 = {"service": "checkout", "instance": "checkout-0"}
    assert value(samples, ind.UP, **c0) == 1.0
    assert value(samples, ind.UP, service="inventory", instance="inv-0") == 0.0
    assert value(samples, ind.CPU, **c0) == pytest.approx(0.6)
    assert value(samples, ind.MEMORY, **c0) == 100e6
    assert value(samples, ind.SATURATION, **c0) == 1.0
    assert value(samples, ind.SATURATION, service="checkout", instance="checkout-1") == 0.125


def test_served_traffic_leaves_the_probes_out(
    shop: tuple[list[Sample], list[tuple[str, str]], list[str]],
) -> None:
    samples, _, _ = shop
    assert value(samples, ind.REQUEST_RATE, service="checkout") == pytest.approx(22.0)
    assert value(samples, ind.REQUEST_RATE, service="frontend") == pytest.approx(40.0)
    assert value(samples, ind.ERROR_RATIO, service="checkout") == pytest.approx(2 / 22)
    assert value(samples, ind.ERROR_RATIO, service="checkout", instance="checkout-0") == (
        pytest.approx(2 / 12)
    )
    assert value(samples, ind.ERROR_RATIO, service="frontend") == 0.0  # no 5xx series at all


def test_latency_and_the_slow_instance_against_its_peer(
    shop: tuple[list[Sample], list[tuple[str, str]], list[str]],
) -> None:
    samples, _, _ = shop
    slow = p99(0.75, 1.0, 0.0, 12.0)
    fast = p99(0.01, 0.025, 0.0, 10.0)
    assert value(samples, ind.LATENCY_P99, service="checkout", instance="checkout-0") == (
        pytest.approx(slow)
    )
    assert value(samples, ind.LATENCY_P99, service="checkout") == pytest.approx(
        p99(0.75, 1.0, 10.0, 12.0)
    )
    assert value(samples, ind.LATENCY_VS_PEERS, service="checkout", instance="checkout-0") == (
        pytest.approx(slow / fast)
    )
    assert value(samples, ind.LATENCY_VS_PEERS, service="checkout", instance="checkout-1") == 1.0
    # one instance has no peer to be compared with
    assert not [s for s in samples if s.series.name == ind.LATENCY_VS_PEERS and
                s.series.label("service") == "payment"]  # fmt: skip


def test_call_edges(shop: tuple[list[Sample], list[tuple[str, str]], list[str]]) -> None:
    samples, edges, nodes = shop
    assert value(samples, ind.UPSTREAM_ERROR_RATIO, service="checkout", target="payment") == (
        pytest.approx(1 / 10)
    )
    assert value(samples, ind.UPSTREAM_ERROR_RATIO, service="payment", target="bank") == 0.0
    slow = p99(0.25, 0.5, 0.0, 5.0)
    assert value(
        samples, ind.UPSTREAM_LATENCY, service="checkout", target="payment", instance="checkout-0"
    ) == pytest.approx(slow)
    assert value(samples, ind.UPSTREAM_LATENCY, service="checkout", target="payment") == (
        pytest.approx(p99(0.25, 0.5, 5.0, 5.0))
    )
    edge0 = {"service": "checkout", "target": "payment", "instance": "checkout-0"}
    # every call of checkout-0 is slow: its median over the fast peer's (0.0175 s, under the
    # median's 0.025 s floor) beats its p99 over the peer's (under the p99's 0.05 s floor)
    median = 0.25 + (0.5 - 0.25) * 0.5
    assert slow / 0.05 < median / 0.025
    assert value(samples, ind.UPSTREAM_LATENCY_VS_PEERS, **edge0) == pytest.approx(median / 0.025)
    assert (
        value(samples, ind.UPSTREAM_LATENCY_VS_PEERS, **(edge0 | {"instance": "checkout-1"})) == 1.0
    )
    assert edges == [("checkout", "payment"), ("frontend", "checkout"), ("payment", "bank")]
    assert nodes == ["bank", "checkout", "frontend", "inventory", "payment"]


def test_pool_and_business(shop: tuple[list[Sample], list[tuple[str, str]], list[str]]) -> None:
    samples, _, _ = shop
    assert value(samples, ind.POOL_TIMEOUTS, service="checkout") == pytest.approx(1.0)
    assert value(samples, ind.ORDER_SUCCESS, service="checkout") == pytest.approx(1.0)
    assert value(samples, ind.PAYMENT_SUCCESS, service="payment") == pytest.approx(0.8)


def test_the_default_five_second_scrapes_give_rates() -> None:
    """A fixed 3 s range (the old live deriver's) holds one point of 5 s scrapes: no
    rate could be computed; the range follows the scrape interval now (20 s)."""
    store, at = scrape_shop(interval=5.0)
    samples, _ = IndicatorSet(window_seconds=window_seconds(5.0)).evaluate(store, at)
    assert value(samples, ind.REQUEST_RATE, service="frontend") == pytest.approx(40.0)
    assert value(samples, ind.ERROR_RATIO, service="checkout") == pytest.approx(2 / 22)
    assert window_seconds(5.0) == 20.0 and window_seconds(1.0) == 4.0


# -- semantics on hand-written series ----------------------------------------------------
def put(store: WindowStore, name: str, labels: dict[str, str], pts: list[tuple[float, float]]):
    store.append_many(Sample(SeriesKey.of(name, labels), t, v) for t, v in pts)


def names(samples: list[Sample]) -> set[str]:
    return {s.series.name for s in samples}


def test_a_counter_reset_after_a_restart_counts_from_zero() -> None:
    raw = WindowStore()
    labels = {"service": "cart", "instance_id": "cart-0", "route": "/cart", "status": "200"}
    put(raw, "http_requests_total", labels, [(0, 100), (1, 110), (2, 4), (3, 10)])
    samples, _ = WIDE.evaluate(raw, 3.0)
    # 10 + 4 + 6 over the 3 s the points span, extrapolated to the 4 s range
    assert value(samples, ind.REQUEST_RATE, service="cart") == pytest.approx(20 / 3)


def test_too_few_requests_give_no_ratio_and_no_quantile() -> None:
    raw = WindowStore()
    labels = {"service": "cart", "instance_id": "cart-0", "route": "/cart"}
    put(raw, "http_requests_total", labels | {"status": "500"}, [(0, 0), (3, 2)])
    put(raw, "http_request_duration_seconds_bucket", labels | {"le": "+Inf"}, [(0, 0), (3, 2)])
    samples, _ = WIDE.evaluate(raw, 3.0)
    assert names(samples) == {ind.REQUEST_RATE}


def test_an_edge_with_a_single_call_is_not_compared_with_its_peers() -> None:
    raw = WindowStore()
    for inst, fast, slow in (("checkout-0", 0, 1), ("checkout-1", 4, 0)):
        labels = {"service": "checkout", "instance_id": inst, "target": "payment"}
        put(raw, "upstream_requests_total", labels | {"status": "200"}, [(0, 0), (3, fast + slow)])
        for le, n in (("0.05", fast), ("0.25", fast), ("0.5", fast + slow), ("+Inf", fast + slow)):
            put(
                raw,
                "upstream_request_duration_seconds_bucket",
                labels | {"le": le},
                [(0, 0), (3, n)],
            )
    samples, _ = WIDE.evaluate(raw, 3.0)
    assert ind.UPSTREAM_LATENCY in names(samples)
    assert ind.UPSTREAM_LATENCY_VS_PEERS not in names(samples)


def _edge_calls(raw: WindowStore, inst: str, calls: dict[str, int]) -> None:
    """checkout's calls to payment from ``inst`` over (0, 3]: count per bucket bound."""
    labels = {"service": "checkout", "instance_id": inst, "target": "payment"}
    total = sum(calls.values())
    put(raw, "upstream_requests_total", labels | {"status": "200"}, [(0, 0), (3, total)])
    seen = 0
    for le in ("0.025", "0.1", "0.25", "0.5", "+Inf"):
        seen += calls.get(le, 0)
        put(
            raw,
            "upstream_request_duration_seconds_bucket",
            labels | {"le": le},
            [(0, 0), (3, seen)],
        )


def test_a_small_delay_on_every_call_of_one_instance_stands_out_by_its_median() -> None:
    # a 200 ms delay on each of checkout-0's calls: its p99 interpolates to ~0.25 s, under
    # the p99 comparison's 0.3 s bar, its median to 0.175 s, over the median's 0.15 s
    raw = WindowStore()
    _edge_calls(raw, "checkout-0", {"0.25": 8})
    _edge_calls(raw, "checkout-1", {"0.025": 8})
    samples, _ = WIDE.evaluate(raw, 3.0)
    edge = {"service": "checkout", "target": "payment"}
    assert value(samples, ind.UPSTREAM_LATENCY, **edge, instance="checkout-0") < 0.3
    assert value(samples, ind.UPSTREAM_LATENCY_VS_PEERS, **edge, instance="checkout-0") == (
        pytest.approx(0.175 / 0.025)
    )
    assert value(samples, ind.UPSTREAM_LATENCY_VS_PEERS, **edge, instance="checkout-1") == 1.0


def test_one_slow_call_among_fast_ones_does_not_move_the_median() -> None:
    raw = WindowStore()
    _edge_calls(raw, "checkout-0", {"0.025": 7, "0.25": 1})
    _edge_calls(raw, "checkout-1", {"0.025": 8})
    samples, _ = WIDE.evaluate(raw, 3.0)
    edge = {"service": "checkout", "target": "payment", "instance": "checkout-0"}
    assert value(samples, ind.UPSTREAM_LATENCY_VS_PEERS, **edge) == 1.0


def test_three_instances_are_compared_with_the_median_of_all() -> None:
    raw = WindowStore()
    for inst, le_hit in (("a-0", "1.0"), ("a-1", "0.1"), ("a-2", "0.2")):
        labels = {"service": "a", "instance_id": inst, "route": "/"}
        put(raw, "http_requests_total", labels | {"status": "200"}, [(0, 0), (3, 30)])
        for le in ("0.1", "0.2", "1.0", "+Inf"):
            n = 30 if float(le if le != "+Inf" else "inf") >= float(le_hit) else 0
            put(raw, "http_request_duration_seconds_bucket", labels | {"le": le}, [(0, 0), (3, n)])
    samples, _ = WIDE.evaluate(raw, 3.0)
    slow = value(samples, ind.LATENCY_P99, service="a", instance="a-0")
    median = value(samples, ind.LATENCY_P99, service="a", instance="a-2")
    assert value(samples, ind.LATENCY_VS_PEERS, service="a", instance="a-0") == (
        pytest.approx(slow / median)
    )
    assert value(samples, ind.LATENCY_VS_PEERS, service="a", instance="a-1") == 1.0


def test_a_stale_gauge_and_a_series_without_service_are_not_emitted() -> None:
    raw = WindowStore()
    put(raw, "process_resident_memory_bytes", {"service": "a", "instance_id": "a-0"},
        [(2, 5.0), (3, math.nan)])  # fmt: skip
    put(raw, "up", {"instance_id": "x-0"}, [(3, 1.0)])
    samples, graph = WIDE.evaluate(raw, 3.0)
    assert samples == [] and list(graph.nodes) == []


def test_instance_falls_back_to_the_instance_label_without_instance_id() -> None:
    raw = WindowStore()
    put(raw, "up", {"service": "a", "instance": "10.0.0.1:9100"}, [(3, 1.0)])
    samples, _ = WIDE.evaluate(raw, 3.0)
    assert [str(s.series) for s in samples] == ['up{instance="10.0.0.1:9100",service="a"}']


# -- configured indicators ---------------------------------------------------------------
def test_configuration_adds_and_replaces_indicators() -> None:
    cfg = parse_config_text(
        "indicators:\n"
        "  - {name: in_flight, expr: 'sum by (service) (http_requests_in_flight)'}\n"
        "  - name: up\n"
        "    expr: 'min by (service) (up)'\n"
        "    help: one value per service\n"
    )
    table = IndicatorSet.from_config(cfg.indicators, window_seconds=4.0)
    assert [d.name for d in table.definitions][-1] == "in_flight"
    assert table.expressions()["up"] == "min by (service) (up)"
    assert len(table.definitions) == len(DEFAULT_INDICATORS) + 1
    raw = WindowStore()
    put(raw, "up", {"service": "a", "instance_id": "a-0"}, [(3, 1.0)])
    put(raw, "up", {"service": "a", "instance_id": "a-1"}, [(3, 0.0)])
    put(raw, "http_requests_in_flight", {"service": "a", "instance_id": "a-0"}, [(3, 4.0)])
    samples, _ = table.evaluate(raw, 3.0)
    assert {str(s.series): s.value for s in samples} == {
        'up{service="a"}': 0.0,
        'in_flight{service="a"}': 4.0,
    }


def test_window_placeholder_follows_the_scrape_interval() -> None:
    cfg = parse_config_text("indicators:\n  - {name: r, expr: 'rate(x_total[$window])'}\n")
    table = IndicatorSet.from_config(cfg.indicators, window_seconds=window_seconds(0.375))
    assert table.expressions()["r"] == "rate(x_total[1500ms])"
    assert IndicatorSet(window_seconds=1.5).expand("x[$window]") == "x[1500ms]"


def test_bad_expressions_are_refused_naming_their_key() -> None:
    cfg = parse_config_text(
        "indicators:\n"
        "  - {name: fine, expr: 'sum by (service) (up)'}\n"
        "  - {name: broken, expr: 'sum(up'}\n"
        "  - {name: scalar, expr: '1 + 1'}\n"
        "  - {name: ranked, expr: 'topk(3, up)'}\n"
    )
    with pytest.raises(ConfigError) as caught:
        IndicatorSet.from_config(cfg.indicators, window_seconds=4.0)
    message = str(caught.value)
    assert "indicators.1.expr: unclosed left parenthesis" in message
    assert "indicators.2.expr: the expression yields a scalar" in message
    assert "indicators.3.expr: aggregation topk is not supported" in message
    assert "indicators.0" not in message


def test_config_refuses_bad_names_and_twice_defined_indicators() -> None:
    with pytest.raises(ConfigError, match=r"indicators\.0\.name"):
        parse_config_text("indicators:\n  - {name: 'bad name', expr: up}\n")
    with pytest.raises(ConfigError, match="indicator defined twice: x"):
        parse_config_text("indicators:\n  - {name: x, expr: up}\n  - {name: x, expr: up}\n")
    with pytest.raises(PromQLError, match="not a valid indicator name"):
        IndicatorSet([IndicatorDef("bad name", "up")], window_seconds=4.0)


def test_a_failing_indicator_emits_nothing_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = IndicatorSet(
        [
            IndicatorDef("clash", 'label_replace(up, "instance_id", "x", "", "")'),
            IndicatorDef("many", "up / on (service) up"),
            IndicatorDef(ind.UP, "up"),
        ],
        window_seconds=4.0,
    )
    raw = WindowStore()
    put(raw, "up", {"service": "a", "instance_id": "a-0"}, [(3, 1.0)])
    put(raw, "up", {"service": "a", "instance_id": "a-1"}, [(3, 1.0)])
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            samples, _ = table.evaluate(raw, 3.0)
            assert names(samples) == {ind.UP}
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert any("clash: vector cannot contain metrics with the same labelset" in w for w in warnings)
    assert any("many: found duplicate series" in w for w in warnings)


def test_the_first_failures_of_a_new_series_count_through_the_real_scraper() -> None:
    registry = CollectorRegistry()
    requests = Counter("http_requests_total", "r", ["route", "method", "status"], registry=registry)
    latency = Histogram("http_request_duration_seconds", "l", ["route"], registry=registry)
    calls = Counter("upstream_requests_total", "u", ["target", "status"], registry=registry)
    clock = FakeClock(1000.0)
    with serve({"/metrics": Route(body=lambda: generate_latest(registry))}) as srv:
        store = WindowStore()
        target = ScrapeTarget(
            f"{srv.base_url}/metrics", {"service": "cart", "instance_id": "cart-0"}, 1.0, 0.5
        )
        with Scraper(store, targets=[target], clock=clock) as scraper:
            for second in range(5):
                requests.labels("/cart", "GET", "200").inc(8)
                calls.labels("cache", "200").inc(4)
                if second >= 2:  # the first 5xx appear mid-window: brand-new series
                    requests.labels("/cart", "GET", "500").inc(2)
                    calls.labels("cache", "503").inc(4)
                for _ in range(3):
                    latency.labels("/cart").observe(0.03)
                scraper.scrape_once()
                clock.advance(1.0)
    samples, _ = DEMO.evaluate(store, clock.now() - 1.0)
    # (1000, 1004] holds the scrapes at 1001..1004; the 200s rose 24 over the 3 s they span,
    # 32 once extrapolated to the range; the 500s 0 (written by the scraper at 1001) → 6,
    # not extrapolated below their zero
    assert value(samples, ind.ERROR_RATIO, service="cart") == pytest.approx(6 / (32 + 6))
    assert value(samples, ind.UPSTREAM_ERROR_RATIO, service="cart", target="cache") == (
        pytest.approx(12 / (16 + 12))
    )
    # every observation in (0.025, 0.05]
    p = value(samples, ind.LATENCY_P99, service="cart", instance="cart-0")
    assert p == pytest.approx(0.025 + 0.025 * 0.99)


def test_the_readme_example_compiles() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("```yaml\nindicators:", 1)[1].split("```", 1)[0]
    cfg = parse_config_text("indicators:" + block)
    table = IndicatorSet.from_config(cfg.indicators, window_seconds=4.0)
    assert {"in_flight_requests", "upstream_request_rate"} <= set(table.expressions())


def test_the_garbage_collector_is_paused_only_while_evaluating() -> None:
    raw = WindowStore()
    put(raw, "up", {"service": "a", "instance_id": "a-0"}, [(3, 1.0)])
    assert gc.isenabled()
    DEMO.evaluate(raw, 3.0)
    assert gc.isenabled()
    gc.disable()
    try:
        DEMO.evaluate(raw, 3.0)
        assert not gc.isenabled()  # someone else's pause is left alone
    finally:
        gc.enable()
