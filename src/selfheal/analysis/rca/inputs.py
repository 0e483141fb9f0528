"""What the root-cause engine is given: one incident and the telemetry around it.

The loop builds an ``RCAInput`` from its window store when an incident opens (and
the benchmark command builds one per labelled case); ``selfheal.analysis.rca.rank``
turns it into an ``RCAResult``. Every modality except the service graph may be
empty: a real system must cope with missing metrics, logs or traces.

Times are seconds since the epoch. Arrays are numpy ``float64``; ``NaN`` marks a
missing sample. This module only holds values and checks their shape; it does no
I/O and no scoring. The log, span and call records are the telemetry records of
``selfheal.core.telemetry``, as monitoring makes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import networkx as nx

from selfheal.core.telemetry import CallSample, FloatArray, LogRecord, SpanRecord, float_array
from selfheal.core.types import Anomaly, FailureType

UPSTREAM_PREFIX = "upstream_"
"""Indicators a caller measures about its calls start with this (``core.indicators.UPSTREAM_*``)."""


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """One indicator of one service (or one instance of it) over time.

    ``indicator`` names what is measured, with the loop's names
    (``selfheal.core.indicators``): ``"cpu_cores"``, ``"memory_bytes"``,
    ``"latency_p99_seconds"``, ``"error_ratio"``, ``"request_rate"``,
    ``"pool_wait_timeouts_per_second"``, ...; what a caller measures about its calls to
    a callee starts with ``upstream_`` (``"upstream_error_ratio:billing"``,
    ``"upstream_latency_p99_seconds:billing"``). The signals and the failure-type
    inference read these names (see ``signals_metric.py``, ``failure_type.py``).
    """

    service: str
    indicator: str
    timestamps: FloatArray
    values: FloatArray
    instance: str | None = None

    def __post_init__(self) -> None:
        ts = float_array(self.timestamps, "timestamps")
        vs = float_array(self.values, "values")
        if ts.shape != vs.shape:
            raise ValueError(
                f"series {self.service}/{self.indicator}: {ts.size} timestamps but {vs.size} values"
            )
        object.__setattr__(self, "timestamps", ts)
        object.__setattr__(self, "values", vs)


@dataclass(frozen=True, slots=True)
class PastIncident:
    """A diagnosed incident the loop stored: its symptom fingerprint and cause.

    ``signature`` maps ``"service:indicator"`` to an anomaly strength in [0, 1].
    """

    signature: Mapping[str, float]
    root_service: str
    failure_type: FailureType = FailureType.UNKNOWN


@dataclass(frozen=True, slots=True)
class RCAInput:
    """One incident plus its telemetry windows and the service graph.

    ``start`` is when the incident began (first anomaly, or the known fault time);
    samples before it are the baseline, samples in ``[start, end]`` the incident.
    ``graph`` has an edge ``caller -> callee`` for each call relation; symptoms
    travel against the edges (callers see their callees' errors and latency).
    """

    start: float
    end: float
    graph: nx.DiGraph
    metrics: tuple[MetricSeries, ...] = ()
    anomalies: tuple[Anomaly, ...] = ()
    logs: tuple[LogRecord, ...] = ()
    baseline_logs: tuple[LogRecord, ...] = ()
    calls: tuple[CallSample, ...] = ()
    past_incidents: tuple[PastIncident, ...] = ()
    # A fault-free stretch of the same metrics, if known; else the pre-``start`` part is used.
    baseline_metrics: tuple[MetricSeries, ...] = field(default=())
    # Individual spans, before and during the incident (for trace patterns).
    spans: tuple[SpanRecord, ...] = field(default=())
    # Spans of a fault-free stretch, if known (the baseline whatever their time);
    # read with ``baseline_logs`` to count log lines per operation.
    baseline_spans: tuple[SpanRecord, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.end >= self.start:
            raise ValueError(f"incident end {self.end} is before its start {self.start}")
        if not isinstance(self.graph, nx.DiGraph):
            raise TypeError("graph must be a networkx.DiGraph (caller -> callee)")

    @property
    def services(self) -> tuple[str, ...]:
        """Every service named by the graph or any telemetry, sorted."""
        names: set[str] = set(self.graph.nodes)
        names.update(m.service for m in self.metrics)
        names.update(a.service for a in self.anomalies)
        names.update(r.service for r in self.logs)
        for c in self.calls:
            names.add(c.caller)
            names.add(c.callee)
        return tuple(sorted(names))
