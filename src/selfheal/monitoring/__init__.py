"""Monitoring: the loop's senses. Collectors turn metrics, logs and traces into
typed samples and signals for analysis; nothing here decides or acts.

- metrics: :class:`Scraper` (embedded Prometheus scraper; static targets and
  HTTP service discovery) → :class:`WindowStore` (bounded ring buffers) →
  :class:`IndicatorSet` (the indicator table's PromQL expressions, evaluated by
  the embedded evaluator: rates, ratios, quantiles per service/instance/edge);
- logs: :class:`LogTailer` → :class:`LogMonitor` (templates, error windows);
- traces: :class:`OtlpReceiver` (OTLP/HTTP) → :class:`ServiceGraph` (call graph
  with per-edge statistics).

Imports only ``selfheal.core`` (and never the testbed).

Wiring against the local platform (``control`` is its base URL)::

    clock = SystemClock()
    raw = WindowStore()
    scraper = Scraper(raw, clock=clock, discovery=[HttpServiceDiscovery(
        f"{control}/platform/targets", refresh_seconds=10, interval_seconds=1,
        timeout_seconds=0.8)])
    indicators = IndicatorSet(window_seconds=window_seconds(1.0))
    logs = LogMonitor(LogTailer(discovery=HttpLogDiscovery(f"{control}/platform/logs")),
                      clock=clock)
    graph = ServiceGraph(clock)
    receiver = OtlpReceiver(graph).start()     # give receiver.endpoint to the services
    scraper.start()                            # or scraper.scrape_once() per cycle
    # every cycle:
    samples, call_graph = indicators.evaluate(raw, clock.now())
    new_templates = [e for e in logs.poll() if e.is_new]
    samples += logs.indicators() + graph.indicators()

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
from selfheal.monitoring.logs import LogEvent, LogMonitor
from selfheal.monitoring.otlp import OtlpReceiver
from selfheal.monitoring.promql import histogram_quantile, increase, rate
from selfheal.monitoring.promql_eval import Compiler, Instant, PromQLError, Query
from selfheal.monitoring.scraper import STALE, Scraper, TargetHealth
from selfheal.monitoring.service_graph import EdgeStats, ServiceGraph, SpanRecord
from selfheal.monitoring.window_store import WindowStore, is_stale

__all__ = [
    "STALE", "Compiler", "EdgeStats", "ExpositionError", "ExpositionSample", "HttpLogDiscovery",
    "HttpServiceDiscovery", "IndicatorDef", "IndicatorSet", "Instant", "LogEvent", "LogMonitor",
    "LogSource", "LogTailer", "OtlpReceiver", "ParseResult", "PromQLError", "Query", "RawLine",
    "ScrapeTarget", "Scraper", "SeriesParser", "ServiceGraph", "SpanRecord", "TargetHealth",
    "WindowStore", "histogram_quantile", "increase", "is_stale", "parse_exposition", "rate",
    "window_seconds",
]  # fmt: skip
