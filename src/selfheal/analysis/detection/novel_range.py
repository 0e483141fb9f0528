"""Novel range: flag a value outside everything the series has shown so far.

People who label anomalies (NAB's labellers among them) mark a value beyond
the whole range seen before as anomalous even when a model's residual is
unremarkable — a slow climb to a new high, a flat series leaving its floor.
Numenta's HTM detector for NAB adds exactly this "spatial anomaly" rule on
top of its model (Ahmad et al., "Unsupervised real-time anomaly detection
for streaming data", Neurocomputing 2017): a value more than ``tolerance``
times the seen range above the running maximum or below the running minimum
scores 1.0. The tolerance is theirs (5 % of the range), not tuned here.

The rule only compares with the running minimum and maximum (two numbers,
constant memory) and stays silent for the first ``min_samples`` samples and
while the series has been constant (no range yet). It is a learned rule:
``learn_one`` widens the range, so the caller decides whether a flagged value
becomes part of normal.

>>> r = NovelRange(min_samples=3)
>>> for v in (1.0, 3.0, 2.0, 2.5):
...     r.learn_one(v, 0.0)
>>> r.score_one(3.05, 0.0), r.score_one(3.2, 0.0), r.score_one(0.8, 0.0)
(0.0, 1.0, 1.0)
"""

from __future__ import annotations

import math
from typing import Any

from selfheal.analysis.detection.base import Detector, State, check_value
from selfheal.analysis.detection.registry import register


@register("novelrange")
class NovelRange(Detector):
    """1.0 when ``x`` leaves [min, max] seen so far by more than ``tolerance`` x range."""

    name = "novelrange"
    emits_calibrated = True

    def __init__(self, tolerance: float = 0.05, min_samples: int = 50) -> None:
        if not tolerance >= 0:
            raise ValueError(f"tolerance must be >= 0, got {tolerance}")
        if min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {min_samples}")
        self.tolerance = float(tolerance)
        self.min_samples = int(min_samples)
        self.n = 0
        self.low = math.inf
        self.high = -math.inf

    @property
    def warm_up_samples(self) -> int:
        return self.min_samples

    def score_one(self, x: float, t: float) -> float:
        x = check_value(x)
        if self.n < self.min_samples or not self.high > self.low:
            return 0.0
        margin = self.tolerance * (self.high - self.low)
        return 1.0 if x > self.high + margin or x < self.low - margin else 0.0

    def learn_one(self, x: float, t: float) -> None:
        x = check_value(x)
        self.n = min(self.n + 1, self.min_samples)
        self.low = min(self.low, x)
        self.high = max(self.high, x)

    def params(self) -> dict[str, Any]:
        return {"tolerance": self.tolerance, "min_samples": self.min_samples}

    def get_state(self) -> State:
        return {"n": self.n, "low": self.low, "high": self.high}

    def set_state(self, state: State) -> None:
        self.n = int(state["n"])
        self.low = float(state["low"])
        self.high = float(state["high"])
