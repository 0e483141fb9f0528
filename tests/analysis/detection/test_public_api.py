"""The package's public names are a deliberate, pinned list."""

from __future__ import annotations

import selfheal.analysis.detection as detection


def test_public_api_is_pinned() -> None:
    assert sorted(detection.__all__) == sorted(
        [
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
    )
    for name in detection.__all__:
        assert hasattr(detection, name), name
