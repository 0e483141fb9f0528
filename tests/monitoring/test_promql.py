from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from selfheal.monitoring.promql import histogram_quantile, increase, rate

INF = math.inf


def arr(*xs: float) -> np.ndarray:
    return np.array(xs, dtype=float)


def test_rate_of_a_steady_counter_covering_the_range() -> None:
    # one point per second, +2 per second, points exactly at the range edges
    ts = arr(10, 11, 12, 13, 14)
    values = arr(0, 2, 4, 6, 8)
    assert rate(ts, values, 10, 14) == 2.0


def test_counter_reset_adds_the_value_before_the_reset() -> None:
    # 5 → 9 (+4), reset to 1 (+1 since restart), → 4 (+3): 8 in total; the points cover
    # the range exactly, so nothing is extrapolated
    assert increase(arr(10, 11, 12, 13), arr(5, 9, 1, 4), 10, 13) == 8.0


def test_increase_extrapolates_to_range_edges_by_hand() -> None:
    # points at 2,3,4 (values 10,12,14), range [1, 5]: sampled 2 s, average 1 s,
    # both edges 1 s away (< 1.1 s): extrapolate over 4 s → 4 * 4/2 = 8
    assert increase(arr(2, 3, 4), arr(10, 12, 14), 1, 5) == 8.0


def test_extrapolation_is_limited_to_half_an_interval_when_far_from_edges() -> None:
    # points at 4,5 (avg 1 s), range [0, 5]: start is 4 s away → only 0.5 s added
    assert increase(arr(4, 5), arr(10, 12), 0, 5) == 2 * 1.5 / 1


def test_extrapolation_stops_at_the_counter_zero_point() -> None:
    # 1 → 3 between t=2 and t=3: zero point is 0.5 s before t=2, so the start
    # side extrapolates only 0.5 s (not 1 s): 2 * (1 + 0.5 + 0) / 1 = 3
    assert increase(arr(2, 3), arr(1, 3), 1, 3) == 3.0


def test_fewer_than_two_points_or_stale_only_give_nan() -> None:
    assert math.isnan(rate(arr(1), arr(3), 0, 2))
    assert math.isnan(rate(arr(1, 2), arr(3, math.nan), 0, 2))


def test_stale_markers_are_skipped() -> None:
    assert rate(arr(0, 1, 2, 3), arr(0, 1, math.nan, 3), 0, 3) == 1.0


@given(
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=40),
    st.floats(0, 5),
    st.floats(0, 5),
)
def test_rate_is_never_negative_across_resets(
    values: list[float], pad_start: float, pad_end: float
) -> None:
    ts = np.arange(len(values), dtype=float)
    result = rate(ts, np.array(values), -pad_start, len(values) - 1 + pad_end)
    assert result >= 0.0


def test_histogram_quantile_by_hand() -> None:
    buckets = [(0.1, 50.0), (0.25, 90.0), (0.5, 98.0), (1.0, 100.0), (INF, 100.0)]
    # p50: rank 50 → first bucket, [0, 0.1] fully: 0.1
    assert histogram_quantile(0.5, buckets) == 0.1
    # p90: rank 90 → end of second bucket
    assert histogram_quantile(0.9, buckets) == 0.25
    # p99: rank 99 → bucket (0.5, 1.0], 1 of its 2 → 0.75
    assert histogram_quantile(0.99, buckets) == 0.75


def test_histogram_quantile_in_the_inf_bucket_returns_last_finite_bound() -> None:
    assert histogram_quantile(0.99, [(0.1, 1.0), (0.5, 2.0), (INF, 10.0)]) == 0.5


def test_histogram_quantile_edge_cases() -> None:
    assert math.isnan(histogram_quantile(0.5, [(0.1, 0.0), (INF, 0.0)]))  # no observations
    assert math.isnan(histogram_quantile(0.5, [(0.1, 3.0), (0.2, 3.0)]))  # no +Inf bucket
    assert math.isnan(histogram_quantile(0.5, [(INF, 3.0)]))  # one bucket
    assert histogram_quantile(-0.1, [(0.1, 1.0), (INF, 1.0)]) == -INF
    assert histogram_quantile(1.1, [(0.1, 1.0), (INF, 1.0)]) == INF
    # non-monotonic counts (rates of separate series) are made monotonic
    assert histogram_quantile(0.5, [(0.1, 4.0), (0.2, 3.0), (INF, 8.0)]) == 0.1


@given(
    st.lists(st.floats(0, 100), min_size=1, max_size=8),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_histogram_quantile_is_monotonic_in_q(
    increments: list[float], q1: float, q2: float
) -> None:
    counts = np.cumsum(increments).tolist()
    buckets = [(0.1 * (i + 1), c) for i, c in enumerate(counts)] + [(INF, counts[-1])]
    lo, hi = sorted((q1, q2))
    a, b = histogram_quantile(lo, buckets), histogram_quantile(hi, buckets)
    if not (math.isnan(a) or math.isnan(b)):
        assert a <= b + 1e-12
