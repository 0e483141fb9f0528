from __future__ import annotations

import numpy as np

from selfheal.analysis.rca.change import FROM_ZERO_SCORE, robust_change


def test_a_step_scores_in_robust_deviations() -> None:
    base = np.array([10.0, 11.0, 9.0, 10.0, 10.5, 9.5, 10.0])
    assert robust_change(base, np.array([30.0, 31.0])) > 10.0


def test_a_single_spike_is_not_a_change() -> None:
    base = np.array([10.0, 11.0, 9.0, 10.0, 10.5, 9.5, 10.0])
    assert robust_change(base, np.array([10.0, 100.0, 10.0])) < 3.0


def test_a_series_leaving_zero_scores_a_bounded_amount() -> None:
    assert robust_change(np.zeros(20), np.array([5.0, 6.0])) == FROM_ZERO_SCORE


def test_a_mostly_missing_baseline_is_trusted_less() -> None:
    full = np.array([1.0, 1.1, 0.9, 1.0, 1.05, 0.95] * 4)
    sparse = np.full(240, np.nan)
    sparse[:24] = full
    now = np.array([3.0, 3.0])
    assert robust_change(sparse, now) < robust_change(full, now)


def test_an_earlier_incident_in_the_baseline_does_not_hide_a_new_one() -> None:
    base = np.array([20.0, 22.0, 19.0, 21.0, 20.0, 95.0, 99.0, 97.0, 21.0, 20.0, 22.0, 19.0])
    assert robust_change(base, np.array([99.0, 99.0])) > 10.0


def test_empty_windows_score_zero() -> None:
    assert robust_change(np.array([]), np.array([1.0])) == 0.0
    assert robust_change(np.array([1.0, 2.0]), np.array([np.nan])) == 0.0
