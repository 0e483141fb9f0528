"""``build`` wires the configured log files and the OTLP receiver into the loop."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from selfheal.core.config import parse_config
from selfheal.core.errors import ConfigError
from selfheal.loop.stages import RankerAdapter
from selfheal.loop.wiring import build


def _config(tmp_path: Path, otlp_port: int = 0) -> dict[str, object]:
    return {
        # nothing listens there: the scrape fails, is reported, and the cycle goes on
        "scrape": {"targets": ["127.0.0.1:9"], "timeout_seconds": 0.2},
        "executor": {"type": "local", "local": {"control_url": "http://127.0.0.1:9"}},
        "store": {"url": f"sqlite:///{tmp_path}/selfheal.db"},
        "logs": {"globs": [str(tmp_path / "*.log")]},
        "otlp": {"enabled": True, "port": otlp_port},
        "rca": {"max_causes": 3},
    }


def test_trace_edges_join_the_graph_and_log_lines_fill_the_window(tmp_path: Path) -> None:
    log = tmp_path / "cart-0.log"
    log.write_text("")
    runtime = build(parse_config(_config(tmp_path), "test"))
    try:
        assert runtime.otlp_endpoint is not None
        collector = runtime.engine.collector
        collector.collect(0.0)  # starts following the log file from its end
        providers = {}
        for service in ("frontend", "cart"):
            providers[service] = TracerProvider(resource=Resource.create({"service.name": service}))
            providers[service].add_span_processor(
                SimpleSpanProcessor(OTLPSpanExporter(endpoint=runtime.otlp_endpoint))
            )
        propagator = TraceContextTextMapPropagator()
        with (
            providers["frontend"]
            .get_tracer("t")
            .start_as_current_span("GET cart", kind=SpanKind.CLIENT)
        ):
            headers: dict[str, str] = {}
            propagator.inject(headers)
            with (
                providers["cart"]
                .get_tracer("t")
                .start_as_current_span(
                    "GET /cart", kind=SpanKind.SERVER, context=propagator.extract(headers)
                )
            ):
                pass
        for p in providers.values():
            p.shutdown()
        with log.open("a") as f:
            line = {"ts": time.time(), "level": "ERROR", "service": "cart", "msg": "x"}
            f.write(json.dumps(line) + "\n")
        obs = collector.collect(1.0)
        assert ("frontend", "cart") in obs.graph.edges
        # the same spans wait in the ranker's span window for a diagnosis
        ranker = runtime.engine.ranker
        assert isinstance(ranker, RankerAdapter) and ranker.spans is not None
        assert ranker.max_causes == 3  # rca.max_causes reaches the ranking
        assert ranker.memory is runtime.store.past_incidents
        kept = ranker.spans.between(0, 1e12)
        assert sorted(s.operation for s in kept) == ["GET /cart", "GET cart"]
        assert [r.message for r in collector.log_window.between(0, 1e12)] == ["x"]
    finally:
        runtime.close()


def test_a_busy_otlp_port_is_a_clear_config_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=r"otlp\.port: cannot listen"):
            build(parse_config(_config(tmp_path, otlp_port=port), "test"))


def test_a_bad_setting_after_the_receiver_started_leaves_nothing_listening(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    config["playbooks"] = str(tmp_path / "missing.yaml")
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(ConfigError):
        build(parse_config(config, "test"))
    time.sleep(0.2)
    assert {t.name for t in threading.enumerate()} <= before  # the receiver's thread is gone


def test_a_bad_indicator_expression_stops_the_start_before_anything_opens(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    config["indicators"] = [
        {"name": "in_flight", "expr": "sum by (service) (http_requests_in_flight)"},
        {"name": "broken", "expr": "rate(http_requests_total)"},
    ]
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(ConfigError, match=r"^indicators\.1\.expr: "):
        build(parse_config(config, "test"))
    assert not (tmp_path / "selfheal.db").exists()  # the store was never opened
    assert {t.name for t in threading.enumerate()} <= before


def test_the_configured_indicators_and_the_scrape_interval_reach_the_collector(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    config["scrape"] = {"targets": ["127.0.0.1:9"], "interval_seconds": 5, "timeout_seconds": 1}
    config["indicators"] = [{"name": "in_flight", "expr": "sum by (service) (in_flight)"}]
    runtime = build(parse_config(config, "test"))
    try:
        table = runtime.engine.collector.indicators
        assert table.window_seconds == 20.0
        assert table.expressions()["in_flight"] == "sum by (service) (in_flight)"
        assert "[20s]" in table.expressions()["request_rate"]
    finally:
        runtime.close()
