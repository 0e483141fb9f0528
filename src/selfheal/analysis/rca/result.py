"""What the root-cause engine returns: ranked causes, each with its explanation.

Produced by ``selfheal.analysis.rca.rank``; read by the loop (which stores the
causes on the incident) and by the decision stage (which picks a strategy from
the top cause's failure type). Causes under the confidence threshold are kept
and marked, never dropped: a human reading the incident should see them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from selfheal.core.types import Cause, FailureType


@dataclass(frozen=True, slots=True)
class RCAResult:
    """Causes in ranking order (combined score, most likely first; each carries its
    own confidence, which also weighs how close the runner-up is) plus each
    signal's raw view.

    ``signal_scores`` maps a signal name to its per-service scores (normalised to
    a maximum of 1), so a reader can see which signal carried the ranking.
    """

    causes: tuple[Cause, ...]
    threshold: float = 0.7
    signal_scores: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ranking(self) -> tuple[str, ...]:
        """Service names, most likely root cause first."""
        return tuple(c.service for c in self.causes)

    @property
    def confident(self) -> tuple[Cause, ...]:
        """The causes at or above the confidence threshold."""
        return tuple(c for c in self.causes if c.is_confident(self.threshold))

    @property
    def below_threshold(self) -> tuple[Cause, ...]:
        """The causes reported but under the threshold (shown, marked as unsure)."""
        return tuple(c for c in self.causes if not c.is_confident(self.threshold))

    @property
    def top(self) -> Cause | None:
        return self.causes[0] if self.causes else None

    def describe(self) -> str:
        """One line per cause, marking those under the threshold."""
        lines = []
        for i, c in enumerate(self.causes, start=1):
            mark = "" if c.is_confident(self.threshold) else " (below threshold)"
            where = f"/{c.indicator}" if c.indicator else ""
            typed = "" if c.failure_type is FailureType.UNKNOWN else f" {c.failure_type.value}"
            lines.append(f"{i}. {c.service}{where}{typed} confidence={c.confidence:.2f}{mark}")
        return "\n".join(lines)
