"""Telemetry records: one log line, one trace span, the calls seen on one edge.

Monitoring makes them — the log window parses tailed lines into ``LogRecord``s,
the OTLP receiver decodes spans into ``SpanRecord``s (which the service graph
pairs and the span window keeps), and the span window gathers the calls of each
edge into ``CallSample``s — and the root-cause analysis reads them, as the loop
hands them over (``selfheal.analysis.rca.RCAInput``), and so do the RCA
benchmarks' datasets. Plain frozen values: no I/O, no scoring.

Times are seconds since the epoch. Arrays are numpy ``float64``.

>>> call = CallSample("api", "billing", [1.0, 2.0], [0.05, 0.30], [0.0, 1.0])
>>> call.latency_seconds.dtype, call.server_latency_seconds is None
(dtype('float64'), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# OTLP span kinds (opentelemetry.proto.trace.v1.Span.SpanKind)
KIND_UNSPECIFIED, KIND_INTERNAL, KIND_SERVER, KIND_CLIENT, KIND_PRODUCER, KIND_CONSUMER = range(6)


def float_array(values: object, name: str) -> FloatArray:
    """``values`` as a one-dimensional ``float64`` array; ``ValueError`` naming ``name``."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One log line emitted by a service.

    ``span_id``, when the line carries one (trace-aware logging), names the span
    it was written in; the RCA's log signal then counts the line per operation."""

    timestamp: float
    service: str
    message: str
    instance: str | None = None
    span_id: str | None = None


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One span of a trace (ids as lower-case hex).

    ``parent_id`` is ``None`` for a root span; ``timestamp`` is when the span
    started. ``kind`` is the OTLP span kind (``KIND_SERVER``, ``KIND_CLIENT``, …);
    a cross-service call is a server span whose parent belongs to another service.
    ``peer`` is the callee a client span names in its attributes (``peer.service``,
    else ``server.address`` / ``net.peer.name``), for a callee that sends no spans.
    Records built from a bare span list (a benchmark's) may leave the fields after
    ``timestamp`` at their defaults: the RCA's trace-pattern signal reads only the
    ids, service, operation and time; the service graph and the span window's call
    finding read kind, duration and error too.
    """

    span_id: str
    parent_id: str | None
    service: str
    operation: str
    timestamp: float
    kind: int = KIND_UNSPECIFIED
    duration_seconds: float = 0.0
    is_error: bool = False
    instance: str | None = None
    peer: str | None = None


@dataclass(frozen=True, slots=True)
class CallSample:
    """Calls from ``caller`` to ``callee`` seen in traces (one span, or a batch).

    ``latency_seconds`` (as the caller measured it) and ``error`` are arrays
    with matching ``timestamps``, one entry per call or per aggregation step;
    ``error`` holds the failed share (1.0 / 0.0 for single calls).
    ``server_latency_seconds``, when known, is the same calls as the callee
    measured them (its server span); the gap between the two is the network.
    """

    caller: str
    callee: str
    timestamps: FloatArray
    latency_seconds: FloatArray
    error: FloatArray
    server_latency_seconds: FloatArray | None = None

    def __post_init__(self) -> None:
        ts = float_array(self.timestamps, "timestamps")
        lat = float_array(self.latency_seconds, "latency_seconds")
        err = float_array(self.error, "error")
        if not ts.shape == lat.shape == err.shape:
            raise ValueError(f"edge {self.caller}->{self.callee}: arrays differ in length")
        object.__setattr__(self, "timestamps", ts)
        object.__setattr__(self, "latency_seconds", lat)
        object.__setattr__(self, "error", err)
        if self.server_latency_seconds is not None:
            srv = float_array(self.server_latency_seconds, "server_latency_seconds")
            if srv.shape != ts.shape:
                raise ValueError(f"edge {self.caller}->{self.callee}: server latency length")
            object.__setattr__(self, "server_latency_seconds", srv)
