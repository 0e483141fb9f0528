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
memory without bound. The records are kept as the receiver decoded them
(``selfheal.core.telemetry.SpanRecord``: no attributes, no trace id).
Thread-safe: the receiver adds from its HTTP threads while the loop reads.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Sequence

import numpy as np

from selfheal.core.clock import Clock, SystemClock
from selfheal.core.telemetry import CallSample, SpanRecord
from selfheal.monitoring.service_graph import CALLEE_KINDS, CALLER_KINDS


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
        self._spans: deque[tuple[float, SpanRecord]] = deque(maxlen=max_spans)
        self._lock = threading.Lock()
        self.spans_total = 0

    def __len__(self) -> int:
        return len(self._spans)

    def add(self, spans: Iterable[SpanRecord]) -> int:
        """Keep ``spans`` (one received batch); returns how many were added."""
        now = self.clock.now()
        kept = [(now, s) for s in spans]
        with self._lock:
            self._spans.extend(kept)
            self.spans_total += len(kept)
            cutoff = now - self.keep_seconds
            while self._spans and self._spans[0][0] < cutoff:
                self._spans.popleft()
        return len(kept)

    def between(self, start: float, end: float, limit: int | None = None) -> list[SpanRecord]:
        """Spans that *started* in ``[start, end]``, oldest first; with ``limit``,
        the latest ``limit`` of them."""
        with self._lock:
            found = [s for _, s in self._spans if start <= s.timestamp <= end]
        found.sort(key=lambda s: s.timestamp)
        if limit is not None and len(found) > limit:
            found = found[len(found) - limit :]
        return found


def calls_of(spans: Sequence[SpanRecord]) -> tuple[CallSample, ...]:
    """The cross-service calls among ``spans``, one ``CallSample`` per edge (sorted by
    caller and callee, calls in time order), by the service-graph rule of
    :mod:`selfheal.monitoring.service_graph`: a server span whose parent belongs to
    another service is one call; the parent's client span, when there is one, says
    what the caller waited (``latency_seconds``) and the server span what the callee
    spent (``server_latency_seconds``; ``None`` for an edge where a call had no client
    span, its one span measuring both). A client span whose server span is not among
    ``spans`` (the callee is not traced) is left out.
    """
    by_id = {s.span_id: s for s in spans}
    # (timestamp, latency, error, server latency or None) per edge
    found: dict[tuple[str, str], list[tuple[float, float, bool, float | None]]] = {}
    for child in spans:
        if child.kind not in CALLEE_KINDS or child.parent_id is None:
            continue
        parent = by_id.get(child.parent_id)
        if parent is None or parent.service == child.service:
            continue
        call: tuple[float, float, bool, float | None]
        if parent.kind in CALLER_KINDS:
            call = (
                parent.timestamp,
                parent.duration_seconds,
                parent.is_error or child.is_error,
                child.duration_seconds,
            )
        else:
            call = (child.timestamp, child.duration_seconds, child.is_error, None)
        found.setdefault((parent.service, child.service), []).append(call)
    out = []
    for (caller, callee), calls in sorted(found.items()):
        calls.sort(key=lambda c: c[0])
        server = [c[3] for c in calls]
        out.append(
            CallSample(
                caller,
                callee,
                np.array([c[0] for c in calls]),
                np.array([c[1] for c in calls]),
                np.array([1.0 if c[2] else 0.0 for c in calls]),
                None if any(v is None for v in server) else np.array(server, dtype=np.float64),
            )
        )
    return tuple(out)
