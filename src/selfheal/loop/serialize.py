"""Plain-JSON forms of the loop's values, for the audit trail, the store and the API.

The engine writes these dictionaries into the audit trail; the API returns them;
``selfheal incidents`` prints them. One function per core value; no I/O. The
``*_from`` functions read them back (a loop restarted after a crash resumes the
verification of an action it had started, from the incident it stored).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from selfheal.core.types import (
    Action,
    ActionKind,
    ActionResult,
    Anomaly,
    Cause,
    Evidence,
    EvidenceKind,
    FailureType,
    Impact,
    Incident,
    IncidentStatus,
    Plan,
    SeriesKey,
    SignalKind,
)


def _num(x: float) -> float | None:
    return None if isinstance(x, float) and (math.isnan(x) or math.isinf(x)) else x


def anomaly(a: Anomaly) -> dict[str, Any]:
    return {
        "service": a.service,
        "instance": a.instance,
        "indicator": a.indicator,
        "detector": a.detector,
        "kind": a.kind.value,
        "score": round(a.score, 4),
        "value": _num(a.value),
        "timestamp": a.timestamp,
        "series": str(a.series) if a.series is not None else None,
        "message": a.message,
    }


def cause(c: Cause) -> dict[str, Any]:
    return {
        "service": c.service,
        "confidence": round(c.confidence, 4),
        "failure_type": c.failure_type.value,
        "instance": c.instance,
        "indicator": c.indicator,
        "evidence": [e.note for e in c.evidence],
        "findings": [evidence(e) for e in c.evidence],
        "path": list(c.path),
        "impact": list(c.impact),
    }


def evidence(e: Evidence) -> dict[str, Any]:
    """One piece of a cause's structured evidence (``evidence`` keeps the notes alone)."""
    return {
        "kind": e.kind.value,
        "note": e.note,
        "indicator": e.indicator,
        "rising": e.rising,
        "text": e.text,
        "failure_type": e.failure_type.value if e.failure_type is not None else None,
    }


def evidence_from(d: Mapping[str, Any]) -> Evidence:
    kind = d.get("failure_type")
    rising = d.get("rising")
    return Evidence(
        EvidenceKind(d.get("kind", EvidenceKind.FACT.value)),
        str(d.get("note", "")),
        str(d.get("indicator", "")),
        rising=bool(rising) if rising is not None else None,
        text=str(d.get("text", "")),
        failure_type=FailureType(kind) if kind else None,
    )


def impact(i: Impact) -> dict[str, Any]:
    return {"services": list(i.services), "business": dict(i.business), "severity": i.severity}


def action(a: Action) -> dict[str, Any]:
    return {
        "kind": a.kind.value,
        "target": a.target,
        "instance": a.instance,
        "params": dict(a.params),
        "risk": round(a.risk, 4),
        "timeout_seconds": a.timeout_seconds,
        "describe": a.describe(),
    }


def action_from(d: dict[str, Any]) -> Action:
    return Action(
        kind=ActionKind(d["kind"]),
        target=str(d["target"]),
        instance=d.get("instance"),
        params=dict(d.get("params") or {}),
        risk=float(d.get("risk", 0.0)),
        timeout_seconds=float(d.get("timeout_seconds", 30.0)),
    )


def plan(p: Plan) -> dict[str, Any]:
    return {
        "incident_id": p.incident_id,
        "strategy": p.strategy,
        "cause": cause(p.cause),
        "actions": [action(a) for a in p.actions],
        "risk": round(p.risk, 4),
        "created_at": p.created_at,
    }


def result(r: ActionResult) -> dict[str, Any]:
    return {
        "action": action(r.action),
        "outcome": r.outcome.value,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "verification": None
        if r.verification is None
        else {
            "passed": r.verification.passed,
            "checked_at": r.verification.checked_at,
            "detail": r.verification.detail,
        },
        "rollback": None
        if r.rollback is None
        else {"restored": r.rollback.restored, "at": r.rollback.at, "detail": r.rollback.detail},
        "detail": r.detail,
    }


def incident(i: Incident) -> dict[str, Any]:
    return {
        "id": i.id,
        "status": i.status.value,
        "opened_at": i.opened_at,
        "updated_at": i.updated_at,
        "services": sorted(i.services),
        "anomalies": [anomaly(a) for a in i.anomalies],
        "causes": [cause(c) for c in i.causes],
        "impact": impact(i.impact),
    }


_SERIES = re.compile(r"^(?P<name>[^{]+)(?:\{(?P<labels>.*)\})?$")
_LABEL = re.compile(r'(?P<key>[^=,]+)="(?P<value>(?:[^"\\]|\\.)*)"')


def series_from(text: str) -> SeriesKey:
    """The inverse of ``str(SeriesKey)``: ``name{k="v",...}``."""
    match = _SERIES.match(text)
    if match is None:
        raise ValueError(f"not a series: {text!r}")
    labels = {m["key"]: m["value"] for m in _LABEL.finditer(match["labels"] or "")}
    return SeriesKey.of(match["name"], labels)


def _float(x: Any) -> float:
    return float("nan") if x is None else float(x)


def anomaly_from(d: Mapping[str, Any]) -> Anomaly:
    series = d.get("series")
    return Anomaly(
        service=str(d["service"]),
        timestamp=float(d["timestamp"]),
        score=float(d.get("score", 0.0)),
        detector=str(d.get("detector", "")),
        kind=SignalKind(d.get("kind", SignalKind.METRIC.value)),
        indicator=str(d.get("indicator", "")),
        value=_float(d.get("value")),
        instance=d.get("instance"),
        series=series_from(series) if series else None,
        message=str(d.get("message", "")),
    )


def cause_from(d: Mapping[str, Any]) -> Cause:
    return Cause(
        service=str(d["service"]),
        confidence=float(d.get("confidence", 0.0)),
        failure_type=FailureType(d.get("failure_type", FailureType.UNKNOWN.value)),
        instance=d.get("instance"),
        indicator=d.get("indicator"),
        # older records hold the notes alone: each becomes a fact with its note
        evidence=tuple(evidence_from(f) for f in d["findings"])
        if "findings" in d
        else tuple(Evidence(EvidenceKind.FACT, str(n)) for n in d.get("evidence") or ()),
        path=tuple(d.get("path") or ()),
        impact=tuple(d.get("impact") or ()),
    )


def incident_from(d: Mapping[str, Any]) -> Incident:
    """An incident back from its stored form (``incident`` or the store's record)."""
    impact = d.get("impact") or {}
    return Incident(
        id=str(d["id"]),
        opened_at=float(d["opened_at"]),
        anomalies=tuple(anomaly_from(a) for a in d.get("anomalies") or ()),
        services=frozenset(d.get("services") or ()),
        causes=tuple(cause_from(c) for c in d.get("causes") or ()),
        impact=Impact(
            tuple(impact.get("services") or ()),
            dict(impact.get("business") or {}),
            float(impact.get("severity", 0.0)),
        ),
        status=IncidentStatus(d.get("status", IncidentStatus.OPEN.value)),
        updated_at=float(d.get("updated_at") or 0.0),
    )
