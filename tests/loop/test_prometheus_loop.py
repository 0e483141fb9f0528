"""The loop with Prometheus as its metrics source and Alertmanager as a signal source,
against the real binaries: a Prometheus that stops answering leaves the loop's last
view in place and says so on ``/status``; an alert that only Alertmanager reports
(a real alerting rule over a real ``/metrics``, delivered by two Alertmanagers as an
HA pair would) becomes one incident, one action, and is healed."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from metrics_world import Fleet, need_alertmanager, need_prometheus, serve_fleet, wait_for_history
from selfheal.cli.loop import serve
from selfheal.cli.prometheus_server import AlertmanagerServer, PrometheusServer
from selfheal.core import indicators as ind
from selfheal.core.config import parse_config
from selfheal.loop.collector import PrometheusCollector
from selfheal.loop.wiring import build
from webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.slow

TOKEN = "operator-token-0123456789abcdef"


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    with serve_fleet() as f:
        yield f


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _config(tmp_path: Path, prometheus_url: str, hook_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "scrape": {"interval_seconds": 1.0, "timeout_seconds": 0.8},
        "metrics": {
            "source": "prometheus",
            "prometheus": {"url": prometheus_url, "timeout_seconds": 1.0},
        },
        "loop": {"cycle_seconds": 1.0},
        "store": {"url": f"sqlite:///{tmp_path}/selfheal.db"},
        "otlp": {"enabled": False},
        "detection": {"detector": "none"},
        "executor": {
            "type": "webhook",
            "webhook": {"url": hook_url, "secret_env": "SELFHEAL_TEST_HOOK_SECRET"},
        },
        "api": {
            "port": 0,
            "tokens": [{"name": "alertmanager", "role": "operator", "token": TOKEN}],
        },
        **extra,
    }


def test_a_prometheus_that_stops_answering_keeps_the_last_view(
    tmp_path: Path, fleet: Fleet, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_prometheus()
    monkeypatch.setenv("SELFHEAL_TEST_HOOK_SECRET", "hook-secret")
    config = {"global": {"scrape_interval": "1s"}, "scrape_configs": fleet.scrape_configs()}
    prometheus = PrometheusServer(tmp_path / "prometheus", config).start()
    receiver = WebhookReceiver(b"unused")
    runtime = build(parse_config(_config(tmp_path, prometheus.url, receiver.url), "test"))
    engine = runtime.engine
    try:
        wait_for_history(prometheus.url, seconds=7.0)
        began = time.time()
        engine.step()
        seen = engine.status()
        collector = engine.collector
        assert isinstance(collector, PrometheusCollector)
        assert collector.backfilled > 0  # the recent past, read through query_range
        [rate] = collector.history.select(ind.REQUEST_RATE, service="svc-a")
        first = collector.history.first_timestamp(rate)
        assert first is not None and first < began - 1.5
        assert seen["metrics_source"]["ok"] is True
        assert seen["metrics_source"]["url"] == prometheus.url
        assert seen["series"] > 10  # the fleet's indicators, read through Prometheus
        graph = sorted(engine.view.graph.edges)
        assert graph == [("svc-a", "svc-b")]
        prometheus.stop()
        with caplog.at_level(logging.WARNING, logger="selfheal.loop.collector"):
            for _ in range(3):
                engine.step()  # never raises
        down = engine.status()
        source = down["metrics_source"]
        assert source["ok"] is False and source["failures_total"] == 3
        assert source["error"].startswith(f"{prometheus.url}: Connect")
        assert down["last_error"].startswith("metrics source prometheus: ")
        assert down["cycles"] == seen["cycles"] + 3
        assert down["series"] == seen["series"]  # nothing forgotten
        assert sorted(engine.view.graph.edges) == graph  # the last view is kept
        warned = [r.getMessage() for r in caplog.records]
        assert len(warned) == 1 and "keeping the last view" in warned[0]  # once per change
        metrics = engine.metrics.registry.get_sample_value("selfheal_source_unavailable_total")
        assert metrics == 3.0
        # the same server back on the same port: the loop reads it again
        again = PrometheusServer(tmp_path / "prometheus", config, port=prometheus.port).start()
        try:
            _wait(lambda: engine.step() is not None and engine.status()["metrics_source"]["ok"],
                  30, "Prometheus to answer again")  # fmt: skip
        finally:
            again.stop()
        assert any("answers again" in r.getMessage() for r in caplog.records)
    finally:
        runtime.close()
        prometheus.stop()
        receiver.stop()


def test_an_alert_only_alertmanager_reports_is_healed_once(
    tmp_path: Path, fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_prometheus()
    need_alertmanager()
    monkeypatch.setenv("SELFHEAL_TEST_HOOK_SECRET", "hook-secret")
    receiver = WebhookReceiver(b"hook-secret")
    events: list[tuple[str, dict[str, Any]]] = []
    # only the alert may open an incident: the fleet's slow instance is not this test's fault
    extra = {
        "detection": {"detector": "none", "rules": [{"indicator": ind.ALERT_FIRING, "above": 0.5}]},
        "alertmanager": {"instance_labels": ["instance_id"]},
        "approval": {"risk_level": 0.99},
        "platform": {"services": [{"name": "svc-b", "instances": ["b-0"]}, {"name": "svc-a"}]},
    }
    servers: list[Any] = []
    runtime = None
    api = None
    try:
        # the loop first (its API receives the webhooks), then the two Alertmanagers, then
        # Prometheus with the alerting rule
        manager_config: Callable[[str], dict[str, Any]] = lambda url: {  # noqa: E731
            "route": {
                "receiver": "selfheal",
                "group_by": ["alertname", "service"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "2s",  # re-sent while it fires: folded by the loop
            },
            "receivers": [
                {
                    "name": "selfheal",
                    "webhook_configs": [
                        {
                            "url": url,
                            "send_resolved": True,
                            "http_config": {"authorization": {"credentials": TOKEN}},
                        }
                    ],
                }
            ],
        }
        prometheus_port = _port()
        cfg = parse_config(
            _config(tmp_path, f"http://127.0.0.1:{prometheus_port}", receiver.url, **extra), "test"
        )
        runtime = build(cfg, on_event=lambda kind, payload: events.append((kind, payload)))
        api = serve(runtime, "127.0.0.1", 0)
        assert runtime.alerts is not None
        alerts = runtime.alerts
        managers = [
            AlertmanagerServer(tmp_path / f"am{i}", manager_config(f"{api.url}/alertmanager"))
            for i in range(2)
        ]
        for m in managers:
            servers.append(m.start())
        rules = {
            "groups": [
                {
                    "name": "fleet",
                    "rules": [
                        {
                            "alert": "WorkerStuck",
                            "expr": "stuck > 0",
                            "labels": {"failure_type": "ResourceExhaustion"},
                            "annotations": {"summary": "a worker stopped taking jobs"},
                        }
                    ],
                }
            ]
        }
        prom_config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": fleet.scrape_configs(),
            "alerting": {
                "alertmanagers": [
                    {"static_configs": [{"targets": [m.url.removeprefix("http://")]}]}
                    for m in managers
                ]
            },
        }
        prometheus = PrometheusServer(
            tmp_path / "prometheus", prom_config, rules=rules, port=prometheus_port
        )
        servers.append(prometheus.start())
        wait_for_history(prometheus.url, seconds=3.0)
        runtime.engine.start()
        time.sleep(3.0)
        assert not runtime.engine.book.open_incidents  # nothing is wrong yet

        fixed = threading.Event()

        def fix_when_asked() -> None:  # the platform's side: the action heals the worker
            while not fixed.is_set():
                # healed once asked, and once both managers have re-sent the alert
                if receiver.received and alerts.received_total >= 4:
                    fleet.instances[2].stuck = 0.0
                    fixed.set()
                time.sleep(0.1)

        fixer = threading.Thread(target=fix_when_asked, daemon=True)
        fixer.start()
        fleet.instances[2].stuck = 1.0  # b-0 stops: only the alerting rule sees it
        _wait(lambda: alerts.firing == 1, 60, "the alert to reach the loop")
        _wait(lambda: alerts.received_total >= 4, 30, "re-sent notifications")
        assert alerts.firing == 1  # two managers, each re-sending: still one alert
        _wait(fixed.is_set, 60, "the loop to act")
        _wait(
            lambda: any(k == "incident_resolved" for k, _ in events), 90, "the incident to resolve"
        )
        fixed.set()
    finally:
        if runtime is not None:
            runtime.engine.stop()
        if api is not None:
            api.stop()
        for s in reversed(servers):
            s.stop()
        if runtime is not None:
            runtime.close()
        receiver.stop()
    kinds = [k for k, _ in events]
    assert kinds.count("incident_opened") == 1
    assert kinds.count("action_executed") == 1  # re-sent and duplicated alerts: one action
    [result] = [p for k, p in events if k == "action_result"]
    assert result["outcome"] == "succeeded" and result["verification"]["passed"] is True
    assert result["action"]["target"] == "svc-b" and result["action"]["instance"] == "b-0"
    assert len(receiver.received) == 1
    assert kinds.index("incident_resolved") > kinds.index("action_result")
    assert alerts.firing == 0  # Alertmanager sent the resolution


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
