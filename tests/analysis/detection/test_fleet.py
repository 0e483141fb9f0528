"""The vectorised ``seasonalrange`` gives every series exactly the streaming detector's scores."""

from __future__ import annotations

import doctest
import importlib
import math

import numpy as np
import pytest

from selfheal.analysis.detection.range_fleet import SeasonalRangeFleet
from selfheal.analysis.detection.registry import registry


def _streams(seed: int, n_series: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Values (NaN = no sample) and per-series timestamps: seasons, noise, spikes, shifts, gaps."""
    rng = np.random.default_rng(seed)
    steps = np.resize([300.0, 60.0, 1.0], n_series)  # 300 s: the daily profile gets used
    t = np.cumsum(np.ones((n, n_series)) * steps, axis=0) + rng.uniform(0, 1e5, n_series)
    phase = 2 * math.pi * t / 86400.0
    values = 50 + 10 * np.sin(phase) + rng.normal(0, 1 + rng.uniform(0, 3, n_series), (n, n_series))
    values += np.where(rng.random((n, n_series)) < 0.004, rng.normal(0, 40, (n, n_series)), 0.0)
    values[n // 2 :, 0] += 30.0  # a level shift
    values[:, -1] = np.round(values[:, -1] / 10.0)  # a coarse, often flat series
    values[rng.random((n, n_series)) < 0.05] = np.nan  # series without a sample this cycle
    return values, t


@pytest.mark.parametrize("seed", [0, 1])
def test_every_series_scores_exactly_as_the_streaming_detector(seed: int) -> None:
    values, t = _streams(seed, 4, 2500)
    fleet = SeasonalRangeFleet(values.shape[1])
    singles = [registry.create("seasonalrange") for _ in range(values.shape[1])]
    rng = np.random.default_rng(seed + 100)
    flagged_any = 0
    for row in range(len(values)):
        got = fleet.score_many(values[row], t[row])
        learn = values[row].copy()
        for s, single in enumerate(singles):
            if math.isnan(values[row, s]):
                assert got[s] == 0.0
                continue
            expected = single.score_one(float(values[row, s]), float(t[row, s]))
            assert got[s] == expected, (row, s)
            # As the loop does: a flagged sample (or, here, a random one) is not learned.
            if expected >= 0.5 or rng.random() < 0.02:
                learn[s] = np.nan
                flagged_any += expected >= 0.5
            else:
                single.learn_one(float(values[row, s]), float(t[row, s]))
        fleet.learn_many(learn, t[row])
    assert flagged_any > 0  # the comparison covered flagged samples too
    assert fleet.baseline.resid_count[0, 0] >= 30  # and the daily profile


def test_new_series_can_join_a_running_fleet() -> None:
    values, t = _streams(3, 2, 800)
    fleet = SeasonalRangeFleet(1)
    singles = [registry.create("seasonalrange") for _ in range(2)]
    for row in range(len(values)):
        if row == 300:
            fleet.grow(2)
        width = fleet.n_series
        v, ts = values[row, :width], t[row, :width]
        got = fleet.score_many(v, ts)
        for s in range(width):
            if not math.isnan(v[s]):
                assert got[s] == singles[s].process_one(float(v[s]), float(ts[s]))
        fleet.learn_many(v, ts)


def test_state_round_trips() -> None:
    values, t = _streams(4, 3, 700)
    fleet = SeasonalRangeFleet(3)
    for row in range(600):
        fleet.learn_many(values[row], t[row])
    twin = SeasonalRangeFleet(3)
    twin.set_state(fleet.get_state())
    for row in range(600, 700):
        assert np.array_equal(
            fleet.score_many(values[row], t[row]), twin.score_many(values[row], t[row])
        )
        fleet.learn_many(values[row], t[row])
        twin.learn_many(values[row], t[row])


def test_a_state_for_another_number_of_series_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        SeasonalRangeFleet(3).set_state(SeasonalRangeFleet(2).get_state())


def test_an_infinite_value_is_skipped_and_leaves_its_series_untouched() -> None:
    fleet = SeasonalRangeFleet(2)
    for i in range(300):
        fleet.learn_many(np.array([1.0 + i % 3, 1.0 + i % 3]), 60.0 * i)
    before = fleet.get_state()
    assert fleet.score_many(np.array([np.inf, 1.0]), 18000.0)[0] == 0.0
    fleet.learn_many(np.array([np.inf, -np.inf]), 18000.0)
    after = fleet.get_state()
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])  # NaN == NaN here


def test_values_for_the_wrong_number_of_series_are_refused() -> None:
    with pytest.raises(ValueError, match="expected 3 values"):
        SeasonalRangeFleet(3).score_many(np.zeros(2), 0.0)


@pytest.mark.parametrize(
    "module",
    [
        "selfheal.analysis.detection.range_fleet",
        "selfheal.analysis.detection.seasonal_fleet",
        "selfheal.analysis.detection.live",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
