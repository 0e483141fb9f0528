"""The streaming detector interface: one sample in, one score out.

The analysis stage of the loop feeds every live sample of every series to a
detector. The contract follows river's anomaly detectors: ``score_one`` first
(pure: it must not change the detector), then ``learn_one``, as two separate
calls, so the caller can refuse to learn from a sample it flagged (river's
``protect_anomaly_detector``) and an anomaly does not become the new normal.

Detectors return *raw* scores (a z-score, a reconstruction error, ...); a
:class:`~selfheal.analysis.detection.calibration.Calibrator` maps them to
[0, 1] before any threshold, so scores of different detectors can be combined
(Merlion's ``post_rule``). :class:`Calibrated` is that pairing and is what the
registry hands out by default.

Every detector keeps constant memory per series (fixed-size arrays or ring
buffers, never a growing history) and can export its state as plain numbers
and arrays (``get_state``/``set_state``) so it can be saved as JSON + npz
without pickle (see ``persistence``).

This module does no I/O and never reads labels.

>>> from selfheal.analysis.detection.ewma import EwmaZScore
>>> d = Calibrated(EwmaZScore(alpha=0.1))
>>> for i in range(50):
...     _ = d.score_one(10.0 + (i % 3) * 0.1, float(i))
...     d.learn_one(10.0 + (i % 3) * 0.1, float(i))
>>> d.score_one(10.1, 50.0) < 0.5 < d.score_one(30.0, 50.0)
True
"""

from __future__ import annotations

import abc
import math
from typing import Any, ClassVar

import numpy as np

from selfheal.analysis.detection.calibration import (
    Calibrator,
    ExponentialCalibrator,
    calibrator_from_spec,
)

#: State exported by a detector: JSON-able scalars plus numpy arrays.
State = dict[str, Any]


class Detector(abc.ABC):
    """A streaming univariate anomaly detector for one series.

    Subclasses set ``name`` (registry key, no underscore, as NAB result files
    use ``<detector>_<file>``), implement the four abstract methods, and list
    their constructor arguments in ``params()`` so a saved model can be rebuilt.
    """

    name: ClassVar[str] = ""
    #: True when ``score_one`` already returns calibrated [0, 1] scores.
    emits_calibrated: ClassVar[bool] = False

    @abc.abstractmethod
    def score_one(self, x: float, t: float) -> float:
        """Raw anomaly score of value ``x`` at time ``t`` (seconds); no side effect."""

    @abc.abstractmethod
    def learn_one(self, x: float, t: float) -> None:
        """Update the model with value ``x`` at time ``t``."""

    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able) that rebuild an untrained twin."""

    @abc.abstractmethod
    def get_state(self) -> State:
        """Learned state: JSON-able scalars and numpy arrays only."""

    @abc.abstractmethod
    def set_state(self, state: State) -> None:
        """Restore what ``get_state`` returned; raise ``KeyError``/``ValueError`` if invalid."""

    def spec(self) -> dict[str, Any]:
        """Registry name and parameters: ``registry.create(**spec, calibrated=False)`` rebuilds it."""
        return {"name": self.name, "params": self.params()}

    def default_calibrator(self) -> Calibrator:
        """The calibrator that suits this detector's raw score scale."""
        return ExponentialCalibrator()

    @property
    def warm_up_samples(self) -> int:
        """Samples seen before scores mean anything (scores are 0 until then)."""
        return 0

    def process_one(self, x: float, t: float) -> float:
        """Score then learn (NAB-style use, where every sample is learned)."""
        s = self.score_one(x, t)
        self.learn_one(x, t)
        return s


class Calibrated(Detector):
    """A detector whose raw score goes through a calibrator into [0, 1].

    The calibrator may itself learn the raw-score distribution; it learns in
    ``learn_one`` from the raw score of the sample being learned, so a caller
    that refuses to learn a flagged sample keeps the calibrator unpolluted too.
    """

    name = "calibrated"
    emits_calibrated = True

    def __init__(
        self,
        detector: Detector | dict[str, Any],
        calibrator: Calibrator | dict[str, Any] | None = None,
    ) -> None:
        if isinstance(detector, dict):
            detector = build(detector)
        if isinstance(calibrator, dict):
            calibrator = calibrator_from_spec(calibrator)
        self.detector = detector
        self.calibrator = calibrator if calibrator is not None else detector.default_calibrator()
        self._cache: tuple[float, float, float] | None = None  # (x, t, raw) of the last score

    def _raw(self, x: float, t: float) -> float:
        c = self._cache
        if c is not None and c[0] == x and c[1] == t:
            return c[2]
        raw = self.detector.score_one(x, t)
        self._cache = (x, t, raw)
        return raw

    def score_one(self, x: float, t: float) -> float:
        return self.calibrator.calibrate(self._raw(x, t))

    def learn_one(self, x: float, t: float) -> None:
        self.calibrator.learn(self._raw(x, t))
        self.detector.learn_one(x, t)
        self._cache = None

    def process_one(self, x: float, t: float) -> float:
        raw = self.detector.score_one(x, t)
        score = self.calibrator.calibrate(raw)
        self.calibrator.learn(raw)
        self.detector.learn_one(x, t)
        return score

    @property
    def warm_up_samples(self) -> int:
        return self.detector.warm_up_samples

    def params(self) -> dict[str, Any]:
        return {
            "detector": self.detector.spec(),
            "calibrator": self.calibrator.spec(),
        }

    def get_state(self) -> State:
        state = {f"detector.{k}": v for k, v in self.detector.get_state().items()}
        state.update({f"calibrator.{k}": v for k, v in self.calibrator.get_state().items()})
        return state

    def set_state(self, state: State) -> None:
        self.detector.set_state(_sub(state, "detector."))
        self.calibrator.set_state(_sub(state, "calibrator."))
        self._cache = None


class FleetDetector(abc.ABC):
    """The vectorised path: one model for N series, updated with numpy per call.

    ``values[i]`` is the sample of series ``i`` at one timestamp; NaN means
    "no sample this tick" and leaves that series untouched. Scores are already
    calibrated to [0, 1].
    """

    name: ClassVar[str] = ""

    @property
    @abc.abstractmethod
    def n_series(self) -> int:
        """How many series this fleet model holds."""

    @abc.abstractmethod
    def score_many(self, values: np.ndarray, t: float | None = None) -> np.ndarray:
        """Calibrated scores in [0, 1] for one sample per series; no side effect."""

    @abc.abstractmethod
    def learn_many(self, values: np.ndarray, t: float | None = None) -> None:
        """Learn one sample per series (NaN entries are skipped)."""

    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """Constructor arguments (JSON-able) that rebuild an untrained twin."""

    @abc.abstractmethod
    def get_state(self) -> State:
        """Learned state: numpy arrays per series."""

    @abc.abstractmethod
    def set_state(self, state: State) -> None:
        """Restore what ``get_state`` returned."""

    def _check(self, values: np.ndarray) -> np.ndarray:
        v = np.asarray(values, dtype=np.float64)
        if v.shape != (self.n_series,):
            raise ValueError(
                f"expected {self.n_series} values (one per series), got shape {v.shape}"
            )
        return v


def check_value(x: float) -> float:
    """Reject values a detector cannot learn from, with a clear message."""
    xf = float(x)
    if not math.isfinite(xf):
        raise ValueError(f"sample value must be finite, got {x!r}")
    return xf


def build(spec: dict[str, Any]) -> Detector:
    """Rebuild an untrained detector from :meth:`Detector.spec` output (by registry name)."""
    from selfheal.analysis.detection.registry import registry  # the registry imports this module

    try:
        name, params = spec["name"], spec.get("params", {})
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a detector spec: {spec!r}") from exc
    return registry.create(name, calibrated=False, **params)


def _sub(state: State, prefix: str) -> State:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
