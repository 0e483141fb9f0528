"""The service call graph, derived from trace spans, with per-edge call statistics.

:class:`selfheal.monitoring.otlp.OtlpReceiver` feeds every received span to
:meth:`ServiceGraph.add_spans`; the loop reads :meth:`ServiceGraph.edges` or
:meth:`ServiceGraph.to_networkx` each cycle as the dependency graph for
correlation and root-cause ranking. Edges from configuration (dependencies
that send no traces) are added with :meth:`ServiceGraph.add_static_edge`.

Each cross-service call is counted once, as the service-graph connectors of
the OpenTelemetry Collector and Grafana Tempo do:

- a CLIENT (or PRODUCER) span of service A whose child SERVER (or CONSUMER)
  span belongs to service B gives the edge A → B; latency is the client span's
  duration (what the caller waited), and the call is an error if either span
  has status ERROR;
- a SERVER span whose parent is a non-client span of another service (no
  client instrumentation) gives parent service → its service;
- a client span whose child never arrives within ``match_wait_seconds`` (the
  callee is not traced, or the connection failed) is attributed to its ``peer``
  (the callee its attributes name: ``peer.service``, else ``server.address`` /
  ``net.peer.name``); without one, it is dropped (counted in ``unmatched_total``).

:meth:`ServiceGraph.indicators` gives the same numbers as indicator samples.
Statistics are over a sliding window (``window_seconds``) of ingestion time
on the injected clock: calls, errors, error ratio, rate, latency p50/p99.
Memory is bounded (pending spans and per-edge samples are capped). Thread-safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from selfheal.core.clock import Clock, SystemClock
from selfheal.core.indicators import PREFIX as DEFAULT_PREFIX
from selfheal.core.indicators import TRACE_CALL_RATE, TRACE_ERROR_RATIO, TRACE_LATENCY_P99
from selfheal.core.telemetry import (
    KIND_CLIENT,
    KIND_CONSUMER,
    KIND_PRODUCER,
    KIND_SERVER,
    SpanRecord,
)
from selfheal.core.types import Sample, SeriesKey

CALLER_KINDS = frozenset({KIND_CLIENT, KIND_PRODUCER})
CALLEE_KINDS = frozenset({KIND_SERVER, KIND_CONSUMER})


@dataclass(frozen=True, slots=True)
class EdgeStats:
    """One caller → callee edge over the window."""

    caller: str
    callee: str
    calls: int
    errors: int
    error_ratio: float  # NaN without calls
    rate_per_second: float
    latency_p50_seconds: float  # NaN without calls
    latency_p99_seconds: float
    static: bool = False  # declared in configuration
    window_seconds: float = 0.0


class _Edge:
    __slots__ = ("points", "static")

    def __init__(self, max_points: int) -> None:
        self.points: deque[tuple[float, float, bool]] = deque(maxlen=max_points)
        self.static = False


class ServiceGraph:
    def __init__(
        self,
        clock: Clock | None = None,
        *,
        window_seconds: float = 60.0,
        match_wait_seconds: float = 3.0,
        max_pending_spans: int = 100_000,
        max_points_per_edge: int = 20_000,
    ) -> None:
        if window_seconds <= 0:
            raise ValueError(f"window_seconds must be > 0, got {window_seconds}")
        self.clock: Clock = clock or SystemClock()
        self.window_seconds = window_seconds
        self.match_wait_seconds = match_wait_seconds
        self._max_pending = max_pending_spans
        self._max_points = max_points_per_edge
        self._lock = threading.Lock()
        self._edges: dict[tuple[str, str], _Edge] = {}
        self._services: set[str] = set()
        # recent spans by id (possible parents), with the time they arrived
        self._recent: OrderedDict[str, tuple[SpanRecord, float]] = OrderedDict()
        # client spans waiting for their server child
        self._pending_clients: OrderedDict[str, tuple[SpanRecord, float]] = OrderedDict()
        # server spans waiting for their parent, by parent span id
        self._orphans: OrderedDict[str, list[tuple[SpanRecord, float]]] = OrderedDict()
        # client span ids already counted (a late child must not count again)
        self._counted: OrderedDict[str, float] = OrderedDict()
        self.spans_total = 0
        self.unmatched_total = 0

    # -- input -----------------------------------------------------------------------------
    def add_static_edge(self, caller: str, callee: str) -> None:
        with self._lock:
            self._edge(caller, callee).static = True

    def add_spans(self, spans: Iterable[SpanRecord]) -> int:
        """Ingest spans (any order, any batch); returns how many were taken."""
        now = self.clock.now()
        n = 0
        with self._lock:
            for span in spans:
                self._add(span, now)
                n += 1
            self.spans_total += n
            self._expire(now)
        return n

    def _edge(self, caller: str, callee: str) -> _Edge:
        edge = self._edges.get((caller, callee))
        if edge is None:
            edge = self._edges[(caller, callee)] = _Edge(self._max_points)
            self._services.update((caller, callee))
        return edge

    def _record(self, caller: str, callee: str, latency: float, error: bool, now: float) -> None:
        if caller != callee:
            self._edge(caller, callee).points.append((now, latency, error))

    def _remember(self, mapping: OrderedDict[str, Any], key: str, value: Any) -> None:
        mapping[key] = value
        if len(mapping) > self._max_pending:
            mapping.popitem(last=False)

    def _pair(self, parent: SpanRecord, child: SpanRecord, now: float) -> bool:
        """Count parent → child if it is a cross-service call; True if counted."""
        if parent.service == child.service or child.kind not in CALLEE_KINDS:
            return False
        if parent.kind in CALLER_KINDS:
            if parent.span_id in self._counted:
                return False
            self._pending_clients.pop(parent.span_id, None)
            self._remember(self._counted, parent.span_id, now)
            latency = parent.duration_seconds
        else:
            latency = child.duration_seconds
        self._record(parent.service, child.service, latency, parent.is_error or child.is_error, now)
        return True

    def _add(self, span: SpanRecord, now: float) -> None:
        self._services.add(span.service)
        self._remember(self._recent, span.span_id, (span, now))
        # children that arrived before this span
        for child, _ in self._orphans.pop(span.span_id, ()):
            self._pair(span, child, now)
        if span.kind in CALLER_KINDS and span.span_id not in self._counted:
            self._remember(self._pending_clients, span.span_id, (span, now))
        if span.kind in CALLEE_KINDS and span.parent_id:
            found = self._recent.get(span.parent_id)
            if found is not None:
                self._pair(found[0], span, now)
            elif span.parent_id not in self._counted:
                waiting = self._orphans.get(span.parent_id)
                if waiting is None:
                    self._remember(self._orphans, span.parent_id, [(span, now)])
                else:
                    waiting.append((span, now))

    def _expire(self, now: float) -> None:
        deadline = now - self.match_wait_seconds
        while self._pending_clients:
            span_id, (span, arrived) = next(iter(self._pending_clients.items()))
            if arrived > deadline:
                break
            del self._pending_clients[span_id]
            peer = span.peer
            if peer is None:
                self.unmatched_total += 1
                continue
            self._remember(self._counted, span_id, now)
            self._record(span.service, peer, span.duration_seconds, span.is_error, now)
        while self._recent and next(iter(self._recent.values()))[1] <= deadline:
            self._recent.popitem(last=False)
        while self._orphans and next(iter(self._orphans.values()))[0][1] <= deadline:
            self._orphans.popitem(last=False)
        keep = now - max(self.window_seconds, self.match_wait_seconds * 4)
        while self._counted and next(iter(self._counted.values())) < keep:
            self._counted.popitem(last=False)

    # -- output ----------------------------------------------------------------------------
    def edges(self, now: float | None = None) -> list[EdgeStats]:
        """Every edge (seen in the window, or static), sorted by caller and callee."""
        with self._lock:
            return [
                self._stats(caller, callee, list(edge.points), edge.static)
                for (caller, callee), edge in self._live(now)
            ]

    def pairs(self, now: float | None = None) -> list[tuple[str, str]]:
        """The (caller, callee) of every edge ``edges`` would give, without its statistics
        (cheap enough for every loop cycle)."""
        with self._lock:
            return [pair for pair, _ in self._live(now)]

    def _live(self, now: float | None) -> list[tuple[tuple[str, str], _Edge]]:
        """Edges with calls in the window, or static; expires old spans and points first.
        The caller holds the lock."""
        when = self.clock.now() if now is None else now
        since = when - self.window_seconds
        self._expire(when)
        out = []
        for pair, edge in sorted(self._edges.items()):
            while edge.points and edge.points[0][0] < since:
                edge.points.popleft()
            if edge.points or edge.static:
                out.append((pair, edge))
        return out

    def _stats(
        self, caller: str, callee: str, points: list[tuple[float, float, bool]], static: bool
    ) -> EdgeStats:
        calls = len(points)
        if not calls:
            nan = float("nan")
            return EdgeStats(caller, callee, 0, 0, nan, 0.0, nan, nan, static, self.window_seconds)
        latencies = np.fromiter((p[1] for p in points), dtype=np.float64, count=calls)
        errors = sum(1 for p in points if p[2])
        p50, p99 = np.quantile(latencies, [0.5, 0.99])
        return EdgeStats(
            caller,
            callee,
            calls,
            errors,
            errors / calls,
            calls / self.window_seconds,
            float(p50),
            float(p99),
            static,
            self.window_seconds,
        )

    def indicators(
        self, now: float | None = None, prefix: str = DEFAULT_PREFIX, min_calls: int = 5
    ) -> list[Sample]:
        """Per-edge indicator samples (labels ``service`` = caller, ``target`` = callee):
        ``trace_call_rate`` always, ``trace_error_ratio`` and ``trace_latency_p99_seconds``
        once the window holds ``min_calls`` calls. Static edges without calls give none."""
        when = self.clock.now() if now is None else now
        out: list[Sample] = []
        for e in self.edges(when):
            if e.calls == 0:
                continue
            labels = {"service": e.caller, "target": e.callee}
            values = [(TRACE_CALL_RATE, e.rate_per_second)]
            if e.calls >= min_calls:
                values += [
                    (TRACE_ERROR_RATIO, e.error_ratio),
                    (TRACE_LATENCY_P99, e.latency_p99_seconds),
                ]
            out.extend(Sample(SeriesKey.of(prefix + name, labels), when, v) for name, v in values)
        return out

    def services(self) -> set[str]:
        with self._lock:
            return set(self._services)

    def to_networkx(self, now: float | None = None) -> nx.DiGraph:
        """Directed graph caller → callee; edge attributes are the ``EdgeStats`` fields."""
        graph = nx.DiGraph()
        graph.add_nodes_from(sorted(self.services()))
        for e in self.edges(now):
            graph.add_edge(
                e.caller,
                e.callee,
                calls=e.calls,
                errors=e.errors,
                error_ratio=e.error_ratio,
                rate_per_second=e.rate_per_second,
                latency_p50_seconds=e.latency_p50_seconds,
                latency_p99_seconds=e.latency_p99_seconds,
                static=e.static,
            )
        return graph
