"""Robust change scoring per metric: how far each indicator moved at the incident.

Signal of the root-cause ranker (``ranker.py``). For each series, the samples
before the incident are the baseline and those inside it the incident; the
score is the largest robust deviation of an incident sample from the baseline,

    score = max2_t |x_t - median(baseline)| / scale(baseline),

(``max2``: the second-largest, so one spike is not a change) with ``scale`` a
robust spread of the baseline. This is BARO's RobustScorer (Pham, Ha, Zhang,
"BARO: Robust Root Cause Analysis for Microservices via Multivariate Bayesian
Online Change Point Detection", FSE 2024) and the N-sigma rule, with the spread
taken as the scaled MAD (Hampel's identifier) instead of the inter-quartile range
because baselines often hold an earlier incident; it falls back to the IQR and is
never below a tenth of the level, so flat or quantised series do not produce
thousand-sigma scores. Scores are capped so one flat series cannot dominate.

>>> import numpy as np
>>> round(robust_change(np.array([1.0, 1.1, 0.9, 1.0, 1.05]), np.array([3.0, 3.0])), 1)
19.0
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from selfheal.analysis.rca.inputs import MetricSeries, RCAInput
from selfheal.core.telemetry import FloatArray

SCORE_CAP = 1000.0
RELATIVE_FLOOR = 0.1
FROM_ZERO_SCORE = 10.0
MIN_COVERAGE = 0.5  # share of baseline samples present for full trust


def robust_change(baseline: FloatArray, incident: FloatArray) -> float:
    """Largest robust deviation of ``incident`` from ``baseline`` (0 when either is empty).

    A series that was flat at zero (never called, never failed) and is not any
    more scores at most ``FROM_ZERO_SCORE``: it changed, but it has no scale to
    say by how much. A baseline that is mostly missing samples is trusted in
    proportion to how much of it is there.
    """
    coverage = float(np.isfinite(baseline).mean()) if baseline.size else 0.0
    base = baseline[np.isfinite(baseline)]
    now = incident[np.isfinite(incident)]
    if base.size == 0 or now.size == 0:
        return 0.0
    median = float(np.median(base))
    if not np.any(base):
        return FROM_ZERO_SCORE if np.count_nonzero(now) >= min(2, now.size) else 0.0
    if base.size < 3:
        # Too few samples for a spread: count steps of 10% of the level instead.
        scale = max(0.1 * abs(median), 1e-9)
    else:
        # MAD rather than BARO's IQR: it survives a baseline in which an earlier
        # incident occupies up to half of the samples (IQR breaks at a quarter).
        scale = 1.4826 * float(np.median(np.abs(base - median)))
        if scale <= 0.0:
            q75, q25 = np.percentile(base, [75.0, 25.0])
            scale = float(q75 - q25)
        # A tenth of the level: quantised series (a 5 ms latency that reads 8 ms
        # once) must not look like a thousand-sigma event.
        # The level is the upper quartile of magnitudes, not the median alone:
        # sparse (mostly zero) and heavy-tailed series then get a sane floor,
        # while an earlier incident filling under a quarter of the baseline
        # still cannot inflate it.
        level = max(abs(median), float(np.percentile(np.abs(base), 75.0)))
        scale = max(scale, RELATIVE_FLOOR * level, 1e-9)
    deviations = np.sort(np.abs(now - median))[::-1]
    # The second-largest deviation: a fault persists, a single spike does not.
    level = deviations[1] if deviations.size >= 2 else deviations[0]
    trust = min(1.0, coverage / MIN_COVERAGE)
    return float(min(SCORE_CAP, level / scale) * trust)


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
