"""The engine's ``Collector`` over the monitoring layer.

Each cycle: scrape every target once (the embedded scraper, targets from static
config or HTTP service discovery) into a short raw window store, evaluate the
indicator table over it (``monitoring.indicators.IndicatorSet``: the indicator
samples and the call graph of ``upstream_requests_total{target}``), keep the
samples in the indicator history that the root-cause ranker reads, and hand the
engine one ``Observation``. Scraping in the cycle (rather than on its own timer)
keeps every indicator sample aligned with the cycle that judges it.

With a log tailer, each cycle also reads the new lines of the followed log files
into a ``LogWindow`` that the root-cause ranker reads (the log signal). With
an OTLP receiver's ``ServiceGraph``, the call edges seen in traces join the call
graph derived from the metrics (services that export no upstream metrics still
get their edges).
"""

from __future__ import annotations

from selfheal.core.clock import Clock
from selfheal.loop.ports import Observation
from selfheal.monitoring.indicators import IndicatorSet
from selfheal.monitoring.log_tailer import LogTailer
from selfheal.monitoring.log_window import LogWindow
from selfheal.monitoring.scraper import Scraper
from selfheal.monitoring.service_graph import ServiceGraph
from selfheal.monitoring.window_store import WindowStore


class ScrapeCollector:
    def __init__(
        self,
        scraper: Scraper,
        raw: WindowStore,
        history: WindowStore,
        clock: Clock,
        indicators: IndicatorSet,
        logs: LogTailer | None = None,
        log_window: LogWindow | None = None,
        traces: ServiceGraph | None = None,
    ) -> None:
        self.scraper = scraper
        self.raw = raw
        self.history = history
        self.clock = clock
        self.indicators = indicators
        self.logs = logs
        self.log_window = log_window if log_window is not None else LogWindow()
        self.traces = traces

    def collect(self, now: float) -> Observation:
        self.scraper.scrape_once()
        at = self.clock.now()
        samples, graph = self.indicators.evaluate(self.raw, at)
        self.history.append_many(samples)
        if self.logs is not None:
            self.log_window.add(self.logs.poll(), at)
        if self.traces is not None:
            for caller, callee in self.traces.pairs(at):
                if caller != callee:
                    graph.add_edge(caller, callee)
        return Observation(at=at, samples=tuple(samples), graph=graph)

    def close(self) -> None:
        self.scraper.close()
        if self.logs is not None:
            self.logs.close()
