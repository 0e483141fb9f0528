"""``seasonalrange`` for N series at once: the loop's detector, vectorised over a cycle.

:class:`SeasonalRangeFleet` is the registry's ``seasonalrange`` (``max`` of the
seasonal baseline behind onset scoring with merged rises, and the novel-range
rule; see :mod:`~selfheal.analysis.detection.onset`,
:mod:`~selfheal.analysis.detection.novel_range`) with the state of every series
in arrays, so one cycle of the loop costs a few dozen numpy operations instead
of a Python call chain per series. Each series' score is bit-for-bit the
streaming detector's (``tests/analysis/detection/test_fleet.py``): the same
arithmetic in the same order, and the few transcendental steps (only at an
onset) through :mod:`math` as the streaming detector does them.

Two things make it constant-time per sample where the streaming code is not:

- the onset stage's "higher than every raw score of the last ``window``
  samples" is a sliding-window maximum, kept as van Herk / Gil & Werman's
  block decomposition (van Herk, Pattern Recognition Letters 13, 1992): the
  running maximum of the current block of ``window`` raw scores and the suffix
  maxima of the previous block, so each sample costs O(1) amortised instead of
  a scan of the ring;
- rows without a sample this cycle (NaN) are left out before any arithmetic.

``analysis.rules.LiveDetection`` drives it (``score_many``, then
``learn_many`` with the flagged series' values set to NaN, so an anomaly does
not become the new normal). It does no I/O.

>>> import numpy as np
>>> fleet = SeasonalRangeFleet(3)
>>> for i in range(600):
...     values = np.array([10.0 + i % 3, 5.0, np.nan if i % 2 else 1.0])
...     _ = fleet.score_many(values, 60.0 * i)
...     fleet.learn_many(values, 60.0 * i)
>>> scores = fleet.score_many(np.array([40.0, 5.0, 1.0]), 36000.0)
>>> bool(scores[0] > 0.9 and scores[1] == scores[2] == 0.0)
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from selfheal.analysis.detection.base import FleetDetector, State
from selfheal.analysis.detection.novel_range import NovelRange
from selfheal.analysis.detection.onset import NAB_IGNORE_FIRST, Onset
from selfheal.analysis.detection.seasonal import SeasonalBaseline
from selfheal.analysis.detection.seasonal_fleet import Evaluation, SeasonalBaselineFleet


class SeasonalRangeFleet(FleetDetector):
    """``seasonalrange`` for ``n_series`` series; ``score_many`` gives its [0, 1] scores."""

    name = "seasonalrange"

    def __init__(
        self,
        n_series: int = 0,
        tolerance: float = 0.05,
        seasonal: dict[str, Any] | None = None,
        **onset: Any,
    ) -> None:
        onset.setdefault("ignore_first", NAB_IGNORE_FIRST)
        onset.setdefault("merge_rises", True)
        self._seasonal_params = dict(seasonal or {})
        self.onset = Onset(SeasonalBaseline(**self._seasonal_params), **onset)
        self.novel = NovelRange(tolerance=tolerance, min_samples=NAB_IGNORE_FIRST)
        self._onset_params = onset
        self.baseline = SeasonalBaselineFleet(0, **self._seasonal_params)
        w, lag = self.onset.window, self.novel.lag
        self._n = 0
        self._scored: Evaluation | None = None
        # onset stage
        self.seen = np.zeros(0, dtype=np.int64)
        self.rising = np.zeros(0, dtype=bool)
        self.fading_max = np.zeros(0)
        self.log_peak = np.zeros(0)
        self.block = np.zeros((0, w))  # raw scores of the current block
        self.block_pos = np.zeros(0, dtype=np.int64)
        self.block_max = np.zeros(0)  # running maximum of the current block
        self.suffix = np.zeros((0, w))  # suffix maxima of the previous block
        # novel-range rule
        self.nr_n = np.zeros(0, dtype=np.int64)
        self.low = np.zeros(0)
        self.high = np.zeros(0)
        self.ref_low = np.zeros(0)
        self.ref_high = np.zeros(0)
        self.ring = np.zeros((0, lag))
        self.ring_pos = np.zeros(0, dtype=np.int64)
        self.filled = np.zeros(0, dtype=np.int64)
        self.quiet = np.zeros(0, dtype=np.int64)
        self.grow(n_series)

    @property
    def n_series(self) -> int:
        return self._n

    def grow(self, n_series: int) -> None:
        """Add fresh series up to ``n_series`` in all (the loop meets new series as it runs);
        rows are allocated in advance, at least doubling, as in the baseline."""
        if n_series <= self._n:
            return
        self._scored = None
        self.baseline.grow(n_series)
        capacity = len(self.seen)
        if n_series > capacity:
            extra = max(n_series, 2 * capacity) - capacity

            def more(a: np.ndarray, fill: Any) -> np.ndarray:
                return np.concatenate([a, np.full((extra, *a.shape[1:]), fill, dtype=a.dtype)])

            self.seen, self.rising = more(self.seen, 0), more(self.rising, False)
            self.fading_max = more(self.fading_max, 0.0)
            self.log_peak = more(self.log_peak, math.log(self.onset.initial_peak))
            self.block, self.block_pos = more(self.block, 0.0), more(self.block_pos, 0)
            self.block_max, self.suffix = more(self.block_max, 0.0), more(self.suffix, 0.0)
            self.nr_n = more(self.nr_n, 0)
            self.low, self.high = more(self.low, math.inf), more(self.high, -math.inf)
            self.ref_low = more(self.ref_low, math.inf)
            self.ref_high = more(self.ref_high, -math.inf)
            self.ring, self.ring_pos = more(self.ring, 0.0), more(self.ring_pos, 0)
            self.filled = more(self.filled, 0)
            self.quiet = more(self.quiet, self.novel.refractory)
        self._n = n_series

    # -- the onset stage ---------------------------------------------------------------------
    def _is_onset(self, i: np.ndarray, raw: np.ndarray) -> np.ndarray:
        recent = np.maximum(self.block_max[i], self.suffix[i, self.block_pos[i]])
        onset: np.ndarray = (raw > recent) & (raw > self.fading_max[i]) & (raw > self.onset.min_raw)
        return onset

    def _onset_scores(self, i: np.ndarray, raw: np.ndarray) -> np.ndarray:
        o = self.onset
        flag = self._is_onset(i, raw) & (self.seen[i] >= o.ignore_first)
        if o.merge_rises:
            flag &= ~self.rising[i]
        out = np.zeros(len(i))
        for k in np.flatnonzero(flag):  # onsets are rare; math.* as the streaming stage does
            ratio = float(raw[k]) / math.exp(o.peak_exponent * float(self.log_peak[i[k]]))
            out[k] = 1.0 - math.exp(-ratio / o.scale)
        return out

    def _learn_onset(self, i: np.ndarray, raw: np.ndarray) -> None:
        o = self.onset
        rising = self._is_onset(i, raw)
        self.rising[i] = rising
        for k in np.flatnonzero(rising):
            row = i[k]
            self.log_peak[row] += o.beta * (math.log(float(raw[k])) - self.log_peak[row])
        self.fading_max[i] = np.maximum(self.fading_max[i] * o._decay, raw)
        pos = self.block_pos[i]
        self.block[i, pos] = raw
        self.block_max[i] = np.maximum(self.block_max[i], raw)
        pos = pos + 1
        full = pos == o.window
        if full.any():
            rows = i[full]
            self.suffix[rows] = np.maximum.accumulate(self.block[rows, ::-1], axis=1)[:, ::-1]
            self.block_max[rows] = 0.0
            pos[full] = 0
        self.block_pos[i] = pos

    # -- the novel-range rule ----------------------------------------------------------------
    def _beyond(self, i: np.ndarray, x: np.ndarray) -> np.ndarray:
        r = self.novel
        low, high = (
            (self.low[i], self.high[i]) if r.lag == 0 else (self.ref_low[i], self.ref_high[i])
        )
        margin = r.tolerance * (high - low)
        up = (x > high + margin) & (x > self.high[i])
        down = (x < low - margin) & (x < self.low[i])
        beyond: np.ndarray = (self.nr_n[i] >= r.min_samples) & (high > low) & (up | down)
        return beyond

    def _learn_novel(self, i: np.ndarray, x: np.ndarray) -> None:
        r = self.novel
        beyond = self._beyond(i, x)
        self.quiet[i] = np.where(beyond, 0, np.minimum(self.quiet[i] + 1, r.refractory))
        self.nr_n[i] = np.minimum(self.nr_n[i] + 1, r.min_samples)
        self.low[i] = np.minimum(self.low[i], x)
        self.high[i] = np.maximum(self.high[i], x)
        if r.lag == 0:
            return
        pos = self.ring_pos[i]
        full = self.filled[i] == r.lag
        old = self.ring[i, pos]
        self.ref_low[i] = np.where(full, np.minimum(self.ref_low[i], old), self.ref_low[i])
        self.ref_high[i] = np.where(full, np.maximum(self.ref_high[i], old), self.ref_high[i])
        self.ring[i, pos] = x
        self.ring_pos[i] = (pos + 1) % r.lag
        self.filled[i] = np.minimum(self.filled[i] + 1, r.lag)

    # -- FleetDetector -----------------------------------------------------------------------
    def _rows(
        self, values: np.ndarray, t: float | np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        v = self._check(values)
        if t is None:
            raise ValueError("the seasonal baseline needs the samples' timestamps")
        ts = np.broadcast_to(np.asarray(t, dtype=np.float64), v.shape)
        # NaN: no sample now. An infinite value is skipped too (the streaming detector refuses
        # it with a ValueError); learned, it would poison its series' state for good.
        i = np.flatnonzero(np.isfinite(v) & np.isfinite(ts))
        return i, v[i], ts[i]

    def score_many(self, values: np.ndarray, t: float | np.ndarray | None = None) -> np.ndarray:
        i, x, ts = self._rows(values, t)
        out = np.zeros(self._n)
        ev = self.baseline.evaluate(i, x, ts)
        self._scored = ev
        onset = self._onset_scores(i, ev.raw)
        novel = np.where(self._beyond(i, x) & (self.quiet[i] >= self.novel.refractory), 1.0, 0.0)
        out[i] = np.maximum(onset, novel)
        return out

    def learn_many(self, values: np.ndarray, t: float | np.ndarray | None = None) -> None:
        i, x, ts = self._rows(values, t)
        # Scoring left the state alone, so what it computed for these samples still holds.
        ev = self._scored.subset(i, x, ts) if self._scored is not None else None
        self._scored = None
        if ev is None:
            ev = self.baseline.evaluate(i, x, ts)
        warming = self.seen[i] < self.onset.ignore_first
        self.seen[i[warming]] += 1
        keep = ~warming
        if keep.any():
            self._learn_onset(i[keep], ev.raw[keep])
        self.baseline.learn_rows(i, x, ts, ev)
        self._learn_novel(i, x)

    def params(self) -> dict[str, Any]:
        return {
            "n_series": self._n,
            "tolerance": self.novel.tolerance,
            "seasonal": dict(self._seasonal_params),
            **self._onset_params,
        }

    _ARRAYS = (
        "seen", "rising", "fading_max", "log_peak", "block", "block_pos", "block_max", "suffix",
        "nr_n", "low", "high", "ref_low", "ref_high", "ring", "ring_pos", "filled", "quiet",
    )  # fmt: skip
    _BASELINE = (
        "n", "last_t", "gaps", "n_bins", "level_mean", "level_var", "bin_mean", "bin_count",
        "resid_var", "resid_count", "mse",
    )  # fmt: skip

    def get_state(self) -> State:
        n = self._n
        state: State = {k: getattr(self, k)[:n].copy() for k in self._ARRAYS}
        state.update(
            {f"baseline.{k}": getattr(self.baseline, k)[:n].copy() for k in self._BASELINE}
        )
        return state

    def set_state(self, state: State) -> None:
        n = self._n
        for key in (*self._ARRAYS, *(f"baseline.{k}" for k in self._BASELINE)):
            owner, name = (self.baseline, key[9:]) if key.startswith("baseline.") else (self, key)
            current = getattr(owner, name)
            value = np.asarray(state[key], dtype=current.dtype)
            if value.shape != (n, *current.shape[1:]):
                raise ValueError(f"state {key!r} of shape {value.shape}, expected {n} series")
            getattr(owner, name)[:n] = value
        self._scored = None
