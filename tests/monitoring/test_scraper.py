from __future__ import annotations

import json
import math
import time

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from tests.monitoring.http_fixtures import Route, serve

from selfheal.core.clock import FakeClock
from selfheal.core.types import SeriesKey
from selfheal.monitoring.scraper import HttpServiceDiscovery, Scraper, ScrapeTarget
from selfheal.monitoring.window_store import WindowStore, is_stale


def _shop_registry() -> tuple[CollectorRegistry, Counter]:
    registry = CollectorRegistry()
    requests = Counter("http_requests_total", "r", ["route", "method", "status"], registry=registry)
    latency = Histogram("http_request_duration_seconds", "l", ["route"], registry=registry)
    requests.labels("/cart", "GET", "200").inc(7)
    latency.labels("/cart").observe(0.05)
    return registry, requests


def test_scrapes_real_exposition_and_merges_target_labels() -> None:
    registry, _ = _shop_registry()
    with serve({"/metrics": Route(body=lambda: generate_latest(registry))}) as srv:
        store = WindowStore()
        target = ScrapeTarget(
            f"{srv.base_url}/metrics", {"service": "cart", "instance_id": "cart-0"}, 1.0, 0.5
        )
        with Scraper(store, targets=[target], clock=FakeClock(100.0)) as scraper:
            scraper.scrape_once()
        key = SeriesKey.of(
            "http_requests_total",
            {
                "service": "cart",
                "instance_id": "cart-0",
                "instance": srv.host_port,
                "route": "/cart",
                "method": "GET",
                "status": "200",
            },
        )
        latest = store.latest(key)
        assert latest is not None and latest.value == 7.0 and latest.timestamp == 100.0
        up = store.select("up", service="cart")
        assert len(up) == 1 and store.latest(up[0]).value == 1.0  # type: ignore[union-attr]
        assert store.select("http_request_duration_seconds_bucket", route="/cart")
        health = scraper.health()[0]
        assert health.up and health.last_error is None and health.samples_scraped > 5
        assert health.last_scrape_duration_seconds is not None


def test_down_target_reports_up_zero_error_and_stales_series() -> None:
    registry, _ = _shop_registry()
    clock = FakeClock(0.0)
    with serve({"/metrics": Route(body=lambda: generate_latest(registry))}) as srv:
        store = WindowStore()
        target = ScrapeTarget(f"{srv.base_url}/metrics", {"service": "cart"}, 1.0, 0.5)
        scraper = Scraper(store, targets=[target], clock=clock, stale_after_missed=2)
        scraper.scrape_once()
        key = store.select("http_requests_total", service="cart")[0]
        srv.routes["/metrics"] = Route(status=503, body=b"overloaded")
        clock.advance(1)
        scraper.scrape_once()
        up = store.select("up", service="cart")[0]
        assert store.latest(up).value == 0.0  # type: ignore[union-attr]
        assert not is_stale(store.latest(key).value)  # type: ignore[union-attr]  # 1 miss
        assert "HTTP 503" in (scraper.health()[0].last_error or "")
        clock.advance(1)
        scraper.scrape_once()
        latest = store.latest(key)
        assert latest is not None and is_stale(latest.value) and latest.timestamp == 2.0
        assert scraper.health()[0].consecutive_failures == 2
        scraper.close()


def test_refused_connection_is_reported_not_raised() -> None:
    with serve({}) as srv:
        dead_url = f"{srv.base_url}/metrics"
    store = WindowStore()
    with Scraper(store, targets=[ScrapeTarget(dead_url, {"service": "x"}, 1.0, 0.5)]) as scraper:
        scraper.scrape_once()
        health = scraper.health()[0]
    assert not health.up and health.last_error and "ConnectError" in health.last_error


def test_vanished_series_goes_stale_after_n_missed_scrapes() -> None:
    registry, requests = _shop_registry()
    clock = FakeClock(0.0)
    with serve({"/metrics": Route(body=lambda: generate_latest(registry))}) as srv:
        store = WindowStore()
        target = ScrapeTarget(f"{srv.base_url}/metrics", {"service": "cart"}, 1.0, 0.5)
        scraper = Scraper(store, targets=[target], clock=clock, stale_after_missed=3)
        scraper.scrape_once()
        key = store.select("http_requests_total", service="cart")[0]
        requests.remove("/cart", "GET", "200")
        for step in range(1, 4):
            clock.advance(1)
            scraper.scrape_once()
            value = store.latest(key).value  # type: ignore[union-attr]
            assert is_stale(value) == (step == 3), step
        clock.advance(1)
        scraper.scrape_once()  # only one marker is written
        assert store.latest(key).timestamp == 3.0  # type: ignore[union-attr]
        assert store.latest(store.select("up")[0]).value == 1.0  # type: ignore[union-attr]
        scraper.close()


def test_malformed_body_fails_scrape_with_line_in_error() -> None:
    body = b"# TYPE m gauge\nm 1\nm{oops 2\n"
    with serve({"/metrics": Route(body=body)}) as srv:
        store = WindowStore()
        target = ScrapeTarget(f"{srv.base_url}/metrics", {"service": "s"}, 1.0, 0.5)
        with Scraper(store, targets=[target]) as scraper:
            scraper.scrape_once()
            health = scraper.health()[0]
    assert not health.up and "line 3" in (health.last_error or "")
    assert store.select("m") == []


def test_timeout_is_per_target() -> None:
    with serve(
        {"/slow": Route(body=b"m 1\n", delay_seconds=2.0), "/fast": Route(body=b"m 2\n")}
    ) as srv:
        store = WindowStore()
        slow = ScrapeTarget(f"{srv.base_url}/slow", {"service": "slow"}, 1.0, 0.2)
        fast = ScrapeTarget(f"{srv.base_url}/fast", {"service": "fast"}, 1.0, 0.9)
        with Scraper(store, targets=[slow, fast]) as scraper:
            started = time.monotonic()
            scraper.scrape_once()
            elapsed = time.monotonic() - started
            health = {h.target.label_dict["service"]: h for h in scraper.health()}
    assert not health["slow"].up and "timeout" in (health["slow"].last_error or "")
    assert health["fast"].up
    assert elapsed < 1.5  # did not wait for the slow server's 2 s


def test_http_service_discovery_adds_and_drops_targets() -> None:
    registry, _ = _shop_registry()
    groups: list[dict[str, object]] = []
    with (
        serve({"/metrics": Route(body=lambda: generate_latest(registry))}) as shop,
        serve(
            {
                "/sd": Route(
                    body=lambda: json.dumps(groups).encode(), content_type="application/json"
                )
            }
        ) as sd_server,
    ):
        groups.append(
            {"targets": [shop.host_port], "labels": {"service": "cart", "instance_id": "cart-0"}}
        )
        clock = FakeClock(0.0)
        sd = HttpServiceDiscovery(f"{sd_server.base_url}/sd", refresh_seconds=5, interval_seconds=1)
        store = WindowStore()
        scraper = Scraper(store, discovery=[sd], clock=clock)
        scraper.scrape_once()
        assert [t.label_dict["instance_id"] for t in scraper.targets()] == ["cart-0"]
        key = store.select("http_requests_total", instance_id="cart-0")[0]
        groups.clear()
        groups.append(
            {"targets": [shop.host_port], "labels": {"service": "cart", "instance_id": "cart-1"}}
        )
        clock.advance(1)
        scraper.scrape_once()  # refresh not due yet
        assert sd_server.hits["/sd"] == 1
        clock.advance(5)
        scraper.scrape_once()
        assert sd_server.hits["/sd"] == 2
        assert [t.label_dict["instance_id"] for t in scraper.targets()] == ["cart-1"]
        assert is_stale(store.latest(key).value)  # type: ignore[union-attr]  # dropped → stale
        assert store.select("http_requests_total", instance_id="cart-1")
        scraper.close()


def test_service_discovery_failure_keeps_last_targets() -> None:
    with serve({"/sd": Route(body=b'[{"targets": ["127.0.0.1:9"], "labels": {}}]')}) as srv:
        sd = HttpServiceDiscovery(f"{srv.base_url}/sd", refresh_seconds=1)
        clock = FakeClock(0.0)
        scraper = Scraper(WindowStore(), discovery=[sd], clock=clock)
        scraper.refresh_discovery()
        assert len(scraper.targets()) == 1
        srv.routes["/sd"] = Route(body=b"{not json")
        clock.advance(2)
        scraper.refresh_discovery()
        assert len(scraper.targets()) == 1 and sd.last_error
        scraper.close()


def test_service_discovery_document_errors_name_the_group() -> None:
    sd = HttpServiceDiscovery("http://127.0.0.1:1/sd")
    with pytest.raises(ValueError, match=r"group \[1\]"):
        sd.parse([{"targets": []}, {"labels": {}}])
    targets = sd.parse([{"targets": ["h:1"], "labels": {"__metrics_path__": "/m", "a": "b"}}])
    assert targets[0].url == "http://h:1/m" and targets[0].labels == (("a", "b"),)


def test_target_validation_messages() -> None:
    with pytest.raises(ValueError, match="url"):
        ScrapeTarget("localhost:9090")
    with pytest.raises(ValueError, match="timeout_seconds"):
        ScrapeTarget("http://h:1/metrics", interval_seconds=1.0, timeout_seconds=0.0)


def test_background_thread_scrapes_on_interval_and_stops() -> None:
    registry, requests = _shop_registry()
    with serve({"/metrics": Route(body=lambda: generate_latest(registry))}) as srv:
        store = WindowStore()
        # a timeout longer than the interval: a loaded box must not fail the scrapes
        target = ScrapeTarget(f"{srv.base_url}/metrics", {"service": "cart"}, 0.1, 2.0)
        scraper = Scraper(store, targets=[target])
        scraper.start()
        deadline = time.monotonic() + 10
        while scraper.scrapes_total < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        scraper.close()
        assert not scraper.running
        hits = srv.hits["/metrics"]
        assert hits >= 4
        time.sleep(0.3)
        assert srv.hits["/metrics"] == hits
        key = store.select("http_requests_total", service="cart")[0]
        assert len(store.window(key, 0)[0]) >= 4
        assert not math.isnan(store.latest(key).value)  # type: ignore[union-attr]


def test_new_counter_series_gets_a_zero_at_the_previous_scrape() -> None:
    registry, requests = _shop_registry()
    clock = FakeClock(10.0)
    with serve({"/metrics": Route(body=lambda: generate_latest(registry))}) as srv:
        store = WindowStore()
        target = ScrapeTarget(f"{srv.base_url}/metrics", {"service": "cart"}, 1.0, 0.5)
        with Scraper(store, targets=[target], clock=clock) as scraper:
            scraper.scrape_once()
            clock.advance(1)
            requests.labels("/cart", "GET", "500").inc(3)  # first error: a new series
            scraper.scrape_once()
        errors = store.select("http_requests_total", status="500")[0]
        ts, values = store.window(errors, since=0)
        assert ts.tolist() == [10.0, 11.0] and values.tolist() == [0.0, 3.0]
        ok = store.select("http_requests_total", status="200")[0]
        assert store.window(ok, since=0)[0].tolist() == [10.0, 11.0]  # no zero for old series
        gauge_like = store.select("up")[0]
        assert store.window(gauge_like, since=0)[1].tolist() == [1.0, 1.0]


def test_sample_and_body_limits_fail_the_scrape() -> None:
    body = "".join(f'm{{i="{i}"}} 1\n' for i in range(50)).encode()
    with serve({"/metrics": Route(body=body)}) as srv:
        target = ScrapeTarget(f"{srv.base_url}/metrics", {"service": "s"}, 1.0, 0.5)
        store = WindowStore()
        with Scraper(store, targets=[target], sample_limit=10) as scraper:
            scraper.scrape_once()
            assert "sample_limit=10" in (scraper.health()[0].last_error or "")
        with Scraper(store, targets=[target], max_body_bytes=100) as scraper:
            scraper.scrape_once()
            assert "max_body_bytes=100" in (scraper.health()[0].last_error or "")
        assert store.select("m") == []


def test_a_failing_sample_consumer_does_not_stop_scraping() -> None:
    def broken(samples: list[object]) -> None:
        raise RuntimeError("consumer bug")

    with serve({"/metrics": Route(body=b"m 1\n")}) as srv:
        store = WindowStore()
        target = ScrapeTarget(f"{srv.base_url}/metrics", {"service": "s"}, 1.0, 0.5)
        with Scraper(store, targets=[target], on_samples=broken) as scraper:
            scraper.scrape_once()
        assert store.select("m") and scraper.health()[0].up


def test_failed_scrape_rereads_discovery_early() -> None:
    registry, _ = _shop_registry()
    with serve({"/metrics": Route(body=lambda: generate_latest(registry))}) as shop:
        with serve({}) as gone:
            dead = gone.host_port  # a port nobody listens on any more
        groups = [
            {"targets": [shop.host_port], "labels": {"service": "cart", "instance_id": "cart-0"}},
            {"targets": [dead], "labels": {"service": "cart", "instance_id": "cart-1"}},
        ]
        with serve({"/sd": Route(body=lambda: json.dumps(groups).encode())}) as sd_server:
            clock = FakeClock(0.0)
            sd = HttpServiceDiscovery(f"{sd_server.base_url}/sd", refresh_seconds=60)
            with Scraper(WindowStore(), discovery=[sd], clock=clock) as scraper:
                scraper.scrape_once()
                assert len(scraper.targets()) == 2
                del groups[1]  # the platform scaled cart down
                clock.advance(0.5)
                scraper.scrape_once()  # failed before, but too soon to re-read
                assert sd_server.hits["/sd"] == 1
                clock.advance(1.0)
                scraper.scrape_once()
                assert sd_server.hits["/sd"] == 2
                assert [t.label_dict["instance_id"] for t in scraper.targets()] == ["cart-0"]
