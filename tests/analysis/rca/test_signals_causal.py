"""The Granger signal's test never raises on data it cannot test."""

from __future__ import annotations

import numpy as np

from selfheal.analysis.rca.signals_causal import MIN_SAMPLES, _granger_p


def test_a_series_flat_but_for_its_last_sample_is_untestable_not_an_error() -> None:
    # the whole series varies, but its lagged column (every sample but the last) is
    # constant: statsmodels refuses the test (InfeasibleTestError)
    n = max(MIN_SAMPLES, 30)
    cause = np.zeros(n)
    cause[-1] = 1.0
    effect = np.random.default_rng(0).normal(size=n)
    assert _granger_p(cause, effect) == 1.0


def test_a_cause_that_leads_its_effect_by_one_step_is_found() -> None:
    rng = np.random.default_rng(1)
    cause = rng.normal(size=200)
    effect = np.concatenate([[0.0], cause[:-1]]) + 0.1 * rng.normal(size=200)
    assert _granger_p(cause, effect) < 0.01
