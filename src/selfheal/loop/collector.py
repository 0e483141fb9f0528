"""The engine's ``Collector`` over the monitoring layer.

Each cycle: scrape every target once (the embedded scraper, targets from static
config or HTTP service discovery) into a short raw window store, derive the
indicators (``live_indicators``), keep them in the indicator history that the
root-cause ranker reads, and hand the engine one ``Observation``. Scraping in
the cycle (rather than on its own timer) keeps every indicator sample aligned
with the cycle that judges it.
"""

from __future__ import annotations

from selfheal.core.clock import Clock
from selfheal.loop.live_indicators import IndicatorDeriver
from selfheal.loop.ports import Observation
from selfheal.monitoring.scraper import Scraper
from selfheal.monitoring.window_store import WindowStore


class ScrapeCollector:
    def __init__(
        self,
        scraper: Scraper,
        raw: WindowStore,
        history: WindowStore,
        clock: Clock,
        deriver: IndicatorDeriver | None = None,
    ) -> None:
        self.scraper = scraper
        self.raw = raw
        self.history = history
        self.clock = clock
        self.deriver = deriver or IndicatorDeriver()

    def collect(self, now: float) -> Observation:
        self.scraper.scrape_once()
        at = self.clock.now()
        samples, graph = self.deriver.derive(self.raw, at)
        self.history.append_many(samples)
        return Observation(at=at, samples=tuple(samples), graph=graph)

    def close(self) -> None:
        self.scraper.close()
