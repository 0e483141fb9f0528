"""The default detector: what the loop runs on every live series.

Placeholder wiring: the robust EWMA z-score, calibrated.
"""

from __future__ import annotations

from selfheal.analysis.detection.base import Calibrated, Detector
from selfheal.analysis.detection.ewma import EwmaZScore
from selfheal.analysis.detection.registry import register


@register("default")
def default_detector() -> Detector:
    return Calibrated(EwmaZScore())
