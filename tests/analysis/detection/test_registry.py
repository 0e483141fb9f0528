"""The registry: explicit objects, decorator registration, lazy heavy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from selfheal.analysis.detection.base import Calibrated
from selfheal.analysis.detection.ewma import EwmaZScore
from selfheal.analysis.detection.registry import DetectorRegistry, registry


def test_a_private_registry_does_not_touch_the_shared_one() -> None:
    mine = DetectorRegistry()
    mine.register("only-here")(EwmaZScore)
    assert mine.names() == ["only-here"]
    assert "only-here" not in registry


def test_create_wraps_raw_detectors_in_their_calibrator() -> None:
    mine = DetectorRegistry()
    mine.register("z")(EwmaZScore)
    assert isinstance(mine.create("z"), Calibrated)
    assert isinstance(mine.create("z", calibrated=False), EwmaZScore)


def test_names_with_underscores_or_duplicates_are_refused() -> None:
    mine = DetectorRegistry()
    with pytest.raises(ValueError, match="without '_'"):
        mine.register("my_detector")
    mine.register("a")(EwmaZScore)
    with pytest.raises(ValueError, match="already registered"):
        mine.register("a")(Calibrated)


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known: .*ewma"):
        registry.create("nope")


def test_builtin_detectors_are_all_registered() -> None:
    expected = {
        "ewma",
        "mad",
        "seasonal",
        "cusum",
        "bocpd",
        "iforest",
        "lstmae",
        "threshold",
        "rate",
        "staleness",
        "ensemble",
        "onset",
        "seasonalonset",
        "seasonalrange",
        "novelrange",
        "default",
    }
    assert expected <= set(registry.names())


def test_loading_the_registry_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from selfheal.analysis.detection import registry\n"
        "registry.names(); registry.create('default')\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
