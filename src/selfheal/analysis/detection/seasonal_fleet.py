"""The seasonal baseline for N series at once: numpy over all series of one cycle.

The loop scores every series of a cycle together; per-series Python objects
cost microseconds per sample each, which caps a fleet at tens of thousands of
points per second. :class:`SeasonalBaselineFleet` holds the state of
:class:`~selfheal.analysis.detection.seasonal.SeasonalBaseline` (Winters 1960,
with phase-bin profiles; see that module) as arrays with one row per series and
applies the same arithmetic, operation for operation, so every series' raw
score is bit-for-bit what the streaming detector gives it
(``tests/analysis/detection/test_fleet.py`` checks that on random streams with
gaps). It is the first stage of
:class:`~selfheal.analysis.detection.range_fleet.SeasonalRangeFleet`.

Values are one per series; NaN means "no sample of this series now" and leaves
that series untouched. Timestamps are one per series or one for all. Memory per
series: a mean (8 bytes) and a count (4 bytes) per phase bin, ``seasons x
max_bins`` bins (about 48 KB with the defaults).

>>> import numpy as np
>>> fleet = SeasonalBaselineFleet(2, periods_seconds=(100.0,))
>>> rows = np.arange(2)
>>> for i in range(2000):
...     x = 10.0 if i % 100 < 50 else 20.0  # the same square wave on both series
...     fleet.learn_rows(rows, np.array([x, x]), np.full(2, float(i)))
>>> z = fleet.raw_rows(rows, np.array([20.0, 20.0]), np.array([2060.0, 2010.0]))
>>> bool(z[0] < 3.0 < z[1])  # 20 is usual in the second half of the period only
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from selfheal.analysis.detection.seasonal import _PROBE_GAPS, SeasonalBaseline

_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The rows ``i`` scored at ``x``, ``t``: what learning them needs again.

    Per season: ``flat`` the phase bin as an index into the flattened bin arrays (-1 without
    a layout), the bin's ``count`` and ``mean``, the season's residual count and variance;
    per model: the error and whether it exists; and the raw z-score.
    """

    i: np.ndarray
    x: np.ndarray
    t: np.ndarray
    flat: np.ndarray
    count: np.ndarray
    mean: np.ndarray
    resid_count: np.ndarray
    resid_var: np.ndarray
    err: np.ndarray
    valid: np.ndarray
    raw: np.ndarray

    def subset(self, i: np.ndarray, x: np.ndarray, t: np.ndarray) -> Evaluation | None:
        """The evaluation of rows ``i`` (a subset, same values and times), else None."""
        pos = np.searchsorted(self.i, i)
        if len(i) and (pos.max() >= len(self.i) or not np.array_equal(self.i[pos], i)):
            return None
        if not (np.array_equal(self.x[pos], x) and np.array_equal(self.t[pos], t)):
            return None
        if len(pos) == len(self.i):
            return self
        return Evaluation(
            i, x, t, self.flat[pos], self.count[pos], self.mean[pos], self.resid_count[pos],
            self.resid_var[pos], self.err[pos], self.valid[pos], self.raw[pos],
        )  # fmt: skip


class SeasonalBaselineFleet:
    """:class:`SeasonalBaseline` state for ``n_series`` series as arrays; raw z-scores."""

    def __init__(self, n_series: int, **params: Any) -> None:
        self.proto = SeasonalBaseline(**params)
        self.k = len(self.proto.periods_seconds)
        self.periods = np.array(self.proto.periods_seconds)
        self.n_series = 0
        self.n = _EMPTY
        self.last_t = np.zeros(0)
        self.gaps = np.zeros((0, _PROBE_GAPS))
        self.n_bins = np.zeros((0, self.k), dtype=np.int64)
        self.level_mean = np.zeros(0)
        self.level_var = np.zeros(0)
        self.bin_mean = np.zeros((0, self.k, self.proto.max_bins))
        # int32: a count only meets min_bin_count and 1/count, the same values as int64's
        self.bin_count = np.zeros((0, self.k, self.proto.max_bins), dtype=np.int32)
        self.resid_var = np.zeros((0, self.k))
        self.resid_count = np.zeros((0, self.k), dtype=np.int64)
        self.mse = np.zeros((0, self.k + 1))
        self.grow(n_series)

    def grow(self, n_series: int) -> None:
        """Add fresh (untrained) series up to ``n_series`` in all.

        Rows are allocated in advance (at least doubling), so a loop that meets its series
        a few at a time does not copy every array for each new one.
        """
        if n_series <= self.n_series:
            return
        capacity = len(self.n)
        if n_series > capacity:
            extra = max(n_series, 2 * capacity) - capacity
            k, width = self.k, self.proto.max_bins

            def more(a: np.ndarray, shape: tuple[int, ...], fill: float) -> np.ndarray:
                return np.concatenate([a, np.full((extra, *shape), fill, dtype=a.dtype)])

            self.n = more(self.n, (), 0)
            self.last_t = more(self.last_t, (), np.nan)
            self.gaps = more(self.gaps, (_PROBE_GAPS,), 0.0)
            self.n_bins = more(self.n_bins, (k,), 0)
            self.level_mean = more(self.level_mean, (), 0.0)
            self.level_var = more(self.level_var, (), 0.0)
            self.bin_mean = more(self.bin_mean, (k, width), 0.0)
            self.bin_count = more(self.bin_count, (k, width), 0)
            self.resid_var = more(self.resid_var, (k,), 0.0)
            self.resid_count = more(self.resid_count, (k,), 0)
            self.mse = more(self.mse, (k + 1,), np.nan)
        self.n_series = n_series

    # -- the arithmetic of SeasonalBaseline, on the rows ``i`` -------------------------------
    def _bins(self, i: np.ndarray, t: np.ndarray) -> np.ndarray:
        nb = self.n_bins[i]
        has = nb > 0
        phase = np.mod(t[:, None], self.periods) / self.periods * nb
        bins = np.mod(phase.astype(np.int64), np.where(has, nb, 1))
        return np.where(has, bins, -1)

    def _best(self, i: np.ndarray, valid: np.ndarray) -> np.ndarray:
        mse = self.mse[i]
        best = np.zeros(len(i), dtype=np.int64)
        rows = np.arange(len(i))
        for k in range(1, self.k + 1):
            m = mse[:, k]
            take = valid[:, k] & ~np.isnan(m) & (m < mse[rows, best])
            best = np.where(take, k, best)
        return best

    def evaluate(self, i: np.ndarray, x: np.ndarray, t: np.ndarray) -> Evaluation:
        """Everything scoring the rows ``i`` computes (no side effect); ``learn_rows`` reuses it."""
        p = self.proto
        m, k, width = len(i), self.k, self.proto.max_bins
        bins = self._bins(i, t)
        flat = np.where(bins >= 0, (i[:, None] * k + np.arange(k)) * width + bins, -1)
        safe = np.maximum(flat, 0)
        count = self.bin_count.reshape(-1)[safe]
        mean = self.bin_mean.reshape(-1)[safe]
        resid_count = self.resid_count[i]
        resid_var = self.resid_var[i]
        err = np.empty((m, k + 1))
        std = np.empty((m, k + 1))
        valid = np.ones((m, k + 1), dtype=bool)
        level_mean = self.level_mean[i]
        floor = 1e-9 + p.rel_floor * np.abs(level_mean)
        err[:, 0] = x - level_mean
        std[:, 0] = np.sqrt(self.level_var[i]) + floor
        err[:, 1:] = x[:, None] - mean
        std[:, 1:] = np.sqrt(resid_var) + 1e-9 + p.rel_floor * np.abs(mean)
        valid[:, 1:] = (flat >= 0) & (count >= p.min_bin_count) & (resid_count >= 30)
        rows = np.arange(m)
        best = self._best(i, valid)
        z = np.abs(err[rows, best]) / std[rows, best]
        raw = np.where(self.n[i] < p.warm_up, 0.0, z)
        return Evaluation(i, x, t, flat, count, mean, resid_count, resid_var, err, valid, raw)

    def raw_rows(self, i: np.ndarray, x: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Raw z-scores of the rows ``i`` (no side effect)."""
        return self.evaluate(i, x, t).raw

    def learn_rows(
        self, i: np.ndarray, x: np.ndarray, t: np.ndarray, ev: Evaluation | None = None
    ) -> None:
        """Learn one sample for each row of ``i`` (rows distinct); ``ev`` is their evaluation
        before learning, when the caller has it."""
        p = self.proto
        if self._observe_time(i, t) or ev is None:
            ev = self.evaluate(i, x, t)  # a season layout was just fixed: bins changed
        sq = ev.err * ev.err
        mse = self.mse[i]
        self.mse[i] = np.where(
            ev.valid, np.where(np.isnan(mse), sq, mse + p.select_alpha * (sq - mse)), mse
        )
        n = self.n[i] + 1
        self.n[i] = n
        a = np.maximum(p.alpha, 1.0 / n)
        mean, var = self.level_mean[i], self.level_var[i]
        d = x - mean
        self.level_mean[i] = mean + a * d
        dv = np.where(n > p.warm_up, np.minimum(np.abs(d), p.clip * np.sqrt(var)), d)
        self.level_var[i] = (1.0 - a) * (var + a * dv * dv)
        live = ev.flat >= 0
        if not live.any():
            return
        # Every season at once: (row, season) pairs with a layout, bins distinct per pair.
        rows, seasons = np.nonzero(live)
        flat = ev.flat[live]
        count, mean_b = ev.count[live], ev.mean[live]
        rc, rv = ev.resid_count[live], ev.resid_var[live]
        xx = x[rows]
        fit = count >= p.min_bin_count
        rc = rc + fit
        r = xx - mean_b
        ra = np.maximum(3 * p.alpha, 1.0 / np.maximum(rc, 1))
        r = np.where(rc > 30, np.minimum(np.abs(r), p.clip * np.sqrt(rv)), r)
        rv = np.where(fit, (1.0 - ra) * (rv + ra * r * r), rv)
        self.resid_count[i[rows], seasons] = rc
        self.resid_var[i[rows], seasons] = rv
        count = count + 1
        self.bin_count.reshape(-1)[flat] = count
        ba = np.maximum(p.bin_alpha, 1.0 / count)
        step = xx - mean_b
        if p.bin_clip:
            bound = p.clip * np.sqrt(rv)
            step = np.where(rc > 30, np.minimum(np.maximum(step, -bound), bound), step)
        self.bin_mean.reshape(-1)[flat] = mean_b + ba * step

    def _observe_time(self, i: np.ndarray, t: np.ndarray) -> bool:
        """Record sample gaps; True when a series' season layout was fixed just now."""
        n = self.n[i]
        probe = ~np.isnan(self.last_t[i]) & (n <= _PROBE_GAPS) & (n >= 1)
        fixed = False
        if probe.any():
            rows, col = i[probe], n[probe] - 1
            self.gaps[rows, col] = t[probe] - self.last_t[rows]
            for row in rows[n[probe] == _PROBE_GAPS]:
                self._fix_layout(int(row), float(np.median(self.gaps[row])))
                fixed = True
        self.last_t[i] = t
        return fixed

    def _fix_layout(self, row: int, step: float) -> None:
        for j, period in enumerate(self.proto.periods_seconds):
            nb = min(int(round(period / step)), self.proto.max_bins) if step > 0 else 0
            self.n_bins[row, j] = nb if nb >= 4 else 0
