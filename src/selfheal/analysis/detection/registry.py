"""The detector registry: detectors by name, filled by a decorator.

The loop, the ``selfheal bench nab`` command and saved models name detectors
by string (``"ewma"``, ``"default"``, ``"lstmae"``). A :class:`DetectorRegistry`
is an explicit object (as kopf's registries are), so a test can build its own
and leave the shared :data:`registry` alone. Detectors whose module imports a
heavy optional dependency (torch) are registered *lazily* by module path and
imported only when first created (Merlion's factory does the same).

>>> r = DetectorRegistry()
>>> @r.register("twice")
... def _make(**params):
...     from selfheal.analysis.detection.ewma import EwmaZScore
...     return EwmaZScore(**params)
>>> r.names()
['twice']
>>> type(r.create("twice", calibrated=False)).__name__
'EwmaZScore'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from selfheal.analysis.detection.base import Calibrated, Detector

Factory = Callable[..., Detector]
F = TypeVar("F", bound=Callable[..., Any])

#: Modules whose import registers detectors into :data:`registry`. Importing
#: them is cheap (no torch at import time); it happens on first lookup.
BUILTIN_MODULES: tuple[str, ...] = (
    "selfheal.analysis.detection.ewma",
    "selfheal.analysis.detection.mad",
    "selfheal.analysis.detection.seasonal",
    "selfheal.analysis.detection.cusum",
    "selfheal.analysis.detection.bocpd",
    "selfheal.analysis.detection.isolation_forest",
    "selfheal.analysis.detection.lstm_autoencoder",
    "selfheal.analysis.detection.rules",
    "selfheal.analysis.detection.novel_range",
    "selfheal.analysis.detection.ensemble",
    "selfheal.analysis.detection.onset",
    "selfheal.analysis.detection.art",
    "selfheal.analysis.detection.default",
)


class DetectorRegistry:
    """Maps detector names to factories. Names never contain ``_``."""

    def __init__(self, modules: tuple[str, ...] = ()) -> None:
        self._factories: dict[str, Factory] = {}
        self._modules = modules
        self._loaded = not modules

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator: register a detector class or factory under ``name``."""
        if not name or "_" in name:
            raise ValueError(f"detector name must be non-empty without '_': {name!r}")

        def deco(factory: F) -> F:
            existing = self._factories.get(name)
            if existing is not None and existing is not factory:
                raise ValueError(f"detector {name!r} is already registered")
            self._factories[name] = factory
            return factory

        return deco

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._modules:
                importlib.import_module(module)

    def names(self) -> list[str]:
        self._load()
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._factories

    def create(self, name: str, *, calibrated: bool = True, **params: Any) -> Detector:
        """Build a fresh detector; wrapped in its calibrator unless ``calibrated=False``."""
        self._load()
        try:
            factory = self._factories[name]
        except KeyError:
            known = ", ".join(sorted(self._factories))
            raise KeyError(f"unknown detector {name!r}; known: {known}") from None
        detector = factory(**params)
        if calibrated and not detector.emits_calibrated:
            return Calibrated(detector)
        return detector


#: The shared registry, filled by the built-in detector modules.
registry = DetectorRegistry(BUILTIN_MODULES)
register = registry.register
register("calibrated")(Calibrated)
