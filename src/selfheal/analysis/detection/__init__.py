"""Anomaly detection: the first stage of analysis.

The loop hands every live sample to a detector per series (``score_one`` then,
unless the sample was flagged, ``learn_one``) or, at fleet scale, one
:class:`FleetDetector` for many series (``score_many`` then ``learn_many``).
Scores are calibrated to [0, 1]. Detectors are found by name in
:data:`registry`; :func:`default_detector` is what the loop uses by default.
"""

from selfheal.analysis.detection.base import Calibrated, Detector, FleetDetector
from selfheal.analysis.detection.calibration import (
    AdaptiveCalibrator,
    Calibrator,
    ExponentialCalibrator,
)
from selfheal.analysis.detection.default import default_detector
from selfheal.analysis.detection.registry import DetectorRegistry, register, registry

__all__ = [
    "AdaptiveCalibrator",
    "Calibrated",
    "Calibrator",
    "Detector",
    "DetectorRegistry",
    "ExponentialCalibrator",
    "FleetDetector",
    "default_detector",
    "register",
    "registry",
]
