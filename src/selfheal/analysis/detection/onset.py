"""Onset scoring: flag the start of a new excursion, judged against the series' own peaks.

Raw scores of a detector stay high for as long as an anomaly lasts, and a
noisy series produces many moderate peaks. What an operator (and NAB) wants
is one early signal per new event. This wrapper therefore

1. emits a score only when the inner raw score exceeds every raw score of
   the last ``window`` samples and a fading memory of older ones (a running
   maximum that decays by ``e^{-1/decay_samples}`` per sample) — a new
   excursion, not the tail of the previous one (the suppression step of
   HTM's and CAD-OSE's NAB detectors, Ahmad et al., "Unsupervised real-time
   anomaly detection for streaming data", Neurocomputing 2017), and
2. divides that raw score by the series' typical peak raised to
   ``peak_exponent``: the typical peak is an EWMA (in log space, weight
   ``beta``) of the raw scores at previous onsets. A series that often
   spikes to 15 sigma needs more than 15 sigma to stand out; a calm one
   stands out at 6 (an adaptive calibration in Merlion's sense). An exponent
   above 1 makes a habitually spiky series pay more than proportionally.

With ``merge_rises`` an onset on the sample right after another onset scores
0: a value that climbs over several samples (9, 12, 15 sigma) is one
excursion still rising, not three new ones, and is rated once, at its first
sample. Every such sample is still learned (suppression memory, typical
peak); the run ends at the first sample that is not an onset. NAB charges
every flagged row outside a labelled window, so a rising false alarm used to
cost once per step (the NAB configuration ``seasonalrange`` merges rises).

The first ``ignore_first`` samples are only learned: they score 0 and leave
no trace in the suppression memory or the typical peak. A baseline's first
z-scores rest on a spread estimated from a handful of samples, so they are
inflated; remembered, one of them would set the bar for every onset of the
next ``window`` samples and skew the typical peak (the NAB configuration
uses 50; NAB's own probationary period, Lavin & Ahmad 2015, is the same idea
at the scorer's side).

The result is mapped to [0, 1] by ``1 - exp(-ratio / scale)``. An inner
detector that already emits calibrated scores (an ensemble) is mapped back to
sigma-like units first (``-1.5 * ln(1 - p)``, the inverse of the default
calibration).
Constant memory: a ring of ``window`` raw scores and a few numbers.

>>> from selfheal.analysis.detection.ewma import EwmaZScore
>>> d = Onset(EwmaZScore(alpha=0.05), window=50)
>>> scores = [d.process_one(1.0 + 0.1 * ((i * 7) % 5), float(i)) for i in range(300)]
>>> spike = d.process_one(9.0, 300.0)
>>> spike > max(scores[100:]) and d.process_one(9.0, 301.0) == 0.0
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from selfheal.analysis.detection.base import Detector, State, build
from selfheal.analysis.detection.registry import register

_SIGMA_SCALE = 1.5  # the scale of ExponentialCalibrator's default
#: Samples the NAB configuration (``seasonalonset``) learns before scoring onsets.
NAB_IGNORE_FIRST = 50


class Onset(Detector):
    """Score = new-excursion raw score / typical onset peak, squashed to [0, 1]."""

    name = "onset"
    emits_calibrated = True

    def __init__(
        self,
        detector: Detector | dict[str, Any],
        window: int = 500,
        decay_samples: float = 300.0,
        beta: float = 0.1,
        initial_peak: float = 5.0,
        min_raw: float = 1.0,
        scale: float = 3.0,
        peak_exponent: float = 1.25,
        ignore_first: int = 0,
        merge_rises: bool = False,
    ) -> None:
        self.detector = build(detector) if isinstance(detector, dict) else detector
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.window = int(window)
        if not decay_samples > 0:
            raise ValueError(f"decay_samples must be > 0, got {decay_samples}")
        self.decay_samples = float(decay_samples)
        self._decay = math.exp(-1.0 / self.decay_samples)
        self.fading_max = 0.0
        self.beta = float(beta)
        self.initial_peak = float(initial_peak)
        self.min_raw = float(min_raw)
        self.scale = float(scale)
        self.peak_exponent = float(peak_exponent)
        if ignore_first < 0:
            raise ValueError(f"ignore_first must be >= 0, got {ignore_first}")
        self.ignore_first = int(ignore_first)
        self.merge_rises = bool(merge_rises)
        self.rising = False  # the last learned sample was an onset
        self.seen = 0
        self.ring = np.zeros(self.window)
        self.filled = 0
        self.pos = 0
        self.log_peak = math.log(self.initial_peak)
        self._cache: tuple[float, float, float] | None = None

    @property
    def warm_up_samples(self) -> int:
        return self.detector.warm_up_samples

    def _raw(self, x: float, t: float) -> float:
        c = self._cache
        if c is not None and c[0] == x and c[1] == t:
            return c[2]
        raw = self.detector.score_one(x, t)
        if self.detector.emits_calibrated:
            # Back from [0, 1] to sigma-like units (inverse of 1 - exp(-z / 1.5)).
            raw = -_SIGMA_SCALE * math.log1p(-min(raw, 1.0 - 1e-15))
        self._cache = (x, t, raw)
        return raw

    def _is_onset(self, raw: float) -> bool:
        recent = float(self.ring[: self.filled].max()) if self.filled else 0.0
        return raw > recent and raw > self.fading_max and raw > self.min_raw

    def score_one(self, x: float, t: float) -> float:
        if self.seen < self.ignore_first:
            return 0.0
        raw = self._raw(x, t)
        if not self._is_onset(raw) or (self.merge_rises and self.rising):
            return 0.0
        ratio = raw / math.exp(self.peak_exponent * self.log_peak)
        return 1.0 - math.exp(-ratio / self.scale)

    def learn_one(self, x: float, t: float) -> None:
        if self.seen < self.ignore_first:
            self.seen += 1
            self.detector.learn_one(x, t)
            self._cache = None
            return
        raw = self._raw(x, t)
        self.rising = self._is_onset(raw)
        if self.rising:
            self.log_peak += self.beta * (math.log(raw) - self.log_peak)
        self.fading_max = max(self.fading_max * self._decay, raw)
        self.ring[self.pos] = raw
        self.pos = (self.pos + 1) % self.window
        self.filled = min(self.filled + 1, self.window)
        self.detector.learn_one(x, t)
        self._cache = None

    def params(self) -> dict[str, Any]:
        return {
            "detector": self.detector.spec(),
            "window": self.window,
            "decay_samples": self.decay_samples,
            "beta": self.beta,
            "initial_peak": self.initial_peak,
            "min_raw": self.min_raw,
            "scale": self.scale,
            "peak_exponent": self.peak_exponent,
            "ignore_first": self.ignore_first,
            "merge_rises": self.merge_rises,
        }

    def get_state(self) -> State:
        state = {f"detector.{k}": v for k, v in self.detector.get_state().items()}
        state.update(
            ring=self.ring.copy(),
            filled=self.filled,
            pos=self.pos,
            log_peak=self.log_peak,
            fading_max=self.fading_max,
            seen=self.seen,
            rising=int(self.rising),
        )
        return state

    def set_state(self, state: State) -> None:
        ring = np.asarray(state["ring"], dtype=np.float64)
        if ring.shape != (self.window,):
            raise ValueError(f"onset ring of {ring.shape}, expected ({self.window},)")
        self.ring = ring
        self.filled = int(state["filled"])
        self.pos = int(state["pos"])
        self.log_peak = float(state["log_peak"])
        self.fading_max = float(state["fading_max"])
        # A model saved before ``ignore_first`` existed is past any warm-up.
        self.seen = int(state.get("seen", self.ignore_first))
        self.rising = bool(state.get("rising", False))
        prefix = "detector."
        self.detector.set_state(
            {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        )
        self._cache = None


register("onset")(Onset)


@register("seasonalonset")
def seasonal_onset(**params: Any) -> Detector:
    """The configuration behind the NAB figures: seasonal baseline + onset scoring.

    Onset parameters are the class defaults except ``ignore_first`` =
    :data:`NAB_IGNORE_FIRST`; any of them can be overridden.
    """
    from selfheal.analysis.detection.seasonal import SeasonalBaseline

    params.setdefault("ignore_first", NAB_IGNORE_FIRST)
    return Onset(SeasonalBaseline(), **params)


@register("seasonalrange")
def seasonal_range(tolerance: float = 0.05, **params: Any) -> Detector:
    """The NAB configuration: ``max`` of ``seasonalonset`` and the novel-range rule.

    The onset stage rates new excursions of the seasonal residual; the
    :class:`~selfheal.analysis.detection.novel_range.NovelRange` rule (its
    defaults: lag 100, refractory 100) adds a value beyond the range the series
    had shown (HTM's spatial-anomaly rule), which a residual misses when the
    series slides there slowly. ``params`` go to the onset stage; ``tolerance``
    to the rule. The onset stage merges rises (``merge_rises``: a value that
    climbs over consecutive samples is rated once, at its first onset), which
    ``seasonalonset`` alone does not.
    """
    from selfheal.analysis.detection.ensemble import Ensemble
    from selfheal.analysis.detection.novel_range import NovelRange

    params.setdefault("merge_rises", True)
    return Ensemble(
        [seasonal_onset(**params), NovelRange(tolerance=tolerance, min_samples=NAB_IGNORE_FIRST)],
        combine="max",
    )
