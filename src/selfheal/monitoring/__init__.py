"""Monitoring: the loop's senses. Collectors turn metrics, logs and traces into
typed samples and signals for analysis; nothing here decides or acts.

- metrics: :class:`Scraper` (embedded Prometheus scraper; static targets and
  HTTP service discovery) → :class:`WindowStore` (bounded ring buffers) →
  :class:`IndicatorEngine` (rates, ratios, quantiles per service/instance);
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
    indicators = IndicatorEngine(raw)          # names "indicator:<name>"
    tailer = LogTailer(discovery=HttpLogDiscovery(f"{control}/platform/logs"))
    lines = LogWindow()
    graph, spans = ServiceGraph(clock), SpanWindow(clock)
    receiver = OtlpReceiver(graph, on_spans=spans.add).start()  # services send to .endpoint
    scraper.start()                            # or scraper.scrape_once() per cycle
    # every cycle:
    samples = indicators.compute(clock.now()) + graph.indicators()
    lines.add(tailer.poll(), clock.now())
    call_graph = graph.to_networkx()
    # when an incident is diagnosed: lines.between(start, end), spans.between(start, end)

``IndicatorSettings(prefix="", instance_label="instance")`` gives the bare names and
the ``instance`` label that ``selfheal.analysis.rules`` reads (write them to a
separate window store then, since ``up`` would clash with the raw series).
"""

from selfheal.monitoring.discovery import HttpServiceDiscovery, ScrapeTarget
from selfheal.monitoring.exposition import (
    ExpositionError,
    ExpositionSample,
    ParseResult,
    SeriesParser,
    parse_exposition,
)
from selfheal.monitoring.indicators import (
    INDICATORS,
    IndicatorEngine,
    IndicatorSettings,
    indicator_name,
)
from selfheal.monitoring.log_tailer import HttpLogDiscovery, LogSource, LogTailer, RawLine
from selfheal.monitoring.log_window import LogWindow
from selfheal.monitoring.otlp import OtlpReceiver
from selfheal.monitoring.promql import histogram_quantile, increase, rate
from selfheal.monitoring.scraper import STALE, Scraper, TargetHealth
from selfheal.monitoring.service_graph import EdgeStats, ServiceGraph
from selfheal.monitoring.span_window import SpanWindow
from selfheal.monitoring.window_store import WindowStore, is_stale

__all__ = [
    "INDICATORS", "STALE", "EdgeStats", "ExpositionError", "ExpositionSample", "HttpLogDiscovery",
    "HttpServiceDiscovery", "IndicatorEngine", "IndicatorSettings", "LogSource", "LogTailer",
    "LogWindow", "OtlpReceiver", "ParseResult", "RawLine", "ScrapeTarget", "Scraper",
    "SeriesParser", "ServiceGraph", "SpanWindow", "TargetHealth", "WindowStore",
    "histogram_quantile", "increase", "indicator_name", "is_stale", "parse_exposition", "rate",
]  # fmt: skip
