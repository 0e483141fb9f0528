"""Rule detectors: thresholds, rates of change and staleness, declared by people.

Not everything needs learning: an SLO says "error ratio above 5% is bad", a
disk filling faster than 1 MB/s is bad, a series that stopped reporting is
bad. Rules speak the same streaming interface as learned detectors so the
loop and the ensemble treat them alike; they emit 1.0 when violated and 0.0
otherwise (already calibrated). Their parameters come from YAML via the
registry (``registry.create("threshold", upper=0.05)``).

>>> r = ThresholdRule(upper=0.05)
>>> r.score_one(0.01, 0.0), r.score_one(0.2, 0.0)
(0.0, 1.0)
>>> s = StalenessRule(max_gap_seconds=10.0)
>>> s.learn_one(1.0, 100.0)
>>> s.score_absence(105.0), s.score_absence(111.0)
(0.0, 1.0)
"""

from __future__ import annotations

import math
from typing import Any

from selfheal.analysis.detection.base import Detector, State, check_value
from selfheal.analysis.detection.registry import register


class _Rule(Detector):
    emits_calibrated = True


@register("threshold")
class ThresholdRule(_Rule):
    """Violated when ``x > upper`` or ``x < lower`` (either may be omitted)."""

    name = "threshold"

    def __init__(self, upper: float | None = None, lower: float | None = None) -> None:
        if upper is None and lower is None:
            raise ValueError("a threshold rule needs 'upper', 'lower' or both")
        if upper is not None and lower is not None and lower > upper:
            raise ValueError(f"lower ({lower}) is above upper ({upper})")
        self.upper = upper
        self.lower = lower

    def score_one(self, x: float, t: float) -> float:
        x = check_value(x)
        over = self.upper is not None and x > self.upper
        under = self.lower is not None and x < self.lower
        return 1.0 if over or under else 0.0

    def learn_one(self, x: float, t: float) -> None:
        """Rules learn nothing."""

    def params(self) -> dict[str, Any]:
        return {"upper": self.upper, "lower": self.lower}

    def get_state(self) -> State:
        return {}

    def set_state(self, state: State) -> None:
        """Stateless."""


@register("rate")
class RateOfChangeRule(_Rule):
    """Violated when the change per second since the last learned sample is too fast.

    ``max_increase_per_second`` / ``max_decrease_per_second`` are positive
    numbers in the series' unit per second; either may be omitted.
    """

    name = "rate"

    def __init__(
        self,
        max_increase_per_second: float | None = None,
        max_decrease_per_second: float | None = None,
    ) -> None:
        if max_increase_per_second is None and max_decrease_per_second is None:
            raise ValueError(
                "a rate rule needs max_increase_per_second and/or max_decrease_per_second"
            )
        self.max_increase_per_second = max_increase_per_second
        self.max_decrease_per_second = max_decrease_per_second
        self.last_x = math.nan
        self.last_t = math.nan

    def score_one(self, x: float, t: float) -> float:
        x = check_value(x)
        dt = t - self.last_t
        if math.isnan(self.last_t) or not dt > 0:
            return 0.0
        rate = (x - self.last_x) / dt
        up = self.max_increase_per_second
        down = self.max_decrease_per_second
        too_fast = (up is not None and rate > up) or (down is not None and -rate > down)
        return 1.0 if too_fast else 0.0

    def learn_one(self, x: float, t: float) -> None:
        self.last_x, self.last_t = check_value(x), float(t)

    def params(self) -> dict[str, Any]:
        return {
            "max_increase_per_second": self.max_increase_per_second,
            "max_decrease_per_second": self.max_decrease_per_second,
        }

    def get_state(self) -> State:
        return {"last_x": self.last_x, "last_t": self.last_t}

    def set_state(self, state: State) -> None:
        self.last_x, self.last_t = float(state["last_x"]), float(state["last_t"])


@register("staleness")
class StalenessRule(_Rule):
    """Violated when a series went silent for more than ``max_gap_seconds``.

    ``score_one`` judges the gap before an arriving sample; the loop calls
    :meth:`score_absence` on its own tick to catch a series that sends
    nothing at all (absence cannot be seen from samples that never come).
    """

    name = "staleness"

    def __init__(self, max_gap_seconds: float) -> None:
        if not max_gap_seconds > 0:
            raise ValueError(f"max_gap_seconds must be > 0, got {max_gap_seconds}")
        self.max_gap_seconds = float(max_gap_seconds)
        self.last_t = math.nan

    def score_absence(self, now: float) -> float:
        if math.isnan(self.last_t):
            return 0.0
        return 1.0 if now - self.last_t > self.max_gap_seconds else 0.0

    def score_one(self, x: float, t: float) -> float:
        check_value(x)
        return self.score_absence(t)

    def learn_one(self, x: float, t: float) -> None:
        check_value(x)
        self.last_t = max(float(t), self.last_t) if not math.isnan(self.last_t) else float(t)

    def params(self) -> dict[str, Any]:
        return {"max_gap_seconds": self.max_gap_seconds}

    def get_state(self) -> State:
        return {"last_t": self.last_t}

    def set_state(self, state: State) -> None:
        self.last_t = float(state["last_t"])
