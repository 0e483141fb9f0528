"""The shape every root-cause signal shares, and the registry the ranker reads.

A signal looks at one modality of an ``RCAInput`` and says, per service, how
strongly that service looks like the origin of the incident (``scores``, any
non-negative scale; the ranker normalises them), plus structured
``evidence`` (each with the line a human reads) and, where it can tell, the indicator that moved most. Signals
never see each other's output, except the propagation signal, which the ranker
feeds with the combined local evidence (see ``ranker.py``).

Signals register themselves into an explicit ``SignalRegistry`` object (no
class-level dicts); tests may build their own registry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from selfheal.analysis.rca.inputs import RCAInput
from selfheal.core.types import Evidence


@dataclass(frozen=True, slots=True)
class SignalOutput:
    """Per-service scores of one signal, with the evidence behind them."""

    name: str
    scores: Mapping[str, float]
    evidence: Mapping[str, tuple[Evidence, ...]] = field(default_factory=dict)
    indicator: Mapping[str, str] = field(default_factory=dict)
    onset: Mapping[str, float] = field(default_factory=dict)  # first anomalous time
    # Absolute strength in [0, 1]: how clearly the service shows any symptom at
    # all, its own or inherited (read for the impact scope and the path).
    strength: Mapping[str, float] = field(default_factory=dict)
    # Score at which the evidence counts as fairly sure (calibration to [0, 1]).
    scale: float = 1.0

    def calibrated(self) -> dict[str, float]:
        """Scores on one absolute scale: ``1 - exp(-score / scale)``, in [0, 1).

        Unlike ``normalised``, a signal that saw only noise stays near zero
        instead of having its loudest noise stretched to 1 (Merlion's
        calibration step plays the same role for detector scores)."""
        return {k: 1.0 - math.exp(-max(0.0, v) / self.scale) for k, v in self.scores.items()}

    def normalised(self) -> dict[str, float]:
        """Scores scaled so the largest is 1 (all zero when the signal saw nothing)."""
        top = max((v for v in self.scores.values()), default=0.0)
        if top <= 0.0:
            return {k: 0.0 for k in self.scores}
        return {k: max(0.0, v) / top for k, v in self.scores.items()}


SignalFn = Callable[[RCAInput], SignalOutput]


class SignalRegistry:
    """Named local signals, in registration order."""

    def __init__(self) -> None:
        self._signals: dict[str, SignalFn] = {}

    def register(self, name: str) -> Callable[[SignalFn], SignalFn]:
        def add(fn: SignalFn) -> SignalFn:
            if name in self._signals:
                raise ValueError(f"signal {name!r} is already registered")
            self._signals[name] = fn
            return fn

        return add

    def get(self, name: str) -> SignalFn:
        try:
            return self._signals[name]
        except KeyError:
            known = ", ".join(self._signals) or "none"
            raise KeyError(f"unknown RCA signal {name!r}; known: {known}") from None

    def names(self) -> tuple[str, ...]:
        return tuple(self._signals)

    def __iter__(self) -> Iterator[str]:
        return iter(self._signals)

    def __contains__(self, name: object) -> bool:
        return name in self._signals
