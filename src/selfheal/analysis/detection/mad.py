"""Median absolute deviation (MAD) score over a sliding window.

A robust alternative to the z-score for the analysis stage: the median and
the MAD of the last ``window`` learned samples ignore up to half of them
being outliers (Hampel, "The influence curve and its role in robust
estimation", JASA 1974; Leys et al., "Detecting outliers: do not use standard
deviation around the mean, use absolute deviation around the median", J.
Experimental Social Psychology 2013). ``1.4826 * MAD`` estimates the standard
deviation of Gaussian noise, so the raw score is in sigma units.

Memory is a ring of ``window`` values.

>>> d = MadScore(window=32, warm_up=8)
>>> for i in range(40):
...     d.learn_one(5.0 + (i % 4) * 0.1, float(i))
>>> d.score_one(5.1, 40.0) < 2.0 < 10.0 < d.score_one(9.0, 40.0)
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from selfheal.analysis.detection.base import Detector, State, check_value
from selfheal.analysis.detection.registry import register

_GAUSS = 1.4826  # MAD -> standard deviation for Gaussian noise


@register("mad")
class MadScore(Detector):
    """|x - median| / (1.4826 * MAD) over the last ``window`` samples."""

    name = "mad"

    def __init__(
        self, window: int = 64, warm_up: int = 16, abs_floor: float = 1e-9, rel_floor: float = 1e-3
    ) -> None:
        if window < 3 or not 2 <= warm_up <= window:
            raise ValueError(
                f"need window >= 3 and 2 <= warm_up <= window, got {window}, {warm_up}"
            )
        self.window = int(window)
        self.warm_up = int(warm_up)
        self.abs_floor = float(abs_floor)
        self.rel_floor = float(rel_floor)
        self.ring = np.zeros(self.window)
        self.filled = 0
        self.pos = 0

    @property
    def warm_up_samples(self) -> int:
        return self.warm_up

    def score_one(self, x: float, t: float) -> float:
        x = check_value(x)
        if self.filled < self.warm_up:
            return 0.0
        values = self.ring[: self.filled]
        med = float(np.median(values))
        mad = float(np.median(np.abs(values - med)))
        return abs(x - med) / (_GAUSS * mad + self.abs_floor + self.rel_floor * abs(med))

    def learn_one(self, x: float, t: float) -> None:
        self.ring[self.pos] = check_value(x)
        self.pos = (self.pos + 1) % self.window
        self.filled = min(self.filled + 1, self.window)

    def params(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "warm_up": self.warm_up,
            "abs_floor": self.abs_floor,
            "rel_floor": self.rel_floor,
        }

    def get_state(self) -> State:
        return {"ring": self.ring.copy(), "filled": self.filled, "pos": self.pos}

    def set_state(self, state: State) -> None:
        ring = np.asarray(state["ring"], dtype=np.float64)
        if ring.shape != (self.window,):
            raise ValueError(f"MAD ring of shape {ring.shape}, expected ({self.window},)")
        self.ring, self.filled, self.pos = ring, int(state["filled"]), int(state["pos"])
