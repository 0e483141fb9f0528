"""What an incident's page draws: its service graph, its symptom series, its timeline.

Three read-only views of one incident, answered by ``GET /incidents/{id}/graph``,
``/series`` and ``/timeline`` (``selfheal.api.app``); the response models here are
the JSON shapes the OpenAPI schema documents.

- graph: the call graph the loop saw in its last cycle, plus every service the
  incident names, each node marked ``root_cause`` (the top cause), ``affected``
  (a service with symptoms, or one the impact lists) or neither.
- series: the symptom series (each anomaly's indicator on its service) from the
  loop's indicator history around the incident, and each action at the time it
  started. The history is an in-memory window (the last 600 samples per series):
  an old incident, or an API without a running loop, has no points left.
- timeline: the incident's audit entries, oldest first, each named as a step
  (opened, diagnosed, decided, action started, verified, rolled back, resolved …).

>>> step_of("verification", {"passed": False, "detail": "error_ratio still 0.4"})
('not verified', 'error_ratio still 0.4')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from selfheal.core.types import SeriesKey
from selfheal.monitoring.window_store import WindowStore
from selfheal.store.audit import AuditEntry
from selfheal.store.incidents import ActionRecord, IncidentRecord

#: Series drawn at most per incident (its symptoms; the most anomalous first).
MAX_SERIES = 12

CLOSED = ("resolved", "escalated")


class GraphNode(BaseModel):
    id: str = Field(description="The service's name.")
    mark: Literal["root_cause", "affected", "none"] = Field(
        description="root_cause: the incident's top cause; affected: a service with symptoms "
        "or hurt by the incident; none: elsewhere in the call graph."
    )


class GraphEdge(BaseModel):
    source: str = Field(description="The caller.")
    target: str = Field(description="The callee.")


class IncidentGraph(BaseModel):
    """The service graph around an incident."""

    incident: str
    root_cause: str | None = Field(description="The top cause's service, null before diagnosis.")
    nodes: list[GraphNode]
    edges: list[GraphEdge] = Field(
        description="Calls the loop saw in its last cycle (caller → callee)."
    )


class SeriesLine(BaseModel):
    service: str
    indicator: str
    labels: dict[str, str] = Field(description="The series' labels (service, instance …).")
    points: list[tuple[float, float | None]] = Field(
        description="[epoch seconds, value] oldest first; null marks a stale point (no data)."
    )


class ActionMark(BaseModel):
    at: float = Field(description="When the action started (epoch seconds).")
    finished_at: float
    describe: str
    outcome: str = Field(description="succeeded, rolled_back, failed, …")


class IncidentSeries(BaseModel):
    """The incident's symptom series around it, and its actions."""

    incident: str
    opened_at: float
    since: float = Field(description="Start of the window (epoch seconds).")
    until: float | None = Field(description="End of the window; null while the incident is open.")
    series: list[SeriesLine] = Field(
        description="Empty when the loop's history no longer holds this time."
    )
    actions: list[ActionMark]


class TimelineStep(BaseModel):
    seq: int = Field(description="The audit entry's sequence number.")
    at: float
    kind: str = Field(description="The audit entry's kind.")
    step: str = Field(description="What happened: opened, diagnosed, action started, verified …")
    detail: str


class IncidentTimeline(BaseModel):
    """The incident's steps from the audit trail, oldest first."""

    incident: str
    steps: list[TimelineStep]


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _cause(c: Any) -> str:
    if not isinstance(c, Mapping):
        return ""
    confidence = c.get("confidence")
    figure = f" · {float(confidence):.2f}" if isinstance(confidence, int | float) else ""
    return f"{_str(c.get('service'))} · {_str(c.get('failure_type'))}{figure}"


def _action(payload: Mapping[str, Any]) -> str:
    action = payload.get("action")
    return _str(action.get("describe")) if isinstance(action, Mapping) else ""


_ACTION_STEPS = {
    "action_started": "action started",
    "action_executed": "action executed",
    "guard_blocked": "blocked",
    "approval_requested": "approval requested",
}


def step_of(kind: str, payload: Mapping[str, Any]) -> tuple[str, str]:
    """The step an audit entry of ``kind`` records, and one line of detail."""
    if kind == "incident_opened":
        signals = payload.get("signals") or []
        names = sorted(
            {f"{_str(s.get('indicator'))} on {_str(s.get('service'))}" for s in signals}
            if isinstance(signals, list) and all(isinstance(s, Mapping) for s in signals)
            else set()
        )
        return "opened", ", ".join(names)
    if kind in ("incident_diagnosed", "incident_rediagnosed"):
        causes = payload.get("causes") or []
        top = causes[0] if isinstance(causes, list) and causes else payload.get("cause")
        return kind.removeprefix("incident_"), _cause(top)
    if kind == "decision":
        plan = payload.get("plan") or []
        steps = [_str(a.get("describe")) for a in plan if isinstance(a, Mapping)]
        return "decided", f"{_str(payload.get('strategy'))}: {' → '.join(steps)}"
    if kind == "verification":
        return ("verified" if payload.get("passed") else "not verified"), _str(
            payload.get("detail")
        )
    if kind == "rollback":
        return "rolled back", _str(payload.get("detail"))
    if kind == "action_result":
        return "action finished", f"{_action(payload)}: {_str(payload.get('outcome'))}"
    if kind in _ACTION_STEPS:
        reason = payload.get("reason") or payload.get("detail")
        return _ACTION_STEPS[kind], _action(payload) + (f": {reason}" if reason else "")
    if kind in ("incident_resolved", "incident_escalated", "incident_closed"):
        return kind.removeprefix("incident_"), _str(payload.get("reason") or payload.get("status"))
    return kind.removeprefix("incident_").replace("_", " "), ""


#: Audit kinds that are bookkeeping, not a step a reader follows.
_NOT_STEPS = frozenset({"intent"})


def timeline(incident_id: str, entries: Iterable[AuditEntry]) -> IncidentTimeline:
    steps = []
    for e in entries:
        if e.kind in _NOT_STEPS or not isinstance(e.payload, Mapping):
            continue
        step, detail = step_of(e.kind, e.payload)
        steps.append(TimelineStep(seq=e.seq, at=e.at, kind=e.kind, step=step, detail=detail))
    return IncidentTimeline(incident=incident_id, steps=steps)


def _top_cause(record: IncidentRecord) -> str | None:
    for c in record.causes:
        if isinstance(c, Mapping) and c.get("service"):
            return str(c["service"])
    return None


def graph(record: IncidentRecord, edges: Sequence[tuple[str, str]]) -> IncidentGraph:
    root = _top_cause(record)
    impact = record.impact.get("services") if isinstance(record.impact, Mapping) else None
    affected = set(record.services) | {str(s) for s in (impact or [])}
    names = {n for edge in edges for n in edge} | affected | ({root} if root else set())
    nodes = [
        GraphNode(id=n, mark="root_cause" if n == root else "affected" if n in affected else "none")
        for n in sorted(names)
    ]
    return IncidentGraph(
        incident=record.id,
        root_cause=root,
        nodes=nodes,
        edges=[GraphEdge(source=u, target=v) for u, v in sorted(set(edges))],
    )


def _symptoms(record: IncidentRecord) -> list[tuple[str, str]]:
    """(service, indicator) of the incident's anomalies, the highest-scoring first."""
    ranked: dict[tuple[str, str], float] = {}
    for a in record.anomalies:
        if not isinstance(a, Mapping) or not a.get("indicator") or not a.get("service"):
            continue
        pair = (str(a["service"]), str(a["indicator"]))
        score = a.get("score")
        ranked[pair] = max(
            ranked.get(pair, 0.0), float(score) if isinstance(score, int | float) else 0.0
        )
    return sorted(ranked, key=lambda p: (-ranked[p], p))


def _value(v: float) -> float | None:
    return v if math.isfinite(v) else None


def series(
    record: IncidentRecord,
    actions: Sequence[ActionRecord],
    history: WindowStore | None,
    before_seconds: float,
    after_seconds: float,
) -> IncidentSeries:
    closed = record.status in CLOSED
    since = record.opened_at - before_seconds
    until = record.updated_at + after_seconds if closed else None
    lines: list[SeriesLine] = []
    keys: list[tuple[str, str, SeriesKey]] = [
        (service, indicator, key)
        for service, indicator in _symptoms(record)
        for key in (history.select(indicator, service=service) if history is not None else [])
    ]
    for service, indicator, key in keys:
        if len(lines) >= MAX_SERIES or history is None:
            break
        ts, values = history.window_lists(key, since, until)
        if ts:
            points = [(t, _value(v)) for t, v in zip(ts, values, strict=True)]
            labels = dict(key.labels)
            lines.append(
                SeriesLine(service=service, indicator=indicator, labels=labels, points=points)
            )
    marks = []
    for a in actions:
        started = a.detail.get("started_at") if isinstance(a.detail, Mapping) else None
        marks.append(
            ActionMark(
                at=float(started) if isinstance(started, int | float) else a.at,
                finished_at=a.at,
                describe=_str(a.action.get("describe") or a.action.get("kind")),
                outcome=a.outcome,
            )
        )
    return IncidentSeries(
        incident=record.id,
        opened_at=record.opened_at,
        since=since,
        until=until,
        series=lines,
        actions=marks,
    )
