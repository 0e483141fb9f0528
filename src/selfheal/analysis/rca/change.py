"""Robust change scoring per metric: how far each indicator moved at the incident.

Signal of the root-cause ranker (``ranker.py``). For each series, the samples
before the incident are the baseline and those inside it the incident; the
score is the largest robust deviation of an incident sample from the baseline,

    score = max_t |x_t - median(baseline)| / scale(baseline),

with ``scale`` the inter-quartile range (BARO's RobustScorer; Pham, Ha, Zhang,
"BARO: Robust Root Cause Analysis for Microservices via Multivariate Bayesian
Online Change Point Detection", FSE 2024), falling back to the MAD and then to a
small fraction of the level for flat baselines, so an N-sigma test
(Shan et al., "ε-Diagnosis", WWW 2019 use the same idea) on a constant series
still registers a step. Scores are capped so one flat series cannot dominate.

>>> import numpy as np
>>> round(robust_change(np.array([1.0, 1.1, 0.9, 1.0, 1.05]), np.array([3.0])), 1)
40.0
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from selfheal.analysis.rca.inputs import FloatArray, MetricSeries, RCAInput

SCORE_CAP = 1000.0


def robust_change(baseline: FloatArray, incident: FloatArray) -> float:
    """Largest robust deviation of ``incident`` from ``baseline`` (0 when either is empty)."""
    base = baseline[np.isfinite(baseline)]
    now = incident[np.isfinite(incident)]
    if base.size == 0 or now.size == 0:
        return 0.0
    median = float(np.median(base))
    if base.size < 3:
        # Too few samples for a spread: count steps of 10% of the level instead.
        scale = max(0.1 * abs(median), 1e-9)
    else:
        q75, q25 = np.percentile(base, [75.0, 25.0])
        scale = float(q75 - q25)
        if scale <= 0.0:
            scale = 1.4826 * float(np.median(np.abs(base - median)))
        scale = max(scale, 0.01 * abs(median), 1e-9)
    return float(min(SCORE_CAP, np.max(np.abs(now - median)) / scale))


@dataclass(frozen=True, slots=True)
class IndicatorChange:
    service: str
    indicator: str
    instance: str | None
    score: float
    direction: float  # +1 went up, -1 went down


def _split(series: MetricSeries, start: float, end: float) -> tuple[FloatArray, FloatArray]:
    ts = series.timestamps
    return series.values[ts < start], series.values[(ts >= start) & (ts <= end)]


def indicator_changes(data: RCAInput) -> list[IndicatorChange]:
    """Change score of every metric series of the input, largest first."""
    baselines: dict[tuple[str, str, str | None], FloatArray] = {}
    for s in data.baseline_metrics:
        baselines[(s.service, s.indicator, s.instance)] = s.values
    out: list[IndicatorChange] = []
    for s in data.metrics:
        before, during = _split(s, data.start, data.end)
        base = baselines.get((s.service, s.indicator, s.instance), before)
        score = robust_change(base, during)
        finite = during[np.isfinite(during)]
        level = float(np.median(base[np.isfinite(base)])) if np.isfinite(base).any() else 0.0
        direction = 1.0 if finite.size and float(np.mean(finite)) >= level else -1.0
        out.append(IndicatorChange(s.service, s.indicator, s.instance, score, direction))
    out.sort(key=lambda c: (-c.score, c.service, c.indicator))
    return out


def service_change_scores(changes: list[IndicatorChange]) -> dict[str, float]:
    """Per service, the largest change of any of its indicators."""
    best: dict[str, float] = defaultdict(float)
    for c in changes:
        best[c.service] = max(best[c.service], c.score)
    return dict(best)
