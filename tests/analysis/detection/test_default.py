"""The default detector: fast warm-up, quiet on noise, loud on faults, same as its fleet."""

from __future__ import annotations

import numpy as np
import pytest

from selfheal.analysis.detection import default_detector
from selfheal.analysis.detection.default import DEFAULT_WARM_UP_SAMPLES, default_fleet

ALERT = 0.95  # about 4.5 sigma


def _scores(values: np.ndarray) -> np.ndarray:
    d = default_detector()
    return np.array([d.process_one(float(v), float(i)) for i, v in enumerate(values)])


def test_warm_up_is_a_few_dozen_samples() -> None:
    assert DEFAULT_WARM_UP_SAMPLES == 30
    s = _scores(np.r_[np.full(29, 1.0), 1000.0])
    assert s.max() == 0.0
    s = _scores(np.r_[np.random.default_rng(0).normal(1.0, 0.01, 30), 2.0])
    assert s[-1] > ALERT


@pytest.mark.parametrize(
    "kind", ["gaussian", "poisson_error_ratio", "latency_lognormal", "flat", "slow_ramp"]
)
def test_normal_noise_raises_no_alert(kind: str) -> None:
    rng = np.random.default_rng(1)
    n = 3000
    series = {
        "gaussian": rng.normal(50.0, 5.0, n),
        "poisson_error_ratio": rng.poisson(2.0, n) / 1000.0,
        "latency_lognormal": np.exp(rng.normal(np.log(0.12), 0.05, n)),
        "flat": np.full(n, 0.25),
        "slow_ramp": np.linspace(0.2, 0.6, n) + rng.normal(0, 0.01, n),
    }[kind]
    assert (_scores(series) > ALERT).sum() == 0


def test_faults_are_flagged_promptly() -> None:
    rng = np.random.default_rng(2)
    latency = rng.normal(0.1, 0.005, 400)
    latency[300:] += 0.1  # a dependency slowed down
    s = _scores(latency)
    assert s[300] > ALERT
    errors = rng.poisson(1.0, 400) / 1000.0
    errors[300:] = 0.2  # error ratio jumps to 20%
    assert _scores(errors)[300] > ALERT


def test_fleet_scores_match_single_series_scores() -> None:
    rng = np.random.default_rng(3)
    data = rng.normal(10.0, 1.0, size=(120, 5))
    data[100, 2] = 30.0
    fleet = default_fleet(5)
    singles = [default_detector() for _ in range(5)]
    for i, row in enumerate(data):
        got = fleet.score_many(row)
        expected = [d.score_one(float(v), float(i)) for d, v in zip(singles, row, strict=True)]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
        fleet.learn_many(row)
        for d, v in zip(singles, row, strict=True):
            d.learn_one(float(v), float(i))


def test_fleet_skips_missing_samples() -> None:
    fleet = default_fleet(2)
    for _ in range(40):
        fleet.learn_many(np.array([1.0, np.nan]))
    assert fleet.n.tolist() == [40, 0]
    assert fleet.score_many(np.array([1.0, 5.0]))[1] == 0.0  # still warming up


def test_fleet_rejects_the_wrong_number_of_values() -> None:
    with pytest.raises(ValueError, match="expected 3 values"):
        default_fleet(3).score_many(np.zeros(4))


def test_non_finite_values_are_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="finite"):
        default_detector().learn_one(float("inf"), 0.0)
