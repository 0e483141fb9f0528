"""A bounded window of recent trace spans, for root-cause analysis.

The OTLP receiver (:class:`selfheal.monitoring.otlp.OtlpReceiver`) hands every
decoded batch to :meth:`SpanWindow.add` besides the service graph; when an
incident is diagnosed, the loop's ranker reads the spans of the incident and of
the stretch before it with :meth:`SpanWindow.between`. The RCA engine reads two
things from them: which steps each service's operations take (the trace-pattern
signal: a code fault cuts a path short) and the latency and errors of each call
edge, as the caller and as the callee measured them (:func:`calls_of`).

Spans that arrived more than ``keep_seconds`` ago are dropped, and at most
``max_spans`` are kept (the oldest go first), so a busy system cannot grow
memory without bound. Only the fields the RCA reads are kept (no attributes).
Thread-safe: the receiver adds from its HTTP threads while the loop reads.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from selfheal.core.clock import Clock, SystemClock
from selfheal.monitoring.service_graph import (
    KIND_CLIENT,
    KIND_CONSUMER,
    KIND_PRODUCER,
    KIND_SERVER,
    SpanRecord,
)

_CALLER_KINDS = frozenset({KIND_CLIENT, KIND_PRODUCER})
_CALLEE_KINDS = frozenset({KIND_SERVER, KIND_CONSUMER})


@dataclass(frozen=True, slots=True)
class WindowSpan:
    """One span as the window keeps it (times in seconds since the epoch)."""

    start: float
    span_id: str
    parent_id: str | None
    service: str
    name: str
    kind: int
    duration: float
    is_error: bool


@dataclass(frozen=True, slots=True)
class TracedCall:
    """One cross-service call found in the spans.

    ``latency`` is what the caller waited (its client span), ``server_latency``
    what the callee spent (its server span); without client instrumentation the
    two are the same server span and ``server_latency`` is ``None``.
    """

    caller: str
    callee: str
    timestamp: float
    latency: float
    error: bool
    server_latency: float | None


class SpanWindow:
    """Recent spans in arrival order, trimmed by arrival time and count."""

    def __init__(
        self,
        clock: Clock | None = None,
        keep_seconds: float = 300.0,
        max_spans: int = 50_000,
    ) -> None:
        if keep_seconds <= 0 or max_spans <= 0:
            raise ValueError("keep_seconds and max_spans must be > 0")
        self.clock: Clock = clock or SystemClock()
        self.keep_seconds = keep_seconds
        self._spans: deque[tuple[float, WindowSpan]] = deque(maxlen=max_spans)
        self._lock = threading.Lock()
        self.spans_total = 0

    def __len__(self) -> int:
        return len(self._spans)

    def add(self, spans: Iterable[SpanRecord]) -> int:
        """Keep ``spans`` (one received batch); returns how many were added."""
        now = self.clock.now()
        kept = [
            (
                now,
                WindowSpan(
                    s.start_unix_nano / 1e9,
                    s.span_id,
                    s.parent_span_id,
                    s.service,
                    s.name,
                    s.kind,
                    s.duration_seconds,
                    s.is_error,
                ),
            )
            for s in spans
        ]
        with self._lock:
            self._spans.extend(kept)
            self.spans_total += len(kept)
            cutoff = now - self.keep_seconds
            while self._spans and self._spans[0][0] < cutoff:
                self._spans.popleft()
        return len(kept)

    def between(self, start: float, end: float, limit: int | None = None) -> list[WindowSpan]:
        """Spans that *started* in ``[start, end]``, oldest first; with ``limit``,
        the latest ``limit`` of them."""
        with self._lock:
            found = [s for _, s in self._spans if start <= s.start <= end]
        found.sort(key=lambda s: s.start)
        if limit is not None and len(found) > limit:
            found = found[len(found) - limit :]
        return found


def calls_of(spans: Sequence[WindowSpan]) -> list[TracedCall]:
    """Cross-service calls among ``spans``, by the service-graph rule of
    :mod:`selfheal.monitoring.service_graph`: a server span whose parent belongs to
    another service is one call; the parent's client span, when there is one, says
    what the caller waited. A client span whose server span is not among ``spans``
    (the callee is not traced) is left out: without attributes it names no callee.
    """
    by_id = {s.span_id: s for s in spans}
    out: list[TracedCall] = []
    for child in spans:
        if child.kind not in _CALLEE_KINDS or child.parent_id is None:
            continue
        parent = by_id.get(child.parent_id)
        if parent is None or parent.service == child.service:
            continue
        if parent.kind in _CALLER_KINDS:
            out.append(
                TracedCall(
                    parent.service,
                    child.service,
                    parent.start,
                    parent.duration,
                    parent.is_error or child.is_error,
                    child.duration,
                )
            )
        else:
            out.append(
                TracedCall(
                    parent.service, child.service, child.start, child.duration, child.is_error, None
                )
            )
    out.sort(key=lambda c: c.timestamp)
    return out
