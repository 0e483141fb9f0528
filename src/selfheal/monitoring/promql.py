"""PromQL's counter, histogram and quantile math over window-store points.

The embedded evaluator (:mod:`selfheal.monitoring.promql_eval`) calls these
every cycle, when it evaluates the indicator expressions, so that every
indicator is the number Prometheus would give for the same expression:

- :func:`increase` / :func:`rate` follow Prometheus' ``extrapolatedRate``
  (``promql/functions.go``): counter resets add the value before the reset;
  the result is extrapolated to the range boundaries when the first/last
  samples are within 1.1 average sample intervals of them (else by half an
  interval), and never extrapolated below the counter's zero point.
- :func:`histogram_quantile` follows Prometheus' ``bucketQuantile``
  (``promql/quantile.go``): linear interpolation inside the bucket holding the
  rank, the lower edge of the first bucket taken as 0, the upper bound of the
  last finite bucket returned when the rank falls in ``+Inf``, and
  non-monotonic cumulative counts made monotonic first.
- :func:`quantile` is the ``quantile`` aggregation's math (``promql/quantile.go``
  ``quantile``): linear interpolation between the closest ranks, ``(n - 1) * q``.

Pure functions, no I/O; NaN points (staleness markers) are skipped.

>>> import numpy as np
>>> ts = np.array([1.0, 2.0, 3.0, 4.0]); values = np.array([10.0, 12.0, 1.0, 3.0])
>>> round(increase(ts, values, range_start=0.5, range_end=4.5), 4)  # reset at t=3: 5 seen
6.6667
>>> round(histogram_quantile(0.5, [(0.1, 10.0), (0.5, 30.0), (float("inf"), 40.0)]), 4)
0.3
>>> quantile(0.5, [4.0, 1.0, 2.0, 3.0])
2.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


Values = Sequence[float] | FloatArray


def _points(ts: Values, values: Values) -> tuple[list[float], list[float]]:
    """Plain lists without the NaN (stale) points: windows are a handful of points,
    where Python floats beat numpy's per-call overhead. Lists are read, not copied."""
    t = ts.tolist() if isinstance(ts, np.ndarray) else ts if isinstance(ts, list) else list(ts)
    v = (
        values.tolist()
        if isinstance(values, np.ndarray)
        else values
        if isinstance(values, list)
        else list(values)
    )
    total = sum(v)
    if total != total and any(x != x for x in v):  # NaN is the only value unequal to itself
        kept = [(a, b) for a, b in zip(t, v, strict=True) if b == b]
        t = [a for a, _ in kept]
        v = [b for _, b in kept]
    return t, v


def increase(
    ts: Values,
    values: Values,
    range_start: float,
    range_end: float,
    *,
    is_counter: bool = True,
) -> float:
    """PromQL ``increase(x[range])`` of the points in ``[range_start, range_end]``;
    NaN when fewer than two points (Prometheus returns no value then)."""
    return _extrapolated(ts, values, range_start, range_end, is_counter, is_rate=False)


def rate(ts: Values, values: Values, range_start: float, range_end: float) -> float:
    """PromQL ``rate(x[range])``, per second; NaN when fewer than two points."""
    return _extrapolated(ts, values, range_start, range_end, True, is_rate=True)


def _extrapolated(
    ts: Values,
    values: Values,
    range_start: float,
    range_end: float,
    is_counter: bool,
    is_rate: bool,
) -> float:
    t, v = _points(ts, values)
    n = len(t)
    if n < 2:
        return math.nan
    first_t, last_t = t[0], t[-1]
    first_v = v[0]
    if is_counter:
        result = 0.0
        prev = first_v
        for x in v[1:]:
            result += x - prev if x >= prev else x
            prev = x
    else:
        result = v[-1] - first_v
    sampled = last_t - first_t
    if sampled <= 0:
        return math.nan
    to_start = first_t - range_start
    to_end = range_end - last_t
    average = sampled / (n - 1)
    if is_counter and result > 0 and first_v >= 0:
        to_zero = sampled * (first_v / result)
        if to_zero < to_start:
            to_start = to_zero
    threshold = average * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average / 2
    interval += to_end if to_end < threshold else average / 2
    result *= interval / sampled
    if is_rate:
        result /= range_end - range_start
    return result


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float:
    """Quantile ``q`` from cumulative ``(upper_bound, count)`` buckets (any order;
    the ``+Inf`` bucket is required). NaN when there is nothing to read."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted((float(le), float(c)) for le, c in buckets if not math.isnan(c))
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]) or ordered[-1][0] < 0:
        return math.nan
    # cumulative counts can dip when buckets come from rates of separate series
    running = 0.0
    bounds: list[float] = []
    counts: list[float] = []
    for le, c in ordered:
        running = max(running, c)
        bounds.append(le)
        counts.append(running)
    total = counts[-1]
    if total <= 0:
        return math.nan
    rank = q * total
    b = next(i for i, c in enumerate(counts) if c >= rank)
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start = 0.0 if b == 0 else bounds[b - 1]
    end = bounds[b]
    below = 0.0 if b == 0 else counts[b - 1]
    in_bucket = counts[b] - below
    if in_bucket <= 0:
        return end
    return start + (end - start) * ((rank - below) / in_bucket)


def quantile(q: float, values: Sequence[float]) -> float:
    """The ``q`` quantile of ``values`` as PromQL's ``quantile`` aggregation gives it:
    -Inf for q < 0, +Inf for q > 1, NaN for no values."""
    if math.isnan(q) or not values:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    lower = max(0, math.floor(rank))
    upper = min(len(ordered) - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight
