"""Ensemble: one score from several detectors' calibrated scores.

Because every member's score is calibrated to [0, 1] first, members in
different units combine directly (Merlion's ensembles do the same after
calibration; Bhatnagar et al. 2021). ``combine="mean"`` (weighted) rewards
agreement, ``"max"`` lets any member raise an alarm. Members that emit raw
scores are wrapped in their default calibrator.

>>> e = Ensemble([{"name": "ewma", "params": {}}, {"name": "mad", "params": {}}], combine="max")
>>> for i in range(100):
...     e.learn_one(1.0 + 0.01 * (i % 5), float(i))
>>> e.score_one(1.02, 100.0) < 0.5 < e.score_one(3.0, 100.0) <= 1.0
True
"""

from __future__ import annotations

from typing import Any

from selfheal.analysis.detection.base import Calibrated, Detector, State, build
from selfheal.analysis.detection.registry import register

_COMBINE = ("mean", "max")


@register("ensemble")
class Ensemble(Detector):
    """Weighted mean or max of calibrated member scores."""

    name = "ensemble"
    emits_calibrated = True

    def __init__(
        self,
        members: list[Detector | dict[str, Any]],
        weights: list[float] | None = None,
        combine: str = "mean",
    ) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        if combine not in _COMBINE:
            raise ValueError(f"combine must be one of {_COMBINE}, got {combine!r}")
        built = [build(m) if isinstance(m, dict) else m for m in members]
        self.members = [m if m.emits_calibrated else Calibrated(m) for m in built]
        self.weights = [1.0] * len(self.members) if weights is None else [float(w) for w in weights]
        if (
            len(self.weights) != len(self.members)
            or min(self.weights) < 0
            or sum(self.weights) <= 0
        ):
            raise ValueError("weights must be non-negative, one per member, not all zero")
        self.combine = combine

    @property
    def warm_up_samples(self) -> int:
        return max(m.warm_up_samples for m in self.members)

    def member_scores(self, x: float, t: float) -> list[float]:
        """Each member's calibrated score (for explanations and per-member benchmarks)."""
        return [m.score_one(x, t) for m in self.members]

    def _combine(self, scores: list[float]) -> float:
        if self.combine == "max":
            return max(s for s, w in zip(scores, self.weights, strict=True) if w > 0)
        total = sum(self.weights)
        return sum(s * w for s, w in zip(scores, self.weights, strict=True)) / total

    def score_one(self, x: float, t: float) -> float:
        return self._combine(self.member_scores(x, t))

    def learn_one(self, x: float, t: float) -> None:
        for m in self.members:
            m.learn_one(x, t)

    def process_one(self, x: float, t: float) -> float:
        return self._combine([m.process_one(x, t) for m in self.members])

    def params(self) -> dict[str, Any]:
        return {
            "members": [m.spec() for m in self.members],
            "weights": list(self.weights),
            "combine": self.combine,
        }

    def get_state(self) -> State:
        state: State = {}
        for i, m in enumerate(self.members):
            state.update({f"m{i}.{k}": v for k, v in m.get_state().items()})
        return state

    def set_state(self, state: State) -> None:
        for i, m in enumerate(self.members):
            prefix = f"m{i}."
            m.set_state({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
