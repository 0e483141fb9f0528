"""The engine's ``Collector`` over the monitoring layer, one per metrics source.

``ScrapeCollector`` (``metrics.source: embedded``): each cycle, scrape every target
once (the embedded scraper, targets from static config or HTTP service discovery)
into a short raw window store and evaluate the indicator table over it
(``monitoring.indicators.IndicatorSet``: the indicator samples and the call graph of
``upstream_requests_total{target}``). Scraping in the cycle (rather than on its own
timer) keeps every indicator sample aligned with the cycle that judges it.

``PrometheusCollector`` (``metrics.source: prometheus``): each cycle, the same table
evaluated by a Prometheus server (``monitoring.prometheus_source``); no scraping of
its own. On its first answered cycle it also reads the last ``backfill_seconds`` of
every indicator (``/api/v1/query_range``) into the ranker's history. When the server cannot answer (unreachable, slower than its timeout, an
answer that is not its JSON) the collector raises ``SourceUnavailable``: the engine
skips the cycle and holds its last view (incidents, the call graph, what the
detectors learned) rather than judge on half a view or none, which would read as
recoveries. The state of the source is logged once per change (down, a different
error, back) and shown on ``/status`` (``health``).

Both keep the indicator samples in the history that the root-cause ranker reads,
add the firing alerts of an ``AlertInbox`` (Alertmanager's webhook receiver) as
``alert_firing`` samples, read the new lines of the followed log files into a
``LogWindow`` (the log signal), and join the call edges seen in traces (an OTLP
receiver's ``ServiceGraph``) to the call graph.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import networkx as nx

from selfheal.core.clock import Clock
from selfheal.core.types import Sample
from selfheal.loop.ports import Observation, SourceUnavailable
from selfheal.monitoring.alertmanager import AlertInbox
from selfheal.monitoring.indicators import IndicatorSet
from selfheal.monitoring.log_tailer import LogTailer
from selfheal.monitoring.log_window import LogWindow
from selfheal.monitoring.prometheus_source import PrometheusSource, PrometheusUnavailable
from selfheal.monitoring.scraper import Scraper
from selfheal.monitoring.service_graph import ServiceGraph
from selfheal.monitoring.window_store import WindowStore

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SourceHealth:
    """Whether the metrics source answered the last cycle, and since when."""

    source: str
    url: str = ""
    ok: bool = True
    error: str = ""
    since: float | None = None  # when the current state (answering or not) began
    last_success_at: float | None = None
    failures_total: int = 0

    def succeeded(self, at: float) -> None:
        if not self.ok:
            down = at - (self.since or at)
            log.warning("metrics source %s answers again (after %.1f s)", self.source, down)
            self.ok, self.error, self.since = True, "", at
        elif self.since is None:
            self.since = at
        self.last_success_at = at

    def failed(self, error: str, at: float) -> None:
        self.failures_total += 1
        if self.ok or error != self.error:
            log.warning(
                "metrics source %s unavailable, keeping the last view: %s", self.source, error
            )
        if self.ok:
            self.since = at
        self.ok, self.error = False, error


class _Collector:
    """What every collector adds to its source's samples and graph."""

    def __init__(
        self,
        history: WindowStore,
        clock: Clock,
        logs: LogTailer | None,
        log_window: LogWindow | None,
        traces: ServiceGraph | None,
        alerts: AlertInbox | None,
        health: SourceHealth,
    ) -> None:
        self.history = history
        self.clock = clock
        self.logs = logs
        self.log_window = log_window if log_window is not None else LogWindow()
        self.traces = traces
        self.alerts = alerts
        self._health = health

    def _observe(self, at: float, samples: list[Sample], graph: nx.DiGraph) -> Observation:
        if self.alerts is not None:
            samples = samples + self.alerts.samples(at)
        self.history.append_many(samples)
        if self.logs is not None:
            self.log_window.add(self.logs.poll(), at)
        if self.traces is not None:
            for caller, callee in self.traces.pairs(at):
                if caller != callee:
                    graph.add_edge(caller, callee)
        return Observation(at=at, samples=tuple(samples), graph=graph)

    def health(self) -> dict[str, Any]:
        """The metrics source's state for ``/status`` (and the alert inbox's counts)."""
        out = asdict(self._health)
        if self.alerts is not None:
            out["alerts"] = {
                "firing": self.alerts.firing,
                "notifications_total": self.alerts.received_total,
                "refused_total": self.alerts.refused_total,
            }
        return out

    def close(self) -> None:
        if self.logs is not None:
            self.logs.close()


class ScrapeCollector(_Collector):
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
        alerts: AlertInbox | None = None,
    ) -> None:
        super().__init__(history, clock, logs, log_window, traces, alerts, SourceHealth("embedded"))
        self.scraper = scraper
        self.raw = raw
        self.indicators = indicators

    def collect(self, now: float) -> Observation:
        self.scraper.scrape_once()
        at = self.clock.now()
        samples, graph = self.indicators.evaluate(self.raw, at)
        self._health.succeeded(at)
        return self._observe(at, samples, graph)

    def close(self) -> None:
        self.scraper.close()
        super().close()


class PrometheusCollector(_Collector):
    def __init__(
        self,
        source: PrometheusSource,
        history: WindowStore,
        clock: Clock,
        logs: LogTailer | None = None,
        log_window: LogWindow | None = None,
        traces: ServiceGraph | None = None,
        alerts: AlertInbox | None = None,
        backfill_seconds: float = 0.0,
        step_seconds: float = 1.0,
    ) -> None:
        super().__init__(
            history,
            clock,
            logs,
            log_window,
            traces,
            alerts,
            SourceHealth("prometheus", url=source.url),
        )
        self.source = source
        self.backfill_seconds = backfill_seconds
        self.step_seconds = step_seconds
        self.backfilled = 0  # indicator samples of the past read into the history

    def collect(self, now: float) -> Observation:
        at = self.clock.now()
        try:
            samples, graph = self.source.evaluate(at)
        except PrometheusUnavailable as exc:
            self._health.failed(str(exc), at)
            raise SourceUnavailable(f"metrics source prometheus: {exc}") from None
        if self._health.last_success_at is None and self.backfill_seconds > 0:
            self._backfill(at)
        self._health.succeeded(at)
        return self._observe(at, samples, graph)

    def _backfill(self, at: float) -> None:
        """The recent past of every indicator into the history, once, before the first
        cycle's samples (the ranker then compares an incident with what came before it,
        also right after a restart). Detection is not fed: it learns from live cycles."""
        step = self.step_seconds
        start = at - self.backfill_seconds
        try:
            past = self.source.evaluate_range(start, at - step, step)
        except PrometheusUnavailable as exc:
            log.warning("metrics source prometheus: no history read at start: %s", exc)
            return
        self.backfilled = self.history.append_many(past)
        log.info("read %d indicator samples of the last %g s", self.backfilled, at - start)

    def close(self) -> None:
        self.source.close()
        super().close()
