"""Anomaly detection: the first stage of analysis.

The loop hands every live sample to a detector per series (``score_one``,
then — unless the caller refuses to learn a flagged sample — ``learn_one``)
or, at fleet scale, one :class:`FleetDetector` for many series
(``score_many`` then ``learn_many``). Scores are calibrated to [0, 1].
Detectors are found by name in :data:`registry`; :func:`default_detector`
(and :func:`default_fleet`) is what the loop uses by default; trained models
are stored with :func:`save_detector` / :func:`load_detector` (npz, no pickle).
This package never reads labels and does no I/O except in ``persistence``
and the NAB benchmark reader (``nab``).
"""

from selfheal.analysis.detection.base import Calibrated, Detector, FleetDetector, build
from selfheal.analysis.detection.calibration import (
    AdaptiveCalibrator,
    Calibrator,
    ExponentialCalibrator,
)
from selfheal.analysis.detection.default import (
    DEFAULT_WARM_UP_SAMPLES,
    default_detector,
    default_fleet,
)
from selfheal.analysis.detection.persistence import load_detector, save_detector
from selfheal.analysis.detection.registry import DetectorRegistry, register, registry

__all__ = [
    "DEFAULT_WARM_UP_SAMPLES",
    "AdaptiveCalibrator",
    "Calibrated",
    "Calibrator",
    "Detector",
    "DetectorRegistry",
    "ExponentialCalibrator",
    "FleetDetector",
    "build",
    "default_detector",
    "default_fleet",
    "load_detector",
    "register",
    "registry",
    "save_detector",
]
