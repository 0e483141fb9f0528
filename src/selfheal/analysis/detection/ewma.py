"""Robust EWMA z-score: how many standard deviations a sample is from the
exponentially weighted mean of its series.

The workhorse statistical detector of the analysis stage (control-chart
EWMA, Roberts 1959; Hunter, "The exponentially weighted moving average",
J. Quality Technology 1986). Robustness comes from winsorising what is
learned: a sample further than ``clip`` standard deviations from the mean is
learned as if it sat at ``clip`` sigma, so one outlier neither drags the mean
nor inflates the variance. A floor on the standard deviation (absolute and
relative to the mean) keeps a flat series from turning rounding noise into
huge z-scores.

:class:`EwmaZScore` is one series, :class:`EwmaZScoreFleet` the same
arithmetic on numpy arrays for N series at once.

>>> d = EwmaZScore(alpha=0.1, warm_up=5)
>>> for i in range(20):
...     d.learn_one(1.0 + 0.01 * (i % 2), float(i))
>>> d.score_one(1.005, 20.0) < 1.0 < 5.0 < d.score_one(2.0, 20.0)
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from selfheal.analysis.detection.base import Detector, FleetDetector, State, check_value
from selfheal.analysis.detection.calibration import ExponentialCalibrator
from selfheal.analysis.detection.registry import register


@register("ewma")
class EwmaZScore(Detector):
    """|x - mean| / std with exponentially weighted, winsorised mean and variance.

    ``alpha``: weight of a new sample (memory ≈ 1/alpha samples).
    ``warm_up``: samples learned before scores are emitted (plain running
    mean/variance until 1/n < alpha, so warm-up is fast).
    ``clip``: winsorising bound in sigmas for learning.
    ``abs_floor`` / ``rel_floor``: std floor = abs_floor + rel_floor * |mean|.
    """

    name = "ewma"

    def __init__(
        self,
        alpha: float = 0.02,
        warm_up: int = 20,
        clip: float = 4.0,
        abs_floor: float = 1e-9,
        rel_floor: float = 1e-3,
    ) -> None:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if warm_up < 2:
            raise ValueError(f"warm_up must be >= 2, got {warm_up}")
        self.alpha = float(alpha)
        self.warm_up = int(warm_up)
        self.clip = float(clip)
        self.abs_floor = float(abs_floor)
        self.rel_floor = float(rel_floor)
        self.n = 0
        self.mean = 0.0
        self.var = 0.0

    @property
    def warm_up_samples(self) -> int:
        return self.warm_up

    def _std(self) -> float:
        return math.sqrt(self.var) + self.abs_floor + self.rel_floor * abs(self.mean)

    def score_one(self, x: float, t: float) -> float:
        if self.n < self.warm_up:
            return 0.0
        return abs(check_value(x) - self.mean) / self._std()

    def learn_one(self, x: float, t: float) -> None:
        if not math.isfinite(x):
            raise ValueError(f"sample value must be finite, got {x!r}")
        mean = self.mean
        if self.n >= self.warm_up:
            bound = self.clip * (math.sqrt(self.var) + self.abs_floor + self.rel_floor * abs(mean))
            if x > mean + bound:
                x = mean + bound
            elif x < mean - bound:
                x = mean - bound
        n = self.n + 1
        self.n = n
        a = self.alpha if self.alpha * n > 1.0 else 1.0 / n
        d = x - mean
        self.mean = mean + a * d
        self.var = (1.0 - a) * (self.var + a * d * d)

    def default_calibrator(self) -> ExponentialCalibrator:
        return ExponentialCalibrator()

    def params(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "warm_up": self.warm_up,
            "clip": self.clip,
            "abs_floor": self.abs_floor,
            "rel_floor": self.rel_floor,
        }

    def get_state(self) -> State:
        return {"n": self.n, "mean": self.mean, "var": self.var}

    def set_state(self, state: State) -> None:
        self.n = int(state["n"])
        self.mean = float(state["mean"])
        self.var = float(state["var"])


class EwmaZScoreFleet(FleetDetector):
    """:class:`EwmaZScore` for ``n_series`` series, vectorised; scores calibrated."""

    name = "ewma"

    def __init__(self, n_series: int, calibration_scale: float = 1.5, **params: Any) -> None:
        self._proto = EwmaZScore(**params)
        self._n_series = int(n_series)
        self.calibrator = ExponentialCalibrator(calibration_scale)
        self.n = np.zeros(self._n_series, dtype=np.int64)
        self.mean = np.zeros(self._n_series)
        self.var = np.zeros(self._n_series)

    @property
    def n_series(self) -> int:
        return self._n_series

    def _std(self) -> np.ndarray:
        p = self._proto
        return np.sqrt(self.var) + p.abs_floor + p.rel_floor * np.abs(self.mean)

    def raw_many(self, values: np.ndarray) -> np.ndarray:
        v = self._check(values)
        z = np.asarray(np.abs(v - self.mean) / self._std(), dtype=float)
        z[(self.n < self._proto.warm_up) | np.isnan(v)] = 0.0
        return z

    def score_many(self, values: np.ndarray, t: float | None = None) -> np.ndarray:
        return self.calibrator.calibrate_many(self.raw_many(values))

    def learn_many(self, values: np.ndarray, t: float | None = None) -> None:
        v = self._check(values)
        p = self._proto
        seen = ~np.isnan(v)
        bound = p.clip * self._std()
        clipped = np.clip(v, self.mean - bound, self.mean + bound)
        x = np.where(self.n >= p.warm_up, clipped, v)
        n = self.n + seen
        a = np.where(seen, np.maximum(p.alpha, 1.0 / np.maximum(n, 1)), 0.0)
        d = np.where(seen, x - self.mean, 0.0)
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        self.n = n

    def params(self) -> dict[str, Any]:
        return {
            "n_series": self._n_series,
            "calibration_scale": self.calibrator.scale,
            **self._proto.params(),
        }

    def get_state(self) -> State:
        return {"n": self.n.copy(), "mean": self.mean.copy(), "var": self.var.copy()}

    def set_state(self, state: State) -> None:
        n, mean, var = (np.asarray(state[k]) for k in ("n", "mean", "var"))
        for arr in (n, mean, var):
            if arr.shape != (self._n_series,):
                raise ValueError(f"state for {arr.shape} series, expected {self._n_series}")
        self.n, self.mean, self.var = n.astype(np.int64), mean.astype(float), var.astype(float)
