"""Seasonal baseline: z-score against the best of a level and seasonal profiles.

Service metrics repeat by hour of day and day of week (traffic, batch jobs);
a plain EWMA flags every morning ramp. This detector keeps, per series, an
EWMA level and one profile per season (daily, weekly): the mean of each
phase bin (time of day / of week), plus one pooled residual variance per
profile. Each model's one-step squared error is tracked by an EWMA, and a
sample is scored by the model that currently predicts best — so a series
without seasonality is scored by its level, and a seasonal one by its
profile once the profile has seen enough cycles. This is the classic
Holt-Winters idea (Winters, "Forecasting sales by exponentially weighted
moving averages", Management Science 1960) with a phase-bin profile in place
of a smoothed seasonal index, and model choice by running forecast error.

Learning is winsorised as in the EWMA detector: a residual beyond ``clip``
standard deviations is learned as ``clip`` sigmas, in the spread estimates
and (``bin_clip``) in the bin means, so a spike neither inflates the noise
estimate that must reveal the next anomaly nor leaves a ghost in tomorrow's
profile.

Memory is constant: at most ``max_bins`` bins per season (the bin width is
``period / max_bins`` when samples come faster than that).

>>> d = SeasonalBaseline(periods_seconds=(100.0,))
>>> for i in range(2000):
...     x = 10.0 if (i % 100) < 50 else 20.0
...     d.learn_one(x, float(i))
>>> d.score_one(20.0, 2060.0) < 3.0 < d.score_one(20.0, 2010.0)
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from selfheal.analysis.detection.base import Detector, State, check_value
from selfheal.analysis.detection.calibration import ExponentialCalibrator
from selfheal.analysis.detection.registry import register

_PROBE_GAPS = 16  # sample gaps observed before the bin layout is fixed


@register("seasonal")
class SeasonalBaseline(Detector):
    """|x - prediction| / residual std of the best of {level, seasonal profiles}.

    ``alpha``: level EWMA weight. ``bin_alpha``: weight of a new sample in its
    phase bin. ``select_alpha``: EWMA weight of the squared errors used to
    pick the model. ``min_bin_count``: samples a bin needs before its profile
    can be used. ``warm_up``: samples before any score is emitted. ``clip``:
    winsorising bound in sigmas for learning (``bin_clip`` applies it to the
    bin means too).
    """

    name = "seasonal"

    def __init__(
        self,
        periods_seconds: tuple[float, ...] | list[float] = (86400.0, 604800.0),
        max_bins: int = 2016,
        alpha: float = 0.003,
        bin_alpha: float = 0.05,
        select_alpha: float = 0.005,
        min_bin_count: int = 3,
        warm_up: int = 20,
        rel_floor: float = 1e-3,
        clip: float = 4.0,
        bin_clip: bool = True,
    ) -> None:
        if not periods_seconds or min(periods_seconds) <= 0:
            raise ValueError(f"periods_seconds must be positive, got {periods_seconds!r}")
        self.periods_seconds = tuple(float(p) for p in periods_seconds)
        self.max_bins = int(max_bins)
        self.alpha = float(alpha)
        self.bin_alpha = float(bin_alpha)
        self.select_alpha = float(select_alpha)
        self.min_bin_count = int(min_bin_count)
        self.warm_up = int(warm_up)
        self.rel_floor = float(rel_floor)
        self.clip = float(clip)
        self.bin_clip = bool(bin_clip)
        k = len(self.periods_seconds)
        self.n = 0
        self.last_t = math.nan
        self.gaps = np.zeros(_PROBE_GAPS)
        self.n_bins = np.zeros(k, dtype=np.int64)  # 0 until the layout is fixed
        self.level_mean = 0.0
        self.level_var = 0.0
        self.bin_mean = np.zeros((k, 0))
        self.bin_count = np.zeros((k, 0), dtype=np.int64)
        self.resid_var = np.zeros(k)
        self.resid_count = np.zeros(k, dtype=np.int64)
        self.mse = np.full(k + 1, np.nan)  # model 0 is the level

    @property
    def warm_up_samples(self) -> int:
        return self.warm_up

    def default_calibrator(self) -> ExponentialCalibrator:
        return ExponentialCalibrator()

    # -- model ------------------------------------------------------------------------------
    def _bins(self, t: float) -> list[int]:
        out = []
        for j, period in enumerate(self.periods_seconds):
            nb = int(self.n_bins[j])
            out.append(int((t % period) / period * nb) % nb if nb else -1)
        return out

    def _errors(self, x: float, bins: list[int]) -> list[tuple[float, float] | None]:
        floor = 1e-9 + self.rel_floor * abs(self.level_mean)
        errs: list[tuple[float, float] | None] = [
            (x - self.level_mean, math.sqrt(self.level_var) + floor)
        ]
        for j, b in enumerate(bins):
            if b < 0 or self.bin_count[j, b] < self.min_bin_count or self.resid_count[j] < 30:
                errs.append(None)
                continue
            mean = float(self.bin_mean[j, b])
            std = math.sqrt(self.resid_var[j]) + 1e-9 + self.rel_floor * abs(mean)
            errs.append((x - mean, std))
        return errs

    def _best(self, errs: list[tuple[float, float] | None]) -> int:
        best = 0
        for k in range(1, len(errs)):
            m = self.mse[k]
            if errs[k] is not None and not math.isnan(m) and m < self.mse[best]:
                best = k
        return best

    def score_one(self, x: float, t: float) -> float:
        x = check_value(x)
        if self.n < self.warm_up:
            return 0.0
        errs = self._errors(x, self._bins(t))
        err = errs[self._best(errs)]
        assert err is not None  # the level model always exists
        return abs(err[0]) / err[1]

    def learn_one(self, x: float, t: float) -> None:
        x = check_value(x)
        self._observe_time(t)
        bins = self._bins(t)
        for k, err in enumerate(self._errors(x, bins)):
            if err is None:
                continue
            sq = err[0] * err[0]
            m = self.mse[k]
            self.mse[k] = sq if math.isnan(m) else m + self.select_alpha * (sq - m)
        self.n += 1
        a = max(self.alpha, 1.0 / self.n)
        d = x - self.level_mean
        self.level_mean += a * d
        dv = min(abs(d), self.clip * math.sqrt(self.level_var)) if self.n > self.warm_up else d
        self.level_var = (1.0 - a) * (self.level_var + a * dv * dv)
        for j, b in enumerate(bins):
            if b < 0:
                continue
            if self.bin_count[j, b] >= self.min_bin_count:
                r = x - self.bin_mean[j, b]
                self.resid_count[j] += 1
                ra = max(3 * self.alpha, 1.0 / self.resid_count[j])
                if self.resid_count[j] > 30:
                    r = min(abs(r), self.clip * math.sqrt(self.resid_var[j]))
                self.resid_var[j] = (1.0 - ra) * (self.resid_var[j] + ra * r * r)
            self.bin_count[j, b] += 1
            ba = max(self.bin_alpha, 1.0 / self.bin_count[j, b])
            step = x - self.bin_mean[j, b]
            if self.bin_clip and self.resid_count[j] > 30:
                bound = self.clip * math.sqrt(self.resid_var[j])
                step = min(max(step, -bound), bound)
            self.bin_mean[j, b] += ba * step

    def _observe_time(self, t: float) -> None:
        if not math.isnan(self.last_t) and self.n <= _PROBE_GAPS and self.n >= 1:
            self.gaps[self.n - 1] = t - self.last_t
            if self.n == _PROBE_GAPS:
                self._fix_layout(float(np.median(self.gaps)))
        self.last_t = t

    def _fix_layout(self, step: float) -> None:
        k = len(self.periods_seconds)
        n_bins = np.zeros(k, dtype=np.int64)
        if step > 0:
            for j, period in enumerate(self.periods_seconds):
                nb = min(int(round(period / step)), self.max_bins)
                # A season shorter than 4 samples, or not yet 2 cycles long in bins, is noise.
                n_bins[j] = nb if nb >= 4 else 0
        self.n_bins = n_bins
        width = int(n_bins.max()) if k else 0
        self.bin_mean = np.zeros((k, width))
        self.bin_count = np.zeros((k, width), dtype=np.int64)

    # -- persistence ------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {
            "periods_seconds": list(self.periods_seconds),
            "max_bins": self.max_bins,
            "alpha": self.alpha,
            "bin_alpha": self.bin_alpha,
            "select_alpha": self.select_alpha,
            "min_bin_count": self.min_bin_count,
            "warm_up": self.warm_up,
            "rel_floor": self.rel_floor,
            "clip": self.clip,
            "bin_clip": self.bin_clip,
        }

    def get_state(self) -> State:
        return {
            "n": self.n,
            "last_t": self.last_t,
            "gaps": self.gaps.copy(),
            "n_bins": self.n_bins.copy(),
            "level_mean": self.level_mean,
            "level_var": self.level_var,
            "bin_mean": self.bin_mean.copy(),
            "bin_count": self.bin_count.copy(),
            "resid_var": self.resid_var.copy(),
            "resid_count": self.resid_count.copy(),
            "mse": self.mse.copy(),
        }

    def set_state(self, state: State) -> None:
        k = len(self.periods_seconds)
        n_bins = np.asarray(state["n_bins"], dtype=np.int64)
        bin_mean = np.asarray(state["bin_mean"], dtype=np.float64)
        mse = np.asarray(state["mse"], dtype=np.float64)
        if n_bins.shape != (k,) or mse.shape != (k + 1,) or bin_mean.ndim != 2:
            raise ValueError("seasonal state does not match this detector's seasons")
        self.n = int(state["n"])
        self.last_t = float(state["last_t"])
        self.gaps = np.asarray(state["gaps"], dtype=np.float64)
        self.n_bins = n_bins
        self.level_mean = float(state["level_mean"])
        self.level_var = float(state["level_var"])
        self.bin_mean = bin_mean
        self.bin_count = np.asarray(state["bin_count"], dtype=np.int64)
        self.resid_var = np.asarray(state["resid_var"], dtype=np.float64)
        self.resid_count = np.asarray(state["resid_count"], dtype=np.int64)
        self.mse = mse
