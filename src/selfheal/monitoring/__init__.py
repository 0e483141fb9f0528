"""Monitoring: the loop's senses. Collectors turn metrics, logs and traces into
typed samples and signals for analysis; nothing here decides or acts.

- metrics: :class:`Scraper` (embedded Prometheus scraper; static targets and
  HTTP service discovery) → :class:`WindowStore` (bounded ring buffers) →
  :class:`IndicatorSet` (the indicator table's PromQL expressions, evaluated by
  the embedded evaluator: rates, ratios, quantiles per service/instance/edge);
- logs: :class:`LogTailer` → :class:`LogWindow` (recent lines, parsed into the
  ``LogRecord``s the root-cause analysis templates);
- traces: :class:`OtlpReceiver` (OTLP/HTTP) → :class:`ServiceGraph` (call graph
  with per-edge statistics) and :class:`SpanWindow` (recent spans for the RCA).

Imports only ``selfheal.core`` (and never the testbed).

Wiring against the local platform (``control`` is its base URL)::

    clock = SystemClock()
    raw = WindowStore()
    scraper = Scraper(raw, clock=clock, discovery=[HttpServiceDiscovery(
        f"{control}/platform/targets", refresh_seconds=10, interval_seconds=1,
        timeout_seconds=0.8)])
    indicators = IndicatorSet(window_seconds=window_seconds(1.0))
    tailer = LogTailer(discovery=HttpLogDiscovery(f"{control}/platform/logs"))
    lines = LogWindow()
    graph, spans = ServiceGraph(clock), SpanWindow(clock)
    receiver = OtlpReceiver(graph, on_spans=spans.add).start()  # services send to .endpoint
    scraper.start()                            # or scraper.scrape_once() per cycle
    # every cycle:
    samples, call_graph = indicators.evaluate(raw, clock.now())
    samples += graph.indicators()
    lines.add(tailer.poll(), clock.now())
    # when an incident is diagnosed: lines.between(start, end), spans.between(start, end)

The indicator samples carry the names of ``selfheal.core.indicators`` and the labels
``service`` / ``instance`` / ``target`` that ``selfheal.analysis.rules`` reads; keep
them in a store of their own (``up`` would clash with the raw series).
"""

from selfheal.monitoring.discovery import HttpServiceDiscovery, ScrapeTarget
from selfheal.monitoring.exposition import (
    ExpositionError,
    ExpositionSample,
    ParseResult,
    SeriesParser,
    parse_exposition,
)
from selfheal.monitoring.indicators import IndicatorDef, IndicatorSet, window_seconds
from selfheal.monitoring.log_tailer import HttpLogDiscovery, LogSource, LogTailer, RawLine
from selfheal.monitoring.log_window import LogWindow
from selfheal.monitoring.otlp import OtlpReceiver
from selfheal.monitoring.promql import histogram_quantile, increase, rate
from selfheal.monitoring.promql_eval import Compiler, Instant, PromQLError, Query
from selfheal.monitoring.scraper import STALE, Scraper, TargetHealth
from selfheal.monitoring.service_graph import EdgeStats, ServiceGraph
from selfheal.monitoring.span_window import SpanWindow
from selfheal.monitoring.window_store import WindowStore, is_stale

__all__ = [
    "STALE", "Compiler", "EdgeStats", "ExpositionError", "ExpositionSample", "HttpLogDiscovery",
    "HttpServiceDiscovery", "IndicatorDef", "IndicatorSet", "Instant", "LogSource", "LogTailer",
    "LogWindow", "OtlpReceiver", "ParseResult", "PromQLError", "Query", "RawLine",
    "ScrapeTarget", "Scraper", "SeriesParser", "ServiceGraph", "SpanWindow", "TargetHealth",
    "WindowStore", "histogram_quantile", "increase", "is_stale", "parse_exposition", "rate",
    "window_seconds",
]  # fmt: skip
