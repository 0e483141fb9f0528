"""Prometheus as the metrics source: the same indicator table evaluated by a real
Prometheus server scraping a real ``/metrics`` gives the embedded evaluator's samples
and call graph; a server that cannot answer is one clear ``PrometheusUnavailable``, and
an expression it refuses silences only that indicator."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator

import pytest

from metrics_world import Fleet, need_prometheus, serve_fleet, wait_for_history
from selfheal.cli.prometheus_server import PrometheusServer
from selfheal.core import indicators as ind
from selfheal.core.types import SeriesKey
from selfheal.monitoring.indicator_table import IndicatorDef
from selfheal.monitoring.indicators import IndicatorSet
from selfheal.monitoring.prometheus_source import (
    PrometheusSource,
    PrometheusUnavailable,
)
from selfheal.monitoring.scraper import Scraper, ScrapeTarget
from selfheal.monitoring.window_store import WindowStore

from .http_fixtures import Route, serve


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    with serve_fleet() as f:
        yield f


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, fleet: Fleet
) -> Iterator[PrometheusServer]:
    need_prometheus()
    config = {"global": {"scrape_interval": "1s"}, "scrape_configs": fleet.scrape_configs()}
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"), config)
    server.start()
    yield server
    server.stop()


@pytest.mark.slow
def test_prometheus_gives_the_embedded_evaluators_indicators(
    fleet: Fleet, prometheus: PrometheusServer
) -> None:
    indicators = IndicatorSet(window_seconds=4.0)
    raw = WindowStore()
    scraper = Scraper(
        raw,
        targets=[
            ScrapeTarget(
                url,
                labels={"service": i.service, "instance_id": i.instance_id},
                interval_seconds=1.0,
                timeout_seconds=0.8,
            )
            for i, url in fleet.targets()
        ],
    )
    source = PrometheusSource(prometheus.url, indicators, timeout_seconds=5.0)
    try:
        wait_for_history(prometheus.url)
        for _ in range(7):  # both scrape every second for 7 s: the 4 s windows fill
            scraper.scrape_once()
            time.sleep(1.0)
        scraper.scrape_once()
        at = time.time()
        embedded, embedded_graph = indicators.evaluate(raw, at)
        served, served_graph = source.evaluate(at)
    finally:
        scraper.close()
        source.close()
    mine = {s.series: s.value for s in embedded}
    theirs = {s.series: s.value for s in served}
    assert set(theirs) == set(mine)
    names = {k.name for k in mine}
    assert {
        ind.UP, ind.CPU, ind.MEMORY, ind.REQUEST_RATE, ind.ERROR_RATIO, ind.LATENCY_P99,
        ind.LATENCY_VS_PEERS, ind.UPSTREAM_ERROR_RATIO, ind.UPSTREAM_LATENCY,
        ind.UPSTREAM_LATENCY_VS_PEERS,
    } <= names  # fmt: skip
    for key, value in mine.items():
        assert math.isclose(theirs[key], value, rel_tol=0.05, abs_tol=1e-3), key
    # what the fleet was built to show, read through Prometheus
    slow = SeriesKey.of(ind.LATENCY_VS_PEERS, {"service": "svc-a", "instance": "a-1"})
    assert theirs[slow] > 3  # its p99 (about 1 s) over its peer's (about 0.25 s)
    errors = SeriesKey.of(ind.ERROR_RATIO, {"service": "svc-a", "instance": "a-1"})
    assert math.isclose(theirs[errors], 0.1, rel_tol=0.05)
    rate = SeriesKey.of(ind.REQUEST_RATE, {"service": "svc-a"})
    assert math.isclose(theirs[rate], 40.0, rel_tol=0.05)  # two instances, probes left out
    assert sorted(served_graph.edges) == sorted(embedded_graph.edges) == [("svc-a", "svc-b")]
    assert sorted(served_graph.nodes) == ["svc-a", "svc-b"]


@pytest.mark.slow
def test_the_recent_past_comes_through_query_range(prometheus: PrometheusServer) -> None:
    wait_for_history(prometheus.url)
    source = PrometheusSource(prometheus.url, IndicatorSet(window_seconds=4.0), timeout_seconds=5)
    end = time.time() - 1.0
    try:
        past = source.evaluate_range(end - 3.0, end, 1.0)
    finally:
        source.close()
    assert [s.timestamp for s in past] == sorted(s.timestamp for s in past)  # oldest first
    rate = SeriesKey.of(ind.REQUEST_RATE, {"service": "svc-a"})
    points = [(s.timestamp, s.value) for s in past if s.series == rate]
    assert [round(t - points[0][0], 3) for t, _ in points] == [0.0, 1.0, 2.0, 3.0]
    assert all(math.isclose(v, 40.0, rel_tol=0.05) for _, v in points)
    slow = SeriesKey.of(ind.LATENCY_VS_PEERS, {"service": "svc-a", "instance": "a-1"})
    assert len([s for s in past if s.series == slow]) == 4


@pytest.mark.slow
def test_an_expression_prometheus_refuses_silences_only_its_indicator(
    prometheus: PrometheusServer, caplog: pytest.LogCaptureFixture
) -> None:
    # one-to-many without group_left: a valid expression that fails when evaluated
    bad = IndicatorDef("clash", 'up / on (service) group_left () (up{service="svc-a"})')
    fine = IndicatorDef(ind.UP, "max by (service) (up)")
    source = PrometheusSource(
        prometheus.url, IndicatorSet([fine, bad], window_seconds=4.0), timeout_seconds=5.0
    )
    try:
        _wait_for(lambda: bool(source.evaluate(time.time())[0]), 15)
        with caplog.at_level("WARNING"):
            for _ in range(3):
                samples, _ = source.evaluate(time.time())
    finally:
        source.close()
    assert {s.series.name for s in samples} == {ind.UP}
    assert {s.series.label("service") for s in samples} == {"svc-a", "svc-b"}
    warned = [r.getMessage() for r in caplog.records if "clash" in r.getMessage()]
    assert len(warned) == 1 and "execution" in warned[0]


def test_an_unreachable_server_is_one_clear_line() -> None:
    with serve({}) as gone:
        url = gone.base_url
    source = PrometheusSource(url, IndicatorSet(window_seconds=4.0), timeout_seconds=1.0)
    try:
        with pytest.raises(PrometheusUnavailable, match=r"^http://127\.0\.0\.1:\d+: Connect") as e:
            source.evaluate(time.time())
    finally:
        source.close()
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (Route(delay_seconds=1.5, body=b"{}"), r"no answer within 0\.5 s"),
        (Route(body=b"<html>proxy</html>"), r"HTTP 200, not a Prometheus API answer \(not JSON\)"),
        (
            Route(status=503, body=json.dumps({"status": "error", "error": "overloaded"}).encode()),
            "HTTP 503: overloaded",
        ),
        (
            Route(
                body=json.dumps(
                    {
                        "status": "success",
                        "data": {"resultType": "vector", "result": [{"metric": {}, "value": "x"}]},
                    }
                ).encode()
            ),  # fmt: skip
            r"not a Prometheus API answer \(element",
        ),
    ],
)
def test_a_server_that_answers_badly_is_unavailable(route: Route, message: str) -> None:
    routes = {"/api/v1/query": route}
    with serve(routes) as served:
        source = PrometheusSource(
            served.base_url, IndicatorSet(window_seconds=4.0), timeout_seconds=0.5
        )
        try:
            with pytest.raises(PrometheusUnavailable, match=message):
                source.evaluate(time.time())
        finally:
            source.close()


def test_the_bearer_token_goes_with_every_query() -> None:
    answer = json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}})

    def body() -> bytes:
        return answer.encode()

    with serve({"/api/v1/query": Route(body=body)}) as served:
        source = PrometheusSource(
            served.base_url,
            IndicatorSet(window_seconds=4.0),
            bearer_token="s3cret-token",
            timeout_seconds=2.0,
        )
        try:
            samples, graph = source.evaluate(time.time())
        finally:
            source.close()
    assert samples == [] and graph.number_of_nodes() == 0
    assert len(served.auth) == 16  # 14 indicators and the two graph queries
    assert set(served.auth) == {"Bearer s3cret-token"}


def _wait_for(predicate: object, timeout: float) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_a_slow_server_costs_the_cycle_about_one_timeout() -> None:
    with serve({"/api/v1/query": Route(delay_seconds=2.0, body=b"{}")}) as served:
        source = PrometheusSource(
            served.base_url, IndicatorSet(window_seconds=4.0), timeout_seconds=0.3
        )
        began = time.monotonic()
        try:
            with pytest.raises(PrometheusUnavailable, match=r"no answer within 0\.3 s"):
                source.evaluate(time.time())
        finally:
            source.close()
        took = time.monotonic() - began
    # 16 queries, 4 at a time: not 4 rounds of timeouts, the rest are dropped
    assert took < 0.9
    assert sum(served.hits.values()) <= 8
