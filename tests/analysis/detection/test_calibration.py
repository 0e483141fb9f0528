"""Calibration maps raw scores monotonically into [0, 1]."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfheal.analysis.detection.calibration import (
    AdaptiveCalibrator,
    ExponentialCalibrator,
    calibrator_from_spec,
)

raw = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@given(a=raw, b=raw, scale=st.floats(0.1, 10.0))
def test_exponential_calibration_is_monotone_and_bounded(a: float, b: float, scale: float) -> None:
    c = ExponentialCalibrator(scale)
    lo, hi = sorted((a, b))
    assert 0.0 <= c.calibrate(lo) <= c.calibrate(hi) <= 1.0


@settings(deadline=None)
@given(history=st.lists(st.floats(0, 100), min_size=40, max_size=200), a=raw, b=raw)
def test_adaptive_calibration_is_monotone_for_a_fixed_state(
    history: list[float], a: float, b: float
) -> None:
    c = AdaptiveCalibrator(min_samples=30)
    for h in history:
        c.learn(h)
    lo, hi = sorted((a, b))
    assert 0.0 <= c.calibrate(lo) <= c.calibrate(hi) <= 1.0


def test_adaptive_calibration_is_silent_until_it_has_seen_enough() -> None:
    c = AdaptiveCalibrator(min_samples=30)
    for _ in range(29):
        c.learn(1.0)
    assert c.calibrate(1e9) == 0.0
    c.learn(1.0)
    assert c.calibrate(1e9) > 0.99


def test_adaptive_calibration_puts_different_scales_on_one_scale() -> None:
    rng = np.random.default_rng(0)
    small, big = AdaptiveCalibrator(), AdaptiveCalibrator()
    for v in rng.gamma(2.0, 1.0, 2000):
        small.learn(v)
        big.learn(v * 1000)
    assert small.calibrate(8.0) == pytest.approx(big.calibrate(8000.0), rel=1e-6)


def test_vectorised_calibration_matches_scalar() -> None:
    c = ExponentialCalibrator(1.5)
    values = np.array([-1.0, 0.0, 0.5, 3.0, 40.0, math.nan])
    expected = [c.calibrate(float(v)) for v in values]
    np.testing.assert_allclose(c.calibrate_many(values), expected)


def test_calibrator_specs_round_trip() -> None:
    c = AdaptiveCalibrator(alpha=0.01, min_samples=5, scale=2.0)
    assert calibrator_from_spec(c.spec()).params() == c.params()
    with pytest.raises(ValueError, match="unknown calibrator"):
        calibrator_from_spec({"kind": "nope"})


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="scale"):
        ExponentialCalibrator(0.0)
    with pytest.raises(ValueError, match="alpha"):
        AdaptiveCalibrator(alpha=1.5)
