"""Live detection: YAML rules plus a streaming detector over every indicator series.

The loop hands this stage the indicator samples of one cycle (``Sample`` whose
series name is the indicator, e.g. ``error_ratio``, labelled with ``service``
and optionally ``instance``); ``LiveDetection.observe`` returns the anomalies of
that cycle. Per series it runs the declared rules and, next to them, a streaming
detector (``score_one``, then ``learn_one`` only when no rule condition held on
the sample, as river's ``protect_anomaly_detector`` refuses flagged samples, so
an incident does not teach the detector that it is normal). A sample only the
detector flagged is learned, as on NAB: the loop's detectors rate the onset of
an excursion and must learn it to rate the next sample against it; refused,
a series that moved beyond its old range (a value creeping up) would be flagged
again on every sample. With a fleet detector (``detection.range_fleet``) the
detector scores every series of one cycle in one vectorised call and learns in
another, each series' scores exactly what its own streaming detector would give.
It keeps constant memory per series and does no I/O.

Rules open incidents; detector anomalies alone are evidence (they are returned
with ``detector`` set to the detector's name and a ``rule`` of ``""``) — the
loop decides what they are worth. A baseline rule compares with an exponentially
weighted mean of the samples on which no rule condition held (Roberts 1959, EWMA
charts); verification reads the same baseline as the pre-fault level.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from selfheal.core.indicators import (
    ALERT_FIRING,
    CPU,
    ERROR_RATIO,
    LATENCY_P99,
    LATENCY_VS_PEERS,
    MEMORY,
    ORDER_SUCCESS,
    PAYMENT_SUCCESS,
    POOL_TIMEOUTS,
    SATURATION,
    UP,
    UPSTREAM_ERROR_RATIO,
    UPSTREAM_LATENCY,
    UPSTREAM_LATENCY_VS_PEERS,
)
from selfheal.core.types import Anomaly, Sample, SeriesKey, SignalKind
from selfheal.monitoring.indicator_table import WINDOW_SCRAPES


class Detector(Protocol):
    """The streaming detector seam (``selfheal.analysis.detection``)."""

    def score_one(self, x: float, t: float) -> float: ...

    def learn_one(self, x: float, t: float) -> None: ...


class Fleet(Protocol):
    """The same seam for every series at once (``detection.range_fleet``): one value and one
    timestamp per series, NaN for a series without a sample; learning NaN leaves it alone."""

    @property
    def n_series(self) -> int: ...

    def grow(self, n_series: int) -> None: ...

    def score_many(self, values: np.ndarray, t: np.ndarray) -> np.ndarray: ...

    def learn_many(self, values: np.ndarray, t: np.ndarray) -> None: ...


@dataclass(frozen=True, slots=True)
class Rule:
    """A threshold over one indicator; see ``core.config.RuleConfig`` for the YAML form."""

    indicator: str
    above: float | None = None
    below: float | None = None
    baseline_factor: float | None = None
    min_value: float = 0.0
    for_samples: int = 1
    services: frozenset[str] | None = None

    @property
    def name(self) -> str:
        parts = [self.indicator]
        if self.above is not None:
            parts.append(f">{self.above:g}")
        if self.below is not None:
            parts.append(f"<{self.below:g}")
        if self.baseline_factor is not None:
            parts.append(f">{self.baseline_factor:g}x_baseline")
        return "rule:" + "".join(parts)

    def applies_to(self, service: str) -> bool:
        return self.services is None or service in self.services

    def breached(self, value: float, baseline: float | None) -> tuple[bool, float]:
        """Whether ``value`` breaks the rule, and how badly (score in [0, 1])."""
        if math.isnan(value):
            return False, 0.0
        if self.above is not None and value > self.above:
            return True, _excess(value, self.above)
        if self.below is not None and value < self.below:
            return True, _excess(self.below, value)
        if self.baseline_factor is not None and baseline is not None and value >= self.min_value:
            limit = max(baseline * self.baseline_factor, self.min_value)
            if value > limit:
                return True, _excess(value, limit)
        return False, 0.0

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any]) -> Rule:
        services = spec.get("services")
        return cls(
            indicator=str(spec["indicator"]),
            above=spec.get("above"),
            below=spec.get("below"),
            baseline_factor=spec.get("baseline_factor"),
            min_value=float(spec.get("min_value", 0.0)),
            for_samples=int(spec.get("for_samples", 1)),
            services=frozenset(services) if services else None,
        )


def _excess(value: float, limit: float) -> float:
    """Map how far past the limit a value is to (0.5, 1): just over → 0.5, far over → 1."""
    scale = abs(limit) if limit else 1.0
    return 0.5 + 0.5 * (1.0 - math.exp(-abs(value - limit) / scale))


# How many samples a latency rule must hold: longer than one request stays in the rate
# window of its quantile. At the sparse rates of a service or a call edge the p99 of a
# window is about its slowest request, so one slow request (a pause of a busy host) reads
# as a high p99 for as long as it is in the window, three or four samples of a window of
# four scrape intervals; a fault slows every request and holds past it.
LATENCY_FOR_SAMPLES = WINDOW_SCRAPES + 1

# The built-in rule set: what an SRE pages on, with margins that the healthy shop never
# reaches (checked by tests/analysis/test_rules.py and the demo's fault-free minute).
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(UP, below=0.5),
    Rule(ALERT_FIRING, above=0.5),
    Rule(ERROR_RATIO, above=0.05, for_samples=1),
    Rule(LATENCY_P99, baseline_factor=4.0, min_value=0.4, for_samples=LATENCY_FOR_SAMPLES),
    Rule(SATURATION, above=0.95, for_samples=2),
    Rule(POOL_TIMEOUTS, above=0.5, for_samples=1),
    Rule(CPU, above=0.25, for_samples=2),
    Rule(MEMORY, baseline_factor=1.5, min_value=200e6, for_samples=2),
    Rule(LATENCY_VS_PEERS, above=4.0, for_samples=LATENCY_FOR_SAMPLES),
    Rule(UPSTREAM_LATENCY_VS_PEERS, above=4.0, for_samples=LATENCY_FOR_SAMPLES),
    Rule(UPSTREAM_ERROR_RATIO, above=0.2, for_samples=1),
    Rule(UPSTREAM_LATENCY, baseline_factor=4.0, min_value=0.4, for_samples=LATENCY_FOR_SAMPLES),
    Rule(ORDER_SUCCESS, below=0.9, for_samples=1),
    Rule(PAYMENT_SUCCESS, below=0.9, for_samples=1),
)


FACTS = frozenset({UP, ALERT_FIRING})  # indicators judged from their first sample


@dataclass(slots=True)
class _SeriesState:
    seen: int = 0
    baseline: float | None = None
    streak: dict[str, int] = field(default_factory=dict)
    detector: Detector | None = None
    index: int = -1  # the series' row in the fleet detector, when there is one
    breaching: bool = False  # a rule condition held on the latest sample
    last_ts: float = float("-inf")
    last_value: float = float("nan")


class LiveDetection:
    """Rules + a detector per series; ``observe`` one cycle's samples, get anomalies."""

    def __init__(
        self,
        rules: Sequence[Rule] = DEFAULT_RULES,
        detector_factory: Callable[[], Detector] | None = None,
        detector_name: str = "detector",
        fleet: Fleet | None = None,
        detector_threshold: float = 0.99,
        warmup_samples: int = 10,
        baseline_alpha: float = 0.05,
    ) -> None:
        self._rules: dict[str, list[Rule]] = {}
        for rule in rules:
            self._rules.setdefault(rule.indicator, []).append(rule)
        self._factory = detector_factory
        self._fleet = fleet
        self._detector_name = detector_name
        self._threshold = detector_threshold
        self._warmup = warmup_samples
        self._alpha = baseline_alpha
        self._series: dict[SeriesKey, _SeriesState] = {}
        self._by_service: dict[str, set[SeriesKey]] = {}

    @property
    def series_count(self) -> int:
        return len(self._series)

    def baseline(self, series: SeriesKey) -> float | None:
        state = self._series.get(series)
        return None if state is None else state.baseline

    def breaching(self, series: SeriesKey) -> bool:
        """Whether a rule's condition held on the latest sample of ``series``."""
        state = self._series.get(series)
        return state is not None and state.breaching

    def warm(self, series: SeriesKey) -> bool:
        """Whether ``series`` is past its warm-up, so that its rules judge it."""
        state = self._series.get(series)
        return state is not None and state.seen >= self._warmup

    def last_seen(self, series: SeriesKey) -> float:
        """Time of the latest sample of ``series`` (``-inf`` if never seen)."""
        state = self._series.get(series)
        return float("-inf") if state is None else state.last_ts

    def latest(self, series: SeriesKey) -> float | None:
        """The latest value of ``series`` (``None`` if never seen)."""
        state = self._series.get(series)
        return None if state is None else state.last_value

    def series_of(self, service: str) -> tuple[SeriesKey, ...]:
        """Every series seen with label ``service`` = ``service``, sorted."""
        return tuple(sorted(self._by_service.get(service, ()), key=lambda k: (k.name, k.labels)))

    def observe(self, samples: Iterable[Sample]) -> list[Anomaly]:
        anomalies: list[Anomaly] = []
        if self._fleet is None:
            for sample in samples:
                anomalies.extend(self._observe_one(sample))
            return anomalies
        batch: list[Sample] = []
        keys: set[SeriesKey] = set()
        for sample in samples:
            if sample.series in keys:  # a series' second sample waits for its first
                anomalies.extend(self._observe_batch(batch, self._fleet))
                batch, keys = [], set()
            batch.append(sample)
            keys.add(sample.series)
        anomalies.extend(self._observe_batch(batch, self._fleet))
        return anomalies

    def _observe_batch(self, batch: list[Sample], fleet: Fleet) -> list[Anomaly]:
        """One sample per series: the fleet scores them together, then learns those that no
        rule condition held on."""
        present = [s for s in batch if not math.isnan(s.value)]
        rows = [self._state(s.series).index for s in present]
        fleet.grow(len(self._series))
        values = np.full(fleet.n_series, np.nan)
        stamps = np.zeros(fleet.n_series)
        values[rows] = [s.value for s in present]
        stamps[rows] = [s.timestamp for s in present]
        scores = fleet.score_many(values, stamps)
        anomalies: list[Anomaly] = []
        for sample, row in zip(present, rows, strict=True):
            found, learn = self._judge(sample, float(scores[row]))
            anomalies.extend(found)
            if not learn:
                values[row] = np.nan
        fleet.learn_many(values, stamps)
        return anomalies

    def _state(self, key: SeriesKey) -> _SeriesState:
        state = self._series.get(key)
        if state is None:
            state = _SeriesState(
                detector=self._factory() if self._factory and self._fleet is None else None,
                index=len(self._series) if self._fleet is not None else -1,
            )
            self._series[key] = state
            self._by_service.setdefault(key.label("service") or "unknown", set()).add(key)
        return state

    def _observe_one(self, sample: Sample) -> list[Anomaly]:
        if math.isnan(sample.value):
            return []
        state = self._state(sample.series)
        score = None
        if state.detector is not None:
            score = state.detector.score_one(sample.value, sample.timestamp)
        found, learn = self._judge(sample, score)
        if state.detector is not None and learn:
            state.detector.learn_one(sample.value, sample.timestamp)
        return found

    def _judge(self, sample: Sample, detector_score: float | None) -> tuple[list[Anomaly], bool]:
        """The anomalies of one sample, and whether its detector may learn it (no rule
        condition held on it)."""
        value = sample.value
        key = sample.series
        state = self._series[key]
        service = key.label("service") or "unknown"
        instance = key.label("instance")
        indicator = key.name
        target = key.label("target")
        found: list[Anomaly] = []
        warm = state.seen >= self._warmup
        state.last_ts = sample.timestamp
        state.last_value = value
        state.breaching = False
        for rule in self._rules.get(indicator, ()):
            if not rule.applies_to(service):
                continue
            # A down instance or a firing alert is a fact, not a statistic: no warm-up.
            hit, score = rule.breached(value, state.baseline)
            if not (warm or indicator in FACTS):
                hit = False
            state.breaching = state.breaching or hit
            streak = state.streak.get(rule.name, 0) + 1 if hit else 0
            state.streak[rule.name] = streak
            if hit and streak >= rule.for_samples:
                found.append(
                    Anomaly(
                        service=service,
                        timestamp=sample.timestamp,
                        score=score,
                        detector=rule.name,
                        kind=SignalKind.METRIC,
                        indicator=indicator,
                        value=value,
                        instance=instance,
                        series=key,
                        message=_describe(indicator, value, target),
                    )
                )
        flagged = bool(found)
        if detector_score is not None:
            score = _clip(detector_score)
            if warm and score >= self._threshold and not flagged:
                found.append(
                    Anomaly(
                        service=service,
                        timestamp=sample.timestamp,
                        score=score,
                        detector=self._detector_name,
                        kind=SignalKind.METRIC,
                        indicator=indicator,
                        value=value,
                        instance=instance,
                        series=key,
                        message=_describe(indicator, value, target) + " (statistical)",
                    )
                )
                flagged = True
        # The baseline learns only from samples no rule condition held on (also those of a
        # breach too short to fire yet), so a fault never teaches it that it is normal.
        if not state.breaching:
            state.baseline = (
                value
                if state.baseline is None
                else (1 - self._alpha) * state.baseline + self._alpha * value
            )
        state.seen += 1
        return found, not state.breaching


def _clip(score: float) -> float:
    if math.isnan(score):
        return 0.0
    return min(1.0, max(0.0, score))


def _describe(indicator: str, value: float, target: str | None) -> str:
    edge = f" toward {target}" if target else ""
    return f"{indicator}{edge} = {value:.4g}"


def rules_from_config(specs: Sequence[Mapping[str, Any]] | None) -> tuple[Rule, ...]:
    """Rules from the ``detection.rules`` section (already validated); none → defaults."""
    if specs is None:
        return DEFAULT_RULES
    return tuple(Rule.from_mapping(spec) for spec in specs)
