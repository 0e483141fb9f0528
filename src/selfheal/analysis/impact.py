"""Impact: which services and which business metrics an incident hurts.

The loop calls ``assess`` after ranking, with the incident's anomalies and the
latest value and baseline of each business indicator (the success ratios of the
business journeys). The result goes on the incident (``Incident.impact``), into the audit
trail and into risk: a cause that takes revenue down deserves faster action and
a human's eye. Severity is the worst business drop, else a share of the hurt
services scaled by their anomaly scores. Pure logic, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from selfheal.core import indicators as ind
from selfheal.core.types import Anomaly, Impact


def assess(
    anomalies: Sequence[Anomaly],
    business: Mapping[str, tuple[float, float]] | None = None,
    services_total: int = 0,
) -> Impact:
    """Impact of anomalies; ``business`` maps indicator → (current, baseline) in [0, 1]."""
    hurt = sorted({a.service for a in anomalies})
    drops: dict[str, float] = {}
    for name, (current, baseline) in (business or {}).items():
        if baseline > 0 and current == current:  # NaN means no traffic yet: unknown, not hurt
            drop = max(0.0, min(1.0, (baseline - current) / baseline))
            if drop > 0.01:
                drops[name] = round(drop, 4)
    for a in anomalies:
        if a.indicator in ind.BUSINESS_INDICATORS and a.indicator not in drops:
            drops[a.indicator] = round(max(0.0, min(1.0, 1.0 - a.value)), 4)
    if drops:
        severity = max(drops.values())
    elif hurt:
        peak = max(a.score for a in anomalies)
        share = len(hurt) / services_total if services_total else 0.25
        severity = min(1.0, peak * max(0.25, share))
    else:
        severity = 0.0
    return Impact(services=tuple(hurt), business=drops, severity=round(severity, 4))
