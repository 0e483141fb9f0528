"""Metric signals: robust change per service (BARO / N-sigma) and detector anomalies.

``metric_change`` scores each service by the robust change of its own
indicators (``change.py``). Indicators a caller measures about its callees
(``upstream_*``: the latency and errors of its calls) are symptoms of someone else
and are left out. A resource indicator (CPU, memory) that moved counts in full; a latency,
error or traffic change counts only as far as it exceeds the same change at the
service's callees, since callers inherit their callees' latency and errors
(the exclusive-time idea of TraceRCA, applied to metrics). When every symptom of
the incident is an error or availability indicator, a latency change counts at a
fifth: a slower dependency shows up upstream as latency, not as failed requests.

``anomalies`` scores each service by the strongest calibrated anomaly the loop's
detectors raised for it during the incident (live data), with its onset time.
"""

from __future__ import annotations

import math
from collections import defaultdict

from selfheal.analysis.rca.change import IndicatorChange, indicator_changes
from selfheal.analysis.rca.inputs import UPSTREAM_PREFIX, RCAInput
from selfheal.analysis.rca.signal import SignalOutput
from selfheal.core.types import Evidence, EvidenceKind

CHANGE_THRESHOLD = 3.0  # robust deviations; below this a move is ordinary noise
CHANGE_SATURATION = 10.0


WEAK = 0.5
ERROR_SYMPTOM_LATENCY_WEIGHT = 0.2
METRIC_SCALE = 2.0  # log1p(deviations - 3): about 10 robust deviations is fairly sure


def _kind(indicator: str) -> str:
    if _is_resource(indicator):
        return "resource"
    if "latency" in indicator:
        return "latency"
    if "error" in indicator:
        return "error"
    return "traffic"


def _is_resource(indicator: str) -> bool:
    return indicator.split("_")[0] in {"cpu", "memory", "disk", "threads", "fd"}


_ERROR_SYMPTOM = ("error", "availability", "success")


def _latency_weight(data: RCAInput) -> float:
    """How much a latency change counts when the incident's symptoms are all
    errors (an availability SLI, an error ratio): a slower dependency shows up
    upstream as latency, not as failed requests, so it explains such an incident
    less well than an error or a resource change does."""
    named = [a.indicator.lower() for a in data.anomalies if a.indicator]
    if named and all(any(k in n for k in _ERROR_SYMPTOM) for n in named):
        return ERROR_SYMPTOM_LATENCY_WEIGHT
    return 1.0


def _own(change: IndicatorChange) -> bool:
    return not change.indicator.startswith(UPSTREAM_PREFIX)


def metric_change(data: RCAInput) -> SignalOutput:
    changes = [c for c in indicator_changes(data) if _own(c)]
    raw: dict[str, float] = defaultdict(float)
    kinds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    indicator: dict[str, str] = {}
    evidence: dict[str, list[Evidence]] = defaultdict(list)
    for c in changes:  # largest first
        level = math.log1p(max(0.0, c.score - CHANGE_THRESHOLD))
        kind = _kind(c.indicator)
        kinds[kind][c.service] = max(kinds[kind][c.service], level)
        if c.score > raw[c.service]:
            raw[c.service] = c.score
            indicator[c.service] = c.indicator
        if c.score >= CHANGE_THRESHOLD and len(evidence[c.service]) < 3:
            arrow = "up" if c.direction > 0 else "down"
            where = f" on {c.instance}" if c.instance else ""
            evidence[c.service].append(
                Evidence(
                    EvidenceKind.METRIC,
                    f"metric {c.indicator}{where} moved {arrow} {c.score:.1f} robust deviations",
                    c.indicator,
                    rising=c.direction > 0,
                )
            )
    # Name the indicator that best explains the service: a resource that moved
    # explains its latency and errors, so it wins over them.
    for c in changes:
        if (
            c.score >= CHANGE_THRESHOLD
            and _is_resource(c.indicator)
            and not _is_resource(indicator.get(c.service, ""))
        ):
            indicator[c.service] = c.indicator
    graph = data.graph
    latency_weight = _latency_weight(data)
    scores: dict[str, float] = {}
    for service in raw:
        callees = list(graph.successors(service)) if service in graph else []
        # Compressed (log) levels: a 1000-deviation jump is more telling than a
        # 10-deviation one, but not a hundred times more. Latency and errors are
        # counted beyond what the callees show; traffic and the rest are weak
        # evidence (they move with load, wherever the fault is).
        own = [kinds["resource"].get(service, 0.0)]
        for kind in ("latency", "error"):
            inherited = max((kinds[kind].get(c, 0.0) for c in callees), default=0.0)
            weight = latency_weight if kind == "latency" else 1.0
            own.append(weight * (kinds[kind].get(service, 0.0) - inherited))
        own.append(WEAK * kinds["traffic"].get(service, 0.0))
        scores[service] = max(0.0, *own)
    onset = _metric_onset(data, {s for s, v in raw.items() if v >= CHANGE_THRESHOLD})
    return SignalOutput(
        "metric_change",
        scores,
        {k: tuple(v) for k, v in evidence.items()},
        indicator,
        onset,
        {
            s: 1.0 - math.exp(-max(0.0, v - CHANGE_THRESHOLD) / CHANGE_SATURATION)
            for s, v in raw.items()
        },
        scale=METRIC_SCALE,
    )


def _metric_onset(data: RCAInput, services: set[str]) -> dict[str, float]:
    """First incident timestamp at which one of a service's own series left its band."""
    import numpy as np

    onset: dict[str, float] = {}
    for s in data.metrics:
        if s.service not in services or s.indicator.startswith(UPSTREAM_PREFIX):
            continue
        before = s.values[s.timestamps < data.start]
        before = before[np.isfinite(before)]
        if before.size < 2:
            continue
        med = float(np.median(before))
        q75, q25 = np.percentile(before, [75.0, 25.0])
        scale = max(float(q75 - q25), 0.01 * abs(med), 1e-9)
        inside = (s.timestamps >= data.start) & (s.timestamps <= data.end)
        hits = s.timestamps[inside][np.abs(s.values[inside] - med) / scale >= CHANGE_THRESHOLD]
        if hits.size:
            onset[s.service] = min(onset.get(s.service, math.inf), float(hits.min()))
    return onset


def detector_anomalies(data: RCAInput) -> SignalOutput:
    scores: dict[str, float] = defaultdict(float)
    onset: dict[str, float] = {}
    indicator: dict[str, str] = {}
    evidence: dict[str, list[Evidence]] = defaultdict(list)
    for a in sorted(data.anomalies, key=lambda a: (-a.score, a.timestamp)):
        if a.score > scores[a.service]:
            scores[a.service] = a.score
            if a.indicator:
                indicator[a.service] = a.indicator
        onset[a.service] = min(onset.get(a.service, math.inf), a.timestamp)
        if len(evidence[a.service]) < 3:
            what = a.indicator or a.detector
            evidence[a.service].append(
                Evidence(
                    EvidenceKind.ANOMALY,
                    f"anomaly {what} score {a.score:.2f} ({a.detector})",
                    a.indicator,
                )
            )
    return SignalOutput(
        "anomalies",
        dict(scores),
        {k: tuple(v) for k, v in evidence.items()},
        indicator,
        onset,
        {k: min(1.0, max(0.0, v)) for k, v in scores.items()},
        scale=0.5,
    )
