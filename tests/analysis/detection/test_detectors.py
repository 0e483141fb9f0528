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
from selfheal.analysis.detection.novel_range import NovelRange
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


def test_onset_ignores_its_first_samples_so_an_early_outlier_does_not_mute_later_onsets() -> None:
    rng = np.random.default_rng(5)
    xs = rng.normal(0, 1, 400)
    xs[25] = 40.0  # early: the baseline's spread rests on 25 samples
    xs[300] = 12.0  # a real excursion later on

    def run(ignore_first: int) -> list[float]:
        d = Onset(EwmaZScore(alpha=0.01), window=500, ignore_first=ignore_first)
        return [d.process_one(float(v), float(i)) for i, v in enumerate(xs)]

    remembered, ignored = run(0), run(50)
    assert remembered[25] > 0.5 and remembered[300] == 0.0  # the early z sets the bar
    assert max(ignored[:50]) == 0.0 and ignored[300] > 0.5
    with pytest.raises(ValueError, match="ignore_first"):
        Onset(EwmaZScore(), ignore_first=-1)


def test_onset_merge_rises_rates_a_climb_once_at_its_first_sample() -> None:
    rng = np.random.default_rng(7)
    xs = np.r_[rng.normal(0.0, 1.0, 300), [8.0, 11.0, 14.0, 17.0], np.zeros(400)]
    xs[-100] = 20.0  # a later, separate excursion

    def run(merge: bool) -> np.ndarray:
        d = Onset(EwmaZScore(alpha=0.01), window=50, merge_rises=merge)
        return np.array([d.process_one(float(v), float(i)) for i, v in enumerate(xs)])

    plain, merged = run(False), run(True)
    assert np.all(plain[300:304] > 0.0)  # each step of the climb is a new maximum
    assert merged[300] == plain[300] > 0.0 and np.all(merged[301:304] == 0.0)
    assert merged[len(xs) - 100] > 0.0  # a new excursion after calm samples still counts
    twin = Onset(EwmaZScore(alpha=0.01), window=50, merge_rises=True)
    d = Onset(EwmaZScore(alpha=0.01), window=50, merge_rises=True)
    for i, v in enumerate(xs[:301]):
        d.process_one(float(v), float(i))
    twin.set_state(d.get_state())
    assert twin.score_one(11.0, 301.0) == 0.0  # the rise carries over a save / load


def test_onset_state_round_trip_keeps_the_ignored_count() -> None:
    d = Onset(EwmaZScore(alpha=0.05), window=20, ignore_first=30)
    for i in range(10):
        d.process_one(float(i % 3), float(i))
    twin = Onset(EwmaZScore(alpha=0.05), window=20, ignore_first=30)
    twin.set_state(d.get_state())
    assert twin.seen == 10
    follow = [float((i * 7) % 5) for i in range(10, 80)]
    a = [d.process_one(v, float(i)) for i, v in enumerate(follow, start=10)]
    b = [twin.process_one(v, float(i)) for i, v in enumerate(follow, start=10)]
    assert a == b


def test_novel_range_with_no_lag_is_htms_rule_and_misses_a_slow_climb() -> None:
    r = NovelRange(tolerance=0.1, min_samples=20, lag=0, refractory=0)
    ramp = np.linspace(0.0, 10.0, 200)  # each value only just above the last
    flags = [r.process_one(float(v), float(i)) for i, v in enumerate(ramp)]
    assert max(flags) == 0.0
    assert r.score_one(11.5, 200.0) == 1.0 and r.score_one(-1.5, 200.0) == 1.0
    assert r.score_one(10.9, 200.0) == 0.0


def test_novel_range_flags_a_slow_slide_once_against_the_range_of_lag_samples_ago() -> None:
    rng = np.random.default_rng(6)
    calm = 20.0 + rng.normal(0.0, 1.0, 400)
    slide = np.linspace(calm.min(), calm.min() - 6.0, 150)  # slowly below every past value
    xs = np.r_[calm, slide, np.full(200, calm.min() - 6.0)]
    r = NovelRange(tolerance=0.05, min_samples=50, lag=100, refractory=100)
    flags = np.array([r.process_one(float(v), float(i)) for i, v in enumerate(xs)])
    assert flags[:400].sum() <= 1  # noise rarely sets a new extreme by 5 % of the range
    assert flags[400:].sum() == 1  # the slide, once; staying down is not new
    assert 400 < int(np.nonzero(flags[400:])[0][0]) + 400 < 550


def test_novel_range_is_silent_early_and_on_a_constant_series() -> None:
    r = NovelRange(min_samples=50)
    early = [r.process_one(float(v), float(i)) for i, v in enumerate([1.0] * 10 + [100.0])]
    assert max(early) == 0.0  # fewer than 50 samples seen
    flat = NovelRange(min_samples=5)
    for i in range(100):
        flat.learn_one(3.0, float(i))
    assert flat.score_one(1000.0, 100.0) == 0.0  # no range yet to leave
    with pytest.raises(ValueError, match="tolerance"):
        NovelRange(tolerance=-0.1)


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
