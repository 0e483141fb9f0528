"""Novel range: flag a value outside everything the series had shown before.

People who label anomalies (NAB's labellers among them) mark a value beyond
the whole range seen before as anomalous even when a model's residual is
unremarkable — a slow slide to a new low, a flat series leaving its floor.
Numenta's HTM detector for NAB adds this "spatial anomaly" rule on top of its
model (Ahmad et al., "Unsupervised real-time anomaly detection for streaming
data", Neurocomputing 2017): a value more than ``tolerance`` times the seen
range above the running maximum or below the running minimum. The tolerance
is theirs (5 % of the range), not tuned here.

Two changes to that rule:

- the *reference* range is the range of the values seen at least ``lag``
  samples ago. Against the running range a slow slide never counts, since
  each step is compared with the step before it; against where the series
  was ``lag`` samples ago, the slide counts once it has gone ``tolerance`` x
  range beyond. The value must also be a new extreme (beyond the running
  minimum / maximum), so a level that merely stays out is not flagged anew;
- a flag is emitted only when the last value that met the condition is more
  than ``refractory`` samples back: one excursion, one alert.

``lag = 0`` and ``refractory = 0`` give HTM's rule. Memory is constant: a
ring of ``lag`` values and a few numbers. Silent for the first
``min_samples`` samples and while the reference range is empty or a single
value. ``learn_one`` widens the ranges, so the caller decides whether a
flagged value becomes part of normal.

>>> r = NovelRange(min_samples=3, lag=0, refractory=0)
>>> for v in (1.0, 3.0, 2.0, 2.5):
...     r.learn_one(v, 0.0)
>>> r.score_one(3.05, 0.0), r.score_one(3.2, 0.0), r.score_one(0.8, 0.0)
(0.0, 1.0, 1.0)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from selfheal.analysis.detection.base import Detector, State, check_value
from selfheal.analysis.detection.registry import register


@register("novelrange")
class NovelRange(Detector):
    """1.0 when ``x`` is a new extreme beyond the range of ``lag`` samples ago + tolerance."""

    name = "novelrange"
    emits_calibrated = True

    def __init__(
        self,
        tolerance: float = 0.05,
        min_samples: int = 50,
        lag: int = 100,
        refractory: int = 100,
    ) -> None:
        if not tolerance >= 0:
            raise ValueError(f"tolerance must be >= 0, got {tolerance}")
        if min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {min_samples}")
        if lag < 0 or refractory < 0:
            raise ValueError(f"lag and refractory must be >= 0, got {lag} and {refractory}")
        self.tolerance = float(tolerance)
        self.min_samples = int(min_samples)
        self.lag = int(lag)
        self.refractory = int(refractory)
        self.n = 0
        self.low = math.inf  # running range of everything learned
        self.high = -math.inf
        self.ref_low = math.inf  # range of the values that left the ring
        self.ref_high = -math.inf
        self.ring = np.zeros(self.lag)
        self.pos = 0
        self.filled = 0
        self.quiet = self.refractory  # samples since the last value that met the condition

    @property
    def warm_up_samples(self) -> int:
        return self.min_samples

    def _beyond(self, x: float) -> bool:
        if self.lag == 0:
            low, high = self.low, self.high
        else:
            low, high = self.ref_low, self.ref_high
        if self.n < self.min_samples or not high > low:
            return False
        margin = self.tolerance * (high - low)
        return (x > high + margin and x > self.high) or (x < low - margin and x < self.low)

    def score_one(self, x: float, t: float) -> float:
        x = check_value(x)
        return 1.0 if self._beyond(x) and self.quiet >= self.refractory else 0.0

    def learn_one(self, x: float, t: float) -> None:
        x = check_value(x)
        self.quiet = 0 if self._beyond(x) else min(self.quiet + 1, self.refractory)
        self.n = min(self.n + 1, self.min_samples)
        self.low = min(self.low, x)
        self.high = max(self.high, x)
        if self.lag == 0:
            return
        if self.filled == self.lag:
            old = float(self.ring[self.pos])
            self.ref_low = min(self.ref_low, old)
            self.ref_high = max(self.ref_high, old)
        self.ring[self.pos] = x
        self.pos = (self.pos + 1) % self.lag
        self.filled = min(self.filled + 1, self.lag)

    def params(self) -> dict[str, Any]:
        return {
            "tolerance": self.tolerance,
            "min_samples": self.min_samples,
            "lag": self.lag,
            "refractory": self.refractory,
        }

    def get_state(self) -> State:
        return {
            "n": self.n,
            "low": self.low,
            "high": self.high,
            "ref_low": self.ref_low,
            "ref_high": self.ref_high,
            "ring": self.ring.copy(),
            "pos": self.pos,
            "filled": self.filled,
            "quiet": self.quiet,
        }

    def set_state(self, state: State) -> None:
        ring = np.asarray(state["ring"], dtype=np.float64)
        if ring.shape != (self.lag,):
            raise ValueError(f"novel-range ring of {ring.shape}, expected ({self.lag},)")
        self.ring = ring
        self.n = int(state["n"])
        self.low = float(state["low"])
        self.high = float(state["high"])
        self.ref_low = float(state["ref_low"])
        self.ref_high = float(state["ref_high"])
        self.pos = int(state["pos"])
        self.filled = int(state["filled"])
        self.quiet = int(state["quiet"])
