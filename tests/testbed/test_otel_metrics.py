"""A topology with ``metrics: opentelemetry``: its instances (real processes) emit
OpenTelemetry's HTTP semantic-convention metrics instead of the native names, and
the product's scraper with the ``opentelemetry`` indicator preset reads them: traffic,
call edges, and a dependency's failure."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from testbed_helpers import alive, metric_sum, scrape, wait_until

from selfheal.core import indicators as ind
from selfheal.core.clock import SystemClock
from selfheal.core.types import Sample
from selfheal.monitoring.indicators import IndicatorSet, window_seconds
from selfheal.monitoring.scraper import HttpServiceDiscovery, Scraper
from selfheal.monitoring.window_store import WindowStore
from selfheal.testbed import ControlClient, LoadGenerator, Shop
from selfheal.testbed.load import LoadPlan
from selfheal.testbed.topology_file import find_topology, parse_topology

pytestmark = pytest.mark.slow

TOPOLOGY = parse_topology(
    {
        "name": "otel-pair",
        "metrics": "opentelemetry",
        "services": [
            {"name": "front", "role": "entry", "calls": ["api"]},
            {"name": "api", "calls": ["provider"]},
            {"name": "provider", "role": "external"},
        ],
    }
)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Shop, LoadGenerator]]:
    shop = Shop.start(tmp_path_factory.mktemp("otel"), topology=TOPOLOGY)
    pids = shop.pids()
    load = LoadGenerator(shop.entry_url, rate=15, seed=3, plan=LoadPlan.of(TOPOLOGY)).start()
    try:
        yield shop, load
    finally:
        load.stop()
        shop.stop()
        assert wait_until(lambda: not any(alive(p) for p in pids), timeout=10)


def _instances(shop: Shop) -> dict[str, str]:
    with ControlClient(shop.control_url) as client:
        return {i["id"]: i["url"] for s in client.status()["services"] for i in s["instances"]}


def test_the_shipped_otel_shop_is_the_shop_with_the_option_on() -> None:
    otel, shop = find_topology("shop-otel"), find_topology("shop")
    assert (otel.metrics, shop.metrics) == ("opentelemetry", "native")
    assert otel.services == shop.services and otel.journeys == shop.journeys


def test_instances_emit_the_opentelemetry_names(pair: tuple[Shop, LoadGenerator]) -> None:
    shop, _ = pair
    urls = _instances(shop)
    assert wait_until(
        lambda: (
            metric_sum(scrape(urls["api-0"]), "http_client_request_duration_seconds_count") >= 5
        ),
        timeout=20,
    )
    api = scrape(urls["api-0"])
    front = scrape(urls["front-0"])
    for samples in (api, front):
        assert not [k for k in samples if k.startswith(("http_requests_total", "upstream_"))]
        assert "process_cpu_seconds_total" in samples  # process metrics stay as they are
    served = metric_sum(
        api, "http_server_request_duration_seconds_count",
        service_name="api", service_instance_id="api-0", http_route="/api",
        http_request_method="POST", http_response_status_code="200", url_scheme="http",
    )  # fmt: skip
    assert served >= 5
    calls = metric_sum(
        api, "http_client_request_duration_seconds_count",
        service_name="api", server_address="provider", http_response_status_code="200",
        error_type="",
    )  # fmt: skip
    assert calls >= 5
    buckets = {k for k in api if k.startswith("http_server_request_duration_seconds_bucket")}
    assert any("le=0.075" in k for k in buckets)  # the conventions' advised boundaries
    assert "http_server_active_requests{service_instance_id=front-0,service_name=front}" in front


def _evaluate(shop: Shop, seconds: float) -> tuple[list[Sample], list[tuple[str, str]]]:
    """``seconds`` of 1 s scrapes by the product's scraper, then the preset's indicators."""
    store = WindowStore(max_points_per_series=16)
    discovery = HttpServiceDiscovery(
        shop.control_url + "/platform/targets", interval_seconds=1.0, timeout_seconds=0.8
    )
    indicators = IndicatorSet(window_seconds=window_seconds(1.0), preset="opentelemetry")
    with Scraper(store, discovery=[discovery], clock=SystemClock(), max_workers=2) as scraper:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            scraper.scrape_once()
            time.sleep(1.0)
        samples, graph = indicators.evaluate(store, time.time())
    return samples, sorted(graph.edges)


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [
        float(s.value) for s in samples if s.series.name == name and dict(s.series.labels) == labels
    ]
    assert len(found) == 1, (name, labels, [str(s.series) for s in samples])
    return found[0]


def test_the_preset_reads_them_and_sees_a_dependency_fail(
    pair: tuple[Shop, LoadGenerator],
) -> None:
    shop, _ = pair
    samples, edges = _evaluate(shop, 6.0)
    assert edges == [("api", "provider"), ("front", "api")]
    assert _value(samples, ind.REQUEST_RATE, service="front") > 5
    assert _value(samples, ind.UPSTREAM_ERROR_RATIO, service="api", target="provider") == 0.0
    assert _value(samples, ind.UP, service="api", instance="api-0") == 1.0
    assert _value(samples, ind.ERROR_RATIO, service="front", instance="front-0") == 0.0
    with httpx.Client(timeout=10) as client:
        client.post(
            f"{shop.control_url}/platform/services/provider/instances/provider-0/stop"
        ).raise_for_status()
    samples, _ = _evaluate(shop, 6.0)
    assert _value(samples, ind.UPSTREAM_ERROR_RATIO, service="api", target="provider") > 0.5
    assert _value(samples, ind.ERROR_RATIO, service="front") > 0.5
    assert _value(samples, ind.UP, service="provider", instance="provider-0") == 0.0


def test_the_topology_option_is_checked(tmp_path: Path) -> None:
    from selfheal.testbed.topology_file import TopologyError

    with pytest.raises(TopologyError, match=r"^topology: metrics: Input should be 'native' or"):
        parse_topology({**{"name": "x", "metrics": "otel"}, "services": [
            {"name": "front", "role": "entry"}]})  # fmt: skip
