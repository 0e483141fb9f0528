"""Root-cause analysis: which service (and indicator) started an incident, and why.

Placed in the loop after correlation (anomalies -> incident) and before the
decision stage (cause -> strategy). The loop calls it once per incident update;
it does no I/O and keeps no state between calls.

Entry point::

    from selfheal.analysis.rca import RCAInput, MetricSeries, rank

    data = RCAInput(
        start=incident.opened_at,            # seconds since the epoch
        end=clock.now(),
        graph=call_graph,                     # networkx.DiGraph, edge caller -> callee
        metrics=(MetricSeries("billing", "error_ratio", ts, values), ...),
        anomalies=incident.anomalies,         # selfheal.core.types.Anomaly, any detector
        logs=(LogRecord(ts, "billing", "line"), ...),     # optional
        calls=(CallSample("api", "billing", ts, latency_s, error), ...),  # optional
        spans=(SpanRecord(span_id, parent_id, "api", "PlaceOrder", ts), ...),  # optional
        past_incidents=(PastIncident({...}, "billing"), ...),                 # optional
    )
    result = rank(data)                       # -> RCAResult
    result.causes        # tuple[selfheal.core.types.Cause], best first
    result.confident     # causes with confidence >= 0.7 (RCAConfig.confidence_threshold)
    result.below_threshold  # reported, marked as unsure, never hidden

Metric series should include samples from before ``start`` (the baseline; a few
minutes is enough) and up to ``end``. Indicator names are the loop's
(``selfheal.core.indicators``): ``cpu_cores``, ``memory_bytes``, ``latency_p99_seconds``
(any ``latency_*``), ``error_ratio``, ``request_rate``, ...; names starting with
``upstream_`` (``upstream_error_ratio:<callee>``) are what a caller measures about its
calls. ``rank(data, RCAConfig(...))`` takes one
configuration; the default is the benchmarked one.
"""

from selfheal.analysis.rca.inputs import MetricSeries, PastIncident, RCAInput
from selfheal.analysis.rca.ranker import RCAConfig, rank
from selfheal.analysis.rca.result import RCAResult
from selfheal.core.telemetry import CallSample, LogRecord, SpanRecord

__all__ = [
    "CallSample",
    "LogRecord",
    "MetricSeries",
    "PastIncident",
    "RCAConfig",
    "RCAInput",
    "RCAResult",
    "SpanRecord",
    "rank",
]
