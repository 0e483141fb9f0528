"""What the current cycle sees, shared by the engine's parts.

``CycleView`` holds the platform's facts and the call graph of the cycle in
progress; the engine fills it at the start of each cycle, diagnosis and
remediation read it. ``BusinessLevels`` follows the business indicators (their
success ratios) so diagnosis can say how much an incident hurts.
``AuditTrail`` writes each step to the store's audit chain and tells the
optional live listener (the demo's console). No decisions are taken here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from selfheal.core import indicators as ind
from selfheal.core.clock import Clock
from selfheal.core.platform import PlanningContext
from selfheal.core.types import Sample, SeriesKey
from selfheal.loop.ports import Detection, Store

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CycleView:
    """The platform as this cycle sees it (changes the loop made, or that a heal already
    answered, are left out of ``context.changes``) and the call graph."""

    context: PlanningContext = field(default_factory=PlanningContext)
    graph: nx.DiGraph = field(default_factory=nx.DiGraph)

    @property
    def external(self) -> frozenset[str]:
        """Services that are external dependencies (third parties, not ours to restart)."""
        return frozenset(s.name for s in self.context.services.values() if s.external)


class BusinessLevels:
    """The latest value of each business indicator, next to its detector baseline."""

    def __init__(self) -> None:
        self._series: dict[str, SeriesKey] = {}
        self._last: dict[str, float] = {}

    def observe(self, samples: Iterable[Sample]) -> None:
        for sample in samples:
            if sample.series.name in ind.BUSINESS_INDICATORS:
                self._series[sample.series.name] = sample.series
                self._last[sample.series.name] = sample.value

    def levels(self, detection: Detection) -> Mapping[str, tuple[float, float]]:
        """Indicator → (current, baseline) for those with both."""
        out: dict[str, tuple[float, float]] = {}
        for name in ind.BUSINESS_INDICATORS:
            key = self._series.get(name)
            if key is None:
                continue
            base = detection.baseline(key)
            current = self._last.get(name)
            if base is not None and current is not None:
                out[name] = (current, base)
        return out


class AuditTrail:
    """Every step to the store's audit chain, and to the live listener if any."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._on_event = on_event

    def __call__(self, kind: str, payload: dict[str, Any]) -> None:
        self._store.audit(kind, payload, self._clock.now())
        if self._on_event is not None:
            try:
                self._on_event(kind, payload)
            except Exception:
                log.exception("event listener failed")
