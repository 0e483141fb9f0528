"""Calibration: map a detector's raw score onto one [0, 1] scale.

Detectors speak different units (a z-score, a reconstruction error, a
run-length probability). Before any threshold, and before scores of several
detectors are combined in an ensemble, the analysis stage passes every raw
score through a calibrator (Merlion's ``post_rule`` calibration step,
Bhatnagar et al., "Merlion: A Machine Learning Library for Time Series",
2021). For a fixed calibrator state the map is monotone non-decreasing, so a
calibrated threshold is a raw threshold in disguise.

- :class:`ExponentialCalibrator` — stateless, for raw scores already in
  standard-deviation units (z-scores): ``1 - exp(-z / scale)``. It does not
  saturate to exactly 1.0 before z ≈ 36·scale, so scores keep their order.
- :class:`AdaptiveCalibrator` — for raw scores on an unknown scale: it
  standardises each raw score by an exponentially weighted mean and standard
  deviation of the raw scores it has *learned* (constant memory), then
  applies the exponential map.

>>> c = ExponentialCalibrator(scale=1.5)
>>> round(c.calibrate(0.0), 3), round(c.calibrate(3.0), 3), c.calibrate(-2.0)
(0.0, 0.865, 0.0)
"""

from __future__ import annotations

import abc
import math
from typing import Any, ClassVar

import numpy as np


class Calibrator(abc.ABC):
    """Maps a raw score to [0, 1]; may learn the distribution of raw scores."""

    kind: ClassVar[str] = ""

    @abc.abstractmethod
    def calibrate(self, raw: float) -> float:
        """Calibrated score in [0, 1]; monotone non-decreasing in ``raw``."""

    def calibrate_many(self, raw: np.ndarray) -> np.ndarray:
        return np.array([self.calibrate(float(r)) for r in np.asarray(raw).ravel()])

    def learn(self, raw: float) -> None:  # noqa: B027 - stateless calibrators learn nothing
        """Learn one raw score (of a sample the caller decided to learn)."""

    @abc.abstractmethod
    def params(self) -> dict[str, Any]: ...

    def get_state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:  # noqa: B027 - stateless by default
        """Restore what ``get_state`` returned."""

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": self.params()}


class ExponentialCalibrator(Calibrator):
    """``1 - exp(-max(raw, 0) / scale)`` for raw scores in sigma units.

    With the default ``scale=1.5`` a 3-sigma deviation maps to 0.86 and a
    6-sigma one to 0.98; 0.95 corresponds to about 4.5 sigma.
    """

    kind = "exponential"

    def __init__(self, scale: float = 1.5) -> None:
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.scale = float(scale)

    def calibrate(self, raw: float) -> float:
        if not raw > 0.0:  # also catches NaN
            return 0.0
        return 1.0 - math.exp(-raw / self.scale)

    def calibrate_many(self, raw: np.ndarray) -> np.ndarray:
        r = np.nan_to_num(np.asarray(raw, dtype=np.float64), nan=0.0)
        return -np.expm1(-np.maximum(r, 0.0) / self.scale)

    def params(self) -> dict[str, Any]:
        return {"scale": self.scale}


class AdaptiveCalibrator(Calibrator):
    """Standardise by an EWMA of learned raw scores, then the exponential map.

    Returns 0 until ``min_samples`` raw scores were learned. ``alpha`` is the
    EWMA weight of a new raw score (1/alpha ≈ the memory in samples).
    """

    kind = "adaptive"

    def __init__(self, alpha: float = 0.005, min_samples: int = 30, scale: float = 1.5) -> None:
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        self.alpha = float(alpha)
        self.min_samples = int(min_samples)
        self._exp = ExponentialCalibrator(scale)
        self.n = 0
        self.mean = 0.0
        self.var = 0.0

    def calibrate(self, raw: float) -> float:
        if self.n < self.min_samples or not math.isfinite(raw):
            return 0.0
        std = math.sqrt(self.var) + 1e-12 + 1e-6 * abs(self.mean)
        return self._exp.calibrate((raw - self.mean) / std)

    def learn(self, raw: float) -> None:
        if not math.isfinite(raw):
            return
        self.n += 1
        # Warm start with a plain running mean so the first samples weigh equally.
        a = max(self.alpha, 1.0 / self.n)
        d = raw - self.mean
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "min_samples": self.min_samples, "scale": self._exp.scale}

    def get_state(self) -> dict[str, Any]:
        return {"n": self.n, "mean": self.mean, "var": self.var}

    def set_state(self, state: dict[str, Any]) -> None:
        self.n = int(state["n"])
        self.mean = float(state["mean"])
        self.var = float(state["var"])


CALIBRATORS: dict[str, type[Calibrator]] = {
    ExponentialCalibrator.kind: ExponentialCalibrator,
    AdaptiveCalibrator.kind: AdaptiveCalibrator,
}


def calibrator_from_spec(spec: dict[str, Any]) -> Calibrator:
    """Rebuild a calibrator from :meth:`Calibrator.spec` output."""
    try:
        cls = CALIBRATORS[spec["kind"]]
    except KeyError as exc:
        raise ValueError(f"unknown calibrator spec {spec!r}") from exc
    return cls(**spec.get("params", {}))
