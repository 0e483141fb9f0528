"""The loop's detector per series, from configuration: a registry name or a trained model.

``loop.wiring`` calls :func:`live_factory` once at start-up with
``detection.detector`` and ``detection.model``; the factory it returns gives
``analysis.rules.LiveDetection`` one fresh detector for every new series. A
trained model (``selfheal detector train``) is loaded once; every series then
starts from a copy of its learned state and keeps learning on its own samples.
Errors name what is wrong (:class:`UnknownDetector` lists the known names,
:class:`~selfheal.core.errors.ModelFormatError` the file and the reason), and
the wiring turns them into a configuration error naming the key.

This module reads a model file only when given one; it never reads labels.

>>> factory = live_factory("default")
>>> factory is not None and factory().score_one(1.0, 0.0) == 0.0
True
>>> live_factory("none") is None
True
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from selfheal.analysis.detection.base import Calibrated, Detector, build
from selfheal.analysis.detection.persistence import load_detector
from selfheal.analysis.detection.range_fleet import SeasonalRangeFleet
from selfheal.analysis.detection.registry import registry

#: The value of ``detection.detector`` that runs no detector.
NONE = "none"


class UnknownDetector(ValueError):
    """A detector name the registry does not hold; the message lists the known names."""


def known_names() -> list[str]:
    """Every name ``detection.detector`` accepts."""
    return [*registry.names(), NONE]


def clone(detector: Detector) -> Detector:
    """A twin of ``detector`` with a copy of its learned state (the template stays untouched)."""
    twin = build(detector.spec())
    state = detector.get_state()
    twin.set_state({k: v.copy() if isinstance(v, np.ndarray) else v for k, v in state.items()})
    return twin


def detector_name(detector: Detector) -> str:
    """The registry name of ``detector``, looking through its calibration wrapper."""
    return detector.detector.name if isinstance(detector, Calibrated) else detector.name


#: Detectors with a vectorised twin that scores every series of a cycle at once, exactly.
FLEETS: dict[str, Callable[[], SeasonalRangeFleet]] = {"seasonalrange": SeasonalRangeFleet}


def live_fleet(name: str, model: str | Path | None = None) -> SeasonalRangeFleet | None:
    """The vectorised twin of detector ``name`` (no series yet), if it has one and no trained
    model is configured; the loop then uses it instead of one detector object per series."""
    make = FLEETS.get(name)
    return make() if make is not None and model is None else None


def live_factory(name: str, model: str | Path | None = None) -> Callable[[], Detector] | None:
    """A factory of per-series detectors, or ``None`` for ``"none"`` without a model."""
    if model is not None:
        template = load_detector(model)
        return lambda: clone(template)
    if name == NONE:
        return None
    if name not in registry:
        raise UnknownDetector(f"unknown detector {name!r}; known: {', '.join(known_names())}")
    try:
        registry.create(name)
    except (TypeError, ValueError) as exc:  # needs parameters: a wrapper (onset) or a rule
        raise UnknownDetector(f"detector {name!r} cannot run without parameters ({exc})") from None
    return lambda: registry.create(name)
