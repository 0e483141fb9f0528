"""Behaviour of each detector beyond the shared contract."""

from __future__ import annotations

import math

import numpy as np
import pytest

from selfheal.analysis.detection.bocpd import BocpdDetector
from selfheal.analysis.detection.cusum import CusumDetector
from selfheal.analysis.detection.ensemble import Ensemble
from selfheal.analysis.detection.ewma import EwmaZScore
from selfheal.analysis.detection.mad import MadScore
from selfheal.analysis.detection.onset import Onset
from selfheal.analysis.detection.rules import RateOfChangeRule, StalenessRule, ThresholdRule
from selfheal.analysis.detection.seasonal import SeasonalBaseline


def _feed(d: object, xs: np.ndarray, step: float = 60.0) -> None:
    for i, x in enumerate(xs):
        d.learn_one(float(x), i * step)  # type: ignore[attr-defined]


def test_seasonal_baseline_expects_the_daily_pattern_that_ewma_flags() -> None:
    day = 1440  # one sample a minute
    n = 5 * day
    i = np.arange(n)
    x = (
        100
        + 50 * (((i % day) >= 540) & ((i % day) < 1020))
        + np.random.default_rng(0).normal(0, 2, n)
    )
    seasonal, ewma = SeasonalBaseline(), EwmaZScore(alpha=0.003)
    _feed(seasonal, x[:-1])
    _feed(ewma, x[:-1])
    t_day = (n + 540) * 60.0  # the daily step up, as usual
    t_night = (n + 100) * 60.0
    assert seasonal.score_one(150.0, t_day) < 3.0
    # High at night is anomalous; a plain EWMA has absorbed both levels and misses it.
    assert seasonal.score_one(150.0, t_night) > 10.0 > 3.0 > ewma.score_one(150.0, t_night)


def test_cusum_catches_a_small_persistent_shift_a_z_score_misses() -> None:
    rng = np.random.default_rng(1)
    x = np.r_[rng.normal(0, 1, 300), rng.normal(1.0, 1, 40)]
    cusum, z = CusumDetector(), EwmaZScore(alpha=0.01)
    cusum_max = z_max = 0.0
    for i, v in enumerate(x):
        if i >= 300:
            cusum_max = max(cusum_max, cusum.score_one(float(v), i))
            z_max = max(z_max, z.score_one(float(v), i))
        cusum.learn_one(float(v), i)
        z.learn_one(float(v), i)
    assert cusum_max > 1.0  # crossed its decision interval
    assert z_max < 4.5  # never a 4.5-sigma sample


def test_bocpd_run_length_restarts_after_a_change() -> None:
    rng = np.random.default_rng(2)
    d = BocpdDetector()
    _feed(d, rng.normal(0, 1, 300), step=1.0)
    assert d.run_length_map() > 50
    for i in range(20):
        d.learn_one(float(rng.normal(8, 1)), 300.0 + i)
    assert d.run_length_map() < 30


def test_mad_ignores_a_burst_of_outliers_in_its_window() -> None:
    d = MadScore(window=64)
    xs = np.r_[np.random.default_rng(3).normal(10, 1, 50), np.full(10, 1000.0)]
    _feed(d, xs, step=1.0)
    assert d.score_one(10.5, 60.0) < 2.0


def test_onset_flags_an_excursion_once_and_rates_it_against_past_peaks() -> None:
    d = Onset(EwmaZScore(alpha=0.01), window=100)
    rng = np.random.default_rng(4)
    for i, v in enumerate(rng.normal(0, 1, 300)):
        d.process_one(float(v), float(i))
    first = d.process_one(10.0, 300.0)
    assert first > 0.5
    assert d.process_one(9.0, 301.0) == 0.0  # still the same excursion


def test_threshold_rule_checks_both_bounds_and_refuses_nonsense() -> None:
    r = ThresholdRule(upper=1.0, lower=0.0)
    assert [r.score_one(v, 0.0) for v in (-0.1, 0.5, 1.1)] == [1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="needs"):
        ThresholdRule()
    with pytest.raises(ValueError, match="above"):
        ThresholdRule(upper=0.0, lower=1.0)


def test_rate_rule_uses_change_per_second() -> None:
    r = RateOfChangeRule(max_increase_per_second=1.0)
    r.learn_one(0.0, 0.0)
    assert r.score_one(5.0, 10.0) == 0.0  # 0.5/s
    assert r.score_one(5.0, 2.0) == 1.0  # 2.5/s
    assert r.score_one(-100.0, 2.0) == 0.0  # decreases are not limited here


def test_staleness_rule_reports_absence_on_the_loops_tick() -> None:
    r = StalenessRule(max_gap_seconds=30.0)
    assert r.score_absence(1000.0) == 0.0  # never seen: nothing to judge yet
    r.learn_one(1.0, 100.0)
    assert r.score_absence(120.0) == 0.0
    assert r.score_absence(131.0) == 1.0
    assert r.score_one(1.0, 200.0) == 1.0  # the sample came after a long gap


def test_ensemble_combines_calibrated_member_scores() -> None:
    members = [{"name": "threshold", "params": {"upper": 5.0}}, {"name": "ewma", "params": {}}]
    mean = Ensemble(members, combine="mean")
    top = Ensemble(members, combine="max")
    for i in range(50):
        mean.learn_one(6.0, float(i))
        top.learn_one(6.0, float(i))
    assert top.score_one(6.0, 50.0) == 1.0  # the rule fires
    assert mean.score_one(6.0, 50.0) == pytest.approx(0.5, abs=0.01)  # ewma says normal
    assert len(mean.member_scores(6.0, 50.0)) == 2


def test_ensemble_validates_its_configuration() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Ensemble([])
    with pytest.raises(ValueError, match="combine"):
        Ensemble([{"name": "ewma"}], combine="median")
    with pytest.raises(ValueError, match="weights"):
        Ensemble([{"name": "ewma"}], weights=[1.0, 2.0])


def test_isolation_forest_fast_scoring_matches_scikit_learn() -> None:
    from sklearn.ensemble import IsolationForest

    from selfheal.analysis.detection.isolation_forest import _FlatForest

    rng = np.random.default_rng(5)
    data = rng.normal(size=(300, 3))
    forest = IsolationForest(n_estimators=20, random_state=0).fit(data)
    flat = _FlatForest(forest)
    probe = rng.normal(scale=2.0, size=(40, 3))
    ours = np.array([flat.score(p) for p in probe])
    np.testing.assert_allclose(ours, -forest.score_samples(probe), rtol=1e-12)


def test_lstm_autoencoder_learns_a_shape_and_flags_a_broken_one() -> None:
    pytest.importorskip("torch")
    from selfheal.analysis.detection.lstm_autoencoder import LstmAutoencoder

    d = LstmAutoencoder(window=12, buffer_size=256, min_fit=256, refit_every=10_000, epochs=8)
    for i in range(300):
        d.learn_one(math.sin(i / 3.0), float(i))
    normal = d.score_one(math.sin(300 / 3.0), 300.0)
    broken = d.score_one(3.0, 300.0)
    assert broken > 3 * normal
