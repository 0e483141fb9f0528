"""CUSUM change-point detection on standardised samples.

Page's cumulative sum (Page, "Continuous inspection schemes", Biometrika
1954): two one-sided sums of standardised deviations, minus a drift ``k``
(half the shift to detect, in sigmas), accumulate evidence of a persistent
shift that single samples would not show. The raw score is the larger sum
divided by the decision interval ``h`` (so > 1 means "change"). When a
learned sample pushes a sum over ``h`` the change is accepted: the sums reset
and the reference level moves to the new sample (the spread is kept).

Mean and standard deviation of the reference are an EWMA of learned samples
(winsorised at ``clip`` sigmas so a change does not leak into its own
reference before it is detected).

>>> d = CusumDetector(warm_up=20)
>>> for i in range(100):
...     d.learn_one(10.0 + (0.5 if i % 2 else -0.5), float(i))
>>> d.score_one(11.0, 100.0) < 1.0  # one 2-sigma sample is not a change
True
>>> for i in range(100, 103):
...     d.learn_one(11.0, float(i))
>>> d.score_one(11.0, 103.0) > 1.0 > d.score_one(10.0, 103.0)
True
"""

from __future__ import annotations

import math
from typing import Any

from selfheal.analysis.detection.base import Detector, State, check_value
from selfheal.analysis.detection.calibration import ExponentialCalibrator
from selfheal.analysis.detection.registry import register


@register("cusum")
class CusumDetector(Detector):
    """Two-sided CUSUM; raw score = max(S+, S-) / h."""

    name = "cusum"

    def __init__(
        self,
        k: float = 0.5,
        h: float = 5.0,
        alpha: float = 0.01,
        warm_up: int = 30,
        clip: float = 3.0,
        rel_floor: float = 1e-3,
    ) -> None:
        if k < 0 or h <= 0:
            raise ValueError(f"need k >= 0 and h > 0, got k={k}, h={h}")
        self.k, self.h = float(k), float(h)
        self.alpha = float(alpha)
        self.warm_up = int(warm_up)
        self.clip = float(clip)
        self.rel_floor = float(rel_floor)
        self.n = 0
        self.mean = 0.0
        self.var = 0.0
        self.pos = 0.0
        self.neg = 0.0

    @property
    def warm_up_samples(self) -> int:
        return self.warm_up

    def default_calibrator(self) -> ExponentialCalibrator:
        return ExponentialCalibrator(scale=0.7)  # h (score 1) -> 0.76, 2h -> 0.94

    def _z(self, x: float) -> float:
        std = math.sqrt(self.var) + 1e-9 + self.rel_floor * abs(self.mean)
        return (x - self.mean) / std

    def _sums(self, x: float) -> tuple[float, float]:
        z = self._z(x)
        return max(0.0, self.pos + z - self.k), max(0.0, self.neg - z - self.k)

    def score_one(self, x: float, t: float) -> float:
        x = check_value(x)
        if self.n < self.warm_up:
            return 0.0
        pos, neg = self._sums(x)
        return max(pos, neg) / self.h

    def learn_one(self, x: float, t: float) -> None:
        x = check_value(x)
        if self.n >= self.warm_up:
            self.pos, self.neg = self._sums(x)
            if max(self.pos, self.neg) > self.h:
                # Change accepted: move the reference to the new level and keep
                # the spread, so scoring goes on without a second warm-up.
                self.pos = self.neg = 0.0
                self.mean = x
                return
            std = math.sqrt(self.var)
            x = min(max(x, self.mean - self.clip * std), self.mean + self.clip * std)
        self.n += 1
        a = max(self.alpha, 1.0 / self.n)
        d = x - self.mean
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)

    def params(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "h": self.h,
            "alpha": self.alpha,
            "warm_up": self.warm_up,
            "clip": self.clip,
            "rel_floor": self.rel_floor,
        }

    def get_state(self) -> State:
        return {"n": self.n, "mean": self.mean, "var": self.var, "pos": self.pos, "neg": self.neg}

    def set_state(self, state: State) -> None:
        self.n = int(state["n"])
        self.mean, self.var = float(state["mean"]), float(state["var"])
        self.pos, self.neg = float(state["pos"]), float(state["neg"])
