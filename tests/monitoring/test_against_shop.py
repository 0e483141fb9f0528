"""The monitoring layer against the real demo shop: HTTP service discovery of its
targets and log files, scraping its real exposition, tailing its JSON logs,
receiving its OTLP traces — then a real fault shows up in the indicators."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from selfheal.core.clock import SystemClock
from selfheal.core.types import Sample
from selfheal.monitoring import (
    HttpLogDiscovery,
    HttpServiceDiscovery,
    IndicatorSet,
    LogTailer,
    LogWindow,
    OtlpReceiver,
    Scraper,
    ServiceGraph,
    WindowStore,
    window_seconds,
)
from selfheal.testbed import ControlClient, Shop
from selfheal.testbed.load import LoadGenerator

pytestmark = pytest.mark.slow


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def _by(
    samples: list[Sample], name: str, **labels: str
) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        s.series.labels: s.value
        for s in samples
        if s.series.name == name and all(s.series.label(k) == v for k, v in labels.items())
    }


@pytest.fixture(scope="module")
def graph() -> ServiceGraph:
    return ServiceGraph(SystemClock(), window_seconds=30, match_wait_seconds=2)


@pytest.fixture(scope="module")
def shop(
    tmp_path_factory: pytest.TempPathFactory, graph: ServiceGraph
) -> Iterator[tuple[Shop, OtlpReceiver]]:
    with OtlpReceiver(graph) as receiver:
        running = Shop.start(tmp_path_factory.mktemp("shop"), otlp_endpoint=receiver.endpoint)
        try:
            with LoadGenerator(running.frontend_url, rate=8, seed=3):
                yield running, receiver
        finally:
            running.stop()


def test_monitoring_sees_the_shop_and_a_real_fault(
    shop: tuple[Shop, OtlpReceiver], graph: ServiceGraph, tmp_path: Path
) -> None:
    running, receiver = shop
    clock = SystemClock()
    store = WindowStore()
    sd = HttpServiceDiscovery(
        f"{running.control_url}/platform/targets",
        refresh_seconds=30,
        interval_seconds=0.5,
        timeout_seconds=2,
    )
    scraper = Scraper(store, discovery=[sd], clock=clock)
    logs = LogTailer(discovery=HttpLogDiscovery(f"{running.control_url}/platform/logs"))
    lines = LogWindow()
    table = IndicatorSet(window_seconds=window_seconds(0.5))
    try:
        logs.poll()  # start at the end of every file
        scraper.start()

        def indicators() -> list[Sample]:
            return table.evaluate(store, clock.now())[0]

        # healthy shop: every target up, traffic and success ratios measured
        assert _wait(lambda: bool(_by(indicators(), "error_ratio", service="frontend")), 20)
        healthy = indicators()
        assert len(scraper.targets()) >= 14 and all(h.up for h in scraper.health())
        assert all(v < 0.2 for v in _by(healthy, "error_ratio", service="frontend").values())
        assert _by(healthy, "request_rate", service="frontend")
        assert _by(healthy, "latency_p99_seconds", service="frontend")
        assert _by(healthy, "memory_bytes", service="cart")
        assert _wait(lambda: bool(_by(indicators(), "order_success_ratio", service="checkout")), 15)

        # a real fault: half of cart's business requests fail
        with ControlClient(running.control_url) as control:
            control.inject("errors", "cart", params={"rate": 0.5}, duration=60)
            try:

                def cart_errors() -> bool:
                    ratios = _by(indicators(), "error_ratio", service="cart")
                    return any(v > 0.2 for v in ratios.values())

                assert _wait(cart_errors, 15)
                lines.add(logs.poll(), clock.now())
                cart = [r for r in lines.between(0, clock.now()) if r.service == "cart"]
                assert any(r.message != "request served" for r in cart)  # its error lines
            finally:
                control.stop_all_faults()

        # traces: the call graph has the shop's edges
        assert _wait(
            lambda: ("frontend", "cart") in {(e.caller, e.callee) for e in graph.edges()}, 15
        )
        assert receiver.spans_total > 0 and receiver.rejected_total == 0
        assert {("checkout", "payment"), ("frontend", "catalog")} <= {
            (e.caller, e.callee) for e in graph.edges()
        }
    finally:
        scraper.close()
        logs.close()
