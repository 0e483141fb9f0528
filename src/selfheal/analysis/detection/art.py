"""Fuzzy ART novelty: flag a window of recent values that no learned category resonates with.

An Adaptive Resonance Theory network (fuzzy ART: Carpenter, Grossberg &
Rosen, "Fuzzy ART: fast stable learning and categorization of analog
patterns by an adaptive resonance system", Neural Networks 4, 1991) keeps a
set of categories, each a hyperbox in feature space. An input *resonates*
with a category when the box, grown to include it, would still be small
enough (the match ``|I ^ w| / |I|`` reaches the vigilance ``rho``); the
category then learns it (fast learning: the box grows). An input that
resonates with none becomes a new category. ARTime, the detector that tops
NAB's scoreboard (``markNZed/ARTimeNAB.jl``), uses exactly that event as its
anomaly: after a learning period, a window of the series that founds a new
category is something the series has not shown before.

This detector is that idea made causal, so it fits the loop's streaming
contract (score, then learn; nothing known about the series upfront):

- **down-sampling**: every ``step`` samples form one block; the block is
  represented by its mean, or by its extreme (the one further from a moving
  average of block means) when that extreme departs from the mean by more
  than ``spike`` x the range seen so far, so a one-sample spike survives;
- **running range**: values are scaled by the range of everything seen so
  far, widened by ``margin`` on each side. ARTime scales by the whole file's
  minimum and maximum, which NAB hands to detectors before the first row; a
  running range needs no look-ahead. Categories keep their level dimensions
  in the series' own units and are rescaled at every match, so a range that
  grows never invalidates what was learned;
- **quantisation**: block values snap to ``levels`` steps of the range, and
  to a running (frugal, Ma & Muthukrishnan) median when within ``chomp`` x the
  range of it, so noise around the usual level does not make new shapes;
- **features**: the last ``window`` block values in range units (where the
  series is) and the Haar transform of the same window scaled to its own
  min / max (what shape it has), complement coded; the current block's level
  is weighted ``last_weight`` times the others in the match;
- **dual vigilance** (as in ARTime's dual-vigilance fuzzy ART, after da
  Silva, Elnabarawy & Wunsch 2019): a best match of at least ``rho_high``
  learns into that category, between ``rho_low`` and ``rho_high`` founds a
  new category of a known kind (no anomaly), below ``rho_low`` founds a new
  category and, after the first ``learning`` samples, is an anomaly scored
  ``(rho_low - match) / (1 - match)`` times ``gain``;
- **repeats**: each anomaly adds one to a count that fades with a time
  constant of ``repeat_samples``; a new anomaly's score is divided by
  ``1 + count``, so a series that keeps founding categories loses weight.

Memory is constant: at most ``max_categories`` boxes (the least recently
used one is replaced when full), a block of ``step`` values and a window of
``window`` block values. Scores are already in [0, 1]; only the last sample
of a block can score.

>>> d = Art(step=1, window=4, learning=100)
>>> for i in range(400):
...     d.learn_one(10.0 + (i % 4), float(i))
>>> d.score_one(10.0 + (400 % 4), 400.0), d.score_one(40.0, 400.0) > 0.3
(0.0, True)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from selfheal.analysis.detection.base import Detector, State, check_value
from selfheal.analysis.detection.registry import register

_ALPHA = 1e-3  # fuzzy ART's choice parameter: prefer the smaller of equally matching boxes


def haar(values: np.ndarray) -> np.ndarray:
    """Full orthonormal Haar decomposition of a window whose length is a power of two."""
    out = np.asarray(values, dtype=np.float64).copy()
    n = len(out)
    while n > 1:
        half = n // 2
        pairs = out[:n].reshape(half, 2)
        avg = (pairs[:, 0] + pairs[:, 1]) / math.sqrt(2.0)
        diff = (pairs[:, 0] - pairs[:, 1]) / math.sqrt(2.0)
        out[:half], out[half:n] = avg, diff
        n = half
    return out


def _unit(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] by the array's own min / max; a flat array maps to zeros."""
    low = float(values.min())
    span = float(values.max()) - low
    return (values - low) / span if span > 0 else np.zeros_like(values)


@register("art")
class Art(Detector):
    """Score = how far a new window misses every learned fuzzy-ART category (0 if it resonates)."""

    name = "art"
    emits_calibrated = True

    def __init__(
        self,
        step: int = 4,
        window: int = 8,
        learning: int = 300,
        rho_low: float = 0.96,
        rho_high: float = 0.98,
        margin: float = 0.1,
        spike: float = 0.1,
        levels: int = 80,
        chomp: float = 0.075,
        last_weight: float = 4.0,
        max_categories: int = 256,
        repeat_samples: float = 500.0,
        gain: float = 1.0,
    ) -> None:
        if step < 1:
            raise ValueError(f"step must be >= 1, got {step}")
        if window < 2 or window & (window - 1):
            raise ValueError(f"window must be a power of two >= 2, got {window}")
        if learning < 0:
            raise ValueError(f"learning must be >= 0, got {learning}")
        if not 0.0 < rho_low <= rho_high <= 1.0:
            raise ValueError(f"need 0 < rho_low <= rho_high <= 1, got {rho_low} and {rho_high}")
        if margin < 0 or spike < 0 or chomp < 0:
            raise ValueError("margin, spike and chomp must be >= 0")
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        if last_weight <= 0:
            raise ValueError(f"last_weight must be > 0, got {last_weight}")
        if max_categories < 1:
            raise ValueError(f"max_categories must be >= 1, got {max_categories}")
        if not repeat_samples > 0:
            raise ValueError(f"repeat_samples must be > 0, got {repeat_samples}")
        if gain < 0:
            raise ValueError(f"gain must be >= 0, got {gain}")
        self.step = int(step)
        self.window = int(window)
        self.learning = int(learning)
        self.rho_low = float(rho_low)
        self.rho_high = float(rho_high)
        self.margin = float(margin)
        self.spike = float(spike)
        self.levels = int(levels)
        self.chomp = float(chomp)
        self.last_weight = float(last_weight)
        self.max_categories = int(max_categories)
        self.repeat_samples = float(repeat_samples)
        self.gain = float(gain)
        self._fade = math.exp(-1.0 / self.repeat_samples)
        dim = 2 * self.window
        # Match weights per feature: the shape part, then the level part (current block last).
        weights = np.ones(dim)
        weights[-1] = self.last_weight
        self._weights = weights / weights.sum()
        self._level = np.zeros(dim, dtype=bool)
        self._level[self.window :] = True
        self.seen = 0
        self.low = math.inf
        self.high = -math.inf
        self.block = np.zeros(self.step)
        self.in_block = 0
        self.moving = math.nan  # moving average of block means
        self.median = math.nan  # frugal running median of block values
        self.recent = np.zeros(self.window)  # block values, oldest first
        self.blocks = 0
        self.lower = np.zeros((self.max_categories, dim))  # box corners; level dims in units
        self.upper = np.zeros((self.max_categories, dim))
        self.used = np.full(self.max_categories, -1.0)  # block index of last use, -1 = free
        self.repeats = 0.0
        self._cache: tuple[float, float, tuple[float, np.ndarray | None, int, float]] | None = None

    @property
    def warm_up_samples(self) -> int:
        return self.learning

    # --- one block ---------------------------------------------------------

    def _block_value(self, block: np.ndarray, low: float, high: float) -> tuple[float, float]:
        """The block's representative value and its mean (the spike-keeping down-sample)."""
        mean = float(block.mean())
        moving = mean if math.isnan(self.moving) else self.moving
        top, bottom = float(block.max()), float(block.min())
        extreme = top if abs(top - moving) >= abs(bottom - moving) else bottom
        if abs(extreme - mean) < self.spike * (high - low):
            extreme = mean
        return extreme, mean

    def _quantise(self, value: float, low: float, high: float) -> float:
        span = high - low
        if span <= 0:
            return value
        if not math.isnan(self.median) and abs(value - self.median) < self.chomp * span:
            return self.median
        quantum = span / self.levels
        return low + round((value - low) / quantum) * quantum

    def _features(self, recent: np.ndarray, low: float, high: float) -> np.ndarray:
        span = (high - low) * (1.0 + 2.0 * self.margin)
        origin = low - self.margin * (high - low)
        levels = (recent - origin) / span if span > 0 else np.full(self.window, 0.5)
        return np.concatenate([_unit(haar(_unit(recent))), np.clip(levels, 0.0, 1.0)])

    def _evaluate(self, x: float) -> tuple[float, np.ndarray | None, int, float]:
        """(score, features or None when no block ends here, best category, block value)."""
        block_end = self.in_block + 1 == self.step
        if not block_end:
            return 0.0, None, -1, math.nan
        low, high = min(self.low, x), max(self.high, x)
        block = self.block.copy()
        block[self.in_block] = x
        value, _ = self._block_value(block, low, high)
        value = self._quantise(value, low, high)
        recent = np.concatenate([self.recent[1:], [value]])
        if self.blocks + 1 < self.window:
            return 0.0, None, -1, value
        features = self._features(recent, low, high)
        live = self.used >= 0
        if not live.any():
            return 0.0, features, -1, value
        match, choice = self._match(features, live, low, high)
        best = int(np.argmax(choice))
        top = float(match.max())
        score = 0.0
        if top < self.rho_low and self.seen + 1 > self.learning:
            raw = (self.rho_low - top) / (1.0 - top)
            score = min(1.0, self.gain * raw / (1.0 + self.repeats * self._fade))
        best = best if float(match[best]) >= self.rho_high else -1
        return score, features, best, value

    def _match(
        self, features: np.ndarray, live: np.ndarray, low: float, high: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fuzzy ART match and choice of every box (``-inf`` for free slots)."""
        lower, upper = self._scaled(low, high)
        inside = np.minimum(features, lower) + 1.0 - np.maximum(features, upper)
        overlap = inside @ self._weights
        size = (1.0 - (upper - lower)) @ self._weights
        match = np.where(live, overlap, -np.inf)
        choice = np.where(live & (match >= self.rho_high), overlap / (_ALPHA + size), -np.inf)
        return match, choice

    def _scaled(self, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
        span = (high - low) * (1.0 + 2.0 * self.margin)
        origin = low - self.margin * (high - low)
        lower, upper = self.lower.copy(), self.upper.copy()
        if span > 0:
            lower[:, self._level] = (lower[:, self._level] - origin) / span
            upper[:, self._level] = (upper[:, self._level] - origin) / span
        else:
            lower[:, self._level] = 0.5
            upper[:, self._level] = 0.5
        return np.clip(lower, 0.0, 1.0), np.clip(upper, 0.0, 1.0)

    def _result(self, x: float, t: float) -> tuple[float, np.ndarray | None, int, float]:
        c = self._cache
        if c is not None and c[0] == x and c[1] == t:
            return c[2]
        result = self._evaluate(x)
        self._cache = (x, t, result)
        return result

    # --- streaming interface ----------------------------------------------

    def score_one(self, x: float, t: float) -> float:
        return self._result(check_value(x), t)[0]

    def learn_one(self, x: float, t: float) -> None:
        x = check_value(x)
        score, features, best, value = self._result(x, t)
        self._cache = None
        self.seen += 1
        self.repeats *= self._fade
        if score > 0:
            self.repeats += 1.0
        self.block[self.in_block] = x
        self.in_block += 1
        self.low, self.high = min(self.low, x), max(self.high, x)
        if self.in_block < self.step:
            return
        self.in_block = 0
        mean = float(self.block.mean())
        self.moving = mean if math.isnan(self.moving) else 0.5 * (self.moving + mean)
        quantum = (self.high - self.low) / self.levels
        if math.isnan(self.median):
            self.median = value
        elif value > self.median:
            self.median += quantum
        elif value < self.median:
            self.median -= quantum
        self.recent[:-1] = self.recent[1:]
        self.recent[-1] = value
        self.blocks += 1
        if features is not None:
            self._learn(features, best)

    def _learn(self, features: np.ndarray, best: int) -> None:
        span = (self.high - self.low) * (1.0 + 2.0 * self.margin)
        origin = self.low - self.margin * (self.high - self.low)
        stored = features.copy()
        stored[self._level] = origin + features[self._level] * span  # back to the series' units
        if best >= 0:
            self.lower[best] = np.minimum(self.lower[best], stored)
            self.upper[best] = np.maximum(self.upper[best], stored)
        else:
            free = np.flatnonzero(self.used < 0)
            best = int(free[0]) if len(free) else int(np.argmin(self.used))
            self.lower[best] = stored
            self.upper[best] = stored
        self.used[best] = float(self.blocks)

    # --- persistence -------------------------------------------------------

    def params(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "window": self.window,
            "learning": self.learning,
            "rho_low": self.rho_low,
            "rho_high": self.rho_high,
            "margin": self.margin,
            "spike": self.spike,
            "levels": self.levels,
            "chomp": self.chomp,
            "last_weight": self.last_weight,
            "max_categories": self.max_categories,
            "repeat_samples": self.repeat_samples,
            "gain": self.gain,
        }

    def get_state(self) -> State:
        return {
            "seen": self.seen,
            "low": self.low,
            "high": self.high,
            "block": self.block.copy(),
            "in_block": self.in_block,
            "moving": self.moving,
            "median": self.median,
            "recent": self.recent.copy(),
            "blocks": self.blocks,
            "lower": self.lower.copy(),
            "upper": self.upper.copy(),
            "used": self.used.copy(),
            "repeats": self.repeats,
        }

    def set_state(self, state: State) -> None:
        dim = 2 * self.window
        shapes = {
            "block": (self.step,),
            "recent": (self.window,),
            "lower": (self.max_categories, dim),
            "upper": (self.max_categories, dim),
            "used": (self.max_categories,),
        }
        arrays = {}
        for key, shape in shapes.items():
            array = np.asarray(state[key], dtype=np.float64)
            if array.shape != shape:
                raise ValueError(f"ART state {key!r} of shape {array.shape}, expected {shape}")
            arrays[key] = array.copy()
        in_block = int(state["in_block"])
        if not 0 <= in_block < self.step:
            raise ValueError(f"ART state in_block {in_block} outside [0, {self.step})")
        self.block, self.recent = arrays["block"], arrays["recent"]
        self.lower, self.upper, self.used = arrays["lower"], arrays["upper"], arrays["used"]
        self.in_block = in_block
        self.seen = int(state["seen"])
        self.low = float(state["low"])
        self.high = float(state["high"])
        self.moving = float(state["moving"])
        self.median = float(state["median"])
        self.blocks = int(state["blocks"])
        self.repeats = float(state["repeats"])
        self._cache = None


#: Weight of the ART member in ``seasonalart`` (its scores times this, clipped at 1).
SEASONALART_GAIN = 1.5


@register("seasonalart")
def seasonal_art(gain: float = SEASONALART_GAIN, **params: Any) -> Detector:
    """``max`` of the NAB configuration ``seasonalrange`` and :class:`Art` (``gain``, ``params``).

    The residual-based onset stage and the range rule miss a *shape* the series
    has not shown before; the ART member flags exactly that. NAB dev split,
    in-sample: standard 79.4, against 75.9 for ``seasonalrange``; its
    cross-validated figure, and why the loop runs ``seasonalrange`` instead
    (this runs at about 14 k points/s per series), are in bench/RESULTS.md.
    """
    from selfheal.analysis.detection.ensemble import Ensemble
    from selfheal.analysis.detection.onset import seasonal_range

    return Ensemble([seasonal_range(), Art(gain=gain, **params)], combine="max")
